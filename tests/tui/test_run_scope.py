"""A run's selection (--limit) is one of its settings in the TUI too (issue 23 item 6):
R resumes the pilot's images only, N (clone) fills the form with the same limit."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.widgets import Input

from tests.helpers import ScriptedEngine, keep_only_images, make_dataset, runner_for
from tests.tui.test_job import wait_for
from tests.tui.test_job_runner import scripted_factory
from tests.tui.test_screens import settle
from vlmrate.runfolder.store import read_manifest, read_ratings
from vlmrate.tui.app import VlmrateApp
from vlmrate.tui.screens.job import JobScreen


def _pilot_run(tmp_path: Path) -> Path:
    make_dataset(tmp_path, 6)
    asyncio.run(runner_for(tmp_path, ScriptedEngine(), limit=3).run())
    run_dir = tmp_path / "runs" / "r"
    keep_only_images(run_dir, ["pic001"], status="running")  # killed after one image
    return run_dir


async def test_resume_keeps_the_pilot_s_limit(tmp_path: Path) -> None:
    run_dir = await asyncio.to_thread(_pilot_run, tmp_path)
    engine = ScriptedEngine()
    app = VlmrateApp(runs_dir=tmp_path / "runs", data_dir=tmp_path / "data",
                     runner_factory=scripted_factory(engine))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, JobScreen), timeout=10)
        screen = app.screen
        assert isinstance(screen, JobScreen)
        await wait_for(pilot, lambda: screen.job.status == "done", timeout=30)
    ratings = read_ratings(run_dir)
    assert sorted(set(ratings["image_id"])) == ["pic001", "pic002", "pic003"]
    assert ratings.height == 3 * 3 * 2 and len(engine.order) == 2 * 3 * 2
    assert read_manifest(run_dir)["dataset"]["limit"] == 3


async def test_clone_fills_the_form_with_the_limit(tmp_path: Path) -> None:
    await asyncio.to_thread(_pilot_run, tmp_path)
    app = VlmrateApp(runs_dir=tmp_path / "runs", data_dir=tmp_path / "data",
                     runner_factory=scripted_factory(ScriptedEngine()))
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await pilot.press("N")
        await settle(pilot)
        assert app.screen.query_one("#limit", Input).value == "3"
