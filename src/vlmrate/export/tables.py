"""The ratings as CSV and Parquet files, in the workbook's answer order."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from vlmrate.export.target import atomic_output, check_target
from vlmrate.runfolder.store import LoadedRun


def answers_order(run: LoadedRun) -> pl.DataFrame:
    """The answers by image, aspect (in study order) and repeat: the order of the Ratings
    and Answers sheets and of the CSV / Parquet."""
    order = {a: i for i, a in enumerate(run.aspects)}
    return (run.ratings
            .with_columns(pl.col("aspect").replace_strict(order, default=len(order),
                                                          return_dtype=pl.Int64).alias("_o"))
            .sort(["image_id", "_o", "repeat"], maintain_order=True).drop("_o"))


# A CSV cell a spreadsheet would run as a formula (OWASP "CSV injection") begins with
# = + - @ tab or CR. Written with a leading ' the spreadsheet shows it as text.
CSV_FORMULA_START = r"^[=+\-@\t\r]"


def csv_text_safe(frame: pl.DataFrame) -> pl.DataFrame:
    """Every text cell that begins with = + - @ tab or CR gets a leading ' (numbers stay
    numbers: -1 in a number column is not touched)."""
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(CSV_FORMULA_START)).then(pl.lit("'") + pl.col(name))
        .otherwise(pl.col(name)).alias(name)
        for name, dtype in frame.schema.items() if dtype == pl.String)


def write_ratings_csv(run: LoadedRun, path: Path) -> Path:
    """The ratings as stored (rating_probs as 9 ';'-separated numbers), atomically; text that
    a spreadsheet would take for a formula is prefixed with ' (csv_text_safe)."""
    path = check_target(Path(path), expect_suffix=".csv")
    frame = answers_order(run).with_columns(
        pl.col("rating_probs").list.eval(pl.element().cast(pl.String)).list.join(";"))
    with atomic_output(path) as handle:
        csv_text_safe(frame).write_csv(handle)
    return path


def write_ratings_parquet(run: LoadedRun, path: Path) -> Path:
    path = check_target(Path(path), expect_suffix=".parquet")
    with atomic_output(path) as handle:
        answers_order(run).write_parquet(handle)
    return path
