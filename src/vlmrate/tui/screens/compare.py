"""Compare: marked runs side by side on their common images, one aspect at a time.

Tabs: the runs table and the pairs table of the aspect (tables of
vlmrate.stats.compare_report, the best value per column marked), the MAE-by-k line of every
run on one plotext chart, and the images where the runs disagree most (Enter opens the
Case page of that image in each run, one after the other: Escape goes to the next run's).
Numbers come from vlmrate.stats.compare.compare (what `vlmrate compare` prints).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.console import Group
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Header, Static, TabbedContent, TabPane

from vlmrate.tui.data import fmt
from vlmrate.tui.screens.base import AppScreen
from vlmrate.tui.widgets import charts
from vlmrate.tui.widgets.charts import Chart
from vlmrate.tui.widgets.key_footer import KeyFooter

if TYPE_CHECKING:
    from vlmrate.stats.compare import Comparison

N_DISAGREE = 50


class CompareScreen(AppScreen):
    """Two or more runs side by side."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "aspect(1)", "Aspect", id="compare.aspect"),
        Binding("A", "aspect(-1)", "Prev aspect", id="compare.aspect_prev", show=False),
        Binding("1", "tab('cmp-tables')", "Tables", id="compare.tables"),
        Binding("2", "tab('cmp-byk')", "MAE by k", id="compare.byk"),
        Binding("3", "tab('cmp-disagree')", "Disagree", id="compare.disagree"),
        Binding("escape,q", "back", "Back", id="compare.back"),  # q too, as in Runs
    ]

    def __init__(self, run_paths: list[Path]) -> None:
        super().__init__()
        self.run_paths = [Path(p) for p in run_paths]
        self.result: Comparison | None = None
        self.aspect: str | None = None
        self.order: list[str] = []  # image ids of the disagreement table, in its order

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("comparing…", id="compare-info", classes="info")
        with TabbedContent(id="compare-tabs"):
            with TabPane("Tables", id="cmp-tables"), VerticalScroll():
                yield Static("", id="compare-facts")  # how the runs differ
                yield Static("", id="compare-runs")
                yield Static("", id="compare-pairs")
            with TabPane("MAE by k", id="cmp-byk"):
                yield Chart(id="compare-chart")
            with TabPane("Disagree", id="cmp-disagree"):
                yield DataTable(id="compare-disagree", cursor_type="row", zebra_stripes=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = " vs ".join(p.name for p in self.run_paths)
        self.load()

    @work(thread=True, exclusive=True, group="compare", exit_on_error=False)
    def load(self) -> None:
        from vlmrate.errors import UserError
        from vlmrate.stats.compare import compare
        from vlmrate.stats.compared_runs import load_compared

        try:
            runs = load_compared([str(p) for p in self.run_paths], self.vapp.runs_dir)
            try:
                result = compare(runs)
            except ValueError as exc:
                raise UserError(str(exc)) from None
        except Exception as exc:
            self.app.call_from_thread(self.failed, exc)
            return
        self.app.call_from_thread(self.show, result)

    def failed(self, exc: BaseException) -> None:
        self.query_one("#compare-info", Static).update(Text(f"cannot compare: {exc}"))
        self.vapp.report_error(exc, "compare")

    def show(self, result: Comparison) -> None:
        self.result = result
        if self.aspect not in result.aspects:
            self.aspect = next(iter(result.aspects))
        self.show_aspect()

    def show_aspect(self) -> None:
        from vlmrate.stats.compare import disagreements
        from vlmrate.stats.compare_report import (
            measures_table,
            pair_measures_table,
            run_facts_table,
        )

        result, aspect = self.result, self.aspect
        if result is None or aspect is None:
            return
        a = result.aspects[aspect]
        names = list(a.runs)
        self.query_one("#compare-info", Static).update(
            f"{aspect} · {a.n_common} common images · {len(names)} runs · a: next aspect")
        self.query_one("#compare-facts", Static).update(Group(run_facts_table(result), ""))
        self.query_one("#compare-runs", Static).update(measures_table(a, result.confidence))
        self.query_one("#compare-pairs", Static).update(
            Group("", pair_measures_table(a, result.confidence, result.alpha)))
        charts.mae_by_k_runs(self.query_one("#compare-chart", Chart),
                             {n: r.mae_by_k for n, r in a.runs.items()},
                             f"{aspect}: MAE of the mean of the first k repeats")
        table = self.query_one("#compare-disagree", DataTable)
        table.clear(columns=True)
        table.add_columns("image", "human", *names, "spread")
        top = disagreements(a, N_DISAGREE)
        self.order = top["image_id"].to_list()
        for row in top.iter_rows(named=True):
            table.add_row(row["image_id"], fmt(row["human"]),
                          *[fmt(row[f"{n}_mean"]) for n in names], fmt(row["spread"]),
                          key=row["image_id"])

    def action_aspect(self, step: int) -> None:
        if self.result is None or self.aspect is None:
            return
        aspects = list(self.result.aspects)
        self.aspect = aspects[(aspects.index(self.aspect) + step) % len(aspects)]
        self.show_aspect()

    def action_tab(self, tab: str) -> None:
        self.query_one("#compare-tabs", TabbedContent).active = tab
        if tab == "cmp-disagree":
            self.query_one("#compare-disagree", DataTable).focus()

    def action_back(self) -> None:
        self.app.pop_screen()

    @on(DataTable.RowSelected, "#compare-disagree")
    def _open_cases(self, event: DataTable.RowSelected) -> None:
        self.open_cases(event.cursor_row)

    def open_cases(self, index: int) -> None:
        """The Case page of the image at ``index`` in each run, the first run's on top."""
        if not self.order or self.aspect is None:
            return
        self.load_cases(index, self.aspect)

    @work(thread=True, exclusive=True, group="compare-cases", exit_on_error=False)
    def load_cases(self, index: int, aspect: str) -> None:
        from vlmrate.tui.data import load_run_data

        try:
            data = [load_run_data(p) for p in self.run_paths]
        except Exception as exc:
            self.app.call_from_thread(self.vapp.report_error, exc, "compare")
            return
        self.app.call_from_thread(self.push_cases, data, index, aspect)

    def push_cases(self, data: list[Any], index: int, aspect: str) -> None:
        for run_data in reversed(data):  # the first run's page ends on top
            self.vapp.open_case(run_data, self.order, index, aspect)
        if len(data) > 1:
            self.notify(f"{self.order[index]} in {len(data)} runs: escape shows the next run",
                        title="compare")
