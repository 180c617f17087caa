"""`vlmrate review RUN [--json]`: the flags and notes of a run's review.json."""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console
from rich.table import Table

from vlmrate.runfolder.review import read_review_file, review_rows
from vlmrate.runfolder.store import resolve_run


def main(args: argparse.Namespace) -> int:
    run_dir = resolve_run(args.run, args.runs_dir)
    review = read_review_file(run_dir)
    rows = review_rows(review.cases)
    for problem in review.problems:
        print(f"vlmrate: warning: {problem}", file=sys.stderr)
    if args.json:
        print(json.dumps({"run": run_dir.name, "cases": rows}, ensure_ascii=False))
        return 0
    if not rows:
        print(f"{run_dir.name}: nothing flagged or noted yet")
        return 0
    table = Table(title=f"{run_dir.name}: {len(rows)} reviewed case"
                  f"{'' if len(rows) == 1 else 's'}", title_justify="left")
    for name in ("image", "aspect", "category", "note", "reviewer", "time"):
        table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(row["image_id"], row["aspect"], row["category"] or "",
                      row["note"], row["reviewer"], row["time"])
    Console().print(table)
    return 0
