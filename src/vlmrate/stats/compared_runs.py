"""The runs a comparison reads: each RUN's frames, ``RUN:expected`` as a run of its own."""

from __future__ import annotations

from pathlib import Path

from vlmrate.errors import UserError
from vlmrate.runfolder.store import HUMAN, LoadedRun, load_run


def require_ratings_and_human(run: LoadedRun) -> None:
    """UserError (one line) unless the run has ratings and human ratings; the run is named
    by its folder (a copied run keeps its original's name in the manifest) and an
    unreadable human.parquet is named as the reason."""
    label = Path(run.path).name
    if run.ratings.is_empty():
        raise UserError(f"run {label} has no ratings yet")
    if run.human.is_empty():
        why = next((p for p in run.problems if p.startswith(HUMAN)), None)
        raise UserError(f"run {label} has no human ratings{f' ({why})' if why else ''}: "
                        f"nothing to compare with")


def load_compared(specs: list[str], runs_dir: Path,
                  problems: list[str] | None = None) -> list:
    """RunFrames for each RUN (a folder or a name under runs_dir); ``RUN:expected`` is
    the run's logprob expected rating as a run of its own. What the readers set aside
    (broken lines, wrong fields) goes to ``problems``, one line per run."""
    from vlmrate.stats.compare import EXPECTED_SUFFIX, RunFrames, expected_as_run

    out = []
    for spec in specs:
        expected = spec.endswith(EXPECTED_SUFFIX)
        run = load_run(spec[: -len(EXPECTED_SUFFIX)] if expected else spec, runs_dir)
        require_ratings_and_human(run)
        if run.problems and problems is not None:
            problems.append(f"run {Path(run.path).name}: {'; '.join(run.problems)}")
        frames = RunFrames(run.name, run.ratings, run.human, run.aspects, run.manifest)
        if expected:
            try:
                frames = expected_as_run(frames)
            except ValueError as exc:
                raise UserError(str(exc)) from None
        out.append(frames)
    return out
