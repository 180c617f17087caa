"""How the model's per-image means m_i compare with the human means h_i.

Direction (Wilcoxon signed-rank on d_i = m_i - h_i), equivalence (TOST, t and Wilcoxon),
correlation (Pearson), two-way agreement ICCs, Bland-Altman and bootstrap CIs.
All inputs are 1-D numpy arrays over the same images; NaN pairs are dropped.

Differences are rounded to 1e-10 before the signed-rank tests, so that floating-point
noise (5.3 - 5.8 + 0.5 = -4e-16) neither invents nor breaks zeros and ties.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from vlmrate.stats import distributions as dist

NAN = float("nan")
EXACT_MAX_N = 50
BOOT_CHUNK_ELEMENTS = 250_000  # resamples x images per block: the counts stay in cache

SeedLike = int | np.random.SeedSequence | np.random.Generator | None


@dataclass(frozen=True)
class Correlation:
    r: float
    p: float
    n: int


@dataclass(frozen=True)
class WilcoxonResult:
    n: int  # non-zero differences
    w_plus: float
    w_minus: float
    p_greater: float  # H1: model > human (d tends to be positive)
    p_less: float
    p_two_sided: float
    method: str  # "exact" | "approx" | "none"


@dataclass(frozen=True)
class TostResult:
    bound: float
    n: int
    mean_diff: float
    sd_diff: float
    t_lower: float
    p_lower: float
    t_upper: float
    p_upper: float
    p: float
    equivalent: bool


@dataclass(frozen=True)
class TostWilcoxonResult:
    p_lower: float  # Wilcoxon on d + bound, H1: greater
    p_upper: float  # Wilcoxon on d - bound, H1: less
    p: float
    equivalent: bool


@dataclass(frozen=True)
class Agreement:
    n: int
    icc_a1: float  # McGraw & Wong ICC(A,1), two-way, absolute agreement (pingouin ICC2)
    icc_c1: float  # McGraw & Wong ICC(C,1), two-way, consistency (pingouin ICC3)
    ba_bias: float
    ba_sd: float
    ba_lower: float
    ba_upper: float
    mae: float
    r: float
    mae_ci95: tuple[float, float]
    r_ci95: tuple[float, float]
    n_boot: int


def _pairs(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    ok = ~(np.isnan(x) | np.isnan(y))
    return x[ok], y[ok]


def pearson(x: np.ndarray, y: np.ndarray) -> Correlation:
    """Pearson r and its two-sided p (t test on n - 2 df) over the complete pairs."""
    x, y = _pairs(x, y)
    n = int(x.size)
    if n < 3:
        return Correlation(NAN, NAN, n)
    xc, yc = x - x.mean(), y - y.mean()
    # Elementwise sums, not BLAS dot products: BLAS threads stall on a busy machine.
    den = np.sqrt((xc * xc).sum() * (yc * yc).sum())
    if den == 0:
        return Correlation(NAN, NAN, n)
    r = float(np.clip((xc * yc).sum() / den, -1.0, 1.0))
    # Same as scipy.stats.pearsonr: r is Beta(n/2 - 1, n/2 - 1) on [-1, 1] under H0.
    return Correlation(r, dist.pearson_p(r, n), n)


def _signed_rank_counts(n: int) -> np.ndarray:
    """counts[w] = number of sign patterns of ranks 1..n whose positive ranks sum to w."""
    counts = np.zeros(n * (n + 1) // 2 + 1, dtype=np.float64)  # exact: < 2**53
    counts[0] = 1.0
    for r in range(1, n + 1):
        counts[r:] = counts[r:] + counts[:-r].copy()
    return counts


def wilcoxon_signed_rank(d: np.ndarray) -> WilcoxonResult:
    """Wilcoxon signed-rank test of d against 0 (Pratt's zeros are dropped: "wilcox").

    Ranks of |d| with average ranks for ties. Exact null distribution when at most 50
    non-zero differences remain and there were no ties and no zeros; otherwise the
    normal approximation with the tie correction and no continuity correction:
    z = (W+ - n(n+1)/4) / sqrt(n(n+1)(2n+1)/24 - sum(t^3 - t)/48).
    p_greater is P(W+ >= w+), p_less P(W+ <= w+), p_two_sided = min(1, 2 min(...)) for
    the exact test and 2 P(Z > |z|) for the approximation (scipy's conventions).
    """
    d = np.asarray(d, dtype=np.float64)
    d = np.round(d[~np.isnan(d)], 10)
    had_zeros = bool((d == 0).any())
    d = d[d != 0]
    n = int(d.size)
    if n == 0:
        return WilcoxonResult(0, 0.0, 0.0, NAN, NAN, NAN, "none")
    absd = np.abs(d)
    ranks = dist.rankdata(absd)
    w_plus = float(ranks[d > 0].sum())
    w_minus = float(ranks[d < 0].sum())
    _, tie_counts = np.unique(absd, return_counts=True)
    has_ties = bool((tie_counts > 1).any())
    if n <= EXACT_MAX_N and not has_ties and not had_zeros:
        counts = _signed_rank_counts(n)
        total = 2.0**n
        w = round(w_plus)
        p_greater = float(counts[w:].sum() / total)
        p_less = float(counts[: w + 1].sum() / total)
        p_two = min(1.0, 2 * min(p_greater, p_less))
        return WilcoxonResult(n, w_plus, w_minus, p_greater, p_less, p_two, "exact")
    mean = n * (n + 1) / 4.0
    var = n * (n + 1) * (2 * n + 1) / 24.0 - float((tie_counts**3 - tie_counts).sum()) / 48.0
    if var <= 0:
        return WilcoxonResult(n, w_plus, w_minus, NAN, NAN, NAN, "approx")
    z = (w_plus - mean) / np.sqrt(var)
    return WilcoxonResult(
        n,
        w_plus,
        w_minus,
        dist.norm_sf(z),
        dist.norm_cdf(z),
        min(1.0, 2 * dist.norm_sf(abs(z))),
        "approx",
    )


def tost_paired(d: np.ndarray, bound: float = 0.5, alpha: float = 0.05) -> TostResult:
    """Two one-sided paired t tests of |mean(d)| < bound (df = n - 1, se = sd / sqrt(n)).

    t_lower = (mean + bound) / se, p_lower = P(T > t_lower);
    t_upper = (mean - bound) / se, p_upper = P(T < t_upper); p = max; equivalent = p < alpha.
    """
    d = np.asarray(d, dtype=np.float64)
    d = d[~np.isnan(d)]
    n = int(d.size)
    if n < 2:
        mean = float(d.mean()) if n else NAN
        return TostResult(bound, n, mean, NAN, NAN, NAN, NAN, NAN, NAN, False)
    mean = float(d.mean())
    sd = float(d.std(ddof=1))
    se = sd / np.sqrt(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_lower = float(np.float64(mean + bound) / se)
        t_upper = float(np.float64(mean - bound) / se)
    p_lower = dist.t_sf(t_lower, n - 1) if not np.isnan(t_lower) else NAN
    p_upper = dist.t_cdf(t_upper, n - 1) if not np.isnan(t_upper) else NAN
    p = max(p_lower, p_upper) if not (np.isnan(p_lower) or np.isnan(p_upper)) else NAN
    return TostResult(bound, n, mean, sd, t_lower, p_lower, t_upper, p_upper, p, bool(p < alpha))


def tost_wilcoxon(d: np.ndarray, bound: float = 0.5, alpha: float = 0.05) -> TostWilcoxonResult:
    """TOST with signed-rank tests: p_lower from d + bound (H1 greater), p_upper from
    d - bound (H1 less); p = max; equivalent = p < alpha."""
    d = np.asarray(d, dtype=np.float64)
    p_lower = wilcoxon_signed_rank(d + bound).p_greater
    p_upper = wilcoxon_signed_rank(d - bound).p_less
    p = max(p_lower, p_upper) if not (np.isnan(p_lower) or np.isnan(p_upper)) else NAN
    return TostWilcoxonResult(p_lower, p_upper, p, bool(p < alpha))


def icc_two_way_matrix(y: np.ndarray) -> tuple[float, float]:
    """(ICC(A,1), ICC(C,1)) of McGraw & Wong (1996) for an n targets x k raters table
    without missing cells (= Shrout & Fleiss ICC(2,1), ICC(3,1); pingouin ICC2, ICC3).

    Two-way ANOVA: MSR (targets, df n-1), MSC (raters, df k-1), MSE (residual,
    df (n-1)(k-1));
    ICC(A,1) = (MSR - MSE) / (MSR + (k-1) MSE + k (MSC - MSE) / n),
    ICC(C,1) = (MSR - MSE) / (MSR + (k-1) MSE).
    """
    y = np.asarray(y, dtype=np.float64)
    n, k = y.shape
    if n < 2 or k < 2:
        return NAN, NAN
    grand = y.mean()
    rows = y.mean(axis=1)
    cols = y.mean(axis=0)
    msr = k * float(((rows - grand) ** 2).sum()) / (n - 1)
    msc = n * float(((cols - grand) ** 2).sum()) / (k - 1)
    resid = y - rows[:, None] - cols[None, :] + grand
    mse = float((resid**2).sum()) / ((n - 1) * (k - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        a1 = (msr - mse) / np.float64(msr + (k - 1) * mse + k * (msc - mse) / n)
        c1 = (msr - mse) / np.float64(msr + (k - 1) * mse)
    return float(a1), float(c1)


def icc_two_way(m: np.ndarray, h: np.ndarray) -> tuple[float, float]:
    """(ICC(A,1), ICC(C,1)) for two raters, model and human, over the complete pairs."""
    m, h = _pairs(m, h)
    return icc_two_way_matrix(np.column_stack([m, h]))


def _pearson_rows(s: np.ndarray, n: int) -> np.ndarray:
    """Pearson r per row from sums s[:, 0..4] = (sum x, sum y, sum x^2, sum y^2, sum xy)."""
    sx, sy, sxx, syy, sxy = s.T
    cov = sxy - sx * sy / n
    vx = sxx - sx * sx / n
    vy = syy - sy * sy / n
    with np.errstate(divide="ignore", invalid="ignore"):
        r = cov / np.sqrt(vx * vy)
    r[(vx <= 1e-12 * np.maximum(sxx, 1)) | (vy <= 1e-12 * np.maximum(syy, 1))] = np.nan
    return np.clip(r, -1.0, 1.0)


def bootstrap_mae_r(
    m: np.ndarray, h: np.ndarray, n_boot: int = 2000, seed: SeedLike = 0
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Percentile 95% CIs of MAE and Pearson r, resampling images with replacement.

    Each resample is a row of counts (how often each image is drawn); the statistics
    come from the count-weighted sums of (|d|, m, h, m^2, h^2, m h), computed for a
    block of resamples at a time so memory stays bounded and the counts stay in cache.
    """
    m, h = _pairs(m, h)
    n = int(m.size)
    if n == 0 or n_boot <= 0:
        return (NAN, NAN), (NAN, NAN)
    rng = np.random.default_rng(seed)
    # Centre so that the sums of squares do not cancel catastrophically.
    mc, hc = m - m.mean(), h - h.mean()
    feats = np.column_stack([np.abs(m - h), mc, hc, mc * mc, hc * hc, mc * hc])
    feats_t = np.ascontiguousarray(feats.T)
    out = np.empty((n_boot, 6))
    block = max(1, min(n_boot, BOOT_CHUNK_ELEMENTS // n))
    for start in range(0, n_boot, block):
        b = min(block, n_boot - start)
        dtype = np.int64 if n * b >= 2**31 else np.int32
        idx = rng.integers(0, n, size=(b, n), dtype=dtype)
        idx += (np.arange(b, dtype=dtype) * n)[:, None]
        counts = np.bincount(idx.ravel(), minlength=b * n).reshape(b, n)
        counts_f = counts.astype(np.float64)
        for j in range(feats.shape[1]):  # six columns; no BLAS (see pearson)
            out[start : start + b, j] = (counts_f * feats_t[j]).sum(axis=1)
    mae = out[:, 0] / n
    r = _pearson_rows(out[:, 1:], n)
    mae_ci = tuple(float(v) for v in np.percentile(mae, [2.5, 97.5]))
    r_ok = r[~np.isnan(r)]
    r_ci = tuple(float(v) for v in np.percentile(r_ok, [2.5, 97.5])) if r_ok.size else (NAN, NAN)
    return mae_ci, r_ci  # type: ignore[return-value]


def agreement(m: np.ndarray, h: np.ndarray, *, n_boot: int = 2000, seed: SeedLike = 0) -> Agreement:
    """Agreement of model means with human means: two-way ICCs, Bland-Altman
    (bias = mean d, limits = bias -+ 1.96 SD(d, ddof 1)), MAE and r with bootstrap CIs."""
    m, h = _pairs(m, h)
    n = int(m.size)
    d = m - h
    a1, c1 = icc_two_way(m, h)
    bias = float(d.mean()) if n else NAN
    sd = float(d.std(ddof=1)) if n > 1 else NAN
    mae_ci, r_ci = bootstrap_mae_r(m, h, n_boot=n_boot, seed=seed)
    return Agreement(
        n=n,
        icc_a1=a1,
        icc_c1=c1,
        ba_bias=bias,
        ba_sd=sd,
        ba_lower=bias - 1.96 * sd,
        ba_upper=bias + 1.96 * sd,
        mae=float(np.abs(d).mean()) if n else NAN,
        r=pearson(m, h).r,
        mae_ci95=mae_ci,
        r_ci95=r_ci,
        n_boot=n_boot,
    )


def between_aspects(means: dict[str, np.ndarray], aspects: Sequence[str]) -> dict[str, Correlation]:
    """Pearson r of the per-image model means for each pair of aspects, in study order,
    keyed "a~b". Arrays are aligned over the same images (NaN = no mean)."""
    return {f"{a}~{b}": pearson(means[a], means[b]) for a, b in combinations(aspects, 2)}
