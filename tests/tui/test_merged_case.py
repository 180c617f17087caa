"""The Case page of a merged run shows its images (issue 23 item 12): the merged run has
no dataset folder of its own, its parts have."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.helpers import ScriptedEngine, make_dataset, runner_for
from tests.tui.test_screens import settle
from vlmrate.runfolder.merge import merge_runs
from vlmrate.tui.app import VlmrateApp
from vlmrate.tui.screens.case import CaseScreen


def _merged(tmp_path: Path) -> None:
    make_dataset(tmp_path, 4)
    for name, shard in (("p0", (0, 2)), ("p1", (1, 2))):
        asyncio.run(runner_for(tmp_path, ScriptedEngine(), run_name=name, shard=shard).run())
    merge_runs(["p0", "p1"], "merged", tmp_path / "runs")


async def test_the_case_page_of_a_merged_run_shows_the_image(tmp_path: Path) -> None:
    await asyncio.to_thread(_merged, tmp_path)
    app = VlmrateApp(runs_dir=tmp_path / "runs", data_dir=tmp_path / "data")
    async with app.run_test(size=(120, 34)) as pilot:
        await settle(pilot)
        app.open_results(tmp_path / "runs" / "merged")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, CaseScreen)
        case = app.screen
        assert case.data.image_path(case.image_id) is not None
        shown = app.screen._compositor.render_update(full=True).render_segments(app.console)
        assert "no image folder recorded" not in shown
