"""A dataset: a folder of images plus an optional sheet of human ratings.

Image ids are file stems. Sheet ids match them case-insensitively and regardless of
zero padding (``pic1`` = ``pic001`` = ``PIC001.jpg``). The human sheet is validated and
turned into a long frame: image_id, aspect, human_mean, human_sd, human_n.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from vlmrate.errors import UserError, clip, clip_list
from vlmrate.inputs.sheets import is_missing, read_sheet

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
ID_COLUMN_NAMES = ("image_id", "imageid", "image", "img", "id", "picture", "pic", "filename",
                   "file", "stimulus", "name")
HUMAN_SCHEMA = {"image_id": pl.String, "aspect": pl.String, "human_mean": pl.Float64,
                "human_sd": pl.Float64, "human_n": pl.Int64}


def normalise_id(value: str) -> str:
    """The matching key of an id: lower case, no extension, no zero padding."""
    text = value.strip().lower()
    suffix = Path(text).suffix
    if suffix in IMAGE_SUFFIXES:
        text = text[: -len(suffix)]
    return re.sub(r"\d+", lambda m: str(int(m.group())), text)


SAME_ID_RULE = "ids match regardless of case, extension and zero padding"


def first_id_clash(ids: list[str]) -> tuple[int, int] | None:
    """Positions (earlier, later) of the first two ids that name the same image, or None.

    The one rule for every reader of ids (image files, human sheets, imported ratings).
    """
    keys: dict[str, int] = {}
    for i, image_id in enumerate(ids):
        key = normalise_id(image_id)
        if key in keys:
            return keys[key], i
        keys[key] = i
    return None


@dataclass(frozen=True, slots=True)
class ImageEntry:
    image_id: str
    path: Path
    size: int


def discover_images(folder: Path) -> list[ImageEntry]:
    """Images directly in folder (or folder/images), sorted by file name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder")
    if (folder / "images").is_dir():
        folder = folder / "images"
    entries: list[ImageEntry] = []
    paths = [path for path in sorted(folder.iterdir(), key=lambda p: p.name)
             if path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")]
    clash = first_id_clash([path.stem for path in paths])
    if clash is not None:
        first, second = paths[clash[0]].name, paths[clash[1]].name
        raise UserError(f"{folder}: {first} and {second} have the same image id "
                        f"({SAME_ID_RULE})")
    for path in paths:
        try:
            size = path.lstat().st_size
        except OSError:
            size = -1
        entries.append(ImageEntry(path.stem, path, size))
    if not entries:
        raise UserError(f"{folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return entries


def fingerprint(images: list[ImageEntry]) -> str:
    digest = hashlib.sha256()
    for entry in images:
        digest.update(f"{entry.image_id}\t{entry.size}\n".encode())
    return digest.hexdigest()


def find_human_sheet(folder: Path) -> Path | None:
    """The dataset's human sheet: human.csv / human.xlsx beside the images, if present."""
    for name in ("human.csv", "human.xlsx", "human.tsv"):
        if (Path(folder) / name).is_file():
            return Path(folder) / name
    return None


@dataclass
class HumanSheet:
    """Validated human ratings: long frame plus the column map and warnings."""

    path: Path
    frame: pl.DataFrame  # HUMAN_SCHEMA, one row per (image_id, aspect)
    id_column: str
    columns: dict[str, dict[str, str]]  # aspect -> {"mean": col, "sd": col?, "n": col?}
    warnings: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)  # the sheet's columns, in order

    @property
    def image_ids(self) -> list[str]:
        return self.frame["image_id"].unique(maintain_order=True).to_list()

    def column_map(self) -> dict:
        return {"id": self.id_column, "aspects": self.columns}


def find_id_column(header: list[str], explicit: str | None) -> str | None:
    lowered = {h.strip().lower(): h for h in header}
    if explicit:
        return lowered.get(explicit.lower())
    for name in ID_COLUMN_NAMES:
        if name in lowered:
            return lowered[name]
    return None


def _aspect_columns(header: list[str], aspect: str) -> dict[str, str]:
    """Columns of one aspect: mean (required), sd and n (optional), found by name."""
    a = aspect.lower()
    norm = {re.sub(r"[\s\-\.]+", "_", h.strip().lower()): h for h in header}
    found: dict[str, str] = {}
    for key in (a, f"{a}_mean", f"mean_{a}", f"{a}_m", f"{a}_avg", f"avg_{a}", f"m_{a}"):
        if key in norm:
            found["mean"] = norm[key]
            break
    for key in (f"{a}_sd", f"{a}_std", f"sd_{a}", f"std_{a}"):
        if key in norm:
            found["sd"] = norm[key]
            break
    for key in (f"{a}_n", f"n_{a}", f"{a}_count"):
        if key in norm:
            found["n"] = norm[key]
            break
    return found


def _to_float(cell: str) -> float:
    """A number, accepting a decimal comma ("4,5") as European sheets write it."""
    if cell.count(",") == 1 and "." not in cell:
        cell = cell.replace(",", ".")
    return float(cell)


def read_human_sheet(
    path: Path,
    aspects: list[str],
    *,
    id_column: str | None = None,
    column_map: dict[str, str] | None = None,
    scale: tuple[int, int] = (1, 9),
    image_ids: list[str] | None = None,
    id_source: str = "image",
    aspects_from: str | None = None,
) -> HumanSheet:
    """Read and validate a human sheet. Errors are one clear UserError line.

    column_map maps an aspect to its mean column when names do not reveal it. When
    image_ids is given, sheet ids are matched to them (and the frame uses the image's id).
    """
    path = Path(path)

    def is_header(row: list[str]) -> bool:
        return find_id_column(row, id_column) is not None

    sheet = read_sheet(path, is_header)
    frame = sheet.frame
    header = frame.columns
    id_col = find_id_column(header, id_column)
    assert id_col is not None
    if frame.is_empty():
        raise UserError(f"{path}: no rows below the header (row {sheet.header_row})")
    columns: dict[str, dict[str, str]] = {}
    for aspect in aspects:
        if column_map and aspect in column_map:
            if column_map[aspect] not in header:
                raise UserError(f"{path}: column {clip(column_map[aspect])} for {aspect!r} "
                                f"not found")
            columns[aspect] = {"mean": column_map[aspect]}
            continue
        found = _aspect_columns(header, aspect)
        if "mean" not in found:
            if aspects_from:  # the aspect came from a ratings file: it may be the typo
                raise UserError(
                    f"{aspects_from}: aspect {clip(aspect)} is not in the human sheet {path} "
                    f"(its columns: {clip_list(header)}); check its spelling in "
                    f"{aspects_from}")
            raise UserError(
                f"{path}: no column for aspect {aspect!r} (looked for '{aspect}', "
                f"'{aspect}_mean'; columns are: {clip_list(header)})"
            )
        columns[aspect] = found

    ids = [cell.strip() for cell in frame[id_col].to_list()]
    for i, raw_id in enumerate(ids):
        if not raw_id:
            raise UserError(f"{path}: {sheet.where(i)}: empty {clip(id_col)}")
    clash = first_id_clash(ids)
    if clash is not None:
        a, b = clash
        if ids[a] == ids[b]:
            raise UserError(f"{path}: duplicate image id {clip(ids[a])} in rows "
                            f"{sheet.row_numbers[a]} and {sheet.row_numbers[b]}")
        raise UserError(f"{path}: duplicate image id: {clip(ids[a])} "
                        f"(row {sheet.row_numbers[a]}) and {clip(ids[b])} "
                        f"(row {sheet.row_numbers[b]}) name the same image ({SAME_ID_RULE})")
    keys = {normalise_id(x) for x in ids}

    warnings: list[str] = []
    matched_ids = list(ids)
    if image_ids is not None:
        by_key = {normalise_id(x): x for x in image_ids}
        matched_ids = [by_key.get(normalise_id(x), x) for x in ids]
        unmatched = [x for x in ids if normalise_id(x) not in by_key]
        missing = [x for x in image_ids if normalise_id(x) not in keys]
        if len(unmatched) == len(ids):
            raise UserError(
                f"{path}: none of the {len(ids)} ids matches an image "
                f"(sheet has e.g. {clip(ids[0])}, images are e.g. {clip(image_ids[0])})"
            )
        if unmatched:
            warnings.append(f"{len(unmatched)} sheet rows have no {id_source}: "
                            + clip_list(unmatched[:5]) + (" ..." if len(unmatched) > 5 else ""))
        if missing:
            warnings.append(f"{len(missing)} {id_source} ids have no human rating: "
                            + clip_list(missing[:5]) + (" ..." if len(missing) > 5 else ""))

    lo, hi = scale
    parts = []
    for aspect, cols in columns.items():
        values = {}
        for kind, col in cols.items():
            parsed = []
            for i, cell in enumerate(frame[col].to_list()):
                where = f"{path}: {sheet.where(i)}, column {clip(col)}"
                if is_missing(cell):
                    parsed.append(None)
                    continue
                if cell.startswith("="):
                    raise UserError(f"{where}: a formula ({clip(cell, 30)}) where a number "
                                    f"belongs")
                try:
                    number = _to_float(cell.strip())
                except ValueError:
                    raise UserError(f"{where}: {clip(cell)} is not a number") from None
                if not math.isfinite(number):
                    raise UserError(f"{where}: {clip(cell)} is not a finite number")
                if kind == "mean" and not lo <= number <= hi:
                    raise UserError(f"{where}: {clip(cell)} is outside the scale {lo}..{hi}")
                if kind == "n" and (number < 0 or not number.is_integer()):
                    raise UserError(f"{where}: {clip(cell)} is not a count of raters")
                parsed.append(number)
            values[kind] = parsed
        n = len(ids)
        parts.append(pl.DataFrame({
            "image_id": matched_ids,
            "aspect": [aspect] * n,
            "human_mean": values["mean"],
            "human_sd": values.get("sd", [None] * n),
            "human_n": [None if v is None else int(v) for v in values.get("n", [None] * n)],
        }, schema=HUMAN_SCHEMA))
    long = pl.concat(parts).filter(pl.col("human_mean").is_not_null())
    return HumanSheet(path, long, id_col, columns, warnings, header=list(header))


def human_wide(frame: pl.DataFrame) -> pl.DataFrame:
    """image_id plus one mean column per aspect (study order kept)."""
    aspects = frame["aspect"].unique(maintain_order=True).to_list()
    return frame.pivot(on="aspect", index="image_id", values="human_mean").select(
        ["image_id", *aspects]
    )
