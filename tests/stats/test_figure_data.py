"""The per-image frames the figures draw, against independent computations (plain
Python loops, scipy), never against their own formulas."""

from __future__ import annotations

import math
import random

import numpy as np
import polars as pl
import pytest
from scipy import stats as sps

from vlmrate.stats import analyse, per_image
from vlmrate.stats.figure_data import (
    aspect_column,
    bias_ci,
    bland_altman_points,
    correlation_matrix,
    first_k_vs_human,
    sampled_vs_expected,
)

ASPECTS = ["relevance", "valence"]


def _frames(n: int = 25, k: int = 6, seed: int = 3) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = random.Random(seed)
    rows, human = [], []
    for i in range(n):
        image = f"i{i:02d}"
        for a in ASPECTS:
            for r in range(1, k + 1):
                rating = None if rng.random() < 0.15 else rng.randint(1, 9)
                rows.append({"image_id": image, "aspect": a, "repeat": r, "rating": rating,
                             "expected_rating": None if rating is None else
                             rating + rng.uniform(-0.4, 0.4)})
            if i != 3:  # one image without a human mean
                human.append({"image_id": image, "aspect": a,
                              "human_mean": round(rng.uniform(1, 9), 2)})
    rows = rows[::-1]  # the order of the rows must not matter
    return (pl.DataFrame(rows, schema={"image_id": pl.String, "aspect": pl.String,
                                       "repeat": pl.Int64, "rating": pl.Int64,
                                       "expected_rating": pl.Float64}),
            pl.DataFrame(human))


def _answers(ratings: pl.DataFrame, aspect: str) -> dict[str, dict[int, float]]:
    out: dict[str, dict[int, float]] = {}
    for row in ratings.iter_rows(named=True):
        if row["aspect"] == aspect and row["rating"] is not None:
            out.setdefault(row["image_id"], {})[row["repeat"]] = float(row["rating"])
    return out


def test_first_k_means_by_hand_and_errors_by_k_agree() -> None:
    ratings, human = _frames()
    hum = {(r["image_id"], r["aspect"]): r["human_mean"] for r in human.iter_rows(named=True)}
    stats = analyse(ratings, human, ASPECTS)
    for a in ASPECTS:
        frame = first_k_vs_human(ratings, human, a)
        answers = _answers(ratings, a)
        expected = {}
        for image, by_repeat in answers.items():
            if (image, a) not in hum or set(by_repeat) != set(range(1, 7)):
                continue  # errors_by_k's images: every answer 1..K valid
            for k in range(1, 7):
                got = [v for r, v in by_repeat.items() if r <= k]
                if got:
                    expected[(image, k)] = (sum(got) / len(got), hum[(image, a)])
        assert frame.height == len(expected)
        for row in frame.iter_rows(named=True):
            m, h = expected[(row["image_id"], row["k"])]
            assert row["model"] == pytest.approx(m) and row["human"] == h
        # each panel's MAE and r (printed on the figure) are the stats' errors_by_k
        for e in stats.aspects[a].errors_by_k:
            part = frame.filter(pl.col("k") == e.k)
            d = part["model"].to_numpy() - part["human"].to_numpy()
            assert part.height == e.n
            assert np.abs(d).mean() == pytest.approx(e.mae)
            assert sps.pearsonr(part["model"], part["human"])[0] == pytest.approx(e.r)


def test_bland_altman_points_and_bias_ci() -> None:
    ratings, human = _frames()
    table = per_image(ratings, human, ASPECTS)
    hum = {(r["image_id"], r["aspect"]): r["human_mean"] for r in human.iter_rows(named=True)}
    answers = _answers(ratings, "valence")
    points = bland_altman_points(table, "valence")
    ids = [i for i in sorted(answers) if ("i" + i[1:], "valence") in hum]
    assert points["image_id"].to_list() == ids
    for row in points.iter_rows(named=True):
        m = sum(answers[row["image_id"]].values()) / len(answers[row["image_id"]])
        h = hum[(row["image_id"], "valence")]
        assert row["average"] == pytest.approx((m + h) / 2)
        assert row["d"] == pytest.approx(m - h)
    d = points["d"].to_numpy()
    lo, hi = bias_ci(d, 0.95)
    ref = sps.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=sps.sem(d))
    assert (lo, hi) == pytest.approx(ref)
    assert all(math.isnan(v) for v in bias_ci(np.array([1.0]), 0.95))
    sd = aspect_column(table, "valence", "sd")
    by_hand = [np.std(list(v.values()), ddof=1) for _, v in sorted(answers.items())
               if len(v) >= 2]
    assert sd == pytest.approx(by_hand)


def test_correlation_matrix_is_numpy_corrcoef_of_the_means() -> None:
    ratings, human = _frames()
    stats = analyse(ratings, human, ASPECTS)
    matrix = correlation_matrix(stats.between_aspects, ASPECTS)
    table = stats.per_image.drop_nulls([f"{a}_mean" for a in ASPECTS]).filter(
        pl.col("relevance_human").is_not_null() & pl.col("valence_human").is_not_null())
    ref = np.corrcoef(table["relevance_mean"], table["valence_mean"])
    assert matrix == pytest.approx(ref)


def test_sampled_vs_expected_by_hand() -> None:
    ratings, human = _frames()
    frame = sampled_vs_expected(ratings, human, "relevance")
    rows = [r for r in ratings.iter_rows(named=True) if r["aspect"] == "relevance"]
    for row in frame.iter_rows(named=True):
        mine = [r for r in rows if r["image_id"] == row["image_id"] and r["rating"] is not None]
        assert row["sampled"] == pytest.approx(sum(r["rating"] for r in mine) / len(mine))
        assert row["expected"] == pytest.approx(
            sum(r["expected_rating"] for r in mine) / len(mine))
    assert frame.filter(pl.col("image_id") == "i03")["human"].to_list() == [None]
    no_logprobs = ratings.with_columns(pl.lit(None, pl.Float64).alias("expected_rating"))
    assert sampled_vs_expected(no_logprobs, human, "relevance").is_empty()
