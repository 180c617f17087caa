"""The runs a comparison reads: each RUN's frames, ``RUN:expected`` as a run of its own."""

from __future__ import annotations

from pathlib import Path

from vlmrate.errors import UserError
from vlmrate.runfolder.store import load_run


def load_compared(specs: list[str], runs_dir: Path) -> list:
    """RunFrames for each RUN (a folder or a name under runs_dir); ``RUN:expected`` is
    the run's logprob expected rating as a run of its own."""
    from vlmrate.stats.compare import EXPECTED_SUFFIX, RunFrames, expected_as_run

    out = []
    for spec in specs:
        expected = spec.endswith(EXPECTED_SUFFIX)
        run = load_run(spec[: -len(EXPECTED_SUFFIX)] if expected else spec, runs_dir)
        if run.ratings.is_empty():
            raise UserError(f"run {run.name} has no ratings yet")
        if run.human.is_empty():
            raise UserError(f"run {run.name} has no human ratings: nothing to compare with")
        frames = RunFrames(run.name, run.ratings, run.human, run.aspects, run.manifest)
        if expected:
            try:
                frames = expected_as_run(frames)
            except ValueError as exc:
                raise UserError(str(exc)) from None
        out.append(frames)
    return out
