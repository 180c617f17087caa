"""`vlmrate stats RUN [--json]`: every analysis of a run, as a report or one JSON object."""

from __future__ import annotations

import argparse
import json

from rich.console import Console

from vlmrate.commands.common import warn_problems
from vlmrate.errors import UserError
from vlmrate.run_summary import partial_note
from vlmrate.store import load_run


def main(args: argparse.Namespace) -> int:
    from vlmrate.stats import analyse, to_json_dict
    from vlmrate.stats.report import render_report

    run = load_run(args.run, args.runs_dir)
    if run.ratings.is_empty():
        raise UserError(f"run {run.name} has no ratings yet")
    if run.human.is_empty():
        raise UserError(f"run {run.name} has no human ratings: nothing to compare with")
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
        if note:
            Console(width=100).print(f"[bold yellow]{note}[/] (run {run.status})")
        Console(width=100).print(render_report(stats))
    warn_problems(run)  # after the work: an error stays the one line on stderr
    return 0
