"""Help: `?` and F1 list the keys of the current screen, generated from its bindings."""

from __future__ import annotations

from collections.abc import Callable

from textual.widgets import Input, Static

from tests.tui.test_screens import settle, text_of
from vlmrate.tui.app import VlmrateApp
from vlmrate.tui.filter_expr import LANGUAGE as FILTER_LANGUAGE
from vlmrate.tui.screens.help import HelpScreen, key_sections
from vlmrate.tui.screens.results import ResultsScreen
from vlmrate.tui.screens.runs import RunsScreen


def help_text(app: VlmrateApp) -> str:
    assert isinstance(app.screen, HelpScreen)
    return text_of(app.screen.query_one("#help-body", Static))


async def test_question_mark_lists_every_key_of_the_runs_screen(
        make_app: Callable[..., VlmrateApp]) -> None:
    async with make_app().run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        runs = pilot.app.screen
        assert isinstance(runs, RunsScreen)
        await pilot.press("question_mark")
        await settle(pilot)
        text = help_text(pilot.app)
        # every described binding of the screen class is there, with its footer key
        for binding in RunsScreen.BINDINGS:
            assert binding.description in text  # type: ignore[union-attr]
        assert "Quit" in text and "palette" in text and "Runs screen" in text
        assert "in the table" in text and "RunsTable" not in text  # no class names
        assert "home home" not in text and "home first run" in text
        await pilot.press("escape")
        await settle(pilot)
        assert pilot.app.screen is runs


async def test_f1_on_results_lists_its_keys_and_a_new_binding_appears(
        make_app: Callable[..., VlmrateApp]) -> None:
    async with make_app().run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        results = pilot.app.screen
        assert isinstance(results, ResultsScreen)
        await pilot.press("f1")
        await settle(pilot)
        text = help_text(pilot.app)
        assert "Results screen" in text and "Export" in text and "Filter" in text
        assert "New run" not in text  # the Runs screen's keys are not listed here
        # the filter language, every line of it
        assert "The filter line (/)" in text
        # the screen's summary is its whole first paragraph, not a line cut at a comma
        assert "/ filters, a switches the aspect, enter opens the case." in text
        assert all(line.strip() in text for line in FILTER_LANGUAGE.splitlines())
        await pilot.press("f1")  # F1 again closes
        await settle(pilot)
        assert pilot.app.screen is results
        # generated: a binding added at run time is listed without touching the help
        results._bindings.bind("z", "bell", "Ring the bell")
        titles = [k.description for s in key_sections(results) for k in s.keys]
        assert "Ring the bell" in titles


async def test_question_mark_in_a_text_field_types_it(
        make_app: Callable[..., VlmrateApp]) -> None:
    async with make_app().run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("slash")
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert not isinstance(pilot.app.screen, HelpScreen)
        assert pilot.app.screen.query_one("#results-filter", Input).value == "?"
