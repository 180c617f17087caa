"""Read a spreadsheet (CSV/TSV or XLSX) into a Polars frame of strings, robustly.

Handles a UTF-8 BOM, Latin-1 text, `;`/tab/`,` delimiters and a few title rows above
the header (the header is the first row that ``is_header`` accepts). Every problem is a
UserError naming the file.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import polars as pl

from vlmrate.errors import UserError

SHEET_SUFFIXES = {".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".xls"}


def _decode(raw: bytes, path: Path) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    for encoding in ("utf-8", "cp1252", "latin-1"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UserError(f"{path}: cannot decode the text (not UTF-8 or Latin-1)")


def _delimiter(lines: list[str]) -> str:
    sample = "\n".join(lines[:20])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        counts = {d: sample.count(d) for d in ",;\t|"}
        return max(counts, key=counts.get) if any(counts.values()) else ","


def _rows_from_text(text: str, path: Path) -> list[list[str]]:
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise UserError(f"{path}: the file is empty")
    delimiter = _delimiter(lines)
    return [list(row) for row in csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)]


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


def _rows_from_xlsx(path: Path) -> list[list[str]]:
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
        sheet = reader.load_sheet(0, header_row=None)
        frame = sheet.to_polars()
    except Exception as exc:
        raise UserError(f"{path}: cannot read the workbook ({type(exc).__name__}: {exc})") from None
    rows = []
    for record in frame.iter_rows():
        cells = ["" if v is None else _cell_text(v) for v in record]
        if any(c.strip() for c in cells):
            rows.append(cells)
    if not rows:
        raise UserError(f"{path}: the first sheet is empty")
    return rows


def _cell_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def read_sheet_rows(path: Path) -> list[list[str]]:
    """All non-empty rows of the sheet's first table, as strings."""
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


def read_sheet(path: Path, is_header: Callable[[list[str]], bool]) -> tuple[pl.DataFrame, int]:
    """The sheet as a frame of strings, and the 1-based file row number of its header.

    Rows above the header (titles, notes) are skipped; cells are stripped; a header name
    repeated gets a numeric suffix.
    """
    rows = read_sheet_rows(path)
    header_index = next((i for i, row in enumerate(rows[:20]) if is_header(row)), None)
    if header_index is None:
        raise UserError(
            f"{path}: no header row found in the first 20 rows "
            f"(first row: {', '.join(rows[0][:6])})"
        )
    header = [h.strip() or f"column_{i + 1}" for i, h in enumerate(rows[header_index])]
    seen: dict[str, int] = {}
    for i, name in enumerate(header):
        if name in seen:
            seen[name] += 1
            header[i] = f"{name}_{seen[name]}"
        else:
            seen[name] = 0
    width = len(header)
    body = [(row + [""] * width)[:width] for row in rows[header_index + 1:]]
    columns = {name: [row[i].strip() for row in body] for i, name in enumerate(header)}
    return pl.DataFrame(columns, schema={n: pl.String for n in header}), header_index + 1
