"""The intervals of issue 25 against independent computations: scipy's Fisher-z interval
of pearsonr, scipy's BCa bootstrap, scipy's one-sample t interval, DescTools' CCC
z-transform and psych's ICC2/ICC3 bounds (their R code transcribed here, line by line),
pingouin's ICC CIs (two decimals); proportional bias with constant d."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps
from scipy.special import ndtr, ndtri

from tests.helpers import PINGOUIN, LazyModule
from vlmrate.stats.agreement import (
    agreement,
    bca_interval,
    bootstrap_replicates,
    ccc_interval,
    fisher_z_interval,
    icc_two_way_intervals,
    mae_jackknife,
    proportional_bias,
)

pd = LazyModule("pandas")  # imported where a test uses it, not at collection
pg = LazyModule("pingouin")
pytestmark = PINGOUIN  # one worker for the pingouin import


def _pair(n: int, seed: int, shift: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    h = rng.uniform(2, 8, n)
    return h + rng.normal(shift, 0.9, n), h


@pytest.mark.parametrize(("n", "confidence"), [(4, 0.95), (12, 0.95), (50, 0.9)])
def test_r_ci_is_scipys_fisher_z(n: int, confidence: float) -> None:
    m, h = _pair(n, n)
    ref = sps.pearsonr(m, h).confidence_interval(confidence_level=confidence)
    a = agreement(m, h, n_boot=200, seed=0, confidence=confidence)
    assert a.r_ci == pytest.approx((ref.low, ref.high), rel=1e-10)
    assert a.r_ci_method == "Fisher z" and a.mae_ci_method == "BCa bootstrap, expanded"
    assert fisher_z_interval(0.5, 3) == (pytest.approx(math.nan, nan_ok=True),) * 2


def test_bca_matches_the_textbook_formula_on_given_replicates() -> None:
    m, h = _pair(30, 1)
    est = float(np.abs(m - h).mean())
    reps, _ = bootstrap_replicates(m, h, n_boot=3000, seed=2)
    jack = np.array([np.abs(np.delete(m - h, i)).mean() for i in range(30)])
    assert mae_jackknife(m, h) == pytest.approx(jack, rel=1e-12)
    # Efron & Tibshirani (1993) eq. 14.10-14.15, ties counted half (scipy's convention)
    z0 = ndtri(((reps < est).sum() + (reps <= est).sum()) / (2 * reps.size))
    u = jack.mean() - jack
    acc = (u**3).sum() / (6 * ((u**2).sum()) ** 1.5)
    z = ndtri([0.025, 0.975])
    levels = ndtr(z0 + (z0 + z) / (1 - acc * (z0 + z)))
    ref = np.percentile(reps, 100 * levels)
    assert bca_interval(est, reps, jack, 0.95) == pytest.approx(tuple(ref), rel=1e-12)


def expanded(n: int, conf: float) -> float:
    """Hesterberg (2015): the bootstrap level that keeps conf for a mean of n values."""
    return 1 - 2 * sps.norm.cdf(-math.sqrt(n / (n - 1)) * sps.t.ppf(1 - (1 - conf) / 2, n - 1))


@pytest.mark.parametrize("n", [12, 200])
def test_mae_ci_agrees_with_scipy_bca(n: int) -> None:
    m, h = _pair(n, 4)
    a = agreement(m, h, n_boot=2000, seed=5)
    ref = sps.bootstrap((np.abs(m - h),), np.mean, n_resamples=20000, batch=2000,
                        method="BCa", rng=1, confidence_level=expanded(n, 0.95)).confidence_interval
    # Monte-Carlo error of an outer quantile with 2000 resamples: a few % of the width
    width = ref.high - ref.low
    assert a.mae_ci[0] == pytest.approx(ref.low, abs=0.06 * width)
    assert a.mae_ci[1] == pytest.approx(ref.high, abs=0.06 * width)
    if n == 12:  # expanded to 97.9%: wider than the plain 95% percentile interval
        assert a.mae_ci[1] - a.mae_ci[0] > a.mae_ci_percentile[1] - a.mae_ci_percentile[0]
    assert a.mae_ci_percentile[0] < a.mae < a.mae_ci_percentile[1]


def _desctools_ccc(x: np.ndarray, y: np.ndarray, conf: float) -> tuple[float, float, float]:
    """DescTools::CCC(x, y, ci = "z-transform"), its R code transcribed."""
    k = len(y)
    yb, xb = y.mean(), x.mean()
    sy2 = y.var(ddof=1) * (k - 1) / k
    sx2 = x.var(ddof=1) * (k - 1) / k
    r = np.corrcoef(x, y)[0, 1]
    sxy = r * math.sqrt(sx2 * sy2)
    p = 2 * sxy / (sx2 + sy2 + (yb - xb) ** 2)
    u = (yb - xb) / ((sx2 * sy2) ** 0.25)
    sep = math.sqrt(((1 - r**2) * p**2 * (1 - p**2) / r**2 + (2 * p**3 * (1 - p) * u**2 / r)
                     - 0.5 * p**4 * u**4 / r**2) / (k - 2))
    n_ = sps.norm.ppf(1 - (1 - conf) / 2)
    t = math.log((1 + p) / (1 - p)) / 2
    set_ = sep / (1 - p**2)
    llt, ult = t - n_ * set_, t + n_ * set_
    return p, (math.exp(2 * llt) - 1) / (math.exp(2 * llt) + 1), \
        (math.exp(2 * ult) - 1) / (math.exp(2 * ult) + 1)


@pytest.mark.parametrize(("n", "conf"), [(8, 0.95), (40, 0.9)])
def test_ccc_ci_is_desctools_z_transform(n: int, conf: float) -> None:
    m, h = _pair(n, 10 + n)
    est, lo, hi = _desctools_ccc(m, h, conf)
    a = agreement(m, h, n_boot=100, seed=0, confidence=conf)
    assert a.ccc == pytest.approx(est, rel=1e-12)
    assert a.ccc_ci == pytest.approx((lo, hi), rel=1e-10)
    assert ccc_interval(m[:2], h[:2]) == (pytest.approx(math.nan, nan_ok=True),) * 2


def _psych_icc_bounds(y: np.ndarray, alpha: float) -> tuple[tuple, tuple]:
    """psych::ICC's ICC2 and ICC3 bounds, its R code transcribed (n.obs x n.judge)."""
    n_obs, n_judge = y.shape
    grand = y.mean()
    msb = n_judge * ((y.mean(axis=1) - grand) ** 2).sum() / (n_obs - 1)
    msj = n_obs * ((y.mean(axis=0) - grand) ** 2).sum() / (n_judge - 1)
    sst = ((y - grand) ** 2).sum()
    mse = (sst - msb * (n_obs - 1) - msj * (n_judge - 1)) / ((n_obs - 1) * (n_judge - 1))
    icc2 = (msb - mse) / (msb + (n_judge - 1) * mse + n_judge * (msj - mse) / n_obs)
    f31 = msb / mse
    df21n, df21d = n_obs - 1, (n_obs - 1) * (n_judge - 1)
    f3l = f31 / sps.f.ppf(1 - alpha / 2, df21n, df21d)
    f3u = f31 * sps.f.ppf(1 - alpha / 2, df21d, df21n)
    l3, u3 = (f3l - 1) / (f3l + (n_judge - 1)), (f3u - 1) / (f3u + n_judge - 1)
    fj = msj / mse
    vn = (n_judge - 1) * (n_obs - 1) * (n_judge * icc2 * fj + n_obs * (1 + (n_judge - 1) * icc2)
                                        - n_judge * icc2) ** 2
    vd = (n_obs - 1) * n_judge**2 * icc2**2 * fj**2 + (
        n_obs * (1 + (n_judge - 1) * icc2) - n_judge * icc2) ** 2
    v = vn / vd
    f3u_ = sps.f.ppf(1 - alpha / 2, n_obs - 1, v)
    f3l_ = sps.f.ppf(1 - alpha / 2, v, n_obs - 1)
    l2 = n_obs * (msb - f3u_ * mse) / (f3u_ * (n_judge * msj + (n_judge * n_obs - n_judge
                                                                 - n_obs) * mse) + n_obs * msb)
    u2 = n_obs * (f3l_ * msb - mse) / (n_judge * msj + (n_judge * n_obs - n_judge - n_obs)
                                       * mse + n_obs * f3l_ * msb)
    return (l2, u2), (l3, u3)


@pytest.mark.parametrize(("n", "conf"), [(3, 0.95), (12, 0.95), (60, 0.9)])
def test_icc_intervals_are_psych_bounds(n: int, conf: float) -> None:
    m, h = _pair(n, 20 + n, shift=0.6)
    (l2, u2), (l3, u3) = _psych_icc_bounds(np.column_stack([m, h]), 1 - conf)
    a = agreement(m, h, n_boot=100, seed=0, confidence=conf)
    assert a.icc_a1_ci == pytest.approx((l2, u2), rel=1e-9)
    assert a.icc_c1_ci == pytest.approx((l3, u3), rel=1e-9)
    assert a.icc_c1_ci[0] < a.icc_c1 < a.icc_c1_ci[1]


def test_icc_intervals_match_pingouin() -> None:
    m, h = _pair(30, 7, shift=0.5)
    long = pd.DataFrame({"t": list(range(30)) * 2, "r": ["m"] * 30 + ["h"] * 30,
                         "y": np.r_[m, h]})
    ref = pg.intraclass_corr(long, targets="t", raters="r", ratings="y").set_index("Type")
    a1_ci, c1_ci = icc_two_way_intervals(np.column_stack([m, h]))
    assert a1_ci == pytest.approx(tuple(ref.loc["ICC(A,1)", "CI95"]), abs=0.0051)
    assert c1_ci == pytest.approx(tuple(ref.loc["ICC(C,1)", "CI95"]), abs=0.0051)


def test_ba_bias_ci_is_the_t_interval() -> None:
    m, h = _pair(15, 3)
    for conf in (0.95, 0.8):
        ref = sps.ttest_1samp(m - h, 0).confidence_interval(confidence_level=conf)
        a = agreement(m, h, n_boot=100, seed=0, confidence=conf)
        assert a.ba_bias_ci == pytest.approx((ref.low, ref.high), rel=1e-10)


def test_constant_d_has_no_proportional_bias_p() -> None:
    h = np.array([2.0, 3.5, 5.0, 6.5, 8.0, 4.0])
    slope, p = proportional_bias(h + 0.5, h)
    assert slope == pytest.approx(0.0, abs=1e-12) and math.isnan(p)
    a = agreement(h + 0.5, h, n_boot=100, seed=0)
    assert math.isnan(a.ba_slope_p)
    assert all(math.isnan(v) for v in (*a.icc_a1_ci, *a.icc_c1_ci))
    assert a.ba_bias_ci == pytest.approx((0.5, 0.5))
