"""`vlmrate stats RUN [--json]`: every analysis of a run, as a report or one JSON object."""

from __future__ import annotations

import argparse
import json

from rich.markup import escape

from vlmrate.commands.common import SafeConsole, warn_problems
from vlmrate.errors import UserError
from vlmrate.runfolder.store import load_run
from vlmrate.stats.compared_runs import require_ratings_and_human
from vlmrate.stats.run_summary import parse_note, partial_note


def main(args: argparse.Namespace) -> int:
    from vlmrate.stats import analyse, to_json_dict
    from vlmrate.stats.fit import terminal_width
    from vlmrate.stats.report import render_report

    run = load_run(args.run, args.runs_dir)
    require_ratings_and_human(run)
    if not 0 < args.alpha < 1:
        raise UserError("--alpha must be between 0 and 1")
    if args.bound <= 0:
        raise UserError("--bound must be positive")
    stats = analyse(run.ratings, run.human, run.aspects, bound=args.bound, alpha=args.alpha,
                    k_max=args.k_max, seed=args.seed, run_name=run.name,
                    raters=getattr(args, "raters", None))
    note = partial_note(run)
    if args.json:
        print(json.dumps(to_json_dict(stats), allow_nan=False))  # n per aspect says it
    else:
        width = terminal_width(args.width)
        console = SafeConsole(width=width)
        if note:
            console.print(f"[bold yellow]{escape(note)}[/] (run {escape(run.status)})")
        if parse_note(run):
            console.print(parse_note(run), style="bold yellow", markup=False)
        console.print(render_report(stats, width))
    warn_problems(run)  # after the work: an error stays the one line on stderr
    return 0
