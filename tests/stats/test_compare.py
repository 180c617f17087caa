"""Runs side by side: the pieces against independent computations (R's psych::r.test,
numpy, scipy), a run's numbers against the single-run analysis of that run restricted to
the common images, and `vlmrate compare` as a user runs it."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import stats as sps

from vlmrate.cli import main
from vlmrate.runfolder.store import load_run
from vlmrate.stats import analyse
from vlmrate.stats.compare import (
    RunFrames,
    best_runs,
    common_images,
    compare,
    expected_as_run,
    pair_test,
    paired_bootstrap_mae_diff,
    to_json_dict,
    williams_t,
)

ASPECTS = ["relevance", "arousal", "valence"]

# psych 2.2.9 in R 4.2.2: r <- r.test(n, r12, r13, r23); sprintf("%.15g", c(r$t, r$p))
R_TEST = [
    (50, 0.70, 0.50, 0.60, 2.13146033865387, 0.0383098168429905),
    (30, 0.45, 0.62, 0.81, -1.83423582949011, 0.077662766591781),
    (320, 0.55, 0.52, 0.90, 1.43270338697392, 0.152928021431233),
    (12, 0.90, 0.30, 0.20, 2.8260809606717, 0.0198489765515643),
    (100, -0.20, 0.30, 0.10, -3.96379130553136, 0.000141064200653991),
]


@pytest.mark.parametrize(("n", "r12", "r13", "r23", "t", "p"), R_TEST)
def test_williams_t_equals_psych_r_test(n: int, r12: float, r13: float, r23: float,
                                        t: float, p: float) -> None:
    got_t, got_p = williams_t(r12, r13, r23, n)
    assert got_t == pytest.approx(t, rel=1e-10)
    assert got_p == pytest.approx(p, rel=1e-8)


def test_williams_t_undefined_cases() -> None:
    assert all(np.isnan(v) for v in williams_t(0.5, 0.4, 0.3, 3))
    assert all(np.isnan(v) for v in williams_t(float("nan"), 0.4, 0.3, 30))
    # a mirrored run (m_B = 10 - m_A): r13 = -r12, r23 = -1
    assert all(np.isnan(v) for v in williams_t(0.3, -0.3, -1.0 + 1e-15, 30))


def test_paired_bootstrap_against_direct_numpy() -> None:
    rng = np.random.default_rng(11)
    h = rng.uniform(1, 9, 57)
    a = h + rng.normal(0.3, 1.0, 57)
    b = h + rng.normal(-0.1, 1.4, 57)
    diff, (lo, hi) = paired_bootstrap_mae_diff(a, b, h, n_boot=1234, confidence=0.9, seed=7)
    # direct: one block of resampled image indices, the same images for both runs
    idx = np.random.default_rng(7).integers(0, 57, size=(1234, 57))
    boot = np.abs(a - h)[idx].mean(axis=1) - np.abs(b - h)[idx].mean(axis=1)
    assert diff == pytest.approx(np.abs(a - h).mean() - np.abs(b - h).mean(), rel=1e-12)
    assert lo == pytest.approx(np.percentile(boot, 5), rel=1e-12)
    assert hi == pytest.approx(np.percentile(boot, 95), rel=1e-12)
    assert lo < diff < hi
    few = paired_bootstrap_mae_diff(a[:4], b[:4], h[:4], n_boot=100, seed=7)
    assert few[0] == pytest.approx(np.abs(a[:4] - h[:4]).mean() - np.abs(b[:4] - h[:4]).mean())
    assert all(np.isnan(v) for v in few[1])  # under 5 images: no interval


@pytest.mark.parametrize("n", [30, 80])
def test_pair_test_against_scipy(n: int) -> None:
    rng = np.random.default_rng(n)
    h = rng.uniform(1, 9, n)
    a = h + rng.normal(0.2, 1.0, n)
    b = 0.5 * h + rng.normal(2.5, 1.0, n)
    p = pair_test(a, b, h, n_boot=200, seed=1)
    method = "exact" if n <= 50 else "approx"
    ref = sps.wilcoxon(np.abs(a - h) - np.abs(b - h), zero_method="wilcox", correction=False,
                       method=method)
    assert p.abs_d_p == pytest.approx(ref.pvalue, rel=1e-9)
    r_a, r_b = sps.pearsonr(a, h)[0], sps.pearsonr(b, h)[0]
    assert p.r_diff == pytest.approx(r_a - r_b, rel=1e-9)
    assert p.n == n


# --- whole runs -------------------------------------------------------------------------

def write_human(path: Path, n: int) -> None:
    rng = random.Random(5)
    with open(path, "w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["image", *ASPECTS])
        for i in range(1, n + 1):
            w.writerow([f"pic{i:03d}", *[round(rng.uniform(1, 9), 2) for _ in ASPECTS]])


def long_rows(n: int, seed: int, noise: float, *, k: int = 4,
              invalid: set[tuple[int, str]] = frozenset()) -> list[list]:
    """Ratings near a per-image truth; (image no, aspect) in ``invalid`` has only empty
    ratings."""
    rng = random.Random(seed)
    truth = random.Random(5)
    rows = []
    for i in range(1, n + 1):
        centre = [truth.uniform(1, 9) for _ in ASPECTS]
        for aspect, c in zip(ASPECTS, centre, strict=True):
            for repeat in range(1, k + 1):
                v = min(9, max(1, round(c + rng.gauss(0, noise))))
                rows.append([f"pic{i:03d}", aspect, repeat,
                             "" if (i, aspect) in invalid else v])
    return rows


def import_rows(tmp: Path, name: str, rows: list[list], human: Path) -> Path:
    path = tmp / f"{name}.csv"
    with open(path, "w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["image_id", "aspect", "repeat", "rating"])
        w.writerows(rows)
    assert main(["import", str(path), "--human", str(human), "--run", name,
                 "--runs-dir", str(tmp / "runs")]) == 0
    return tmp / "runs" / name


@pytest.fixture
def three_runs(tmp_path: Path) -> tuple[Path, dict[str, list[list]]]:
    write_human(tmp_path / "human.csv", 36)  # images 1..36 have human means
    rows = {
        "close": long_rows(34, 1, 0.8),  # images 1..34
        "far": long_rows(38, 2, 2.5, invalid={(3, "arousal"), (7, "arousal")}),  # 1..38
        "mid": [r for r in long_rows(36, 3, 1.5) if r[0] != "pic010"],  # no image 10
    }
    for name, r in rows.items():
        import_rows(tmp_path, name, r, tmp_path / "human.csv")
    return tmp_path, rows


def frames(run_dir: Path) -> RunFrames:
    run = load_run(run_dir)
    return RunFrames(run.name, run.ratings, run.human, run.aspects, run.manifest)


def test_common_images_per_aspect(three_runs: tuple[Path, dict]) -> None:
    tmp, _ = three_runs
    runs = [frames(tmp / "runs" / n) for n in ("close", "far", "mid")]
    base = [f"pic{i:03d}" for i in range(1, 35) if i != 10]
    assert common_images(runs, "relevance") == base
    assert common_images(runs, "arousal") == [i for i in base if i not in {"pic003", "pic007"}]


def test_run_values_equal_the_analysis_of_the_restricted_run(
        three_runs: tuple[Path, dict]) -> None:
    tmp, rows = three_runs
    runs = [frames(tmp / "runs" / n) for n in ("close", "far", "mid")]
    result = compare(runs, bound=0.5, alpha=0.05, seed=3)
    for aspect in ASPECTS:
        common = set(result.aspects[aspect].common_images)
        for name in ("close", "far", "mid"):
            # the run restricted to the common images of this aspect, imported anew and
            # analysed by the single-run analysis
            kept = [r for r in rows[name] if r[1] != aspect or r[0] in common]
            restricted = load_run(import_rows(tmp, f"{name}-{aspect}", kept,
                                              tmp / "human.csv"))
            own = analyse(restricted.ratings, restricted.human, restricted.aspects,
                          bound=0.5, alpha=0.05, seed=3).aspects[aspect]
            got = result.aspects[aspect].runs[name]
            assert got.n_images == own.n_images == len(common)
            assert got.bias == pytest.approx(own.agreement.ba_bias, rel=1e-12)
            assert got.mae == pytest.approx(own.agreement.mae, rel=1e-12)
            assert got.mae_ci == pytest.approx(own.agreement.mae_ci, rel=1e-12)
            assert got.r == pytest.approx(own.pearson_vs_human.r, rel=1e-12)
            assert got.r_ci == pytest.approx(own.agreement.r_ci, rel=1e-12)
            assert got.icc_a1 == pytest.approx(own.agreement.icc_a1, rel=1e-12)
            assert got.icc1 == pytest.approx(own.icc.ICC1.value, rel=1e-12)
            assert got.tost_equivalent == own.tost.equivalent
            assert got.wilcoxon_p_two_sided == pytest.approx(own.wilcoxon.p_two_sided,
                                                             rel=1e-12)
            per = result.aspects[aspect].per_image
            m = per[f"{name}_mean"].to_numpy()
            h = per["human"].to_numpy()
            assert got.ccc == pytest.approx(own.agreement.ccc, rel=1e-12)
            cov = np.cov(m, h, ddof=0)  # Lin's CCC, independently
            assert got.ccc == pytest.approx(
                2 * cov[0, 1] / (cov[0, 0] + cov[1, 1] + (m.mean() - h.mean()) ** 2),
                rel=1e-10)
            assert got.bias == pytest.approx(float((m - h).mean()), rel=1e-12)


def test_pairs_use_the_common_images(three_runs: tuple[Path, dict]) -> None:
    tmp, _ = three_runs
    runs = [frames(tmp / "runs" / n) for n in ("close", "far", "mid")]
    result = compare(runs, seed=0)
    a = result.aspects["arousal"]
    assert list(a.pairs) == [("close", "far"), ("close", "mid"), ("far", "mid")]
    pair = a.pairs[("close", "far")]
    m_a, m_b, h = (a.per_image[c].to_numpy() for c in ("close_mean", "far_mean", "human"))
    assert pair.n == a.n_common == len(h)
    assert pair.mae_diff == pytest.approx(np.abs(m_a - h).mean() - np.abs(m_b - h).mean())
    t, p = williams_t(sps.pearsonr(m_a, h)[0], sps.pearsonr(m_b, h)[0],
                      sps.pearsonr(m_a, m_b)[0], len(h))
    assert (pair.r_diff_t, pair.r_diff_p) == pytest.approx((t, p))
    assert pair.mae_diff < 0 and pair.mae_diff_ci[1] < 0  # noise 0.8 beats noise 2.5


def test_expected_pseudo_run_is_the_mean_expected_rating() -> None:
    ids = [f"p{i}" for i in range(12)]
    rng = np.random.default_rng(0)
    rows = []
    for i in ids:
        for rep in (1, 2):
            rows.append({"image_id": i, "aspect": "a", "repeat": rep,
                         "rating": int(rng.integers(1, 10)),
                         "expected_rating": float(rng.uniform(1, 9)),
                         "parse_error": None, "engine_error": None, "output_tokens": 5})
    ratings = pl.DataFrame(rows)
    human = pl.DataFrame({"image_id": ids, "aspect": ["a"] * 12,
                          "human_mean": rng.uniform(1, 9, 12)})
    run = RunFrames("r", ratings, human, ["a"])
    result = compare([run, expected_as_run(run)], n_boot=100)
    per = result.aspects["a"].per_image
    direct = ratings.group_by("image_id").agg(pl.col("expected_rating").mean()).sort(
        "image_id")
    assert per["image_id"].to_list() == direct["image_id"].to_list()
    np.testing.assert_allclose(per["r:expected_mean"].to_numpy(),
                               direct["expected_rating"].to_numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="no expected ratings"):
        expected_as_run(RunFrames("x", ratings.drop("expected_rating"), human, ["a"]))
    # a near-constant expected rating has the higher ICC1 but is never marked best for it
    steady = ratings.with_columns(
        (pl.col("image_id").str.slice(1).cast(pl.Float64) / 2 + 1 + pl.col("repeat") * 1e-3)
        .alias("expected_rating"))
    run = RunFrames("r", steady, human, ["a"])
    both = compare([run, expected_as_run(run)], n_boot=100).aspects["a"]
    assert both.runs["r:expected"].icc1 > both.runs["r"].icc1
    assert best_runs(both)["icc1"] == {"r"}


def test_runs_with_different_human_means_are_refused(three_runs: tuple[Path, dict]) -> None:
    tmp, rows = three_runs
    other = tmp / "other"
    other.mkdir()
    write_human(other / "human.csv", 36)
    lines = (other / "human.csv").read_text().splitlines()
    fields = lines[5].split(",")  # pic005
    fields[1] = "1.234"  # its relevance
    lines[5] = ",".join(fields)
    (other / "human.csv").write_text("\n".join(lines) + "\n")
    import_rows(tmp, "odd", rows["close"], other / "human.csv")
    with pytest.raises(ValueError, match="different human means for 1 relevance"):
        compare([frames(tmp / "runs/close"), frames(tmp / "runs/odd")])


# --- the command ------------------------------------------------------------------------

def test_compare_json_shape(three_runs: tuple[Path, dict], capsys: pytest.CaptureFixture
                            ) -> None:
    tmp, _ = three_runs
    code = main(["compare", "close", "far", "mid", "--json", "--runs-dir", str(tmp / "runs"),
                 "--alpha", "0.1"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["confidence"] == pytest.approx(0.9)
    assert [r["name"] for r in out["runs"]] == ["close", "far", "mid"]
    assert set(out["runs"][0]) >= {"name", "model", "prompts", "engine", "temperature",
                                   "repeats", "n_answers", "parse_failure_rate",
                                   "output_tokens_mean", "wall_s"}
    assert out["runs"][1]["parse_failure_rate"] == pytest.approx(8 / 456)  # empty ratings
    assert list(out["aspects"]) == ASPECTS
    a = out["aspects"]["arousal"]
    assert a["n_common"] == 31
    assert set(a["runs"]["far"]) >= {"n_images", "bias", "mae", "mae_ci", "r", "r_ci",
                                     "icc_a1", "ccc", "icc1", "tost_equivalent",
                                     "wilcoxon_p_two_sided"}
    assert set(a["pairs"]) == {"close|far", "close|mid", "far|mid"}
    assert set(a["pairs"]["close|far"]) == {"n", "mae_diff", "mae_diff_ci", "r_diff",
                                            "r_diff_t", "r_diff_p", "abs_d_p",
                                            "r_diff_p_holm", "abs_d_p_holm"}
    # Holm within the comparison: one family per test, every pair of every aspect
    for test in ("r_diff_p", "abs_d_p"):
        raw = [(a_, k, p[test]) for a_, s in out["aspects"].items()
               for k, p in s["pairs"].items() if p[test] is not None]
        m = len(raw)
        ranked = sorted(raw, key=lambda t: t[2])
        running = 0.0
        for j, (a_, k, p) in enumerate(ranked):  # Holm (1979), written out here
            running = max(running, min(1.0, (m - j) * p))
            assert out["aspects"][a_]["pairs"][k][f"{test}_holm"] == pytest.approx(running)
    runs = [frames(tmp / "runs" / n) for n in ("close", "far", "mid")]
    assert out == json.loads(json.dumps(to_json_dict(compare(runs, alpha=0.1))))


def test_compare_readable_marks_the_best(three_runs: tuple[Path, dict],
                                         capsys: pytest.CaptureFixture) -> None:
    tmp, _ = three_runs
    assert main(["compare", "close", "far", "--aspect", "valence",
                 "--runs-dir", str(tmp / "runs")]) == 0
    out = capsys.readouterr().out
    assert "valence: 34 common images" in out and "relevance:" not in out
    rows = [line.strip() for line in out.split("valence: 34 common images")[1].splitlines()]
    close_row = next(line for line in rows if line.startswith("close "))
    far_row = next(line for line in rows if line.startswith("far "))
    assert close_row.count("*") >= 3 and "close − far" in out
    assert far_row.count("*") < close_row.count("*")


@pytest.mark.parametrize(("args", "message"), [
    (["close"], "at least two runs"),
    (["close", "nope"], "'nope' not found"),
    (["close", "far", "--aspect", "mood"], "aspect 'mood' is not in run close"),
    (["close", "far:expected"], "far has no expected ratings"),
    (["close", "close"], "named twice"),
    (["close", "far", "--alpha", "1.5"], "--alpha"),
])
def test_compare_bad_input_exits_2_with_one_line(three_runs: tuple[Path, dict],
                                                 capsys: pytest.CaptureFixture,
                                                 args: list[str], message: str) -> None:
    tmp, _ = three_runs
    assert main(["compare", *args, "--runs-dir", str(tmp / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_no_common_image_is_an_error_and_an_empty_aspect_is_reported(tmp_path: Path) -> None:
    human = pl.DataFrame({"image_id": ["a", "b", "c", "a", "b", "c"],
                          "aspect": ["x"] * 3 + ["y"] * 3,
                          "human_mean": [1.0, 5.0, 9.0, 2.0, 3.0, 4.0]})

    def run(name: str, y_ids: list[str]) -> RunFrames:
        rows = [{"image_id": i, "aspect": "x", "repeat": 1, "rating": 3 + k}
                for k, i in enumerate("abc")]
        rows += [{"image_id": i, "aspect": "y", "repeat": 1, "rating": 5} for i in y_ids]
        return RunFrames(name, pl.DataFrame(rows), human, ["x", "y"])

    result = compare([run("p", ["a"]), run("q", ["b"])], n_boot=50)
    assert result.aspects["x"].n_common == 3 and result.aspects["y"].n_common == 0
    out = to_json_dict(result)
    assert out["aspects"]["y"] == {"n_common": 0, "runs": {}, "pairs": {}}
    with pytest.raises(ValueError, match="no image in common"):
        compare([run("p", ["a"]), run("q", ["b"])], aspects=["y"])


def test_an_undefined_tost_is_null_not_no() -> None:
    """Every d the same (model = human + 1 on every image): TOST has no SD to test with, so
    its verdict is undefined — null in --json and "—" in the report, never "no"."""
    ids = [f"p{i}" for i in range(8)]
    human_means = [float(1 + i % 7) for i in range(8)]
    rows = [{"image_id": i, "aspect": "a", "repeat": rep, "rating": int(h) + 1,
             "parse_error": None, "engine_error": None, "output_tokens": 5}
            for i, h in zip(ids, human_means, strict=True) for rep in (1, 2)]
    human = pl.DataFrame({"image_id": ids, "aspect": ["a"] * 8, "human_mean": human_means})
    shifted = RunFrames("shifted", pl.DataFrame(rows), human, ["a"])
    noisy_rows = [dict(r, rating=min(9, r["rating"] + (r["repeat"] + n) % 3 - 1))
                  for n, r in enumerate(rows)]
    noisy = RunFrames("noisy", pl.DataFrame(noisy_rows), human, ["a"])
    result = compare([shifted, noisy], n_boot=50)
    runs = to_json_dict(result)["aspects"]["a"]["runs"]
    assert runs["shifted"]["tost_equivalent"] is None
    assert runs["noisy"]["tost_equivalent"] in (True, False)
