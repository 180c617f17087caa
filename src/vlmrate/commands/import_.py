"""`vlmrate import RATINGS --human SHEET --run NAME`."""

from __future__ import annotations

import argparse

from vlmrate.commands.common import SafeConsole
from vlmrate.runfolder.importer import import_run
from vlmrate.runfolder.store import load_run
from vlmrate.stats.run_summary import render_summary


def main(args: argparse.Namespace) -> int:
    run_dir = import_run(args.ratings, args.human, args.run_name, args.runs_dir,
                         model=args.model, id_column=args.id_column)
    SafeConsole().print(render_summary(load_run(run_dir)))
    return 0
