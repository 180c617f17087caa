"""The New run form and the Job panel, against a fake runner with vlmrate.running.runner's interface.

(tests/tui/test_job_runner.py drives the real runner; tests/e2e/test_tui_job.py the
real runner with vLLM and the tiny model.)
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from textual.pilot import Pilot
from textual.widgets import RichLog, Static

from tests.tui.test_screens import settle, text_of
from vlmrate.errors import UserError
from vlmrate.runfolder.settings import DEFAULT_MODEL, RunConfig
from vlmrate.running.progress import Progress
from vlmrate.tui.app import VlmrateApp
from vlmrate.tui.screens.job import JobScreen
from vlmrate.tui.screens.new_run import NewRunScreen, config_from_form
from vlmrate.tui.screens.runs import RunsScreen

ASPECTS = ("relevance", "arousal")


class FakeRunner:
    """Emits `total` records, one per `step_s`; record 3 fails to parse."""

    instances: ClassVar[list[FakeRunner]] = []

    def __init__(self, config: RunConfig, on_progress: Callable[[Progress], None],
                 total: int = 8, step_s: float = 0.01, fail_prepare: str = "") -> None:
        self.config = config
        self.on_progress = on_progress
        self.total = total
        self.step_s = step_s
        self.fail_prepare = fail_prepare
        self._running = threading.Event()
        self._running.set()
        self._cancelled = threading.Event()
        self.calls: list[str] = []
        FakeRunner.instances.append(self)

    def prepare(self) -> Path:
        if self.fail_prepare:
            raise UserError(self.fail_prepare)
        run_dir = Path(self.config.runs_dir) / (self.config.run_name or "fake")
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "manifest.json").write_text(json.dumps(
            {"name": run_dir.name, "status": "running", "model": "fake", "total_jobs": 8}))
        return run_dir

    def progress(self, done: int, status: str, record: dict | None) -> Progress:
        half = self.total // 2
        per = {ASPECTS[0]: (min(done, half), half), ASPECTS[1]: (max(0, done - half), half)}
        return Progress(
            run_dir=Path("x"), total=self.total, done=done, per_aspect=per,
            parse_failures=1 if done >= 3 else 0, engine_errors=0, ratings_per_s=12.5,
            tokens_per_s=640.0, elapsed_s=float(done), eta_s=float(self.total - done),
            last_record=record, status=status, message="")

    async def run(self) -> Progress:
        done = 0
        paused_said = False
        while done < self.total:
            if self._cancelled.is_set():
                final = self.progress(done, "cancelled", None)
                self.on_progress(final)
                return final
            if not self._running.is_set():
                if not paused_said:
                    self.on_progress(self.progress(done, "paused", None))
                    paused_said = True
                await asyncio.sleep(0.01)
                continue
            paused_said = False
            await asyncio.sleep(self.step_s)
            done += 1
            failed = done == 3
            record = {"image_id": f"img{done:02d}", "aspect": ASPECTS[done > self.total // 2],
                      "repeat": 1, "rating": None if failed else 5,
                      "reason": "" if failed else f"reason {done}",
                      "raw": "I cannot rate this" if failed else f"Rating: 5\nreason {done}",
                      "parse_error": "no_rating" if failed else None, "engine_error": None}
            self.on_progress(self.progress(done, "running", record))
        final = self.progress(done, "done", None)
        self.on_progress(final)
        return final

    def pause(self) -> None:
        self.calls.append("pause")
        self._running.clear()

    def resume(self) -> None:
        self.calls.append("resume")
        self._running.set()

    def cancel(self) -> None:
        self.calls.append("cancel")
        self._cancelled.set()


def fake_factory(**kwargs: Any) -> Callable[[RunConfig, Callable[[Progress], None]],
                                             FakeRunner]:
    def factory(config: RunConfig, on_progress: Callable[[Progress], None]) -> FakeRunner:
        return FakeRunner(config, on_progress, **kwargs)

    return factory


async def start_run(pilot: Pilot, dataset: Path, name: str = "job1") -> None:
    await settle(pilot)
    await pilot.press("n")
    await pilot.pause()
    form = pilot.app.screen
    assert isinstance(form, NewRunScreen)
    form.query_one("#dataset").value = str(dataset)  # type: ignore[attr-defined]
    form.query_one("#run_name").value = name  # type: ignore[attr-defined]
    await pilot.press("ctrl+s")
    # not workers.wait_for_complete(): that would wait for the whole run
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, JobScreen)
                   or not form.query_one("#start").disabled)


async def wait_for(pilot: Pilot, condition: Callable[[], bool], timeout: float = 10) -> None:
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not reached")


async def test_job_panel_runs_to_the_end(workspace: Path) -> None:
    app = VlmrateApp(runs_dir=workspace / "runs", data_dir=workspace / "data",
                     runner_factory=fake_factory(total=8, step_s=0.02))
    async with app.run_test(size=(100, 30)) as pilot:
        await start_run(pilot, workspace / "data")
        screen = app.screen
        assert isinstance(screen, JobScreen)
        runner = FakeRunner.instances[-1]
        assert runner.config.dataset == workspace / "data"
        assert runner.config.run_name == "job1"
        assert runner.config.runs_dir == workspace / "runs"
        await wait_for(pilot, lambda: screen.job.status == "done")
        # the panel refreshes every 0.25 s: wait for the refresh after the end, the one that
        # titles the run done (a loaded machine can take longer than one period; the counters
        # say 8/8 already on the refresh before, while the run is still running)
        await wait_for(pilot, lambda: "done" in text_of(
            screen.query_one("#job-title", Static)) and "8/8 done" in text_of(
            screen.query_one("#job-counters", Static)) and len(
            screen.query_one("#job-log", RichLog).lines) == 8)
        counters = text_of(screen.query_one("#job-counters", Static))
        assert "8/8 done" in counters and "12.5 answers/s" in counters
        assert "parse failures 1" in counters and "ETA" not in counters  # over: no ETA
        assert screen._timer is None  # a finished panel keeps no timer
        assert "done" in text_of(screen.query_one("#job-title", Static))
        failed = text_of(screen.query_one("#job-failed", Static))
        assert "I cannot rate this" in failed and "no_rating" in failed
        log = screen.query_one("#job-log", RichLog)
        assert len(log.lines) == 8
        assert screen.query_one("#job-overall").percentage == 1.0  # type: ignore[attr-defined]
        assert len(screen._aspect_bars) == 2
        assert all(bar.percentage == 1.0 for bar in screen._aspect_bars.values())
        assert any("run job1: done" in n.message for n in app._notifications)


async def test_job_pause_resume_cancel(workspace: Path) -> None:
    app = VlmrateApp(runs_dir=workspace / "runs", data_dir=workspace / "data",
                     runner_factory=fake_factory(total=400, step_s=0.02))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_run(pilot, workspace / "data", "job2")
        screen = app.screen
        assert isinstance(screen, JobScreen)
        runner = FakeRunner.instances[-1]
        await wait_for(pilot, lambda: screen.job.record_count > 2)
        await pilot.press("p")
        assert runner.calls == ["pause"] and screen.job.status in ("pausing", "paused")
        await wait_for(pilot, lambda: screen.job.status == "paused")
        await wait_for(pilot, lambda: "paused" in text_of(screen.query_one("#job-title",
                                                                           Static)))
        assert "ETA" not in text_of(screen.query_one("#job-counters", Static))
        frozen = screen.job.record_count
        await pilot.pause(0.2)
        assert screen.job.record_count == frozen
        await pilot.press("p")
        assert runner.calls == ["pause", "resume"]
        await pilot.press("escape")  # back to Runs: the run goes on
        assert isinstance(app.screen, RunsScreen)
        await wait_for(pilot, lambda: screen.job.record_count > frozen + 2)
        app.screen.open_run_by_name("job2")  # type: ignore[attr-defined]
        await pilot.pause()
        assert isinstance(app.screen, JobScreen)
        await pilot.press("c")  # asks first; n keeps the run going
        await pilot.pause()
        assert type(app.screen).__name__ == "ConfirmScreen"
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, JobScreen) and "cancel" not in runner.calls
        await pilot.press("c")
        await pilot.pause()
        await pilot.press("y")
        await wait_for(pilot, lambda: screen.job.status == "cancelled")
        assert "cancel" in runner.calls
        assert screen.job.record_count < 400


async def test_quitting_cancels_a_running_job(workspace: Path) -> None:
    app = VlmrateApp(runs_dir=workspace / "runs", data_dir=workspace / "data",
                     runner_factory=fake_factory(total=10_000, step_s=0.01))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_run(pilot, workspace / "data", "job3")
        await pilot.pause(0.1)
        runner = FakeRunner.instances[-1]
        await pilot.press("ctrl+q")  # asks first: escape keeps the app and the run
        await pilot.pause()
        assert type(app.screen).__name__ == "ConfirmScreen"
        assert "Resume it later with R" in str(app.screen.query_one("#confirm-detail",
                                                                    Static).content)
        await pilot.press("escape")
        await pilot.pause()
        assert "cancel" not in runner.calls and app.is_running
        await pilot.press("ctrl+q")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert "cancel" in runner.calls


async def test_prepare_error_is_a_notification(workspace: Path) -> None:
    app = VlmrateApp(runs_dir=workspace / "runs", data_dir=workspace / "data",
                     runner_factory=fake_factory(fail_prepare="prompts changed since the run "
                                                              "started: use another --run"))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_run(pilot, workspace / "data", "job4")
        assert isinstance(app.screen, NewRunScreen)
        assert any("prompts changed" in n.message for n in app._notifications)
        assert not app.screen.query_one("#start").disabled


def test_config_from_form_checks_the_form(tmp_path: Path) -> None:
    base = {"dataset": str(tmp_path), "engine": "vllm"}
    runs, prompts = tmp_path / "runs", tmp_path / "prompts"
    defaults = RunConfig(dataset=Path(), runs_dir=runs, prompts_dir=prompts)
    config = config_from_form({**base, "repeats": "3", "temperature": "0.7", "structured": True,
                               "run_name": "a-b_c.1"}, defaults)
    assert config.repeats == 3 and config.temperature == 0.7
    assert config.structured is True and config.logprobs is False
    assert config.dataset == tmp_path and config.runs_dir == runs
    assert config.prompts_dir == prompts and config.run_name == "a-b_c.1"
    assert config.human is None and config.base_url is None and config.model == DEFAULT_MODEL
    several = config_from_form({**base, "engine": "openai",
                                "base_url": "http://a:1/v1, http://b:2/v1"}, defaults)
    assert several.base_urls == ["http://a:1/v1", "http://b:2/v1"]
    one = config_from_form({**base, "engine": "openai", "base_url": " http://a:1/v1 "},
                           defaults)
    assert one.base_url == "http://a:1/v1"
    bad = [({"dataset": ""}, "required"), ({"repeats": "0"}, "repeats"),
           ({"repeats": "x"}, "repeats"), ({"temperature": "hot"}, "not a number"),
           ({"temperature": "5"}, "between 0 and 2"), ({"engine": "openai"}, "base URL"),
           ({"base_url": "localhost:8000"}, "http://"), ({"run_name": "a b"}, "run name"),
           ({"run_name": ".."}, "not '.' or '..'"), ({"run_name": "x" * 300}, "too long"),
           ({"base_url": "http://a:1/v1 b:2"}, "http://"),
           ({"base_url": "http://a:1/v1, http://a:1/v1"}, "given twice")]
    for change, message in bad:
        try:
            config_from_form({**base, **change}, defaults)
        except UserError as exc:
            assert message in str(exc) and "\n" not in str(exc)
        else:
            raise AssertionError(f"{change} accepted")


def test_form_keeps_the_settings_it_does_not_show(tmp_path: Path) -> None:
    """Resuming from the form: seed, max tokens, top-p and engine options stay the run's."""
    resumed = RunConfig(dataset=tmp_path, run_name="r", seed=7, max_tokens=64, top_p=0.9,
                        engine_options={"max_model_len": 2048}, id_column="pic")
    config = config_from_form({"dataset": str(tmp_path), "run_name": "r", "repeats": "2"},
                              resumed)
    assert (config.seed, config.max_tokens, config.top_p) == (7, 64, 0.9)
    assert config.engine_options == {"max_model_len": 2048} and config.id_column == "pic"
    assert config.repeats == 2


def test_job_counters_show_each_server_and_which_is_out(tmp_path: Path) -> None:
    from vlmrate.running.progress import Progress
    from vlmrate.tui.screens.job import _counters

    servers = [{"url": "http://gpu1:8000/v1", "up": True, "answers_per_s": 3.0},
               {"url": "http://gpu2:8000/v1", "up": False, "down_reason": "connection refused"}]
    progress = Progress(run_dir=tmp_path, total=9, done=5, per_aspect={}, parse_failures=0,
                        engine_errors=0, ratings_per_s=1.0, tokens_per_s=1.0, elapsed_s=1.0,
                        eta_s=None, last_record=None, status="running", servers=servers)
    text = _counters(progress).plain
    assert "servers: gpu1:8000 3.0/s · gpu2:8000 OUT (connection refused)" in text
    one = Progress(**{**progress.__dict__, "servers": servers[:1]})
    assert "servers" not in _counters(one).plain


def test_phase_clock_is_the_running_time_across_pauses() -> None:
    """After a pause the running clock goes on from the running time so far (it started
    again from 0:00); other phases show their own time."""
    from vlmrate.tui.screens.job import phase_line

    common = {"run_dir": Path("r"), "total": 10, "done": 4, "per_aspect": {},
              "parse_failures": 0, "engine_errors": 0, "ratings_per_s": 1.0,
              "tokens_per_s": 1.0, "elapsed_s": 400.0, "eta_s": 6.0, "last_record": None}
    running = Progress(**common, status="running", phase_s=5.0, running_s=100.0, at=50.0)
    assert phase_line(running, "running", now=52.0).plain == "running 1:42"
    paused = Progress(**common, status="paused", phase_s=20.0, running_s=100.0, at=50.0)
    assert phase_line(paused, "paused", now=52.0).plain == "paused 0:22"
