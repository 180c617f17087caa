"""Snapshots of Results, Case and Stats at 100x30 on a deterministic imported run.

Update after an intended change of the screens (or of the statistics they show) with
`pytest tests/tui/test_snapshots.py --snapshot-update`, and look at the new SVGs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from tests.tui.conftest import N_IMAGES, add_images
from tests.tui.test_screens import settle
from vlmrate.tui.app import VlmrateApp

SIZE = (100, 30)


def steps(*keys: str) -> Callable[[Pilot], Any]:
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        pilot.app.clear_notifications()
        await pilot.pause()

    return run_before


def test_results_snapshot(snap_compare: Any, make_app: Callable[..., VlmrateApp]) -> None:
    # sorted by relevance d, largest first
    assert snap_compare(make_app(), terminal_size=SIZE,
                        run_before=steps("enter", *"ssss", "S"))


def test_results_one_aspect_snapshot(snap_compare: Any,
                                     make_app: Callable[..., VlmrateApp]) -> None:
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=steps("enter", "a"))


def test_case_snapshot(snap_compare: Any, make_app: Callable[..., VlmrateApp]) -> None:
    # img03: a missing answer; the imported run has no image folder (placeholder)
    assert snap_compare(make_app(), terminal_size=SIZE,
                        run_before=steps("enter", "down", "down", "enter", "a"))


def test_case_image_snapshot(snap_compare: Any, make_app: Callable[..., VlmrateApp],
                             workspace: Path) -> None:
    add_images(workspace / "runs/study1", workspace / "data/pics",
               [f"img{i:02d}" for i in range(1, N_IMAGES + 1)])
    assert snap_compare(make_app(image_mode="halfcell"), terminal_size=SIZE,
                        run_before=steps("enter", "enter"))


def test_stats_summary_snapshot(snap_compare: Any, make_app: Callable[..., VlmrateApp]) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=steps("s"))


def test_stats_chart_snapshot(snap_compare: Any, make_app: Callable[..., VlmrateApp]) -> None:
    # the scatter of model mean vs human mean for arousal
    assert snap_compare(make_app(), terminal_size=SIZE,
                        run_before=steps("s", "a", "left_square_bracket"))
