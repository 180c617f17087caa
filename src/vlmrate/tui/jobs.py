"""Runs going on inside the app: a runner in a thread worker and what it reported.

The runner calls ``on_progress`` from its own thread after every record; this module only
stores the latest Progress and queues the records (deque appends are thread-safe). The Job
screen polls a few times a second, so a fast engine never floods the UI with messages.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from vlmrate.runfolder.settings import RunConfig
    from vlmrate.running.progress import Progress

ACTIVE = ("starting", "running", "pausing", "paused", "cancelling")
FAILED_KEPT = 5
LOG_KEPT = 500


class RunnerLike(Protocol):
    """vlmrate.running.runner.Runner as the TUI uses it."""

    def prepare(self) -> Path: ...
    async def run(self) -> Progress: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def cancel(self) -> None: ...


RunnerFactory = Callable[["RunConfig", Callable[["Progress"], None]], RunnerLike]


def default_runner_factory(config: RunConfig, on_progress: Callable[[Progress], None]
                           ) -> RunnerLike:
    """vlmrate.running.runner.Runner for the New run form's settings."""
    from vlmrate.running.runner import Runner

    # a failed start stays in the Runs list with its reason (it never blocks its fix)
    return Runner(config, on_progress=on_progress, keep_failed_start=True)


@dataclass
class Job:
    """One run going on in this app."""

    config: RunConfig
    runner: RunnerLike | None = None
    run_dir: Path | None = None
    progress: Progress | None = None  # the latest report of the runner
    status: str = "starting"
    message: str = ""
    records: deque[dict] = field(default_factory=lambda: deque(maxlen=LOG_KEPT))
    failed: deque[dict] = field(default_factory=lambda: deque(maxlen=FAILED_KEPT))
    paused: bool = False  # what the user asked for (the runner confirms with its status)
    record_count: int = 0  # records reported so far (the log shows the last of them)
    failed_count: int = 0  # failed records reported so far
    cancel_asked: bool = False

    @property
    def name(self) -> str:
        if self.run_dir is not None:
            return self.run_dir.name
        return self.config.run_name or "new run"

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def on_progress(self, progress: Progress) -> None:
        """Called by the runner from its thread after every record and phase change."""
        self.progress = progress
        status = progress.status
        if status in ("running", "pausing", "paused") and self.cancel_asked:
            status = "cancelling"  # a report sent before the runner saw the cancel
        elif status == "running" and self.paused:
            status = "pausing"  # ... or the pause
        if status:
            self.status = status
        record = progress.last_record
        if record:
            self.records.append(record)
            self.record_count += 1
            if record.get("parse_error") or record.get("engine_error"):
                self.failed.append(record)
                self.failed_count += 1

    def prepare(self, factory: RunnerFactory) -> Path:
        """Build the runner and let it validate everything (thread worker)."""
        self.runner = factory(self.config, self.on_progress)
        self.run_dir = Path(self.runner.prepare())
        return self.run_dir

    def run_blocking(self) -> Progress:
        """Run to the end in the calling thread (a thread worker)."""
        assert self.runner is not None
        return asyncio.run(self.runner.run())

    def finish(self, result: Progress | None = None, error: BaseException | None = None
               ) -> None:
        if error is not None:
            self.status = "failed"
            self.message = str(error) or type(error).__name__
            return
        if result is not None:
            self.progress = result
        final = (self.progress.status if self.progress else "") or "done"
        self.status = final if final not in ACTIVE else "done"
        self.message = self.progress.message if self.progress else ""

    def toggle_pause(self) -> bool:
        """Ask to pause or resume; True when now paused (or pausing)."""
        if self.runner is None or not self.active or self.status == "cancelling":
            return self.paused
        if self.paused:
            self.paused = False
            self.runner.resume()
            if self.status in ("pausing", "paused"):
                self.status = "running"
        else:
            self.paused = True
            self.runner.pause()
            if self.status == "running":
                self.status = "pausing"  # until the runner says "paused"
        return self.paused

    def cancel(self) -> None:
        if self.runner is not None and self.active:
            self.cancel_asked = True
            self.runner.cancel()
            self.status = "cancelling"
            if self.paused:
                self.runner.resume()
                self.paused = False
