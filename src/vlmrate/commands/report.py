"""`vlmrate report RUN [-o FILE.html]` and `vlmrate report --compare RUN RUN... [-o FILE]`:
one self-contained HTML file (inline CSS and SVG, no request of any kind)."""

from __future__ import annotations

import argparse
from pathlib import Path

from vlmrate.commands.common import warn_problems
from vlmrate.commands.figures import analysed_run, command_line, compare_slug, comparison
from vlmrate.errors import UserError
from vlmrate.runfolder.files import write_text_atomic


def report_target(path: Path | None, default: Path) -> Path:
    from vlmrate.export.target import check_target

    return check_target(Path(path) if path is not None else default, expect_suffix=".html")


def main(args: argparse.Namespace) -> int:
    from vlmrate.figures import compare_figures, run_figures
    from vlmrate.report import compare_report, run_report

    command = command_line("report", args)
    if args.compare:
        if args.run is not None:
            raise UserError("give either RUN or --compare RUN RUN..., not both")
        result, first = comparison(args.compare, args.runs_dir, aspect=args.aspect,
                                   bound=args.bound, alpha=args.alpha)
        target = report_target(args.output, first.path / f"{compare_slug(args.compare)}.html")
        text = compare_report(result, compare_figures(result, first.scale), command)
        run = None
    else:
        if args.run is None:
            raise UserError("report needs RUN (or --compare RUN RUN...)")
        run, stats, run_input = analysed_run(args.run, args.runs_dir, aspect=args.aspect,
                                             bound=args.bound, alpha=args.alpha)
        if not stats.n_images:
            raise UserError(f"run {run.name}: no image has both a model and a human rating "
                            "(nothing to report)")
        target = report_target(args.output, run.path / f"{run.name}-report.html")
        text = run_report(run, stats, run_figures(run_input), command)
    write_text_atomic(target, text)
    print(target)
    if run is not None:
        warn_problems(run)
    return 0
