"""Cases worth reading: the images where the model is furthest above or below the
humans, and those where its answers vary most, each with every answer it gave."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from .frames import per_image

CASE_COLUMNS = ["rank", "image_id", "aspect", "mean", "sd", "n", "human", "d", "answers"]


@dataclass(frozen=True)
class Cases:
    """Each frame has ``CASE_COLUMNS``: rank (1 = most extreme), image_id, aspect, model
    mean, sd, n (valid answers), human mean, d = mean - human, and ``answers``: a list
    of structs {repeat, rating, reason, parse_error, engine_error} in repeat order."""

    most_positive: pl.DataFrame  # largest d first (model above humans)
    most_negative: pl.DataFrame  # smallest d first (model below humans)
    most_variable: pl.DataFrame  # largest SD first


def _answers(ratings: pl.DataFrame, aspect: str, ids: pl.Series) -> pl.DataFrame:
    cols = ["repeat", "rating", "reason", "parse_error", "engine_error"]
    frame = ratings.filter((pl.col("aspect") == aspect) & pl.col("image_id").is_in(ids.implode()))
    frame = frame.with_columns(
        [pl.lit(None, dtype=pl.String).alias(c) for c in cols if c not in frame.columns]
    )
    return (
        frame.select(
            pl.col("image_id").cast(pl.String),
            pl.col("repeat").cast(pl.Int64),
            pl.col("rating").cast(pl.Int64),
            *(pl.col(c).cast(pl.String) for c in cols[2:]),
        )
        .sort("image_id", "repeat")
        .group_by("image_id", maintain_order=True)
        .agg(pl.struct(cols).alias("answers"))
    )


def _with_answers(top: pl.DataFrame, ratings: pl.DataFrame, aspect: str) -> pl.DataFrame:
    answers = _answers(ratings, aspect, top.get_column("image_id"))
    return (
        top.with_row_index("rank", offset=1)
        .with_columns(pl.col("rank").cast(pl.Int64), pl.lit(aspect).alias("aspect"))
        .join(answers, on="image_id", how="left", maintain_order="left")
        .select(CASE_COLUMNS)
    )


def cases(
    ratings: pl.DataFrame,
    human: pl.DataFrame,
    aspect: str,
    *,
    n: int = 10,
    table: pl.DataFrame | None = None,
) -> Cases:
    """Top ``n`` images by d (both ends; images with model and human ratings) and by SD
    (images with >= 2 valid answers). Ties break by image_id. ``table`` may be a
    precomputed :func:`per_image` frame that includes ``aspect``."""
    if table is None:
        table = per_image(ratings, human, [aspect])
    t = table.select(
        "image_id",
        pl.col(f"{aspect}_mean").alias("mean"),
        pl.col(f"{aspect}_sd").alias("sd"),
        pl.col(f"{aspect}_n").alias("n"),
        pl.col(f"{aspect}_human").alias("human"),
        pl.col(f"{aspect}_d").alias("d"),
    )
    with_d = t.filter(pl.col("d").is_not_null())
    pos = with_d.sort(["d", "image_id"], descending=[True, False]).head(n)
    neg = with_d.sort(["d", "image_id"]).head(n)
    var = t.filter(pl.col("sd").is_not_null()).sort(["sd", "image_id"], descending=[True, False])
    return Cases(
        most_positive=_with_answers(pos, ratings, aspect),
        most_negative=_with_answers(neg, ratings, aspect),
        most_variable=_with_answers(var.head(n), ratings, aspect),
    )
