"""The run's workbook (xlsxwriter) plus CSV / Parquet of its ratings.

`export_run` computes the statistics with vlmrate.stats and writes the files:
sheets.py lays out the workbook, xlsx_writer.py writes it (the fast row writer of the big
sheets), tables.py writes the CSV / Parquet, target.py checks the targets and replaces
them atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from vlmrate.errors import UserError
from vlmrate.export.sheets import (
    ERRORS_COLUMNS,
    SHEETS,
    TOP_N,
    case_rows,
    per_image_table,
    write_workbook,
)
from vlmrate.export.tables import write_ratings_csv, write_ratings_parquet
from vlmrate.export.target import check_target, companion_path, default_path
from vlmrate.export.xlsx_writer import EXCEL_MAX_CHARS, TRUNCATED, excel_text
from vlmrate.runfolder.store import LoadedRun

__all__ = [
    "ERRORS_COLUMNS",
    "EXCEL_MAX_CHARS",
    "SHEETS",
    "TOP_N",
    "TRUNCATED",
    "case_rows",
    "check_target",
    "companion_path",
    "compute_stats",
    "default_path",
    "excel_text",
    "export_run",
    "per_image_table",
    "write_ratings_csv",
    "write_ratings_parquet",
    "write_workbook",
]


def compute_stats(run: LoadedRun, *, bound: float = 0.5, alpha: float = 0.05,
                  k_max: int | None = None, seed: int = 0,
                  raters: int | None = None) -> tuple[dict, pl.DataFrame]:
    """(stats --json dict, per-image frame) from vlmrate.stats, imported only now."""
    from vlmrate.stats import analyse, to_json_dict

    study = analyse(run.ratings, run.human, run.aspects, bound=bound, alpha=alpha,
                    k_max=k_max, seed=seed, run_name=run.name, raters=raters)
    return to_json_dict(study), study.per_image


def export_run(run: LoadedRun, path: Path | None = None, *, bound: float = 0.5,
               alpha: float = 0.05, k_max: int | None = None, seed: int = 0,
               csv: bool = False, parquet: bool = False, top_n: int = TOP_N,
               raters: int | None = None,
               figures: Sequence[tuple[str, str, bytes]] = ()) -> list[Path]:
    """Compute the statistics and write the workbook (+ CSV / Parquet of the ratings).

    path defaults to runs/<name>/<name>.xlsx; the CSV and Parquet go beside the workbook
    as <stem>.ratings.csv / .parquet; ``figures`` (title, caption, PNG) fill a Figures
    sheet. Returns the written paths. The TUI's export action calls this too.
    """
    if run.ratings.height == 0:
        raise UserError(f"run {run.name} has no ratings yet: nothing to export")
    target = Path(path) if path is not None else default_path(run)
    check_target(target)
    extra = []
    if csv:
        extra.append((write_ratings_csv, companion_path(target, ".csv")))
    if parquet:
        extra.append((write_ratings_parquet, companion_path(target, ".parquet")))
    for _, companion in extra:
        check_target(companion, expect_suffix=companion.suffix)
    stats_json, per_image = compute_stats(run, bound=bound, alpha=alpha, k_max=k_max,
                                          seed=seed, raters=raters)
    written = [write_workbook(run, stats_json, per_image, target, top_n=top_n,
                              figures=figures)]
    written += [writer(run, companion) for writer, companion in extra]
    return written
