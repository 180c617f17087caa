"""What the screens show, loaded off the UI thread.

Every function here is meant to run inside a thread worker: each imports polars, the
store and the statistics lazily, so that importing the app stays fast. The TUI computes
no statistics of its own: it calls ``vlmrate.stats`` like the CLI does.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl

    from vlmrate.runfolder.store import LoadedRun
    from vlmrate.stats import StudyStats

def fmt(value: Any, digits: int = 2) -> str:
    """A number for a table cell; missing or NaN values as an em dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return "—"
        return f"{value:.{digits}f}"
    return str(value)


@dataclass
class Answer:
    repeat: int
    rating: int | None
    reason: str
    raw: str
    error: str  # "" or the parse error / engine error
    finish_reason: str = ""  # "stop", "length" (the token limit), ...
    expected_rating: float | None = None  # from --logprobs
    rating_probs: list[float] | None = None  # P(1)..P(9) at the rating, from --logprobs


class LazyAnswers(Mapping[str, dict[str, list[Answer]]]):
    """image_id -> aspect -> answers by repeat, built for an image when first asked for.

    Building every Answer of a 20,000-image run up front took ~3 s of Python (600,000
    rows); a screen shows one image at a time. The ratings are sorted by image, aspect
    and repeat once; each image is a zero-copy slice of that frame.
    """

    COLUMNS = ("image_id", "aspect", "repeat", "rating", "reason", "raw", "parse_error",
               "engine_error", "finish_reason", "expected_rating", "rating_probs")

    def __init__(self, ratings: pl.DataFrame) -> None:
        import polars as pl

        self._frame = ratings.select(
            *[pl.col(c) if c in ratings.columns else pl.lit(None).alias(c)
              for c in self.COLUMNS]).sort(["image_id", "aspect", "repeat"])
        counts = self._frame.group_by("image_id", maintain_order=True).agg(
            pl.len().alias("n"))
        ids = counts.get_column("image_id").to_list()
        lengths = counts.get_column("n").to_list()
        starts = [0]
        for n in lengths[:-1]:
            starts.append(starts[-1] + n)
        self._slices = dict(zip(ids, zip(starts, lengths, strict=True), strict=True))
        self._built: dict[str, dict[str, list[Answer]]] = {}

    def __getitem__(self, image_id: str) -> dict[str, list[Answer]]:
        built = self._built.get(image_id)
        if built is None:
            start, length = self._slices[image_id]
            built = {}
            for rec in self._frame.slice(start, length).iter_rows(named=True):
                error = rec["engine_error"] or rec["parse_error"] or ""
                built.setdefault(rec["aspect"], []).append(Answer(
                    repeat=int(rec["repeat"]), rating=rec["rating"],
                    reason=rec["reason"] or "", raw=rec["raw"] or "", error=str(error),
                    finish_reason=rec["finish_reason"] or "",
                    expected_rating=rec["expected_rating"],
                    rating_probs=list(rec["rating_probs"]) if rec["rating_probs"] else None))
            self._built[image_id] = built
        return built

    def __iter__(self) -> Iterator[str]:
        return iter(self._slices)

    def __len__(self) -> int:
        return len(self._slices)

    def __contains__(self, image_id: object) -> bool:
        return image_id in self._slices


def aspect_texts(ratings: pl.DataFrame, ids: list[str], aspects: list[str]) -> pl.DataFrame:
    """image_id + per aspect the lower-case id and that aspect's reasons (by repeat), in
    the columns filter_expr.text_column names (what plain text in the filter searches)."""
    import polars as pl

    from vlmrate.tui.filter_expr import text_column

    reasons = (ratings.filter(pl.col("reason").is_not_null() & (pl.col("reason") != ""))
               .sort(["image_id", "aspect", "repeat"])
               .group_by("image_id", "aspect", maintain_order=True)
               .agg(pl.col("reason").str.join(" ")))
    out = pl.DataFrame({"image_id": ids}, schema={"image_id": pl.String})
    lower_id = pl.col("image_id").str.to_lowercase()
    for aspect in aspects:
        mine = reasons.filter(pl.col("aspect") == aspect).select(
            "image_id", pl.col("reason").alias("_r"))
        out = out.join(mine, on="image_id", how="left").with_columns(
            pl.when(pl.col("_r").is_null()).then(lower_id)
            .otherwise(pl.concat_str(lower_id, pl.lit(" "), pl.col("_r").str.to_lowercase()))
            .alias(text_column(aspect))).drop("_r")
    return out


@dataclass
class RunData:
    """A run as the Results and Case screens need it."""

    run: LoadedRun
    table: pl.DataFrame  # per_image()
    rows: dict[str, dict[str, Any]]  # image_id -> per_image row
    answers: Mapping[str, dict[str, list[Answer]]]  # image_id -> aspect -> answers by repeat
    human: dict[str, dict[str, tuple[float | None, float | None, int | None]]]
    images: dict[str, Path] = field(default_factory=dict)  # normalised id -> image file
    images_note: str = ""  # why there are no images
    view: dict[str, Any] = field(default_factory=dict)  # the Results view saved last
    review_problems: list[str] = field(default_factory=list)  # what review.json set aside
    categories: list[str] = field(default_factory=list)  # the flag categories of the run

    @property
    def aspects(self) -> list[str]:
        return self.run.aspects

    @property
    def review(self) -> dict[str, dict[str, dict]]:
        return self.run.review

    def image_path(self, image_id: str) -> Path | None:
        from vlmrate.inputs.dataset import normalise_id

        return self.images.get(normalise_id(image_id))

    def flagged(self, image_id: str) -> list[str]:
        entries = self.review.get(image_id, {})
        return [a for a in self.aspects if entries.get(a, {}).get("flagged")]

    def entry(self, image_id: str, aspect: str) -> dict[str, Any]:
        """The review of one case ({} when there is none)."""
        return self.review.get(image_id, {}).get(aspect) or {}

    def category(self, image_id: str, aspect: str) -> str | None:
        return self.entry(image_id, aspect).get("category")

    @property
    def logprobs(self) -> bool:
        """Whether any answer has an expected rating (a --logprobs run)."""
        ratings = self.run.ratings
        return "expected_rating" in ratings.columns and \
            ratings.get_column("expected_rating").is_not_null().any()

    def note(self, image_id: str, aspect: str) -> str:
        return str(self.review.get(image_id, {}).get(aspect, {}).get("note", "") or "")

    def has_note(self, image_id: str) -> bool:
        return any(e.get("note") for e in self.review.get(image_id, {}).values())


def _images_of(manifest: dict) -> tuple[dict[str, Path], str]:
    from vlmrate.errors import UserError
    from vlmrate.inputs.dataset import discover_images, normalise_id

    dataset = manifest.get("dataset") or {}
    folders = [dataset.get("path")]
    parts = dataset.get("parts")
    if not folders[0] and isinstance(parts, list):  # a merged run: its parts' folders
        folders = list(dict.fromkeys(p.get("path") for p in parts if isinstance(p, dict)))
    folders = [f for f in folders if isinstance(f, str) and f]
    if not folders:
        return {}, "no image folder recorded for this run (imported ratings)"
    found: dict[str, Path] = {}
    problem = ""
    for folder in folders:
        try:
            entries = discover_images(Path(folder))
        except UserError as exc:
            problem = problem or str(exc)
            continue
        for entry in entries:
            found.setdefault(normalise_id(entry.image_id), entry.path)
    return found, "" if found else problem


def load_run_data(run_path: Path) -> RunData:
    """Load a run folder and its per-image table. Runs in a thread worker."""
    from vlmrate.runfolder.review import flag_categories, read_review_file
    from vlmrate.runfolder.store import load_run
    from vlmrate.stats import per_image

    run = load_run(run_path)
    review = read_review_file(run.path)
    run.review = review.cases
    table = per_image(run.ratings, run.human, run.aspects)
    rows = {row["image_id"]: row for row in table.iter_rows(named=True)}

    answers = LazyAnswers(run.ratings)

    human: dict[str, dict[str, tuple[float | None, float | None, int | None]]] = {}
    for rec in run.human.iter_rows(named=True):
        human.setdefault(rec["image_id"], {})[rec["aspect"]] = (
            rec["human_mean"], rec["human_sd"], rec["human_n"])

    images, note = _images_of(run.manifest)
    return RunData(run=run, table=table, rows=rows, answers=answers,
                   human=human, images=images, images_note=note,
                   view=review.view, review_problems=review.problems,
                   categories=flag_categories(run.manifest))


@dataclass
class StatsData:
    """What the Stats screen shows: the `stats --json` object (docs/design.md) + per-image data."""

    stats: dict  # to_json_dict(study)
    study: StudyStats  # what analyse() returned (the Summary tab reads it: stats.layout)
    table: pl.DataFrame
    aspects: list[str]


def load_stats(run: LoadedRun, *, bound: float = 0.5, alpha: float = 0.05,
               seed: int = 0) -> StatsData:
    """analyse() + to_json_dict(), and analyse's own per-image table; in a thread worker."""
    from vlmrate.stats import analyse, to_json_dict

    study = analyse(run.ratings, run.human, run.aspects, bound=bound, alpha=alpha, seed=seed,
                    run_name=run.name)
    return StatsData(stats=to_json_dict(study), study=study, table=study.per_image,
                     aspects=list(run.aspects))


def export(run: LoadedRun) -> Path:
    """The workbook of a run via vlmrate.export.export_run (another module's job)."""
    from vlmrate.export import export_run

    return export_run(run)[0]


def column_values(table: pl.DataFrame, column: str) -> list[float]:
    """The non-null, finite values of one column, for a chart."""
    if column not in table.columns:
        return []
    return [float(v) for v in table[column].to_list()
            if v is not None and not math.isnan(float(v))]


def paired_values(table: pl.DataFrame, x: str, y: str) -> tuple[list[float], list[float]]:
    """Rows where both columns have a finite value."""
    if x not in table.columns or y not in table.columns:
        return [], []
    xs, ys = [], []
    for a, b in zip(table[x].to_list(), table[y].to_list(), strict=True):
        if a is None or b is None or math.isnan(float(a)) or math.isnan(float(b)):
            continue
        xs.append(float(a))
        ys.append(float(b))
    return xs, ys
