"""Snapshots of Results, Case (with and without logprobs) and Stats at 80x24 and 160x48,
on a deterministic imported run.

Update after an intended change of the screens (or of the statistics they show) with
`pytest tests/tui/test_snapshots.py --snapshot-update`, and look at the new SVGs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.helpers import add_images
from tests.tui.conftest import N_IMAGES, add_logprobs, settle
from vlmrate.runfolder.review import save_view, set_case
from vlmrate.tui.app import VlmrateApp

SMALL, LARGE = (80, 24), (160, 48)


def steps(*keys: str) -> Callable[[Pilot], Any]:
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        pilot.app.clear_notifications()
        await pilot.pause()

    return run_before


@pytest.fixture
def reviewed(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """study1 with two flags and a note (arousal and valence only)."""
    monkeypatch.setenv("VLMRATE_REVIEWER", "ana")
    run_dir = workspace / "runs/study1"
    set_case(run_dir, "img04", "valence", category="model wrong", note="sees a fire")
    set_case(run_dir, "img07", "arousal", category="human odd")
    set_case(run_dir, "img10", "valence", note="check the sheet")
    return run_dir


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])
def test_results_filtered_snapshot(snap_compare: Any, make_app: Callable[..., VlmrateApp],
                                   reviewed: Path, size: tuple[int, int]) -> None:
    # valence, |d| >= 1.5, by |d| largest first: the view saved in review.json
    save_view(reviewed, {"aspect": "valence", "sort": "valence_absd", "descending": True,
                         "filter": "|d| >= 1.5", "cursor": ""})
    assert snap_compare(make_app(), terminal_size=size, run_before=steps("enter"))


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])
def test_results_all_aspects_snapshot(snap_compare: Any, make_app: Callable[..., VlmrateApp],
                                      reviewed: Path, size: tuple[int, int]) -> None:
    # the column cursor on valence d: at 80 columns valence is scrolled whole into view
    assert snap_compare(make_app(), terminal_size=size,
                        run_before=steps("enter", *["right"] * 14))


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])
def test_case_snapshot(snap_compare: Any, make_app: Callable[..., VlmrateApp],
                       reviewed: Path, size: tuple[int, int]) -> None:
    # img03: a missing answer; the imported run has no image folder (placeholder)
    assert snap_compare(make_app(), terminal_size=size,
                        run_before=steps("enter", "down", "down", "enter"))


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])
def test_case_logprobs_snapshot(snap_compare: Any, make_app: Callable[..., VlmrateApp],
                                reviewed: Path, workspace: Path,
                                size: tuple[int, int]) -> None:
    # img04 valence (flagged, with a note): expected ratings, P(1..9), finish reasons, image
    add_logprobs(reviewed)
    add_images(reviewed, workspace / "data/pics",
               [f"img{i:02d}" for i in range(1, N_IMAGES + 1)])
    assert snap_compare(make_app(image_mode="halfcell"), terminal_size=size,
                        run_before=steps("enter", *"aaa", "down", "down", "down", "enter",
                                         "down"))


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])
def test_stats_summary_snapshot(snap_compare: Any, make_app: Callable[..., VlmrateApp],
                                size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=steps("s"))


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])
def test_stats_by_k_snapshot(snap_compare: Any, make_app: Callable[..., VlmrateApp],
                             size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), terminal_size=size,
                        run_before=steps("s", "right_square_bracket"))


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])
def test_stats_sd_histogram_snapshot(snap_compare: Any, make_app: Callable[..., VlmrateApp],
                                     size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), terminal_size=size,
                        run_before=steps("s", *["right_square_bracket"] * 3))


def test_help_snapshot(snap_compare: Any, make_app: Callable[..., VlmrateApp]) -> None:
    # on Results: the Runs screen's header holds the (temporary) runs folder
    assert snap_compare(make_app(), terminal_size=(80, 24),
                        run_before=steps("enter", "question_mark"))
