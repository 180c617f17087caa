"""Figures and report of a run in their default places inside the run folder
(RUN/figures/, RUN/RUN-report.html): what the TUI's Stats screen writes with one key."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from vlmrate.errors import UserError
from vlmrate.files import write_text_atomic

from .build import run_report

if TYPE_CHECKING:
    from vlmrate.store import LoadedRun

FIGURES_DIR = "figures"


def default_report_path(run: LoadedRun) -> Path:
    return Path(run.path) / f"{run.name}-report.html"


def write_figures_and_report(run: LoadedRun, *, bound: float = 0.5, alpha: float = 0.05,
                             formats: tuple[str, ...] = ("pdf", "png", "svg")
                             ) -> tuple[Path, Path, int]:
    """(figures folder, report path, number of figures) after writing both, with the
    statistics of ``vlmrate stats`` at the given bound and alpha."""
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
    folder = Path(run.path) / FIGURES_DIR
    folder.mkdir(exist_ok=True)
    write_figures(made, folder, list(formats), f"vlmrate figures {run.name}", run.name)
    path = default_report_path(run)
    write_text_atomic(path, run_report(run, stats, made, f"vlmrate report {run.name}"))
    return folder, path, len(made)
