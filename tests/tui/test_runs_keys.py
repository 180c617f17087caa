"""Keys typed quickly on the Runs screen are handled in the order typed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual import events
from textual.screen import Screen

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
        footer_fits(pilot.app.screen)  # at 80 columns: ? Help whole, not "? Hel▏"
        await pilot.press("t")  # Stats: its footer fits too (with f Figures)
        await settle(pilot)
        footer_fits(pilot.app.screen)
        await pilot.press("q")
        await settle(pilot)
        await pilot.press("q")  # q goes back, as the footer's "esc Back" does
        await settle(pilot)
        assert pilot.app.screen is runs
        footer_fits(runs)
        await pilot.press("home")  # Home and End move the cursor (they only scrolled)
        assert runs.selected_name() == names[0]
        await pilot.press("end")
        assert runs.selected_name() == names[2]
        # a run just started (n, R) is the one selected when its row appears
        pilot.app.select_in_runs = names[1]  # type: ignore[attr-defined]
        await pilot.press("r")
        await settle(pilot)
        assert runs.selected_name() == names[1]
        assert pilot.app.select_in_runs is None  # type: ignore[attr-defined]


def footer_fits(screen: Screen) -> None:
    from textual.widgets import Footer
    from textual.widgets._footer import FooterKey

    footer = screen.query_one(Footer)
    keys = list(footer.query(FooterKey))
    assert keys and all(k.region.right <= footer.region.right for k in keys)
    assert any("Help" in k.description for k in keys)
    assert sum(k.outer_size.width for k in keys) <= footer.region.width
