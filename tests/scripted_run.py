"""A run in its own process with the scripted engine, for crash and disk-full tests.

python -m tests.scripted_run ROOT [--delay S] [--fsize BYTES]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import signal
import sys
from pathlib import Path

from tests.helpers import ScriptedEngine, runner_for
from vlmrate.errors import UserError


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("root", type=Path)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--fsize", type=int, help="file-size limit (a full disk)")
    args = parser.parse_args()
    if args.fsize:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes then fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (args.fsize, args.fsize))
    runner = runner_for(args.root, ScriptedEngine(delay_s=args.delay))
    runner.on_progress = lambda p: print(p.done, flush=True)
    try:
        final = asyncio.run(runner.run())
    except UserError as exc:
        print(f"vlmrate: error: {exc}", file=sys.stderr)
        return 2
    print(final.status, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
