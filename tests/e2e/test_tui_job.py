"""The Job panel of the TUI running a real tiny-model run (vLLM CPU build) to the end."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Static

from tests.tui.test_job import wait_for
from tests.tui.test_screens import text_of
from vlmrate.engines.tiny_model import TINY_ENGINE_OPTIONS
from vlmrate.runfolder.settings import RunConfig
from vlmrate.runfolder.store import read_manifest, read_ratings
from vlmrate.running.progress import Progress
from vlmrate.tui.app import VlmrateApp
from vlmrate.tui.jobs import default_runner_factory
from vlmrate.tui.screens.job import JobScreen
from vlmrate.tui.screens.new_run import NewRunScreen

pytest.importorskip("vllm")
pytestmark = [pytest.mark.engine]


def tiny_factory(config: RunConfig, on_progress: Callable[[Progress], None]) -> Any:
    """The app's own runner factory, with the tiny model's engine options added."""
    return default_runner_factory(replace(config, engine_options=dict(TINY_ENGINE_OPTIONS),
                                          max_tokens=48), on_progress)


async def start_from_the_form(pilot: Any, dataset: Path, model: Path, repeats: int,
                              name: str, structured: bool = False) -> JobScreen:
    """n, fill the New-run form, ctrl+s: the Job screen of the run it started."""
    app = pilot.app
    await pilot.pause()
    await pilot.press("n")
    await pilot.pause()
    form = app.screen
    assert isinstance(form, NewRunScreen)
    form.query_one("#dataset").value = str(dataset)  # type: ignore[attr-defined]
    form.query_one("#model").value = str(model)  # type: ignore[attr-defined]
    form.query_one("#repeats").value = str(repeats)  # type: ignore[attr-defined]
    form.query_one("#run_name").value = name  # type: ignore[attr-defined]
    # as asked (a new run's form starts with structured outputs on)
    form.query_one("#structured").value = structured  # type: ignore[attr-defined]
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: isinstance(app.screen, JobScreen), timeout=60)
    assert isinstance(app.screen, JobScreen)
    return app.screen


async def test_job_panel_tiny_model_run(tiny_model_dir: Path, synthetic_dataset: Path,
                                        tmp_path: Path) -> None:
    app = VlmrateApp(runs_dir=tmp_path / "runs", data_dir=tmp_path,
                     runner_factory=tiny_factory)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await start_from_the_form(pilot, synthetic_dataset, tiny_model_dir, 2,
                                           "tiny", structured=True)
        seen: set[int] = set()

        def progressed() -> bool:
            progress = screen.job.progress
            if progress is not None:
                seen.add(progress.done)
            return screen.job.status in {"done", "failed", "cancelled"}

        await wait_for(pilot, progressed, timeout=300)
        await pilot.pause(0.4)
        assert screen.job.status == "done", screen.job.message
        assert len(seen) >= 3  # the counters moved while it ran, not only at the end
        counters = text_of(screen.query_one("#job-counters", Static))
        assert "36/36 done" in counters and "answers/s" in counters
        assert "parse failures 0" in counters
    frame = read_ratings(tmp_path / "runs" / "tiny")
    assert frame.height == 36 and frame["rating"].null_count() == 0
    assert read_manifest(tmp_path / "runs" / "tiny")["status"] == "done"


async def test_pause_with_the_tiny_model_stops_writing_and_resume_completes(
        tiny_model_dir: Path, synthetic_dataset: Path, tmp_path: Path) -> None:
    """p aborts what is in flight: "paused" within ~2 s, then ratings.jsonl does not grow
    for 3 s; after p again the run completes with no gap and no duplicate."""
    import time
    from collections import Counter

    from vlmrate.runfolder.store import iter_records

    app = VlmrateApp(runs_dir=tmp_path / "runs", data_dir=tmp_path,
                     runner_factory=tiny_factory)
    ratings = tmp_path / "runs" / "pause" / "ratings.jsonl"

    def lines() -> int:
        return ratings.read_bytes().count(b"\n") if ratings.exists() else 0

    async with app.run_test(size=(100, 30)) as pilot:
        screen = await start_from_the_form(pilot, synthetic_dataset, tiny_model_dir, 20,
                                           "pause")
        await wait_for(pilot, lambda: lines() >= 20, timeout=300)
        asked = time.monotonic()
        await pilot.press("p")
        await wait_for(pilot, lambda: "paused" in text_of(
            screen.query_one("#job-title", Static)).replace("pausing", ""), timeout=30)
        took = time.monotonic() - asked
        frozen = lines()
        await pilot.pause(3.0)
        assert lines() == frozen, "a record was appended while paused"
        assert "ETA" not in text_of(screen.query_one("#job-counters", Static))
        assert took < 5.0, f"pausing took {took:.1f} s"
        await pilot.press("p")
        await wait_for(pilot, lambda: screen.job.status in {"done", "failed", "cancelled"},
                       timeout=600)
        assert screen.job.status == "done", screen.job.message
    keys = Counter((r["image_id"], r["aspect"], r["repeat"])
                   for r in iter_records(tmp_path / "runs" / "pause"))
    assert len(keys) == 6 * 3 * 20 and max(keys.values()) == 1
    print(f"pause confirmed after {took:.2f} s at {frozen} answers")
