"""Results: one row per image — per aspect the model mean, SD, human mean and d.

The rows come from vlmrate.stats.per_image; this screen only sorts and filters them, as
Polars frames shown by a FrameTable (which draws only the rows on screen, so a sort of a
20,000-image run takes milliseconds). The order shown is the order Case walks with n/p.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Footer, Header, Input, Static

from vlmrate.tui.data import RunData, fmt
from vlmrate.tui.screens.base import AppScreen
from vlmrate.tui.widgets.frame_table import Column, FrameTable

if TYPE_CHECKING:
    import polars as pl

    from vlmrate.tui.screens.case import CaseScreen

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


SEARCH = "_search"  # lower-case image id + every reason, for the filter
RANK = "_rank"  # position of the image id in id order: a cheap tie-breaker for sorts
FLAG = "flag"  # ⚑ flagged for an aspect, ✎ has a note


def table_frame(data: RunData) -> pl.DataFrame:
    """per_image() with NaN as missing and the search text of each image (a worker runs
    this: it touches every image once)."""
    import polars as pl

    table = data.table.sort("image_id")
    ids = table.get_column("image_id").to_list()
    floats = [name for name, dtype in table.schema.items() if dtype.is_float()]
    return table.with_columns(
        *[pl.col(name).fill_nan(None) for name in floats],
        pl.Series(SEARCH, [data.search_text.get(i, i.lower()) for i in ids], dtype=pl.String),
        pl.int_range(table.height, dtype=pl.Int64).alias(RANK),
    )


def with_flags(frame: pl.DataFrame, data: RunData) -> pl.DataFrame:
    """The frame with the flag column of the review as it is now."""
    import polars as pl

    flagged = [i for i in data.review if data.flagged(i)]
    noted = [i for i in data.review if data.has_note(i)]
    image = pl.col("image_id")
    return frame.with_columns(
        pl.when(image.is_in(flagged)).then(pl.lit("⚑"))
        .when(image.is_in(noted)).then(pl.lit("✎"))
        .otherwise(pl.lit("")).alias(FLAG))


def filter_frame(frame: pl.DataFrame, text: str) -> pl.DataFrame:
    """Images whose id or reasons contain the text (case-insensitive, literally)."""
    import polars as pl

    needle = text.strip().lower()
    if not needle:
        return frame
    return frame.filter(pl.col(SEARCH).str.contains(needle, literal=True))


def sort_frame(frame: pl.DataFrame, column: str | None, descending: bool) -> pl.DataFrame:
    """Rows ordered by one column; missing values always last (by image id); ties by
    image id, in the same direction as the column. `frame` is a table_frame (its RANK
    column orders the image ids)."""
    import polars as pl

    rank = pl.col(RANK)
    if column is None:
        return frame.sort(rank, descending=descending)
    value = pl.col(column)
    # sorted descending, -rank puts the missing ones in ascending id order
    tie = pl.when(value.is_null()).then(-rank).otherwise(rank) if descending else rank
    return frame.sort(value, tie, descending=descending, nulls_last=True)


def _marker(value: Any) -> Text:
    return Text(value or "", style="bold red")


def table_columns(columns: list[tuple[str, str]], sort_column: str | None,
                  descending: bool) -> list[Column]:
    """The FrameTable columns: the flag marker, then each (key, label), the sort arrow on
    the sorted one."""
    out = [Column(FLAG, "", width=2, format=_marker)]
    for key, label in columns:
        arrow = (" ▼" if descending else " ▲") if key == sort_column else ""
        if key == "image_id":
            out.append(Column(key, label + arrow))
        elif key.endswith("_d"):
            out.append(Column(key, label + arrow, "right", format=_signed))
        else:
            out.append(Column(key, label + arrow, "right", format=fmt))
    return out


class ResultsScreen(AppScreen):
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
        self.frame: pl.DataFrame | None = None  # table_frame() of the data
        self.order: list[str] = []  # image ids as shown
        self._case: CaseScreen | None = None  # the Case opened from here, while it is open

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("loading…", id="results-info", classes="info")
        yield FrameTable(id="results-table", key_column="image_id", zebra_stripes=True)
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
            frame = table_frame(data)
        except Exception as exc:
            self.app.call_from_thread(self._failed, exc)
            return
        self.app.call_from_thread(self._loaded, data, frame)

    def _failed(self, error: BaseException) -> None:
        self.query_one("#results-info", Static).update(f"cannot load this run: {error}")
        self.vapp.report_error(error, "results")

    def _loaded(self, data: RunData, frame: pl.DataFrame) -> None:
        select = self.current_id() if self.data is not None else None  # a reload
        if self.data is None and data.run.problems:  # what the readers set aside, once
            self.notify("; ".join(data.run.problems), title="parts of this run were skipped",
                        severity="warning", timeout=10)
        self.data, self.frame = data, frame
        self.sub_title = f"{data.run.name} · {data.run.status}"
        table = self.query_one("#results-table", FrameTable)
        table.set_data(frame, [])  # a new data set: the widths are measured on it
        self.show(select=select)
        table.focus()
        self.refresh_bindings()  # keys that needed the data are enabled now

    # --- table ------------------------------------------------------------------------

    def columns(self) -> list[tuple[str, str]]:
        return visible_columns(self.data.aspects if self.data else [], self.focus_aspect)

    def show(self, select: str | None = None) -> None:
        """Show the rows in the current order; the cursor goes to `select` if shown, else
        to the top."""
        data = self.data
        if data is None or self.frame is None:
            return
        table = self.query_one("#results-table", FrameTable)
        view = sort_frame(filter_frame(with_flags(self.frame, data), self.filter_text),
                          self.sort_column, self.descending)
        table.set_view(view, table_columns(self.columns(), self.sort_column, self.descending))
        self.order = view.get_column("image_id").to_list()
        index = table.index_of(select) if select is not None else None
        table.move_cursor(index or 0)
        self._set_info(self._info_line(data.table.height))

    def _set_info(self, text: Text) -> None:
        """Update the info line; a layout pass (the whole screen) only when its height may
        change, i.e. unless the old and the new line both fit on one line."""
        info = self.query_one("#results-info", Static)
        width = info.content_region.width
        old = info.content
        one_line = isinstance(old, Text) and max(old.cell_len, text.cell_len) <= width
        info.update(text, layout=not one_line)

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
        return self.query_one("#results-table", FrameTable).cursor_key

    # --- actions ----------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("open_case", "sort_next", "sort_reverse", "filter", "aspect"):
            return True if self.data is not None else None
        return True

    def action_open_case(self) -> None:
        if self.focused is self.query_one("#results-filter", Input):
            self.query_one("#results-table", FrameTable).focus()
            return
        table = self.query_one("#results-table", FrameTable)
        if self.data is None or table.cursor_key is None:
            return
        self._case = self.vapp.open_case(self.data, self.order, table.cursor_row,
                                         self.case_aspect())

    def case_aspect(self) -> str:
        assert self.data is not None
        return self.focus_aspect if self.focus_aspect != ALL else self.data.aspects[0]

    @on(FrameTable.RowSelected, "#results-table")
    def _row_selected(self) -> None:
        self.action_open_case()

    @on(FrameTable.HeaderSelected, "#results-table")
    def _header_selected(self, event: FrameTable.HeaderSelected) -> None:
        key = event.column_key
        if key == FLAG:
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
        self.query_one("#results-table", FrameTable).focus()

    def action_back(self) -> None:
        box = self.query_one("#results-filter", Input)
        if not box.has_class("hidden"):
            box.value = ""
            box.add_class("hidden")
            self.query_one("#results-table", FrameTable).focus()
            return
        self.app.pop_screen()

    def action_reload(self) -> None:
        """Read the run again (a run that is still going on has more answers now)."""
        self.query_one("#results-info", Static).update("loading…")
        self.load()

    def action_stats(self) -> None:
        self.vapp.open_stats(self.run_path)

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
