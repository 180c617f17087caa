"""The new statistics in the views: the CLI report, the TUI Summary's tables (pure
functions; the screen itself is covered by tests/tui) - labels say the confidence
level, Holm p beside raw p, sampled and expected side by side, the notes and Methods."""

from __future__ import annotations

import re

import numpy as np
import polars as pl
import pytest
from rich.console import Console
from rich.measure import Measurement

from vlmrate.stats import analyse, render_report, to_json_dict
from vlmrate.stats.formatting import number, p_value
from vlmrate.stats.layout import EXPECTED_PREFIX, STATISTICS, readable_note, study_fields
from vlmrate.tui.screens.stats import expected_table, notes_text, summary_table

from .helpers import human_frame, ratings_frame

ASPECTS = ["relevance", "arousal"]


def _study(expected: bool):
    rng = np.random.default_rng(21)
    n, k = 40, 5
    mats, hums = {}, {}
    for a in ASPECTS:
        truth = rng.uniform(2, 8, n)
        mats[a] = np.rint(truth[:, None] + rng.normal(0.3, 1.0, (n, k))).clip(1, 9)
        hums[a] = np.round(truth + rng.normal(0, 0.4, n), 2)
    ratings = ratings_frame(mats)
    if expected:
        noise = pl.Series(np.round(rng.normal(0, 0.4, ratings.height), 3))
        ratings = ratings.with_columns(
            pl.when(pl.col("aspect") == "relevance").then((pl.col("rating") + noise).clip(1, 9))
            .otherwise(None).alias("expected_rating"))
    return analyse(ratings, human_frame(hums), ASPECTS, alpha=0.10, bound=0.4, run_name="v")


def _text(renderable, width: int = 100) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


@pytest.fixture(scope="module")
def with_expected():
    return _study(expected=True)


def test_report_labels_levels_holm_expected_notes_methods(with_expected) -> None:
    st = with_expected
    text = _text(render_report(st))
    assert max(len(line) for line in text.splitlines()) <= 100 and "…" not in text
    assert "90% CI / test" in text and "95% CI / test" not in text
    assert "intervals at 90%" in text
    assert "d_z; 80% CI of mean d" in text  # TOST interval: 1 - 2 alpha
    assert "95% limits of agreement" in text  # the limits stay the conventional 95%
    assert "90% CI of the lower limit" in text  # their CIs follow alpha
    rel = st.aspects["relevance"]
    lines = [re.split(r"\s{2,}", line.strip()) for line in text.splitlines()]
    holm_rows = [row for row in lines if row[0] == "two-sided, Holm across aspects"]
    assert holm_rows[0][1] == p_value(rel.holm["wilcoxon_two_sided"])
    raw = next(row for row in lines if row[0] == "two-sided")
    assert raw[1] == p_value(rel.wilcoxon.p_two_sided)
    # sampled and expected side by side, for the aspect that has expected ratings only
    assert "relevance: sampled vs expected rating" in text
    assert "arousal: sampled vs expected rating" not in text
    mae = next(row for row in lines if row[0] == "MAE")
    assert mae[1:] == [number(rel.agreement.mae), number(rel.expected.mae)]
    assert "Methods. " in text
    assert "expected rating" in re.sub(r"\s+", " ", text.split("Methods. ")[1])
    compact = re.sub(r"\s+", " ", text)
    arousal_notes = st.aspects["arousal"].notes
    assert arousal_notes
    for note in arousal_notes:  # every note, whole (wrapped lines joined), paths as labels
        assert re.sub(r"\s+", " ", f"note: {readable_note(note)}") in compact
    assert "icc.k_needed" not in text and "homogeneity.image_sd" not in text


def test_tui_summary_rows_labels_and_expected(with_expected) -> None:
    st = with_expected
    study = study_fields(st.bound, st.alpha)
    text = _text(summary_table(st.aspects, ASPECTS, study), width=80)
    assert "90% CI lower" in text and "95% CI lower" not in text  # every CI follows alpha
    assert "lower 95% limit" in text  # the Bland-Altman limits stay at 95%
    assert "percentile bootstrap CI lower" in text and "80% CI of mean d: lower" in text
    assert "{level}" not in text and "{tost_level}" not in text
    assert "p (two-sided), Holm" in text and "expected rating (logprobs)" in text
    side = _text(expected_table(st.aspects["relevance"], "relevance", study), width=80)
    rel = st.aspects["relevance"]
    row = next(line for line in side.splitlines() if line.strip().startswith("Pearson r vs"))
    assert row.split()[-2:] == [number(rel.pearson_vs_human.r),
                                number(rel.expected.pearson_vs_human.r)]
    assert "no expected ratings" in _text(expected_table(st.aspects["arousal"], "arousal", study))
    notes = _text(notes_text(st.aspects["arousal"], "arousal"), width=200)
    assert "expected: the run has no expected ratings" in notes


def test_tui_summary_hides_expected_rows_without_expected() -> None:
    st = _study(expected=False)
    text = _text(summary_table(st.aspects, ASPECTS, study_fields(st.bound, st.alpha)), 80)
    assert "expected rating (logprobs)" not in text
    json_paths = to_json_dict(st)["aspects"]["relevance"]
    assert json_paths["expected"] is None
    assert any(s.path.startswith(EXPECTED_PREFIX) for s in STATISTICS)


def test_tui_summary_keeps_values_next_to_labels_when_wide(with_expected) -> None:
    """At 160 columns the values stand beside their labels (the table does not spread
    over the whole width), and every label and value is there as at 80."""
    st = with_expected
    study = study_fields(st.bound, st.alpha)
    wide = _text(summary_table(st.aspects, ASPECTS, study), width=160)
    narrow = _text(summary_table(st.aspects, ASPECTS, study), width=80)
    table = summary_table(st.aspects, ASPECTS, study)
    console = Console(width=160)
    natural = Measurement.get(console, console.options, table).maximum
    assert natural < 160  # the table's own width, not the screen's
    assert max(len(line.rstrip()) for line in wide.splitlines()) <= natural
    # the same labels and values (at 80 a long cell wraps onto a second line)
    assert sorted(wide.split()) == sorted(narrow.split())
