"""Errors by k: a hand-worked example, brute-force expectations over all k-subsets, and
the cross matrix against scipy."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest
from scipy import stats as sps

from vlmrate.stats.errors_by_k import cross_by_k, errors_by_k, first_k_means, subset_maes

NAN = np.nan


def test_hand_worked_example() -> None:
    # 4 images x 3 repeats; B's repeat 1 is invalid, C has only repeat 3: the curve uses
    # A and D, whose three answers are all valid, at every k (issue 25: one image set).
    x = np.array([[4, 6, 5], [NAN, 2, 4], [NAN, NAN, 9], [8, 8, 5]], dtype=float)
    h = np.array([5.0, 2.0, 7.0, 6.0])
    rows = errors_by_k(x, h, n_draws=50, seed=0)
    assert [r.k for r in rows] == [1, 2, 3]
    assert [(r.n, r.n_images, r.n_excluded) for r in rows] == [(2, 2, 2)] * 3
    # k=1: A 4 (err -1), D 8 (+2); k=2: A 5 (0), D 8 (+2); k=3: A 5 (0), D 7 (+1)
    assert (rows[0].mae, rows[0].mse) == (1.5, 2.5)
    assert (rows[1].mae, rows[1].mse) == (1.0, 2.0)
    assert (rows[2].mae, rows[2].mse) == (0.5, 0.5)
    assert np.isnan(rows[0].r)  # two images: undefined
    # with k_max = 1 every image with a valid first answer counts: A and D
    assert errors_by_k(x, h, k_max=1)[0].n == 2
    x[1, 0] = 2.0
    assert errors_by_k(x, h, k_max=2)[0].n == 3  # B now has repeats 1 and 2


def test_first_k_means_skip_invalid() -> None:
    x = np.array([[NAN, 2, 4, 6]])
    np.testing.assert_allclose(first_k_means(x)[0], [NAN, 2, 3, 4])


def _exact_subset_mae(x: np.ndarray, h: np.ndarray, k: int) -> float:
    """Exact expected MAE over uniform k-subsets (all answers valid): the mean over
    images of the mean over all C(K, k) subsets, by enumeration."""
    per_image = []
    for row, hi in zip(x, h, strict=True):
        errs = [abs(np.mean(row[list(c)]) - hi) for c in combinations(range(len(row)), k)]
        per_image.append(np.mean(errs))
    return float(np.mean(per_image))


def test_subsets_match_brute_force_expectation() -> None:
    rng = np.random.default_rng(0)
    n, k_all = 60, 6
    x = rng.integers(1, 10, (n, k_all)).astype(float)
    h = rng.uniform(2, 8, n)
    rows = errors_by_k(x, h, n_draws=200, seed=3)
    draws = subset_maes(x, h, k_all, n_draws=200, seed=3)
    for r in rows:
        exact = _exact_subset_mae(x, h, r.k)
        sd_draws = draws[:, r.k - 1].std(ddof=1)
        # MC mean of 200 draws: within 5 standard errors of the exact expectation
        assert abs(r.mae_subsets - exact) <= 5 * sd_draws / np.sqrt(200) + 1e-12, r.k
        lo, hi = r.mae_subsets_ci
        assert lo <= r.mae_subsets <= hi


def test_k_equal_k_is_the_full_mean_with_zero_width() -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(1, 10, (200, 10)).astype(float)
    x[rng.random(x.shape) < 0.1] = NAN
    h = rng.uniform(1, 9, 200)
    last = errors_by_k(x, h, seed=5)[-1]
    assert last.k == 10
    assert last.mae_subsets == pytest.approx(last.mae, rel=1e-12)
    assert last.mae_subsets_ci[0] == last.mae_subsets_ci[1]
    assert last.mae_subsets_ci[0] == pytest.approx(last.mae, rel=1e-12)


def test_k1_expectation_is_mean_of_per_repeat_maes() -> None:
    rng = np.random.default_rng(2)
    n, k_all = 300, 10
    x = np.rint(rng.uniform(2, 8, (n, 1)) + rng.normal(0, 1.5, (n, k_all))).clip(1, 9)
    h = rng.uniform(1, 9, n)
    exact = float(np.mean([np.abs(x[:, j] - h).mean() for j in range(k_all)]))
    r1 = errors_by_k(x, h, seed=11)[0]
    draws = subset_maes(x, h, 1, n_draws=200, seed=11)[:, 0]
    assert abs(r1.mae_subsets - exact) <= 5 * draws.std(ddof=1) / np.sqrt(200)
    # the group-1 MAE is the first repeat only
    assert r1.mae == pytest.approx(np.abs(x[:, 0] - h).mean())


def test_subsets_with_invalid_answers_and_non_integer_ratings() -> None:
    # A draw orders each image's valid answers at random and takes the first k: the
    # expected MAE is, per image with at least k valid answers, the mean over the
    # k-subsets of its valid answers (brute force; fewer: the mean of all it has).
    rng = np.random.default_rng(4)
    n, k_all = 40, 4
    x = rng.integers(2, 19, (n, k_all)) / 2.0  # half points: the lookup-table path
    x[rng.random(x.shape) < 0.3] = NAN
    x[0] = [NAN, NAN, NAN, 3.5]
    h = rng.uniform(1, 9, n)
    draws = subset_maes(x, h, k_all, n_draws=400, seed=2)
    for k in (1, 2):
        per_image = []
        for row, hi in zip(x, h, strict=True):
            v = row[~np.isnan(row)]
            if v.size >= k:
                per_image.append(np.mean([abs(v[list(c)].mean() - hi)
                                          for c in combinations(range(v.size), k)]))
            elif v.size:  # fewer than k valid answers: the mean of those it has
                per_image.append(abs(v.mean() - hi))
        sd = draws[:, k - 1].std(ddof=1)
        assert abs(draws[:, k - 1].mean() - np.mean(per_image)) <= 5 * sd / np.sqrt(400), k
    x_full = np.where(np.isnan(x), 5.0, x)
    assert np.all(
        subset_maes(x_full, h, k_all, 20, seed=0)[:, -1] == np.abs(x_full.mean(axis=1) - h).mean()
    )


def test_seeded_and_k_max() -> None:
    rng = np.random.default_rng(6)
    x = rng.integers(1, 10, (30, 5)).astype(float)
    h = rng.uniform(1, 9, 30)
    assert errors_by_k(x, h, seed=1) == errors_by_k(x, h, seed=1)
    assert errors_by_k(x, h, seed=1)[1] != errors_by_k(x, h, seed=2)[1]
    assert len(errors_by_k(x, h, k_max=3)) == 3
    h_missing = h.copy()
    h_missing[0] = NAN
    assert errors_by_k(x, h_missing)[0].n == 29


def test_cross_by_k_against_scipy() -> None:
    rng = np.random.default_rng(8)
    n = 50
    model = {a: rng.integers(1, 10, (n, 3)).astype(float) for a in ("a", "b")}
    model["a"][5, 0] = NAN
    human = {b: rng.uniform(1, 9, n) for b in ("a", "b", "c")}
    human["c"][:10] = NAN
    out = cross_by_k(model, human, ["a", "b"], ["a", "b", "c"], 3)
    assert sorted(out) == [1, 2, 3]
    for k in (1, 2, 3):
        for a in ("a", "b"):
            mk = np.nanmean(model[a][:, :k], axis=1) if k > 1 else model[a][:, 0]
            for b in ("a", "b", "c"):
                ok = ~(np.isnan(mk) | np.isnan(human[b]))
                ref = sps.pearsonr(mk[ok], human[b][ok]).statistic
                assert out[k][a][b] == pytest.approx(ref, rel=1e-12)


def test_analysis_curve_uses_one_image_set_and_says_which() -> None:
    from vlmrate.stats import analyse, to_json_dict

    from .helpers import human_frame, ratings_frame

    rng = np.random.default_rng(12)
    x = rng.integers(1, 10, (60, 3)).astype(float)
    x[:16, 2] = NAN  # 16 images miss their third answer, 4 more their second
    x[16:20, 1] = NAN
    out = to_json_dict(analyse(ratings_frame({"v": x}), human_frame({"v": rng.uniform(2, 8, 60)}),
                               ["v"]))["aspects"]["v"]
    assert [(e["k"], e["n_images"]) for e in out["errors_by_k"]] == [(1, 40), (2, 40), (3, 40)]
    assert any(n.startswith("errors_by_k: on the 40 images whose first 3 answers are all "
                            "valid") and "20 analysed images" in n for n in out["notes"])
