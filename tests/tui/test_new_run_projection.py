"""The New-run form shows `vlmrate check`'s projection of what is typed."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.widgets import Static

from vlmrate.preflight.report import CheckRequest, build_report, summary_line
from vlmrate.runfolder.settings import DEFAULT_MODEL
from vlmrate.tui.app import VlmrateApp
from vlmrate.tui.screens.new_run import PROJECTION_HINT, NewRunScreen


def _projection(app: VlmrateApp) -> str:
    return str(app.screen.query_one("#projection", Static).render())


async def _wait_for(pilot, predicate: Callable[[], bool]) -> None:  # type: ignore[no-untyped-def]
    for _ in range(200):
        await pilot.pause(0.05)
        if predicate():
            return
    raise AssertionError(f"projection line stayed {_projection(pilot.app)!r}")


@pytest.mark.long  # the projection waits for its worker after each key
async def test_the_form_projects_the_typed_dataset(make_app: Callable[..., VlmrateApp],
                                                   workspace: Path) -> None:
    from PIL import Image

    data = workspace / "data" / "study"
    (data / "images").mkdir(parents=True)
    for i, size in enumerate([(800, 600), (1000, 300)]):
        Image.new("RGB", size, (9, 9, 9)).save(data / "images" / f"p{i}.png")
    expected = summary_line(build_report(CheckRequest(dataset=data, probe_torch=False)))
    assert "2182-2340 image tokens" in expected and "KV 0.82 MB/token" in expected

    # the demo's tiny model in the vlmrate cache (the test's, see conftest): offered first
    tiny = Path(os.environ["VLMRATE_CACHE"]) / "vlmrate" / "tiny-llava-next"
    tiny.mkdir(parents=True)
    (tiny / "config.json").write_text("{}")

    async with make_app().run_test(size=(100, 30)) as pilot:
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(pilot.app.screen, NewRunScreen)
        assert _projection(pilot.app) == PROJECTION_HINT
        form = pilot.app.screen
        assert form.query_one("#model").value == str(tiny)  # type: ignore[attr-defined]
        assert "tiny-llava-next (the demo's tiny random model)" in str(
            form.query_one("#model-hint", Static).render())
        assert form.query_one("#structured").value is True  # type: ignore[attr-defined]
        form.query_one("#model").value = DEFAULT_MODEL  # type: ignore[attr-defined]
        await pilot.press(*str(data))
        await _wait_for(pilot, lambda: _projection(pilot.app) == f"projection: {expected}")

        repeats = pilot.app.screen.query_one("#repeats")
        repeats.value = "x"  # type: ignore[attr-defined]
        await _wait_for(pilot, lambda: "repeats 'x'" in _projection(pilot.app))
        repeats.value = "1"  # type: ignore[attr-defined]
        await _wait_for(pilot, lambda: "6 answers" in _projection(pilot.app))
