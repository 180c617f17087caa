"""FrameTable (the virtual table of the Results screen): drawing, sorting, filtering,
cursor keys and mouse, alone on a Polars frame and inside the Results screen."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import polars as pl
from textual import events
from textual.app import App, ComposeResult
from textual.message import Message

from tests.tui.conftest import N_IMAGES, OpenedApp, settle
from vlmrate.tui.data import fmt
from vlmrate.tui.screens.case import CaseScreen
from vlmrate.tui.screens.results import RANK, ResultsScreen, sort_frame
from vlmrate.tui.widgets.frame_table import Column, FrameTable

STYLESHEET = Path(__file__).resolve().parents[2] / "src/vlmrate/tui/app.tcss"
COLUMNS = [Column("image_id", "image"), Column("score", "score", "right", format=fmt),
           Column("n", "n", "right")]


def make_frame(n: int) -> pl.DataFrame:
    """image ids in order; score = (i * 37) % 101 / 10 with every 7th missing."""
    return pl.DataFrame({
        "image_id": [f"img{i:05d}" for i in range(n)],
        "score": [None if i % 7 == 3 else (i * 37) % 101 / 10 for i in range(n)],
        "n": [i % 4 for i in range(n)],
    }).with_columns(pl.int_range(n, dtype=pl.Int64).alias(RANK))


class TableApp(App[None]):
    CSS_PATH = str(STYLESHEET)

    def __init__(self, frame: pl.DataFrame) -> None:
        super().__init__()
        self.frame = frame
        self.messages: list[Message] = []

    def compose(self) -> ComposeResult:
        yield FrameTable(id="table")

    def on_mount(self) -> None:
        table = self.query_one(FrameTable)
        table.set_data(self.frame, COLUMNS)
        table.focus()

    def on_frame_table_row_selected(self, message: FrameTable.RowSelected) -> None:
        self.messages.append(message)

    def on_frame_table_header_selected(self, message: FrameTable.HeaderSelected) -> None:
        self.messages.append(message)

    def on_frame_table_row_highlighted(self, message: FrameTable.RowHighlighted) -> None:
        self.messages.append(message)


def lines(table: FrameTable) -> list[str]:
    """What the table shows, line by line (line 0 is the header)."""
    return [table.render_line(y).text for y in range(table.size.height)]


def reference_sort(rows: list[dict[str, Any]], column: str | None,
                   descending: bool) -> list[str]:
    """The Results order the DataTable version had: missing last by id, ties by id."""
    ids = [r["image_id"] for r in rows]
    if column is None:
        return sorted(ids, reverse=descending)
    values = {r["image_id"]: r[column] for r in rows}

    def missing(i: str) -> bool:
        v = values[i]
        return v is None or (isinstance(v, float) and math.isnan(v))

    present = sorted((i for i in ids if not missing(i)), key=lambda i: (values[i], i),
                     reverse=descending)
    return present + sorted(i for i in ids if missing(i))


def test_sort_frame_keeps_the_old_order() -> None:
    frame = make_frame(60)
    rows = frame.to_dicts()
    for column in (None, "score", "n"):
        for descending in (False, True):
            got = sort_frame(frame, column, descending).get_column("image_id").to_list()
            assert got == reference_sort(rows, column, descending), (column, descending)


async def test_draws_header_and_visible_rows() -> None:
    app = TableApp(make_frame(50))
    async with app.run_test(size=(40, 10)) as pilot:
        await pilot.pause()
        table = app.query_one(FrameTable)
        shown = lines(table)
        assert shown[0].split() == ["image", "score", "n"]
        assert shown[1].split() == ["img00000", "0.00", "0"]
        assert shown[4].split() == ["img00003", "—", "3"]  # missing score
        assert table.visible_keys() == [f"img{i:05d}" for i in range(9)]
        assert table.virtual_size.height == 51


async def test_sort_and_reverse_show_the_first_rows() -> None:
    frame = make_frame(50)
    app = TableApp(frame)
    async with app.run_test(size=(40, 10)) as pilot:
        await pilot.pause()
        table = app.query_one(FrameTable)
        table.set_view(sort_frame(frame, "score", descending=False))
        await pilot.pause()
        expected = reference_sort(frame.to_dicts(), "score", False)
        assert table.visible_keys()[:3] == expected[:3]
        assert [line.split()[0] for line in lines(table)[1:4]] == expected[:3]
        table.set_view(sort_frame(frame, "score", descending=True))
        await pilot.pause()
        expected = reference_sort(frame.to_dicts(), "score", True)
        assert [line.split()[0] for line in lines(table)[1:4]] == expected[:3]
        await pilot.press("end")  # the missing scores come last, by id
        assert table.cursor_key == expected[-1]
        assert lines(table)[-1].split()[:2] == [expected[-1], "—"]


async def test_filter_view_and_cursor_clamp() -> None:
    frame = make_frame(50)
    app = TableApp(frame)
    async with app.run_test(size=(40, 14)) as pilot:
        await pilot.pause()
        table = app.query_one(FrameTable)
        await pilot.press("end")
        assert table.cursor_row == 49 and table.scroll_y > 0
        table.set_view(frame.filter(pl.col("image_id").str.contains("img0001")))
        await pilot.pause()
        assert table.keys() == [f"img{i:05d}" for i in range(10, 20)]
        assert table.cursor_row == 9  # clamped to the rows there are
        assert lines(table)[1].split()[0] == "img00010"
        assert table.scroll_y == 0  # all ten fit
        assert lines(table)[-1] == " " * 40  # nothing below the rows


async def test_keys_move_the_cursor_and_scroll() -> None:
    app = TableApp(make_frame(100))
    async with app.run_test(size=(40, 10)) as pilot:  # 9 rows in view
        await pilot.pause()
        table = app.query_one(FrameTable)
        await pilot.press("down", "down")
        assert table.cursor_row == 2 and table.scroll_y == 0
        await pilot.press("pagedown")
        assert table.cursor_row == 11
        assert table.cursor_key in table.visible_keys()
        await pilot.press("end")
        assert table.cursor_key == "img00099"
        assert table.visible_keys()[-1] == "img00099"
        await pilot.press("pageup", "up")
        assert table.cursor_row == 89
        assert table.cursor_key in table.visible_keys()
        await pilot.press("home")
        assert table.cursor_row == 0 and table.scroll_y == 0
        await pilot.press("enter")
        await pilot.pause()
        selected = [m for m in app.messages if isinstance(m, FrameTable.RowSelected)]
        assert [m.row_key for m in selected] == ["img00000"]
        highlighted = [m for m in app.messages if isinstance(m, FrameTable.RowHighlighted)]
        assert highlighted and highlighted[-1].row_key == "img00000"


async def test_mouse_selects_rows_and_headers() -> None:
    app = TableApp(make_frame(30))
    async with app.run_test(size=(40, 10)) as pilot:
        await pilot.pause()
        table = app.query_one(FrameTable)
        await pilot.click(FrameTable, offset=(2, 3))  # line 3: the third row
        assert table.cursor_row == 2
        await pilot.click(FrameTable, offset=(2, 3))  # on the cursor row: selected
        await pilot.click(FrameTable, offset=(14, 0))  # the header of "score"
        await pilot.pause()
        selected = [m for m in app.messages if isinstance(m, FrameTable.RowSelected)]
        assert [m.row_key for m in selected] == ["img00002"]
        headers = [m for m in app.messages if isinstance(m, FrameTable.HeaderSelected)]
        assert [(m.column_key, m.column_index) for m in headers] == [("score", 1)]
        table.post_message(events.MouseScrollDown(table, 2, 3, 0, 1, 0, False, False, False))
        await pilot.pause()  # the wheel scrolls, the cursor stays
        assert table.scroll_y > 0 and table.cursor_row == 2


async def test_scrolls_sideways_when_wider_than_the_screen() -> None:
    wide = make_frame(20).with_columns(pl.lit("x" * 60 + "END").alias("note"))
    app = TableApp(wide)
    async with app.run_test(size=(40, 10)) as pilot:
        await pilot.pause()
        table = app.query_one(FrameTable)
        table.set_columns([*COLUMNS, Column("note", "note")])
        await pilot.pause()
        assert table.virtual_size.width > table.size.width
        assert "END" not in lines(table)[1]
        await pilot.press(*["right"] * 60)
        await pilot.pause()
        assert table.scroll_x > 0 and table.cursor_column_key == "note"
        assert lines(table)[1].rstrip().endswith("END")


async def test_pinned_columns_and_the_column_cursor() -> None:
    wide = make_frame(20).with_columns(*[pl.lit(f"v{i}" * 4).alias(f"c{i}") for i in range(9)])
    app = TableApp(wide)
    async with app.run_test(size=(40, 10)) as pilot:
        await pilot.pause()
        table = app.query_one(FrameTable)
        table.fixed_columns = 1
        table.set_columns([*COLUMNS, *[Column(f"c{i}", f"c{i}") for i in range(9)]])
        await pilot.pause()
        first_id = lines(table)[1].split()[0]
        assert table.cursor_column_key == "image_id"
        await pilot.press(*["right"] * 11)
        await pilot.pause()
        assert table.cursor_column_key == "c8" and table.scroll_x > 0
        row = lines(table)[1]
        assert row.split()[0] == first_id  # the id stays in place
        assert row.rstrip().endswith("v8v8v8v8")
        assert "c8" in lines(table)[0] and "score" not in lines(table)[0]
        await pilot.press(*["left"] * 11)
        await pilot.pause()
        assert table.cursor_column_key == "image_id" and table.scroll_x == 0


async def test_twenty_thousand_rows() -> None:
    frame = make_frame(20_000)
    app = TableApp(frame)
    async with app.run_test(size=(60, 30)) as pilot:
        await pilot.pause()
        table = app.query_one(FrameTable)
        assert table.row_count == 20_000
        table.set_view(sort_frame(frame, "score", descending=True))
        await pilot.pause()
        first = lines(table)[1].split()
        assert first[1] == "10.00"
        await pilot.press("end")
        await pilot.pause()
        assert table.cursor_row == 19_999
        last = lines(table)[-1].split()
        assert last[1] == "—" and last[0] == table.cursor_key
        await pilot.press("pageup", "home")
        assert table.visible_keys()[0] == table.keys()[0]


# --- inside the Results screen --------------------------------------------------------


async def test_results_sort_shows_the_first_rows(
        results_app: OpenedApp) -> None:
    async with results_app() as (pilot, screen):
        assert screen.data is not None
        table = screen.query_one("#results-table", FrameTable)
        rows = list(screen.data.rows.values())
        await pilot.press("right", "s")  # by relevance model mean, highest first
        expected = reference_sort(rows, "relevance_mean", True)
        assert table.visible_keys()[:3] == expected[:3]
        assert [line.split()[0] for line in lines(table)[1:4]] == expected[:3]
        assert "rel m ▼" in lines(table)[0]
        await pilot.press("s")  # again: reversed
        expected = reference_sort(rows, "relevance_mean", False)
        assert table.visible_keys()[:3] == expected[:3]
        assert "rel m ▲" in lines(table)[0]
        assert screen.order == expected
        # a click on a header sorts by it; a second click reverses
        x = lines(table)[0].index("aro d")
        await pilot.click("#results-table", offset=(x, 0))
        await pilot.pause()
        assert screen.sort_column == "arousal_d" and screen.descending
        assert screen.order == reference_sort(rows, "arousal_d", True)
        await pilot.click("#results-table", offset=(x, 0))
        await pilot.pause()
        assert not screen.descending


async def test_results_filter_and_enter_open_the_right_case(
        results_app: OpenedApp) -> None:
    async with results_app() as (pilot, screen):
        table = screen.query_one("#results-table", FrameTable)
        await pilot.press("slash", *"img1")
        await pilot.pause()
        assert table.keys() == ["img10", "img11", "img12"]
        assert [line.split()[0] for line in lines(table)[1:4]] == ["img10", "img11", "img12"]
        await pilot.press("enter")  # leaves the filter box, the filter stays
        await pilot.press("down", "enter")
        await settle(pilot)
        case = pilot.app.screen
        assert isinstance(case, CaseScreen)
        assert case.image_id == "img11" and case.order == ["img10", "img11", "img12"]
        await pilot.press("n")  # Case walks the Results order
        await pilot.pause()
        assert case.image_id == "img12"
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(pilot.app.screen, ResultsScreen)
        assert table.cursor_key == "img12"  # back on the case viewed last
        await pilot.press("escape")  # clears the filter
        await pilot.pause()
        assert table.row_count == N_IMAGES


async def test_results_click_opens_the_case(results_app: OpenedApp) -> None:
    async with results_app() as (pilot, screen):
        table = screen.query_one("#results-table", FrameTable)
        await pilot.click("#results-table", offset=(6, 4))  # the fourth row
        assert table.cursor_key == screen.order[3]
        await pilot.click("#results-table", offset=(6, 4))
        await settle(pilot)
        case = pilot.app.screen
        assert isinstance(case, CaseScreen) and case.image_id == screen.order[3]
