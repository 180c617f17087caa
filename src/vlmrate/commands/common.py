"""What several sub-commands share."""

from __future__ import annotations

import sys

from vlmrate.runfolder.store import LoadedRun


def warn_problems(run: LoadedRun) -> None:
    """One stderr line naming what the readers set aside (broken lines, wrong fields)."""
    if run.problems:
        print(f"vlmrate: warning: run {run.name}: {'; '.join(run.problems)}", file=sys.stderr)
