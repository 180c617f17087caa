"""CCC, Bland-Altman limit CIs, proportional bias, Spearman-Brown k, Pitman-Morgan and
Holm against base R 4.2 (values and R code written here; CI has no R), scipy and
textbook identities."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from vlmrate.stats.agreement import agreement, bland_altman_limit_cis, ccc, proportional_bias
from vlmrate.stats.homogeneity import homogeneity, pitman_morgan
from vlmrate.stats.multiplicity import holm
from vlmrate.stats.reliability import icc_oneway, k_needed

M = np.array([5.1, 6.3, 2.2, 7.8, 4.4, 3.0, 6.6, 5.5, 4.0, 7.1, 3.3, 5.9])
H = np.array([5.0, 5.5, 3.1, 7.0, 4.9, 2.5, 6.1, 5.0, 4.6, 6.2, 3.0, 5.1])

# R:
#   n <- length(m); sxy <- sum((m-mean(m))*(h-mean(h)))/n
#   sx2 <- sum((m-mean(m))^2)/n; sy2 <- sum((h-mean(h))^2)/n
#   ccc <- 2*sxy/(sx2+sy2+(mean(m)-mean(h))^2); cat(ccc, ccc/cor(m,h))
#   d <- m - h; s <- sd(d); se <- sqrt(3*s^2/n); tq <- qt(0.975, n-1)
#   lo <- mean(d) - 1.96*s; up <- mean(d) + 1.96*s
#   cat(lo - tq*se, lo + tq*se, up - tq*se, up + tq*se)
#   fit <- summary(lm(d ~ I((m+h)/2)))$coefficients; cat(fit[2,1], fit[2,4])
#   cat(cor.test(m+h, m-h)$p.value, sd(m), sd(h))
R_CCC, R_CB = 0.909090909090909, 0.955988588748936
R_LO_CI = (-1.61241022240553, -0.261052478725867)
R_UP_CI = (0.794385812059201, 2.14574355573886)
R_SLOPE, R_SLOPE_P = 0.248367686595826, 0.0306837199000361
R_PM_P, R_SD_M, R_SD_H = 0.0306837199000361, 1.74616462828993, 1.36869767784319


def test_ccc_matches_r_and_lin_identity() -> None:
    assert ccc(M, H) == pytest.approx(R_CCC, rel=1e-12)
    a = agreement(M, H, n_boot=100, seed=0)
    assert a.ccc == pytest.approx(R_CCC, rel=1e-12)
    assert a.ccc_cb == pytest.approx(R_CB, rel=1e-12)
    # Lin (1989): ccc = r C_b, C_b = 2 / (v + 1/v + u^2), v = s_m/s_h, u = (mu_m-mu_h)/sqrt(s_m s_h)
    sm, sh = M.std(), H.std()
    v, u = sm / sh, (M.mean() - H.mean()) / math.sqrt(sm * sh)
    cb = 2 / (v + 1 / v + u * u)
    assert a.ccc_cb == pytest.approx(cb, rel=1e-12)
    assert a.ccc == pytest.approx(sps.pearsonr(M, H).statistic * cb, rel=1e-12)


def test_ccc_edge_cases() -> None:
    assert ccc(np.arange(5.0), np.arange(5.0)) == pytest.approx(1.0)
    assert ccc(np.arange(5.0), np.arange(5.0) + 1) < 1
    assert math.isnan(ccc(np.full(4, 3.0), np.full(4, 3.0)))  # 0 / 0
    assert math.isnan(ccc(np.array([1.0]), np.array([2.0])))


def test_bland_altman_limit_cis_match_r() -> None:
    lo_ci, up_ci = bland_altman_limit_cis(M - H)
    assert lo_ci == pytest.approx(R_LO_CI, abs=1e-12)
    assert up_ci == pytest.approx(R_UP_CI, abs=1e-12)
    a = agreement(M, H, n_boot=100, seed=0)
    assert a.ba_lower_ci == pytest.approx(R_LO_CI, abs=1e-12)
    assert a.ba_upper_ci == pytest.approx(R_UP_CI, abs=1e-12)
    assert a.ba_lower_ci[0] < a.ba_lower < a.ba_lower_ci[1]
    lo_ci, _ = bland_altman_limit_cis(np.array([0.1, 0.2]))
    assert all(math.isnan(v) for v in lo_ci)


def test_proportional_bias_matches_r_and_scipy() -> None:
    slope, p = proportional_bias(M, H)
    assert slope == pytest.approx(R_SLOPE, rel=1e-12)
    assert p == pytest.approx(R_SLOPE_P, rel=1e-10)
    ref = sps.linregress((M + H) / 2, M - H)
    assert slope == pytest.approx(ref.slope, rel=1e-12)
    assert p == pytest.approx(ref.pvalue, rel=1e-10)
    assert all(math.isnan(v) for v in proportional_bias(np.full(5, 4.0) + np.arange(5) * 0.5,
                                                         np.full(5, 4.0) - np.arange(5) * 0.5))


def test_homogeneity_matches_r() -> None:
    hg = homogeneity(M, H)
    assert hg.sd_model == pytest.approx(R_SD_M, rel=1e-12)
    assert hg.sd_human == pytest.approx(R_SD_H, rel=1e-12)
    assert hg.ratio == pytest.approx(R_SD_M / R_SD_H, rel=1e-12)
    assert hg.p == pytest.approx(R_PM_P, rel=1e-10)


def test_pitman_morgan_textbook_form() -> None:
    # t = (F - 1) sqrt(n - 2) / (2 sqrt(F (1 - r^2))), F = var(x)/var(y), r = cor(x, y)
    rng = np.random.default_rng(8)
    x = rng.normal(5, 1.0, 40)
    y = 0.6 * x + rng.normal(2, 0.9, 40)
    f = x.var(ddof=1) / y.var(ddof=1)
    r = sps.pearsonr(x, y).statistic
    t = (f - 1) * math.sqrt(38) / (2 * math.sqrt(f * (1 - r * r)))
    assert pitman_morgan(x, y) == pytest.approx(2 * sps.t.sf(abs(t), 38), rel=1e-9)


def test_homogeneity_within_image_sds() -> None:
    model_sd = np.array([0.5, np.nan, 1.0, 1.5])
    human_sd = np.array([2.0, 1.0, np.nan, 3.0])
    hg = homogeneity(np.array([4.0, 5.0, 6.0, 7.5]), np.array([4.5, 5.0, 5.5, 6.0]),
                     model_sd, human_sd)
    assert hg.image_sd_model == pytest.approx(1.0)
    assert hg.image_sd_human == pytest.approx(2.0)
    assert math.isnan(homogeneity(M, H).image_sd_human)


def test_holm_matches_r_p_adjust() -> None:
    # R: p.adjust(c(0.01, 0.04, NA, 0.03, 0.20), "holm") -> 0.04 0.09 NA 0.09 0.20
    got = holm({"a": 0.01, "b": 0.04, "c": float("nan"), "d": 0.03, "e": 0.20})
    assert list(got) == ["a", "b", "c", "d", "e"]
    assert [got[k] for k in "abde"] == pytest.approx([0.04, 0.09, 0.09, 0.20])
    assert math.isnan(got["c"])
    # R: p.adjust(c(0.001, 0.5, 0.02), "holm") -> 0.003 0.500 0.040
    got = holm({"relevance": 0.001, "arousal": 0.5, "valence": 0.02})
    assert list(got.values()) == pytest.approx([0.003, 0.5, 0.04])
    assert holm({}) == {}


def test_k_needed_spearman_brown() -> None:
    rng = np.random.default_rng(1)
    x = np.rint(rng.normal(5, 1.0, (50, 1)) + rng.normal(0, 1.5, (50, 8))).clip(1, 9)
    icc = icc_oneway(x).ICC1.value
    for target in (0.8, 0.9):
        k = k_needed(icc, target)
        # Spearman-Brown forward: the mean of k answers has reliability k ICC / (1 + (k-1) ICC)
        assert k * icc / (1 + (k - 1) * icc) == pytest.approx(target, rel=1e-12)
    # R: 0.8 * (1 - 0.25) / (0.25 * (1 - 0.8)) -> 12
    assert k_needed(0.25, 0.8) == pytest.approx(12.0)
    assert math.isnan(k_needed(0.0, 0.8)) and math.isnan(k_needed(-0.1, 0.9))
    assert math.isnan(k_needed(float("nan"), 0.9))


def test_pitman_morgan_is_the_bland_altman_slope_test() -> None:
    rng = np.random.default_rng(12)
    m = rng.uniform(2, 8, 50)
    h = 0.7 * m + rng.normal(1.5, 0.6, 50)
    assert pitman_morgan(m, h) == pytest.approx(proportional_bias(m, h)[1], rel=1e-9)
