"""The workbook with the statistics of a real analysis (alpha 0.10, expected ratings for
one aspect): labels name the level, the Agreement sheet lists the new rows and shows
sampled and expected side by side, every number equal to `stats --json`."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import openpyxl
import polars as pl

from vlmrate.export import write_workbook
from vlmrate.runfolder.store import LoadedRun
from vlmrate.stats import analyse, to_json_dict
from vlmrate.stats.layout import AGREEMENT, EXPECTED_LINES, sheet_rows, value_at


def _same(cell, want) -> bool:
    if want is None or (isinstance(want, float) and math.isnan(want)):
        return cell is None
    if isinstance(want, bool):  # booleans as the reports say them
        return cell == ("yes" if want else "no")
    if isinstance(want, str):
        return cell == want
    return math.isclose(cell, want, rel_tol=1e-12, abs_tol=1e-15)


def test_agreement_sheet_levels_new_rows_and_side_by_side(loaded: LoadedRun,
                                                          tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    noise = pl.Series(np.round(rng.normal(0, 0.3, loaded.ratings.height), 3))
    ratings = loaded.ratings.with_columns(
        pl.when(pl.col("aspect") == "arousal").then((pl.col("rating") + noise).clip(1, 9))
        .otherwise(None).alias("expected_rating"))
    run = LoadedRun(loaded.name, loaded.path, loaded.manifest, loaded.aspects, ratings,
                    loaded.human, loaded.review)
    study = analyse(ratings, loaded.human, loaded.aspects, alpha=0.10, run_name=run.name)
    stats = to_json_dict(study)
    book = openpyxl.load_workbook(write_workbook(run, stats, study.per_image,
                                                 tmp_path / "paper.xlsx"))
    ws = book[AGREEMENT]
    rows = list(ws.iter_rows(values_only=True))
    header = rows[0]
    aspects = list(loaded.aspects)
    n = len(sheet_rows(AGREEMENT))
    field = header.index("field (stats --json)")
    table = {row[field]: dict(zip(header, row, strict=False)) for row in rows[1:n + 1]}
    assert list(table) == [s.path for s in sheet_rows(AGREEMENT)]
    for path, row in table.items():
        for aspect in aspects:
            assert _same(row[aspect], value_at(stats["aspects"][aspect], path)), (path, aspect)
    labels = {(row["section"], row["statistic"]) for row in table.values()}
    assert ("MAE", "90% CI lower") in labels and ("MAE", "CI method") in labels
    assert ("TOST (paired t)", "80% CI of mean d: lower") in labels
    assert ("Bland–Altman", "lower 95% limit") in labels  # the limits stay at 95%
    assert ("Bland–Altman", "lower limit: 90% CI lower") in labels  # their CIs follow alpha
    assert ("human noise ceiling", "worth m raters") in labels
    assert ("Wilcoxon signed-rank on d", "p (two-sided), Holm") in labels
    assert not any("{" in s or "{" in t for s, t in labels)
    # below: sampled and expected, two columns per aspect
    start = next(i for i, row in enumerate(rows) if row[0] and str(row[0]).startswith("Sampled"))
    block_header = rows[start + 1]
    assert list(block_header[1:7]) == [f"{a} {side}" for a in aspects
                                       for side in ("sampled", "expected")]
    for offset, (_, sampled, expected) in enumerate(EXPECTED_LINES):
        row = rows[start + 2 + offset]
        for j, aspect in enumerate(aspects):
            data = stats["aspects"][aspect]
            if sampled:
                assert _same(row[1 + 2 * j], value_at(data, sampled)), (sampled, aspect)
            want = value_at(data, expected) if data["expected"] is not None else None
            assert _same(row[2 + 2 * j], want), (expected, aspect)
    assert stats["aspects"]["arousal"]["expected"] is not None
    errors = book["ErrorsByK"]
    assert [c.value for c in errors[1]][7:10] == ["subsets 90% lower", "subsets 90% upper",
                                                  "subsets Monte-Carlo SE"]
    # the Summary sheet ends with one Validity sentence per aspect, the report's words
    from vlmrate.stats.validity import validity_sentence

    summary = {row[0]: row[1] for row in book["Summary"].iter_rows(values_only=True)
               if row[0] and str(row[0]).startswith("validity (")}
    assert summary == {f"validity ({a})": validity_sentence(a, stats["aspects"][a], "90%")
                       for a in aspects}
