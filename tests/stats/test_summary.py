"""analyse / to_json_dict end to end on small frames, checked against pandas and scipy
computations written here, and the exact key set of DESIGN.md's `stats --json`."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from scipy import stats as sps

from tests.helpers import LazyModule
from vlmrate.stats import analyse, per_image, render_report, to_json_dict
from vlmrate.stats.cases import CASE_COLUMNS, cases

from .helpers import human_frame, ratings_frame

pd = LazyModule("pandas")  # imported where a test uses it, not at collection

ASPECTS = ["relevance", "arousal", "valence"]


@pytest.fixture(scope="module")
def study() -> tuple[pl.DataFrame, pl.DataFrame, dict[str, np.ndarray], dict[str, np.ndarray]]:
    rng = np.random.default_rng(42)
    n, k = 60, 5
    mats, hums = {}, {}
    for a in ASPECTS:
        truth = rng.uniform(2, 8, n)
        x = np.rint(truth[:, None] + rng.normal(0.2, 1.0, (n, k))).clip(1, 9)
        x[rng.random(x.shape) < 0.08] = np.nan
        mats[a] = x
        hums[a] = np.round(truth + rng.normal(0, 0.4, n), 2)
    mats["arousal"][0, :] = np.nan  # no valid answer at all: out of arousal's set
    hums["valence"][1] = np.nan  # no human mean: out of valence's set
    ratings = ratings_frame(mats, engine_error_at=[("img000", "arousal", 2)])
    human = human_frame(hums)
    return ratings, human, mats, hums


def _pandas_d(ratings: pl.DataFrame, human: pl.DataFrame, aspect: str) -> pd.DataFrame:
    r = pd.DataFrame(ratings.to_dict(as_series=False))  # no pyarrow needed
    r = r[(r.aspect == aspect) & r.rating.notna()]
    m = r.groupby("image_id")["rating"].agg(["mean", "std", "size"])
    h = pd.DataFrame(human.to_dict(as_series=False))
    h = h[h.aspect == aspect].set_index("image_id")["human_mean"]
    out = m.join(h, how="inner")
    out["d"] = out["mean"] - out["human_mean"]
    return out


EXPECTED_ASPECT_KEYS = {
    "n_images": None,
    "n_repeats": None,
    "notes": None,
    "stability": {"sd_mean", "sd_median"},
    "icc": {"ICC1", "ICC1k", "icc_reference", "k_needed", "n0"},
    "wilcoxon": {
        "w_plus",
        "w_minus",
        "p_greater",
        "p_less",
        "p_two_sided",
        "method",
        "n",
        "n_zero",
        "rank_biserial",
        "hodges_lehmann",
        "hodges_lehmann_ci",
        "hodges_lehmann_ci_level",
    },
    "tost": {
        "bound",
        "mean_diff",
        "sd_diff",
        "t_lower",
        "p_lower",
        "t_upper",
        "p_upper",
        "p",
        "equivalent",
        "dz",
        "ci",
    },
    "tost_wilcoxon": {"p_lower", "p_upper", "p", "equivalent"},
    "errors_by_k": None,
    "pearson_vs_human": {"r", "p"},
    "agreement": {
        "mae",
        "mse",
        "icc_a1",
        "icc_c1",
        "ccc",
        "ccc_cb",
        "ba_bias",
        "ba_lower",
        "ba_upper",
        "ba_lower_ci",
        "ba_upper_ci",
        "ba_slope",
        "ba_slope_p",
        "mae_ci",
        "mae_ci_method",
        "mae_ci_percentile",
        "r_ci",
        "r_ci_method",
        "r_ci_bootstrap",
        "ccc_ci",
        "icc_a1_ci",
        "icc_c1_ci",
        "ba_bias_ci",
    },
    "human": {
        "n_images", "raters_from", "raters_mean", "model_answers", "noise_mse",
        "reliability", "rater_mae", "model_mae", "model_mse", "model_mse_true",
        "rater_equivalents", "rater_equivalents_ci", "rater_equivalents_ci_method", "r",
        "model_reliability", "r_ceiling", "r_disattenuated", "within_human_ci",
        "sd_correlation", "sd_correlation_n", "rater_mean_mae",
    },
    "homogeneity": {"sd_model", "sd_human", "ratio", "p", "image_sd_model", "image_sd_human"},
    "expected": None,
    "holm": {"wilcoxon_two_sided", "wilcoxon_greater", "wilcoxon_less", "tost",
             "pearson_vs_human"},
    "parse_failures": None,
    "engine_errors": None,
}


def test_json_keys_exactly_as_design(study) -> None:
    ratings, human, _, _ = study
    out = to_json_dict(analyse(ratings, human, ASPECTS, run_name="demo", k_max=4))
    json.dumps(out, allow_nan=False)
    assert set(out) == {
        "run",
        "n_images",
        "bound",
        "alpha",
        "confidence",
        "seed",
        "n_boot",
        "n_draws",
        "aspects",
        "holm",
        "between_aspects",
        "cross_by_k",
    }
    assert out["run"] == "demo" and out["bound"] == 0.5 and out["alpha"] == 0.05
    assert out["confidence"] == 0.95
    assert set(out["holm"]) == {"wilcoxon_two_sided", "wilcoxon_greater", "wilcoxon_less",
                                "tost", "pearson_vs_human"}
    for family in out["holm"].values():
        assert list(family) == ASPECTS
    assert list(out["aspects"]) == ASPECTS
    for a in ASPECTS:
        s = out["aspects"][a]
        assert set(s) == set(EXPECTED_ASPECT_KEYS)
        for key, sub in EXPECTED_ASPECT_KEYS.items():
            if sub is not None:
                assert set(s[key]) == sub, key
        for name in ("ICC1", "ICC1k"):
            assert set(s["icc"][name]) == {"value", "F", "df1", "df2", "p", "ci"}
            assert len(s["icc"][name]["ci"]) == 2
        assert set(s["icc"]["k_needed"]) == {"0.8", "0.9"}
        assert s["expected"] is None  # no expected ratings in this study
        assert isinstance(s["notes"], list)
        assert [e["k"] for e in s["errors_by_k"]] == [1, 2, 3, 4]
        for e in s["errors_by_k"]:
            assert set(e) == {
                "k", "n", "n_images", "mae", "mse", "r", "mae_subsets", "mae_subsets_ci",
                "mae_subsets_se"
            }
        assert isinstance(s["tost"]["equivalent"], bool)
        assert isinstance(s["n_images"], int)
    assert list(out["between_aspects"]) == [
        "relevance~arousal",
        "relevance~valence",
        "arousal~valence",
    ]
    assert list(out["cross_by_k"]) == ["1", "2", "3", "4"]
    assert set(out["cross_by_k"]["4"]) == set(ASPECTS)
    assert set(out["cross_by_k"]["4"]["valence"]) == set(ASPECTS)
    for v in _walk(out):
        assert v is None or type(v) in (int, float, bool, str), type(v)


def _walk(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _walk(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _walk(v)
    else:
        yield obj


def test_counts_and_sets(study) -> None:
    ratings, human, mats, _ = study
    st = analyse(ratings, human, ASPECTS)
    n = mats["relevance"].shape[0]
    assert st.aspects["relevance"].n_images == n
    assert st.aspects["arousal"].n_images == n - 1
    assert st.aspects["valence"].n_images == n - 1
    assert st.n_images == n  # union over aspects
    invalid = int(np.isnan(mats["arousal"]).sum())
    assert st.aspects["arousal"].engine_errors == 1
    assert st.aspects["arousal"].parse_failures == invalid - 1
    assert st.aspects["relevance"].engine_errors == 0
    assert st.aspects["relevance"].parse_failures == int(np.isnan(mats["relevance"]).sum())


def test_numbers_against_pandas_and_scipy(study) -> None:
    ratings, human, _, _ = study
    st = analyse(ratings, human, ASPECTS, bound=0.4)
    for a in ASPECTS:
        ref = _pandas_d(ratings, human, a)
        s = st.aspects[a]
        assert s.n_images == len(ref)
        p = sps.pearsonr(ref["mean"], ref["human_mean"])
        assert s.pearson_vs_human.r == pytest.approx(p.statistic, rel=1e-12)
        assert s.pearson_vs_human.p == pytest.approx(p.pvalue, rel=1e-9)
        d = np.round(ref["d"].to_numpy(), 10)
        w = sps.wilcoxon(
            d, zero_method="wilcox", correction=False, method="approx", alternative="greater"
        )
        assert s.wilcoxon.p_greater == pytest.approx(w.pvalue, rel=1e-9)
        assert s.tost.mean_diff == pytest.approx(ref["d"].mean())
        assert s.tost.bound == 0.4
        assert s.stability.sd_mean == pytest.approx(ref["std"].mean(), rel=1e-12)
        assert s.agreement.ba_bias == pytest.approx(ref["d"].mean())
        # the helper's human sheet has SD 1.0 for every image; the model's: its repeats
        assert s.homogeneity.image_sd_human == pytest.approx(1.0)
        assert s.homogeneity.image_sd_model == pytest.approx(ref["std"].mean(), rel=1e-12)
        assert s.homogeneity.sd_model == pytest.approx(ref["mean"].std(), rel=1e-12)
        assert s.homogeneity.sd_human == pytest.approx(ref["human_mean"].std(), rel=1e-12)
    means = {a: _pandas_d(ratings, human, a)["mean"] for a in ASPECTS}
    both = pd.concat([means["relevance"], means["valence"]], axis=1, join="inner")
    r = sps.pearsonr(both.iloc[:, 0], both.iloc[:, 1])
    assert st.between_aspects["relevance~valence"].r == pytest.approx(r.statistic)
    assert st.between_aspects["relevance~valence"].n == len(both)


def test_seeded_reproducible(study) -> None:
    ratings, human, _, _ = study
    a = to_json_dict(analyse(ratings, human, ASPECTS, seed=3))
    b = to_json_dict(analyse(ratings, human, ASPECTS, seed=3))
    c = to_json_dict(analyse(ratings, human, ASPECTS, seed=4))
    assert a == b
    assert a["aspects"]["valence"]["agreement"] != c["aspects"]["valence"]["agreement"]


def test_nan_becomes_null() -> None:
    x = {"relevance": np.full((4, 3), 5.0)}  # constant: r, ICC and tests undefined
    h = {"relevance": np.full(4, 5.0)}
    out = to_json_dict(analyse(ratings_frame(x), human_frame(h), ["relevance"]))
    text = json.dumps(out, allow_nan=False)
    assert "NaN" not in text
    s = out["aspects"]["relevance"]
    assert s["pearson_vs_human"]["r"] is None
    assert s["wilcoxon"]["p_two_sided"] is None
    assert out["between_aspects"] == {}


def test_empty_aspect_without_human() -> None:
    x = {"relevance": np.full((4, 3), 5.0), "arousal": np.arange(12.0).reshape(4, 3) % 9 + 1}
    h = {"relevance": np.array([4.0, 5.0, 6.0, 5.5])}
    out = to_json_dict(analyse(ratings_frame(x), human_frame(h), ["relevance", "arousal"]))
    json.dumps(out, allow_nan=False)
    assert out["aspects"]["arousal"]["n_images"] == 0
    assert out["between_aspects"]["relevance~arousal"]["r"] is None


def test_per_image_against_pandas(study) -> None:
    ratings, human, _, _ = study
    t = per_image(ratings, human, ASPECTS)
    assert t.columns[0] == "image_id"
    for a in ASPECTS:
        assert [f"{a}_{c}" for c in ("mean", "sd", "n", "human", "d")] == [
            c for c in t.columns if c.startswith(f"{a}_")
        ]
    ref = _pandas_d(ratings, human, "arousal")
    row = t.filter(pl.col("image_id") == "img010").row(0, named=True)
    assert row["arousal_mean"] == pytest.approx(ref.loc["img010", "mean"])
    assert row["arousal_sd"] == pytest.approx(ref.loc["img010", "std"])
    assert row["arousal_n"] == ref.loc["img010", "size"]
    assert row["arousal_d"] == pytest.approx(ref.loc["img010", "d"])
    first = t.filter(pl.col("image_id") == "img000").row(0, named=True)
    assert first["arousal_n"] == 0 and first["arousal_mean"] is None


def test_cases_ranked_with_answers(study) -> None:
    ratings, human, _, _ = study
    c = cases(ratings, human, "valence", n=5)
    ref = _pandas_d(ratings, human, "valence")
    top = ref.sort_values("d", ascending=False, kind="stable").index[:5].tolist()
    bottom = ref.sort_values("d", kind="stable").index[:5].tolist()
    assert c.most_positive["image_id"].to_list() == top
    assert c.most_negative["image_id"].to_list() == bottom
    assert c.most_variable["sd"].to_list() == sorted(ref["std"].dropna(), reverse=True)[:5]
    for frame in (c.most_positive, c.most_negative, c.most_variable):
        assert frame.columns == CASE_COLUMNS
        assert frame["rank"].to_list() == [1, 2, 3, 4, 5]
    answers = c.most_positive["answers"][0].to_list()
    assert [a["repeat"] for a in answers] == [1, 2, 3, 4, 5]
    image = c.most_positive["image_id"][0]
    for a in answers:
        if a["rating"] is not None:
            assert a["reason"] == f"reason {image} valence {a['repeat']}"
        else:
            assert a["parse_error"] == "no_rating"


def test_report_fits_100_columns(study) -> None:
    from rich.console import Console

    ratings, human, _, _ = study
    console = Console(width=100, record=True, color_system=None)
    console.print(render_report(analyse(ratings, human, ASPECTS, run_name="demo")))
    text = console.export_text()
    assert "relevance~arousal" in text and "ICC(1,1)" in text
    assert "…" not in text  # nothing truncated
    assert max(len(line) for line in text.splitlines()) <= 100


def test_repeat_matrix_and_human_vector() -> None:
    from vlmrate.stats.frames import human_vector, repeat_matrix

    x = np.array([[1, np.nan, 3], [4, 5, 6]])
    ratings = ratings_frame({"valence": x}, ids=["b", "a"])
    got = repeat_matrix(ratings, "valence", ["a", "b", "zzz"])
    np.testing.assert_array_equal(got, [[4, 5, 6], [1, np.nan, 3], [np.nan] * 3])
    human = human_frame({"valence": np.array([2.5, np.nan])}, ids=["b", "a"])
    np.testing.assert_array_equal(human_vector(human, "valence", ["a", "b"]), [np.nan, 2.5])


def test_methods_paragraph_says_what_was_computed(study) -> None:
    from vlmrate.stats.methods import methods_text

    ratings, human, _, _ = study
    st = analyse(ratings, human, ASPECTS, seed=7, bound=0.4, alpha=0.10)
    text = methods_text(st)
    assert text.startswith("Methods. ")
    assert "ICC(1,1) and ICC(1,k)" in text and "90% confidence intervals" in text
    assert "80% confidence interval of the mean difference" in text  # TOST: 1 - 2 alpha
    assert "±0.4 scale points at alpha = 0.1" in text
    assert "B = 2000 resamples" in text and "seed 7" in text and "200 random k-subsets" in text
    for a, s in st.aspects.items():
        how = "exact" if s.wilcoxon.method == "exact" else "normal approximation"
        assert f"{a}: {how}" in text
        assert f"n = {s.wilcoxon.n}, {s.wilcoxon.n_zero} zero differences dropped" in text
    se = max(e.mae_subsets_se for s in st.aspects.values() for e in s.errors_by_k[:-1])
    assert f"at most {se:.3f}" in text
    assert "Holm-adjusted across the 3 aspects" in text and "each one-sided Wilcoxon p" in text
    assert "non-zero differences" in text and "level reached" in text
    for a, s in st.aspects.items():
        row = s.errors_by_k[0]
        assert f"{a}: {row.n} of {row.n + row.n_excluded} images" in text
    assert "expected rating" not in text  # no logprobs in this study


def _same_leaves(js, obj, path=""):
    """Walk the JSON block and the dataclasses together: every key is an attribute (or a
    mapping key) with the same value, so a view can read either by one path."""
    import dataclasses
    import math

    if isinstance(js, dict):
        for key, value in js.items():
            child = obj.get(key) if isinstance(obj, dict) else getattr(obj, key)
            _same_leaves(value, child, f"{path}.{key}")
    elif isinstance(js, list):
        assert len(js) == len(obj), path
        for i, value in enumerate(js):
            _same_leaves(value, obj[i], f"{path}.{i}")
    elif js is None:
        assert obj is None or obj == "none" or (isinstance(obj, float) and not math.isfinite(obj)), path
    else:
        assert not dataclasses.is_dataclass(obj), path
        assert js == obj or js == pytest.approx(obj, rel=1e-15), path


def test_json_paths_are_attribute_paths(study) -> None:
    ratings, human, _, _ = study
    st = analyse(ratings, human, ASPECTS)
    out = to_json_dict(st)
    for a in ASPECTS:
        _same_leaves(out["aspects"][a], st.aspects[a], a)


def test_per_image_and_cases_do_not_depend_on_row_order() -> None:
    """The same answers in any row order give bit-identical SDs and the same case lists
    (a hash-ordered unique() once summed the repeats in a different order each run)."""
    rng = np.random.default_rng(11)
    x = rng.integers(1, 10, (300, 10)).astype(float)
    x[:150] = x[150:]  # pairs of images with the same answers: tied SDs
    ratings = ratings_frame({"valence": x})
    human = human_frame({"valence": np.full(300, 5.0)})
    want = per_image(ratings, human, ["valence"])
    ranked = cases(ratings, human, "valence", n=20, table=want).most_variable["image_id"]
    for seed in range(5):
        shuffled = ratings.sample(fraction=1.0, shuffle=True, seed=seed)
        got = per_image(shuffled, human, ["valence"])
        assert got["valence_sd"].to_list() == want["valence_sd"].to_list()  # exact
        again = cases(shuffled, human, "valence", n=20, table=got).most_variable["image_id"]
        assert again.to_list() == ranked.to_list()
