"""`vlmrate import`: ratings made elsewhere become a run every analysis accepts.

Two layouts are read: long (image_id, aspect, repeat, rating[, reason][,
expected_rating]; an empty rating is an answer that could not be parsed, an
expected_rating is a logprob-style expected rating, a number in the scale or empty) and
wide (an id column plus one column per aspect and repeat, e.g. Relevance_1..Relevance_10).
Aspect order: the wide sheet's column order; for the long layout, the human sheet's
column order, so the order of the rows never matters.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from vlmrate.dataset import (
    SAME_ID_RULE,
    HumanSheet,
    find_id_column,
    first_id_clash,
    read_human_sheet,
)
from vlmrate.errors import UserError, clip, clip_list
from vlmrate.settings import run_dir_for
from vlmrate.sheets import Sheet, is_missing, read_sheet
from vlmrate.store import (
    HUMAN,
    MANIFEST,
    RATINGS,
    RATINGS_SCHEMA,
    now_iso,
    write_human,
    write_manifest,
)
from vlmrate.versions import package_versions

MISSING = "missing"  # parse_error code of an empty rating cell
_WIDE_COLUMN = re.compile(r"^(?P<aspect>[A-Za-z][A-Za-z ]*?)[ _\-]?(?P<repeat>\d+)$")


@dataclass
class ImportedRatings:
    frame: pl.DataFrame  # RATINGS_SCHEMA
    aspects: list[str]
    layout: str


def _is_ratings_header(row: list[str]) -> bool:
    return find_id_column(row, None) is not None


def _parse_rating(cell: str, where: str, scale: tuple[int, int]) -> int | None:
    if is_missing(cell):
        return None
    try:
        value = float(cell.strip())
    except ValueError:
        raise UserError(f"{where}: rating {clip(cell)} is not a number") from None
    if not value.is_integer():
        raise UserError(f"{where}: rating {clip(cell)} is not an integer")
    if not scale[0] <= value <= scale[1]:
        raise UserError(f"{where}: rating {clip(cell)} is outside the scale "
                        f"{scale[0]}..{scale[1]}")
    return int(value)


def _parse_expected(cell: str | None, where: str, scale: tuple[int, int]) -> float | None:
    if cell is None or is_missing(cell):
        return None
    try:
        value = float(cell.strip())
    except ValueError:
        raise UserError(f"{where}: expected_rating {clip(cell)} is not a number") from None
    if not scale[0] <= value <= scale[1]:
        raise UserError(f"{where}: expected_rating {clip(cell)} is outside the scale "
                        f"{scale[0]}..{scale[1]}")
    return value


def _check_ids(path: Path, sheet: Sheet, ids: list[str], id_col: str) -> None:
    """Every id present, and two different ids never naming the same image (the rule
    `vlmrate run` applies to image files and human sheets)."""
    for i, image_id in enumerate(ids):
        if not image_id:
            raise UserError(f"{path}: {sheet.where(i)}: empty {clip(id_col)}")
    distinct = list(dict.fromkeys(ids))
    clash = first_id_clash(distinct)
    if clash is not None:
        a, b = distinct[clash[0]], distinct[clash[1]]
        row_a, row_b = sheet.row_numbers[ids.index(a)], sheet.row_numbers[ids.index(b)]
        raise UserError(f"{path}: duplicate image id: {clip(a)} (row {row_a}) and {clip(b)} "
                        f"(row {row_b}) name the same image ({SAME_ID_RULE}); write one id "
                        f"per image")


def read_ratings_sheet(path: Path, scale: tuple[int, int] = (1, 9)) -> ImportedRatings:
    sheet = read_sheet(path, _is_ratings_header)
    lowered = {c.lower(): c for c in sheet.frame.columns}
    id_col = find_id_column(sheet.frame.columns, None)
    assert id_col is not None
    if "aspect" in lowered and "rating" in lowered:
        return _read_long(path, sheet, lowered, id_col, scale)
    return _read_wide(path, sheet, id_col, scale)


def _read_long(path: Path, sheet: Sheet, lowered: dict[str, str], id_col: str,
               scale: tuple[int, int]) -> ImportedRatings:
    frame = sheet.frame
    if "repeat" not in lowered:
        raise UserError(f"{path}: long layout needs a 'repeat' column "
                        f"(columns: {clip_list(frame.columns)})")
    reason_col = lowered.get("reason")
    expected_col = lowered.get("expected_rating")
    ids = [cell.strip() for cell in frame[id_col].to_list()]
    _check_ids(path, sheet, ids, id_col)
    aspects_col = [cell.strip() for cell in frame[lowered["aspect"]].to_list()]
    repeats_col = frame[lowered["repeat"]].to_list()
    ratings_col = frame[lowered["rating"]].to_list()
    reasons = frame[reason_col].to_list() if reason_col else [None] * len(ids)
    expected_cells = frame[expected_col].to_list() if expected_col else [None] * len(ids)
    rows_repeat, rows_rating, rows_expected, seen = [], [], [], {}
    for i, (image_id, aspect, repeat, rating) in enumerate(
        zip(ids, aspects_col, repeats_col, ratings_col, strict=True)
    ):
        where = f"{path}: {sheet.where(i)}"
        if not aspect:
            raise UserError(f"{where}: empty aspect")
        try:
            number = float(repeat.strip())
        except ValueError:
            raise UserError(f"{where}: repeat {clip(repeat)} is not a whole number") from None
        if not number.is_integer():
            raise UserError(f"{where}: repeat {clip(repeat)} is not a whole number")
        rep = int(number)
        if rep < 1:
            raise UserError(f"{where}: repeat {clip(repeat)} must be 1 or more")
        key = (image_id, aspect.lower(), rep)
        if key in seen:
            raise UserError(f"{where}: ({clip(image_id)}, {clip(aspect)}, repeat {rep}) "
                            f"repeats {sheet.where(seen[key])}")
        seen[key] = i
        rows_repeat.append(rep)
        rows_rating.append(_parse_rating(rating, where, scale))
        rows_expected.append(_parse_expected(expected_cells[i], where, scale))
    aspects = [a.lower() for a in aspects_col]
    out = _records(ids, aspects, rows_repeat, rows_rating,
                   [r if r else None for r in reasons], rows_expected)
    return ImportedRatings(out, list(dict.fromkeys(aspects)), "long")


def _read_wide(path: Path, sheet: Sheet, id_col: str, scale: tuple[int, int]
               ) -> ImportedRatings:
    frame = sheet.frame
    columns: list[tuple[str, str, int]] = []
    for col in frame.columns:
        if col == id_col:
            continue
        match = _WIDE_COLUMN.match(col.strip())
        if match:
            columns.append((col, match["aspect"].strip().lower().replace(" ", "_"),
                            int(match["repeat"])))
    if not columns:
        raise UserError(
            f"{path}: neither long (image_id, aspect, repeat, rating) nor wide "
            f"(e.g. relevance_1..relevance_10) columns found; columns: "
            f"{clip_list(frame.columns)}"
        )
    ids = [cell.strip() for cell in frame[id_col].to_list()]
    _check_ids(path, sheet, ids, id_col)
    seen: dict[str, int] = {}
    for i, image_id in enumerate(ids):
        if image_id in seen:
            raise UserError(f"{path}: duplicate id {clip(image_id)} in rows "
                            f"{sheet.row_numbers[seen[image_id]]} and {sheet.row_numbers[i]}")
        seen[image_id] = i
    out_ids, out_aspects, out_repeats, out_ratings = [], [], [], []
    for col, aspect, rep in columns:
        for i, cell in enumerate(frame[col].to_list()):
            out_ids.append(ids[i])
            out_aspects.append(aspect)
            out_repeats.append(rep)
            out_ratings.append(_parse_rating(
                cell, f"{path}: {sheet.where(i)}, column {clip(col)}", scale))
    aspects = list(dict.fromkeys(a for _, a, _ in columns))
    out = _records(out_ids, out_aspects, out_repeats, out_ratings, [None] * len(out_ids))
    order = {a: i for i, a in enumerate(aspects)}
    out = out.with_columns(pl.col("aspect").replace_strict(order).alias("_o")).sort(
        ["image_id", "_o", "repeat"], maintain_order=True).drop("_o")
    return ImportedRatings(out, aspects, "wide")


def _records(ids: list, aspects: list, repeats: list, ratings: list, reasons: list,
             expected: list | None = None) -> pl.DataFrame:
    """Records of RATINGS_SCHEMA for imported ratings (an empty rating is "missing")."""
    if not ids:
        return pl.DataFrame(schema=RATINGS_SCHEMA)
    frame = pl.DataFrame(
        {"image_id": ids, "aspect": aspects, "repeat": repeats, "rating": ratings,
         "reason": reasons, "expected_rating": expected or [None] * len(ids)},
        schema={"image_id": pl.String, "aspect": pl.String, "repeat": pl.Int64,
                "rating": pl.Int64, "reason": pl.String, "expected_rating": pl.Float64},
    )
    return frame.with_columns(
        pl.lit(None, pl.Int64).alias("seed"),
        pl.col("rating").alias("raw_rating"),
        pl.col("reason").alias("raw"),
        pl.when(pl.col("rating").is_null()).then(pl.lit(MISSING)).otherwise(None)
        .alias("parse_error"),
        pl.lit(None, pl.String).alias("finish_reason"),
        pl.lit(None, pl.Int64).alias("prompt_tokens"),
        pl.lit(None, pl.Int64).alias("output_tokens"),
        pl.lit(None, pl.Float64).alias("latency_s"),
        pl.lit(None, pl.List(pl.Float64)).alias("rating_probs"),
        pl.lit(None, pl.Float64).alias("digit_mass"),
        pl.lit(None, pl.String).alias("engine_error"),
        pl.lit(None, pl.String).alias("server"),
        pl.lit(now_iso()).alias("time"),
    ).select(list(RATINGS_SCHEMA)).cast(RATINGS_SCHEMA)


def _human_sheet_order(aspects: list[str], human: HumanSheet) -> list[str]:
    """The aspects in the order of their mean columns in the human sheet (not the order
    they first appear in the ratings rows, which a sort or a shuffle changes)."""
    position = {c: i for i, c in enumerate(human.header)}

    def key(aspect: str) -> tuple[int, str]:
        column = human.columns.get(aspect, {}).get("mean")
        return (position.get(column, len(position)) if column else len(position), aspect)

    return sorted(aspects, key=key)


def import_run(ratings_path: Path, human_path: Path, run_name: str,
               runs_dir: Path = Path("runs"), *, model: str = "unknown",
               id_column: str | None = None, scale: tuple[int, int] = (1, 9)) -> Path:
    """Create runs_dir/run_name from a ratings sheet and a human sheet. Returns the folder."""
    ratings_path, human_path = Path(ratings_path), Path(human_path)
    run_dir = run_dir_for(runs_dir, run_name)
    _check_free(run_dir)
    imported = read_ratings_sheet(ratings_path, scale)
    if imported.frame.is_empty():
        raise UserError(f"{ratings_path}: no ratings rows")
    image_ids = imported.frame["image_id"].unique(maintain_order=True).to_list()
    human = read_human_sheet(human_path, imported.aspects, id_column=id_column, scale=scale,
                             image_ids=image_ids, id_source="model-rated image")
    if imported.layout == "long":
        imported.aspects = _human_sheet_order(imported.aspects, human)
    repeats = int(imported.frame["repeat"].max())
    manifest = {
        "name": run_name,
        "status": "imported",
        "study": {
            "name": "imported",
            "scale": {"min": scale[0], "max": scale[1]},
            "aspects": [{"name": a, "prompt": None, "sha256": None} for a in imported.aspects],
        },
        "model": model,
        "engine": {"name": "import", "source": str(ratings_path.resolve()),
                   "layout": imported.layout},
        "sampling": {"repeats": repeats},
        "dataset": {"path": None, "n_images": len(image_ids)},
        "human": {"path": str(human_path.resolve()), "column_map": human.column_map(),
                  "warnings": human.warnings},
        "total_jobs": imported.frame.height,
        "versions": package_versions(),
        "created": now_iso(),
    }
    _write_run(run_dir, imported.frame, human.frame, manifest)
    return run_dir


# The temp folder of an import being written: '~' is no run-name character, so no run is
# ever mistaken for one (list_runs skips them).
STAGING_PREFIX = ".import~"
_RUN_FILES = (RATINGS, HUMAN, MANIFEST)  # in the order they are written; the manifest last


def _check_free(run_dir: Path) -> None:
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"{run_dir} is a file, not a run folder: choose another --run")
    taken = [name for name in _RUN_FILES if (run_dir / name).exists()]
    if taken:
        raise UserError(f"run {run_dir} already exists ({', '.join(taken)}): choose another "
                        f"--run or remove it")


def _new_staging_folder(runs_dir: Path, name: str) -> Path:
    """A new, empty temp folder in runs_dir, made with the usual permissions (the umask's:
    tempfile.mkdtemp's 0700 would make the imported run private)."""
    for _ in range(100):
        staging = runs_dir / f"{STAGING_PREFIX}{name[:40]}~{secrets.token_hex(4)}"
        try:
            staging.mkdir()
            return staging
        except FileExistsError:
            continue
    raise OSError(errno.EEXIST, "no free name for a temporary folder", str(runs_dir))


def _write_run(run_dir: Path, ratings: pl.DataFrame, human: pl.DataFrame, manifest: dict
               ) -> None:
    """Write the run's files into a new temp folder beside run_dir, then move them in.

    run_dir appears whole or not at all; on any error only what this call created is
    removed (a folder that was already there keeps every file it had).
    """
    runs_dir = run_dir.parent
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        staging = _new_staging_folder(runs_dir, run_dir.name)
    except OSError as exc:
        raise UserError(f"{runs_dir}: cannot create the run there "
                        f"({exc.strerror or exc})") from None
    moved: list[Path] = []
    try:
        ratings.write_ndjson(staging / RATINGS)
        write_human(staging, human)
        write_manifest(staging, manifest)
        if not run_dir.exists():
            try:
                os.rename(staging, run_dir)  # the usual case: the run appears in one step
                return
            except OSError as exc:  # made by someone else meanwhile: add to it below
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
        _check_free(run_dir)
        for name in _RUN_FILES:  # a folder with other files (notes): add ours beside them
            os.link(staging / name, run_dir / name)  # fails rather than replace a file
            moved.append(run_dir / name)
    except OSError as exc:
        for path in reversed(moved):
            with contextlib.suppress(OSError):
                path.unlink()
        raise UserError(f"{run_dir}: cannot write the run ({exc.strerror or exc}); "
                        f"nothing that was there before was changed") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
