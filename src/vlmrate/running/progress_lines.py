"""Progress as plain lines for logs (nohup, slurm, a pipe): one line every few seconds and
one at every change of phase or of the servers in rotation. No carriage returns, no escape codes: `tail -f` reads it."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from vlmrate.engines.servers import servers_line
from vlmrate.running.progress import PHASE_WORDS, Progress, clock
from vlmrate.safe_text import visible


def servers_out(progress: Progress) -> frozenset[str]:
    """The base URLs of the servers out of rotation in this report."""
    return frozenset(str(s.get("url")) for s in progress.servers if not s.get("up", True))


def progress_line(progress: Progress, now: float | None = None) -> str:
    """One line: time, phase, done/total, percent, answers/s, tokens/s, ETA, failures."""
    elapsed, _ = progress.ticked(now)
    percent = 100.0 * progress.done / progress.total if progress.total else 0.0
    phase = PHASE_WORDS.get(progress.status, progress.status).rstrip("…")
    eta = clock(progress.eta_s) if progress.status == "running" else "—"
    return (f"{time.strftime('%Y-%m-%d %H:%M:%S')} {phase}: {progress.done}/{progress.total}"
            f" ({percent:.1f}%) · {progress.ratings_per_s:.1f} answers/s"
            f" · {progress.tokens_per_s:.0f} tokens/s · elapsed {clock(elapsed)} · ETA {eta}"
            f" · parse failures {progress.parse_failures}"
            f" · engine errors {progress.engine_errors}")


class PlainProgress:
    """Feed it the runner's reports (any thread); it writes a line every ``every_s``
    seconds while the run goes on, and one at every change of phase or of the servers that
    are out of rotation (a failover is news, whenever it happens)."""

    def __init__(self, every_s: float = 30.0, out: TextIO | None = None) -> None:
        self.every_s = every_s
        self.out = out or sys.stderr  # where the terminal's bar goes
        self._latest: Progress | None = None
        self._status = ""
        self._out: frozenset[str] = frozenset()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick, name="vlmrate-progress",
                                        daemon=True)

    def __enter__(self) -> PlainProgress:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def __call__(self, progress: Progress) -> None:
        with self._lock:
            self._latest = progress
            out = servers_out(progress)
            changed = progress.status != self._status or out != self._out
            self._status, self._out = progress.status, out
        if changed:
            self._write(progress)

    def _tick(self) -> None:
        while not self._stop.wait(self.every_s):
            with self._lock:
                latest = self._latest
            if latest is not None and latest.status not in ("done", "cancelled", "failed"):
                self._write(latest)

    def _write(self, progress: Progress) -> None:
        line = progress_line(progress)
        if progress.message:
            line += f" · {' '.join(progress.message.split())}"
        servers = servers_line(progress.servers)
        if servers:  # the openai engine's servers: which are in rotation
            line += f" · {servers}"
        with self._lock:
            self.out.write(visible(line, one_line=True) + "\n")
            self.out.flush()
