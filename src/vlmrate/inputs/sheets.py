"""Read a spreadsheet (CSV/TSV or XLSX) into a Polars frame of strings, robustly.

Text sheets are read with the csv module only (a quoted cell may hold line breaks, blank
lines, form feeds). Handles a UTF-8 BOM, UTF-16 (with a BOM, or plain with its NUL
pattern), Latin-1 text, `;`/tab/`,`/`|` delimiters and a few title rows above the header
(the header is the first row that ``is_header`` accepts). Cells are kept as written
(leading spaces included); a cell of only spaces is empty. Every row carries its line
number in the file, so messages name the right row even after multi-line cells. Every
problem is a UserError naming the file.
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from vlmrate.errors import UserError, clip

SHEET_SUFFIXES = {".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".xls"}
# Cell texts that mean "no value" in a number column (compared upper-cased, stripped).
MISSING_MARKERS = frozenset({"", "NA", "N/A", "#N/A", "NAN", "NULL", "NONE"})
# Longest cell the csv module may read (its default, 131,072 characters, is not a rule of
# the format: a long reason in a ratings sheet is a reason).
_FIELD_LIMIT = 64 << 20

Row = tuple[int, list[str]]  # (1-based line number in the file where the row starts, cells)


def is_missing(cell: str) -> bool:
    return cell.strip().upper() in MISSING_MARKERS


def _utf16_without_bom(raw: bytes) -> str | None:
    """The text, when raw looks like UTF-16 without a BOM (ASCII every other byte)."""
    if len(raw) % 2:
        return None
    even, odd = raw[0::2], raw[1::2]
    if odd.count(0) > 0.9 * len(odd) and even.count(0) < 0.1 * len(even):
        encoding = "utf-16-le"
    elif even.count(0) > 0.9 * len(even) and odd.count(0) < 0.1 * len(odd):
        encoding = "utf-16-be"
    else:
        return None
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        return None


def _decode(raw: bytes, path: Path) -> str:
    text: str | None = None
    if raw.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        encodings: tuple[str, ...] = ("utf-32",)
    elif raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        encodings = ("utf-16",)
    elif raw.startswith(b"\xef\xbb\xbf"):
        raw, encodings = raw[3:], ("utf-8", "cp1252", "latin-1")
    elif b"\x00" in raw:
        text = _utf16_without_bom(raw)
        if text is None:
            raise UserError(f"{path}: holds NUL bytes, so it is not a text sheet "
                            f"(save it as CSV, UTF-8)")
        encodings = ()
    else:
        encodings = ("utf-8", "cp1252", "latin-1")
    for encoding in encodings:
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    if text is None:
        raise UserError(f"{path}: cannot decode the text ({'/'.join(encodings)})")
    text = text.removeprefix("\ufeff")
    if "\x00" in text:
        raise UserError(f"{path}: holds NUL characters, so it is not a text sheet "
                        f"(save it as CSV, UTF-8)")
    return text


def _delimiter(text: str) -> str:
    """The delimiter of the first non-blank lines (the csv module's Sniffer, else the most
    frequent candidate)."""
    lines: list[str] = []
    for line in io.StringIO(text, newline=""):
        if line.strip():
            lines.append(line.rstrip("\r\n"))
        if len(lines) == 20:
            break
    sample = "\n".join(lines)
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        counts = {d: sample.count(d) for d in ",;\t|"}
        return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


@contextlib.contextmanager
def _long_fields() -> Iterator[None]:
    old = csv.field_size_limit(_FIELD_LIMIT)
    try:
        yield
    finally:
        csv.field_size_limit(old)


def _rows_from_text(text: str, path: Path) -> list[Row]:
    if not text.strip():
        raise UserError(f"{path}: the file is empty")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    rows: list[Row] = []
    line = 1
    with _long_fields():
        try:
            for cells in reader:
                if any(c.strip() for c in cells):
                    rows.append((line, cells))
                line = reader.line_num + 1
        except csv.Error as exc:
            raise UserError(f"{path}: row {line}: {exc}") from None
    if not rows:
        raise UserError(f"{path}: the file is empty")
    return rows


_NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
       "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
       "rel": "http://schemas.openxmlformats.org/package/2006/relationships"}


def formula_cells_without_value(path: Path) -> list[str]:
    """Cells of the first worksheet holding a formula with no computed value.

    Such a cell (written by a script, never opened in Excel) reads as empty; saying so is
    better than silently treating a rating as missing.
    """
    import zipfile
    from xml.etree import ElementTree

    try:
        with zipfile.ZipFile(path) as archive:
            book = ElementTree.fromstring(archive.read("xl/workbook.xml"))
            first = book.find("m:sheets/m:sheet", _NS)
            rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
            if first is None:
                return []
            rel_id = first.get(f"{{{_NS['r']}}}id")
            target = next((r.get("Target", "") for r in rels.findall("rel:Relationship", _NS)
                           if r.get("Id") == rel_id), "")
            target = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
            sheet = ElementTree.fromstring(archive.read(target))
    except (KeyError, zipfile.BadZipFile, ElementTree.ParseError):
        return []
    cells = []
    for cell in sheet.iter(f"{{{_NS['m']}}}c"):
        formula = cell.find("m:f", _NS)
        value = cell.find("m:v", _NS)
        if formula is not None and (value is None or not (value.text or "").strip()):
            cells.append(cell.get("r", "?"))
    return cells


def _rows_from_xlsx(path: Path) -> list[Row]:
    uncomputed = formula_cells_without_value(path)
    if uncomputed:
        raise UserError(
            f"{path}: cell {uncomputed[0]} holds a formula without a computed value"
            f"{f' (and {len(uncomputed) - 1} more)' if len(uncomputed) > 1 else ''}; "
            f"open and save it in a spreadsheet program, or paste values"
        )
    try:
        import fastexcel
    except ImportError:  # pragma: no cover - fastexcel is a dependency
        raise UserError("reading .xlsx needs fastexcel: pip install fastexcel") from None
    try:
        reader = fastexcel.read_excel(str(path))
        sheet = reader.load_sheet(0, header_row=None, skip_rows=0)  # row 1 is row 1
        frame = sheet.to_polars()
    except Exception as exc:
        raise UserError(f"{path}: cannot read the workbook ({type(exc).__name__}: {exc})") from None
    rows: list[Row] = []
    for number, record in enumerate(frame.iter_rows(), start=1):
        cells = ["" if v is None else _cell_text(v) for v in record]
        if any(c.strip() for c in cells):
            rows.append((number, cells))
    if not rows:
        raise UserError(f"{path}: the first sheet is empty")
    return rows


def _cell_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def read_sheet_rows(path: Path) -> list[Row]:
    """All non-empty rows of the sheet's first table, as strings, with their row numbers."""
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    if path.suffix.lower() in {".xlsx", ".xlsm", ".xls"}:
        return _rows_from_xlsx(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    if not raw.strip():
        raise UserError(f"{path}: the file is empty")
    return _rows_from_text(_decode(raw, path), path)


@dataclass(frozen=True)
class Sheet:
    """A sheet's table: a frame of strings (one column per header name), the header's row
    number and the row number of every frame row (1-based, as a spreadsheet counts)."""

    frame: pl.DataFrame
    header_row: int
    row_numbers: list[int]

    def where(self, index: int) -> str:
        """"row N" of frame row index, for messages."""
        return f"row {self.row_numbers[index]}"


def read_sheet(path: Path, is_header: Callable[[list[str]], bool]) -> Sheet:
    """The sheet's table below its header row.

    Rows above the header (titles, notes) are skipped; a header name repeated gets a
    numeric suffix; cells are kept as written, except that a cell of only whitespace is
    empty.
    """
    rows = read_sheet_rows(path)
    header_index = next((i for i, (_, row) in enumerate(rows[:20]) if is_header(row)), None)
    if header_index is None:
        first = ", ".join(clip(c, 30) for c in rows[0][1][:6])
        raise UserError(f"{path}: no header row found in the first 20 rows (first row: {first})")
    header_row, header_cells = rows[header_index]
    header = [h.strip() or f"column_{i + 1}" for i, h in enumerate(header_cells)]
    seen: dict[str, int] = {}
    for i, name in enumerate(header):
        if name in seen:
            seen[name] += 1
            header[i] = f"{name}_{seen[name]}"
        else:
            seen[name] = 0
    width = len(header)
    body = rows[header_index + 1:]
    cells = [(row + [""] * width)[:width] for _, row in body]
    columns = {name: [row[i] if row[i].strip() else "" for row in cells]
               for i, name in enumerate(header)}
    frame = pl.DataFrame(columns, schema={n: pl.String for n in header})
    return Sheet(frame, header_row, [number for number, _ in body])
