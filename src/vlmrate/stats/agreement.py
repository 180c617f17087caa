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
EXACT_MAX_N = 50  # exact signed-rank test when n < 50, as R
BOOT_CHUNK_ELEMENTS = 250_000  # resamples x images per block: the counts stay in cache

SeedLike = int | np.random.SeedSequence | np.random.Generator | None
R_CI_METHOD = "Fisher z"
MAE_CI_METHOD = "BCa bootstrap, expanded"


@dataclass(frozen=True)
class Correlation:
    r: float
    p: float
    n: int


@dataclass(frozen=True)
class WilcoxonResult:
    n: int  # non-zero differences used
    w_plus: float
    w_minus: float
    p_greater: float  # H1: model > human (d tends to be positive)
    p_less: float
    p_two_sided: float
    method: str  # "exact" | "normal" | "none" (no non-zero difference)
    n_zero: int = 0  # zero differences dropped
    rank_biserial: float = NAN  # (W+ - W-) / (W+ + W-)
    hodges_lehmann: float = NAN  # median of the Walsh averages of the non-zero d
    hodges_lehmann_ci: tuple[float, float] = (NAN, NAN)  # R's wilcox.test(conf.int=TRUE)
    hodges_lehmann_ci_level: float = NAN  # the level it reaches (R lowers it for small n)


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
    equivalent: bool | None  # None when p is undefined (n < 2 or no variation in d)
    dz: float = NAN  # mean d / SD d
    ci: tuple[float, float] = (NAN, NAN)  # the 1 - 2 alpha t interval of mean d
    degenerate: bool = False  # SD of d is 0 (after rounding d to 1e-10): t undefined


@dataclass(frozen=True)
class TostWilcoxonResult:
    p_lower: float  # Wilcoxon on d + bound, H1: greater
    p_upper: float  # Wilcoxon on d - bound, H1: less
    p: float
    equivalent: bool | None  # None when p is undefined


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
    mse: float
    r: float
    mae_ci: tuple[float, float]  # BCa bootstrap interval at ``confidence``, level expanded
    r_ci: tuple[float, float]  # Fisher-z interval at ``confidence`` (R's cor.test)
    n_boot: int
    confidence: float = 0.95
    ccc: float = NAN  # Lin's concordance correlation coefficient
    ccc_cb: float = NAN  # its bias-correction factor C_b = ccc / r
    ba_lower_ci: tuple[float, float] = (NAN, NAN)  # CI at ``confidence`` of the 95% lower limit
    ba_upper_ci: tuple[float, float] = (NAN, NAN)
    ba_slope: float = NAN  # OLS slope of d on (m + h) / 2: proportional bias
    ba_slope_p: float = NAN
    r_ci_bootstrap: tuple[float, float] = (NAN, NAN)  # percentile bootstrap of r
    mae_ci_percentile: tuple[float, float] = (NAN, NAN)  # percentile bootstrap of the MAE
    r_ci_method: str = R_CI_METHOD
    mae_ci_method: str = MAE_CI_METHOD
    ccc_ci: tuple[float, float] = (NAN, NAN)  # Lin's z-transform interval
    icc_a1_ci: tuple[float, float] = (NAN, NAN)  # McGraw & Wong (psych::ICC ICC2 bounds)
    icc_c1_ci: tuple[float, float] = (NAN, NAN)  # McGraw & Wong (psych::ICC ICC3 bounds)
    ba_bias_ci: tuple[float, float] = (NAN, NAN)  # t interval of the mean d


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


def _walsh_count(xs: np.ndarray, s2: float) -> int:
    """How many Walsh sums xs_i + xs_j (i <= j, xs sorted) are <= s2."""
    j = np.searchsorted(xs, s2 - xs, side="right")
    return int(np.maximum(j - np.arange(xs.size), 0).sum())


def walsh_kth(x: np.ndarray, k: int) -> float:
    """The k-th smallest (1-based) Walsh average (x_i + x_j) / 2, i <= j.

    Bisection on the value with an O(n log n) count, so the n(n+1)/2 averages are never
    stored (a 5,000-image aspect has 12.5 million of them). Ends on adjacent floats.
    """
    xs = np.sort(np.asarray(x, dtype=np.float64))
    total = xs.size * (xs.size + 1) // 2
    k = min(max(int(k), 1), total)
    lo, hi = 2 * xs[0], 2 * xs[-1]  # sums: count(<= hi) = total, the answer is in (lo, hi]
    if _walsh_count(xs, lo) >= k:
        return float(lo / 2)
    while True:
        mid = lo + (hi - lo) / 2
        if mid <= lo or mid >= hi:
            return float(hi / 2)
        if _walsh_count(xs, mid) >= k:
            hi = mid
        else:
            lo = mid


def hodges_lehmann(d: np.ndarray) -> float:
    """Hodges-Lehmann estimate of the location of d: median of the Walsh averages
    (d_i + d_j) / 2 over i <= j (Hollander, Wolfe & Chicken 2014, section 3.2; R's
    ``wilcox.test(conf.int = TRUE)`` "(pseudo)median" in its exact case)."""
    d = np.asarray(d, dtype=np.float64)
    d = d[~np.isnan(d)]
    if d.size == 0:
        return NAN
    total = d.size * (d.size + 1) // 2
    if total % 2:
        return walsh_kth(d, (total + 1) // 2)
    return (walsh_kth(d, total // 2) + walsh_kth(d, total // 2 + 1)) / 2


def _qsignrank(p: float, n: int, counts: np.ndarray) -> int:
    """R's qsignrank(p, n): the smallest q with P(V <= q) >= p (with R's 10 eps fuzz)."""
    cdf = np.cumsum(counts) / 2.0**n
    return int(np.searchsorted(cdf, p - 10 * np.finfo(float).eps, side="left"))


def _z_shifted(xs: np.ndarray, shift: float) -> float:
    """R's W(d) in wilcox.test's asymptotic interval (correct = FALSE): the normal
    score of the signed-rank statistic of x - shift, zeros dropped, tie-corrected.

    ``xs`` is x sorted: |x - shift| is then two sorted runs (below and above the shift),
    which a stable sort merges in linear time.
    """
    lo = int(np.searchsorted(xs, shift, side="left"))
    hi = int(np.searchsorted(xs, shift, side="right"))  # xs[lo:hi] == shift: zeros, dropped
    below = shift - xs[:lo][::-1]  # ascending |d| of the negative differences
    above = xs[hi:] - shift
    n = below.size + above.size
    if n == 0:
        return NAN
    absd = np.concatenate([below, above])
    order = np.argsort(absd, kind="stable")
    ordered = absd[order]
    bounds = np.r_[np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]), n]
    ties = np.diff(bounds).astype(np.float64)
    ranks = np.repeat((bounds[:-1] + bounds[1:] + 1) / 2.0, np.diff(bounds))
    var = n * (n + 1) * (2 * n + 1) / 24.0 - float((ties**3 - ties).sum()) / 48.0
    if var <= 0:
        return NAN
    w_plus = float(ranks[order >= below.size].sum())
    return (w_plus - n * (n + 1) / 4.0) / float(np.sqrt(var))


def _root(x: np.ndarray, lo: float, hi: float, zq: float) -> float:
    """Where the step function _z_shifted(x, .) crosses zq on [lo, hi] (it falls from
    above zq at lo to below at hi); bisection down to adjacent floats, where R's
    uniroot stops within its tolerance of the same jump."""
    while True:
        mid = lo + (hi - lo) / 2
        if mid <= lo or mid >= hi:
            return float(hi)
        if _z_shifted(x, mid) - zq > 0:
            lo = mid
        else:
            hi = mid


def hodges_lehmann_ci(
    x: np.ndarray, exact: bool, confidence: float = 0.95, counts: np.ndarray | None = None
) -> tuple[tuple[float, float], float]:
    """Two-sided interval for the Hodges-Lehmann location of x (non-zero differences),
    as R's ``wilcox.test(x, conf.int = TRUE, correct = FALSE)``; returns (interval,
    the level actually reached).

    Exact (Bauer 1972): with a = 1 - confidence, qu = qsignrank(a/2, n) (1 if 0),
    ql = n(n+1)/2 - qu: [W_(qu), W_(ql+1)] of the sorted Walsh averages W; level
    1 - 2 P(V <= qu - 1). Normal: the shifts where the tie-corrected z of x - shift
    equals z_{1-a/2} and z_{a/2}, searched on [min x, max x]; when those are not
    reached, a is doubled until they are (R's rule), and the level drops with it.
    """
    x = np.asarray(x, dtype=np.float64)
    n = int(x.size)
    alpha = 1.0 - confidence
    if n == 0:
        return (NAN, NAN), NAN
    if exact:
        counts = _signed_rank_counts(n) if counts is None else counts
        qu = _qsignrank(alpha / 2, n, counts) or 1
        ql = n * (n + 1) // 2 - qu
        achieved = 2 * float(counts[: qu].sum()) / 2.0**n
        return (walsh_kth(x, qu), walsh_kth(x, ql + 1)), 1.0 - achieved
    x = np.sort(x)
    lo, hi = float(x[0]), float(x[-1])
    z_lo, z_hi = _z_shifted(x, lo), _z_shifted(x, hi)
    if not (np.isfinite(z_lo) and np.isfinite(z_hi)):
        return (NAN, NAN), NAN
    while alpha < 1:
        if z_lo - dist.norm_ppf(1 - alpha / 2) < 0 or z_hi - dist.norm_ppf(alpha / 2) > 0:
            alpha *= 2
        else:
            break
    if alpha >= 1:
        med = float(np.median(x))
        return (med, med), 0.0
    return (
        _root(x, lo, hi, dist.norm_ppf(1 - alpha / 2)),
        _root(x, lo, hi, dist.norm_ppf(alpha / 2)),
    ), 1.0 - alpha


def wilcoxon_signed_rank(
    d: np.ndarray, confidence: float = 0.95, *, effects: bool = True
) -> WilcoxonResult:
    """Wilcoxon signed-rank test of d against 0, zeros dropped (Wilcoxon 1945; R's
    ``wilcox.test(d, correct = FALSE)``, scipy's ``zero_method="wilcox"``).

    d is rounded to 1e-10 first. Ranks of |d| with average ranks for ties. Exact null
    distribution when fewer than 50 non-zero differences remain and there were no ties
    and no zeros (R's rule); otherwise the normal approximation with the tie correction
    and no continuity correction:
    z = (W+ - n(n+1)/4) / sqrt(n(n+1)(2n+1)/24 - sum(t^3 - t)/48).
    p_greater is P(W+ >= w+), p_less P(W+ <= w+), p_two_sided = min(1, 2 min(...)) for
    the exact test and 2 P(Z > |z|) for the approximation.

    Effect sizes: rank_biserial = (W+ - W-) / (W+ + W-) (Kerby 2014);
    hodges_lehmann = median of the Walsh averages (d_i + d_j) / 2, i <= j, of the
    non-zero d, with the interval of :func:`hodges_lehmann_ci` at ``confidence``
    (``effects=False`` skips the Hodges-Lehmann estimate and interval).
    """
    d = np.asarray(d, dtype=np.float64)
    d = np.round(d[~np.isnan(d)], 10)
    n_zero = int((d == 0).sum())
    d = d[d != 0]
    n = int(d.size)
    if n == 0:
        return WilcoxonResult(0, 0.0, 0.0, NAN, NAN, NAN, "none", n_zero)
    absd = np.abs(d)
    ranks = dist.rankdata(absd)
    w_plus = float(ranks[d > 0].sum())
    w_minus = float(ranks[d < 0].sum())
    sizes = {
        "n_zero": n_zero,
        "rank_biserial": (w_plus - w_minus) / (w_plus + w_minus),
        "hodges_lehmann": hodges_lehmann(d) if effects else NAN,
    }
    _, tie_counts = np.unique(absd, return_counts=True)
    has_ties = bool((tie_counts > 1).any())
    if n < EXACT_MAX_N and not has_ties and n_zero == 0:
        counts = _signed_rank_counts(n)
        total = 2.0**n
        w = round(w_plus)
        p_greater = float(counts[w:].sum() / total)
        p_less = float(counts[: w + 1].sum() / total)
        p_two = min(1.0, 2 * min(p_greater, p_less))
        ci, level = hodges_lehmann_ci(d, True, confidence, counts) if effects else ((NAN, NAN), NAN)
        return WilcoxonResult(
            n, w_plus, w_minus, p_greater, p_less, p_two, "exact",
            hodges_lehmann_ci=ci, hodges_lehmann_ci_level=level, **sizes,  # type: ignore[arg-type]
        )
    mean = n * (n + 1) / 4.0
    var = n * (n + 1) * (2 * n + 1) / 24.0 - float((tie_counts**3 - tie_counts).sum()) / 48.0
    if var <= 0:
        return WilcoxonResult(n, w_plus, w_minus, NAN, NAN, NAN, "normal", **sizes)  # type: ignore[arg-type]
    z = (w_plus - mean) / np.sqrt(var)
    ci, level = hodges_lehmann_ci(d, False, confidence) if effects else ((NAN, NAN), NAN)
    return WilcoxonResult(
        n,
        w_plus,
        w_minus,
        dist.norm_sf(z),
        dist.norm_cdf(z),
        min(1.0, 2 * dist.norm_sf(abs(z))),
        "normal",
        hodges_lehmann_ci=ci,
        hodges_lehmann_ci_level=level,
        **sizes,  # type: ignore[arg-type]
    )


def tost_paired(d: np.ndarray, bound: float = 0.5, alpha: float = 0.05) -> TostResult:
    """Two one-sided paired t tests of |mean(d)| < bound (Schuirmann 1987; Lakens 2017;
    pingouin.tost(paired=True)); df = n - 1, se = sd / sqrt(n).

    t_lower = (mean + bound) / se, p_lower = P(T > t_lower);
    t_upper = (mean - bound) / se, p_upper = P(T < t_upper); p = max; equivalent = p < alpha.
    ci = mean -+ t(1 - alpha, n - 1) se, the 1 - 2 alpha interval whose inclusion in
    (-bound, bound) is the same decision. dz = mean / sd (Cohen's d_z of paired data).
    When the SD of d (rounded to 1e-10) is 0, the t statistics are not defined: t, p,
    ci, dz and ``equivalent`` are NaN/None and ``degenerate`` is set.
    """
    d = np.asarray(d, dtype=np.float64)
    d = d[~np.isnan(d)]
    n = int(d.size)
    if n < 2:
        mean = float(d.mean()) if n else NAN
        return TostResult(bound, n, mean, NAN, NAN, NAN, NAN, NAN, NAN, None)
    mean = float(d.mean())
    sd = float(d.std(ddof=1))
    if float(np.round(d, 10).std(ddof=1)) <= 1e-12:
        return TostResult(bound, n, mean, 0.0, NAN, NAN, NAN, NAN, NAN, None, degenerate=True)
    se = sd / np.sqrt(n)
    t_lower = float(np.float64(mean + bound) / se)
    t_upper = float(np.float64(mean - bound) / se)
    p_lower = dist.t_sf(t_lower, n - 1)
    p_upper = dist.t_cdf(t_upper, n - 1)
    p = max(p_lower, p_upper)
    half = dist.t_ppf(1 - alpha, n - 1) * se
    return TostResult(
        bound, n, mean, sd, t_lower, p_lower, t_upper, p_upper, p, bool(p < alpha),
        dz=mean / sd, ci=(mean - half, mean + half),
    )


def tost_wilcoxon(d: np.ndarray, bound: float = 0.5, alpha: float = 0.05) -> TostWilcoxonResult:
    """TOST with signed-rank tests: p_lower from d + bound (H1 greater), p_upper from
    d - bound (H1 less); p = max; equivalent = p < alpha (None when p is undefined)."""
    d = np.asarray(d, dtype=np.float64)
    p_lower = wilcoxon_signed_rank(d + bound, effects=False).p_greater
    p_upper = wilcoxon_signed_rank(d - bound, effects=False).p_less
    if np.isnan(p_lower) or np.isnan(p_upper):
        return TostWilcoxonResult(p_lower, p_upper, NAN, None)
    p = max(p_lower, p_upper)
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


BOOT_MIN_N = 5  # fewer images: most resamples repeat one or two images, no interval


def bootstrap_replicates(
    m: np.ndarray, h: np.ndarray, n_boot: int = 2000, seed: SeedLike = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(MAE, Pearson r) of ``n_boot`` resamples of the complete pairs (images drawn with
    replacement); r is NaN for a resample with a constant side. Empty arrays under
    ``BOOT_MIN_N`` images.

    Each resample is a row of counts (how often each image is drawn); the statistics
    come from the count-weighted sums of (|d|, m, h, m^2, h^2, m h), computed for a
    block of resamples at a time so memory stays bounded and the counts stay in cache.
    """
    m, h = _pairs(m, h)
    n = int(m.size)
    if n < BOOT_MIN_N or n_boot <= 0:
        return np.empty(0), np.empty(0)
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
    return out[:, 0] / n, _pearson_rows(out[:, 1:], n)


def percentile_interval(reps: np.ndarray, confidence: float) -> tuple[float, float]:
    """The central ``confidence`` range of the finite replicates (Efron & Tibshirani
    1993, ch. 13; numpy's linear percentiles); NaN when there are none."""
    reps = np.asarray(reps, dtype=np.float64)
    reps = reps[np.isfinite(reps)]
    if reps.size == 0:
        return NAN, NAN
    tails = [50 * (1 - confidence), 100 - 50 * (1 - confidence)]
    lo, hi = np.percentile(reps, tails)
    return float(lo), float(hi)


def bca_interval(
    estimate: float, reps: np.ndarray, jackknife: np.ndarray, confidence: float
) -> tuple[float, float]:
    """Bias-corrected and accelerated bootstrap interval (Efron 1987; Efron & Tibshirani
    1993, ch. 14; as scipy.stats.bootstrap(method="BCa")).

    z0 = Phi^-1(share of replicates below the estimate, ties counting half); acceleration from the
    jackknife values t_(i): a = sum (tbar - t_(i))^3 / (6 (sum (tbar - t_(i))^2)^1.5);
    the interval is the percentiles at
    Phi(z0 + (z0 + z_q) / (1 - a (z0 + z_q))) for z_q = Phi^-1(alpha/2), Phi^-1(1 - alpha/2).
    NaN without replicates or when z0 is infinite (every replicate on one side)."""
    reps = np.asarray(reps, dtype=np.float64)
    reps = reps[np.isfinite(reps)]
    if reps.size == 0 or not np.isfinite(estimate):
        return NAN, NAN
    share = float(((reps < estimate).sum() + (reps <= estimate).sum()) / (2 * reps.size))
    if share <= 0 or share >= 1:
        return NAN, NAN
    z0 = dist.norm_ppf(share)
    jack = np.asarray(jackknife, dtype=np.float64)
    dev = jack.mean() - jack
    den = 6.0 * float((dev * dev).sum()) ** 1.5
    a = float((dev**3).sum()) / den if den > 0 else 0.0
    alpha = 1.0 - confidence
    levels = []
    for q in (alpha / 2, 1 - alpha / 2):
        zq = dist.norm_ppf(q)
        levels.append(dist.norm_cdf(z0 + (z0 + zq) / (1 - a * (z0 + zq))))
    lo, hi = np.percentile(reps, [100 * levels[0], 100 * levels[1]])
    return float(lo), float(hi)


def expanded_confidence(n: int, confidence: float) -> float:
    """The level at which to take a bootstrap interval of a mean-like statistic of n
    images so that it keeps ``confidence`` at small n (Hesterberg 2015, "expanded
    percentile interval": the bootstrap distribution is too narrow by sqrt((n-1)/n) and
    normal rather than t): 1 - 2 Phi(-sqrt(n/(n-1)) t_{1-alpha/2, n-1}). 0.9885 at n = 8,
    0.9576 at n = 50 for 95%."""
    if n < 2:
        return confidence
    t = dist.t_ppf(1 - (1 - confidence) / 2, n - 1)
    return 1.0 - 2.0 * dist.norm_cdf(-np.sqrt(n / (n - 1)) * t)


def mae_jackknife(m: np.ndarray, h: np.ndarray) -> np.ndarray:
    """The leave-one-image-out MAEs: (sum |d| - |d_i|) / (n - 1)."""
    m, h = _pairs(m, h)
    ad = np.abs(m - h)
    return (ad.sum() - ad) / max(ad.size - 1, 1)


def bootstrap_mae_r(
    m: np.ndarray,
    h: np.ndarray,
    n_boot: int = 2000,
    seed: SeedLike = 0,
    confidence: float = 0.95,
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Percentile bootstrap intervals (Efron & Tibshirani 1993, ch. 13) of MAE and
    Pearson r at ``confidence``, resampling images with replacement; NaN under
    ``BOOT_MIN_N`` images (:func:`bootstrap_replicates`)."""
    mae, r = bootstrap_replicates(m, h, n_boot=n_boot, seed=seed)
    if mae.size == 0:
        return (NAN, NAN), (NAN, NAN)
    return percentile_interval(mae, confidence), percentile_interval(r, confidence)


def fisher_z_interval(r: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Interval of a Pearson r from n pairs by Fisher's z (Fisher 1921; R's cor.test):
    tanh(atanh(r) -+ z_{1 - alpha/2} / sqrt(n - 3)). NaN under 4 pairs or r undefined;
    [r, r] when |r| = 1."""
    if n < 4 or not np.isfinite(r):
        return NAN, NAN
    if abs(r) >= 1:
        return float(r), float(r)
    z = float(np.arctanh(r))
    half = dist.norm_ppf(1 - (1 - confidence) / 2) / np.sqrt(n - 3)
    return float(np.tanh(z - half)), float(np.tanh(z + half))


def ccc_interval(m: np.ndarray, h: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Lin's CCC interval on the z (atanh) scale (Lin 1989, 2000; as
    ``DescTools::CCC(ci = "z-transform")``). With rho_c the CCC, r Pearson's r,
    u = (mean m - mean h) / (s_m^2 s_h^2)^(1/4) (variances with divisor n):
    se(rho_c)^2 = [(1 - r^2) rho_c^2 (1 - rho_c^2) / r^2 + 2 rho_c^3 (1 - rho_c) u^2 / r
    - rho_c^4 u^4 / (2 r^2)] / (n - 2); the interval is
    tanh(atanh(rho_c) -+ z_{1 - alpha/2} se / (1 - rho_c^2)).
    NaN under 3 pairs, with r = 0 or undefined, or |rho_c| = 1."""
    m, h = _pairs(m, h)
    n = int(m.size)
    if n < 3:
        return NAN, NAN
    rc = ccc(m, h)
    r = pearson(m, h).r
    if not (np.isfinite(rc) and np.isfinite(r)) or r == 0 or abs(rc) >= 1:
        return NAN, NAN
    sm2 = float(((m - m.mean()) ** 2).sum()) / n
    sh2 = float(((h - h.mean()) ** 2).sum()) / n
    u = float(m.mean() - h.mean()) / (sm2 * sh2) ** 0.25
    var = ((1 - r * r) * rc * rc * (1 - rc * rc) / (r * r) + 2 * rc**3 * (1 - rc) * u * u / r
           - rc**4 * u**4 / (2 * r * r)) / (n - 2)
    if not var > 0:
        return NAN, NAN
    half = dist.norm_ppf(1 - (1 - confidence) / 2) * np.sqrt(var) / (1 - rc * rc)
    z = float(np.arctanh(rc))
    return float(np.tanh(z - half)), float(np.tanh(z + half))


def icc_two_way_intervals(
    y: np.ndarray, confidence: float = 0.95
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Intervals at ``confidence`` of ICC(A,1) and ICC(C,1) for an n targets x k raters
    table without missing cells (McGraw & Wong 1996, tables 7 and 8; the ICC2 and ICC3
    bounds of ``psych::ICC``). With the mean squares of :func:`icc_two_way_matrix`,
    a = alpha:

    ICC(C,1): F = MSR/MSE, FL = F / F_{1-a/2}(n-1, (n-1)(k-1)),
    FU = F F_{1-a/2}((n-1)(k-1), n-1); [(FL-1)/(FL+k-1), (FU-1)/(FU+k-1)].

    ICC(A,1) = rho: Fj = MSC/MSE, Satterthwaite's
    v = (k-1)(n-1) [k rho Fj + n (1 + (k-1) rho) - k rho]^2 /
        [(n-1) k^2 rho^2 Fj^2 + (n (1 + (k-1) rho) - k rho)^2],
    F* = F_{1-a/2}(n-1, v), F** = F_{1-a/2}(v, n-1);
    lower = n (MSR - F* MSE) / (F* (k MSC + (kn - k - n) MSE) + n MSR),
    upper = n (F** MSR - MSE) / (k MSC + (kn - k - n) MSE + n F** MSR).
    NaN under 2 targets or 2 raters, or when the mean squares are degenerate (no MSE; for
    ICC(A,1) also a denominator of rho that is not positive)."""
    y = np.asarray(y, dtype=np.float64)
    n, k = y.shape
    nan2 = (NAN, NAN)
    if n < 2 or k < 2:
        return nan2, nan2
    grand = y.mean()
    rows, cols = y.mean(axis=1), y.mean(axis=0)
    msr = k * float(((rows - grand) ** 2).sum()) / (n - 1)
    msc = n * float(((cols - grand) ** 2).sum()) / (k - 1)
    resid = y - rows[:, None] - cols[None, :] + grand
    mse = float((resid**2).sum()) / ((n - 1) * (k - 1))
    if not mse > 1e-12 * max(msr, msc, 1.0):
        return nan2, nan2
    alpha = 1 - confidence
    df1, df2 = n - 1.0, (n - 1.0) * (k - 1.0)
    f = msr / mse
    fl = f / dist.f_ppf(1 - alpha / 2, df1, df2)
    fu = f * dist.f_ppf(1 - alpha / 2, df2, df1)
    c1 = ((fl - 1) / (fl + k - 1), (fu - 1) / (fu + k - 1))
    denominator = msr + (k - 1) * mse + k * (msc - mse) / n
    if not denominator > 0:  # e.g. 2 targets, equal row and column means: ICC(A,1) -inf
        return nan2, (float(c1[0]), float(c1[1]))
    rho = (msr - mse) / denominator
    fj = msc / mse
    base = n * (1 + (k - 1) * rho) - k * rho
    vn = (k - 1) * (n - 1) * (k * rho * fj + base) ** 2
    vd = (n - 1) * k * k * rho * rho * fj * fj + base * base
    if not vd > 0:
        return nan2, (float(c1[0]), float(c1[1]))
    v = vn / vd
    f_star = dist.f_ppf(1 - alpha / 2, df1, v)
    f_2star = dist.f_ppf(1 - alpha / 2, v, df1)
    spread = k * msc + (k * n - k - n) * mse
    lower = n * (msr - f_star * mse) / (f_star * spread + n * msr)
    upper = n * (f_2star * msr - mse) / (spread + n * f_2star * msr)
    return (float(lower), float(upper)), (float(c1[0]), float(c1[1]))


def mean_t_interval(d: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """The t interval of mean d: mean -+ t(1 - alpha/2, n - 1) SD / sqrt(n) (Bland &
    Altman 1986, the CI of the bias; R's t.test). NaN under 2 values; [mean, mean] when
    d is constant."""
    d = np.asarray(d, dtype=np.float64)
    d = d[~np.isnan(d)]
    n = d.size
    if n < 2:
        return NAN, NAN
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    half = dist.t_ppf(1 - (1 - confidence) / 2, n - 1) * sd / np.sqrt(n)
    return mean - half, mean + half


def ccc(m: np.ndarray, h: np.ndarray) -> float:
    """Lin's (1989) concordance correlation coefficient over the complete pairs:
    2 s_mh / (s_m^2 + s_h^2 + (mean m - mean h)^2), (co)variances with divisor n.
    NaN under 2 pairs or when both are constant and equal (0 / 0)."""
    m, h = _pairs(m, h)
    n = m.size
    if n < 2:
        return NAN
    mc, hc = m - m.mean(), h - h.mean()
    num = 2 * float((mc * hc).sum()) / n
    den = float((mc * mc).sum()) / n + float((hc * hc).sum()) / n + float(m.mean() - h.mean()) ** 2
    return num / den if den > 0 else NAN


def bland_altman_limit_cis(
    d: np.ndarray, confidence: float = 0.95
) -> tuple[tuple[float, float], tuple[float, float]]:
    """CIs at ``confidence`` of the conventional 95% Bland-Altman limits bias -+ 1.96 s
    (Bland & Altman 1986, 1999): limit -+ t(1 - alpha/2, n - 1) sqrt(3 s^2 / n), s the
    SD (ddof 1) of d. The limits themselves stay at 95% whatever alpha. NaN under 3 d."""
    d = np.asarray(d, dtype=np.float64)
    d = d[~np.isnan(d)]
    n = d.size
    if n < 3:
        return (NAN, NAN), (NAN, NAN)
    bias, sd = float(d.mean()), float(d.std(ddof=1))
    half = dist.t_ppf(1 - (1 - confidence) / 2, n - 1) * np.sqrt(3 * sd * sd / n)
    lower, upper = bias - 1.96 * sd, bias + 1.96 * sd
    return (lower - half, lower + half), (upper - half, upper + half)


def proportional_bias(m: np.ndarray, h: np.ndarray) -> tuple[float, float]:
    """(slope, two-sided p) of the OLS regression of d = m - h on (m + h) / 2 (Bland &
    Altman 1999, section 3.1): a slope away from 0 means the difference grows with the
    level. p from t = b / se(b) on n - 2 df (scipy.stats.linregress). NaN under 3 pairs
    or when the averages are constant; p is NaN when the residuals are all 0 (se 0:
    d is an exact linear function of the average, constant d included), where t is
    undefined (scipy would say p = 0)."""
    m, h = _pairs(m, h)
    n = m.size
    if n < 3:
        return NAN, NAN
    x, y = (m + h) / 2, m - h
    xc, yc = x - x.mean(), y - y.mean()
    sxx = float((xc * xc).sum())
    if sxx <= 1e-12 * max(float((x * x).sum()), 1.0):
        return NAN, NAN
    slope = float((xc * yc).sum()) / sxx
    resid = yc - slope * xc
    ss_resid = float((resid * resid).sum())
    if ss_resid <= 1e-20 * max(float((y * y).sum()), 1.0):
        return slope, NAN
    se = np.sqrt(ss_resid / (n - 2) / sxx)
    t = slope / se
    return slope, min(1.0, 2 * dist.t_sf(abs(t), n - 2))


def agreement(
    m: np.ndarray,
    h: np.ndarray,
    *,
    n_boot: int = 2000,
    seed: SeedLike = 0,
    confidence: float = 0.95,
) -> Agreement:
    """Agreement of model means with human means: two-way ICCs, Lin's CCC and C_b,
    Bland-Altman (bias = mean d with its t interval, the conventional 95% limits =
    bias -+ 1.96 SD(d, ddof 1) with their CIs, proportional bias), MAE and r. Every
    interval is at ``confidence``: r by Fisher's z (and a percentile bootstrap,
    ``r_ci_bootstrap``), the MAE by BCa bootstrap (and percentile,
    ``mae_ci_percentile``; the BCa levels expanded for small n, see
    :func:`expanded_confidence`), CCC on Lin's z scale, the ICCs by McGraw & Wong's F
    intervals."""
    m, h = _pairs(m, h)
    n = int(m.size)
    d = m - h
    a1, c1 = icc_two_way(m, h)
    icc_a1_ci, icc_c1_ci = icc_two_way_intervals(np.column_stack([m, h]), confidence)
    bias = float(d.mean()) if n else NAN
    sd = float(d.std(ddof=1)) if n > 1 else NAN
    mae_reps, r_reps = bootstrap_replicates(m, h, n_boot=n_boot, seed=seed)
    mae = float(np.abs(d).mean()) if n else NAN
    if mae_reps.size:
        mae_ci = bca_interval(mae, mae_reps, mae_jackknife(m, h),
                              expanded_confidence(n, confidence))
        mae_ci_pct = percentile_interval(mae_reps, confidence)
        r_ci_boot = percentile_interval(r_reps, confidence)
    else:
        mae_ci = mae_ci_pct = r_ci_boot = (NAN, NAN)
    r = pearson(m, h).r
    concordance = ccc(m, h)
    lower_ci, upper_ci = bland_altman_limit_cis(d, confidence)
    slope, slope_p = proportional_bias(m, h)
    return Agreement(
        n=n,
        icc_a1=a1,
        icc_c1=c1,
        ba_bias=bias,
        ba_sd=sd,
        ba_lower=bias - 1.96 * sd,
        ba_upper=bias + 1.96 * sd,
        mae=mae,
        mse=float((d * d).mean()) if n else NAN,
        r=r,
        mae_ci=mae_ci,
        r_ci=fisher_z_interval(r, n, confidence),
        n_boot=n_boot,
        confidence=confidence,
        ccc=concordance,
        ccc_cb=concordance / r if np.isfinite(r) and r != 0 else NAN,
        ba_lower_ci=lower_ci,
        ba_upper_ci=upper_ci,
        ba_slope=slope,
        ba_slope_p=slope_p,
        r_ci_bootstrap=r_ci_boot,
        mae_ci_percentile=mae_ci_pct,
        ccc_ci=ccc_interval(m, h, confidence),
        icc_a1_ci=icc_a1_ci,
        icc_c1_ci=icc_c1_ci,
        ba_bias_ci=mean_t_interval(d, confidence),
    )


def between_aspects(means: dict[str, np.ndarray], aspects: Sequence[str]) -> dict[str, Correlation]:
    """Pearson r of the per-image model means for each pair of aspects, in study order,
    keyed "a~b". Arrays are aligned over the same images (NaN = no mean)."""
    return {f"{a}~{b}": pearson(means[a], means[b]) for a, b in combinations(aspects, 2)}
