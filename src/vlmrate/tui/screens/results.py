"""Results: one row per image — per aspect the model mean, SD, human mean and d.

The rows come from vlmrate.stats.per_image; this screen only sorts and filters them.
The order shown is the order Case walks with n/p.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from vlmrate.tui.data import RunData, fmt

if TYPE_CHECKING:
    from vlmrate.tui.app import VlmrateApp

ALL = "all aspects"
FIELDS_ALL = (("mean", "m"), ("sd", "sd"), ("human", "h"), ("d", "d"))
FIELDS_ONE = (("mean", "mean"), ("sd", "SD"), ("n", "n"), ("human", "human"), ("d", "d"))


def abbreviate(aspect: str) -> str:
    return aspect[:3]


def visible_columns(aspects: list[str], focus: str) -> list[tuple[str, str]]:
    """(per_image column, label) pairs for the aspect focus ("all aspects" or one)."""
    cols: list[tuple[str, str]] = [("image_id", "image")]
    if focus == ALL:
        for aspect in aspects:
            cols += [(f"{aspect}_{f}", f"{abbreviate(aspect)} {label}")
                     for f, label in FIELDS_ALL]
    else:
        cols += [(f"{focus}_{f}", label) for f, label in FIELDS_ONE]
    return cols


def sort_ids(rows: dict[str, dict[str, Any]], ids: list[str], column: str | None,
             descending: bool) -> list[str]:
    """ids ordered by one column; missing values always last; ties by image id."""
    if column is None:
        return sorted(ids, reverse=descending)

    def value(image_id: str) -> float | str | None:
        v = rows[image_id].get(column)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return None
        return v

    present = [i for i in ids if value(i) is not None]
    missing = [i for i in ids if value(i) is None]
    present.sort(key=lambda i: (value(i), i), reverse=descending)  # type: ignore[arg-type,return-value]
    return present + sorted(missing)


class ResultsScreen(Screen[None]):
    """Per-image table; s/S sort, / filter, a aspect focus, enter opens the case."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open_case", "Case", id="results.case", priority=True),
        Binding("s", "sort_next", "Sort", id="results.sort"),
        Binding("S", "sort_reverse", "Reverse", id="results.reverse"),
        Binding("slash", "filter", "Filter", id="results.filter"),
        Binding("a", "aspect", "Aspect", id="results.aspect"),
        Binding("t", "stats", "Stats", id="results.stats"),
        Binding("r", "reload", "Reload", id="results.reload", show=False),
        Binding("x", "export", "Export", id="results.export"),
        Binding("escape", "back", "Back", id="results.back"),
    ]

    def __init__(self, run_path: Path) -> None:
        super().__init__()
        self.run_path = Path(run_path)
        self.data: RunData | None = None
        self.focus_aspect = ALL
        self.sort_column: str | None = None
        self.descending = False
        self.filter_text = ""
        self.order: list[str] = []
        self._case: Any = None  # the CaseScreen opened from here, while it is open

    @property
    def vapp(self) -> VlmrateApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("loading…", id="results-info", classes="info")
        yield DataTable(id="results-table", cursor_type="row", zebra_stripes=True)
        yield Input(placeholder="filter: part of an image id or of a reason (esc clears)",
                    id="results-filter", classes="hidden", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.run_path.name
        self.load()

    def on_screen_resume(self) -> None:
        if self.data is not None:
            # back from Case: flags may have changed; the cursor follows the case shown last
            self.show(select=self._case.image_id if self._case else self.current_id())
            self._case = None

    @work(thread=True, exclusive=True, group="results", exit_on_error=False)
    def load(self) -> None:
        from vlmrate.tui.data import load_run_data

        try:
            data = load_run_data(self.run_path)
        except Exception as exc:
            self.app.call_from_thread(self._failed, exc)
            return
        self.app.call_from_thread(self._loaded, data)

    def _failed(self, error: BaseException) -> None:
        self.query_one("#results-info", Static).update(f"cannot load this run: {error}")
        self.vapp.report_error(error, "results")

    def _loaded(self, data: RunData) -> None:
        self.data = data
        self.sub_title = f"{data.run.name} · {data.run.status}"
        self.show()
        self.query_one("#results-table", DataTable).focus()
        self.refresh_bindings()  # keys that needed the data are enabled now

    # --- table ------------------------------------------------------------------------

    def columns(self) -> list[tuple[str, str]]:
        return visible_columns(self.data.aspects if self.data else [], self.focus_aspect)

    def filtered_ids(self) -> list[str]:
        assert self.data is not None
        ids = list(self.data.rows)
        needle = self.filter_text.strip().lower()
        if needle:
            ids = [i for i in ids if needle in self.data.search_text.get(i, i.lower())]
        return ids

    def show(self, select: str | None = None) -> None:
        """Rebuild the table; the cursor goes to `select` if shown, else to the top."""
        data = self.data
        if data is None:
            return
        table = self.query_one("#results-table", DataTable)
        info = self.query_one("#results-info", Static)
        if data.table is None:
            table.clear(columns=True)
            info.update(f"{data.unavailable}\n{len(data.answers)} images rated; "
                        "the per-image table needs vlmrate.stats.per_image")
            self.order = sorted(data.answers)
            return
        self.order = sort_ids(data.rows, self.filtered_ids(), self.sort_column, self.descending)
        columns = self.columns()
        table.clear(columns=True)
        table.add_column("", key="flag", width=2)
        for key, label in columns:
            arrow = ""
            if key == self.sort_column:
                arrow = " ▼" if self.descending else " ▲"
            table.add_column(label + arrow, key=key)
        for image_id in self.order:
            row = data.rows[image_id]
            flag = "⚑" if data.flagged(image_id) else ("✎" if data.has_note(image_id) else "")
            cells: list[Any] = [Text(flag, style="bold red")]
            for key, _ in columns:
                value = row.get(key)
                if key == "image_id":
                    cells.append(image_id)
                elif key.endswith("_d"):
                    cells.append(_signed(value))
                else:
                    cells.append(Text(fmt(value), justify="right"))
            table.add_row(*cells, key=image_id)
        if select in self.order:
            table.move_cursor(row=self.order.index(select), scroll=True)
        info.update(self._info_line(len(data.rows)))

    def _info_line(self, n_all: int) -> Text:
        text = Text()
        text.append(f"{len(self.order)}", style="bold")
        text.append(f" of {n_all} images" if len(self.order) != n_all else " images")
        text.append(f" · {self.focus_aspect}")
        if self.sort_column:
            label = dict(self.columns()).get(self.sort_column, self.sort_column)
            text.append(f" · sorted by {label} {'↓' if self.descending else '↑'}")
        if self.filter_text:
            text.append(f" · filter “{self.filter_text}”")
        if self.focus_aspect == ALL and not self.filter_text:
            text.append(" · m model, h human, d = m − h", style="dim")
        return text

    def current_id(self) -> str | None:
        table = self.query_one("#results-table", DataTable)
        if not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:
            return None
        return str(key.value) if key.value is not None else None

    # --- actions ----------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("open_case", "sort_next", "sort_reverse", "filter", "aspect"):
            return True if self.data is not None and self.data.table is not None else None
        return True

    def action_open_case(self) -> None:
        if self.focused is self.query_one("#results-filter", Input):
            self.query_one("#results-table", DataTable).focus()
            return
        image_id = self.current_id()
        if self.data is None or image_id is None:
            return
        from vlmrate.tui.screens.case import CaseScreen

        self._case = CaseScreen(self.data, self.order, self.order.index(image_id),
                                self.case_aspect())
        self.app.push_screen(self._case)

    def case_aspect(self) -> str:
        assert self.data is not None
        return self.focus_aspect if self.focus_aspect != ALL else self.data.aspects[0]

    @on(DataTable.RowSelected, "#results-table")
    def _row_selected(self) -> None:
        self.action_open_case()

    @on(DataTable.HeaderSelected, "#results-table")
    def _header_selected(self, event: DataTable.HeaderSelected) -> None:
        key = str(event.column_key.value)
        if key == "flag":
            return
        if key == self.sort_column:
            self.descending = not self.descending
        else:
            self.sort_column, self.descending = key, False
        self.show()

    def action_sort_next(self) -> None:
        keys = [None, *[k for k, _ in self.columns()]]
        index = keys.index(self.sort_column) if self.sort_column in keys else 0
        self.sort_column = keys[(index + 1) % len(keys)]
        self.show()

    def action_sort_reverse(self) -> None:
        self.descending = not self.descending
        self.show()

    def action_aspect(self) -> None:
        if self.data is None:
            return
        focuses = [ALL, *self.data.aspects]
        self.focus_aspect = focuses[(focuses.index(self.focus_aspect) + 1) % len(focuses)]
        if self.sort_column and self.sort_column not in dict(self.columns()):
            # keep sorting by the same measure when switching between aspects
            field = self.sort_column.rsplit("_", 1)[-1]
            candidate = f"{self.focus_aspect}_{field}"
            self.sort_column = candidate if candidate in dict(self.columns()) else None
        self.show()

    def action_filter(self) -> None:
        box = self.query_one("#results-filter", Input)
        box.remove_class("hidden")
        box.focus()

    @on(Input.Changed, "#results-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self.show()

    @on(Input.Submitted, "#results-filter")
    def _filter_submitted(self) -> None:
        self.query_one("#results-table", DataTable).focus()

    def action_back(self) -> None:
        box = self.query_one("#results-filter", Input)
        if not box.has_class("hidden"):
            box.value = ""
            box.add_class("hidden")
            self.query_one("#results-table", DataTable).focus()
            return
        self.app.pop_screen()

    def action_reload(self) -> None:
        """Read the run again (a run that is still going on has more answers now)."""
        self.query_one("#results-info", Static).update("loading…")
        self.load()

    def action_stats(self) -> None:
        from vlmrate.tui.screens.stats import StatsScreen

        self.app.push_screen(StatsScreen(self.run_path))

    def action_export(self) -> None:
        if self.data is None:
            return
        self.notify("writing the workbook…", title="export", timeout=2)
        self.vapp.export_run(self.data.run)


def _signed(value: Any) -> Text:
    text = fmt(value)
    if text == "—":
        return Text(text, justify="right")
    number = float(value)
    style = "green" if number < -0.5 else ("red" if number > 0.5 else "")
    return Text(f"{number:+.2f}", style=style, justify="right")
