"""The Case page of a rating-only run says that there are no reasons."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.tui.conftest import open_results, settle, text_of
from vlmrate.tui.app import VlmrateApp
from vlmrate.tui.screens.case import CaseScreen


async def test_case_page_of_a_rating_only_run(workspace: Path,
                                              make_app: Callable[..., VlmrateApp]) -> None:
    for rating_only in (False, True):
        manifest_path = workspace / "runs" / "study1" / "manifest.json"
        manifest = json.loads(manifest_path.read_text())
        manifest.setdefault("sampling", {})["rating_only"] = rating_only
        manifest_path.write_text(json.dumps(manifest))
        async with make_app().run_test(size=(100, 30)) as pilot:
            await open_results(pilot)
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(pilot.app.screen, CaseScreen)
            blocks = pilot.app.screen.query("#case-answers Static")
            text = "\n".join(text_of(block) for block in blocks)
            assert ("no reasons (rating-only run)" in text) is rating_only
            assert ("the raw answers" in text) is rating_only
