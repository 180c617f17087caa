"""Make the figures of a run (or of a comparison), write them in the asked formats and
write ``figures.md`` beside them: one caption per figure and the command that made them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from . import agreement, cases, compare, reference
from .inputs import RunInput
from .made import Made
from .style import house_style, save

if TYPE_CHECKING:
    from vlmrate.stats.compare import Comparison

FORMATS = ("pdf", "png", "svg")
DEFAULT_FORMATS = ("pdf", "png", "svg")


def drawable(run: RunInput) -> RunInput:
    """The run with only the aspects that have images with a model and a human rating
    (the analysis set every figure is about); the others are named in figures.md."""
    keep = [a for a in run.aspects if run.stats.aspects[a].n_images > 0]
    return replace(run, aspects=keep)


def run_figures(run: RunInput) -> list[Made]:
    """Every figure of one run, in caption order (those with nothing to show left out)."""
    run = drawable(run)
    if not run.aspects:
        return []
    makers: list[Callable[[], Made | None]] = [
        lambda: reference.sd_per_image(run),
        lambda: reference.icc_per_aspect(run),
        lambda: reference.between_aspects(run),
        lambda: reference.differences(run),
        *[(lambda a=a, i=i: reference.first_k(run, a, i)) for i, a in enumerate(run.aspects)],
        lambda: agreement.bland_altman(run),
        lambda: agreement.errors_by_k(run),
        lambda: agreement.sampled_expected(run),
        lambda: cases.case_images(run),
        lambda: agreement.human_ceiling(run),
    ]
    with house_style():
        return [m for m in (make() for make in makers) if m is not None]


def compare_figures(c: Comparison, scale: tuple[int, int] = (1, 9)) -> list[Made]:
    with house_style():
        made = [compare.mae_r(c), compare.mae_by_k(c), compare.disagreement(c, scale)]
    return [m for m in made if m is not None]


def figures_md(made: Sequence[Made], files: dict[str, list[Path]], command: str,
               title: str, left_out: Sequence[str] = ()) -> str:
    """The captions file: one numbered caption per figure, its files, the command."""
    lines = [f"# Figures: {title}", "", f"Made by `{command}`.", ""]
    for i, m in enumerate(made, 1):
        names = ", ".join(f"`{p.name}`" for p in files.get(m.name, []))
        width = "single column (3.5 in)" if m.width == "single" else "double column (7.2 in)"
        lines += [f"**Figure {i}. {m.title}.** {m.caption}", "",
                  f"Files: {names}; {width}.", ""]
    if not any(m.name.startswith("fig10_human_ceiling") for m in made) and any(
            m.name.startswith("fig0") for m in made):
        lines += ["Not drawn: the human-ceiling view (the human sheet has no per-image SDs "
                  "with rater counts: columns A_sd and A_n, or `--raters N`)."]
    if left_out:
        lines += ["", f"Not drawn: {', '.join(left_out)} (no image has both a model and a "
                  "human rating)."]
    if not any(m.name.startswith("fig09_case_images") for m in made) and any(
            m.name.startswith("fig0") for m in made):
        lines += ["", "Not drawn: the case images (the run's dataset images are not there: "
                  "an imported run, or a dataset folder that moved)."]
    lines += [""]
    return "\n".join(lines)


def write_figures(made: Sequence[Made], out_dir: Path, formats: Sequence[str], command: str,
                  title: str, left_out: Sequence[str] = ()) -> list[Path]:
    """Write each figure as out_dir/<name>.<fmt> and out_dir/figures.md; the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, list[Path]] = {}
    written: list[Path] = []
    for m in made:
        files[m.name] = save(m.fig, out_dir / m.name, list(formats))
        written += files[m.name]
    md = out_dir / "figures.md"
    tmp = md.with_name(".figures.md.tmp")
    tmp.write_text(figures_md(made, files, command, title, left_out), encoding="utf-8")
    tmp.replace(md)
    return [*written, md]
