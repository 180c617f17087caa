"""The run's workbook (xlsxwriter) plus CSV / Parquet of its ratings.

`write_workbook` lays out what the statistics already computed (the `stats --json` dict
and the per-image frame); `export_run` computes them with vlmrate.stats and writes.

Sheets (DESIGN.md, "Workbook"): Summary, Ratings, PerImage, Reliability, Agreement,
ErrorsByK, CrossByK, Cases, Answers.

Speed: the three big sheets (Ratings and Answers: one row per answer; PerImage: one row
per image) would cost ~4 µs per cell through xlsxwriter's Python cell writers, i.e. tens of
seconds for a 600,000-answer run. xlsxwriter therefore writes them with their header row,
column formats, frozen panes and autofilter only, and their rows are rendered column-wise
with Polars straight into the sheet XML while the file is assembled (`_assemble`). Every
text cell there is an inline string (`t="inlineStr"`), so model text can never become a
formula, a number or a link. All other sheets are small and written cell by cell with
`write_string` for every text.

Writing is atomic: the workbook is built in memory, written to a temporary file next to
the target and renamed over it, so a failed export never leaves a half-written workbook.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import zipfile
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any
from xml.etree import ElementTree

import polars as pl
import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.utility import xl_col_to_name, xl_rowcol_to_cell
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from vlmrate.errors import UserError
from vlmrate.store import LoadedRun
from vlmrate.summary import run_counts

SHEETS = ("Summary", "Ratings", "PerImage", "Reliability", "Agreement", "ErrorsByK",
          "CrossByK", "Cases", "Answers")
EXCEL_MAX_CHARS = 32_767
EXCEL_MAX_ROWS = 1_048_576
TRUNCATED = " …[truncated by vlmrate: Excel holds at most 32,767 characters per cell]"
TOP_N = 10

WORKBOOK_OPTIONS = {"strings_to_formulas": False, "strings_to_urls": False,
                    "strings_to_numbers": False, "nan_inf_to_errors": True,
                    "in_memory": True}

P_FORMAT = "[<0.0001]0.00E+00;0.0000"
STAT_FORMAT = "0.000"

# Characters XML 1.0 cannot carry; Excel writes them as _xHHHH_.
# (and CR, which XML readers would turn into LF; xlsxwriter's own rule, minus nothing).
_XML_INVALID = re.compile("[\x00-\x08\x0b-\x1f\ufffe\uffff]")
_XML_INVALID_PL = r"[\x00-\x08\x0B-\x1F\x{FFFE}\x{FFFF}]"
_ESCAPE_LITERAL = re.compile(r"(_x[0-9A-Fa-f]{4}_)")
_ESCAPE_LITERAL_PL = r"(_x[0-9A-Fa-f]{4}_)"
_RENDER_BATCH = 50_000
_ZIP_LEVEL = 1


# --- small helpers -----------------------------------------------------------------------

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


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def _dig(data: Any, path: str) -> Any:
    """data["a"]["b"]... for "a.b"; list indices as digits; None when absent."""
    for part in path.split("."):
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list | tuple) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


def default_path(run: LoadedRun) -> Path:
    return Path(run.path) / f"{run.name}.xlsx"


def companion_path(xlsx: Path, suffix: str) -> Path:
    """<stem>.ratings.csv / .parquet next to the workbook."""
    return xlsx.with_name(f"{xlsx.stem}.ratings{suffix}")


# --- target checks and atomic replacement ----------------------------------------------

def check_target(path: Path, *, expect_suffix: str | None = ".xlsx") -> Path:
    """Raise UserError (one line) unless path can be written; returns it made absolute."""
    path = Path(path).expanduser()
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UserError(f"{path}: is a directory; give a file name, e.g. {path / 'run.xlsx'}")
    if expect_suffix and path.suffix.lower() != expect_suffix:
        raise UserError(f"{path}: the file name must end in {expect_suffix}")
    if not parent.exists():
        raise UserError(f"{path}: folder {parent} does not exist")
    if not parent.is_dir():
        raise UserError(f"{path}: {parent} is not a folder")
    for lock in (parent / f".~lock.{path.name}#", parent / f"~${path.name}"):
        if lock.exists():
            raise UserError(f"{path}: is open in another program (lock file {lock.name}); "
                            "close it and export again")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"{path}: permission denied (cannot write in {parent})")
    if path.exists() and not os.access(path, os.W_OK):
        raise UserError(f"{path}: permission denied (the file is read-only)")
    return path


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[IO[bytes]]:
    """A binary handle on a temp file beside path, renamed over path on success."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        handle = open(tmp, "wb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise UserError(f"{path}: cannot write ({exc.strerror})") from None
    try:
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise UserError(f"{path}: cannot write ({exc.strerror}); is it open in another "
                        "program?") from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


# --- formats -------------------------------------------------------------------------------

class _Formats:
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
        self.int = wb.add_format({**base, "num_format": "0"})
        self.stat = wb.add_format({**base, "num_format": STAT_FORMAT})
        self.p = wb.add_format({**base, "num_format": P_FORMAT})
        self.bool = wb.add_format({**base, "align": "center"})

    def of(self, kind: str) -> Format:
        return {"text": self.text, "wrap": self.wrap, "int": self.int, "stat": self.stat,
                "p": self.p, "bool": self.bool, "key": self.key}[kind]


def _put(ws: Worksheet, row: int, col: int, value: Any, fmt: Format | None) -> None:
    """One cell: numbers as numbers, everything else as a string; None/NaN stays empty."""
    if _is_missing(value):
        return
    if isinstance(value, bool):
        ws.write_boolean(row, col, value, fmt)
    elif isinstance(value, int | float):
        ws.write_number(row, col, value, fmt)
    elif isinstance(value, str):
        ws.write_string(row, col, excel_text(value), fmt)
    else:
        ws.write_string(row, col, excel_text(json.dumps(value, ensure_ascii=False)), fmt)


def _header(ws: Worksheet, row: int, names: Sequence[str], fmts: _Formats,
            col: int = 0) -> None:
    for i, name in enumerate(names):
        ws.write_string(row, col + i, name, fmts.header)


# --- the bulk sheets, rendered column-wise -----------------------------------------------

@dataclass
class _Column:
    source: str     # column of the frame
    header: str
    kind: str       # "text" | "wrap" | "int" | "stat"
    width: float


@dataclass
class _Bulk:
    sheet: str
    frame: pl.DataFrame
    columns: list[_Column]
    formats: list[Format]
    first_row: int = 1  # 0-based row of the first data row (the header is row 0)


def _bulk_sheet(wb: Workbook, fmts: _Formats, name: str, frame: pl.DataFrame,
                columns: list[_Column], freeze_cols: int) -> list[_Bulk]:
    """Header, widths, panes and filter now; the rows are added by _assemble."""
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
        _header(ws, 0, [c.header for c in columns], fmts)
        ws.freeze_panes(1, freeze_cols)
        ws.autofilter(0, 0, max(part.height, 1), len(columns) - 1)
        out.append(_Bulk(sheet, part, columns, formats))
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

    def __init__(self, bulk: _Bulk, xf: list[int]) -> None:
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


def _assemble(book: bytes, bulks: list[_Bulk], out: IO[bytes]) -> None:
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


# --- sheet contents --------------------------------------------------------------------------

def _answers_order(run: LoadedRun) -> pl.DataFrame:
    order = {a: i for i, a in enumerate(run.aspects)}
    return (run.ratings
            .with_columns(pl.col("aspect").replace_strict(order, default=len(order),
                                                          return_dtype=pl.Int64).alias("_o"))
            .sort(["image_id", "_o", "repeat"], maintain_order=True).drop("_o"))


RATINGS_COLUMNS = [
    _Column("image_id", "image_id", "text", 16), _Column("aspect", "aspect", "text", 11),
    _Column("repeat", "repeat", "int", 7), _Column("rating", "rating", "int", 7),
    _Column("reason", "reason", "wrap", 70), _Column("parse_error", "parse_error", "text", 12),
    _Column("engine_error", "engine_error", "wrap", 20), _Column("seed", "seed", "int", 12),
    _Column("prompt_tokens", "prompt_tokens", "int", 9),
    _Column("output_tokens", "output_tokens", "int", 9),
    _Column("latency_s", "latency_s", "stat", 9),
    _Column("expected_rating", "expected_rating", "stat", 9),
]
ANSWERS_COLUMNS = [
    _Column("image_id", "image_id", "text", 16), _Column("aspect", "aspect", "text", 11),
    _Column("repeat", "repeat", "int", 7), _Column("raw", "raw", "wrap", 90),
    _Column("parse_error", "parse_error", "text", 12),
    _Column("finish_reason", "finish_reason", "text", 10),
]


def per_image_table(run: LoadedRun, per_image: pl.DataFrame,
                    repeats: int | None = None) -> tuple[pl.DataFrame, list[_Column]]:
    """The PerImage sheet as a frame, one row per rated image: image_id, then per aspect <a>_1..<a>_K (the answers'
    ratings, empty for a failed answer), <a>_mean, <a>_sd, <a>_n, <a>_human, <a>_d."""
    ratings = run.ratings
    k = int(repeats or run.repeats or 0)
    # the images the model rated (per_image may also list human-only images: left out)
    ids = ratings.select(pl.col("image_id").unique()).sort("image_id")
    wide = ratings.filter(pl.col("repeat").is_between(1, k)).select(
        "image_id", (pl.col("aspect") + "_" + pl.col("repeat").cast(pl.String)).alias("key"),
        "rating")
    table = ids
    if wide.height:
        pivot = wide.pivot(on="key", index="image_id", values="rating",
                           aggregate_function="first")
        table = table.join(pivot, on="image_id", how="left")
    if per_image.height:
        table = table.join(per_image, on="image_id", how="left")
    columns = [_Column("image_id", "image_id", "text", 16)]
    for aspect in run.aspects:
        for r in range(1, k + 1):
            columns.append(_Column(f"{aspect}_{r}", f"{aspect}_{r}", "int", 6))
        for suffix, kind in (("mean", "stat"), ("sd", "stat"), ("n", "int"), ("human", "stat"),
                             ("d", "stat")):
            columns.append(_Column(f"{aspect}_{suffix}", f"{aspect}_{suffix}", kind, 9))
    missing = [c for c in columns if c.source not in table.columns]
    if missing:
        table = table.with_columns(
            [pl.lit(None, pl.Int64 if c.kind == "int" else pl.Float64).alias(c.source)
             for c in missing])
    return table.select([c.source for c in columns]), columns


def _summary(wb: Workbook, fmts: _Formats, run: LoadedRun, stats: dict) -> None:
    ws = wb.add_worksheet("Summary")
    ws.set_column(0, 0, 30)
    ws.set_column(1, 1, 16)
    ws.set_column(2, 24, 12)
    m = run.manifest
    counts = run_counts(run)
    pa = counts["per_aspect"]
    parse_failures = int(pa["parse_failures"].sum()) if pa.height else 0
    engine_errors = int(pa["engine_errors"].sum()) if pa.height else 0
    study = m.get("study", {}) or {}
    engine = dict(m.get("engine", {}) or {})
    dataset = m.get("dataset", {}) or {}
    human = m.get("human", {}) or {}

    def kv(d: dict) -> str:
        return ", ".join(f"{k}={v}" for k, v in d.items() if v is not None)

    facts: list[tuple[str, Any]] = [
        ("run", run.name), ("status", run.status), ("folder", str(run.path)),
        ("model", m.get("model")), ("engine", engine.pop("name", None)),
        ("engine options", kv(engine)), ("sampling", kv(m.get("sampling", {}) or {})),
        ("prompt set", study.get("name")),
        ("scale", "{}..{}".format(*run.scale)),
    ]
    for aspect in study.get("aspects", []) or []:
        facts.append((f"prompt sha256 ({aspect.get('name')})", aspect.get("sha256")))
    fingerprint = dataset.get("fingerprint")
    facts += [
        ("dataset", dataset.get("path")),
        ("dataset fingerprint", fingerprint if fingerprint is None or isinstance(
            fingerprint, str) else json.dumps(fingerprint, ensure_ascii=False)),
        ("human sheet", human.get("path")),
        ("human columns", json.dumps(human.get("column_map"), ensure_ascii=False)
         if human.get("column_map") else None),
        ("created", m.get("created")), ("updated", m.get("updated")),
        ("versions", kv(m.get("versions", {}) or {})),
        ("images", counts["images"]), ("images with human ratings", counts["matched"]),
        ("answers", counts["answers"]), ("valid ratings", counts["valid"]),
        ("parse failures", parse_failures), ("engine errors", engine_errors),
        ("TOST bound", stats.get("bound")), ("alpha", stats.get("alpha")),
    ]
    for warning in (human.get("warnings") or []):
        facts.append(("human sheet note", warning))
    ws.write_string(0, 0, f"vlmrate — {run.name}", fmts.title)
    row = 2
    for key, value in facts:
        ws.write_string(row, 0, key, fmts.key)
        _put(ws, row, 1, value, fmts.int if isinstance(value, int) else fmts.text)
        row += 1
    row += 1
    ws.write_string(row, 0, "Headline per aspect (d = model mean − human mean)", fmts.section)
    row += 1
    _headline(ws, fmts, row, run.aspects, stats)
    prompts = [(a.get("name"), a.get("prompt")) for a in study.get("aspects", []) or []
               if a.get("prompt")]
    if prompts:
        row = _headline_end(run.aspects, row) + 2
        ws.write_string(row, 0, "Prompts", fmts.section)
        for name, text in prompts:
            row += 1
            ws.write_string(row, 0, f"prompt ({name})", fmts.key)
            ws.merge_range(row, 1, row, 12, "", fmts.wrap)
            ws.write_string(row, 1, excel_text(str(text)), fmts.wrap)
            ws.set_row(row, min(409, 15 * (1 + str(text).count("\n") + len(str(text)) // 140)))


HEADLINE: list[tuple[str, str, str]] = [
    ("n images", "n_images", "int"),
    ("mean d", "tost.mean_diff", "stat"),
    ("SD d", "tost.sd_diff", "stat"),
    ("Wilcoxon W+", "wilcoxon.w_plus", "stat"),
    ("Wilcoxon W−", "wilcoxon.w_minus", "stat"),
    ("p (model > human)", "wilcoxon.p_greater", "p"),
    ("p (model < human)", "wilcoxon.p_less", "p"),
    ("p (two-sided)", "wilcoxon.p_two_sided", "p"),
    ("TOST p", "tost.p", "p"),
    ("TOST equivalent", "tost.equivalent", "bool"),
    ("TOST-Wilcoxon p", "tost_wilcoxon.p", "p"),
    ("TOST-Wilcoxon equivalent", "tost_wilcoxon.equivalent", "bool"),
    ("Pearson r", "pearson_vs_human.r", "stat"),
    ("Pearson p", "pearson_vs_human.p", "p"),
    ("ICC1", "icc.ICC1.value", "stat"),
    ("ICC1k", "icc.ICC1k.value", "stat"),
    ("SD mean (stability)", "stability.sd_mean", "stat"),
    ("parse failures", "parse_failures", "int"),
    ("engine errors", "engine_errors", "int"),
]


def _headline_end(aspects: list[str], start: int) -> int:
    return start + len(aspects)


def _headline(ws: Worksheet, fmts: _Formats, row: int, aspects: list[str], stats: dict) -> None:
    _header(ws, row, ["aspect", *[h for h, _, _ in HEADLINE]], fmts)
    ws.set_row(row, 30)
    for i, aspect in enumerate(aspects, start=1):
        data = (stats.get("aspects") or {}).get(aspect, {})
        ws.write_string(row + i, 0, aspect, fmts.key)
        for j, (_, key, kind) in enumerate(HEADLINE, start=1):
            _put(ws, row + i, j, _dig(data, key), fmts.of(kind))


Row = tuple[str, str, str, str]  # section, statistic, key in stats["aspects"][a], kind

RELIABILITY_ROWS: list[Row] = [
    ("images", "n images (model and human)", "n_images", "int"),
    ("stability", "SD of repeats: mean", "stability.sd_mean", "stat"),
    ("stability", "SD of repeats: median", "stability.sd_median", "stat"),
    *[(name, label, f"icc.{name}.{key}", kind)
      for name in ("ICC1", "ICC1k")
      for label, key, kind in (
          (f"{name}", "value", "stat"), ("F", "F", "stat"), ("df1", "df1", "stat"),
          ("df2", "df2", "stat"), ("p", "p", "p"), ("95% CI lower", "ci95.0", "stat"),
          ("95% CI upper", "ci95.1", "stat"))],
    ("icc_reference", "ICC as in the reference study", "icc.icc_reference", "stat"),
    ("answers", "parse failures", "parse_failures", "int"),
    ("answers", "engine errors", "engine_errors", "int"),
]

AGREEMENT_ROWS: list[Row] = [
    ("images", "n images (model and human)", "n_images", "int"),
    ("Wilcoxon signed-rank on d", "W+", "wilcoxon.w_plus", "stat"),
    ("Wilcoxon signed-rank on d", "W−", "wilcoxon.w_minus", "stat"),
    ("Wilcoxon signed-rank on d", "p (model > human)", "wilcoxon.p_greater", "p"),
    ("Wilcoxon signed-rank on d", "p (model < human)", "wilcoxon.p_less", "p"),
    ("Wilcoxon signed-rank on d", "p (two-sided)", "wilcoxon.p_two_sided", "p"),
    ("TOST (paired t)", "bound", "tost.bound", "stat"),
    ("TOST (paired t)", "mean d", "tost.mean_diff", "stat"),
    ("TOST (paired t)", "SD d", "tost.sd_diff", "stat"),
    ("TOST (paired t)", "t lower", "tost.t_lower", "stat"),
    ("TOST (paired t)", "p lower", "tost.p_lower", "p"),
    ("TOST (paired t)", "t upper", "tost.t_upper", "stat"),
    ("TOST (paired t)", "p upper", "tost.p_upper", "p"),
    ("TOST (paired t)", "p", "tost.p", "p"),
    ("TOST (paired t)", "equivalent", "tost.equivalent", "bool"),
    ("TOST (Wilcoxon)", "p lower", "tost_wilcoxon.p_lower", "p"),
    ("TOST (Wilcoxon)", "p upper", "tost_wilcoxon.p_upper", "p"),
    ("TOST (Wilcoxon)", "p", "tost_wilcoxon.p", "p"),
    ("TOST (Wilcoxon)", "equivalent", "tost_wilcoxon.equivalent", "bool"),
    ("Bland–Altman", "bias", "agreement.ba_bias", "stat"),
    ("Bland–Altman", "lower limit", "agreement.ba_lower", "stat"),
    ("Bland–Altman", "upper limit", "agreement.ba_upper", "stat"),
    ("ICC two-way", "ICC(A,1)", "agreement.icc_a1", "stat"),
    ("ICC two-way", "ICC(C,1)", "agreement.icc_c1", "stat"),
    ("bootstrap 95% CI", "MAE lower", "agreement.mae_ci95.0", "stat"),
    ("bootstrap 95% CI", "MAE upper", "agreement.mae_ci95.1", "stat"),
    ("bootstrap 95% CI", "r lower", "agreement.r_ci95.0", "stat"),
    ("bootstrap 95% CI", "r upper", "agreement.r_ci95.1", "stat"),
    ("Pearson vs human", "r", "pearson_vs_human.r", "stat"),
    ("Pearson vs human", "p", "pearson_vs_human.p", "p"),
]


def _by_aspect_sheet(wb: Workbook, fmts: _Formats, name: str, rows: list[Row],
                     aspects: list[str], stats: dict) -> tuple[Worksheet, int]:
    """Statistics as rows, aspects as columns; column 'field' names the stats --json key."""
    ws = wb.add_worksheet(name)
    _header(ws, 0, ["section", "statistic", *aspects, "field (stats --json)"], fmts)
    ws.set_column(0, 0, 26)
    ws.set_column(1, 1, 28)
    ws.set_column(2, 1 + len(aspects), 13)
    ws.set_column(2 + len(aspects), 2 + len(aspects), 30)
    per = stats.get("aspects") or {}
    for r, (section, label, key, kind) in enumerate(rows, start=1):
        ws.write_string(r, 0, section, fmts.text)
        ws.write_string(r, 1, label, fmts.key)
        for c, aspect in enumerate(aspects, start=2):
            _put(ws, r, c, _dig(per.get(aspect, {}), key), fmts.of(kind))
        ws.write_string(r, 2 + len(aspects), key, fmts.text)
    ws.freeze_panes(1, 2)
    ws.autofilter(0, 0, len(rows), 2 + len(aspects))
    return ws, len(rows)


def _reliability(wb: Workbook, fmts: _Formats, aspects: list[str], stats: dict) -> None:
    ws, n = _by_aspect_sheet(wb, fmts, "Reliability", RELIABILITY_ROWS, aspects, stats)
    row = n + 3
    ws.write_string(row, 0, "Between aspects: Pearson r of the per-image model means",
                    fmts.section)
    _header(ws, row + 1, ["pair", "r", "p"], fmts)
    for i, (pair, value) in enumerate((stats.get("between_aspects") or {}).items(),
                                      start=row + 2):
        ws.write_string(i, 0, pair, fmts.text)
        _put(ws, i, 1, _dig(value, "r"), fmts.stat)
        _put(ws, i, 2, _dig(value, "p"), fmts.p)


ERRORS_COLUMNS: list[tuple[str, str, str]] = [
    ("k", "k", "int"), ("n images", "n", "int"), ("MAE", "mae", "stat"),
    ("MSE", "mse", "stat"), ("r", "r", "stat"),
    ("MAE random k-subsets", "mae_subsets", "stat"),
    ("subsets 95% lower", "mae_subsets_ci95.0", "stat"),
    ("subsets 95% upper", "mae_subsets_ci95.1", "stat"),
]


def _errors_by_k(wb: Workbook, fmts: _Formats, aspects: list[str], stats: dict) -> None:
    ws = wb.add_worksheet("ErrorsByK")
    _header(ws, 0, ["aspect", *[h for h, _, _ in ERRORS_COLUMNS]], fmts)
    ws.set_row(0, 30)
    ws.set_column(0, 0, 12)
    ws.set_column(1, len(ERRORS_COLUMNS), 11)
    per = stats.get("aspects") or {}
    row = 1
    spans: list[tuple[str, int, int]] = []
    for aspect in aspects:
        entries = per.get(aspect, {}).get("errors_by_k") or []
        if not entries:
            continue
        start = row
        for entry in entries:
            ws.write_string(row, 0, aspect, fmts.text)
            for c, (_, key, kind) in enumerate(ERRORS_COLUMNS, start=1):
                _put(ws, row, c, _dig(entry, key), fmts.of(kind))
            row += 1
        spans.append((aspect, start, row - 1))
    ws.freeze_panes(1, 1)
    ws.autofilter(0, 0, max(row - 1, 1), len(ERRORS_COLUMNS))
    if not spans:  # an empty run: no chart (xlsxwriter refuses charts without series)
        return
    anchor = xl_col_to_name(len(ERRORS_COLUMNS) + 2)
    for n, (title, col, y_title) in enumerate((
        ("MAE of the mean of the first k repeats vs human", 3, "MAE"),
        ("Pearson r of the mean of the first k repeats vs human", 5, "r"),
    )):
        chart = wb.add_chart({"type": "line"})
        for aspect, first, last in spans:
            chart.add_series({
                "name": aspect,
                "categories": ["ErrorsByK", first, 1, last, 1],
                "values": ["ErrorsByK", first, col, last, col],
                "marker": {"type": "circle", "size": 5},
            })
        chart.set_title({"name": title, "name_font": {"size": 11}})
        chart.set_x_axis({"name": "k (repeats averaged)"})
        chart.set_y_axis({"name": y_title, "major_gridlines": {"visible": True}})
        chart.set_size({"width": 620, "height": 320})
        ws.insert_chart(f"{anchor}{2 + n * 17}", chart)


def _cross_by_k(wb: Workbook, fmts: _Formats, stats: dict) -> None:
    ws = wb.add_worksheet("CrossByK")
    ws.write_string(0, 0, "Pearson r between the model mean of the first k repeats (rows: "
                    "model aspect) and the human means (columns: human aspect)", fmts.section)
    ws.set_column(0, 0, 24)
    ws.set_column(1, 20, 12)
    ws.freeze_panes(1, 1)
    row = 2
    for k, matrix in (stats.get("cross_by_k") or {}).items():
        human_aspects: list[str] = list(dict.fromkeys(
            h for values in matrix.values() for h in (values or {})))
        ws.write_string(row, 0, f"k = {k}", fmts.section)
        _header(ws, row + 1, ["model \\ human", *human_aspects], fmts)
        row += 2
        for model_aspect, values in matrix.items():
            ws.write_string(row, 0, model_aspect, fmts.key)
            for c, human in enumerate(human_aspects, start=1):
                _put(ws, row, c, (values or {}).get(human), fmts.stat)
            row += 1
        row += 1


CASES_HEADER = ["list", "rank", "image_id", "aspect", "model mean", "model SD", "n",
                "human", "d", "flagged", "note", "answers (#repeat [rating] reason)"]


def _answers_text(frame: pl.DataFrame) -> str:
    lines = []
    for rec in frame.iter_rows(named=True):
        rating = "—" if rec["rating"] is None else str(rec["rating"])
        text = rec["reason"]
        if not text:
            problem = rec["engine_error"] or rec["parse_error"]
            text = f"({problem}) {rec['raw'] or ''}".strip() if problem else (rec["raw"] or "")
        lines.append(f"#{rec['repeat']} [{rating}] {text}")
    return "\n".join(lines)


def case_rows(run: LoadedRun, per_image: pl.DataFrame, top_n: int = TOP_N) -> list[dict]:
    """The Cases sheet's rows: reviewed cases first, then per aspect the top_n images by d
    (both ends) and by SD, as vlmrate.stats.cases ranks them."""
    rows: list[dict] = []
    stats_of: dict[tuple[str, str], dict] = {}
    known = set(per_image.columns)

    def stat(image_id: str, aspect: str) -> dict:
        return stats_of.get((image_id, aspect), {})

    for aspect in run.aspects:
        cols = [f"{aspect}_{s}" for s in ("mean", "sd", "n", "human", "d")]
        if not set(cols) <= known:
            continue
        for rec in per_image.select("image_id", *cols).iter_rows():
            stats_of[(rec[0], aspect)] = dict(zip(("mean", "sd", "n", "human", "d"), rec[1:],
                                                  strict=True))
    for image_id in sorted(run.review):
        for aspect, entry in run.review[image_id].items():
            note = (entry.get("note") or "").strip()
            if entry.get("flagged") or note:
                rows.append({"list": "reviewed (flagged or noted)", "image_id": image_id,
                             "aspect": aspect, "flagged": bool(entry.get("flagged")),
                             "note": entry.get("note") or ""})
    from vlmrate.stats.cases import cases

    for aspect in run.aspects:
        if f"{aspect}_d" not in known or f"{aspect}_sd" not in known:
            continue
        ranked_lists = cases(run.ratings, run.human, aspect, n=top_n, table=per_image)
        lists = (
            ("d highest (model above human)", ranked_lists.most_positive),
            ("d lowest (model below human)", ranked_lists.most_negative),
            ("SD highest (least stable)", ranked_lists.most_variable),
        )
        for label, ranked in lists:
            for rank, image_id in enumerate(ranked["image_id"].to_list(), 1):
                review = run.review.get(image_id, {}).get(aspect, {})
                rows.append({"list": label, "rank": rank, "image_id": image_id,
                             "aspect": aspect, "flagged": bool(review.get("flagged")),
                             "note": review.get("note") or ""})
    if not rows:
        return rows
    keys = pl.DataFrame({"image_id": [r["image_id"] for r in rows],
                         "aspect": [r["aspect"] for r in rows]}).unique()
    answers = run.ratings.join(keys, on=["image_id", "aspect"], how="semi").sort(
        ["image_id", "aspect", "repeat"])
    texts = {(key[0], key[1]): _answers_text(group)
             for key, group in answers.group_by(["image_id", "aspect"], maintain_order=True)}
    for row in rows:
        row.update({f"model {k}" if k in ("mean", "sd") else k: v
                    for k, v in stat(row["image_id"], row["aspect"]).items()})
        row["answers"] = texts.get((row["image_id"], row["aspect"]), "")
    return rows


def _cases(wb: Workbook, fmts: _Formats, run: LoadedRun, per_image: pl.DataFrame,
           top_n: int) -> None:
    ws = wb.add_worksheet("Cases")
    _header(ws, 0, CASES_HEADER, fmts)
    for col, width in enumerate((28, 6, 16, 11, 10, 10, 5, 9, 9, 8, 40, 90)):
        ws.set_column(col, col, width)
    rows = case_rows(run, per_image, top_n)
    fields = [("list", fmts.text), ("rank", fmts.int), ("image_id", fmts.text),
              ("aspect", fmts.text), ("model mean", fmts.stat), ("model sd", fmts.stat),
              ("n", fmts.int), ("human", fmts.stat), ("d", fmts.stat), ("flagged", fmts.bool),
              ("note", fmts.wrap), ("answers", fmts.wrap)]
    for r, rec in enumerate(rows, start=1):
        for c, (key, fmt) in enumerate(fields):
            value = rec.get(key)
            if isinstance(value, str):
                if value:
                    ws.write_string(r, c, excel_text(value), fmt)
            else:
                _put(ws, r, c, value, fmt)
    ws.freeze_panes(1, 3)
    ws.autofilter(0, 0, max(len(rows), 1), len(fields) - 1)


# --- public API --------------------------------------------------------------------------------

def write_workbook(run: LoadedRun, stats_json: dict, per_image: pl.DataFrame, path: Path,
                   *, top_n: int = TOP_N) -> Path:
    """Write the run's workbook to path (atomically) and return path.

    stats_json is the `vlmrate stats --json` object (vlmrate.stats.to_json_dict),
    per_image the frame of vlmrate.stats.per_image (image_id, <a>_mean/_sd/_n/_human/_d).
    Raises UserError with one line when path cannot be written.
    """
    path = check_target(Path(path))
    buffer = io.BytesIO()
    wb = xlsxwriter.Workbook(buffer, WORKBOOK_OPTIONS)
    fmts = _Formats(wb)
    ordered = _answers_order(run)
    _summary(wb, fmts, run, stats_json)
    bulks = _bulk_sheet(wb, fmts, "Ratings", ordered, RATINGS_COLUMNS, freeze_cols=2)
    table, columns = per_image_table(run, per_image)
    bulks += _bulk_sheet(wb, fmts, "PerImage", table, columns, freeze_cols=1)
    _reliability(wb, fmts, run.aspects, stats_json)
    _by_aspect_sheet(wb, fmts, "Agreement", AGREEMENT_ROWS, run.aspects, stats_json)
    _errors_by_k(wb, fmts, run.aspects, stats_json)
    _cross_by_k(wb, fmts, stats_json)
    _cases(wb, fmts, run, per_image, top_n)
    bulks += _bulk_sheet(wb, fmts, "Answers", ordered, ANSWERS_COLUMNS, freeze_cols=2)
    wb.get_worksheet_by_name("Summary").activate()
    wb.close()
    with atomic_output(path) as handle:
        _assemble(buffer.getvalue(), bulks, handle)
    return path


# A CSV cell a spreadsheet would run as a formula (OWASP "CSV injection") begins with
# = + - @ tab or CR. Written with a leading ' the spreadsheet shows it as text.
CSV_FORMULA_START = r"^[=+\-@\t\r]"


def csv_text_safe(frame: pl.DataFrame) -> pl.DataFrame:
    """Every text cell that begins with = + - @ tab or CR gets a leading ' (numbers stay
    numbers: -1 in a number column is not touched)."""
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(CSV_FORMULA_START)).then(pl.lit("'") + pl.col(name))
        .otherwise(pl.col(name)).alias(name)
        for name, dtype in frame.schema.items() if dtype == pl.String)


def write_ratings_csv(run: LoadedRun, path: Path) -> Path:
    """The ratings as stored (rating_probs as 9 ';'-separated numbers), atomically; text that
    a spreadsheet would take for a formula is prefixed with ' (csv_text_safe)."""
    path = check_target(Path(path), expect_suffix=".csv")
    frame = _answers_order(run).with_columns(
        pl.col("rating_probs").list.eval(pl.element().cast(pl.String)).list.join(";"))
    with atomic_output(path) as handle:
        csv_text_safe(frame).write_csv(handle)
    return path


def write_ratings_parquet(run: LoadedRun, path: Path) -> Path:
    path = check_target(Path(path), expect_suffix=".parquet")
    with atomic_output(path) as handle:
        _answers_order(run).write_parquet(handle)
    return path


def compute_stats(run: LoadedRun, *, bound: float = 0.5, alpha: float = 0.05,
                  k_max: int | None = None, seed: int = 0) -> tuple[dict, pl.DataFrame]:
    """(stats --json dict, per-image frame) from vlmrate.stats, imported only now."""
    try:
        from vlmrate.stats import analyse, to_json_dict
    except ImportError:
        raise UserError("the statistics module (vlmrate.stats) is not available in this "
                        "installation; cannot export") from None
    study = analyse(run.ratings, run.human, run.aspects, bound=bound, alpha=alpha,
                    k_max=k_max, seed=seed, run_name=run.name)
    return to_json_dict(study), study.per_image


def export_run(run: LoadedRun, path: Path | None = None, *, bound: float = 0.5,
               alpha: float = 0.05, k_max: int | None = None, seed: int = 0,
               csv: bool = False, parquet: bool = False, top_n: int = TOP_N) -> list[Path]:
    """Compute the statistics and write the workbook (+ CSV / Parquet of the ratings).

    path defaults to runs/<name>/<name>.xlsx; the CSV and Parquet go beside the workbook
    as <stem>.ratings.csv / .parquet. Returns the written paths. The TUI's export action
    calls this too.
    """
    target = Path(path) if path is not None else default_path(run)
    check_target(target)
    extra = []
    if csv:
        extra.append((write_ratings_csv, companion_path(target, ".csv")))
    if parquet:
        extra.append((write_ratings_parquet, companion_path(target, ".parquet")))
    for _, companion in extra:
        check_target(companion, expect_suffix=companion.suffix)
    stats_json, per_image = compute_stats(run, bound=bound, alpha=alpha, k_max=k_max,
                                          seed=seed)
    written = [write_workbook(run, stats_json, per_image, target, top_n=top_n)]
    written += [writer(run, companion) for writer, companion in extra]
    return written
