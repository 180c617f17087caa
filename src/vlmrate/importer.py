"""`vlmrate import`: ratings made elsewhere become a run every analysis accepts.

Two layouts are read: long (image_id, aspect, repeat, rating[, reason]; an empty rating
is an answer that could not be parsed) and wide (an id column plus one column per
aspect and repeat, e.g. Relevance_1..Relevance_10).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from vlmrate.dataset import find_id_column, read_human_sheet
from vlmrate.errors import UserError
from vlmrate.settings import run_dir_for
from vlmrate.sheets import read_sheet
from vlmrate.store import (
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
    if cell == "" or cell.upper() in {"NA", "NAN", "NULL", "NONE"}:
        return None
    try:
        value = float(cell)
    except ValueError:
        raise UserError(f"{where}: rating {cell!r} is not a number") from None
    if not value.is_integer():
        raise UserError(f"{where}: rating {cell!r} is not an integer")
    if not scale[0] <= value <= scale[1]:
        raise UserError(f"{where}: rating {cell} is outside the scale {scale[0]}..{scale[1]}")
    return int(value)


def read_ratings_sheet(path: Path, scale: tuple[int, int] = (1, 9)) -> ImportedRatings:
    frame, header_row = read_sheet(path, _is_ratings_header)
    lowered = {c.lower(): c for c in frame.columns}
    id_col = find_id_column(frame.columns, None)
    assert id_col is not None
    first = header_row + 1
    if "aspect" in lowered and "rating" in lowered:
        return _read_long(path, frame, lowered, id_col, first, scale)
    return _read_wide(path, frame, id_col, first, scale)


def _read_long(path: Path, frame: pl.DataFrame, lowered: dict[str, str], id_col: str,
               first: int, scale: tuple[int, int]) -> ImportedRatings:
    if "repeat" not in lowered:
        raise UserError(f"{path}: long layout needs a 'repeat' column "
                        f"(columns: {', '.join(frame.columns)})")
    reason_col = lowered.get("reason")
    ids = frame[id_col].to_list()
    aspects_col = frame[lowered["aspect"]].to_list()
    repeats_col = frame[lowered["repeat"]].to_list()
    ratings_col = frame[lowered["rating"]].to_list()
    reasons = frame[reason_col].to_list() if reason_col else [None] * len(ids)
    rows_repeat, rows_rating, seen = [], [], {}
    for i, (image_id, aspect, repeat, rating) in enumerate(
        zip(ids, aspects_col, repeats_col, ratings_col, strict=True)
    ):
        where = f"{path}: row {first + i}"
        if not image_id:
            raise UserError(f"{where}: empty {id_col!r}")
        if not aspect:
            raise UserError(f"{where}: empty aspect")
        try:
            rep = int(float(repeat))
        except ValueError:
            raise UserError(f"{where}: repeat {repeat!r} is not a whole number") from None
        if rep < 1:
            raise UserError(f"{where}: repeat {repeat} must be 1 or more")
        key = (image_id, aspect.lower(), rep)
        if key in seen:
            raise UserError(f"{where}: ({image_id}, {aspect}, repeat {rep}) repeats row "
                            f"{first + seen[key]}")
        seen[key] = i
        rows_repeat.append(rep)
        rows_rating.append(_parse_rating(rating, where, scale))
    aspects = [a.lower() for a in aspects_col]
    out = _records(ids, aspects, rows_repeat, rows_rating,
                   [r if r else None for r in reasons])
    return ImportedRatings(out, list(dict.fromkeys(aspects)), "long")


def _read_wide(path: Path, frame: pl.DataFrame, id_col: str, first: int,
               scale: tuple[int, int]) -> ImportedRatings:
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
            f"(e.g. relevance_1..relevance_10) columns found; columns: {', '.join(frame.columns)}"
        )
    ids = frame[id_col].to_list()
    seen: dict[str, int] = {}
    for i, image_id in enumerate(ids):
        if not image_id:
            raise UserError(f"{path}: row {first + i}: empty {id_col!r}")
        if image_id in seen:
            raise UserError(f"{path}: duplicate id {image_id!r} in rows {first + seen[image_id]} "
                            f"and {first + i}")
        seen[image_id] = i
    out_ids, out_aspects, out_repeats, out_ratings = [], [], [], []
    for col, aspect, rep in columns:
        for i, cell in enumerate(frame[col].to_list()):
            out_ids.append(ids[i])
            out_aspects.append(aspect)
            out_repeats.append(rep)
            out_ratings.append(_parse_rating(cell, f"{path}: row {first + i}, column {col!r}",
                                             scale))
    aspects = list(dict.fromkeys(a for _, a, _ in columns))
    out = _records(out_ids, out_aspects, out_repeats, out_ratings, [None] * len(out_ids))
    order = {a: i for i, a in enumerate(aspects)}
    out = out.with_columns(pl.col("aspect").replace_strict(order).alias("_o")).sort(
        ["image_id", "_o", "repeat"], maintain_order=True).drop("_o")
    return ImportedRatings(out, aspects, "wide")


def _records(ids: list, aspects: list, repeats: list, ratings: list, reasons: list
             ) -> pl.DataFrame:
    """Records of RATINGS_SCHEMA for imported ratings (an empty rating is "missing")."""
    if not ids:
        return pl.DataFrame(schema=RATINGS_SCHEMA)
    frame = pl.DataFrame(
        {"image_id": ids, "aspect": aspects, "repeat": repeats, "rating": ratings,
         "reason": reasons},
        schema={"image_id": pl.String, "aspect": pl.String, "repeat": pl.Int64,
                "rating": pl.Int64, "reason": pl.String},
    )
    return frame.with_columns(
        pl.lit(None, pl.Int64).alias("seed"),
        pl.col("reason").alias("raw"),
        pl.when(pl.col("rating").is_null()).then(pl.lit(MISSING)).otherwise(None)
        .alias("parse_error"),
        pl.lit(None, pl.String).alias("finish_reason"),
        pl.lit(None, pl.Int64).alias("prompt_tokens"),
        pl.lit(None, pl.Int64).alias("output_tokens"),
        pl.lit(None, pl.Float64).alias("latency_s"),
        pl.lit(None, pl.Float64).alias("expected_rating"),
        pl.lit(None, pl.List(pl.Float64)).alias("rating_probs"),
        pl.lit(None, pl.String).alias("engine_error"),
        pl.lit(None, pl.String).alias("server"),
        pl.lit(now_iso()).alias("time"),
    ).select(list(RATINGS_SCHEMA)).cast(RATINGS_SCHEMA)


def import_run(ratings_path: Path, human_path: Path, run_name: str,
               runs_dir: Path = Path("runs"), *, model: str = "unknown",
               id_column: str | None = None, scale: tuple[int, int] = (1, 9)) -> Path:
    """Create runs_dir/run_name from a ratings sheet and a human sheet. Returns the folder."""
    ratings_path, human_path = Path(ratings_path), Path(human_path)
    run_dir = run_dir_for(runs_dir, run_name)
    if (run_dir / MANIFEST).exists() or (run_dir / RATINGS).exists():
        raise UserError(f"run {run_dir} already exists: choose another --run or remove it")
    imported = read_ratings_sheet(ratings_path, scale)
    if imported.frame.is_empty():
        raise UserError(f"{ratings_path}: no ratings rows")
    image_ids = imported.frame["image_id"].unique(maintain_order=True).to_list()
    human = read_human_sheet(human_path, imported.aspects, id_column=id_column, scale=scale,
                             image_ids=image_ids, id_source="model-rated image")
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
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        imported.frame.write_ndjson(run_dir / RATINGS)
        write_human(run_dir, human.frame)
        write_manifest(run_dir, manifest)
    except OSError as exc:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise UserError(f"{run_dir}: cannot write the run ({exc.strerror})") from None
    return run_dir
