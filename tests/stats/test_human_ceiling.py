"""The human noise ceiling (aspects.<A>.human) against the formulas of issue 25 written
here in plain numpy/scipy (loops over images, not our vectorised code), and against
simulations where the true answer is known; K = 1, unequal K, n = 3, a sheet without SDs
or without rater counts."""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest
from scipy import stats as sps

from vlmrate.stats import analyse, to_json_dict
from vlmrate.stats.human_ceiling import human_ceiling
from vlmrate.stats.notes import null_paths

from .helpers import ratings_frame


def _human(h: np.ndarray, sd: np.ndarray | None, n: np.ndarray | None,
           aspect: str = "valence") -> pl.DataFrame:
    ids = [f"img{i:03d}" for i in range(h.size)]
    return pl.DataFrame({
        "image_id": ids,
        "aspect": [aspect] * h.size,
        "human_mean": h.astype(float),
        "human_sd": [None if sd is None or math.isnan(v) else float(v)
                     for v in (sd if sd is not None else h)],
        "human_n": [None if n is None or math.isnan(v) else int(v)
                    for v in (n if n is not None else h)],
    }, schema={"image_id": pl.String, "aspect": pl.String, "human_mean": pl.Float64,
               "human_sd": pl.Float64, "human_n": pl.Int64})


def _study(n_img: int, k: int, seed: int = 0, *, drop: float = 0.0):
    """Model answers (n_img x k, some dropped), human means, SDs and rater counts."""
    rng = np.random.default_rng(seed)
    truth = rng.uniform(2, 8, n_img)
    x = np.rint(truth[:, None] + rng.normal(0.3, 1.2, (n_img, k))).clip(1, 9)
    if drop:
        x[rng.random(x.shape) < drop] = np.nan
        x[np.isnan(x).all(axis=1), 0] = 5.0  # every image keeps one answer
    n = rng.integers(5, 40, n_img).astype(float)
    sd = rng.uniform(0.8, 2.2, n_img)
    h = np.round(truth + rng.normal(0, 1, n_img) * sd / np.sqrt(n), 2)
    return x, h, sd, n


def _block(x, h, sd, n, *, raters=None, alpha=0.05):
    out = to_json_dict(analyse(ratings_frame({"valence": x}), _human(h, sd, n), ["valence"],
                               alpha=alpha, raters=raters))
    json.dumps(out, allow_nan=False)
    return out["aspects"]["valence"]


def _reference(x, h, sd, n, alpha=0.05):
    """Issue 25's formulas, image by image."""
    k = len(h)
    m = [float(np.mean([v for v in row if not math.isnan(v)])) for row in x]
    var_h = sum((hi - sum(h) / k) ** 2 for hi in h) / (k - 1)
    noise = sum(s * s / ni for s, ni in zip(sd, n, strict=True)) / k
    reliability = 1 - noise / var_h
    rater_mae = sum(math.sqrt(2 / math.pi) * s * math.sqrt(1 + 1 / (ni - 1))
                    for s, ni in zip(sd, n, strict=True)) / k
    mse = sum((mi - hi) ** 2 for mi, hi in zip(m, h, strict=True)) / k
    mse_true = mse - noise
    equivalents = (sum(s * s for s in sd) / k) / mse_true if mse_true > 0 else None
    inside = sum(abs(mi - hi) <= sps.t.ppf(1 - alpha / 2, ni - 1) * s / math.sqrt(ni)
                 for mi, hi, s, ni in zip(m, h, sd, n, strict=True)) / k
    model_sd = [np.std([v for v in row if not math.isnan(v)], ddof=1)
                if (~np.isnan(row)).sum() >= 2 else math.nan for row in x]
    both = [(a, b) for a, b in zip(model_sd, sd, strict=True) if not math.isnan(a)]
    varies = len(both) >= 3 and all(np.ptp(v) > 0 for v in zip(*both, strict=True))
    sd_r = sps.pearsonr(*zip(*both, strict=True)).statistic if varies else None
    return {
        "m": m, "reliability": reliability, "rater_mae": rater_mae, "noise_mse": noise,
        "model_mse": mse, "model_mse_true": mse_true, "rater_equivalents": equivalents,
        "within_human_ci": inside, "sd_correlation": sd_r,
        "r": sps.pearsonr(m, h).statistic,
    }


def _icc1k(x: np.ndarray) -> float:
    """ICC(1,k) = (MSB - MSW) / MSB, one-way ANOVA by hand (unequal group sizes)."""
    groups = [row[~np.isnan(row)] for row in x]
    big_n = sum(g.size for g in groups)
    grand = sum(g.sum() for g in groups) / big_n
    msb = sum(g.size * (g.mean() - grand) ** 2 for g in groups) / (len(groups) - 1)
    msw = sum(((g - g.mean()) ** 2).sum() for g in groups) / (big_n - len(groups))
    return (msb - msw) / msb


def _assert_nulls_explained(block: dict) -> None:
    for path in null_paths(block):
        assert any(path in note.split(": ")[0].split(", ") for note in block["notes"]), (
            path, block["notes"])
    assert not any("undefined for these data" in note for note in block["notes"])


@pytest.mark.parametrize(("n_img", "k", "drop", "alpha"),
                         [(60, 6, 0.0, 0.05), (45, 8, 0.3, 0.1), (30, 3, 0.2, 0.05)])
def test_human_block_equals_the_formulas(n_img, k, drop, alpha) -> None:
    x, h, sd, n = _study(n_img, k, seed=n_img, drop=drop)
    block = _block(x, h, sd, n, alpha=alpha)
    hu, ref = block["human"], _reference(x, h, sd, n, alpha)
    assert hu["n_images"] == n_img and hu["raters_from"] == "sheet"
    for key in ("reliability", "rater_mae", "noise_mse", "model_mse", "model_mse_true",
                "within_human_ci", "sd_correlation", "r"):
        assert hu[key] == pytest.approx(ref[key], rel=1e-9, abs=1e-12), key
    assert hu["rater_equivalents"] == pytest.approx(ref["rater_equivalents"], rel=1e-9)
    assert hu["model_mae"] == pytest.approx(block["agreement"]["mae"], rel=1e-12)
    rel_m = _icc1k(x)
    assert hu["model_reliability"] == pytest.approx(rel_m, rel=1e-9)
    ceiling = math.sqrt(ref["reliability"] * rel_m)
    assert hu["r_ceiling"] == pytest.approx(ceiling, rel=1e-9)
    assert hu["r_disattenuated"] == pytest.approx(ref["r"] / ceiling, rel=1e-9)
    answers = (~np.isnan(x)).sum(axis=1)
    assert hu["model_answers"] == pytest.approx(answers.mean())
    lo, hi = hu["rater_equivalents_ci"]
    assert lo < hu["rater_equivalents"] < hi
    _assert_nulls_explained(block)


def test_rater_equivalents_ci_against_scipy_bootstrap() -> None:
    x, h, sd, n = _study(80, 6, seed=5)
    hu = _block(x, h, sd, n)["human"]
    m = np.nanmean(x, axis=1)
    d2, noise, s2 = (m - h) ** 2, sd**2 / n, sd**2

    def ratio(d2, noise, s2, axis=-1):
        return s2.mean(axis=axis) / (d2.mean(axis=axis) - noise.mean(axis=axis))

    def q(d2, noise, s2, axis=-1):  # 1 / m, the statistic bootstrapped
        return 1 / ratio(d2, noise, s2, axis)

    # BCa at Hesterberg's (2015) expanded level for n = 80
    level = 1 - 2 * sps.norm.cdf(-math.sqrt(80 / 79) * sps.t.ppf(0.975, 79))
    ref = sps.bootstrap((d2, noise, s2), q, paired=True, vectorized=True,
                        n_resamples=20000, batch=2000, method="BCa", rng=3,
                        confidence_level=level).confidence_interval
    assert ref.low > 0
    # B = 2000 against 20000 resamples: a few % Monte-Carlo error
    assert hu["rater_equivalents_ci"][0] == pytest.approx(1 / ref.high, rel=0.08)
    assert hu["rater_equivalents_ci"][1] == pytest.approx(1 / ref.low, rel=0.1)
    assert hu["rater_equivalents_ci_method"] == "BCa bootstrap of 1/m, expanded"


def test_worth_m_raters_recovers_a_known_truth() -> None:
    """Simulated: raters N(mu_i, sigma), the model's mean N(mu_i, tau): the model's mean
    is worth sigma^2 / tau^2 raters; one rater's MAE against the others' mean is
    sqrt(2/pi) sigma sqrt(1 + 1/(n - 1))."""
    rng = np.random.default_rng(11)
    n_img, n_raters, sigma, tau = 3000, 12, 1.6, 0.8
    mu = rng.uniform(2, 8, n_img)
    raters = mu[:, None] + rng.normal(0, sigma, (n_img, n_raters))
    h, sd = raters.mean(axis=1), raters.std(axis=1, ddof=1)
    model = (mu + rng.normal(0, tau, n_img))[:, None]
    block = human_ceiling(model, h, sd, np.full(n_img, float(n_raters)), n_boot=200, seed=0)
    assert block is not None
    assert block.rater_equivalents == pytest.approx(sigma**2 / tau**2, rel=0.1)  # 4 raters
    lo, hi = block.rater_equivalents_ci
    assert lo < sigma**2 / tau**2 < hi
    one_vs_rest = np.abs(raters[:, 0] - raters[:, 1:].mean(axis=1)).mean()
    assert block.rater_mae == pytest.approx(one_vs_rest, rel=0.05)
    var_true = np.var(mu, ddof=1)
    assert block.reliability == pytest.approx(var_true / (var_true + sigma**2 / n_raters),
                                              abs=0.01)


def test_k1_has_no_model_reliability_nor_ceiling() -> None:
    x, h, sd, n = _study(40, 1, seed=2)
    block = _block(x, h, sd, n)
    hu, ref = block["human"], _reference(x, h, sd, n)
    assert hu["model_reliability"] is None and hu["r_ceiling"] is None
    assert hu["r_disattenuated"] is None and hu["sd_correlation"] is None
    assert hu["rater_equivalents"] == pytest.approx(ref["rater_equivalents"], rel=1e-9)
    assert hu["reliability"] == pytest.approx(ref["reliability"], rel=1e-9)
    assert any(note.startswith("human.model_reliability") and "K = 1" in note
               for note in block["notes"])
    _assert_nulls_explained(block)


def test_three_images_have_values_but_no_bootstrap() -> None:
    x, h, sd, n = _study(3, 4, seed=3)
    block = _block(x, h, sd, n)
    hu, ref = block["human"], _reference(x, h, sd, n)
    assert hu["n_images"] == 3
    assert hu["reliability"] == pytest.approx(ref["reliability"], rel=1e-9)
    assert hu["within_human_ci"] == pytest.approx(ref["within_human_ci"])
    assert hu["rater_equivalents_ci"] == [None, None]
    _assert_nulls_explained(block)


def test_sheet_without_sds_has_a_null_block_with_a_note() -> None:
    x, h, _, _ = _study(20, 3, seed=4)
    block = _block(x, h, None, None)
    assert block["human"] is None
    assert any(note.startswith("human:") and "valence_sd" in note for note in block["notes"])
    _assert_nulls_explained(block)


def test_sds_without_counts_need_raters() -> None:
    x, h, sd, _ = _study(20, 3, seed=6)
    block = _block(x, h, sd, None)
    assert block["human"] is None
    assert any(note.startswith("human:") and "--raters" in note for note in block["notes"])
    with_option = _block(x, h, sd, None, raters=15)["human"]
    ref = _reference(x, h, sd, np.full(20, 15.0))
    assert with_option["raters_from"] == "--raters" and with_option["raters_mean"] == 15
    assert with_option["reliability"] == pytest.approx(ref["reliability"], rel=1e-9)
    assert with_option["rater_mae"] == pytest.approx(ref["rater_mae"], rel=1e-9)
    # the sheet's counts win where there are some; --raters fills the others
    partial = np.where(np.arange(20) < 10, 30.0, np.nan)
    mixed = _block(x, h, sd, partial, raters=15)["human"]
    assert mixed["raters_from"] == "sheet and --raters"
    assert mixed["raters_mean"] == pytest.approx(22.5)


def test_model_within_the_human_noise_is_indistinguishable() -> None:
    rng = np.random.default_rng(8)
    h = rng.integers(2, 9, 30).astype(float)
    x = np.repeat(h[:, None], 4, axis=1)
    x[::3, 0] += 1  # model MSE about 0.02
    sd, n = np.full(30, 2.0), np.full(30, 5.0)  # error variance of h: 0.8 >> model MSE
    block = _block(x, h, sd, n)
    hu = block["human"]
    assert hu["model_mse_true"] < 0 and hu["rater_equivalents"] is None
    assert any(note.startswith("human.rater_equivalents") and "indistinguishable" in note
               for note in block["notes"])
    _assert_nulls_explained(block)


def test_validity_sentence_in_the_report() -> None:
    from rich.console import Console

    from vlmrate.stats.report import render_report

    x, h, sd, n = _study(40, 6, seed=9)
    st = analyse(ratings_frame({"valence": x}), _human(h, sd, n), ["valence"])
    hu = to_json_dict(st)["aspects"]["valence"]["human"]
    console = Console(width=100, record=True, color_system=None)
    console.print(render_report(st))
    text = " ".join(console.export_text().split())
    lo, hi = hu["rater_equivalents_ci"]
    assert (f"Validity (valence): the mean of 6 answers is as close to the consensus as the "
            f"mean of {hu['rater_equivalents']:.1f} raters (95% CI {lo:.1f} to {hi:.1f}); "
            f"one rater would differ from the sheet by {hu['rater_mae']:.2f} on average, the "
            f"model differs by {hu['model_mae']:.2f}") in text
    assert f"{100 * hu['within_human_ci']:.0f}% of the model means lie inside" in text
    assert "Every interval follows α (95%)" in text
    no_sd = analyse(ratings_frame({"valence": x}), _human(h, None, None), ["valence"])
    console = Console(width=100, record=True, color_system=None)
    console.print(render_report(no_sd))
    assert "Validity (valence): no human noise ceiling: the human sheet has no per-image SDs" \
        in " ".join(console.export_text().split())


def test_negative_icc1k_and_small_k_needed_are_labelled() -> None:
    from rich.console import Console

    from vlmrate.stats.report import aspect_table

    # images identical in mean, answers spread widely: MSB << MSW, ICC(1,k) far below 0
    x = np.tile(np.array([1.0, 9.0, 5.0, 5.0]), (12, 1))
    x[::2] = x[::2, ::-1]
    x[0, 2] = 4.0
    h = np.linspace(3, 7, 12)
    st = analyse(ratings_frame({"valence": x}), _human(h, None, None), ["valence"])
    s = st.aspects["valence"]
    assert s.icc.ICC1k.value < -1
    assert any(note.startswith("icc.ICC1k.value:") for note in s.notes)
    console = Console(width=100, record=True, color_system=None)
    console.print(aspect_table(s, 0.5, 0.05))
    row = next(line for line in console.export_text().splitlines() if "ICC(1,k)" in line)
    assert "< 0 (note)" in row and f"{s.icc.ICC1k.value:.3f}" not in row
    # Spearman-Brown below one answer: "≤ 1"
    x2 = np.repeat(np.arange(1.0, 9.0)[:, None], 3, axis=1)
    x2[0, 0] = 2.0
    st2 = analyse(ratings_frame({"valence": x2}), _human(np.arange(1.0, 9.0), None, None),
                  ["valence"])
    assert st2.aspects["valence"].icc.k_needed["0.8"] < 1
    console = Console(width=100, record=True, color_system=None)
    console.print(aspect_table(st2.aspects["valence"], 0.5, 0.05))
    row = next(line for line in console.export_text().splitlines() if "answers for" in line)
    assert "≤ 1 / ≤ 1" in row


def test_sheet_sd_column_and_raters_option_reach_stats(tmp_path, capsys) -> None:
    """A sheet with valence_sd (no valence_n) imported as a run: the human block needs
    --raters; with it the block equals the formulas on the sheet's numbers."""
    import csv

    from vlmrate.cli import main

    x, h, sd, _ = _study(12, 4, seed=13)
    with open(tmp_path / "ratings.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image_id", "aspect", "repeat", "rating"])
        for i, row in enumerate(x):
            for j, v in enumerate(row):
                w.writerow([f"img{i:03d}", "valence", j + 1, int(v)])
    with open(tmp_path / "human.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image_id", "valence_mean", "valence_sd"])
        for i in range(12):
            w.writerow([f"img{i:03d}", f"{h[i]:.2f}", f"{sd[i]:.3f}"])
    runs = str(tmp_path / "runs")
    assert main(["import", str(tmp_path / "ratings.csv"), "--human",
                 str(tmp_path / "human.csv"), "--run", "r", "--runs-dir", runs]) == 0
    capsys.readouterr()
    assert main(["stats", "r", "--json", "--runs-dir", runs]) == 0
    block = json.loads(capsys.readouterr().out)["aspects"]["valence"]
    assert block["human"] is None and any("valence_n" in n for n in block["notes"])
    assert main(["stats", "r", "--json", "--raters", "12", "--runs-dir", runs]) == 0
    hu = json.loads(capsys.readouterr().out)["aspects"]["valence"]["human"]
    ref = _reference(x, np.round(h, 2), np.round(sd, 3), np.full(12, 12.0))
    assert hu["raters_from"] == "--raters"
    for key in ("reliability", "rater_mae", "model_mse_true", "within_human_ci"):
        assert hu[key] == pytest.approx(ref[key], rel=1e-9), key
    assert main(["stats", "r", "--raters", "1", "--runs-dir", runs]) == 2
    assert "--raters: 1 must be a whole number from 2" in capsys.readouterr().err


def test_disattenuated_r_above_one_has_a_note() -> None:
    x, h, _, n = _study(10, 8, seed=1)
    block = _block(x, h, np.full(10, 0.5), n)
    hu, ref = block["human"], _reference(x, h, np.full(10, 0.5), n)
    rd = ref["r"] / math.sqrt(ref["reliability"] * _icc1k(x))
    assert rd > 1 and hu["r_disattenuated"] == pytest.approx(rd, rel=1e-9)
    assert any(note.startswith("human.r_disattenuated:") and "read it as ±1" in note
               for note in block["notes"])


def test_constant_d_study() -> None:
    """Every model mean is its human mean + 1: the block still equals the formulas, the
    interval and slope-p nulls are explained."""
    rng = np.random.default_rng(21)
    h = rng.integers(2, 8, 15).astype(float)
    x = np.repeat(h[:, None] + 1, 4, axis=1)
    x[:, 0] -= 1
    x[:, 1] += 1  # answers vary, their mean is h + 1 for every image
    sd, n = rng.uniform(0.8, 2, 15), rng.integers(10, 30, 15).astype(float)
    block = _block(x, h, sd, n)
    hu, ref = block["human"], _reference(x, h, sd, n)
    for key in ("reliability", "rater_mae", "model_mse_true", "rater_equivalents",
                "within_human_ci"):
        assert hu[key] == pytest.approx(ref[key], rel=1e-9), key
    ag = block["agreement"]
    assert ag["ba_bias"] == pytest.approx(1.0) and ag["ba_bias_ci"] == pytest.approx([1, 1])
    assert ag["ba_slope_p"] is None and ag["icc_c1_ci"] == [None, None]
    _assert_nulls_explained(block)


def test_mean_of_m_raters_mae_matches_a_simulation() -> None:
    """The closed form against raters drawn at random: per image n_i normal raters with
    SD s_i; the mean of the first m against the mean of the others, |difference|
    averaged over many draws and over the images."""
    from vlmrate.stats.human_ceiling import mean_of_m_raters_mae

    rng = np.random.default_rng(5)
    s = np.array([0.8, 1.5, 2.2, 1.1])
    n = np.array([6, 10, 25, 3])
    for m in (1, 2, 5):
        per_image = []
        for s_i, n_i in zip(s, n, strict=True):
            if n_i <= m:
                continue
            draws = rng.normal(0, s_i, size=(40_000, n_i))
            diff = draws[:, :m].mean(axis=1) - draws[:, m:].mean(axis=1)
            per_image.append(np.abs(diff).mean())
        assert mean_of_m_raters_mae(s, n, m) == pytest.approx(np.mean(per_image), rel=0.01)
    assert np.isnan(mean_of_m_raters_mae(s, n, 30))  # no image has more than 30 raters
