"""The logprob expected rating as a second rater.

Runs made with --logprobs store, per answer, the expected rating sum_r r P(r) over the
digits of the scale at the rating position. Per image, e_i = the mean of its expected
ratings; e_i is compared with the human mean h_i exactly as the sampled mean m_i is
(Pearson, MAE, MSE, bias, CCC, Wilcoxon, TOST), and with m_i itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
    digit_mass_mean: float = NAN  # mean over images of the digits' probability mass


def expected_stats(
    e: np.ndarray,
    h: np.ndarray,
    m: np.ndarray,
    *,
    bound: float = 0.5,
    alpha: float = 0.05,
    digit_mass: np.ndarray | None = None,
) -> ExpectedStats | None:
    """Statistics of e against h (over images with both) and against m (images with
    both); None when no image has an expected rating. ``digit_mass``: per image, the mean
    probability the scale's digits had before renormalising (NaN unknown);
    ``digit_mass_mean`` averages it over the images of e vs h."""
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
        digit_mass_mean=_known_mean(digit_mass, ok),
    )


def _known_mean(values: np.ndarray | None, rows: np.ndarray) -> float:
    if values is None:
        return NAN
    v = np.asarray(values, dtype=np.float64)[rows]
    v = v[~np.isnan(v)]
    return float(v.mean()) if v.size else NAN
