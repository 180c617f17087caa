"""Figures, report and workbook of a run in their default places inside the run folder
(RUN/figures/, RUN/RUN-report.html, RUN/RUN.xlsx with a Figures sheet): what the TUI's
Stats screen writes with one key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vlmrate.errors import UserError
from vlmrate.runfolder.files import write_text_atomic

from .build import run_report

if TYPE_CHECKING:
    from vlmrate.runfolder.store import LoadedRun

FIGURES_DIR = "figures"


def default_report_path(run: LoadedRun) -> Path:
    return Path(run.path) / f"{run.name}-report.html"


@dataclass(frozen=True)
class Written:
    figures: Path  # the folder
    report: Path
    n_figures: int
    workbook: Path | None = None


def write_figures_and_report(run: LoadedRun, *, bound: float = 0.5, alpha: float = 0.05,
                             formats: tuple[str, ...] = ("pdf", "png", "svg"),
                             workbook: bool = False) -> Written:
    """Write the figures and the report (and with ``workbook`` the run's workbook with a
    Figures sheet of the same figures), with the statistics of ``vlmrate stats`` at the
    given bound and alpha; what was written where."""
    from vlmrate.figures import RunInput, run_figures, write_figures
    from vlmrate.figures.inputs import dataset_images
    from vlmrate.stats import analyse

    if run.ratings.is_empty():
        raise UserError(f"run {run.name} has no ratings yet")
    if run.human.is_empty():
        raise UserError(f"run {run.name} has no human ratings: nothing to compare with")
    stats = analyse(run.ratings, run.human, run.aspects, bound=bound, alpha=alpha,
                    run_name=run.name)
    made = run_figures(RunInput(run.name, stats, run.ratings, run.human, list(run.aspects),
                                run.scale, *dataset_images(run.manifest)))
    if not made:
        raise UserError(f"run {run.name}: no image has both a model and a human rating "
                        "(nothing to draw)")
    folder = Path(run.path) / FIGURES_DIR
    folder.mkdir(exist_ok=True)
    left_out = [a for a in run.aspects if not stats.aspects[a].n_images]
    write_figures(made, folder, list(formats), f"vlmrate figures {run.name}", run.name,
                  left_out)
    path = default_report_path(run)
    write_text_atomic(path, run_report(run, stats, made, f"vlmrate report {run.name}"))
    book = None
    if workbook:
        from vlmrate.export import export_run
        from vlmrate.figures.style import png_bytes

        pngs = [(m.title, m.caption, png_bytes(m.fig)) for m in made]
        book = export_run(run, bound=bound, alpha=alpha, figures=pngs)[0]
    return Written(folder, path, len(made), book)
