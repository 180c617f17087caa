"""`vlmrate review RUN [--json]`: the flags and notes of a run's review.json."""

from __future__ import annotations

import argparse
import json

from rich.table import Table
from rich.text import Text

from vlmrate.commands.common import SafeConsole, say
from vlmrate.runfolder.review import read_review_file, review_rows
from vlmrate.runfolder.store import resolve_run
from vlmrate.safe_text import json_safe, visible


def main(args: argparse.Namespace) -> int:
    run_dir = resolve_run(args.run, args.runs_dir)
    review = read_review_file(run_dir)
    rows = review_rows(review.cases)
    for problem in review.problems:
        say(f"vlmrate: warning: {problem}")
    if args.json:
        print(json_safe(json.dumps({"run": run_dir.name, "cases": rows}, ensure_ascii=False)))
        return 0
    if not rows:
        print(visible(f"{run_dir.name}: nothing flagged or noted yet"))
        return 0
    table = Table(title=f"{run_dir.name}: {len(rows)} reviewed case"
                  f"{'' if len(rows) == 1 else 's'}", title_justify="left")
    for name in ("image", "aspect", "category", "note", "reviewer", "time"):
        table.add_column(name, overflow="fold")
    for row in rows:
        # Text, not markup: a note such as "[/]" is shown as written
        table.add_row(*(Text(visible(str(row[key] or ""))) for key in
                        ("image_id", "aspect", "category", "note", "reviewer", "time")))
    SafeConsole().print(table)
    return 0
