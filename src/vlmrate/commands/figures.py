"""`vlmrate figures RUN [-o DIR] [--format pdf,png,svg] [--aspect A]` and
`vlmrate figures --compare RUN RUN... [-o DIR]`: publication figures and figures.md.

matplotlib is imported only here (through vlmrate.figures), when the command runs.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from vlmrate.commands.common import warn_problems
from vlmrate.errors import UserError, clip
from vlmrate.runfolder.store import LoadedRun, load_run

FIGURES_DIR = "figures"


def parse_formats(text: str) -> list[str]:
    from vlmrate.figures import FORMATS

    formats = [f.strip().lower().lstrip(".") for f in text.split(",") if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise UserError(f"--format {clip(text, 40)}: give one or more of "
                        f"{', '.join(FORMATS)}, comma-separated")
    return list(dict.fromkeys(formats))


def analysed_run(spec: str, runs_dir: Path, *, aspect: str | None = None,
                 bound: float = 0.5, alpha: float = 0.05, seed: int = 0
                 ) -> tuple[LoadedRun, Any, Any]:
    """(run, StudyStats, RunInput) of a run that has ratings and human means."""
    from vlmrate.figures import RunInput
    from vlmrate.figures.inputs import dataset_images
    from vlmrate.stats import analyse

    run = load_run(spec, runs_dir)
    if run.ratings.is_empty():
        raise UserError(f"run {run.name} has no ratings yet")
    if run.human.is_empty():
        raise UserError(f"run {run.name} has no human ratings: nothing to compare with")
    if aspect is not None and aspect not in run.aspects:
        raise UserError(f"run {run.name} has no aspect {clip(aspect, 40)} "
                        f"(it has {', '.join(run.aspects)})")
    stats = analyse(run.ratings, run.human, run.aspects, bound=bound, alpha=alpha, seed=seed,
                    run_name=run.name)
    aspects = [aspect] if aspect else list(run.aspects)
    images, root = dataset_images(run.manifest)
    return run, stats, RunInput(run.name, stats, run.ratings, run.human, aspects, run.scale,
                                images, root)


def comparison(specs: list[str], runs_dir: Path, *, aspect: str | None = None,
               bound: float = 0.5, alpha: float = 0.05) -> tuple[Any, LoadedRun]:
    """(Comparison, the first run) of `--compare RUN RUN...`."""
    from vlmrate.commands.compare import build
    from vlmrate.stats.compare import EXPECTED_SUFFIX

    result = build(argparse.Namespace(runs=specs, runs_dir=runs_dir, aspect=aspect,
                                      bound=bound, alpha=alpha, seed=0))
    return result, load_run(specs[0].removesuffix(EXPECTED_SUFFIX), runs_dir)


def compare_slug(specs: list[str]) -> str:
    """compare-<run>-<run>...: a file name made of the runs' names."""
    names = [re.sub(r"[^\w.\-]+", "_", Path(s).name) for s in specs]
    return ("compare-" + "-".join(names))[:120]


def refuse_a_file(target: Path) -> None:
    if target.exists() and not target.is_dir():
        raise UserError(f"{clip(str(target), 80)}: is a file; -o takes a folder")


def out_dir(path: Path | None, default: Path) -> Path:
    """The folder to write in: -o as given (made if missing), else default."""
    target = Path(path).expanduser() if path is not None else default
    refuse_a_file(target)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{clip(str(target), 80)}: cannot make the folder "
                        f"({exc.strerror or exc})") from None
    return target


def command_line(name: str, args: argparse.Namespace, formats: list[str] | None = None) -> str:
    """The command as figures.md and the report state it (the same on every rerun)."""
    words = ["vlmrate", name]
    if getattr(args, "compare", None):
        words += ["--compare", *args.compare]
    elif args.run:
        words.append(args.run)
    if getattr(args, "aspect", None):
        words += ["--aspect", args.aspect]
    if formats is not None and formats != ["pdf", "png", "svg"]:
        words += ["--format", ",".join(formats)]
    if args.bound != 0.5:
        words += ["--bound", f"{args.bound:g}"]
    if args.alpha != 0.05:
        words += ["--alpha", f"{args.alpha:g}"]
    if args.output is not None:
        words += ["-o", str(args.output)]
    return " ".join(words)


def main(args: argparse.Namespace) -> int:
    from vlmrate.figures import compare_figures, run_figures, write_figures

    formats = parse_formats(args.format)
    if args.output is not None:  # before the statistics and the figures (seconds)
        refuse_a_file(Path(args.output).expanduser())
    if args.compare:
        if args.run is not None:
            raise UserError("give either RUN or --compare RUN RUN..., not both")
        result, first = comparison(args.compare, args.runs_dir, aspect=args.aspect,
                                   bound=args.bound, alpha=args.alpha)
        target = out_dir(args.output, first.path / FIGURES_DIR / compare_slug(args.compare))
        made = compare_figures(result, first.scale)
        title = "comparison of " + ", ".join(r["name"] for r in result.runs)
    else:
        if args.run is None:
            raise UserError("figures needs RUN (or --compare RUN RUN...)")
        run, _, run_input = analysed_run(args.run, args.runs_dir, aspect=args.aspect,
                                         bound=args.bound, alpha=args.alpha)
        made = run_figures(run_input)
        if not made:
            raise UserError(f"run {run.name}: no image has both a model and a human rating "
                            "(nothing to draw)")
        target = out_dir(args.output, run.path / FIGURES_DIR)
        title = run.name
        left_out = [a for a in run_input.aspects if not run_input.stats.aspects[a].n_images]
    paths = write_figures(made, target, formats, command_line("figures", args, formats), title,
                          left_out if not args.compare else ())
    print(f"{len(made)} figures ({', '.join(formats)}) and figures.md in {target}")
    if not args.compare:
        warn_problems(run)
    return 0 if paths else 1
