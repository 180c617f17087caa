"""`vlmrate compare RUN RUN [RUN...]`: runs side by side on their common images."""

from __future__ import annotations

import argparse
import json

from vlmrate.commands.common import SafeConsole, say
from vlmrate.errors import UserError
from vlmrate.stats.compared_runs import load_compared


def build(args: argparse.Namespace):
    """The Comparison the arguments ask for (shared by the CLI and the workbook)."""
    from vlmrate.stats.compare import compare

    if len(args.runs) < 2:
        raise UserError("compare needs at least two runs")
    if not 0 < args.alpha < 1:
        raise UserError("--alpha must be between 0 and 1")
    if args.bound <= 0:
        raise UserError("--bound must be positive")
    problems: list[str] = []
    runs = load_compared(args.runs, args.runs_dir, problems)
    try:
        result = compare(runs, aspects=[args.aspect] if args.aspect else None,
                         bound=args.bound, alpha=args.alpha, seed=args.seed)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    for problem in problems:  # what was set aside, as `vlmrate stats` says it
        say(f"vlmrate: warning: {problem}")
    return result


def main(args: argparse.Namespace) -> int:
    from vlmrate.stats.compare import to_json_dict
    from vlmrate.stats.compare_report import render_compare
    from vlmrate.stats.fit import terminal_width

    result = build(args)
    if args.json:
        print(json.dumps(to_json_dict(result), allow_nan=False))
    else:
        width = terminal_width(args.width)
        SafeConsole(width=width).print(render_compare(result, width))
    return 0
