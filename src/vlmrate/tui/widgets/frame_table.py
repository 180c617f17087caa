"""FrameTable: a virtual table over a Polars frame that draws only the rows on screen.

Textual's DataTable keeps a Python object per cell and re-adds every row on each sort or
filter, which takes seconds at 20,000 rows. FrameTable is a Line API widget (a
ScrollView): ``render_line(y)`` formats the few rows in view straight from the frame, so
showing a new order is a Polars ``sort``/``filter`` plus ``set_view`` (milliseconds).

Data flow:

- ``set_data(frame, columns)``: a new data set. Column widths are measured on it once
  (vectorised: min/max of numbers, longest string) and kept for every later view.
- ``set_columns(columns)``: other columns or labels (a sort arrow, another aspect).
- ``set_view(view)``: rows of that data set in another order, or a subset (sorted,
  filtered); the cursor stays on the same row index, clamped.

Line 0 is the header (it does not scroll vertically); row ``r`` of the view is virtual line
``r + 1``. The first ``fixed_columns`` columns stay in place when the rest scroll
sideways. Besides the row cursor there is a column cursor (left/right; its header is
drawn reversed and its cell in the cursor row underlined), for "sort by this column".
Messages mirror DataTable's: RowHighlighted, RowSelected (with the row key, the value of
``key_column``), ColumnHighlighted and HeaderSelected (with the column key). The colours
are the component classes below, styled in the app's stylesheet.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

if TYPE_CHECKING:
    import polars as pl  # imported where a frame is measured: the app starts without it

Cell = str | Text
"""What a column's formatter returns. Of a Text only the plain text and its base style
are used (no spans): one style per cell keeps drawing cheap."""

CELL_PADDING = 1  # blank cells either side of each column's content, as DataTable draws


def _plain(value: Any) -> Cell:
    return "" if value is None else str(value)


@dataclass(frozen=True)
class Column:
    """One column: ``key`` names a column of the frame (a missing one shows blanks)."""

    key: str
    label: str
    justify: Literal["left", "right"] = "left"
    format: Callable[[Any], Cell] | None = None  # value -> cell; default str(), None -> ""
    width: int | None = None  # content width; None: measured on the data set, once
    selectable: bool = True  # the column cursor stops on it


def measure(frame: pl.DataFrame, column: Column) -> int:
    """The widest cell of a column over a whole frame, without formatting every value.

    Strings shown as they are: the longest one. Numbers: the widest of the formatted
    minimum, maximum, and missing value (fixed-point formats are widest at an end).
    Anything else is formatted in full (slow on big frames; give such a column a width).
    """
    import polars as pl

    if column.width is not None:
        return column.width
    if column.key not in frame.columns or frame.height == 0:
        return 0
    series = frame.get_column(column.key)
    fmt = column.format or _plain
    if series.dtype.is_numeric():
        candidates: list[Any] = [series.min(), series.max()]
        if series.null_count():
            candidates.append(None)
        if series.dtype.is_float() and series.is_nan().any():
            candidates.append(float("nan"))
    elif series.dtype == pl.String and column.format is None:
        longest = series.str.len_chars().max()
        return int(longest) if isinstance(longest, int) else 0
    else:
        candidates = series.unique().to_list()
    return max((cell_len(_text_of(fmt(v))[0]) for v in candidates), default=0)


def _text_of(cell: Cell) -> tuple[str, Style | None]:
    if isinstance(cell, Text):
        style = cell.style
        return cell.plain, (Style.parse(style) if isinstance(style, str) else style) or None
    return cell, None


class FrameTable(ScrollView, can_focus=True):
    """A row-cursor table over a Polars frame; only the visible rows are drawn."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Select", show=False),
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home,ctrl+home", "first", "First row", show=False),
        Binding("end,ctrl+end", "last", "Last row", show=False),
        Binding("left", "column(-1)", "Column left", show=False),
        Binding("right", "column(1)", "Column right", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "frame-table--header",
        "frame-table--cursor",
        "frame-table--even-row",
        "frame-table--odd-row",
    }

    class _RowMessage(Message):
        """A message about one row (its position in the view and its key)."""

        def __init__(self, table: FrameTable, cursor_row: int, row_key: str) -> None:
            self.table = table
            self.cursor_row = cursor_row
            self.row_key = row_key
            super().__init__()

        @property
        def control(self) -> FrameTable:
            return self.table

    class RowHighlighted(_RowMessage):
        """The cursor moved to another row (or the rows under it changed)."""

    class RowSelected(_RowMessage):
        """Enter on the cursor row, or a click on it."""

    class ColumnHighlighted(Message):
        """The column cursor moved to another column."""

        def __init__(self, table: FrameTable, column_key: str, column_index: int) -> None:
            self.table = table
            self.column_key = column_key
            self.column_index = column_index
            super().__init__()

        @property
        def control(self) -> FrameTable:
            return self.table

    class HeaderSelected(Message):
        """A click on a column's header."""

        def __init__(self, table: FrameTable, column_key: str, column_index: int,
                     label: str) -> None:
            self.table = table
            self.column_key = column_key
            self.column_index = column_index
            self.label = label
            super().__init__()

        @property
        def control(self) -> FrameTable:
            return self.table

    def __init__(self, *, key_column: str = "image_id", zebra_stripes: bool = True,
                 fixed_columns: int = 0, name: str | None = None, id: str | None = None,
                 classes: str | None = None, disabled: bool = False) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self.key_column = key_column
        self.zebra_stripes = zebra_stripes
        self.fixed_columns = fixed_columns
        self._cursor_column = 0
        self._data: pl.DataFrame | None = None  # the data set widths are measured on
        self._view: pl.DataFrame | None = None  # the rows shown, in order
        self._rows: pl.DataFrame | None = None  # the view's shown columns, in order
        self._columns: list[Column] = []
        self._widths: list[int] = []  # content width of each column
        self._measured: dict[tuple[Any, ...], int] = {}  # per data set, by _measure_key
        self._slots: list[int] = []  # each column's index in _rows, -1 if not in the frame
        self._offsets: list[int] = [0]  # x where each column starts, and the total
        self._cursor_row = 0
        self._version = 0  # bumped on every new view/columns: keys the line cache
        self._line_cache: LRUCache[tuple[Any, ...], Strip] = LRUCache(1024)

    # --- data -------------------------------------------------------------------------

    @property
    def columns(self) -> list[Column]:
        return list(self._columns)

    @property
    def view(self) -> pl.DataFrame | None:
        """The frame shown, in its order (None before set_data)."""
        return self._view

    @property
    def row_count(self) -> int:
        return 0 if self._view is None else self._view.height

    @property
    def cursor_row(self) -> int:
        return self._cursor_row

    @property
    def cursor_column(self) -> int:
        return self._cursor_column

    @property
    def cursor_column_key(self) -> str | None:
        """The key of the column under the column cursor (None without columns)."""
        if not self._columns:
            return None
        return self._columns[self._cursor_column].key

    @property
    def cursor_key(self) -> str | None:
        """The key of the row under the cursor (None when there are no rows)."""
        if not self.row_count:
            return None
        return self.row_key(self._cursor_row)

    def row_key(self, row: int) -> str:
        assert self._view is not None
        return str(self._view.get_column(self.key_column)[row])

    def keys(self) -> list[str]:
        """Every row key of the view, in order."""
        if self._view is None:
            return []
        return [str(k) for k in self._view.get_column(self.key_column).to_list()]

    def index_of(self, key: str) -> int | None:
        """The view row of a key, or None when it is not shown."""
        if self._view is None or not self._view.height:
            return None
        index = self._view.get_column(self.key_column).index_of(key)
        return None if index is None else int(index)

    def get_row(self, key: str) -> dict[str, Any]:
        """The values of the row with this key, by column of the frame."""
        index = self.index_of(key)
        if index is None or self._view is None:
            raise KeyError(key)
        return self._view.row(index, named=True)

    def visible_keys(self) -> list[str]:
        """The keys of the rows on screen now, top to bottom."""
        top = int(self.scroll_y)
        end = min(self.row_count, top + self._page_rows())
        return [self.row_key(r) for r in range(top, end)]

    def set_data(self, frame: pl.DataFrame, columns: Sequence[Column],
                 view: pl.DataFrame | None = None) -> None:
        """A new data set (widths are measured on `frame`), shown as `view` or as it is."""
        self._data = frame
        self._measured = {}
        self._view = view if view is not None else frame
        self.set_columns(columns)

    def set_columns(self, columns: Sequence[Column], *, update: bool = True) -> None:
        """Show these columns (widths of known keys are not measured again)."""
        self._columns = list(columns)
        widths = []
        for column in self._columns:
            key = (column.key, column.format, column.width)  # a new label keeps the width
            if key not in self._measured:
                self._measured[key] = (measure(self._data, column) if self._data is not None
                                       else column.width or 0)
            widths.append(max(self._measured[key], cell_len(column.label)))
        self._widths = widths
        self._offsets = [0, *accumulate(w + 2 * CELL_PADDING for w in widths)]
        self._cursor_column = max(0, min(self._cursor_column, len(self._columns) - 1))
        if update:
            self._changed()

    def set_view(self, view: pl.DataFrame, columns: Sequence[Column] | None = None) -> None:
        """Show these rows of the data set, in this order (and these columns, if given)."""
        self._view = view
        if columns is not None:
            self.set_columns(columns, update=False)
        self._changed()

    def clear(self) -> None:
        self._data = self._view = self._rows = None
        self._columns, self._widths, self._offsets, self._measured = [], [], [0], {}
        self._changed()

    def _changed(self) -> None:
        view = self._view
        if view is not None:
            present = list(dict.fromkeys(c.key for c in self._columns if c.key in view.columns))
            self._rows = view.select(present)
            self._slots = [present.index(c.key) if c.key in present else -1
                           for c in self._columns]
        else:
            self._rows, self._slots = None, []
        self._version += 1
        self._line_cache.clear()
        self.virtual_size = Size(self._offsets[-1], self.row_count + 1)
        self._cursor_row = max(0, min(self._cursor_row, self.row_count - 1))
        self.refresh()

    # --- cursor -----------------------------------------------------------------------

    def move_cursor(self, row: int, *, scroll: bool = True) -> None:
        """Put the cursor on a view row (clamped); RowHighlighted when it moved."""
        new = max(0, min(row, self.row_count - 1))
        old, self._cursor_row = self._cursor_row, new
        if scroll:
            self.scroll_to_cursor()
        if old != new:
            self.refresh()
            self.post_message(self.RowHighlighted(self, new, self.row_key(new)))

    def _page_rows(self) -> int:
        """Rows in view (the header takes a line)."""
        return max(1, self.scrollable_content_region.height - 1)

    def scroll_to_cursor(self) -> None:
        top, page, row = int(self.scroll_y), self._page_rows(), self._cursor_row
        if row < top:
            self.scroll_to(y=row, animate=False, force=True, immediate=True)
        elif row >= top + page:
            self.scroll_to(y=row - page + 1, animate=False, force=True, immediate=True)

    def on_resize(self) -> None:
        self.scroll_to_cursor()
        self.show_columns(self._cursor_column, self._cursor_column)

    @property
    def _fixed_width(self) -> int:
        return self._offsets[min(self.fixed_columns, len(self._columns))]

    def show_columns(self, first: int, last: int) -> None:
        """Scroll sideways so that columns first..last are in view (as many as fit, the
        last one first)."""
        if not self._columns:
            return
        first, last = max(first, self.fixed_columns), min(last, len(self._columns) - 1)
        if first > last:
            return
        fixed, width = self._fixed_width, self.scrollable_content_region.width
        x = int(self.scroll_x)
        start, end = self._offsets[first] - fixed, self._offsets[last + 1] - fixed
        room = max(1, width - fixed)
        if end > x + room:
            # the first column start that shows the end: no column cut at the left edge
            x = next((o - fixed for o in self._offsets[self.fixed_columns:]
                      if o - fixed >= end - room), end - room)
        if start < x:
            x = start
        if x != int(self.scroll_x):
            self.scroll_to(x=max(0, x), animate=False, force=True, immediate=True)

    def move_column(self, index: int) -> None:
        """Put the column cursor on a column (clamped); ColumnHighlighted when it moved."""
        if not self._columns:
            return
        new = max(0, min(index, len(self._columns) - 1))
        old, self._cursor_column = self._cursor_column, new
        self.show_columns(new, new)
        if old != new:
            self._line_cache.clear()
            self.refresh()
            self.post_message(self.ColumnHighlighted(self, self._columns[new].key, new))

    def action_column(self, step: int) -> None:
        index = self._cursor_column + step
        while 0 <= index < len(self._columns) and not self._columns[index].selectable:
            index += step
        if 0 <= index < len(self._columns):
            self.move_column(index)
        elif step > 0:  # past the last column: scroll on through a wide one
            self.scroll_right(animate=False, immediate=True)
        else:
            self.scroll_left(animate=False, immediate=True)

    def action_cursor_up(self) -> None:
        self.move_cursor(self._cursor_row - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self._cursor_row + 1)

    def action_page_down(self) -> None:
        page = self._page_rows()
        self.scroll_to(y=int(self.scroll_y) + page, animate=False, force=True, immediate=True)
        self.move_cursor(self._cursor_row + page)

    def action_page_up(self) -> None:
        page = self._page_rows()
        self.scroll_to(y=max(0, int(self.scroll_y) - page), animate=False, force=True,
                       immediate=True)
        self.move_cursor(self._cursor_row - page)

    def action_first(self) -> None:
        self.move_cursor(0)

    def action_last(self) -> None:
        self.move_cursor(self.row_count - 1)

    def action_select_cursor(self) -> None:
        if self.row_count:
            self.post_message(self.RowSelected(self, self._cursor_row,
                                               self.row_key(self._cursor_row)))

    async def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        event.stop()
        x = offset.x + int(self.scroll_x)
        fixed = self._fixed_width
        if offset.x < fixed:
            x = offset.x
        if offset.y == 0:
            for index, column in enumerate(self._columns):
                if self._offsets[index] <= x < self._offsets[index + 1]:
                    if column.selectable:
                        self.move_column(index)
                    self.post_message(self.HeaderSelected(self, column.key, index,
                                                          column.label))
                    break
            return
        row = int(self.scroll_y) + offset.y - 1
        if row >= self.row_count:
            return
        if row == self._cursor_row:
            self.action_select_cursor()
        else:
            self.move_cursor(row)

    # --- drawing ----------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        base = self.rich_style
        if y == 0:
            strip, fill = self._header_strip(base)
        else:
            row = scroll_y + y - 1
            if row >= self.row_count:
                return Strip.blank(width, base)
            strip, fill = self._row_strip(row, base)
        # past the last column the line keeps its header / stripe / cursor colour
        fixed = self._fixed_width
        if not fixed:
            return strip.crop_extend(scroll_x, scroll_x + width, fill)
        room = max(0, width - fixed)
        moving = strip.crop_extend(fixed + scroll_x, fixed + scroll_x + room, fill)
        # a column cut at the left edge of the scrolled part is left blank, not shown as
        # the tail of its numbers
        starts = (o - fixed for o in self._offsets[self.fixed_columns:])
        cut = min(room, next((o for o in starts if o >= scroll_x), scroll_x) - scroll_x)
        if cut > 0:
            moving = Strip.join([Strip.blank(cut, fill), moving.crop(cut, room)])
        return Strip.join([strip.crop_extend(0, fixed, fill), moving]).crop_extend(
            0, width, fill)

    def _header_strip(self, base: Style) -> tuple[Strip, Style]:
        style = base + self.get_component_rich_style("frame-table--header")
        key = ("header", self._version, style, self._cursor_column)
        cached = self._line_cache.get(key)
        if cached is None:
            current = style + Style(reverse=True)
            cells = [Segment(self._cell(column.label, width, column.justify),
                             current if index == self._cursor_column and column.selectable
                             else style)
                     for index, (column, width) in enumerate(
                         zip(self._columns, self._widths, strict=True))]
            cached = self._line_cache[key] = Strip(cells, self._offsets[-1])
        return cached, style

    def _row_strip(self, row: int, base: Style) -> tuple[Strip, Style]:
        if self.zebra_stripes:
            base = base + self.get_component_rich_style(
                "frame-table--odd-row" if row % 2 else "frame-table--even-row")
        cursor = (self.get_component_rich_style("frame-table--cursor")
                  if row == self._cursor_row else None)
        fill = base + cursor if cursor is not None else base
        key = (row, self._version, base, cursor, self._cursor_column)
        cached = self._line_cache.get(key)
        if cached is not None:
            return cached, fill
        assert self._rows is not None
        values = self._rows.row(row)
        segments = []
        for index, (column, width, slot) in enumerate(
                zip(self._columns, self._widths, self._slots, strict=True)):
            value = values[slot] if slot >= 0 else None
            text, cell_style = _text_of((column.format or _plain)(value))
            style = base + cell_style if cell_style is not None else base
            if cursor is not None:
                style += cursor
                if index == self._cursor_column:
                    style += Style(underline=True, bold=True)
            segments.append(Segment(self._cell(text, width, column.justify), style))
        strip = self._line_cache[key] = Strip(segments, self._offsets[-1])
        return strip, fill

    @staticmethod
    def _cell(text: str, width: int, justify: str) -> str:
        length = cell_len(text)
        if length > width:
            text = set_cell_size(text, max(0, width - 1)) + "…" if width else ""
        elif justify == "right":
            text = " " * (width - length) + text
        else:
            text += " " * (width - length)
        pad = " " * CELL_PADDING
        return pad + text + pad
