"""Stats: the analyses of vlmrate.stats as tables, and plotext charts per aspect.

Numbers come from ``analyse(...)`` and ``to_json_dict`` of it (the object `vlmrate stats
--json` prints), laid out and formatted by ``vlmrate.stats.layout``/``formatting``, and the
per-image table (for the scatter and histograms); nothing is computed here.

``vlmrate.stats`` is imported inside the functions: the load worker imports it (~1 s) off
the UI thread; importing it with this module would freeze the screen that opens Stats.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Header, Static, TabbedContent, TabPane

from vlmrate.stats.run_summary import partial_note
from vlmrate.tui.data import StatsData, column_values, fmt, paired_values
from vlmrate.tui.screens.base import AppScreen
from vlmrate.tui.widgets import charts
from vlmrate.tui.widgets.charts import Chart
from vlmrate.tui.widgets.key_footer import KeyFooter
from vlmrate.tui.widgets.rendered_once import RenderedOnce

if TYPE_CHECKING:
    from vlmrate.runfolder.store import LoadedRun

TABS = (("summary", "Summary"), ("byk", "By k"), ("cross", "Cross"), ("sd", "SD"),
        ("d", "d"), ("ba", "Bland–Altman"), ("scatter", "Scatter"))
CHART_TABS = ("byk", "sd", "d", "ba", "scatter")


def summary_table(per_aspect: Mapping[str, Any], aspects: list[str],
                  study: Mapping[str, Any] | None = None) -> Table:
    """Every row of stats.layout.STATISTICS under its section (the expected-rating rows
    only when some aspect has them), aspects as columns (three fit 80 columns: the labels
    wrap first). per_aspect: aspect -> AspectStats; study: stats.layout.study_fields, for
    the labels that name the confidence level."""
    from vlmrate.stats.layout import (
        format_statistic,
        label,
        study_fields,
        value_at,
        visible_rows,
    )

    study = study if study is not None else study_fields(None, None)
    # not expanded: in a wide terminal the values stay next to their labels
    table = Table(box=None, header_style="bold", pad_edge=False)
    # long labels (to 20 columns) and long texts among the values (a method's name, to 12)
    # wrap: at 80 columns every aspect stays in view
    table.add_column("measure", min_width=20)
    for aspect in aspects:
        table.add_column(aspect, justify="right", min_width=10, max_width=12)
    section = None
    for stat in visible_rows({a: per_aspect.get(a) for a in aspects}):
        if stat.section != section:
            section = stat.section
            table.add_row(Text(label(section, study), style="bold underline"),
                          *["" for _ in aspects])
        table.add_row(f"  {label(stat.label, study)}", *[
            format_statistic(value_at(per_aspect.get(a), stat.path), stat)
            for a in aspects])
    return table


def expected_table(aspect_stats: Any, aspect: str, study: Mapping[str, Any]) -> Table | Text:
    """One aspect's sampled means and logprob expected ratings side by side
    (stats.layout.EXPECTED_LINES); a line of text when the run has no expected ratings."""
    from vlmrate.stats.layout import EXPECTED_LINES, cell, label, value_at

    if value_at(aspect_stats, "expected") is None:
        return Text(f"{aspect}: no expected ratings (a run made with --logprobs has them)",
                    style="dim")
    table = Table(title=f"{aspect}: sampled vs expected rating",
                  title_justify="left", box=None, header_style="bold", pad_edge=False)
    table.add_column("measure", no_wrap=True)
    table.add_column("sampled", justify="right")
    table.add_column("expected", justify="right")
    for text, sampled, expected in EXPECTED_LINES:
        table.add_row(label(text, study), cell(aspect_stats, sampled),
                      cell(aspect_stats, expected))
    return table


def notes_text(aspect_stats: Any, aspect: str) -> Text:
    """Why the empty cells of one aspect are empty."""
    from vlmrate.stats.layout import readable_note, value_at

    notes = [readable_note(n) for n in value_at(aspect_stats, "notes") or []]
    if not notes:
        return Text("")
    return Text("\n".join([f"{aspect}: why some cells are empty", *(f"  {n}" for n in notes)]),
                style="dim")


def between_table(stats: dict) -> Table:
    from vlmrate.stats.formatting import number, p_value
    from vlmrate.stats.layout import value_at

    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("model means", no_wrap=True)
    table.add_column("r", justify="right")
    table.add_column("p", justify="right")
    for pair, value in (stats.get("between_aspects") or {}).items():
        table.add_row(pair, number(value_at(value, "r")), p_value(value_at(value, "p")))
    return table


def by_k_table(rows: list[dict], level: str = "95%") -> Table:
    from vlmrate.stats.layout import by_k_columns, by_k_row

    table = Table(box=None, header_style="bold", pad_edge=False, expand=True)
    for name in by_k_columns(level):
        table.add_column(name, justify="right")
    for row in rows:
        table.add_row(*by_k_row(row))
    return table


def cross_table(stats: dict, aspects: list[str], k: str) -> Table:
    from vlmrate.stats.layout import cross_rows, cross_title, value_at

    matrix = value_at(stats, ("cross_by_k", k)) or {}
    table = Table(title=cross_title(k), title_justify="left", box=None, header_style="bold",
                  pad_edge=False)
    table.add_column("model \\ human")
    humans = list(dict.fromkeys(h for row in matrix.values() for h in row)) or aspects
    for human in humans:
        table.add_column(human, justify="right")
    for row in cross_rows(matrix, humans):
        table.add_row(*row)
    return table


class StatsScreen(AppScreen):
    """Tables and charts; a switches the aspect of the per-aspect views."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "aspect", "Aspect", id="stats.aspect"),
        Binding("right_square_bracket", "tab(1)", "Next tab", id="stats.next_tab"),
        Binding("left_square_bracket", "tab(-1)", "Prev tab", id="stats.prev_tab",
                show=False),  # the footer fits 80 columns
        Binding("k", "cross_k", "Cross k", id="stats.cross_k", show=False),  # fits 80 cols
        Binding("x", "export", "Export", id="stats.export"),
        Binding("f", "figures", "Figures", id="stats.figures"),
        Binding("r", "reload", "Recompute", id="stats.reload", show=False),
        Binding("escape,q", "back", "Back", id="stats.back"),  # q too, as in Runs
    ]

    def __init__(self, run_path: Path) -> None:
        super().__init__()
        self.run_path = Path(run_path)
        self.run: LoadedRun | None = None
        self.data: StatsData | None = None
        self.aspect = ""
        self.cross_k = ""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("computing statistics…", id="stats-info", classes="info")
        with TabbedContent(id="stats-tabs"):
            with TabPane("Summary", id="summary"), VerticalScroll():
                yield Static("", id="stats-validity")
                yield Static("", id="stats-summary")
                yield Static("", id="stats-expected")
                yield Static("", id="stats-notes")
                yield Static("", id="stats-between")
            with TabPane("By k", id="byk"), VerticalScroll():
                yield Chart(id="chart-byk", classes="chart")
                yield Static("", id="stats-byk")
            with TabPane("Cross", id="cross"), VerticalScroll():
                yield Static("", id="stats-cross")
            for key, title in TABS[3:]:
                with TabPane(title, id=key), VerticalScroll():
                    yield Chart(id=f"chart-{key}", classes="chart")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = f"{self.run_path.name} · statistics"
        self.load()

    @work(thread=True, exclusive=True, group="stats", exit_on_error=False)
    def load(self) -> None:
        from vlmrate.runfolder.store import load_run
        from vlmrate.tui.data import load_stats

        try:
            run = load_run(self.run_path)
            data = load_stats(run)
        except Exception as exc:
            self.app.call_from_thread(self._failed, exc)
            return
        self.app.call_from_thread(self._loaded, run, data)

    def _failed(self, error: BaseException) -> None:
        self.query_one("#stats-info", Static).update(
            Text(f"cannot compute the statistics: {error}"))
        self.vapp.report_error(error, "stats")

    def _loaded(self, run: LoadedRun, data: StatsData) -> None:
        self.run, self.data = run, data
        self.aspect = data.aspects[0] if data.aspects else ""
        ks = list((data.stats.get("cross_by_k") or {}).keys())
        self.cross_k = ks[-1] if ks else ""
        from vlmrate.stats.layout import study_fields

        self.query_one("#stats-summary", Static).update(RenderedOnce(
            summary_table(data.study.aspects, data.aspects,
                          study_fields(data.study.bound, data.study.alpha))))
        self.query_one("#stats-between", Static).update(RenderedOnce(between_table(data.stats)))
        self.show_aspect()
        self.focus_pane()

    @on(TabbedContent.TabActivated, "#stats-tabs")
    def focus_pane(self) -> None:
        """The arrows and PgUp/PgDn scroll the tab shown, without pressing tab first."""
        tabs = self.query_one("#stats-tabs", TabbedContent)
        pane = tabs.get_pane(tabs.active) if tabs.active else None
        scrolls = list(pane.query(VerticalScroll)) if pane is not None else []
        if scrolls:
            scrolls[0].focus()
        else:
            self.set_focus(None)

    def show_aspect(self) -> None:
        from vlmrate.stats.layout import value_at

        data, aspect = self.data, self.aspect
        if data is None or self.run is None:
            return
        stats = data.stats
        bound, alpha = stats.get("bound"), stats.get("alpha")
        note = partial_note(self.run)
        n_images = data.stats.get("n_images", "?")
        info = Text.assemble((f"{note} (r recomputes) · " if note else "", "bold yellow"),
                             (f"{n_images} image{'' if n_images == 1 else 's'}", "bold"),
                             f" · aspect {aspect} (a switches) · TOST bound ±{fmt(bound)}"
                             f" · alpha {fmt(alpha)}")
        self.query_one("#stats-info", Static).update(info)
        from vlmrate.stats.layout import study_fields

        study = study_fields(bound, alpha)
        per = data.study.aspects.get(aspect)
        self.query_one("#stats-expected", Static).update(
            RenderedOnce(expected_table(per, aspect, study)))
        self.query_one("#stats-notes", Static).update(notes_text(per, aspect))
        from vlmrate.stats.validity import validity_sentence

        self.query_one("#stats-validity", Static).update(
            Text(validity_sentence(aspect, per, study["level"]), style="italic"))
        rows = value_at(stats, ("aspects", aspect, "errors_by_k")) or []
        self.query_one("#stats-byk", Static).update(RenderedOnce(by_k_table(rows, study["level"])))
        self.query_one("#stats-cross", Static).update(
            RenderedOnce(cross_table(stats, data.aspects, self.cross_k)))
        table = data.table
        charts.errors_by_k(self.query_one("#chart-byk", Chart), rows,
                           f"{aspect}: MAE and r vs k (first k repeats)")
        charts.histogram(self.query_one("#chart-sd", Chart),
                         column_values(table, f"{aspect}_sd"),
                         f"{aspect}: SD of the repeats per image", "SD")
        charts.histogram(self.query_one("#chart-d", Chart), column_values(table, f"{aspect}_d"),
                         f"{aspect}: d = model mean − human mean per image", "d",
                         zero_line=True)
        human, model = paired_values(table, f"{aspect}_human", f"{aspect}_mean")
        agreement = value_at(stats, ("aspects", aspect, "agreement")) or {}
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

    def action_reload(self) -> None:
        """Read the run and compute again (a run still going on has more answers now)."""
        self.query_one("#stats-info", Static).update("computing statistics…")
        self.load()

    def action_export(self) -> None:
        if self.run is None:
            return
        self.notify("writing the workbook…", title="export", timeout=2)
        self.vapp.export_run(self.run)

    def action_figures(self) -> None:
        """The publication figures, the HTML report and the workbook with a Figures
        sheet, in the run folder."""
        if self.run is None:
            return
        if self.vapp.writing_figures:
            self.notify("the figures are being written already", title="figures", timeout=3)
            return
        self.vapp.writing_figures = True
        self.notify("writing the figures, the report and the workbook…", title="figures",
                    timeout=3)
        self.vapp.write_figures(self.run)

    def action_back(self) -> None:
        self.app.pop_screen()
