"""A readable :class:`~vlmrate.stats.compare.Comparison`: the runs, then per aspect one
table with the runs as rows (the best value of each column marked ``*`` and bold) and
one of the pairs (p below alpha bold)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from .compare import best_runs
from .fit import PIPED_WIDTH, fit_parts

if TYPE_CHECKING:
    from .compare import AspectComparison, Comparison


def _f(v: float | None, digits: int = 3) -> str:
    if v is None or not math.isfinite(v):
        return "—"
    return f"{v:.{digits}f}"


def _p(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "—"
    return "<0.001" if v < 0.001 else f"{v:.3f}"


def _ci(pair: tuple[float, float], digits: int = 2) -> str:
    return f"[{_f(pair[0], digits)}, {_f(pair[1], digits)}]"


def _table(title: str, *columns: str) -> Table:
    t = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
    for i, c in enumerate(columns):
        t.add_column(c, justify="left" if i == 0 else "right", no_wrap=True)
    return t


def _mark(text: str, best: bool) -> Text:
    return Text(f"{text}*", style="bold") if best else Text(f"{text} ")


def runs_table(c: Comparison) -> Table:
    """What each run is and what it cost."""
    t = _table("Runs", "run", "model", "prompts", "mode", "engine", "temp", "K", "answers",
               "parse fail", "out tok", "wall s")
    for r in c.runs:
        rate = r["parse_failure_rate"]
        t.add_row(r["name"], str(r["model"] or "—").rsplit("/", 1)[-1],
                  str(r["prompts"] or "—"), "rating-only" if r.get("rating_only") else "full",
                  str(r["engine"] or "—"), _f(r["temperature"], 2),
                  str(r["repeats"] or "—"), str(r["n_answers"]),
                  "—" if rate is None else f"{rate:.1%}", _f(r["output_tokens_mean"], 1),
                  _f(r["wall_s"], 1))
    return t


def run_facts_table(c: Comparison) -> Table:
    """What each run is, the runs as columns (narrow terminals, the TUI): the rows where
    the runs differ are marked ≠ and bold, so what was changed between them shows."""
    t = Table(title="the runs (≠: differs between them)", box=None, title_justify="left",
              header_style="bold", pad_edge=False)
    t.add_column("", no_wrap=True)
    for r in c.runs:
        t.add_column(str(r["name"]), justify="right", overflow="fold")
    rows: list[tuple[str, Any]] = [
        ("model", lambda r: str(r["model"] or "—").rsplit("/", 1)[-1]),
        ("prompt set", lambda r: str(r["prompts"] or "—")),
        ("mode", lambda r: "rating-only" if r.get("rating_only") else "full"),
        ("engine", lambda r: str(r["engine"] or "—")),
        ("temperature", lambda r: _f(r["temperature"], 2)),
        ("K (repeats)", lambda r: str(r["repeats"] or "—")),
        ("answers", lambda r: str(r["n_answers"])),
        ("parse failures", lambda r: "—" if r["parse_failure_rate"] is None
         else f"{r['parse_failure_rate']:.1%}"),
        ("wall time", lambda r: "—" if r["wall_s"] is None else f"{r['wall_s']:.0f} s"),
    ]
    for label, value in rows:
        cells = [value(r) for r in c.runs]
        differs = len(set(cells)) > 1
        style = "bold" if differs else ""
        t.add_row(Text(f"{label} ≠" if differs else label, style=style),
                  *[Text(v, style=style) for v in cells])
    return t


def aspect_runs_table(a: AspectComparison, confidence: float) -> Table:
    level = f"{confidence:.0%}"
    t = _table(f"{a.aspect}: {a.n_common} common images (* best)", "run", "bias", "MAE",
               f"MAE {level} CI", "r", f"r {level} CI", "ICC(A,1)", "CCC", "ICC1", "TOST eq",
               "Wilcoxon p")
    best = best_runs(a)

    def cell(name: str, column: str, value: Any, digits: int = 3) -> Text:
        return _mark(_f(value, digits), name in best.get(column, ()))

    for name, r in a.runs.items():
        t.add_row(name, cell(name, "bias", r.bias), cell(name, "mae", r.mae),
                  _ci(r.mae_ci), cell(name, "r", r.r), _ci(r.r_ci),
                  cell(name, "icc_a1", r.icc_a1), cell(name, "ccc", r.ccc),
                  cell(name, "icc1", r.icc1), _yes_no(r.tost_equivalent),
                  _p(r.wilcoxon_p_two_sided))
    return t


def pairs_table(a: AspectComparison, confidence: float, alpha: float) -> Table:
    level = f"{confidence:.0%}"
    t = _table(f"{a.aspect}: pairs (A − B; bold p < {alpha:g})", "A − B", "n", "MAE diff",
               f"{level} CI", "r diff", "Williams t", "p", "|d| Wilcoxon p")

    def p_cell(v: float) -> Text:
        return Text(_p(v), style="bold" if math.isfinite(v) and v < alpha else "")

    for (x, y), p in a.pairs.items():
        t.add_row(f"{x} − {y}", str(p.n), _f(p.mae_diff), _ci(p.mae_diff_ci, 3),
                  _f(p.r_diff), _f(p.r_diff_t, 2), p_cell(p.r_diff_p), p_cell(p.abs_d_p))
    return t


def measures_table(a: AspectComparison, confidence: float) -> Table:
    """The runs of one aspect as columns and the measures as rows (narrow terminals)."""
    level = f"{confidence:.0%}"
    t = Table(title=f"{a.aspect}: {a.n_common} common images (* best)", box=None,
              title_justify="left", header_style="bold", pad_edge=False)
    t.add_column("measure", no_wrap=True)
    for name in a.runs:
        t.add_column(name, justify="right", overflow="fold")
    best = best_runs(a)
    rows: list[tuple[str, str, Any]] = [
        ("images", "n_images", lambda r: str(r.n_images)),
        ("bias (model − human)", "bias", lambda r: _f(r.bias)),
        ("MAE", "mae", lambda r: _f(r.mae)),
        (f"  {level} CI", "", lambda r: _ci(r.mae_ci)),
        ("Pearson r", "r", lambda r: _f(r.r)),
        (f"  {level} CI", "", lambda r: _ci(r.r_ci)),
        ("ICC(A,1)", "icc_a1", lambda r: _f(r.icc_a1)),
        ("CCC", "ccc", lambda r: _f(r.ccc)),
        ("ICC1 (stability)", "icc1", lambda r: _f(r.icc1)),
        ("TOST equivalent", "", lambda r: _yes_no(r.tost_equivalent)),
        ("Wilcoxon p", "", lambda r: _p(r.wilcoxon_p_two_sided)),
    ]
    for label, column, value in rows:
        t.add_row(label, *[_mark(value(r), name in best.get(column, ()))
                           for name, r in a.runs.items()])
    return t


def pair_measures_table(a: AspectComparison, confidence: float, alpha: float) -> Table:
    """The pairs of one aspect as rows, in two lines each (narrow terminals)."""
    t = Table(title=f"{a.aspect}: pairs, A − B (bold: p < {alpha:g})", box=None,
              title_justify="left", header_style="bold", pad_edge=False)
    for name in ("A − B", "MAE diff", f"{confidence:.0%} CI", "r diff", "t", "p", "|d| p"):
        t.add_column(name, justify="left" if name == "A − B" else "right", overflow="fold")

    def p_cell(v: float) -> Text:
        return Text(_p(v), style="bold" if math.isfinite(v) and v < alpha else "")

    for (x, y), p in a.pairs.items():
        t.add_row(f"{x} − {y} (n {p.n})", _f(p.mae_diff), _ci(p.mae_diff_ci),
                  _f(p.r_diff), _f(p.r_diff_t, 2), p_cell(p.r_diff_p), p_cell(p.abs_d_p))
    return t


def _yes_no(value: bool | None) -> str:
    return "—" if value is None else ("yes" if value else "no")


def render_compare(c: Comparison, width: int = PIPED_WIDTH) -> Group:
    """The comparison as rich tables that fit ``width`` (``stats.fit``)."""
    parts: list[Any] = [runs_table(c)]
    for a in c.aspects.values():
        parts += [aspect_runs_table(a, c.confidence), pairs_table(a, c.confidence, c.alpha)]
    parts.append(Text(
        f"bias = mean(model − human); intervals: MAE BCa bootstrap over images, r Fisher z; "
        f"TOST bound "
        f"±{c.bound:g}; pairs: MAE diff with a paired bootstrap {c.confidence:.0%} interval, "
        f"Williams' t (df = n − 3) for r(A,h) − r(B,h), Wilcoxon signed-rank on |d_A| − |d_B|.",
        style="dim"))
    return Group(*fit_parts(parts, width))
