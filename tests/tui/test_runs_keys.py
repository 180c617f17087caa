"""Keys typed quickly on the Runs screen are handled in the order typed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual import events

from tests.tui.conftest import make_run, settle
from vlmrate.tui.app import VlmrateApp
from vlmrate.tui.screens.results import ResultsScreen
from vlmrate.tui.screens.runs import RunsScreen


async def test_arrows_then_enter_open_the_row_the_arrows_reached(
        workspace: Path, make_app: Callable[..., VlmrateApp]) -> None:
    make_run(workspace, "study2")
    make_run(workspace, "study3")
    async with make_app().run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        runs = pilot.app.screen
        assert isinstance(runs, RunsScreen)
        names = runs.run_names()
        assert len(names) == 3
        # in one burst, as a terminal (or tmux send-keys) delivers them: queued before any
        # is handled
        for key in ("down", "down", "enter"):
            pilot.app.post_message(events.Key(key, None))
        await settle(pilot)
        assert isinstance(pilot.app.screen, ResultsScreen)
        assert pilot.app.screen.run_path.name == names[2]
