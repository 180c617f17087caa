"""One-way ICCs and stability against Shrout & Fleiss (1979), psych digits, pingouin and
an explicit ANOVA written here with pandas."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import PINGOUIN, LazyModule
from vlmrate.stats.reliability import icc_oneway, per_image_sd, stability

pd = LazyModule("pandas")  # imported where a test uses it, not at collection
pg = LazyModule("pingouin")
pytestmark = PINGOUIN  # one worker for the pingouin import

# Shrout & Fleiss (1979), Table 2: 6 targets x 4 judges.
SF = np.array(
    [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]],
    dtype=float,
)


def test_shrout_fleiss_published_digits() -> None:
    r = icc_oneway(SF)
    # Published table: ICC(1,1) = .17, ICC(1,4) = .44
    assert round(r.ICC1.value, 2) == 0.17
    assert round(r.ICC1k.value, 2) == 0.44
    # R psych 2.2.9 ICC(x, lmer=FALSE), printed digits
    assert r.ICC1.value == pytest.approx(0.165742, abs=5e-7)
    assert r.ICC1k.value == pytest.approx(0.442797, abs=5e-7)
    f_stat = r.ICC1.F
    assert f_stat == pytest.approx(1.79468, abs=5e-6)
    assert r.ICC1.ci[0] == pytest.approx(-0.13293, abs=5e-6)
    assert r.ICC1.ci[1] == pytest.approx(0.72256, abs=5e-6)
    assert r.ICC1k.ci[0] == pytest.approx(-0.88444, abs=5e-6)
    assert r.ICC1k.ci[1] == pytest.approx(0.91242, abs=5e-6)
    assert (r.ICC1.df1, r.ICC1.df2) == (5, 18)
    assert r.n0 == pytest.approx(4.0)


def _long(x: np.ndarray) -> pd.DataFrame:
    i, j = np.nonzero(~np.isnan(x))
    return pd.DataFrame({"target": i, "rater": j, "rating": x[i, j]})


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_balanced_matches_pingouin(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, k = 40, 6
    x = np.rint(rng.normal(5, 1.5, (n, 1)) + rng.normal(0, 1.2, (n, k))).clip(1, 9)
    ref = pg.intraclass_corr(_long(x), targets="target", raters="rater", ratings="rating")
    ref = ref.set_index("Type")
    r = icc_oneway(x)
    for names, est in ((("ICC1", "ICC(1,1)"), r.ICC1), (("ICC1k", "ICC(1,k)"), r.ICC1k)):
        row = ref.loc[next(n for n in names if n in ref.index)]  # pingouin < / >= 0.7
        assert est.value == pytest.approx(row["ICC"], abs=1e-12)
        f_stat = est.F
        assert f_stat == pytest.approx(row["F"], rel=1e-12)
        assert est.df1 == row["df1"] and est.df2 == row["df2"]
        assert est.p == pytest.approx(row["pval"], rel=1e-9, abs=1e-300)
        lo, hi = row["CI95%"] if "CI95%" in row else row["CI95"]
        # pingouin rounds its CI to 2 decimals
        assert est.ci[0] == pytest.approx(lo, abs=0.0051)
        assert est.ci[1] == pytest.approx(hi, abs=0.0051)


def _anova_by_hand(x: np.ndarray) -> dict[str, float]:
    """Textbook unbalanced one-way ANOVA, by pandas group-by, independent of the code."""
    df = _long(x)
    grand = df["rating"].mean()
    g = df.groupby("target")["rating"]
    n_i = g.size()
    ssb = float((n_i * (g.mean() - grand) ** 2).sum())
    ssw = float(((df["rating"] - g.transform("mean")) ** 2).sum())
    a, big_n = len(n_i), len(df)
    msb, msw = ssb / (a - 1), ssw / (big_n - a)
    n0 = (big_n - (n_i**2).sum() / big_n) / (a - 1)
    return {"a": a, "N": big_n, "ssb": ssb, "msb": msb, "msw": msw, "n0": n0}


def test_unbalanced_n0_against_explicit_anova() -> None:
    rng = np.random.default_rng(7)
    n, k = 30, 10
    x = np.rint(rng.normal(5, 1.3, (n, 1)) + rng.normal(0, 1.0, (n, k))).clip(1, 9)
    x[rng.random((n, k)) < 0.3] = np.nan  # unequal repeat counts
    x[3, :] = np.nan  # an image with no valid answer is ignored
    x[4, 1:] = np.nan  # one with a single answer still counts in the ANOVA
    x[4, 0] = 5
    h = _anova_by_hand(x)
    r = icc_oneway(x)
    assert r.n_groups == h["a"] == n - 1
    assert r.n_total == h["N"]
    assert r.n0 == pytest.approx(h["n0"], rel=1e-12)
    assert r.n0 < k  # unbalanced: fewer effective repeats than K
    assert r.msb == pytest.approx(h["msb"], rel=1e-12)
    assert r.msw == pytest.approx(h["msw"], rel=1e-12)
    # Variance-components reading of the ICC (Searle): sigma_b^2 = (MSB - MSW) / n0
    sigma_b = (h["msb"] - h["msw"]) / h["n0"]
    assert r.ICC1.value == pytest.approx(sigma_b / (sigma_b + h["msw"]), rel=1e-12)
    assert r.ICC1k.value == pytest.approx(sigma_b / (sigma_b + h["msw"] / h["n0"]), rel=1e-12)
    assert r.ICC1.df2 == h["N"] - h["a"]


def test_unbalanced_anova_matches_statsmodels() -> None:
    sm = pytest.importorskip("statsmodels.formula.api")
    anova_lm = pytest.importorskip("statsmodels.stats.anova").anova_lm
    rng = np.random.default_rng(11)
    x = np.rint(rng.normal(5, 1.3, (25, 1)) + rng.normal(0, 1.0, (25, 8))).clip(1, 9)
    x[rng.random(x.shape) < 0.25] = np.nan
    table = anova_lm(sm.ols("rating ~ C(target)", data=_long(x)).fit())
    r = icc_oneway(x)
    assert r.msb == pytest.approx(table.loc["C(target)", "mean_sq"], rel=1e-10)
    assert r.msw == pytest.approx(table.loc["Residual", "mean_sq"], rel=1e-10)
    f_stat = r.ICC1.F
    assert f_stat == pytest.approx(table.loc["C(target)", "F"], rel=1e-10)
    assert r.ICC1.p == pytest.approx(table.loc["C(target)", "PR(>F)"], rel=1e-8)


def test_icc_reference_formula() -> None:
    h = _anova_by_hand(SF)
    sigma_b = h["ssb"] / h["a"]  # (1/k) sum n_i (m_i - m)^2, k = number of images
    expected = sigma_b / (sigma_b + h["msw"])
    assert icc_oneway(SF).icc_reference == pytest.approx(expected, rel=1e-12)
    assert icc_oneway(SF).icc_reference == pytest.approx(0.599289, abs=5e-7)


def test_balanced_equals_unbalanced_formula_when_complete() -> None:
    r = icc_oneway(SF)
    assert r.n0 == 4.0
    assert r.ICC1.value == pytest.approx((r.msb - r.msw) / (r.msb + 3 * r.msw))


def test_degenerate_inputs_do_not_raise() -> None:
    same = np.full((5, 4), 3.0)
    same[:, :] += np.arange(5)[:, None]  # no within-image variation
    r = icc_oneway(same)
    assert r.ICC1.value == 1.0 and r.ICC1k.value == 1.0
    assert r.ICC1.ci == (1.0, 1.0)
    one = icc_oneway(np.array([[1.0, 2.0, 3.0]]))
    assert np.isnan(one.ICC1.value) and np.isnan(one.icc_reference)
    empty = icc_oneway(np.full((3, 2), np.nan))
    assert empty.n_groups == 0 and np.isnan(empty.ICC1.F)


def test_stability_against_pandas() -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(1, 10, (50, 10)).astype(float)
    x[rng.random(x.shape) < 0.2] = np.nan
    x[0, 1:] = np.nan  # single answer: no SD
    sd = _long(x).groupby("target")["rating"].std(ddof=1).reindex(range(50))
    np.testing.assert_allclose(per_image_sd(x), sd.to_numpy(), rtol=1e-12)
    s = stability(x)
    assert np.isnan(per_image_sd(x)[0])
    assert s.n == int(sd.notna().sum()) == 49
    assert s.sd_mean == pytest.approx(sd.mean(), rel=1e-12)
    assert s.sd_median == pytest.approx(sd.median(), rel=1e-12)


def test_interval_at_90_percent_matches_r() -> None:
    # R (psych::ICC's F-based limits at 1 - alpha = 0.90):
    #   x <- matrix(c(9,2,5,8, 6,1,3,2, 8,4,6,8, 7,1,2,6, 10,5,6,9, 6,2,4,7), ncol=4, byrow=TRUE)
    #   a <- nrow(x); k <- ncol(x); g <- mean(x)
    #   msb <- k*sum((rowMeans(x)-g)^2)/(a-1); msw <- sum((x - rowMeans(x))^2)/(a*(k-1))
    #   F <- msb/msw; FL <- F/qf(0.95, a-1, a*(k-1)); FU <- F*qf(0.95, a*(k-1), a-1)
    #   cat((FL-1)/(FL+k-1), (FU-1)/(FU+k-1), 1-1/FL, 1-1/FU)
    r = icc_oneway(SF, alpha=0.10)
    assert r.ICC1.ci == pytest.approx((-0.0967222036577423, 0.643398310704423), abs=1e-12)
    assert r.ICC1k.ci == pytest.approx((-0.545041724736868, 0.878301035406407), abs=1e-12)
    wide = icc_oneway(SF, alpha=0.05).ICC1.ci
    assert wide[0] < r.ICC1.ci[0] and r.ICC1.ci[1] < wide[1]


def test_df_null_without_images() -> None:
    empty = icc_oneway(np.empty((0, 3)))
    assert np.isnan(empty.ICC1.df1) and np.isnan(empty.ICC1.df2)
    one = icc_oneway(np.array([[3.0, 4.0, 5.0]]))
    assert np.isnan(one.ICC1.df1)
