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
from typing import Any, Protocol

ACTIVE = ("starting", "running", "paused")
FAILED_KEPT = 5
LOG_KEPT = 500


class RunnerLike(Protocol):
    """vlmrate.runner.Runner as the TUI uses it."""

    def prepare(self) -> Path: ...
    async def run(self) -> Any: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def cancel(self) -> None: ...


RunnerFactory = Callable[[dict, Callable[[Any], None]], RunnerLike]


def default_runner_factory(options: dict, on_progress: Callable[[Any], None]) -> RunnerLike:
    """Build vlmrate.runner.Runner from the New run form's options."""
    from vlmrate.runner import RunConfig, Runner

    return Runner(RunConfig(**options), on_progress=on_progress)


@dataclass
class Job:
    """One run going on in this app."""

    options: dict
    runner: RunnerLike | None = None
    run_dir: Path | None = None
    progress: Any = None  # the latest vlmrate.runner.Progress
    status: str = "starting"
    message: str = ""
    records: deque[dict] = field(default_factory=lambda: deque(maxlen=LOG_KEPT))
    failed: deque[dict] = field(default_factory=lambda: deque(maxlen=FAILED_KEPT))
    paused: bool = False
    record_count: int = 0  # records reported so far (the log shows the last of them)

    @property
    def name(self) -> str:
        if self.run_dir is not None:
            return self.run_dir.name
        return str(self.options.get("run_name") or "new run")

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def on_progress(self, progress: Any) -> None:
        """Called by the runner from its thread after every record."""
        self.progress = progress
        status = getattr(progress, "status", "")
        if status and not (self.paused and status == "running"):  # a record still in flight
            self.status = status
        record = getattr(progress, "last_record", None)
        if record:
            self.records.append(record)
            self.record_count += 1
            if record.get("parse_error") or record.get("engine_error"):
                self.failed.append(record)

    def prepare(self, factory: RunnerFactory) -> Path:
        """Build the runner and let it validate everything (thread worker)."""
        self.runner = factory(self.options, self.on_progress)
        self.run_dir = Path(self.runner.prepare())
        return self.run_dir

    def run_blocking(self) -> Any:
        """Run to the end in the calling thread (a thread worker)."""
        assert self.runner is not None
        self.status = "running"
        return asyncio.run(self.runner.run())

    def finish(self, result: Any = None, error: BaseException | None = None) -> None:
        if error is not None:
            self.status = "failed"
            self.message = str(error) or type(error).__name__
            return
        if result is not None:
            self.progress = result
        final = getattr(self.progress, "status", "") or "done"
        self.status = final if final not in ACTIVE else "done"
        self.message = getattr(self.progress, "message", "") or ""

    def toggle_pause(self) -> bool:
        """Pause or resume; True when now paused."""
        if self.runner is None or not self.active:
            return self.paused
        if self.paused:
            self.runner.resume()
            self.paused = False
            self.status = "running"
        else:
            self.runner.pause()
            self.paused = True
            self.status = "paused"
        return self.paused

    def cancel(self) -> None:
        if self.runner is not None and self.active:
            self.runner.cancel()
            if self.paused:
                self.runner.resume()
                self.paused = False
