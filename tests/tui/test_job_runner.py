"""The Job panel driving the real Runner (with a scripted engine): answers a model really
gives that cannot be used are counted with their codes and shown, and the run completes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from textual.widgets import DataTable, Static

from tests.helpers import ScriptedEngine, make_dataset
from tests.tui.test_job import start_run, wait_for
from tests.tui.test_screens import text_of
from vlmrate.runfolder.settings import RunConfig
from vlmrate.runfolder.store import read_ratings
from vlmrate.running.progress import Progress
from vlmrate.running.runner import Runner
from vlmrate.tui.app import VlmrateApp
from vlmrate.tui.screens.job import JobScreen

BAD_ANSWERS = [
    "Rating: 6. Reason: a calm lake.",
    "",
    "Rating: 7. Reason: " + "the picture shows many things " * 40,  # max_tokens hit
    "Rating: 3. Reason: calm. Actually, Rating: 8.",
    "Rating: 0. Reason: nothing at all.",
    "Rating: 10. Reason: extreme.",
    "Bewertung: sieben. Begründung: ein Eisbär.",
]


def scripted_factory(engine: ScriptedEngine
                     ) -> Callable[[RunConfig, Callable[[Progress], None]], Runner]:
    def factory(config: RunConfig, on_progress: Callable[[Progress], None]) -> Runner:
        config = replace(config, repeats=2, model="scripted")
        return Runner(config, on_progress=on_progress,
                      engine_factory=lambda cfg, sampling, log: engine)

    return factory


async def test_unusable_answers_counted_and_shown(tmp_path: Path) -> None:
    make_dataset(tmp_path, 4)
    engine = ScriptedEngine(delay_s=0.01, answers=BAD_ANSWERS)
    app = VlmrateApp(runs_dir=tmp_path / "runs", data_dir=tmp_path / "data",
                     runner_factory=scripted_factory(engine))
    async with app.run_test(size=(100, 30)) as pilot:
        await start_run(pilot, tmp_path / "data", "bad-answers")
        screen = app.screen
        assert isinstance(screen, JobScreen)
        await wait_for(pilot, lambda: screen.job.status == "done", timeout=30)
        await pilot.pause(0.4)
        counters = text_of(screen.query_one("#job-counters", Static))
        frame = read_ratings(tmp_path / "runs" / "bad-answers")
        failures = int(frame["parse_error"].is_not_null().sum())
        # 24 answers cycle through the 7 above: 8 of them are the two usable ones
        assert frame.height == 24 and failures == 16
        assert f"parse failures {failures}" in counters and "24/24 done" in counters
        failed = text_of(screen.query_one("#job-failed", Static))
        codes = {"empty", "conflicting_ratings", "out_of_scale", "no_rating"}
        assert codes & set(frame["parse_error"].drop_nulls()) == codes
        assert any(code in failed for code in codes)
    # the answer that hit max_tokens still had its rating; its finish reason says so
    long = frame.filter(frame["finish_reason"] == "length")
    assert long.height > 0 and set(long["rating"].to_list()) == {7}


async def test_resume_an_interrupted_run_from_the_runs_list(tmp_path: Path) -> None:
    import asyncio as aio

    from tests.helpers import keep_only_images, runner_for
    from tests.tui.test_screens import settle

    make_dataset(tmp_path, 4)
    # a run that stopped half way: its process is gone, its manifest still says running
    partial = runner_for(tmp_path, ScriptedEngine())
    await aio.to_thread(lambda: aio.run(partial.run()))
    keep_only_images(tmp_path / "runs" / "r", ["pic001", "pic002"], status="running")
    before = (tmp_path / "runs" / "r" / "ratings.jsonl").read_bytes()
    engine = ScriptedEngine()
    app = VlmrateApp(runs_dir=tmp_path / "runs", data_dir=tmp_path / "data",
                     runner_factory=scripted_factory(engine))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#runs-table", DataTable)
        assert "interrupted" in [str(cell) for cell in table.get_row_at(0)]
        await pilot.press("R")  # no form: the manifest's settings
        await wait_for(pilot, lambda: isinstance(app.screen, JobScreen), timeout=10)
        screen = app.screen
        assert isinstance(screen, JobScreen)
        await wait_for(pilot, lambda: screen.job.status == "done", timeout=30)
    after = (tmp_path / "runs" / "r" / "ratings.jsonl").read_bytes()
    assert after.startswith(before)
    assert len(engine.order) == 2 * 3 * 2  # only the two images not rated before
    assert read_ratings(tmp_path / "runs" / "r").height == 4 * 3 * 2


async def test_resume_names_what_differs_and_clone_fills_the_form(tmp_path: Path) -> None:
    import asyncio as aio
    import json

    from textual.widgets import Checkbox, Input

    from tests.helpers import runner_for
    from tests.tui.test_screens import settle
    from vlmrate.tui.screens.new_run import NewRunScreen

    make_dataset(tmp_path, 4)
    partial = runner_for(tmp_path, ScriptedEngine(), limit=2, seed=9, max_tokens=77,
                         engine_options={"max_model_len": 1024, "enforce_eager": True})
    await aio.to_thread(lambda: aio.run(partial.run()))
    manifest_path = tmp_path / "runs" / "r" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["status"] = "cancelled"
    manifest_path.write_text(json.dumps(manifest))
    # the app's runner uses another model than the run was made with
    app = VlmrateApp(runs_dir=tmp_path / "runs", data_dir=tmp_path / "data",
                     runner_factory=scripted_factory(ScriptedEngine()))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        manifest["model"] = "elsewhere/model-moved"
        manifest_path.write_text(json.dumps(manifest))
        await pilot.press("R")
        await wait_for(pilot, lambda: any("model-moved" in n.message
                                          for n in app._notifications), timeout=10)
        message = next(n.message for n in app._notifications if "model-moved" in n.message)
        assert "model: was 'elsewhere/model-moved', now 'scripted'" in message
        assert not isinstance(app.screen, JobScreen)
        await pilot.press("N")  # Clone as new run…: the form, filled in, no name
        await pilot.pause()
        form = app.screen
        assert isinstance(form, NewRunScreen)
        assert form.query_one("#run_name", Input).value == ""
        assert form.query_one("#seed", Input).value == "9"
        assert form.query_one("#max_tokens", Input).value == "77"
        assert form.query_one("#max_model_len", Input).value == "1024"
        assert form.query_one("#enforce_eager", Checkbox).value is True
        assert form.query_one("#model", Input).value == "elsewhere/model-moved"
        config = form.base_config()
        from vlmrate.tui.screens.new_run import config_from_form

        config = config_from_form(form.values(), config)
        assert (config.seed, config.max_tokens) == (9, 77)
        assert config.engine_options["max_model_len"] == 1024
