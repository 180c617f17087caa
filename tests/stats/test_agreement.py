"""Direction, equivalence, correlation and agreement against scipy, pingouin and
hand computations written here."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from tests.helpers import PINGOUIN, LazyModule
from vlmrate.stats.agreement import (
    agreement,
    between_aspects,
    bootstrap_mae_r,
    icc_two_way,
    icc_two_way_matrix,
    pearson,
    tost_paired,
    tost_wilcoxon,
    wilcoxon_signed_rank,
)

pd = LazyModule("pandas")  # imported where a test uses it, not at collection
pg = LazyModule("pingouin")
pytestmark = PINGOUIN  # one worker for the pingouin import

ALTS = {"greater": "p_greater", "less": "p_less", "two-sided": "p_two_sided"}


def _w_plus_by_hand(d: np.ndarray) -> float:
    d = d[d != 0]
    ranks = pd.Series(np.abs(d)).rank(method="average").to_numpy()
    return float(ranks[d > 0].sum())


SCIPY_METHOD = {"exact": "exact", "normal": "approx"}


def _scipy_p(d: np.ndarray, alternative: str, method: str) -> float:
    return float(
        sps.wilcoxon(
            d,
            zero_method="wilcox",
            correction=False,
            method=SCIPY_METHOD[method],
            alternative=alternative,
        ).pvalue
    )


def _cases() -> dict[str, tuple[np.ndarray, str]]:
    rng = np.random.default_rng(5)
    return {
        # no ties, no zeros, n < 50: exact
        "exact_n20": (rng.normal(0.3, 1, 20), "exact"),
        "exact_n49": (rng.normal(-0.2, 1, 49), "exact"),
        "exact_tiny": (np.array([0.5, -1.25, 2.0, 3.5, -0.75]), "exact"),
        # n = 50 without ties: the normal approximation already, as R (exact only n < 50)
        "normal_n50": (rng.normal(-0.2, 1, 50), "normal"),
        # ties (means of 10 integers minus 2-decimal human means), n < 50: normal
        "ties_n30": (np.round(rng.normal(0.2, 1, 30) * 2) / 2, "normal"),
        # zeros (dropped) and ties
        "zeros_n40": (np.r_[np.zeros(6), np.round(rng.normal(0.3, 1, 34), 1)], "normal"),
        # n > 50 without ties: normal, no continuity correction
        "n80": (rng.normal(0.1, 1, 80), "normal"),
        # n > 50 with ties and zeros
        "ties_zeros_n320": (np.round(rng.normal(-0.4, 1, 320), 1), "normal"),
    }


@pytest.mark.parametrize("name", list(_cases()))
def test_wilcoxon_matches_scipy(name: str) -> None:
    d, method = _cases()[name]
    r = wilcoxon_signed_rank(d)
    assert r.method == method
    assert r.w_plus == pytest.approx(_w_plus_by_hand(d), abs=1e-9)
    nz = d[d != 0]
    assert r.w_plus + r.w_minus == pytest.approx(len(nz) * (len(nz) + 1) / 2)
    assert r.w_plus == pytest.approx(
        sps.wilcoxon(
            d, zero_method="wilcox", alternative="greater", method=SCIPY_METHOD[method]
        ).statistic
    )
    assert r.n_zero == int((d == 0).sum()) and r.n == len(nz)
    assert r.rank_biserial == pytest.approx((r.w_plus - r.w_minus) / (r.w_plus + r.w_minus))
    for alternative, attr in ALTS.items():
        assert getattr(r, attr) == pytest.approx(
            _scipy_p(d, alternative, method), rel=1e-9, abs=1e-15
        ), alternative


def test_wilcoxon_ignores_float_noise() -> None:
    # 5.3 - 5.8 + 0.5 is -4.4e-16 in floating point: still a zero, dropped
    d = np.array([5.3 - 5.8 + 0.5, 0.3, -0.1 - 0.2, 1.0, 2.0, -1.5, 0.7, 0.4, -2.0, 1.1])
    clean = np.array([0.0, 0.3, -0.3, 1.0, 2.0, -1.5, 0.7, 0.4, -2.0, 1.1])
    r = wilcoxon_signed_rank(d)
    assert r.n == 9
    assert r.w_plus == _w_plus_by_hand(clean)
    assert r.p_two_sided == pytest.approx(_scipy_p(clean, "two-sided", "normal"))
    assert r.n_zero == 1


def test_wilcoxon_all_zero() -> None:
    r = wilcoxon_signed_rank(np.zeros(5))
    assert r.n == 0 and np.isnan(r.p_two_sided)
    assert r.n_zero == 5 and r.method == "none" and np.isnan(r.hodges_lehmann)


@pytest.mark.parametrize("bound", [0.2, 0.5, 1.0])
def test_tost_matches_pingouin_and_scipy(bound: float) -> None:
    rng = np.random.default_rng(int(bound * 10))
    h = rng.uniform(2, 8, 120)
    m = h + rng.normal(0.15, 0.8, 120)
    d = m - h
    r = tost_paired(d, bound=bound, alpha=0.05)
    ref = pg.tost(m, h, bound=bound, paired=True)
    assert r.p == pytest.approx(float(ref["pval"].iloc[0]), rel=1e-9)
    lower = sps.ttest_1samp(d, -bound, alternative="greater")
    upper = sps.ttest_1samp(d, bound, alternative="less")
    assert r.t_lower == pytest.approx(lower.statistic, rel=1e-12)
    assert r.p_lower == pytest.approx(lower.pvalue, rel=1e-9)
    assert r.t_upper == pytest.approx(upper.statistic, rel=1e-12)
    assert r.p_upper == pytest.approx(upper.pvalue, rel=1e-9)
    assert r.mean_diff == pytest.approx(d.mean())
    assert r.sd_diff == pytest.approx(np.std(d, ddof=1))
    assert r.equivalent == (max(lower.pvalue, upper.pvalue) < 0.05)


def test_tost_equivalence_decision() -> None:
    rng = np.random.default_rng(0)
    close = rng.normal(0.0, 0.3, 200)
    far = rng.normal(0.9, 0.3, 200)
    assert tost_paired(close, 0.5).equivalent
    assert not tost_paired(far, 0.5).equivalent
    assert tost_wilcoxon(close, 0.5).equivalent
    assert not tost_wilcoxon(far, 0.5).equivalent


@pytest.mark.parametrize("n", [30, 320])
def test_tost_wilcoxon_matches_scipy(n: int) -> None:
    rng = np.random.default_rng(n)
    d = np.round(rng.normal(0.1, 0.8, n), 1)  # ties, and zeros at d = -+0.5
    bound = 0.5
    r = tost_wilcoxon(d, bound=bound)
    lo = sps.wilcoxon(
        np.round(d + bound, 10),
        zero_method="wilcox",
        correction=False,
        method="approx",
        alternative="greater",
    ).pvalue
    hi = sps.wilcoxon(
        np.round(d - bound, 10),
        zero_method="wilcox",
        correction=False,
        method="approx",
        alternative="less",
    ).pvalue
    assert r.p_lower == pytest.approx(lo, rel=1e-9)
    assert r.p_upper == pytest.approx(hi, rel=1e-9)
    assert r.p == pytest.approx(max(lo, hi), rel=1e-9)
    assert r.equivalent == (max(lo, hi) < 0.05)


def test_pearson_matches_scipy() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=60)
    y = 0.4 * x + rng.normal(size=60)
    y[[3, 7]] = np.nan  # incomplete pairs are dropped
    ok = ~np.isnan(y)
    ref = sps.pearsonr(x[ok], y[ok])
    r = pearson(x, y)
    assert r.n == 58
    assert r.r == pytest.approx(ref.statistic, rel=1e-12)
    assert r.p == pytest.approx(ref.pvalue, rel=1e-9)
    assert np.isnan(pearson(np.ones(10), np.arange(10.0)).r)
    assert np.isnan(pearson(np.arange(2.0), np.arange(2.0)).r)


def test_two_way_iccs_shrout_fleiss() -> None:
    sf = np.array(
        [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]],
        dtype=float,
    )
    a1, c1 = icc_two_way_matrix(sf)
    assert a1 == pytest.approx(0.289764, abs=5e-7)  # ICC(2,1), psych
    assert c1 == pytest.approx(0.714841, abs=5e-7)  # ICC(3,1), psych


def test_two_way_iccs_match_pingouin() -> None:
    rng = np.random.default_rng(9)
    h = rng.uniform(2, 8, 80)
    m = 0.8 * h + 1.5 + rng.normal(0, 0.7, 80)
    long = pd.DataFrame(
        {
            "image": np.r_[np.arange(80), np.arange(80)],
            "rater": ["m"] * 80 + ["h"] * 80,
            "rating": np.r_[m, h],
        }
    )
    ref = pg.intraclass_corr(long, targets="image", raters="rater", ratings="rating")
    ref = ref.set_index("Type")["ICC"]
    a1, c1 = icc_two_way(m, h)
    assert a1 == pytest.approx(ref.get("ICC2", ref.get("ICC(A,1)")), rel=1e-10)
    assert c1 == pytest.approx(ref.get("ICC3", ref.get("ICC(C,1)")), rel=1e-10)


def test_bland_altman_by_hand() -> None:
    m = np.array([5.1, 6.3, 2.2, 7.8, 4.4, 3.0])
    h = np.array([5.0, 5.5, 3.1, 7.0, 4.9, 2.5])
    diffs = [mi - hi for mi, hi in zip(m, h, strict=True)]
    bias = sum(diffs) / 6
    sd = (sum((x - bias) ** 2 for x in diffs) / 5) ** 0.5
    a = agreement(m, h, n_boot=200, seed=1)
    assert a.ba_bias == pytest.approx(bias)
    assert a.ba_lower == pytest.approx(bias - 1.96 * sd)
    assert a.ba_upper == pytest.approx(bias + 1.96 * sd)
    assert a.mae == pytest.approx(sum(abs(x) for x in diffs) / 6)


# scipy's resamples in batches of 2000: the same resamples and interval as all 20000 at
# once, without 20000 x 400 arrays (4 s of page faults a test)
REFERENCE_BATCH = 2000


@pytest.mark.parametrize("confidence", [0.95, 0.90])
def test_bootstrap_cis_agree_with_scipy_bootstrap(confidence: float) -> None:
    rng = np.random.default_rng(4)
    h = rng.uniform(2, 8, 400)
    m = h + rng.normal(0.2, 0.9, 400)
    mae_ci, r_ci = bootstrap_mae_r(m, h, n_boot=2000, seed=123, confidence=confidence)
    ref_mae = sps.bootstrap(
        (np.abs(m - h),),
        np.mean,
        n_resamples=20000,
        batch=REFERENCE_BATCH,
        method="percentile",
        rng=1,
        confidence_level=confidence,
    ).confidence_interval
    ref_r = sps.bootstrap(
        (m, h),
        lambda a, b, axis=-1: sps.pearsonr(a, b, axis=axis).statistic,
        paired=True,
        vectorized=True,
        n_resamples=20000,
        batch=REFERENCE_BATCH,
        method="percentile",
        rng=1,
        confidence_level=confidence,
    ).confidence_interval
    # Monte-Carlo error of a 2.5% percentile with 2000 resamples is ~0.002 here
    assert mae_ci[0] == pytest.approx(ref_mae.low, abs=0.01)
    assert mae_ci[1] == pytest.approx(ref_mae.high, abs=0.01)
    assert r_ci[0] == pytest.approx(ref_r.low, abs=0.01)
    assert r_ci[1] == pytest.approx(ref_r.high, abs=0.01)


def test_bootstrap_is_seeded() -> None:
    rng = np.random.default_rng(4)
    h = rng.uniform(2, 8, 50)
    m = h + rng.normal(0.2, 0.9, 50)
    assert bootstrap_mae_r(m, h, seed=7) == bootstrap_mae_r(m, h, seed=7)
    assert bootstrap_mae_r(m, h, seed=7) != bootstrap_mae_r(m, h, seed=8)


def test_between_aspects_order_and_values() -> None:
    rng = np.random.default_rng(2)
    means = {a: rng.normal(size=30) for a in ("relevance", "arousal", "valence")}
    out = between_aspects(means, ["relevance", "arousal", "valence"])
    assert list(out) == ["relevance~arousal", "relevance~valence", "arousal~valence"]
    ref = sps.pearsonr(means["arousal"], means["valence"])
    assert out["arousal~valence"].r == pytest.approx(ref.statistic)
    assert out["arousal~valence"].p == pytest.approx(ref.pvalue)
