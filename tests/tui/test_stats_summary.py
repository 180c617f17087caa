"""The Stats summary: rendered once per width (RenderedOnce), and every aspect in view at 80
columns."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from rich.console import Console
from rich.table import Table
from textual.widgets import Static

from tests.tui.conftest import ASPECTS, OpenedApp
from vlmrate.tui.widgets.rendered_once import RenderedOnce


def _table() -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("measure", no_wrap=True)
    table.add_column("relevance", justify="right")
    for i in range(30):
        table.add_row(f"  statistic number {i} with a long label", f"{i / 7:.3f}")
    return table


def _text(renderable: Any, width: int) -> str:
    console = Console(width=width, record=True, file=io.StringIO(), color_system="truecolor")
    console.print(renderable)
    return console.export_text(styles=True)


@pytest.fixture
def table_renders(monkeypatch: pytest.MonkeyPatch) -> Counter[tuple[int, int]]:
    """(rows, width) of every Table render."""
    renders: Counter[tuple[int, int]] = Counter()
    render = Table.__rich_console__

    def counted(self: Table, console: Console, options: Any) -> Iterator[Any]:
        renders[(len(self.rows), options.max_width)] += 1
        yield from render(self, console, options)

    monkeypatch.setattr(Table, "__rich_console__", counted)
    return renders


def test_each_width_is_rendered_once_and_looks_the_same(
        table_renders: Counter[tuple[int, int]]) -> None:
    wrapped = RenderedOnce(_table())
    console = Console(width=60, file=io.StringIO())
    first = list(console.render(wrapped, console.options))
    again = list(console.render(wrapped, console.options.update(height=40)))
    assert first == again and table_renders == {(30, 60): 1}
    narrow = console.options.update_width(30)
    assert console.measure(wrapped, options=narrow) == console.measure(_table(), options=narrow)
    assert _text(wrapped, 30) == _text(_table(), 30)  # the cells wrap as they would
    assert table_renders[(30, 30)] == 2  # one for the wrapped table, one for the plain one


async def test_opening_stats_renders_the_summary_once_per_width(
        stats_app: OpenedApp, table_renders: Counter[tuple[int, int]]) -> None:
    async with stats_app() as (_pilot, screen):
        summary = screen.query_one("#stats-summary", Static)
        shown = summary.content
        rows = len(getattr(shown, "renderable", shown).rows)  # type: ignore[union-attr]
        widths = [width for (n, width), _ in table_renders.items() if n == rows]
        # Textual measured and drew it at one or two widths (with and without the
        # scrollbar); the plain Table was rendered at each of them several times
        assert widths and all(table_renders[(rows, w)] == 1 for w in widths), table_renders


async def test_the_summary_shows_every_aspect_at_80_columns(stats_app: OpenedApp) -> None:
    async with stats_app(size=(80, 24)) as (_pilot, screen):
        summary = screen.query_one("#stats-summary", Static)
        width = summary.content_size.width
        console = Console(width=width, record=True, file=io.StringIO())
        console.print(summary.content)
        lines = console.export_text().splitlines()
        # the header names every aspect whole; the labels wrap instead of pushing the last
        # aspect's numbers off the screen (it was cut to "valenc")
        assert lines[0].split() == ["measure", *ASPECTS], lines[0]
        assert max(len(line.rstrip()) for line in lines) <= width
        icc = next(line for line in lines if line.strip().startswith("ICC1 "))
        assert len(icc.split()) == 1 + len(ASPECTS)
