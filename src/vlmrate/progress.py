"""Progress: what a run reports after every record (the CLI's bar and the TUI's Job panel
read it). Imports nothing heavy."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Progress:
    run_dir: Path
    total: int
    done: int
    per_aspect: dict[str, tuple[int, int]]  # aspect -> (done, total)
    parse_failures: int
    engine_errors: int
    ratings_per_s: float
    tokens_per_s: float
    elapsed_s: float
    eta_s: float | None
    last_record: dict | None  # the record just written (None in start/end reports)
    status: str  # starting | running | paused | done | cancelled | failed
    message: str = ""
    # openai engine: one dict per server (url, up, in_flight, answered, answers_per_s,
    # times_down, down_reason); empty for the in-process engine
    servers: list[dict] = field(default_factory=list)
