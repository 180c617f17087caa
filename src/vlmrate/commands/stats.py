"""`vlmrate stats RUN [--json]`: every analysis of a run, as a report or one JSON object."""

from __future__ import annotations

import argparse
import json

from rich.markup import escape

from vlmrate.commands.common import SafeConsole, warn_problems
from vlmrate.errors import UserError
from vlmrate.runfolder.store import load_run
from vlmrate.stats.compared_runs import require_ratings_and_human
from vlmrate.stats.run_summary import partial_note


def main(args: argparse.Namespace) -> int:
    from vlmrate.stats import analyse, to_json_dict
    from vlmrate.stats.report import render_report

    run = load_run(args.run, args.runs_dir)
    require_ratings_and_human(run)
    if not 0 < args.alpha < 1:
        raise UserError("--alpha must be between 0 and 1")
    if args.bound <= 0:
        raise UserError("--bound must be positive")
    stats = analyse(run.ratings, run.human, run.aspects, bound=args.bound, alpha=args.alpha,
                    k_max=args.k_max, seed=args.seed, run_name=run.name)
    note = partial_note(run)
    if args.json:
        print(json.dumps(to_json_dict(stats), allow_nan=False))  # n per aspect says it
    else:
        if note:
            SafeConsole(width=100).print(f"[bold yellow]{escape(note)}[/] "
                                         f"(run {escape(run.status)})")
        SafeConsole(width=100).print(render_report(stats))
    warn_problems(run)  # after the work: an error stays the one line on stderr
    return 0
