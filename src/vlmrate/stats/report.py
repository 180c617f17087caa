"""A readable report of :class:`StudyStats` as rich tables that fit the given width
(``stats.fit``: wide columns stack under their row when the terminal is narrow)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from .fit import PIPED_WIDTH, fit_parts
from .formatting import number, p_value
from .layout import (
    EXPECTED_LINES,
    REPORT_LINES,
    by_k_columns,
    by_k_row,
    cell,
    cross_rows,
    cross_title,
    label,
    render,
    study_fields,
)
from .methods import methods_text
from .validity import validity_sentence

if TYPE_CHECKING:
    from .analysis import AspectStats, StudyStats


def _table(title: str, *columns: str) -> Table:
    t = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
    for i, c in enumerate(columns):
        t.add_column(c, justify="left" if i == 0 else "right", no_wrap=True)
    return t


def aspect_table(s: AspectStats, bound: float, alpha: float) -> Table:
    """Key numbers of one aspect (stats.layout.REPORT_LINES): statistic, estimate,
    interval or test, p. Intervals are at 1 - alpha unless the line says otherwise."""
    study = study_fields(bound, alpha)
    t = _table(
        f"{s.aspect}: {s.n_images} images, K = {s.n_repeats}, "
        f"{s.parse_failures} parse failures, {s.engine_errors} engine errors",
        "Statistic",
        "Estimate",
        f"{study['level']} CI / test",
        "p",
    )
    for line in REPORT_LINES:
        t.add_row(*(render(cell, s, study) for cell in (line.statistic, line.estimate,
                                                          line.test, line.p)))
    return t


def expected_table(s: AspectStats, bound: float, alpha: float) -> Table:
    """The sampled means and the logprob expected ratings side by side
    (stats.layout.EXPECTED_LINES)."""
    study = study_fields(bound, alpha)
    t = _table(f"{s.aspect}: sampled vs expected rating (logprobs)",
               "Statistic", "Sampled", "Expected")
    for text, sampled, expected in EXPECTED_LINES:
        t.add_row(label(text, study), cell(s, sampled), cell(s, expected))
    return t


def notes_text(s: AspectStats) -> Text:
    """Why each empty cell of the aspect is empty (its ``notes``), statistics named as
    the report names them."""
    from .layout import readable_note

    return Text("\n".join(f"  note: {readable_note(n)}" for n in s.notes), style="dim")


def validity_text(s: AspectStats, alpha: float) -> Text:
    """The aspect's Validity sentence (stats.validity), for a paper to use."""
    return Text(validity_sentence(s.aspect, s, study_fields(0, alpha)["level"]))


def errors_table(s: AspectStats, alpha: float = 0.05) -> Table:
    t = _table(f"{s.aspect}: error by k repeats",
               *by_k_columns(study_fields(0, alpha)["level"]))
    for e in s.errors_by_k:
        t.add_row(*by_k_row(e))
    return t


def between_table(stats: StudyStats) -> Table:
    t = _table("Between aspects (per-image model means)", "Pair", "r", "p", "n")
    for name, c in stats.between_aspects.items():
        t.add_row(name, number(c.r), p_value(c.p), str(c.n))
    return t


def cross_table(stats: StudyStats, k: int) -> Table:
    humans = stats.human_aspects
    t = _table(cross_title(k), "Model \\ human", *humans)
    for row in cross_rows(stats.cross_by_k.get(k, {}), humans):
        t.add_row(*row)
    return t


def render_report(stats: StudyStats, width: int = PIPED_WIDTH) -> Group:
    """Every analysis as rich tables that fit ``width`` columns; print with rich at
    that width."""
    parts: list[RenderableType] = [
        Text.assemble(
            ("Run ", "bold"),
            (stats.run or "—", "bold cyan"),
            f": {stats.n_images} images with model and human ratings; "
            f"bound ±{stats.bound:g}, α = {stats.alpha:g}, intervals at "
            f"{study_fields(stats.bound, stats.alpha)['level']}, seed {stats.seed}",
        ),
        Text(f"Every interval follows α ({study_fields(stats.bound, stats.alpha)['level']}) "
             f"except the TOST interval of mean d ({study_fields(0, stats.alpha)['tost_level']},"
             " 1 − 2α); the Bland–Altman limits are the conventional 95% limits (their CIs "
             "follow α); the Hodges–Lehmann CI is at the level it reaches (on its line).",
             style="dim"),
    ]
    for s in stats.aspects.values():
        parts.append(aspect_table(s, stats.bound, stats.alpha))
        parts.append(validity_text(s, stats.alpha))
        if s.expected is not None:
            parts.append(expected_table(s, stats.bound, stats.alpha))
        if s.notes:
            parts.append(notes_text(s))
    if stats.between_aspects:
        parts.append(between_table(stats))
    for s in stats.aspects.values():
        if s.errors_by_k:
            parts.append(errors_table(s, stats.alpha))
    if stats.cross_by_k:
        parts.append(cross_table(stats, max(stats.cross_by_k)))
    parts.append(Text(""))
    parts.append(Text(methods_text(stats)))
    return Group(*fit_parts(parts, width))
