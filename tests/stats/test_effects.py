"""Wilcoxon effect sizes and the Hodges-Lehmann interval, the TOST interval and d_z,
against base R 4.2 (values printed by the R code quoted with each test; CI has no R)
and against computations written here."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from vlmrate.stats.agreement import (
    hodges_lehmann,
    tost_paired,
    tost_wilcoxon,
    walsh_kth,
    wilcoxon_signed_rank,
)

D1 = np.array([0.5, -1.25, 2.0, 3.5, -0.75, 1.1, 0.3, 2.7, -0.2, 1.9])
D2 = np.array(
    [0, 0, 0.5, 0.5, -0.5, 1, 1.5, -1, 0.5, 2, 0.25, -0.25, 1, 0.75, 0.5, 1.25, -0.75, 0.5, 1, 0]
)
D3 = np.round(np.sin(np.arange(1, 61)) * 1.3 + 0.2, 4)  # R: round(sin(1:60) * 1.3 + 0.2, 4)
D4 = np.array([0.3, -0.1, 0.7, 1.2, 0.05])
D5 = np.round(np.sin(np.arange(1, 201)) * 1.5 + 0.1, 1)  # R: round(sin(1:200)*1.5 + 0.1, 1)

# R:
#   show <- function(w) cat(w$statistic, w$p.value, w$conf.int, w$estimate, "\n")
#   show(wilcox.test(d, conf.int = TRUE, correct = FALSE, conf.level = level))
# name: (d, level, V, p two-sided, conf.int, estimate (exact case only), method)
R_WILCOX = {
    "d1": (D1, 0.95, 44, 0.10546875, (-0.2, 2.0), 0.975, "exact"),
    "d1_90": (D1, 0.90, 44, 0.10546875, (-0.075, 1.95), 0.975, "exact"),
    "d2_zeros_ties": (D2, 0.95, 124, 0.023604312511485, (0.124995439197652, 0.875021317607259),
                      None, "normal"),
    "d3_n60": (D3, 0.95, 1193, 0.0407046830209806, (0.0126835890600355, 0.472919028268767),
               None, "normal"),
    "d3_n60_90": (D3, 0.90, 1193, 0.0407046830209806, (0.0521996854299021, 0.426995504573367),
                  None, "normal"),
    "d4_n5": (D4, 0.95, 13, 0.1875, (-0.1, 1.2), 0.375, "exact"),  # qsignrank = 0: [min, max]
    # n = 200 with 5 zeros and heavy ties (one decimal)
    "d5_n200_ties": (D5, 0.95, 10921.5, 0.0830936946579617,
                     (-2.74619366708765e-05, 0.200052538050937), None, "normal"),
}


def _walsh(d: np.ndarray) -> np.ndarray:
    i, j = np.triu_indices(d.size)
    return np.sort((d[i] + d[j]) / 2)


@pytest.mark.parametrize("name", list(R_WILCOX))
def test_wilcoxon_and_hodges_lehmann_match_r(name: str) -> None:
    d, level, v, p, ci, estimate, method = R_WILCOX[name]
    r = wilcoxon_signed_rank(d, level)
    assert r.method == method
    assert r.w_plus == v
    assert r.p_two_sided == pytest.approx(p, rel=1e-12)
    # R's asymptotic interval is a uniroot with tol 1e-4 on the same step function
    tol = 1e-12 if method == "exact" else 1e-4
    assert r.hodges_lehmann_ci[0] == pytest.approx(ci[0], abs=tol)
    assert r.hodges_lehmann_ci[1] == pytest.approx(ci[1], abs=tol)
    nz = d[d != 0]
    assert r.hodges_lehmann == pytest.approx(float(np.median(_walsh(nz))), abs=1e-12)
    if estimate is not None:
        assert r.hodges_lehmann == pytest.approx(estimate, abs=1e-12)
    assert r.rank_biserial == pytest.approx((2 * v - nz.size * (nz.size + 1) / 2)
                                            / (nz.size * (nz.size + 1) / 2))


def test_exact_interval_level_is_the_achieved_one() -> None:
    # n = 10, alpha 0.05: qsignrank(0.025, 10) = 9, achieved 2 psignrank(8, 10) = 0.048828125
    r = wilcoxon_signed_rank(D1, 0.95)
    counts = np.bincount(
        [sum(k + 1 for k in range(10) if mask >> k & 1) for mask in range(2**10)]
    )
    assert r.hodges_lehmann_ci_level == pytest.approx(1 - 2 * counts[:9].sum() / 2**10)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_walsh_kth_against_sorted_averages(seed: int) -> None:
    rng = np.random.default_rng(seed)
    d = np.round(rng.normal(0.2, 1, 37), 1)  # many ties
    walsh = _walsh(d)
    for k in (1, 2, 17, walsh.size // 2, walsh.size - 1, walsh.size):
        assert walsh_kth(d, k) == pytest.approx(walsh[k - 1], abs=1e-12)
    assert hodges_lehmann(d) == pytest.approx(np.median(walsh), abs=1e-12)


def test_hodges_lehmann_large_n_without_storing_walsh() -> None:
    rng = np.random.default_rng(3)
    d = rng.normal(0.1, 1, 3000)  # 4.5 million Walsh averages
    # the median of all of them, one row of i <= j at a time (not _walsh's index arrays)
    walsh = np.concatenate([(d[i] + d[i:]) / 2 for i in range(d.size)])
    assert hodges_lehmann(d) == pytest.approx(np.median(walsh), abs=1e-12)


# R:
#   for (a in c(0.05, 0.10)) { t <- t.test(d3, conf.level = 1 - 2*a)
#                              cat(t$conf.int, mean(d3)/sd(d3), "\n") }
R_TOST_CI = {0.05: (0.0357355520815692, 0.435101114585097),
             0.10: (0.0805484345871061, 0.390288232079561)}
R_DZ = 0.254345856407565


@pytest.mark.parametrize("alpha", [0.05, 0.10])
def test_tost_interval_and_dz_match_r(alpha: float) -> None:
    t = tost_paired(D3, bound=0.5, alpha=alpha)
    assert t.ci[0] == pytest.approx(R_TOST_CI[alpha][0], abs=1e-12)
    assert t.ci[1] == pytest.approx(R_TOST_CI[alpha][1], abs=1e-12)
    assert t.dz == pytest.approx(R_DZ, rel=1e-12)
    # the interval decision is the TOST decision (Schuirmann): inside (-bound, bound)
    assert t.equivalent == (t.ci[0] > -0.5 and t.ci[1] < 0.5)
    ref = sps.ttest_1samp(D3, 0).confidence_interval(1 - 2 * alpha)
    assert t.ci == pytest.approx((ref.low, ref.high), abs=1e-12)


@pytest.mark.parametrize("value", [0.0, 0.3, -1.7])
def test_tost_degenerate_sd_gives_nulls(value: float) -> None:
    # every d equal: +0.3 accumulates SD 3.7e-16 in floating point; t must not explode
    m = np.linspace(2.1, 8.3, 12)
    d = m - (m - value)
    if value == 0.3:
        assert 0 < np.std(d, ddof=1) < 1e-12  # the float noise of the issue
    t = tost_paired(d, bound=0.5)
    assert t.degenerate
    assert t.equivalent is None
    for v in (t.t_lower, t.t_upper, t.p, t.p_lower, t.p_upper, t.dz, *t.ci):
        assert np.isnan(v)
    assert t.mean_diff == pytest.approx(value)


def test_tost_wilcoxon_undefined_is_none() -> None:
    tw = tost_wilcoxon(np.full(8, 0.5), bound=0.5)  # d - bound all zero
    assert tw.equivalent is None and np.isnan(tw.p)
