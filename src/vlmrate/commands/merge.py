"""`vlmrate merge RUN... --run NAME`: join disjoint runs of one study into one run."""

from __future__ import annotations

import argparse

from vlmrate.commands.common import SafeConsole, say
from vlmrate.runfolder.merge import merge_runs
from vlmrate.runfolder.store import load_run, read_manifest
from vlmrate.stats.run_summary import render_summary


def main(args: argparse.Namespace) -> int:
    problems: list[str] = []
    run_dir = merge_runs(args.runs, args.run_name, args.runs_dir, problems)
    for problem in problems:  # what was left out, as `vlmrate stats` says it
        say(f"vlmrate: warning: {problem}")
    error = read_manifest(run_dir).get("error")
    note = f" ({error}: the run is marked failed)" if error else ""
    SafeConsole(stderr=True).print(f"merged {len(args.runs)} runs into {run_dir}{note}",
                                   markup=False, highlight=False)
    SafeConsole().print(render_summary(load_run(run_dir)))
    return 0
