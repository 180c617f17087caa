"""The per-image numbers the publication figures plot, as plain functions over Polars
frames. The figures (``vlmrate.figures``) draw these and the fields of
:class:`~vlmrate.stats.StudyStats`; they compute nothing of their own.

Notation as in ``vlmrate.stats``: x_ij the j-th valid answer of image i (repeats in
order), m_i the mean of image i's valid answers, h_i the human mean, d_i = m_i - h_i.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from .errors_by_k import first_k_means
from .frames import expected_vector, human_vector, max_repeat, repeat_matrix, valid_ratings


def first_k_vs_human(ratings: pl.DataFrame, human: pl.DataFrame, aspect: str,
                     k_max: int | None = None) -> pl.DataFrame:
    """Long frame ``image_id, k, model, human``: for k = 1..K (K the aspect's highest
    repeat, capped at ``k_max``) the mean of image i's valid answers among repeats 1..k,

        m_i(k) = (1 / |V_ik|) * sum_{j in V_ik} x_ij,  V_ik = valid repeats of i in 1..k,

    beside h_i; only images with a human mean and a valid answer in every repeat 1..k_top
    (k_top = min(K, k_max)): the images ``errors_by_k`` scores, the same set at every k,
    so a panel's MAE and r are that table's. The reference study's figures 5-14 (model
    mean of the first k answers against the human mean)."""
    valid = valid_ratings(ratings)
    ids = pl.Series(
        "image_id",
        sorted(set(valid.filter(pl.col("aspect") == aspect)["image_id"].to_list())),
        dtype=pl.String)
    k_all = max_repeat(ratings, aspect)
    x = repeat_matrix(ratings, aspect, ids, k_all, valid=valid)
    h = human_vector(human, aspect, ids)
    k_top = k_all if k_max is None else min(k_max, k_all)
    keep = ~np.isnan(h) & ~np.isnan(x[:, :k_top]).any(axis=1)  # as errors_by_k
    ids, x, h = ids.filter(pl.Series(keep)), x[keep], h[keep]
    means = first_k_means(x, k_max)
    n, k_top = means.shape
    frame = pl.DataFrame({
        "image_id": np.repeat(ids.to_numpy(), k_top) if n else [],
        "k": np.tile(np.arange(1, k_top + 1), n),
        "model": means.reshape(-1),
        "human": np.repeat(h, k_top),
    }, schema={"image_id": pl.String, "k": pl.Int64, "model": pl.Float64,
               "human": pl.Float64}, strict=False)
    return (frame.filter(pl.col("model").is_not_nan() & pl.col("human").is_not_nan())
            .sort("k", "image_id"))


def bland_altman_points(per_image: pl.DataFrame, aspect: str) -> pl.DataFrame:
    """``image_id, average, d`` of the images with a model and a human mean:
    average_i = (m_i + h_i) / 2 (x axis) and d_i = m_i - h_i (y axis) of the
    Bland-Altman plot (Bland & Altman, 1986, Lancet 327:307-310). ``per_image`` is
    :func:`vlmrate.stats.per_image`'s frame."""
    m, h = pl.col(f"{aspect}_mean"), pl.col(f"{aspect}_human")
    return (per_image.filter(m.is_not_null() & h.is_not_null())
            .select("image_id", ((m + h) / 2).alias("average"), (m - h).alias("d")))


def aspect_column(per_image: pl.DataFrame, aspect: str, column: str) -> np.ndarray:
    """The non-null values of ``<aspect>_<column>`` of the per-image frame (``sd``: the
    SD of an image's repeats, ddof 1, images with >= 2 valid answers; ``d``: m_i - h_i,
    images with both means), in image order."""
    values = per_image.get_column(f"{aspect}_{column}").drop_nulls().to_numpy()
    return values[~np.isnan(values)].astype(np.float64)


def sampled_vs_expected(ratings: pl.DataFrame, human: pl.DataFrame, aspect: str
                        ) -> pl.DataFrame:
    """``image_id, sampled, expected, human`` of the images with both a sampled mean
    m_i and an expected rating e_i = mean over the image's answers of
    sum_r r * P(r) (the renormalised probabilities of the scale's digits at the rating,
    ``--logprobs``); human null where the sheet has none. Empty without expected
    ratings."""
    valid = valid_ratings(ratings).filter(pl.col("aspect") == aspect)
    m = valid.group_by("image_id").agg(pl.col("rating").mean().alias("sampled"))
    ids = m.sort("image_id").get_column("image_id")
    e = expected_vector(ratings, aspect, ids)
    h = human_vector(human, aspect, ids)
    frame = pl.DataFrame({"image_id": ids, "expected": e, "human": h},
                         schema={"image_id": pl.String, "expected": pl.Float64,
                                 "human": pl.Float64})
    return (m.join(frame, on="image_id").sort("image_id")
            .filter(pl.col("expected").is_not_nan())
            .with_columns(pl.col("human").fill_nan(None))
            .select("image_id", "sampled", "expected", "human"))


def correlation_matrix(pairs: Mapping[str, object], aspects: Sequence[str]) -> np.ndarray:
    """The between-aspect Pearson r of ``StudyStats.between_aspects`` (keys "a~b") as a
    symmetric aspects x aspects matrix, 1 on the diagonal, NaN where a pair has none.
    A rearrangement, nothing computed: r_ab = r_ba."""
    n = len(aspects)
    out = np.full((n, n), np.nan)
    for i in range(n):
        out[i, i] = 1.0
    for i, a in enumerate(aspects):
        for j, b in enumerate(aspects):
            pair = pairs.get(f"{a}~{b}")
            if pair is not None:
                r = float(getattr(pair, "r", np.nan))
                out[i, j] = out[j, i] = r
    return out


def bias_ci(d: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """The confidence interval of the Bland-Altman bias (the mean of d):

        d_bar ± t_{n-1, (1 + confidence)/2} * s_d / sqrt(n),

    s_d the SD of d (n - 1); Bland & Altman (1999), Stat Methods Med Res 8:135-160,
    section 2.2. NaNs are ignored; (NaN, NaN) under two values."""
    from .distributions import t_ppf

    d = np.asarray(d, dtype=np.float64)
    d = d[~np.isnan(d)]
    n = d.size
    if n < 2:
        return (float("nan"), float("nan"))
    half = t_ppf((1 + confidence) / 2, n - 1) * d.std(ddof=1) / np.sqrt(n)
    return (float(d.mean() - half), float(d.mean() + half))
