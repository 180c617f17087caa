"""Watch: the live panel of a run another process runs (CLI, nohup, slurm, a second TUI).

Read-only: the same counters, bars, rate, ETA, recent answers and failures as the Job
panel, fed by tailing the run's ratings.jsonl and reading its heartbeat once a second.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.binding import Binding, BindingType

from vlmrate.running.watch import WatchedRun
from vlmrate.tui.screens.job import JobScreen

POLL_S = 1.0


class WatchScreen(JobScreen):
    """The live panel of a run of another process (read-only); o opens its results."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("o", "results", "Results", id="watch.results"),
        Binding("escape,q", "back", "Back", id="watch.back"),  # q too, as in Runs
    ]
    REFRESH_S = POLL_S

    def __init__(self, run_dir: Path) -> None:
        self.watched = WatchedRun(Path(run_dir))
        super().__init__(self.watched)  # type: ignore[arg-type]

    def on_mount(self) -> None:
        self.sub_title = f"watching run {self.watched.name} (another process runs it)"
        super().on_mount()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("pause", "cancel_run"):
            return False  # another process runs it: nothing to steer from here
        if action == "results":
            return True if self.watched.done else None
        return True

    def update_panel(self) -> None:
        self.watched.poll()
        super().update_panel()

    def action_results(self) -> None:
        self.vapp.open_results(self.watched.run_dir)

    def action_back(self) -> None:
        self.app.pop_screen()
