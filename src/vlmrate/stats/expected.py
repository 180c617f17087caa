"""The logprob expected rating as a second rater.

Runs made with --logprobs store, per answer, the expected rating sum_r r P(r) over the
digits of the scale at the rating position. Per image, e_i = the mean of its expected
ratings; e_i is compared with the human mean h_i exactly as the sampled mean m_i is
(Pearson, MAE, MSE, bias, CCC, Wilcoxon, TOST), and with m_i itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from .agreement import (
    Correlation,
    TostResult,
    WilcoxonResult,
    ccc,
    pearson,
    tost_paired,
    wilcoxon_signed_rank,
)

NAN = float("nan")


@dataclass(frozen=True)
class VsSampled:
    n: int
    r: float  # Pearson r between m_i and e_i
    mae: float  # mean |m_i - e_i|


@dataclass(frozen=True)
class ExpectedStats:
    n_images: int  # images with an expected rating and a human mean
    pearson_vs_human: Correlation
    mae: float
    mse: float
    bias: float  # mean (e_i - h_i)
    ccc: float
    wilcoxon: WilcoxonResult
    tost: TostResult
    vs_sampled: VsSampled
    #: Mean over the aspect's answers of the digits' probability mass at the rating
    #: position (see :func:`digit_mass_mean`); NaN when no answer stored one.
    digit_mass_mean: float = NAN


def expected_stats(
    e: np.ndarray,
    h: np.ndarray,
    m: np.ndarray,
    *,
    bound: float = 0.5,
    alpha: float = 0.05,
) -> ExpectedStats | None:
    """Statistics of e against h (over images with both) and against m (images with
    both); None when no image has an expected rating."""
    e = np.asarray(e, dtype=np.float64)
    h = np.asarray(h, dtype=np.float64)
    m = np.asarray(m, dtype=np.float64)
    if np.isnan(e).all():
        return None
    ok = ~(np.isnan(e) | np.isnan(h))
    d = e[ok] - h[ok]
    n = int(ok.sum())
    both = ~(np.isnan(e) | np.isnan(m))
    return ExpectedStats(
        n_images=n,
        pearson_vs_human=pearson(e, h),
        mae=float(np.abs(d).mean()) if n else NAN,
        mse=float((d * d).mean()) if n else NAN,
        bias=float(d.mean()) if n else NAN,
        ccc=ccc(e, h),
        wilcoxon=wilcoxon_signed_rank(d, 1 - alpha),
        tost=tost_paired(d, bound=bound, alpha=alpha),
        vs_sampled=VsSampled(
            n=int(both.sum()),
            r=pearson(m, e).r,
            mae=float(np.abs(m[both] - e[both]).mean()) if both.any() else NAN,
        ),
    )


def digit_mass_mean(ratings: pl.DataFrame, aspect: str) -> float:
    """Mean digit probability mass of an aspect's answers: (1/n) sum_j M_j over the n answers
    with a stored ``digit_mass``, where M_j = sum_{r=lo..hi} P_j(r) is the probability the
    scale's digit tokens had at answer j's rating position before ``rating_probs`` were
    renormalised (P_j from vLLM's logprobs, see engines/base.py ``digit_mass``). A mean far
    below 1 says the model put its probability elsewhere there, so its expected rating
    rests on a small part of its distribution. NaN when no answer has one (runs without
    --logprobs, or older runs).
    """
    if "digit_mass" not in ratings.columns:
        return NAN
    values = (ratings.filter(pl.col("aspect") == aspect)["digit_mass"]
              .cast(pl.Float64).drop_nulls().drop_nans())
    return float(values.mean()) if len(values) else NAN
