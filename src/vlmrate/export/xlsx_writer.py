"""The workbook's writing machinery: cell formats and writers for the small sheets, and
the fast row writer for the big ones.

Speed: the three big sheets (Ratings and Answers: one row per answer; PerImage: one row
per image) would cost ~4 µs per cell through xlsxwriter's Python cell writers, i.e. tens of
seconds for a 600,000-answer run. xlsxwriter therefore writes them with their header row,
column formats, frozen panes and autofilter only (`bulk_sheet`), and their rows are
rendered column-wise with Polars straight into the sheet XML while the file is assembled
(`assemble`). Every text cell there is an inline string (`t="inlineStr"`), so model text
can never become a formula, a number or a link. All other sheets are small and written
cell by cell (`put`, `header`) with `write_string` for every text.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import IO, Any
from xml.etree import ElementTree

import polars as pl
from xlsxwriter.format import Format
from xlsxwriter.utility import xl_col_to_name, xl_rowcol_to_cell
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from vlmrate.stats.formatting import COUNT_FORMAT, P_FORMAT, STAT_FORMAT, is_missing, yes_no

EXCEL_MAX_CHARS = 32_767
EXCEL_MAX_ROWS = 1_048_576
TRUNCATED = " …[truncated by vlmrate: Excel holds at most 32,767 characters per cell]"

WORKBOOK_OPTIONS = {"strings_to_formulas": False, "strings_to_urls": False,
                    "strings_to_numbers": False, "nan_inf_to_errors": True,
                    "in_memory": True}

# Characters XML 1.0 cannot carry; Excel writes them as _xHHHH_.
# (and CR, which XML readers would turn into LF; xlsxwriter's own rule, minus nothing).
_XML_INVALID = re.compile("[\x00-\x08\x0b-\x1f\ufffe\uffff]")
_XML_INVALID_PL = r"[\x00-\x08\x0B-\x1F\x{FFFE}\x{FFFF}]"
_ESCAPE_LITERAL = re.compile(r"(_x[0-9A-Fa-f]{4}_)")
_ESCAPE_LITERAL_PL = r"(_x[0-9A-Fa-f]{4}_)"
_RENDER_BATCH = 50_000
_ZIP_LEVEL = 1


def _utf16_len(text: str) -> int:
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def excel_text(text: str) -> str:
    """text cut to Excel's 32,767-character cell limit (UTF-16 units), with a marker."""
    if len(text) <= EXCEL_MAX_CHARS // 2 or _utf16_len(text) <= EXCEL_MAX_CHARS:
        return text
    budget = EXCEL_MAX_CHARS - len(TRUNCATED)
    out, used = [], 0
    for ch in text:
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > budget:
            break
        out.append(ch)
    return "".join(out) + TRUNCATED


# --- formats and cell writers of the small sheets --------------------------------------

class Formats:
    """One header style and one set of number formats for every sheet."""

    def __init__(self, wb: Workbook) -> None:
        base = {"font_size": 10, "valign": "top"}
        self.header = wb.add_format({**base, "bold": True, "bg_color": "#DDEBF7",
                                     "bottom": 1, "text_wrap": True})
        self.title = wb.add_format({"bold": True, "font_size": 13})
        self.section = wb.add_format({**base, "bold": True, "font_color": "#1F4E79"})
        self.key = wb.add_format({**base, "bold": True})
        self.text = wb.add_format(base)
        self.wrap = wb.add_format({**base, "text_wrap": True})
        self.int = wb.add_format({**base, "num_format": COUNT_FORMAT})
        self.stat = wb.add_format({**base, "num_format": STAT_FORMAT})
        self.p = wb.add_format({**base, "num_format": P_FORMAT})
        self.bool = wb.add_format({**base, "align": "center"})
        self.compact = wb.add_format({**base, "num_format": "General"})  # W+ 48, 11323.5
        self.percent = wb.add_format({**base, "num_format": "0.0%"})  # a share: 2.5%

    def of(self, kind: str) -> Format:
        return {"text": self.text, "wrap": self.wrap, "int": self.int, "stat": self.stat,
                "p": self.p, "bool": self.bool, "key": self.key,
                "compact": self.compact, "percent": self.percent}[kind]


def put(ws: Worksheet, row: int, col: int, value: Any, fmt: Format | None) -> None:
    """One cell: numbers as numbers, everything else as a string; None/NaN stays empty."""
    if is_missing(value):
        return
    if isinstance(value, bool):  # as the reports say it (LibreOffice showed 0 for False)
        ws.write_string(row, col, yes_no(value), fmt)
    elif isinstance(value, int | float):
        ws.write_number(row, col, value, fmt)
    elif isinstance(value, str):
        ws.write_string(row, col, excel_text(value), fmt)
    else:
        ws.write_string(row, col, excel_text(json.dumps(value, ensure_ascii=False)), fmt)


def header(ws: Worksheet, row: int, names: Sequence[str], fmts: Formats,
            col: int = 0, widths: Sequence[float] | None = None) -> None:
    """A header row; with the columns' widths, the row is as tall as its most wrapped
    name (LibreOffice does not grow it: wrapped names overlapped the first row)."""
    for i, name in enumerate(names):
        ws.write_string(row, col + i, name, fmts.header)
    if widths:
        ws.set_row(row, text_height([(n, w) for n, w in zip(names, widths, strict=False)]))


# --- paper: every sheet prints readable ---------------------------------------------------

LINE_PT = 13.0  # one line of the 10 pt text, in points
MAX_ROW_PT = 409.0  # Excel's tallest row
PORTRAIT_CHARS = 105  # about what fits across A4 portrait at 100 % (10 pt, narrow margins)


def text_lines(text: str, width: float) -> int:
    """Lines a wrapped cell of ``width`` characters needs for ``text``."""
    per_line = max(int(width) - 1, 1)
    return sum(max(1, -(-len(line) // per_line)) for line in str(text).split("\n"))


def text_height(cells: Sequence[tuple[str, float]]) -> float:
    """Points a row needs for its wrapped cells, (text, column width) each."""
    lines = max((text_lines(text, width) for text, width in cells), default=1)
    return min(MAX_ROW_PT, LINE_PT * lines + 2)


def print_setup(ws: Worksheet, last_row: int, last_col: int, width_chars: float,
                header_rows: int = 1, title_cols: int = 0) -> None:
    """Page setup of a sheet: A4, landscape when wider than a portrait page, fitted to
    the page width (as many pages down as needed), the header rows repeated on each page,
    the print area, narrow margins, and the sheet name and page number in the footer."""
    ws.set_paper(9)
    if width_chars > PORTRAIT_CHARS:
        ws.set_landscape()
    ws.fit_to_pages(1, 0)
    if header_rows:
        ws.repeat_rows(0, header_rows - 1)
    if title_cols:
        ws.repeat_columns(0, title_cols - 1)
    ws.print_area(0, 0, max(last_row, 0), max(last_col, 0))
    ws.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.6)
    ws.set_footer("&L&A&Rpage &P of &N")


# --- the bulk sheets, rendered column-wise -----------------------------------------------

@dataclass
class Column:
    source: str     # column of the frame
    header: str
    kind: str       # "text" | "wrap" | "int" | "stat"
    width: float


@dataclass
class Bulk:
    sheet: str
    frame: pl.DataFrame
    columns: list[Column]
    formats: list[Format]
    first_row: int = 1  # 0-based row of the first data row (the header is row 0)


def bulk_sheet(wb: Workbook, fmts: Formats, name: str, frame: pl.DataFrame,
                columns: list[Column], freeze_cols: int) -> list[Bulk]:
    """Header, widths, panes and filter now; the rows are added by assemble."""
    per_sheet = EXCEL_MAX_ROWS - 1
    parts = [frame.slice(i, per_sheet) for i in range(0, frame.height, per_sheet)] or [frame]
    out = []
    for number, part in enumerate(parts, start=1):
        sheet = name if number == 1 else f"{name} ({number})"
        ws = wb.add_worksheet(sheet)
        formats = []
        for i, col in enumerate(columns):
            fmt = fmts.of(col.kind)
            formats.append(fmt)
            ws.set_column(i, i, col.width, fmt)
        header(ws, 0, [c.header for c in columns], fmts, widths=[c.width for c in columns])
        ws.freeze_panes(1, freeze_cols)
        ws.autofilter(0, 0, max(part.height, 1), len(columns) - 1)
        print_setup(ws, part.height, len(columns) - 1, sum(c.width for c in columns))
        out.append(Bulk(sheet, part, columns, formats))
    return out


def _xml_text(expr: pl.Expr) -> pl.Expr:
    """Escaped XML text of an already Excel-safe string column."""
    return (expr.str.replace_all("&", "&amp;", literal=True)
            .str.replace_all("<", "&lt;", literal=True)
            .str.replace_all(">", "&gt;", literal=True))


def _excel_safe_strings(series: pl.Series) -> pl.Series:
    """Truncated to Excel's limit, literal _xHHHH_ escaped, XML-invalid characters as
    _xHHHH_ (what Excel itself writes). The rare strings that need Python get it."""
    series = series.cast(pl.String)
    rare = (series.str.len_bytes() > EXCEL_MAX_CHARS) | series.str.contains(_XML_INVALID_PL)
    rare = rare.fill_null(False)
    out = series.str.replace_all(_ESCAPE_LITERAL_PL, "_x005F${1}")
    if rare.any():
        idx = rare.arg_true()
        fixed = [_excel_safe_python(value) for value in series.gather(idx).to_list()]
        out = out.scatter(idx, pl.Series(fixed, dtype=pl.String))
    return out


def _excel_safe_python(value: str) -> str:
    value = _ESCAPE_LITERAL.sub(r"_x005F\1", excel_text(value))
    return _XML_INVALID.sub(lambda m: f"_x{ord(m.group()):04X}_", value)


class _RowRenderer:
    """<row> elements of a bulk sheet's data rows, batch by batch (Polars, column-wise)."""

    def __init__(self, bulk: Bulk, xf: list[int]) -> None:
        self.bulk = bulk
        cells = []
        for i, col in enumerate(bulk.columns):
            letter, value = xl_col_to_name(i), pl.col(f"_c{i}")
            if col.kind in ("text", "wrap"):
                space = (pl.when(value.str.contains(r"^\s|\s$"))
                         .then(pl.lit(' xml:space="preserve">')).otherwise(pl.lit(">")))
                cell = pl.concat_str([
                    pl.lit(f'<c r="{letter}'), pl.col("_r"),
                    pl.lit(f'" s="{xf[i]}" t="inlineStr"><is><t'), space,
                    _xml_text(value), pl.lit("</t></is></c>")])
            else:
                cell = pl.concat_str([pl.lit(f'<c r="{letter}'), pl.col("_r"),
                                      pl.lit(f'" s="{xf[i]}"><v>'), value,
                                      pl.lit("</v></c>")])
            cells.append(cell.fill_null(""))
        self.row = pl.concat_str([pl.lit('<row r="'), pl.col("_r"), pl.lit('">'), *cells,
                                  pl.lit("</row>")]).str.join("")

    def starts(self) -> range:
        return range(0, self.bulk.frame.height, _RENDER_BATCH)

    def batch(self, start: int) -> bytes:
        part = self.bulk.frame.slice(start, _RENDER_BATCH)
        columns: dict[str, pl.Series] = {}
        for i, col in enumerate(self.bulk.columns):
            series = part[col.source]
            if col.kind in ("text", "wrap"):
                series = _excel_safe_strings(series)
            elif series.dtype.is_float():
                series = pl.select(pl.when(series.is_finite()).then(series)).to_series()
            columns[f"_c{i}"] = series.cast(pl.String)
        first = self.bulk.first_row + start + 1
        columns["_r"] = pl.int_range(first, first + part.height, dtype=pl.Int64,
                                     eager=True).cast(pl.String)
        return pl.DataFrame(columns).select(self.row).item().encode("utf-8")


def _write_rows(renderer: _RowRenderer, handle: IO[bytes]) -> None:
    """Render the next batches on a worker thread while this one compresses and writes
    (Polars and zlib both release the GIL)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending: deque[Future[bytes]] = deque()
        for start in renderer.starts():
            pending.append(pool.submit(renderer.batch, start))
            if len(pending) > 2:
                handle.write(pending.popleft().result())
        while pending:
            handle.write(pending.popleft().result())


def _sheet_parts(archive: zipfile.ZipFile) -> dict[str, str]:
    """sheet name -> path of its XML inside the archive."""
    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
          "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
          "p": "http://schemas.openxmlformats.org/package/2006/relationships"}
    book = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    targets = {rel.get("Id"): rel.get("Target", "") for rel in rels.findall("p:Relationship", ns)}
    out = {}
    for sheet in book.findall("m:sheets/m:sheet", ns):
        target = targets[sheet.get(f"{{{ns['r']}}}id")]
        path = target.lstrip("/") if target.startswith("/") else str(PurePosixPath("xl", target))
        out[sheet.get("name", "")] = path
    return out


_DIMENSION = re.compile(rb'<dimension ref="[^"]*"/>')


def assemble(book: bytes, bulks: list[Bulk], out: IO[bytes]) -> None:
    """Copy xlsxwriter's archive to out, with the data rows of the bulk sheets added."""
    with zipfile.ZipFile(io.BytesIO(book)) as src, zipfile.ZipFile(
        out, "w", zipfile.ZIP_DEFLATED, compresslevel=_ZIP_LEVEL
    ) as dst:
        parts = _sheet_parts(src)
        by_part = {parts[b.sheet]: b for b in bulks}
        for info in src.infolist():
            data = src.read(info)
            bulk = by_part.get(info.filename)
            if bulk is None:
                dst.writestr(info, data)
                continue
            xf = [fmt.xf_index if fmt.xf_index is not None else 0 for fmt in bulk.formats]
            end = data.rindex(b"</sheetData>")
            head, tail = data[:end], data[end:]
            last = bulk.first_row + bulk.frame.height
            ref = f"A1:{xl_rowcol_to_cell(max(last - 1, 0), len(bulk.columns) - 1)}"
            head = _DIMENSION.sub(f'<dimension ref="{ref}"/>'.encode(), head, count=1)
            target = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            target.compress_type = zipfile.ZIP_DEFLATED
            # level 1: 4x faster than the default for ~30% more bytes
            target._compresslevel = _ZIP_LEVEL  # type: ignore[attr-defined]
            if hasattr(target, "compress_level"):
                target.compress_level = _ZIP_LEVEL
            big = bulk.frame.estimated_size() > 512 * 1024 * 1024
            with dst.open(target, "w", force_zip64=big) as handle:
                handle.write(head)
                _write_rows(_RowRenderer(bulk, xf), handle)
                handle.write(tail)
