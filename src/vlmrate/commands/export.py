"""`vlmrate export RUN [-o FILE.xlsx] [--csv] [--parquet] [--bound] [--alpha]`."""

from __future__ import annotations

import argparse

from vlmrate.commands.common import warn_problems
from vlmrate.export import export_run
from vlmrate.store import load_run


def main(args: argparse.Namespace) -> int:
    run = load_run(args.run, args.runs_dir)
    paths = export_run(run, args.output, bound=args.bound, alpha=args.alpha,
                       csv=args.csv, parquet=args.parquet)
    for path in paths:
        print(path)
    warn_problems(run)  # after the work: an error stays the one line on stderr
    return 0
