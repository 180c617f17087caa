"""The few distribution functions the analyses need, from scipy.special.

scipy.stats takes ~0.45 s to import (more than a 5,000-image analysis takes to compute);
scipy.special, which scipy.stats itself calls for these, takes ~0.1 s. The tests compare
every p-value and interval with scipy.stats and pingouin.
"""

from __future__ import annotations

import numpy as np
from scipy import special


def norm_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return float(special.ndtr(-z))


def norm_cdf(z: float) -> float:
    return float(special.ndtr(z))


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with df degrees of freedom."""
    return float(special.stdtr(df, -t))


def t_cdf(t: float, df: float) -> float:
    return float(special.stdtr(df, t))


def f_sf(f: float, df1: float, df2: float) -> float:
    """P(F > f) for the F distribution."""
    return float(special.fdtrc(df1, df2, f))


def f_ppf(q: float, df1: float, df2: float) -> float:
    """The q quantile of the F distribution."""
    return float(special.fdtri(df1, df2, q))


def pearson_p(r: float, n: int) -> float:
    """Two-sided p of a Pearson r from n pairs: under H0, (r + 1) / 2 ~ Beta(n/2-1, n/2-1),
    so P(|R| >= |r|) = 2 I_{(1-|r|)/2}(n/2 - 1, n/2 - 1) (as scipy.stats.pearsonr)."""
    a = n / 2 - 1
    return float(min(1.0, 2 * special.betainc(a, a, (1 - abs(r)) / 2)))


def rankdata(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank (scipy.stats.rankdata "average")."""
    values = np.asarray(values)
    order = np.argsort(values, kind="mergesort")
    inverse = np.empty(order.size, dtype=np.intp)
    inverse[order] = np.arange(order.size)
    ordered = values[order]
    starts = np.r_[True, ordered[1:] != ordered[:-1]]
    dense = starts.cumsum()[inverse]
    bounds = np.r_[np.nonzero(starts)[0], starts.size]
    return 0.5 * (bounds[dense] + bounds[dense - 1] + 1)


def norm_ppf(q: float) -> float:
    """The q quantile of the standard normal."""
    return float(special.ndtri(q))


def t_ppf(q: float, df: float) -> float:
    """The q quantile of Student's t with df degrees of freedom."""
    return float(special.stdtrit(df, q))


def t_ppf_many(q: float, df: np.ndarray) -> np.ndarray:
    """The q quantile of Student's t for each of an array of degrees of freedom."""
    return np.asarray(special.stdtrit(np.asarray(df, dtype=np.float64), q), dtype=np.float64)
