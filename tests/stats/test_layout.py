"""stats.layout and stats.formatting: every row names a real statistic (on AspectStats and,
for the workbook's rows, in `stats --json`), templates render as the report shows them,
and the formatters' rules for missing values, small p-values and intervals."""

from __future__ import annotations

import math
import re

import numpy as np
import polars as pl
import pytest
from rich.console import Console

from vlmrate.stats import analyse, to_json_dict
from vlmrate.stats import formatting as f
from vlmrate.stats.layout import (
    AGREEMENT,
    RELIABILITY,
    REPORT_LINES,
    STATISTICS,
    Kind,
    kind_of,
    render,
    sheet_rows,
    value_at,
)
from vlmrate.stats.report import aspect_table

from .helpers import human_frame, ratings_frame

ASPECTS = ["strong", "flat"]


@pytest.fixture(scope="module")
def study():
    rng = np.random.default_rng(3)
    n, k = 80, 4
    truth = rng.uniform(2, 8, n)
    strong = np.rint(truth[:, None] + 0.6 + rng.normal(0, 0.5, (n, k))).clip(1, 9)
    flat = np.full((n, k), 5.0)  # no spread at all: ICC, r undefined (NaN / null)
    ratings = ratings_frame({"strong": strong, "flat": flat})
    # logprob expected ratings for "strong" only: "flat" has no expected block
    expected = pl.Series(np.round(rng.uniform(-0.5, 0.5, ratings.height), 3))
    ratings = ratings.with_columns(
        pl.when(pl.col("aspect") == "strong").then(pl.col("rating") + expected)
        .otherwise(None).alias("expected_rating"))
    human = human_frame({"strong": np.round(truth, 2), "flat": rng.uniform(1, 9, n)})
    result = analyse(ratings, human, ASPECTS, bound=0.4, alpha=0.1, run_name="t")
    return result, to_json_dict(result)


def _has_key(data: object, path: str) -> bool:
    keys = path.split(".")
    while keys:
        key = keys.pop(0)
        if isinstance(data, dict) and key not in data and keys and f"{key}.{keys[0]}" in data:
            key = f"{key}.{keys.pop(0)}"  # k_needed's "0.8"
        if isinstance(data, dict) and key in data:
            data = data[key]
        elif isinstance(data, list) and key.isdigit() and int(key) < len(data):
            data = data[int(key)]
        else:
            return False
    return True


def test_every_row_is_a_statistic_of_aspect_stats(study) -> None:
    result, _ = study
    paths = [s.path for s in STATISTICS]
    assert len(paths) == len(set(paths))
    assert result.aspects["strong"].expected is not None
    assert result.aspects["flat"].expected is None
    for aspect in ASPECTS:
        for stat in STATISTICS:
            if stat.path.startswith("expected.") and aspect == "flat":
                assert value_at(result.aspects[aspect], stat.path) is None, stat.path
                continue
            assert value_at(result.aspects[aspect], stat.path) is not None, stat.path


def test_workbook_rows_are_stats_json_keys_with_the_same_numbers(study) -> None:
    result, data = study
    for aspect in ASPECTS:
        for stat in STATISTICS:
            if stat.path.startswith("expected.") and aspect == "flat":
                assert data["aspects"][aspect]["expected"] is None  # the whole block
                continue
            in_json = _has_key(data["aspects"][aspect], stat.path)
            assert in_json == bool(stat.sheets), stat.path  # no sheet <=> not in the JSON
            if not in_json:
                continue
            got = value_at(data["aspects"][aspect], stat.path)
            want = value_at(result.aspects[aspect], stat.path)
            if isinstance(want, float) and not math.isfinite(want):
                assert got is None, stat.path
            else:
                assert got == want, stat.path


def test_sheet_rows_keep_the_table_order() -> None:
    for sheet in (RELIABILITY, AGREEMENT):
        rows = sheet_rows(sheet)
        assert rows == [s for s in STATISTICS if sheet in s.sheets]
        assert rows[0].path == "n_images"
    assert {s.path for s in STATISTICS if not s.sheets} == set()  # n0 is in the JSON now
    assert kind_of("wilcoxon.p_less") is Kind.P and kind_of("tost.equivalent") is Kind.BOOL
    with pytest.raises(KeyError):
        kind_of("no.such.path")


def test_render_formats_as_the_row_says() -> None:
    aspect = {"icc": {"ICC1": {"value": 0.91234, "p": 2e-9, "ci": [0.8766, None],
                               "df1": 11.0, "F": 2.345}},
              "wilcoxon": {"w_plus": 48.0, "w_minus": 11323.5},
              "tost": {"equivalent": False, "t_lower": 1.23456}}
    assert render("{icc.ICC1.value}", aspect, {}) == "0.912"
    assert render("{icc.ICC1.p}", aspect, {}) == "<0.001"
    assert render("{icc.ICC1.ci}", aspect, {}) == "[0.877, —]"
    assert render("F({icc.ICC1.df1}) = {icc.ICC1.F}", aspect, {}) == "F(11) = 2.35"
    assert render("{wilcoxon.w_plus} / {wilcoxon.w_minus}", aspect, {}) == "48 / 11323.5"
    assert render("t = {tost.t_lower}", aspect, {}) == "t = 1.23"
    assert render("eq {tost.equivalent}", aspect, {}) == "eq no"
    assert render("TOST (±{bound}), α = {alpha}", aspect, {"bound": 0.5, "alpha": 0.05}) \
        == "TOST (±0.5), α = 0.05"
    assert render("{icc.ICC1k.F}", aspect, {}) == "—"  # absent: missing
    with pytest.raises(KeyError):
        render("{icc.nothing}", aspect, {})


def test_report_lines_show_the_numbers(study) -> None:
    """Lines of the CLI report against plain f-strings of the AspectStats numbers."""
    result, _ = study
    s = result.aspects["strong"]
    console = Console(width=100, record=True, color_system=None)
    console.print(aspect_table(s, 0.4, 0.1))
    lines = {re.split(r"\s{2,}", line.strip())[0]: re.split(r"\s{2,}", line.strip())
             for line in console.export_text().splitlines() if line.strip()}
    icc = s.icc.ICC1
    assert lines["ICC(1,1)"][1:] == [f"{icc.value:.3f}",
                                     f"[{icc.ci[0]:.3f}, {icc.ci[1]:.3f}]", "<0.001"]
    assert icc.p < 0.001
    assert lines["F(df1, df2)"][1:] == [f"{icc.F:.2f}",
                                        f"F({icc.df1:.0f}, {icc.df2:.0f}), n0 = {s.icc.n0:.2f}"]
    ag = s.agreement
    assert lines["MAE, CI BCa bootstrap, expanded"][1:] == [
        f"{ag.mae:.3f}", f"[{ag.mae_ci[0]:.3f}, {ag.mae_ci[1]:.3f}]"]
    w = s.wilcoxon
    assert lines["Wilcoxon W+ / W−"][1:3] == [f"{w.w_plus:g} / {w.w_minus:g}", "model > human"]
    t = s.tost
    assert lines["TOST t (±0.4): mean d"][1:3] == [f"{t.mean_diff:.3f}",
                                                  f"t = {t.t_lower:.2f}, {t.t_upper:.2f}"]
    assert lines["equivalent"][1:] == ["yes" if t.equivalent else "no",
                                       f"SD d = {t.sd_diff:.3f}, α = 0.1"]
    assert lines["Pearson r vs human, CI Fisher z"][1:3] == [
        f"{s.pearson_vs_human.r:.3f}", f"[{ag.r_ci[0]:.3f}, {ag.r_ci[1]:.3f}]"]
    hl = w.hodges_lehmann_ci
    assert lines["Hodges–Lehmann"][1:] == [
        f"{w.hodges_lehmann:.3f}",
        f"[{hl[0]:.3f}, {hl[1]:.3f}] at {100 * w.hodges_lehmann_ci_level:g}%"]
    hu = s.human
    assert lines["model worth m raters"][1:] == [
        f"{hu.rater_equivalents:.2f}",
        f"[{hu.rater_equivalents_ci[0]:.2f}, {hu.rater_equivalents_ci[1]:.2f}]"]
    assert lines["Reference study's 'ICC'"][1:] == [f"{s.icc.icc_reference:.3f}",
                                                     "not an ICC: grows with K"]
    assert len(REPORT_LINES) == 39
    flat = Console(width=100, record=True, color_system=None)
    flat.print(aspect_table(result.aspects["flat"], 0.4, 0.1))
    row = next(line for line in flat.export_text().splitlines() if "ICC(1,1)" in line)
    assert row.split()[1:] == ["—", "[—,", "—]", "—"]


@pytest.mark.parametrize(("value", "text"), [
    (None, "—"), (math.nan, "—"), (math.inf, "—"), (-math.inf, "—"), (np.float64("nan"), "—"),
    (np.float32("nan"), "—"), (0.12345, "0.123"), (np.float64(-1.5), "-1.500"), (3, "3.000"),
    (-0.0004, "0.000"), (-0.0, "0.000"), (-0.0006, "-0.001"), (-10.0, "-10.000"),  # no -0.000
])
def test_number(value: object, text: str) -> None:
    assert f.number(value) == text


def test_p_value_interval_and_the_rest() -> None:
    assert f.p_value(0.000999) == "<0.001"
    assert f.p_value(1e-300) == "<0.001"
    assert f.p_value(0.001) == "0.001"
    assert f.p_value(0.0456) == "0.046"
    assert f.p_value(math.nan) == f.p_value(None) == "—"
    assert f.interval((0.1, math.nan)) == "[0.100, —]"
    assert f.interval([1, 2], 1) == "[1.0, 2.0]"
    assert f.interval(None) == f.interval([1.0]) == f.interval("ab") == "—"
    assert f.compact(48.0) == "48" and f.compact(11323.5) == "11323.5"
    assert f.compact(math.nan) == "—"
    assert f.yes_no(np.bool_(True)) == "yes" and f.yes_no(False) == "no"
    assert f.yes_no(None) == "—"
    assert f.count(np.int64(7)) == "7" and f.count(12.0) == "12" and f.count(None) == "—"
    assert not f.is_missing(True) and not f.is_missing("text") and f.is_missing(math.inf)


def test_readable_note_names_statistics_as_the_views_do() -> None:
    from vlmrate.stats.layout import readable_note

    assert readable_note("icc.k_needed.0.8, homogeneity.image_sd_human: why") == (
        "answers needed for reliability 0.8 (Spearman–Brown), "
        "homogeneity mean per-image SD: humans: why")
    assert readable_note("icc.ICC1.ci.0: x") == "ICC1 CI lower: x"  # {level} left out
    assert readable_note("cross_by_k 4..10: K = 3") == "cross_by_k 4..10: K = 3"
    assert readable_note("no colon here") == "no colon here"
