"""Shape a run's ratings into the tables and arrays every analysis works on.

All functions take plain Polars frames (see ``vlmrate.stats`` for the input contract) and
return Polars frames or numpy arrays; nothing here computes a statistic.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

KEY = ["image_id", "aspect", "repeat"]


def valid_ratings(ratings: pl.DataFrame) -> pl.DataFrame:
    """Valid answers only: ``image_id, aspect, repeat, rating`` with a non-null rating.

    Rows with a repeat number below 1 are dropped; if a (image_id, aspect, repeat) key
    occurs twice (a redone repeat), the last row wins. Sorted by that key, so that what is
    computed from it (the per-image SD) does not depend on the row order.
    """
    return (
        ratings.lazy()
        .select(
            pl.col("image_id").cast(pl.String),
            pl.col("aspect").cast(pl.String),
            pl.col("repeat").cast(pl.Int64),
            pl.col("rating").cast(pl.Float64),
        )
        .filter(pl.col("rating").is_not_null() & pl.col("rating").is_not_nan())
        .filter(pl.col("repeat") >= 1)
        .unique(subset=KEY, keep="last")
        .sort(KEY)
        .collect()
    )


def human_long(human: pl.DataFrame) -> pl.DataFrame:
    """Human means as ``image_id, aspect, human_mean`` (nulls dropped, one row per key)."""
    return (
        human.lazy()
        .select(
            pl.col("image_id").cast(pl.String),
            pl.col("aspect").cast(pl.String),
            pl.col("human_mean").cast(pl.Float64),
        )
        .filter(pl.col("human_mean").is_not_null() & pl.col("human_mean").is_not_nan())
        .unique(subset=["image_id", "aspect"], keep="last")
        .collect()
    )


def image_index(ratings: pl.DataFrame, human: pl.DataFrame) -> pl.Series:
    """Sorted unique image ids over the ratings and the human sheet."""
    ids = pl.concat(
        [
            ratings.get_column("image_id").cast(pl.String),
            human.get_column("image_id").cast(pl.String),
        ]
    )
    return ids.unique().sort().alias("image_id")


def max_repeat(ratings: pl.DataFrame, aspect: str | None = None) -> int:
    """K: the highest repeat number among all answers (valid or not) of ``aspect``
    (of every aspect when None); 0 when there are none."""
    frame = ratings if aspect is None else ratings.filter(pl.col("aspect") == aspect)
    if frame.height == 0:
        return 0
    top = frame.get_column("repeat").max()
    return max(int(top), 0) if top is not None else 0  # type: ignore[arg-type]


def _row_numbers(keys: pl.DataFrame, image_ids: Sequence[str] | pl.Series) -> pl.DataFrame:
    index = pl.DataFrame(
        {
            "image_id": pl.Series(
                list(image_ids) if not isinstance(image_ids, pl.Series) else image_ids,
                dtype=pl.String,
            )
        }
    ).with_row_index("_row")
    return keys.join(index, on="image_id", how="inner")


def repeat_matrix(
    ratings: pl.DataFrame,
    aspect: str,
    image_ids: Sequence[str] | pl.Series,
    n_repeats: int | None = None,
    *,
    valid: pl.DataFrame | None = None,
) -> np.ndarray:
    """Images x K float array of ``aspect``'s valid ratings; column j is repeat j+1.

    Rows follow ``image_ids``; NaN marks a missing or invalid answer. ``n_repeats``
    defaults to the aspect's K. Pass ``valid`` (from :func:`valid_ratings`) to skip
    recomputing it.
    """
    if n_repeats is None:
        n_repeats = max_repeat(ratings, aspect)
    if valid is None:
        valid = valid_ratings(ratings)
    n_rows = len(image_ids)
    out = np.full((n_rows, n_repeats), np.nan)
    rows = _row_numbers(
        valid.filter((pl.col("aspect") == aspect) & (pl.col("repeat") <= n_repeats)),
        image_ids,
    )
    if rows.height:
        r = rows.get_column("_row").to_numpy()
        c = rows.get_column("repeat").to_numpy() - 1
        out[r, c] = rows.get_column("rating").to_numpy()
    return out


def human_vector(
    human: pl.DataFrame, aspect: str, image_ids: Sequence[str] | pl.Series
) -> np.ndarray:
    """Human mean of ``aspect`` for each of ``image_ids`` (NaN where there is none)."""
    out = np.full(len(image_ids), np.nan)
    rows = _row_numbers(human_long(human).filter(pl.col("aspect") == aspect), image_ids)
    if rows.height:
        out[rows.get_column("_row").to_numpy()] = rows.get_column("human_mean").to_numpy()
    return out


def error_counts(ratings: pl.DataFrame, aspect: str) -> tuple[int, int]:
    """(parse_failures, engine_errors) among all answers of ``aspect``.

    A parse failure is a row with ``parse_error`` set and no ``engine_error``; an engine
    error is a row with ``engine_error`` set. A missing column counts as all-null.
    """
    frame = ratings.filter(pl.col("aspect") == aspect)
    if "engine_error" in frame.columns:
        engine = frame.get_column("engine_error").is_not_null()
    else:
        engine = pl.Series([False] * frame.height)
    if "parse_error" in frame.columns:
        parse = frame.get_column("parse_error").is_not_null() & ~engine
    else:
        parse = pl.Series([False] * frame.height)
    return int(parse.sum()), int(engine.sum())


def failures_per_image(ratings: pl.DataFrame) -> pl.DataFrame:
    """(image_id, aspect, failures): the answers with a parse failure or an engine error
    per image and aspect (error_counts' two kinds together); only pairs with any."""
    columns = [c for c in ("parse_error", "engine_error") if c in ratings.columns]
    if not columns:
        return pl.DataFrame(schema={"image_id": pl.String, "aspect": pl.String,
                                    "failures": pl.Int64})
    bad = pl.any_horizontal([pl.col(c).is_not_null() for c in columns])
    return (ratings.filter(bad).group_by("image_id", "aspect")
            .agg(pl.len().cast(pl.Int64).alias("failures")).sort("image_id", "aspect"))


def per_image(
    ratings: pl.DataFrame,
    human: pl.DataFrame,
    aspects: Sequence[str],
    *,
    valid: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """One row per image id (every id in the ratings or the human sheet, sorted), with,
    for each aspect ``a``: ``a_mean, a_sd`` (ddof 1; null under 2 valid answers), ``a_n``
    (valid answers), ``a_human`` (human mean) and ``a_d`` (model mean - human mean)."""
    if valid is None:
        valid = valid_ratings(ratings)
    valid = valid.filter(pl.col("aspect").is_in(list(aspects)))
    model = valid.group_by("image_id", "aspect").agg(
        pl.col("rating").mean().alias("mean"),
        pl.col("rating").std(ddof=1).alias("sd"),
        pl.len().cast(pl.Int64).alias("n"),
    )
    hum = human_long(human).filter(pl.col("aspect").is_in(list(aspects)))
    out = pl.DataFrame({"image_id": image_index(ratings, human)})
    for a in aspects:
        m = model.filter(pl.col("aspect") == a).select(
            "image_id",
            pl.col("mean").alias(f"{a}_mean"),
            pl.col("sd").alias(f"{a}_sd"),
            pl.col("n").alias(f"{a}_n"),
        )
        h = hum.filter(pl.col("aspect") == a).select(
            "image_id", pl.col("human_mean").alias(f"{a}_human")
        )
        out = out.join(m, on="image_id", how="left").join(h, on="image_id", how="left")
        out = out.with_columns(
            pl.col(f"{a}_n").fill_null(0),
            (pl.col(f"{a}_mean") - pl.col(f"{a}_human")).alias(f"{a}_d"),
        )
    return out.sort("image_id")


def expected_vector(
    ratings: pl.DataFrame, aspect: str, image_ids: Sequence[str] | pl.Series
) -> np.ndarray:
    """e_i: the mean of the image's expected ratings (``expected_rating``, stored by
    --logprobs runs or imported) for ``aspect``, one per ``image_ids`` (NaN where the
    image has none; all NaN when the column is missing). Every answer with an expected
    rating counts, whether or not its text parsed; a redone repeat counts once."""
    out = np.full(len(image_ids), np.nan)
    if "expected_rating" not in ratings.columns:
        return out
    frame = (
        ratings.lazy()
        .filter(pl.col("aspect") == aspect)
        .select(
            pl.col("image_id").cast(pl.String),
            pl.col("repeat").cast(pl.Int64),
            pl.col("expected_rating").cast(pl.Float64),
        )
        .unique(subset=["image_id", "repeat"], keep="last", maintain_order=True)
        .filter(pl.col("expected_rating").is_not_null() & pl.col("expected_rating").is_not_nan())
        .sort("image_id", "repeat")  # the same sum in the same order, whatever the rows
        .group_by("image_id", maintain_order=True)
        .agg(pl.col("expected_rating").mean().alias("e"))
        .collect()
    )
    rows = _row_numbers(frame, image_ids)
    if rows.height:
        out[rows.get_column("_row").to_numpy()] = rows.get_column("e").to_numpy()
    return out


def human_sd_vector(
    human: pl.DataFrame, aspect: str, image_ids: Sequence[str] | pl.Series
) -> np.ndarray:
    """The human sheet's per-image SD of ``aspect`` for each of ``image_ids`` (NaN where
    the sheet has none, all NaN without a ``human_sd`` column)."""
    out = np.full(len(image_ids), np.nan)
    if "human_sd" not in human.columns:
        return out
    frame = (
        human.lazy()
        .filter(pl.col("aspect").cast(pl.String) == aspect)
        .select(pl.col("image_id").cast(pl.String), pl.col("human_sd").cast(pl.Float64))
        .filter(pl.col("human_sd").is_not_null() & pl.col("human_sd").is_not_nan())
        .unique(subset=["image_id"], keep="last")
        .collect()
    )
    rows = _row_numbers(frame, image_ids)
    if rows.height:
        out[rows.get_column("_row").to_numpy()] = rows.get_column("human_sd").to_numpy()
    return out


def human_n_vector(
    human: pl.DataFrame, aspect: str, image_ids: Sequence[str] | pl.Series
) -> np.ndarray:
    """The human sheet's rater count of ``aspect`` (its ``A_n`` column) for each of
    ``image_ids`` as floats (NaN where the sheet has none, all NaN without a
    ``human_n`` column)."""
    out = np.full(len(image_ids), np.nan)
    if "human_n" not in human.columns:
        return out
    frame = (
        human.lazy()
        .filter(pl.col("aspect").cast(pl.String) == aspect)
        .select(pl.col("image_id").cast(pl.String), pl.col("human_n").cast(pl.Float64))
        .filter(pl.col("human_n").is_not_null() & pl.col("human_n").is_not_nan())
        .unique(subset=["image_id"], keep="last")
        .collect()
    )
    rows = _row_numbers(frame, image_ids)
    if rows.height:
        out[rows.get_column("_row").to_numpy()] = rows.get_column("human_n").to_numpy()
    return out


def digit_mass_vector(
    ratings: pl.DataFrame, aspect: str, image_ids: Sequence[str] | pl.Series
) -> np.ndarray:
    """Per image of ``image_ids``: the mean ``digit_mass`` of its answers of ``aspect``
    (the probability the scale's digits had at the rating position before the expected
    rating renormalised them; stored by --logprobs runs). NaN where there is none (all NaN
    without the column: runs made before it was stored, imports)."""
    out = np.full(len(image_ids), np.nan)
    if "digit_mass" not in ratings.columns:
        return out
    frame = (
        ratings.lazy()
        .filter(pl.col("aspect") == aspect)
        .select(pl.col("image_id").cast(pl.String), pl.col("repeat").cast(pl.Int64),
                pl.col("digit_mass").cast(pl.Float64))
        .unique(subset=["image_id", "repeat"], keep="last", maintain_order=True)
        .filter(pl.col("digit_mass").is_not_null() & pl.col("digit_mass").is_not_nan())
        .sort("image_id", "repeat")
        .group_by("image_id", maintain_order=True)
        .agg(pl.col("digit_mass").mean().alias("mass"))
        .collect()
    )
    rows = _row_numbers(frame, image_ids)
    if rows.height:
        out[rows.get_column("_row").to_numpy()] = rows.get_column("mass").to_numpy()
    return out
