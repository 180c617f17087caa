"""Results: one row per image — per aspect the model mean, SD, human mean and d.

The rows come from vlmrate.stats.per_image; this screen only sorts and filters them (the
filter line is vlmrate.tui.filter_expr), as Polars frames shown by a FrameTable (which
draws only the rows on screen, so a sort of a 20,000-image run takes milliseconds). The
image column stays when the others scroll sideways. The order shown is the order Case
walks with n/p. Sort, filter, aspect and cursor are saved in the run's review.json.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Header, Input, Static

from vlmrate.stats.run_summary import parse_note, partial_note
from vlmrate.tui.data import RunData, fmt
from vlmrate.tui.filter_expr import LANGUAGE as FILTER_LANGUAGE
from vlmrate.tui.screens.base import AppScreen
from vlmrate.tui.widgets.frame_table import Column, FrameTable
from vlmrate.tui.widgets.key_footer import KeyFooter

if TYPE_CHECKING:
    import polars as pl

    from vlmrate.tui.screens.case import CaseScreen

ALL = "all aspects"
FIELDS_ALL = (("mean", "m"), ("sd", "sd"), ("human", "h"), ("d", "d"))
FIELDS_ONE = (("mean", "mean"), ("sd", "SD"), ("n", "n"), ("human", "human"), ("d", "d"))
RANK = "_rank"  # position of the image id in id order: a cheap tie-breaker for sorts


def abbreviate(aspect: str) -> str:
    return aspect[:3]


def mark_column(aspect: str) -> str:
    """⚑ flagged (any category), ✎ has a note: for one aspect."""
    return f"_mark_{aspect}"


def abs_d_column(aspect: str) -> str:
    return f"{aspect}_absd"


def visible_columns(aspects: list[str], focus: str) -> list[tuple[str, str]]:
    """(frame column, label) pairs for the aspect focus ("all aspects" or one): the image
    id, then per aspect its fields and its flag/note marker."""
    cols: list[tuple[str, str]] = [("image_id", "image")]
    if focus == ALL:
        for aspect in aspects:
            cols += [(f"{aspect}_{f}", f"{abbreviate(aspect)} {label}")
                     for f, label in FIELDS_ALL]
            cols.append((mark_column(aspect), ""))
    else:
        cols += [(f"{focus}_{f}", label) for f, label in FIELDS_ONE]
        cols.append((mark_column(focus), ""))
    return cols


def aspect_of_column(column: str | None, aspects: list[str]) -> str | None:
    """The aspect a frame column belongs to (None: the image id or unknown)."""
    if column is None:
        return None
    for aspect in sorted(aspects, key=len, reverse=True):
        if column.startswith(f"{aspect}_") or column == mark_column(aspect):
            return aspect
    return None


def table_frame(data: RunData) -> pl.DataFrame:
    """per_image() with NaN as missing, |d|, and per aspect the text the filter searches
    and the failures (a worker runs this: it touches every image once)."""
    import polars as pl

    from vlmrate.stats.frames import failures_per_image
    from vlmrate.tui.data import aspect_texts
    from vlmrate.tui.filter_expr import failures_column

    table = data.table.sort("image_id")
    ids = table.get_column("image_id").to_list()
    floats = [name for name, dtype in table.schema.items() if dtype.is_float()]
    table = table.with_columns(*[pl.col(name).fill_nan(None) for name in floats])
    failures = failures_per_image(data.run.ratings)
    columns = []
    for aspect in data.aspects:
        mine = failures.filter(pl.col("aspect") == aspect)
        counts = dict(zip(mine.get_column("image_id").to_list(),
                          mine.get_column("failures").to_list(), strict=True))
        columns.append(pl.Series(failures_column(aspect), [counts.get(i, 0) for i in ids],
                                 dtype=pl.Int64))
        if f"{aspect}_d" in table.columns:
            columns.append(pl.col(f"{aspect}_d").abs().alias(abs_d_column(aspect)))
    texts = aspect_texts(data.run.ratings, ids, data.aspects)
    return table.with_columns(*columns, pl.int_range(table.height, dtype=pl.Int64).alias(RANK)
                              ).join(texts, on="image_id", how="left", maintain_order="left")


def with_review(frame: pl.DataFrame, data: RunData) -> pl.DataFrame:
    """The frame with each aspect's flag category, note and marker as the review is now."""
    import polars as pl

    from vlmrate.tui.filter_expr import category_column, note_column, note_text_column

    ids = frame.get_column("image_id").to_list()
    columns = []
    for aspect in data.aspects:
        categories = [data.category(i, aspect) for i in ids]
        texts = [str(data.entry(i, aspect).get("note", "") or "").strip() for i in ids]
        notes = [bool(t) for t in texts]
        marks = [("⚑" if c else "") + ("✎" if n else "")
                 for c, n in zip(categories, notes, strict=True)]
        columns += [pl.Series(category_column(aspect), categories, dtype=pl.String),
                    pl.Series(note_column(aspect), notes, dtype=pl.Boolean),
                    pl.Series(note_text_column(aspect), [t.lower() for t in texts],
                              dtype=pl.String),
                    pl.Series(mark_column(aspect), marks, dtype=pl.String)]
    return frame.with_columns(columns)


def sort_frame(frame: pl.DataFrame, column: str | None, descending: bool) -> pl.DataFrame:
    """Rows ordered by one column; missing values always last (by image id); ties by
    image id, in the same direction as the column. `frame` is a table_frame (its RANK
    column orders the image ids)."""
    import polars as pl

    rank = pl.col(RANK)
    if column is None or column == "image_id" or column not in frame.columns:
        return frame.sort(rank, descending=descending)
    value = pl.col(column)
    if frame.schema[column] == pl.String:
        value = pl.when(value == "").then(None).otherwise(value)  # no marker: last
    # sorted descending, -rank puts the missing ones in ascending id order
    tie = pl.when(value.is_null()).then(-rank).otherwise(rank) if descending else rank
    return frame.sort(value, tie, descending=descending, nulls_last=True)


def _marker(value: Any) -> Text:
    return Text(value or "", style="bold red")


def table_columns(columns: list[tuple[str, str]], sort_column: str | None,
                  descending: bool) -> list[Column]:
    """The FrameTable columns for each (key, label), the sort arrow on the sorted one."""
    out = []
    for key, label in columns:
        arrow = (" ▼" if descending else " ▲") if key == sort_column else ""
        if key == "image_id":
            out.append(Column(key, label + arrow))
        elif key.startswith("_mark_"):
            out.append(Column(key, label + arrow, width=2, format=_marker))
        elif key.endswith("_d"):
            out.append(Column(key, label + arrow, "right", format=_signed))
        else:
            out.append(Column(key, label + arrow, "right", format=fmt))
    return out


def sort_label(column: str | None, labels: dict[str, str], aspects: list[str]) -> str:
    """How the info line names a sort column."""
    if column is None or column == "image_id":
        return "image"
    aspect = aspect_of_column(column, aspects) or ""
    if column == abs_d_column(aspect):
        return f"|d| {aspect}"
    if column == mark_column(aspect):
        return f"flag {aspect}"
    label = labels.get(column, column)
    return label if aspect[:3] in label else f"{label} {aspect}"


class ResultsTable(FrameTable):
    """The Results FrameTable: enter (its own key, so that it comes after the arrows typed
    before it) opens the case, and the footer says so."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Case", id="results.case"),
    ]


class ResultsScreen(AppScreen):
    """Per-image table; s sorts by the column under the cursor, d by |d|, / filters,
    a switches the aspect, enter opens the case. The view is kept in review.json."""

    HELP_EXTRA = ("The filter line (/)", FILTER_LANGUAGE)  # shown by the help, F1 or ?
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open_case", "Case", id="results.open_case", show=False),
        Binding("s", "sort_column", "Sort", id="results.sort"),
        Binding("d", "sort_abs_d", "|d|", id="results.sort_abs_d"),
        Binding("slash", "filter", "Filter", id="results.filter"),
        Binding("a", "aspect", "Aspect", id="results.aspect"),
        Binding("t", "stats", "Stats", id="results.stats", show=False),  # footer fits 80
        Binding("S", "sort_reverse", "Reverse the order", id="results.reverse", show=False),
        Binding("r", "reload", "Reload", id="results.reload", show=False),
        Binding("x", "export", "Export workbook", id="results.export", show=False),
        Binding("escape,q", "back", "Back", id="results.back"),  # q too, as in Runs
    ]

    def __init__(self, run_path: Path) -> None:
        super().__init__()
        self.run_path = Path(run_path)
        self.data: RunData | None = None
        self.focus_aspect = ALL
        self.sort_column: str | None = None
        self.descending = False
        self.filter_text = ""  # the filter in force: exactly what enter applied
        self._preview: str | None = None  # what is being typed, while it parses
        self._parse_note = ""  # run_summary.parse_note of the data
        self.frame: pl.DataFrame | None = None  # table_frame() of the data
        self.order: list[str] = []  # image ids as shown
        self._case: CaseScreen | None = None  # the Case opened from here, while it is open
        self._cursor_id: str | None = None  # the row under the cursor (kept for remember)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("loading…", id="results-info", classes="info")
        yield ResultsTable(id="results-table", key_column="image_id", zebra_stripes=True,
                           fixed_columns=1)
        with Vertical(id="results-filter-box", classes="hidden"):
            yield Input(placeholder="filter: d > 2 or |d| >= 1.5 · flag = \"model wrong\" · "
                        "note ~ text · (A or B) and not C · F1 lists all",
                        id="results-filter", compact=True)
            yield Static("", id="results-filter-error")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = self.run_path.name
        self.load()

    def on_screen_resume(self) -> None:
        if self.data is not None and self.frame is not None:
            # back from Case: flags may have changed; the cursor follows the case shown last
            self.frame = with_review(self.frame, self.data)
            self.show(select=self._case.image_id if self._case else self.current_id())
            self._case = None

    def on_screen_suspend(self) -> None:
        self.remember()

    def on_unmount(self) -> None:
        self.remember()

    @work(thread=True, exclusive=True, group="results", exit_on_error=False)
    def load(self) -> None:
        from vlmrate.tui.data import load_run_data

        try:
            data = load_run_data(self.run_path)
            frame = with_review(table_frame(data), data)
        except Exception as exc:
            self.app.call_from_thread(self._failed, exc)
            return
        self.app.call_from_thread(self._loaded, data, frame)

    def _failed(self, error: BaseException) -> None:
        self.query_one("#results-info", Static).update(Text(f"cannot load this run: {error}"))
        self.vapp.report_error(error, "results")

    def _loaded(self, data: RunData, frame: pl.DataFrame) -> None:
        reload = self.data is not None
        select = self.current_id() if reload else data.view.get("cursor")
        skipped = [p for p in data.run.problems if p not in data.review_problems]
        if not reload and skipped:  # what the readers set aside, once
            self.notify("; ".join(skipped), title="parts of this run were skipped",
                        severity="warning", timeout=10)
        self.data, self.frame = data, frame
        self._parse_note = parse_note(data.run)
        if not reload:
            self._restore(data.view)
        for problem in data.review_problems:
            self.notify(problem, title="review.json", severity="warning", timeout=8)
        self.sub_title = f"{data.run.name} · {data.run.status}"
        table = self.query_one("#results-table", FrameTable)
        table.set_data(frame, [])  # a new data set: the widths are measured on it
        self.show(select=select)
        table.focus()
        self.refresh_bindings()  # keys that needed the data are enabled now

    def _restore(self, view: dict[str, Any]) -> None:
        """The sort, filter and aspect saved in review.json (what still fits this run)."""
        from vlmrate.tui.filter_expr import FilterError, parse_filter

        assert self.data is not None and self.frame is not None
        if view.get("aspect") in self.data.aspects:
            self.focus_aspect = view["aspect"]
        if view.get("sort") in self.frame.columns:
            self.sort_column = view["sort"]
            self.descending = bool(view.get("descending"))
        text = view.get("filter") or ""
        try:
            parse_filter(text, self.data.aspects)
        except FilterError:
            text = ""
        self.filter_text = text
        self.query_one("#results-filter", Input).value = text

    def remember(self) -> None:
        """Save sort, filter, aspect and cursor in the run's review.json."""
        if self.data is None:
            return
        from vlmrate.runfolder.review import save_view

        view = {"aspect": self.focus_aspect if self.focus_aspect != ALL else "",
                "sort": self.sort_column or "", "descending": self.descending,
                "filter": self.filter_text, "cursor": self._cursor_id or ""}
        try:
            save_view(self.data.run.path, view)
        except OSError as exc:
            self.vapp.report_error(exc, "review.json")

    # --- table ------------------------------------------------------------------------

    def columns(self) -> list[tuple[str, str]]:
        return visible_columns(self.data.aspects if self.data else [], self.focus_aspect)

    def filtered(self) -> pl.DataFrame:
        """The frame with the review columns, filtered by the filter in force."""
        from vlmrate.tui.filter_expr import apply_filter

        assert self.data is not None and self.frame is not None
        aspect = None if self.focus_aspect == ALL else self.focus_aspect
        return apply_filter(self.frame, self.shown_filter, self.data.aspects, aspect)

    @property
    def shown_filter(self) -> str:
        """The filter the rows show: the line being typed while it parses, else the one
        in force."""
        return self.filter_text if self._preview is None else self._preview

    def show(self, select: str | None = None) -> None:
        """Show the rows in the current order; the cursor goes to `select` if shown, else
        to the top."""
        data = self.data
        if data is None or self.frame is None:
            return
        table = self.query_one("#results-table", FrameTable)
        view = sort_frame(self.filtered(), self.sort_column, self.descending)
        table.set_view(view, table_columns(self.columns(), self.sort_column, self.descending))
        self.order = view.get_column("image_id").to_list()
        index = table.index_of(select) if select is not None else None
        table.move_cursor(index or 0)
        self._cursor_id = table.cursor_key
        self._show_group()
        self._set_info(self._info_line(data.table.height))

    def _show_group(self) -> None:
        """Scroll sideways so that the aspect under the column cursor is whole in view."""
        table = self.query_one("#results-table", FrameTable)
        keys = [c.key for c in table.columns]
        aspect = aspect_of_column(table.cursor_column_key, self.data.aspects if self.data
                                  else [])
        if aspect is None:
            return
        mine = [i for i, k in enumerate(keys) if aspect_of_column(k, [aspect]) == aspect]
        table.show_columns(mine[0], mine[-1])
        table.show_columns(table.cursor_column, table.cursor_column)

    @on(FrameTable.RowHighlighted, "#results-table")
    def _row_moved(self, event: FrameTable.RowHighlighted) -> None:
        self._cursor_id = event.row_key

    @on(FrameTable.ColumnHighlighted, "#results-table")
    def _column_moved(self) -> None:
        self._show_group()

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
        if self._parse_note:  # most answers unparsed: the likely fix, first
            text.append(f"⚠ {self._parse_note}\n", style="bold yellow")
        note = partial_note(self.data.run) if self.data is not None else ""
        if note:
            text.append(f"{note} (r reloads) · ", style="bold yellow")
        text.append(f"{len(self.order)}", style="bold")
        noun = "image" if n_all == 1 else "images"
        text.append(f" of {n_all} {noun}" if len(self.order) != n_all else f" {noun}")
        text.append(f" · {self.focus_aspect}")
        if self.sort_column:
            label = sort_label(self.sort_column, dict(self.columns()),
                               self.data.aspects if self.data else [])
            text.append(f" · by {label} {'↓' if self.descending else '↑'}")
        if self.shown_filter:
            text.append(f" · “{self.shown_filter}”", style="bold")
            if self._preview is not None and self._preview != self.filter_text:
                text.append(" (enter applies)", style="dim")
        if self.focus_aspect == ALL and not self.shown_filter:
            text.append(" · m model, h human, d = m − h", style="dim")
        return text

    def current_id(self) -> str | None:
        return self.query_one("#results-table", FrameTable).cursor_key

    def current_aspect(self) -> str:
        """The aspect shown, or in the all-aspects view the one under the column cursor."""
        assert self.data is not None
        if self.focus_aspect != ALL:
            return self.focus_aspect
        table = self.query_one("#results-table", FrameTable)
        return aspect_of_column(table.cursor_column_key, self.data.aspects) or \
            self.data.aspects[0]

    # --- actions ----------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("open_case", "sort_column", "sort_abs_d", "sort_reverse", "filter",
                      "aspect"):
            return True if self.data is not None else None
        return True

    def action_open_case(self) -> None:
        if self.focused is self.query_one("#results-filter", Input):
            self._filter_submitted()
            return
        table = self.query_one("#results-table", FrameTable)
        if self.data is None or table.cursor_key is None:
            return
        self.remember()
        self._case = self.vapp.open_case(self.data, self.order, table.cursor_row,
                                         self.current_aspect())

    @on(FrameTable.RowSelected, "#results-table")
    def _row_selected(self) -> None:
        self.action_open_case()

    @on(FrameTable.HeaderSelected, "#results-table")
    def _header_selected(self, event: FrameTable.HeaderSelected) -> None:
        self.sort_by(event.column_key)

    def sort_by(self, column: str) -> None:
        """Sort by a column; the same column again reverses. Numbers start largest first,
        the image id in its order."""
        if column == self.sort_column or (column == "image_id" and self.sort_column is None):
            self.descending = not self.descending
            self.sort_column = column
        else:
            self.sort_column, self.descending = column, column != "image_id"
        self.show()  # a new order starts at its top
        self.remember()

    def action_sort_column(self) -> None:
        key = self.query_one("#results-table", FrameTable).cursor_column_key
        if key is not None:
            self.sort_by(key)

    def action_sort_abs_d(self) -> None:
        self.sort_by(abs_d_column(self.current_aspect()))

    def action_sort_reverse(self) -> None:
        self.descending = not self.descending
        self.show()
        self.remember()

    def action_aspect(self) -> None:
        if self.data is None:
            return
        focuses = [ALL, *self.data.aspects]
        self.focus_aspect = focuses[(focuses.index(self.focus_aspect) + 1) % len(focuses)]
        if self.sort_column and self.sort_column != "image_id" and self.focus_aspect != ALL:
            # keep sorting by the same measure when switching between aspects
            old = aspect_of_column(self.sort_column, self.data.aspects)
            if old is not None:
                candidate = self.focus_aspect + self.sort_column[len(old):]
                if self.sort_column.startswith("_mark_"):
                    candidate = mark_column(self.focus_aspect)
                self.sort_column = candidate if candidate in self.frame.columns else None
        self.show(select=self.current_id())
        self.remember()

    def action_filter(self) -> None:
        box = self.query_one("#results-filter-box")
        box.remove_class("hidden")
        self.query_one("#results-filter", Input).focus()

    @on(Input.Changed, "#results-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        from vlmrate.tui.filter_expr import FilterError, parse_filter

        error = self.query_one("#results-filter-error", Static)
        if self.data is None:
            return
        try:
            parse_filter(event.value, self.data.aspects)
        except FilterError as exc:
            error.update(Text(f"✗ {exc}", style="bold red"))
            return
        error.update("")
        if event.value != self.shown_filter:
            self._preview = event.value
            self.show(select=self.current_id())

    @on(Input.Submitted, "#results-filter")
    def _filter_submitted(self) -> None:
        """Enter: the line as typed becomes the filter; a line that does not parse
        stays open with its error (nothing else is applied)."""
        from vlmrate.tui.filter_expr import FilterError, parse_filter

        line = self.query_one("#results-filter", Input)
        error = self.query_one("#results-filter-error", Static)
        if self.data is not None:
            try:
                parse_filter(line.value, self.data.aspects)
            except FilterError as exc:
                error.update(Text(f"✗ {exc} (enter again when it is fixed; escape "
                                  "clears the filter)", style="bold red"))
                self.app.bell()
                return
            self.filter_text = line.value
        self._close_filter()

    def _close_filter(self) -> None:
        self._preview = None
        self.query_one("#results-filter-box").add_class("hidden")
        self.query_one("#results-filter", Input).value = self.filter_text
        self.query_one("#results-filter-error", Static).update("")
        self.query_one("#results-table", FrameTable).focus()
        self.show(select=self.current_id())
        self.remember()

    def action_back(self) -> None:
        box = self.query_one("#results-filter-box")
        if not box.has_class("hidden") or self.filter_text:  # first clear the filter
            self.filter_text = ""
            self._close_filter()
            return
        self.remember()
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
