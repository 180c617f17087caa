"""Reports that fit the terminal: the width to print at, and tables that stack their
widest columns onto continuation lines when the terminal is narrower than they are.

Every table of the CLI reports (``stats``, ``compare``) goes through :func:`fit_parts`,
so a table added to a report inherits it. A table that is too wide keeps its first
(label) column and its narrowest columns in the row; the widest other columns move,
one at a time, onto indented lines under the row (one per moved cell, "header value";
the value alone when one column moved), until the rest fits. Numbers are never cut: only the label column wraps, and only
at spaces. Imports nothing heavy.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterable, Sequence
from typing import IO

from rich.cells import cell_len
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

#: The width of a report when the output is not a terminal (piped, redirected) and
#: COLUMNS does not say: wide enough for every table unstacked.
PIPED_WIDTH = 100
MIN_WIDTH = 40  # below this, tables still stack, but labels may wrap in words
LABEL_FLOOR = 24  # the label column wraps (at spaces) down to this many cells


def terminal_width(explicit: int | None = None, stream: IO[str] | None = None,
                   default: int = PIPED_WIDTH) -> int:
    """The width to print a report at: ``explicit`` (``--width``), else COLUMNS,
    else the terminal's width when ``stream`` (stdout) is one, else ``default``."""
    if explicit:
        return max(explicit, MIN_WIDTH)
    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return max(int(columns), MIN_WIDTH)
    stream = sys.stdout if stream is None else stream
    try:
        if stream.isatty():
            return max(shutil.get_terminal_size((default, 24)).columns, MIN_WIDTH)
    except (AttributeError, ValueError, OSError):
        pass
    return default


def _plain(cell: RenderableType) -> str:
    if isinstance(cell, Text):
        return cell.plain
    return str(cell)


def _cell_width(cell: RenderableType) -> int:
    return max((cell_len(line) for line in _plain(cell).split("\n")), default=0)


def _column_width(header: RenderableType, cells: Sequence[RenderableType]) -> int:
    return max([_cell_width(header), *(_cell_width(c) for c in cells)])


def _natural_width(table: Table) -> int:
    console = Console(width=100_000, color_system=None)
    return console.measure(table).maximum


def fit(table: Table, width: int) -> Table:
    """The table as it is when it fits in ``width``, else a copy whose widest columns
    (never the first) are stacked under each row until the rest fits. The label column
    then holds the stacked lines too: it gets their width, or at least half the width."""
    columns = table.columns
    if len(columns) < 2 or _natural_width(table) <= width:
        return table
    headers = [c.header for c in columns]
    cells = [list(c.cells) for c in columns]
    widths = [_column_width(h, cs) for h, cs in zip(headers, cells, strict=True)]
    per_column = -(-(_natural_width(table) - sum(widths)) // len(columns))  # rounded up
    kept = list(range(len(columns)))
    stacked: list[int] = []

    def needed() -> int:
        label = min(widths[0], max(LABEL_FLOOR, width // 3))
        if stacked:
            single = len(stacked) == 1
            below = max(cell_len(_continuation([(headers[j], cells[j][r])], single).plain)
                        for r in range(len(cells[0])) for j in stacked)
            label = max(label, min(below, width // 2))
        return per_column * len(kept) + label + sum(widths[i] for i in kept[1:])

    while len(kept) > 1 and needed() > width:
        widest = max(kept[1:], key=lambda i: widths[i])
        kept.remove(widest)
        stacked.append(widest)
    stacked.sort()
    return _stacked(table, kept, stacked, headers, cells)


def _continuation(values: list[tuple[RenderableType, RenderableType]], single: bool) -> Text:
    """The stacked cells of one row as one indented line."""
    out = Text("  ")
    parts = [(h, v) for h, v in values if _plain(v).strip()]
    for n, (header, value) in enumerate(parts):
        if n:
            out.append(" · ", style="dim")
        if not single:
            out.append(f"{_plain(header)} ", style="dim")
        out.append(value if isinstance(value, Text) else Text(str(value)))
    return out


def _stacked(table: Table, kept: list[int], stacked: list[int],
             headers: list[RenderableType], cells: list[list[RenderableType]]) -> Table:
    new = Table(title=table.title, box=table.box, title_justify=table.title_justify,
                pad_edge=table.pad_edge, show_header=table.show_header,
                header_style=table.header_style, show_edge=table.show_edge)
    single = len(stacked) == 1
    for n, i in enumerate(kept):
        column = table.columns[i]
        header = headers[i]
        if n == 0 and stacked:
            below = " · ".join(_plain(headers[j]) for j in stacked)
            header = Text.assemble(_plain(header), "\n", (f"  {below}", "dim"))
        new.add_column(header, justify=column.justify, style=column.style,
                       header_style=column.header_style,
                       no_wrap=n > 0, overflow="fold")
    rows = len(cells[0]) if cells else 0
    for r in range(rows):
        row = [cells[i][r] for i in kept]
        values = [(headers[j], cells[j][r]) for j in stacked]
        below = any(_plain(v).strip() for _, v in values)
        if below and single and not _plain(row[0]).strip():
            row[0] = _continuation(values, single)  # a row with no label: on its line
            below = False
        new.add_row(*row)
        if below:  # one line per moved cell, each indented under the row
            for header, value in values:
                if _plain(value).strip():
                    new.add_row(_continuation([(header, value)], single),
                                *("" for _ in kept[1:]))
    return new


def fit_parts(parts: Iterable[RenderableType], width: int) -> list[RenderableType]:
    """Every table among ``parts`` fitted to ``width``; other parts as they are."""
    return [fit(p, width) if isinstance(p, Table) else p for p in parts]
