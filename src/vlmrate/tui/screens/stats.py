"""Stats: the analyses of vlmrate.stats as tables, and plotext charts per aspect.

Numbers come from ``to_json_dict(analyse(...))`` (the object `vlmrate stats --json`
prints) and ``per_image`` (for the scatter and histograms); nothing is computed here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane

from vlmrate.tui.data import StatsData, column_values, fmt, fmt_p, paired_values
from vlmrate.tui.widgets import charts
from vlmrate.tui.widgets.charts import Chart

if TYPE_CHECKING:
    from vlmrate.store import LoadedRun
    from vlmrate.tui.app import VlmrateApp

TABS = (("summary", "Summary"), ("byk", "By k"), ("cross", "Cross"), ("sd", "SD"),
        ("d", "d"), ("ba", "Bland–Altman"), ("scatter", "Scatter"))
CHART_TABS = ("byk", "sd", "d", "ba", "scatter")


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _ci(pair: Any, digits: int = 2) -> str:
    if isinstance(pair, list | tuple) and len(pair) == 2:
        return f"[{fmt(pair[0], digits)}, {fmt(pair[1], digits)}]"
    return "—"


def summary_table(stats: dict, aspects: list[str]) -> Table:
    """Measures as rows, aspects as columns (fits 80 columns for three aspects)."""
    table = Table(box=None, header_style="bold", expand=True, pad_edge=False)
    table.add_column("measure", no_wrap=True)
    for aspect in aspects:
        table.add_column(aspect, justify="right")
    per = {a: _get(stats, "aspects", a) or {} for a in aspects}

    def row(label: str, value: Any) -> None:
        table.add_row(label, *[value(per[a]) for a in aspects])

    def section(label: str) -> None:
        table.add_row(Text(label, style="bold underline"), *["" for _ in aspects])

    section("stability")
    row("images", lambda s: fmt(s.get("n_images")))
    row("SD of repeats: mean", lambda s: fmt(_get(s, "stability", "sd_mean")))
    row("SD of repeats: median", lambda s: fmt(_get(s, "stability", "sd_median")))
    row("ICC1", lambda s: fmt(_get(s, "icc", "ICC1", "value")))
    row("  95% CI", lambda s: _ci(_get(s, "icc", "ICC1", "ci")))
    row("ICC1k", lambda s: fmt(_get(s, "icc", "ICC1k", "value")))
    row("  95% CI", lambda s: _ci(_get(s, "icc", "ICC1k", "ci")))
    row("ICC (reference formula)", lambda s: fmt(_get(s, "icc", "icc_reference")))
    section("model vs human")
    row("Pearson r", lambda s: fmt(_get(s, "pearson_vs_human", "r")))
    row("  p", lambda s: fmt_p(_get(s, "pearson_vs_human", "p")))
    row("mean d (model − human)", lambda s: fmt(_get(s, "tost", "mean_diff")))
    row("Wilcoxon p two-sided", lambda s: fmt_p(_get(s, "wilcoxon", "p_two_sided")))
    row("  p model > human", lambda s: fmt_p(_get(s, "wilcoxon", "p_greater")))
    row("  p model < human", lambda s: fmt_p(_get(s, "wilcoxon", "p_less")))
    row("TOST p (t)", lambda s: fmt_p(_get(s, "tost", "p")))
    row("  equivalent", lambda s: fmt(_get(s, "tost", "equivalent")))
    row("TOST p (Wilcoxon)", lambda s: fmt_p(_get(s, "tost_wilcoxon", "p")))
    row("  equivalent", lambda s: fmt(_get(s, "tost_wilcoxon", "equivalent")))
    row("ICC(A,1)", lambda s: fmt(_get(s, "agreement", "icc_a1")))
    row("ICC(C,1)", lambda s: fmt(_get(s, "agreement", "icc_c1")))
    row("Bland–Altman bias", lambda s: fmt(_get(s, "agreement", "ba_bias")))
    row("  95% limits", lambda s: _ci([_get(s, "agreement", "ba_lower"),
                                       _get(s, "agreement", "ba_upper")]))
    row("MAE 95% CI", lambda s: _ci(_get(s, "agreement", "mae_ci")))
    row("r 95% CI", lambda s: _ci(_get(s, "agreement", "r_ci")))
    section("answers")
    row("parse failures", lambda s: fmt(s.get("parse_failures")))
    row("engine errors", lambda s: fmt(s.get("engine_errors")))
    return table


def between_table(stats: dict) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("model means", no_wrap=True)
    table.add_column("r", justify="right")
    table.add_column("p", justify="right")
    for pair, value in (stats.get("between_aspects") or {}).items():
        table.add_row(pair, fmt(_get(value, "r")), fmt_p(_get(value, "p")))
    return table


def by_k_table(rows: list[dict]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False, expand=True)
    for name in ("k", "n", "MAE", "MSE", "r", "MAE subsets", "95% interval"):
        table.add_column(name, justify="right")
    for row in rows:
        table.add_row(fmt(row.get("k")), fmt(row.get("n")), fmt(row.get("mae")),
                      fmt(row.get("mse")), fmt(row.get("r")), fmt(row.get("mae_subsets")),
                      _ci(row.get("mae_subsets_ci")))
    return table


def cross_table(stats: dict, aspects: list[str], k: str) -> Table:
    matrix = _get(stats, "cross_by_k", k) or {}
    table = Table(title=f"Pearson r, model mean of the first {k} repeats (rows) vs human "
                  "mean (columns)", title_justify="left", box=None, header_style="bold",
                  pad_edge=False)
    table.add_column("model \\ human")
    humans = list(dict.fromkeys(h for row in matrix.values() for h in row)) or aspects
    for human in humans:
        table.add_column(human, justify="right")
    for model in matrix:
        table.add_row(model, *[fmt(_get(matrix, model, h)) for h in humans])
    return table


class StatsScreen(Screen[None]):
    """Tables and charts; a switches the aspect of the per-aspect views."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "aspect", "Aspect", id="stats.aspect"),
        Binding("right_square_bracket", "tab(1)", "Next tab", id="stats.next_tab"),
        Binding("left_square_bracket", "tab(-1)", "Prev tab", id="stats.prev_tab"),
        Binding("k", "cross_k", "Cross k", id="stats.cross_k"),
        Binding("x", "export", "Export", id="stats.export"),
        Binding("escape", "back", "Back", id="stats.back"),
    ]

    def __init__(self, run_path: Path) -> None:
        super().__init__()
        self.run_path = Path(run_path)
        self.run: LoadedRun | None = None
        self.data: StatsData | None = None
        self.aspect = ""
        self.cross_k = ""

    @property
    def vapp(self) -> VlmrateApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("computing statistics…", id="stats-info", classes="info")
        with TabbedContent(id="stats-tabs"):
            with TabPane("Summary", id="summary"), VerticalScroll():
                yield Static("", id="stats-summary")
                yield Static("", id="stats-between")
            with TabPane("By k", id="byk"), VerticalScroll():
                yield Chart(id="chart-byk", classes="chart")
                yield Static("", id="stats-byk")
            with TabPane("Cross", id="cross"), VerticalScroll():
                yield Static("", id="stats-cross")
            for key, title in TABS[3:]:
                with TabPane(title, id=key):
                    yield Chart(id=f"chart-{key}", classes="chart")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"{self.run_path.name} · statistics"
        self.load()

    @work(thread=True, exclusive=True, group="stats", exit_on_error=False)
    def load(self) -> None:
        from vlmrate.store import load_run
        from vlmrate.tui.data import StatsUnavailable, load_stats

        try:
            run = load_run(self.run_path)
            data = load_stats(run)
        except StatsUnavailable as exc:
            self.app.call_from_thread(self._unavailable, str(exc))
            return
        except Exception as exc:
            self.app.call_from_thread(self._failed, exc)
            return
        self.app.call_from_thread(self._loaded, run, data)

    def _unavailable(self, why: str) -> None:
        self.query_one("#stats-info", Static).update(why)

    def _failed(self, error: BaseException) -> None:
        self.query_one("#stats-info", Static).update(f"cannot compute the statistics: {error}")
        self.vapp.report_error(error, "stats")

    def _loaded(self, run: LoadedRun, data: StatsData) -> None:
        self.run, self.data = run, data
        self.aspect = data.aspects[0] if data.aspects else ""
        ks = list((data.stats.get("cross_by_k") or {}).keys())
        self.cross_k = ks[-1] if ks else ""
        self.query_one("#stats-summary", Static).update(
            summary_table(data.stats, data.aspects))
        self.query_one("#stats-between", Static).update(between_table(data.stats))
        self.show_aspect()

    def show_aspect(self) -> None:
        data, aspect = self.data, self.aspect
        if data is None or self.run is None:
            return
        stats = data.stats
        bound, alpha = stats.get("bound"), stats.get("alpha")
        info = Text.assemble((f"{data.stats.get('n_images', '?')} images", "bold"),
                             f" · aspect {aspect} (a switches) · TOST bound ±{fmt(bound)}"
                             f" · alpha {fmt(alpha)}")
        self.query_one("#stats-info", Static).update(info)
        rows = _get(stats, "aspects", aspect, "errors_by_k") or []
        self.query_one("#stats-byk", Static).update(by_k_table(rows))
        self.query_one("#stats-cross", Static).update(
            cross_table(stats, data.aspects, self.cross_k))
        table = data.table
        charts.errors_by_k(self.query_one("#chart-byk", Chart), rows,
                           f"{aspect}: MAE and r (right axis) vs k")
        charts.histogram(self.query_one("#chart-sd", Chart),
                         column_values(table, f"{aspect}_sd"),
                         f"{aspect}: SD of the repeats per image", "SD")
        charts.histogram(self.query_one("#chart-d", Chart), column_values(table, f"{aspect}_d"),
                         f"{aspect}: d = model mean − human mean per image", "d",
                         zero_line=True)
        human, model = paired_values(table, f"{aspect}_human", f"{aspect}_mean")
        agreement = _get(stats, "aspects", aspect, "agreement") or {}
        charts.bland_altman(self.query_one("#chart-ba", Chart),
                            [(h + m) / 2 for h, m in zip(human, model, strict=True)],
                            [m - h for h, m in zip(human, model, strict=True)],
                            agreement.get("ba_bias"), agreement.get("ba_lower"),
                            agreement.get("ba_upper"),
                            f"{aspect}: Bland–Altman (bias and 95% limits)")
        charts.scatter_vs_human(self.query_one("#chart-scatter", Chart), human, model,
                                f"{aspect}: model mean vs human mean", self.run.scale)

    def action_aspect(self) -> None:
        if self.data is None or not self.data.aspects:
            return
        aspects = self.data.aspects
        self.aspect = aspects[(aspects.index(self.aspect) + 1) % len(aspects)]
        self.show_aspect()

    def action_cross_k(self) -> None:
        if self.data is None:
            return
        ks = list((self.data.stats.get("cross_by_k") or {}).keys())
        if ks:
            self.cross_k = ks[(ks.index(self.cross_k) + 1) % len(ks)] \
                if self.cross_k in ks else ks[0]
            self.show_aspect()

    def action_tab(self, step: int) -> None:
        tabs = self.query_one("#stats-tabs", TabbedContent)
        keys = [key for key, _ in TABS]
        current = tabs.active if tabs.active in keys else keys[0]
        tabs.active = keys[(keys.index(current) + step) % len(keys)]

    def action_export(self) -> None:
        if self.run is None:
            return
        self.notify("writing the workbook…", title="export", timeout=2)
        self.vapp.export_run(self.run)

    def action_back(self) -> None:
        self.app.pop_screen()
