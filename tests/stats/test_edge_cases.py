"""analyse() on the edge-case studies of issue 14: every null explained by a note, row
order and aspect order irrelevant, intervals at the chosen level, the expected rating
as a second rater (checked against scipy and numpy computations written here)."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from scipy import stats as sps

from vlmrate.stats import analyse, to_json_dict
from vlmrate.stats.notes import null_paths

from .helpers import human_frame, ratings_frame


def _study(n: int, k: int, seed: int = 0, aspects=("relevance", "arousal")):
    rng = np.random.default_rng(seed)
    mats, hums = {}, {}
    for a in aspects:
        truth = rng.uniform(2, 8, n)
        mats[a] = np.rint(truth[:, None] + rng.normal(0.3, 1.0, (n, k))).clip(1, 9)
        hums[a] = np.round(truth + rng.normal(0, 0.4, n), 2)
    return mats, hums


def _json(mats, hums, aspects, **kw):
    out = to_json_dict(analyse(ratings_frame(mats), human_frame(hums), aspects, **kw))
    json.dumps(out, allow_nan=False)
    return out


def _assert_every_null_explained(block: dict) -> None:
    notes = block["notes"]
    for path in null_paths(block):
        assert any(path in note.split(": ")[0].split(", ") for note in notes), (path, notes)
    assert not any("undefined for these data" in note for note in notes), notes


EDGE_CASES = {
    # n = 2 and n = 3: no r, no bootstrap (issue: r_ci95 [1.0, 1.0] at n = 2)
    "n2": lambda: _study(2, 4),
    "n3": lambda: _study(3, 4),
    "n4": lambda: _study(4, 4),
    # one answer per image: no ICC, no SD
    "k1": lambda: _study(12, 1),
    # constant ratings and constant human means
    "constant": lambda: ({"relevance": np.full((8, 3), 5.0), "arousal": np.full((8, 3), 4.0)},
                         {"relevance": np.full(8, 5.0), "arousal": np.full(8, 6.0)}),
    # every d = +0.3: SD 0, TOST t undefined
    "all_d_equal": lambda: (
        {"relevance": np.repeat(np.arange(1.0, 9.0)[:, None], 3, axis=1),
         "arousal": np.repeat(np.arange(1.0, 9.0)[:, None], 3, axis=1)},
        {"relevance": np.arange(1.0, 9.0) - 0.3, "arousal": np.arange(1.0, 9.0)},
    ),
    # 2 images, model means 5, 7 and human means 7, 5 (a hypothesis example of
    # tests/runfolder/test_run_files_property.py): ICC(A,1)'s denominator is 0
    "mirrored": lambda: ({"relevance": np.array([[5.0, 5.0], [7.0, 7.0]]),
                          "arousal": np.array([[5.0, 5.0], [7.0, 7.0]])},
                         {"relevance": np.array([7.0, 5.0]), "arousal": np.array([7.0, 5.0])}),
}


@pytest.mark.parametrize("name", list(EDGE_CASES))
def test_every_null_has_a_note(name: str) -> None:
    mats, hums = EDGE_CASES[name]()
    out = _json(mats, hums, ["relevance", "arousal"])
    for block in out["aspects"].values():
        _assert_every_null_explained(block)


def test_small_n_has_no_bootstrap_interval() -> None:
    for n in (2, 3, 4):
        mats, hums = _study(n, 4)
        ag = _json(mats, hums, ["relevance", "arousal"])["aspects"]["relevance"]["agreement"]
        assert ag["mae_ci"] == [None, None] and ag["r_ci_bootstrap"] == [None, None]
        # Fisher's z needs n >= 4 (R's cor.test gives no interval below)
        assert (ag["r_ci"] == [None, None]) == (n < 4)
    mats, hums = _study(5, 4)
    ag = _json(mats, hums, ["relevance", "arousal"])["aspects"]["relevance"]["agreement"]
    assert None not in ag["mae_ci"]


def test_all_d_equal_tost_is_null_with_note() -> None:
    mats, hums = EDGE_CASES["all_d_equal"]()
    s = _json(mats, hums, ["relevance", "arousal"])["aspects"]
    for a in ("relevance", "arousal"):
        t = s[a]["tost"]
        assert t["equivalent"] is None and t["t_lower"] is None and t["p"] is None
        assert any(n.startswith("tost.") and "SD 0" in n for n in s[a]["notes"])
    assert s["relevance"]["tost"]["mean_diff"] == pytest.approx(0.3)


def test_mirrored_means_leave_icc_a1_undefined_with_its_reason() -> None:
    # table [[5, 7], [7, 5]] (model, human): row and column means all 6, so MSR = MSC = 0,
    # MSE = (4 x 1^2) / 1 = 4: ICC(A,1) = -4 / (0 + 4 + 2 (0 - 4) / 2) = -4 / 0 (it raised
    # ZeroDivisionError in its interval), ICC(C,1) = (0 - 4) / (0 + 4) = -1
    mats, hums = EDGE_CASES["mirrored"]()
    block = _json(mats, hums, ["relevance", "arousal"])["aspects"]["relevance"]
    ag = block["agreement"]
    assert ag["icc_a1"] is None and ag["icc_a1_ci"] == [None, None]
    assert ag["icc_c1"] == pytest.approx(-1.0)
    assert any(n.startswith("agreement.icc_a1, agreement.icc_a1_ci: MSR + (k-1) MSE")
               for n in block["notes"]), block["notes"]
    _assert_every_null_explained(block)


def test_empty_aspect_has_null_df_and_notes() -> None:
    x = {"relevance": np.full((4, 3), 5.0), "arousal": np.arange(12.0).reshape(4, 3) % 9 + 1}
    h = {"relevance": np.array([4.0, 5.0, 6.0, 5.5])}
    out = _json(x, h, ["relevance", "arousal"])
    ar = out["aspects"]["arousal"]
    assert ar["n_images"] == 0
    assert ar["icc"]["ICC1"]["df1"] is None and ar["icc"]["ICC1"]["df2"] is None
    assert any("no image has both" in n for n in ar["notes"])
    _assert_every_null_explained(ar)


def test_cross_by_k_null_beyond_an_aspects_k() -> None:
    rng = np.random.default_rng(4)
    n = 20
    truth = rng.uniform(2, 8, n)
    mats = {
        "relevance": np.rint(truth[:, None] + rng.normal(0, 1, (n, 6))).clip(1, 9),
        "arousal": np.rint(truth[:, None] + rng.normal(0, 1, (n, 3))).clip(1, 9),
    }
    hums = {"relevance": truth, "arousal": truth + rng.normal(0, 0.5, n)}
    out = _json(mats, hums, ["relevance", "arousal"])
    cross = out["cross_by_k"]
    assert list(cross) == [str(k) for k in range(1, 7)]
    for k in range(1, 7):
        row = cross[str(k)]["arousal"]
        if k <= 3:
            means = mats["arousal"][:, :k].mean(axis=1)
            assert row["relevance"] == pytest.approx(sps.pearsonr(means, truth).statistic)
        else:
            assert row == {"relevance": None, "arousal": None}
        assert cross[str(k)]["relevance"]["relevance"] is not None
    assert any(n.startswith("cross_by_k 4..6") for n in out["aspects"]["arousal"]["notes"])


def test_results_do_not_depend_on_row_order() -> None:
    mats, hums = _study(30, 5, seed=9, aspects=("relevance", "arousal", "valence"))
    aspects = ["relevance", "arousal", "valence"]
    rng = np.random.default_rng(9)
    ratings = _with_expected(ratings_frame(mats), {a: mats[a] + rng.normal(0, 0.37, mats[a].shape)
                                                    for a in aspects})
    human = human_frame(hums)
    base = to_json_dict(analyse(ratings, human, aspects, seed=11))
    assert base["aspects"]["valence"]["expected"] is not None
    shuffled = ratings.sample(fraction=1.0, shuffle=True, seed=3)
    # the ratings of valence first: the aspect that appears first in the rows changes
    shuffled = pl.concat([shuffled.filter(pl.col("aspect") == "valence"),
                          shuffled.filter(pl.col("aspect") != "valence")])
    again = to_json_dict(analyse(shuffled, human.sample(fraction=1.0, shuffle=True, seed=4),
                                 aspects, seed=11))
    assert again == base
    # another aspect order: the same numbers per aspect (seeds come from the name)
    other = to_json_dict(analyse(ratings, human, aspects[::-1], seed=11))
    for a in aspects:
        assert other["aspects"][a]["agreement"] == base["aspects"][a]["agreement"]
        assert other["aspects"][a]["expected"] == base["aspects"][a]["expected"]
        assert other["aspects"][a]["errors_by_k"] == base["aspects"][a]["errors_by_k"]
    assert list(other["between_aspects"]) == ["valence~arousal", "valence~relevance",
                                              "arousal~relevance"]


def test_confidence_level_everywhere() -> None:
    mats, hums = _study(40, 5, seed=2)
    aspects = ["relevance", "arousal"]
    at95 = _json(mats, hums, aspects, alpha=0.05)
    at90 = _json(mats, hums, aspects, alpha=0.10)
    assert at90["confidence"] == pytest.approx(0.90)
    for a in aspects:
        s95, s90 = at95["aspects"][a], at90["aspects"][a]
        for path in (("icc", "ICC1", "ci"), ("agreement", "mae_ci"), ("agreement", "r_ci"),
                     ("wilcoxon", "hodges_lehmann_ci")):
            lo95, hi95 = _dig(s95, path)
            lo90, hi90 = _dig(s90, path)
            assert lo95 <= lo90 and hi90 <= hi95, path
        for e95, e90 in zip(s95["errors_by_k"][:-1], s90["errors_by_k"][:-1], strict=True):
            assert e95["mae_subsets_ci"][0] <= e90["mae_subsets_ci"][0]
        # Bland-Altman limits stay at 95%; their CIs follow alpha
        assert s90["agreement"]["ba_lower"] == s95["agreement"]["ba_lower"]
        for key in ("ba_lower_ci", "ba_upper_ci", "ba_bias_ci", "ccc_ci", "icc_a1_ci",
                    "icc_c1_ci", "r_ci_bootstrap"):
            lo95, hi95 = s95["agreement"][key]
            lo90, hi90 = s90["agreement"][key]
            assert lo95 < lo90 and hi90 < hi95, key


def _dig(obj, path):
    for key in path:
        obj = obj[key]
    return obj


def test_holm_across_aspects() -> None:
    mats, hums = _study(25, 4, seed=5, aspects=("relevance", "arousal", "valence"))
    aspects = ["relevance", "arousal", "valence"]
    out = _json(mats, hums, aspects)
    for family, (block, key) in {"wilcoxon_two_sided": ("wilcoxon", "p_two_sided"),
                                 "tost": ("tost", "p"),
                                 "pearson_vs_human": ("pearson_vs_human", "p")}.items():
        raw = np.array([out["aspects"][a][block][key] for a in aspects])
        order = np.argsort(raw)
        adj = np.minimum(1, np.maximum.accumulate((3 - np.arange(3)) * raw[order]))
        expect = np.empty(3)
        expect[order] = adj
        assert [out["holm"][family][a] for a in aspects] == pytest.approx(expect)
        assert [out["aspects"][a]["holm"][family] for a in aspects] == pytest.approx(expect)


def _with_expected(ratings: pl.DataFrame, e: dict[str, np.ndarray]) -> pl.DataFrame:
    rows = []
    for aspect, x in e.items():
        for i in range(x.shape[0]):
            for j in range(x.shape[1]):
                rows.append({"image_id": f"img{i:03d}", "aspect": aspect, "repeat": j + 1,
                             "expected_rating": None if np.isnan(x[i, j]) else float(x[i, j])})
    extra = pl.DataFrame(rows, schema={"image_id": pl.String, "aspect": pl.String,
                                       "repeat": pl.Int64, "expected_rating": pl.Float64})
    return ratings.join(extra, on=["image_id", "aspect", "repeat"], how="left")


def test_expected_block_against_scipy() -> None:
    mats, hums = _study(40, 4, seed=6)
    rng = np.random.default_rng(6)
    exp = {a: np.clip(mats[a] + rng.normal(0, 0.6, mats[a].shape), 1, 9) for a in mats}
    exp["relevance"][3, :] = np.nan  # no expected rating for one image
    exp["relevance"][5, 1] = np.nan
    ratings = _with_expected(ratings_frame(mats), {"relevance": exp["relevance"]})
    st = to_json_dict(analyse(ratings, human_frame(hums), ["relevance", "arousal"]))
    json.dumps(st, allow_nan=False)
    assert st["aspects"]["arousal"]["expected"] is None
    assert any(n.startswith("expected:") for n in st["aspects"]["arousal"]["notes"])
    ex = st["aspects"]["relevance"]["expected"]
    e = np.full(40, np.nan)
    has = ~np.isnan(exp["relevance"]).all(axis=1)
    e[has] = np.nanmean(exp["relevance"][has], axis=1)
    h, m = hums["relevance"], mats["relevance"].mean(axis=1)
    ok = ~np.isnan(e)
    assert ex["n_images"] == 39
    d = e[ok] - h[ok]
    ref = sps.pearsonr(e[ok], h[ok])
    assert ex["pearson_vs_human"]["r"] == pytest.approx(ref.statistic, rel=1e-12)
    assert ex["pearson_vs_human"]["p"] == pytest.approx(ref.pvalue, rel=1e-9)
    assert ex["mae"] == pytest.approx(np.abs(d).mean())
    assert ex["mse"] == pytest.approx((d * d).mean())
    assert ex["bias"] == pytest.approx(d.mean())
    assert ex["wilcoxon"]["method"] == "exact"  # 39 distinct differences: n < 50
    w = sps.wilcoxon(np.round(d, 10), zero_method="wilcox", correction=False, method="exact")
    assert ex["wilcoxon"]["p_two_sided"] == pytest.approx(w.pvalue, rel=1e-9)
    assert ex["tost"]["mean_diff"] == pytest.approx(d.mean())
    assert ex["vs_sampled"]["r"] == pytest.approx(sps.pearsonr(m[ok], e[ok]).statistic)
    assert ex["vs_sampled"]["mae"] == pytest.approx(np.abs(m[ok] - e[ok]).mean())
    sm, sh = e[ok].std(), h[ok].std()
    cov = ((e[ok] - e[ok].mean()) * (h[ok] - h[ok].mean())).mean()
    assert ex["ccc"] == pytest.approx(2 * cov / (sm**2 + sh**2 + d.mean() ** 2))


def test_expected_digit_mass_mean() -> None:
    """expected.digit_mass_mean: per image the mean digit mass of its answers, averaged
    over the images of e vs h (null with a note for runs without the column)."""
    mats, hums = _study(12, 3, seed=8)
    rng = np.random.default_rng(8)
    exp = {"relevance": np.clip(mats["relevance"] + rng.normal(0, 0.5, (12, 3)), 1, 9)}
    ratings = _with_expected(ratings_frame(mats), exp)
    mass = rng.uniform(0.6, 1.0, (12, 3))
    mass[2, :] = np.nan  # an image whose answers have no mass stored
    rows = [{"image_id": f"img{i:03d}", "aspect": "relevance", "repeat": j + 1,
             "digit_mass": None if np.isnan(mass[i, j]) else float(mass[i, j])}
            for i in range(12) for j in range(3)]
    with_mass = ratings.join(pl.DataFrame(rows), on=["image_id", "aspect", "repeat"],
                             how="left")
    out = to_json_dict(analyse(with_mass, human_frame(hums), ["relevance", "arousal"]))
    per_image = [np.mean(row) for row in mass if not np.isnan(row).all()]
    got = out["aspects"]["relevance"]["expected"]["digit_mass_mean"]
    assert got == pytest.approx(sum(per_image) / len(per_image), rel=1e-12)
    old = to_json_dict(analyse(ratings, human_frame(hums), ["relevance", "arousal"]))
    block = old["aspects"]["relevance"]
    assert block["expected"]["digit_mass_mean"] is None
    assert any(n.startswith("expected.digit_mass_mean") for n in block["notes"])
