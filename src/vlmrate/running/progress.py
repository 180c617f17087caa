"""Progress: what a run reports after every record and at every change of phase (the CLI's
bar and the TUI's Job panel read it), and the run clock that times the phases. Imports
nothing heavy."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

#: Phases of a run, in the words the panels show.
PHASE_WORDS = {"starting": "loading model", "running": "running", "pausing": "pausing…",
               "paused": "paused", "cancelling": "cancelling…", "done": "done",
               "cancelled": "cancelled", "failed": "failed"}
#: Seconds of running time the answers/s rate and the ETA look back over.
RATE_WINDOW_S = 30.0


def clock(seconds: float | None) -> str:
    """0:42, 12:05, 1:02:03; a dash when unknown."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "—"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass(frozen=True)
class Progress:
    run_dir: Path
    total: int
    done: int
    per_aspect: dict[str, tuple[int, int]]  # aspect -> (done, total)
    parse_failures: int
    engine_errors: int
    ratings_per_s: float  # over the last RATE_WINDOW_S of running time
    tokens_per_s: float
    elapsed_s: float  # since the run (this session) began, every phase included
    eta_s: float | None  # None while not running or not known yet
    last_record: dict | None  # the record just written (None in start/end reports)
    status: str  # starting | running | pausing | paused | cancelling | done | cancelled | failed
    message: str = ""
    in_flight: int = 0  # requests the engine holds (pausing… shows it)
    phase_s: float = 0.0  # time in the current phase
    running_s: float = 0.0  # time spent running (paused and loading not counted)
    at: float = 0.0  # time.monotonic() of this snapshot (clocks tick on from it)

    # openai engine: one dict per server (url, up, in_flight, answered, answers_per_s,
    # times_down, down_reason); empty for the in-process engine
    servers: list[dict] = field(default_factory=list)
    #: While the in-process engine downloads the model: (bytes done, bytes in all).
    download: tuple[int, int] | None = None

    def ticked(self, now: float | None = None) -> tuple[float, float]:
        """(elapsed, phase time) now: the clocks go on between snapshots while the run is
        not over."""
        if self.status in ("done", "cancelled", "failed") or not self.at:
            return self.elapsed_s, self.phase_s
        since = max(0.0, (time.monotonic() if now is None else now) - self.at)
        return self.elapsed_s + since, self.phase_s + since


class RateWindow:
    """The one rate and ETA estimator (the runner's panel, bar and plain lines, and the
    watch panel of another process's run): answers and output tokens per second over the
    last ``window_s`` seconds of *running* time (loading the model and pauses do not
    count), and the time left for the answers still missing at that rate."""

    def __init__(self, window_s: float = RATE_WINDOW_S, since_s: float = 0.0) -> None:
        self.window_s = window_s
        self.since_s = since_s  # running time when counting began (a watcher's start)
        self._answers: deque[tuple[float, int]] = deque()  # (running time, output tokens)

    def add(self, running_s: float, tokens: int = 0) -> None:
        self._answers.append((running_s, tokens))

    def rates(self, running_s: float) -> tuple[float, float]:
        """(answers/s, output tokens/s) at running time ``running_s``."""
        start = running_s - self.window_s
        while self._answers and self._answers[0][0] <= start:
            self._answers.popleft()
        span = min(self.window_s, running_s - self.since_s)
        if span <= 0 or not self._answers:
            return 0.0, 0.0
        return len(self._answers) / span, sum(t for _, t in self._answers) / span

    def eta(self, remaining: int, running_s: float) -> float | None:
        """Seconds of running time left for ``remaining`` answers (None: no rate yet)."""
        rate, _ = self.rates(running_s)
        if remaining <= 0:
            return 0.0
        return remaining / rate if rate > 0 else None


class RunClock:
    """Times a run's phases; its RateWindow counts the answers of the recent running
    time."""

    def __init__(self, window_s: float = RATE_WINDOW_S) -> None:
        self.window_s = window_s
        self.began = time.monotonic()
        self.phase = "starting"
        self.phase_began = self.began
        self._running_before = 0.0  # running time of earlier running phases
        self.window = RateWindow(window_s)

    def set_phase(self, phase: str) -> None:
        now = time.monotonic()
        if phase == self.phase:
            return
        if self.phase == "running":
            self._running_before += now - self.phase_began
        self.phase, self.phase_began = phase, now

    def running_s(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        current = now - self.phase_began if self.phase == "running" else 0.0
        return self._running_before + current

    def answered(self, tokens: int) -> None:
        self.window.add(self.running_s(), tokens)

    def rates(self, now: float | None = None) -> tuple[float, float]:
        """(answers/s, output tokens/s) over the last ``window_s`` of running time."""
        return self.window.rates(self.running_s(now))

    def eta(self, remaining: int, now: float | None = None) -> float | None:
        return self.window.eta(remaining, self.running_s(now))
