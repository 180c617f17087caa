"""`vlmrate export RUN [-o FILE.xlsx] [--csv] [--parquet] [--figures] [--bound] [--alpha]`;
`vlmrate export --compare RUN RUN... [-o FILE.xlsx]` for a comparison workbook."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from vlmrate.commands.common import warn_problems
from vlmrate.errors import UserError
from vlmrate.export import export_run
from vlmrate.runfolder.store import load_run


def main(args: argparse.Namespace) -> int:
    if args.compare:
        if args.run is not None:
            raise UserError("give either RUN or --compare RUN RUN..., not both")
        if args.csv or args.parquet or args.figures:
            raise UserError("--csv, --parquet and --figures export one run; not with "
                            "--compare")
        print(export_comparison(args))
        return 0
    if args.run is None:
        raise UserError("export needs RUN (or --compare RUN RUN...)")
    run = load_run(args.run, args.runs_dir)
    pngs = figure_pngs(run, args.bound, args.alpha) if args.figures else ()
    paths = export_run(run, args.output, bound=args.bound, alpha=args.alpha,
                       csv=args.csv, parquet=args.parquet, raters=getattr(args, "raters", None),
                       figures=pngs)
    for path in paths:
        print(path)
    warn_problems(run)  # after the work: an error stays the one line on stderr
    return 0


def figure_pngs(run, bound: float, alpha: float) -> list[tuple[str, str, bytes]]:
    """(title, caption, PNG) of every figure of `vlmrate figures` (matplotlib imported
    only now), for the workbook's Figures sheet."""
    from vlmrate.figures import RunInput, run_figures
    from vlmrate.figures.inputs import dataset_images
    from vlmrate.figures.style import png_bytes
    from vlmrate.stats import analyse

    if run.ratings.is_empty() or run.human.is_empty():
        raise UserError(f"run {run.name} has no ratings or no human ratings: no figures")
    stats = analyse(run.ratings, run.human, run.aspects, bound=bound, alpha=alpha,
                    run_name=run.name)
    made = run_figures(RunInput(run.name, stats, run.ratings, run.human, list(run.aspects),
                                run.scale, *dataset_images(run.manifest)))
    return [(m.title, m.caption, png_bytes(m.fig)) for m in made]


def export_comparison(args: argparse.Namespace) -> Path:
    """The comparison workbook: `vlmrate compare`'s numbers, one Summary per run."""
    from vlmrate.commands.compare import build
    from vlmrate.export import compute_stats
    from vlmrate.export.compare_sheet import write_compare_workbook
    from vlmrate.export.target import check_target
    from vlmrate.stats.compare import EXPECTED_SUFFIX

    names = [spec.removesuffix(EXPECTED_SUFFIX) for spec in args.compare]
    default = "compare-" + "-".join(re.sub(r"[^\w.\-]+", "_", Path(n).name) for n in names)
    target = check_target(Path(args.output) if args.output else Path(default[:120] + ".xlsx"))
    comparison = build(argparse.Namespace(runs=args.compare, runs_dir=args.runs_dir,
                                          aspect=None, bound=args.bound, alpha=args.alpha,
                                          seed=0))
    summaries, seen = [], set()
    for name in names:
        run = load_run(name, args.runs_dir)
        if run.path.resolve() in seen:
            continue
        seen.add(run.path.resolve())
        stats, _ = compute_stats(run, bound=args.bound, alpha=args.alpha)
        summaries.append((run, stats))
    return write_compare_workbook(comparison, summaries, target)
