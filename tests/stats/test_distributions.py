"""The scipy.special-based distribution functions against scipy.stats."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from vlmrate.stats import distributions as dist


@pytest.mark.parametrize("x", [-8.0, -2.5, -0.3, 0.0, 0.7, 1.96, 6.0])
def test_normal_and_t(x: float) -> None:
    assert dist.norm_sf(x) == pytest.approx(stats.norm.sf(x), rel=1e-12, abs=1e-300)
    assert dist.norm_cdf(x) == pytest.approx(stats.norm.cdf(x), rel=1e-12, abs=1e-300)
    for df in (1, 4.5, 29, 319):
        assert dist.t_sf(x, df) == pytest.approx(stats.t.sf(x, df), rel=1e-10, abs=1e-300)
        assert dist.t_cdf(x, df) == pytest.approx(stats.t.cdf(x, df), rel=1e-10, abs=1e-300)


@pytest.mark.parametrize(("d1", "d2"), [(5, 18), (136, 1195), (319, 2880), (1.5, 7.25)])
def test_f(d1: float, d2: float) -> None:
    for f in (0.2, 1.0, 1.79468, 4.0):
        assert dist.f_sf(f, d1, d2) == pytest.approx(stats.f.sf(f, d1, d2), rel=1e-10)
    for q in (0.025, 0.5, 0.975):
        assert dist.f_ppf(q, d1, d2) == pytest.approx(stats.f.ppf(q, d1, d2), rel=1e-10)


def test_pearson_p() -> None:
    rng = np.random.default_rng(3)
    for n in (3, 10, 320):
        x = rng.normal(size=n)
        y = x * 0.3 + rng.normal(size=n)
        r, p = stats.pearsonr(x, y)
        assert dist.pearson_p(float(r), n) == pytest.approx(p, rel=1e-9)


def test_rankdata_with_ties() -> None:
    rng = np.random.default_rng(4)
    for values in (rng.integers(0, 5, size=40).astype(float), rng.normal(size=25),
                   np.array([2.0, 2.0, 2.0]), np.array([1.0])):
        assert np.array_equal(dist.rankdata(values), stats.rankdata(values, method="average"))
