"""Watching a run from outside the process that runs it (another terminal, nohup, slurm,
a second TUI): the runner's heartbeat file says which phase it is in; ratings.jsonl is
tailed, only the bytes added since the last look are read.

Imports nothing heavy: the Runs list and the live panel poll this every second or so.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from vlmrate.runfolder.store import (
    HEARTBEAT,
    MANIFEST,
    RATINGS,
    is_locked,
    manifest_aspects,
)
from vlmrate.running.progress import RATE_WINDOW_S, Progress, RateWindow

#: Records the live panel keeps for its log and its failure list.
RECENT_KEPT = 500
FAILED_KEPT = 5


class RatingsTail:
    """Reads ratings.jsonl incrementally: each ``read()`` returns the records completed
    since the previous one (a torn last line waits for its newline). A file that shrank or
    was replaced is read again from the start."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.offset = 0
        self._ident: tuple[int, int] | None = None
        self.bytes_read = 0  # all bytes read so far (tests check that only new ones are)

    def read(self) -> list[dict]:
        try:
            with open(self.path, "rb") as handle:
                stat = os.fstat(handle.fileno())
                ident = (stat.st_dev, stat.st_ino)
                if ident != self._ident or stat.st_size < self.offset:
                    self._ident, self.offset = ident, 0
                if stat.st_size == self.offset:
                    return []
                handle.seek(self.offset)
                data = handle.read(stat.st_size - self.offset)
        except FileNotFoundError:
            return []
        self.bytes_read += len(data)
        end = data.rfind(b"\n")
        if end < 0:
            return []
        self.offset += end + 1
        records = []
        for line in data[: end + 1].splitlines():
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            if isinstance(record, dict):
                records.append(record)
        return records


def read_heartbeat(run_dir: Path) -> dict:
    try:
        beat = json.loads((Path(run_dir) / HEARTBEAT).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return beat if isinstance(beat, dict) else {}


@dataclass
class _Config:
    model: str


@dataclass
class WatchedRun:
    """A run of another process as the live panel reads it: the same attributes as the
    TUI's own Job (name, status, progress, records, failed, counts), filled by ``poll()``."""

    run_dir: Path
    window_s: float = RATE_WINDOW_S
    progress: Progress | None = None
    status: str = "starting"
    message: str = ""
    records: deque[dict] = field(default_factory=lambda: deque(maxlen=RECENT_KEPT))
    failed: deque[dict] = field(default_factory=lambda: deque(maxlen=FAILED_KEPT))
    record_count: int = 0
    failed_count: int = 0
    paused: bool = False

    def __post_init__(self) -> None:
        self.run_dir = Path(self.run_dir)
        self.tail = RatingsTail(self.run_dir / RATINGS)
        self.config = _Config(model="")
        self.totals: dict[str, int] = {}
        self.per_aspect_done: dict[str, int] = {}
        self.done = 0
        self.parse_failures = 0
        self.engine_errors = 0
        # the runner's estimator, over the run's running time as its heartbeat says
        self._window: RateWindow | None = None  # made at the first poll
        self._running_s = 0.0  # the run's running time at this poll
        self._watch_began = time.monotonic()  # old heartbeats (no running_s): watch time
        self._last_rates: tuple[float, float] = (0.0, 0.0)  # answers/s, tokens/s
        self._last_eta: float | None = None
        self._first = True

    @property
    def name(self) -> str:
        return self.run_dir.name

    @property
    def active(self) -> bool:
        return self.status in ("starting", "running", "pausing", "paused", "cancelling")

    def _read_manifest(self) -> dict:
        try:
            manifest = json.loads((self.run_dir / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return manifest if isinstance(manifest, dict) else {}

    def poll(self) -> Progress:
        """Look at the run folder again (new bytes of ratings.jsonl, the heartbeat)."""
        now = time.monotonic()
        manifest = self._read_manifest()
        if not self.totals:
            aspects = manifest_aspects(manifest)
            total = int(manifest.get("total_jobs") or 0)
            self.totals = {a: total // len(aspects) for a in aspects} if aspects else {}
            self.per_aspect_done = dict.fromkeys(self.totals, 0)
            self.config.model = str(manifest.get("model") or "")
        total = int(manifest.get("total_jobs") or sum(self.totals.values()))
        beat = read_heartbeat(self.run_dir)
        alive = is_locked(self.run_dir)
        self._running_s = self._running_time(beat, alive, now)
        if self._window is None:
            self._window = RateWindow(self.window_s, since_s=self._running_s)
        for record in self.tail.read():
            self._add(record, now)
        self._first = False
        if alive:
            status = str(beat.get("status") or "running")
        else:
            status = str(manifest.get("status") or "unknown")
            status = "interrupted" if status == "running" else status
        self.status = status
        self.message = str(manifest.get("error") or beat.get("message") or "")
        wall = time.time()
        started = float(beat.get("started") or 0) or None
        phase_since = float(beat.get("phase_since") or 0) or None
        elapsed = wall - started if started and alive else float(beat.get("elapsed_s") or 0)
        phase_s = wall - phase_since if phase_since and alive else 0.0
        if alive:  # once the run has stopped, its rate is the one it had when it stopped
            self._last_rates = self._window.rates(self._running_s)
            self._last_eta = self._window.eta(max(0, total - self.done), self._running_s)
        rate, tokens_rate = self._last_rates
        self.progress = Progress(
            run_dir=self.run_dir, total=total, done=self.done,
            per_aspect={a: (self.per_aspect_done.get(a, 0), t) for a, t in self.totals.items()},
            parse_failures=self.parse_failures, engine_errors=self.engine_errors,
            ratings_per_s=rate, tokens_per_s=tokens_rate, elapsed_s=max(0.0, elapsed),
            eta_s=self._last_eta if status == "running" else None,
            last_record=None, status=status,
            message=self.message, in_flight=int(beat.get("in_flight") or 0),
            phase_s=max(0.0, phase_s), running_s=self._running_s, at=now if alive else 0.0)
        return self.progress

    def _add(self, record: dict, now: float) -> None:
        self.done += 1
        aspect = record.get("aspect")
        if aspect in self.per_aspect_done:
            self.per_aspect_done[aspect] += 1
        if record.get("engine_error"):
            self.engine_errors += 1
        elif record.get("parse_error"):
            self.parse_failures += 1
        if not self._first and self._window is not None:  # not what was there before
            tokens = record.get("output_tokens")
            self._window.add(self._running_s, tokens if isinstance(tokens, int) else 0)
        self.records.append(record)
        self.record_count += 1
        if record.get("engine_error") or record.get("parse_error"):
            self.failed.append(record)
            self.failed_count += 1

    def _running_time(self, beat: dict, alive: bool, now: float) -> float:
        """The run's running time now: the heartbeat's, ticking on while it runs (a
        heartbeat without it, from an older vlmrate: the time since watching began)."""
        if not isinstance(beat.get("running_s"), int | float):
            return now - self._watch_began
        running = float(beat["running_s"])
        at = beat.get("at")
        if alive and beat.get("status") == "running" and isinstance(at, int | float):
            running += max(0.0, time.time() - float(at))
        return max(running, self._running_s)  # never backwards
