"""A readable report of :class:`StudyStats` as rich tables, at most 100 columns wide."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from .methods import methods_text

if TYPE_CHECKING:
    from .summary import AspectStats, StudyStats

WIDTH = 100


def _f(v: float | None, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    return f"{v:.{digits}f}"


def _p(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "—"
    if v < 0.001:
        return "<0.001"
    return f"{v:.3f}"


def _ci(pair: tuple[float, float], digits: int = 3) -> str:
    return f"[{_f(pair[0], digits)}, {_f(pair[1], digits)}]"


def _yes(v: bool) -> str:
    return "yes" if v else "no"


def _table(title: str, *columns: str) -> Table:
    t = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
    for i, c in enumerate(columns):
        t.add_column(c, justify="left" if i == 0 else "right", no_wrap=True)
    return t


def aspect_table(s: AspectStats, bound: float, alpha: float) -> Table:
    """Key numbers of one aspect: statistic, estimate, interval or test, p."""
    t = _table(
        f"{s.aspect}: {s.n_images} images, K = {s.n_repeats}, "
        f"{s.parse_failures} parse failures, {s.engine_errors} engine errors",
        "Statistic",
        "Estimate",
        "95% CI / test",
        "p",
    )
    ic = s.icc
    t.add_row(
        "Stability: SD mean / median",
        f"{_f(s.stability.sd_mean)} / {_f(s.stability.sd_median)}",
        "",
        "",
    )
    t.add_row("ICC(1,1)", _f(ic.ICC1.value), _ci(ic.ICC1.ci), _p(ic.ICC1.p))
    t.add_row("ICC(1,k)", _f(ic.ICC1k.value), _ci(ic.ICC1k.ci), "")
    t.add_row(
        "  F(df1, df2)",
        _f(ic.ICC1.F, 2),
        f"F({ic.ICC1.df1:.0f}, {ic.ICC1.df2:.0f}), n0 = {_f(ic.n0, 2)}",
        "",
    )
    t.add_row("ICC, reference formula", _f(ic.icc_reference), "", "")
    pr = s.pearson_vs_human
    t.add_row("Pearson r model vs human", _f(pr.r), _ci(s.agreement.r_ci), _p(pr.p))
    ag = s.agreement
    t.add_row("MAE (mean of all repeats)", _f(ag.mae), _ci(ag.mae_ci), "")
    t.add_row("ICC(A,1) / ICC(C,1)", f"{_f(ag.icc_a1)} / {_f(ag.icc_c1)}", "", "")
    t.add_row(
        "Bland–Altman bias", _f(ag.ba_bias), f"limits {_ci((ag.ba_lower, ag.ba_upper), 2)}", ""
    )
    w = s.wilcoxon
    t.add_row("Wilcoxon W+ / W−", f"{w.w_plus:g} / {w.w_minus:g}", "model > human", _p(w.p_greater))
    t.add_row("", "", "model < human", _p(w.p_less))
    t.add_row("", "", "two-sided", _p(w.p_two_sided))
    tt = s.tost
    t.add_row(
        f"TOST t (±{bound:g}): mean d",
        _f(tt.mean_diff),
        f"t = {_f(tt.t_lower, 2)}, {_f(tt.t_upper, 2)}",
        _p(tt.p),
    )
    t.add_row("  equivalent", _yes(tt.equivalent), f"SD d = {_f(tt.sd_diff)}, α = {alpha:g}", "")
    tw = s.tost_wilcoxon
    t.add_row(
        f"TOST Wilcoxon (±{bound:g})",
        _yes(tw.equivalent),
        f"p = {_p(tw.p_lower)}, {_p(tw.p_upper)}",
        _p(tw.p),
    )
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
            _f(e.mae),
            _f(e.mse),
            _f(e.r),
            _f(e.mae_subsets),
            _ci(e.mae_subsets_ci),
        )
    return t


def between_table(stats: StudyStats) -> Table:
    t = _table("Between aspects (per-image model means)", "Pair", "r", "p", "n")
    for name, c in stats.between_aspects.items():
        t.add_row(name, _f(c.r), _p(c.p), str(c.n))
    return t


def cross_table(stats: StudyStats, k: int) -> Table:
    humans = stats.human_aspects
    t = _table(
        f"Cross r at k = {k}: model (rows) vs human", "Model \\ human", *humans
    )
    for a, row in stats.cross_by_k.get(k, {}).items():
        t.add_row(a, *(_f(row.get(b)) for b in humans))
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
    parts.append(Text(methods_text(stats)))
    return Group(*parts)
