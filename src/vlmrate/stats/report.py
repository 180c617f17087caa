"""A readable report of :class:`StudyStats` as rich tables, at most 100 columns wide."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from .formatting import interval, number, p_value
from .layout import REPORT_LINES, render

if TYPE_CHECKING:
    from .analysis import AspectStats, StudyStats

WIDTH = 100


def _table(title: str, *columns: str) -> Table:
    t = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
    for i, c in enumerate(columns):
        t.add_column(c, justify="left" if i == 0 else "right", no_wrap=True)
    return t


def aspect_table(s: AspectStats, bound: float, alpha: float) -> Table:
    """Key numbers of one aspect (stats.layout.REPORT_LINES): statistic, estimate,
    interval or test, p."""
    t = _table(
        f"{s.aspect}: {s.n_images} images, K = {s.n_repeats}, "
        f"{s.parse_failures} parse failures, {s.engine_errors} engine errors",
        "Statistic",
        "Estimate",
        "95% CI / test",
        "p",
    )
    study = {"bound": bound, "alpha": alpha}
    for line in REPORT_LINES:
        t.add_row(*(render(cell, s, study) for cell in (line.statistic, line.estimate,
                                                          line.test, line.p)))
    return t


def errors_table(s: AspectStats) -> Table:
    t = _table(
        f"{s.aspect}: error by k repeats",
        "k",
        "n",
        "MAE",
        "MSE",
        "r",
        "MAE random k",
        "95% over draws",
    )
    for e in s.errors_by_k:
        t.add_row(
            str(e.k),
            str(e.n),
            number(e.mae),
            number(e.mse),
            number(e.r),
            number(e.mae_subsets),
            interval(e.mae_subsets_ci95),
        )
    return t


def between_table(stats: StudyStats) -> Table:
    t = _table("Between aspects (per-image model means)", "Pair", "r", "p", "n")
    for name, c in stats.between_aspects.items():
        t.add_row(name, number(c.r), p_value(c.p), str(c.n))
    return t


def cross_table(stats: StudyStats, k: int) -> Table:
    humans = stats.human_aspects
    t = _table(
        f"Cross r at k = {k}: model (rows) vs human", "Model \\ human", *humans
    )
    for a, row in stats.cross_by_k.get(k, {}).items():
        t.add_row(a, *(number(row.get(b)) for b in humans))
    return t


def render_report(stats: StudyStats) -> Group:
    """Every analysis as rich tables (fits a 100-column terminal); print with rich."""
    parts: list[RenderableType] = [
        Text.assemble(
            ("Run ", "bold"),
            (stats.run or "—", "bold cyan"),
            f": {stats.n_images} images with model and human ratings; "
            f"bound ±{stats.bound:g}, α = {stats.alpha:g}, seed {stats.seed}",
        )
    ]
    for s in stats.aspects.values():
        parts.append(aspect_table(s, stats.bound, stats.alpha))
    if stats.between_aspects:
        parts.append(between_table(stats))
    for s in stats.aspects.values():
        if s.errors_by_k:
            parts.append(errors_table(s))
    if stats.cross_by_k:
        parts.append(cross_table(stats, max(stats.cross_by_k)))
    return Group(*parts)
