"""The Job panel of a run over two OpenAI-compatible servers, started from the New run
form with both base URLs: it shows each server's answers/s, and which one is out after
it dies mid-run, while the run goes on to the end on the other."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.widgets import Static

from tests.engines.conftest import MODEL, FakeServer
from tests.helpers import make_dataset
from tests.tui.test_job import wait_for
from tests.tui.test_screens import settle, text_of
from vlmrate.runfolder.store import read_ratings
from vlmrate.tui.app import VlmrateApp
from vlmrate.tui.screens.job import JobScreen
from vlmrate.tui.screens.new_run import NewRunScreen


def host(url: str) -> str:
    return url.split("//")[1].split("/")[0]


@pytest.mark.long  # two fake servers, one taken out
async def test_job_panel_shows_each_server_and_the_one_that_is_out(tmp_path: Path) -> None:
    make_dataset(tmp_path, 6)
    a, b = FakeServer(), FakeServer()
    a.delay = b.delay = 0.5
    app = VlmrateApp(runs_dir=tmp_path / "runs", data_dir=tmp_path / "data")
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("n")
            await pilot.pause()
            form = app.screen
            assert isinstance(form, NewRunScreen)
            values = {"#dataset": str(tmp_path / "data"), "#run_name": "two", "#model": MODEL,
                      "#engine": "openai", "#base_url": f"{a.url} {b.url}", "#repeats": "3"}
            for selector, value in values.items():
                form.query_one(selector).value = value  # type: ignore[attr-defined]
            form.query_one("#structured").value = True  # type: ignore[attr-defined]
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: isinstance(app.screen, JobScreen))
            screen = app.screen
            assert isinstance(screen, JobScreen)
            counters = screen.query_one("#job-counters", Static)
            await wait_for(pilot, lambda: a.in_flight > 0)  # it has images of the run
            await asyncio.to_thread(a.kill)
            await wait_for(pilot, lambda: screen.job.status == "done", timeout=60)
            await pilot.pause(0.4)
            shown = text_of(counters)
            assert f"{host(a.url)} OUT (connection refused)" in shown, shown
            assert f"{host(b.url)} " in shown and "54/54 done" in shown
    finally:
        a.kill()
        b.kill()
    frame = read_ratings(tmp_path / "runs" / "two")
    assert frame.height == 54 and frame["engine_error"].null_count() == 54
