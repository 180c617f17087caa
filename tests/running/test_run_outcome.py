"""How a run ends (issue 17 items 6 and 9): a run whose answers all failed is "failed" and
`vlmrate run` exits 1 (an engine problem, not a user error); bad option values are one line
at parse time, exit 2, before anything is written."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import PROMPTS, ScriptedEngine, make_dataset, runner_for
from vlmrate.cli import main
from vlmrate.engines.base import RatingRequest, RatingResult
from vlmrate.runfolder.store import read_manifest


class RefusingEngine(ScriptedEngine):
    """Every request fails the way a server refusing the sampling settings answers."""

    def __init__(self, fail_all: bool = True) -> None:
        super().__init__()
        self.fail_all = fail_all

    async def rate(self, requests: Iterable[RatingRequest] | AsyncIterator[RatingRequest]
                   ) -> AsyncIterator[RatingResult]:
        async for result in super().rate(requests):
            if self.fail_all or len(self.order) % 2:
                yield RatingResult.failed(result.request,
                                          "HTTP 400: temperature must be non-negative", 0.01)
            else:
                yield result

    def info(self) -> dict[str, Any]:
        return {"name": "refusing"}


def test_every_answer_failed_is_a_failed_run(tmp_path: Path) -> None:
    make_dataset(tmp_path, 2)
    final = asyncio.run(runner_for(tmp_path, RefusingEngine()).run())
    assert final.status == "failed" and final.engine_errors == final.total == 2 * 3 * 2
    assert final.message.startswith("every answer failed (e.g. HTTP 400: temperature")
    assert read_manifest(tmp_path / "runs" / "r")["status"] == "failed"


def test_some_failed_answers_still_make_a_done_run(tmp_path: Path) -> None:
    make_dataset(tmp_path, 2)
    final = asyncio.run(runner_for(tmp_path, RefusingEngine(fail_all=False)).run())
    assert final.status == "done" and 0 < final.engine_errors < final.total


def _cli_run(tmp_path: Path, *extra: str) -> list[str]:
    return ["run", str(tmp_path / "data"), "--run", "r", "--runs-dir", str(tmp_path / "runs"),
            "--prompts", str(PROMPTS / "reference"), "--repeats", "2", *extra]


def test_cli_exit_1_when_every_answer_failed(tmp_path: Path, capsys: pytest.CaptureFixture,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import vlmrate.running.runner

    make_dataset(tmp_path, 2)
    monkeypatch.setattr(vlmrate.running.runner, "make_engine", lambda *a: RefusingEngine())
    assert main(_cli_run(tmp_path)) == 1
    err = capsys.readouterr().err
    assert "vlmrate: run failed: every answer failed (e.g. HTTP 400" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(("option", "message"), [
    (["--repeats", "0"], "argument --repeats: 0 must be a whole number from 1 to 1000"),
    (["--limit", "0"], "argument --limit: 0 must be a whole number of 1 or more"),
    (["--limit", "-1"], "argument --limit: -1 must be a whole number of 1 or more"),
    (["--max-tokens", "0"], "argument --max-tokens: 0 must be a whole number"),
    (["--temperature", "-1"], "argument --temperature: -1 must be at least 0 and at most 2"),
    (["--top-p", "0"], "argument --top-p: 0 must be above 0 and at most 1"),
    (["--concurrency", "0"], "argument --concurrency: 0 must be a whole number"),
    (["--seed", "-1"], "argument --seed: -1 must be a whole number from 0 to"),
    (["--timeout", "nan"], "argument --timeout: nan is not a finite number"),
    (["--gpu-memory-utilization", "1.5"], "argument --gpu-memory-utilization: 1.5 must be"),
    (["--repeats", "many"], "argument --repeats: 'many' is not a whole number"),
])
def test_bad_run_options_exit_2_before_anything(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                option: list[str], message: str) -> None:
    make_dataset(tmp_path, 2)
    assert main(_cli_run(tmp_path, *option)) == 2
    err = capsys.readouterr().err
    assert err == f"vlmrate: error: run: {err.split('run: ', 1)[1]}"
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["stats", "r", "--seed", "-1"], "stats: argument --seed: -1 must be"),
    (["stats", "r", "--bound", "nan"], "stats: argument --bound: nan is not a finite number"),
    (["stats", "r", "--bound", "-3"], "stats: argument --bound: -3 must be above 0"),
    (["stats", "r", "--alpha", "0.5"], "stats: argument --alpha: 0.5 must be above 0 and below"),
    (["stats", "r", "--k-max", "0"], "stats: argument --k-max: 0 must be a whole number"),
    (["export", "r", "--alpha", "5"], "export: argument --alpha: 5 must be above 0"),
    (["export", "r", "--bound", "inf"], "export: argument --bound: inf is not a finite"),
    (["demo", "--images", "0"], "demo: argument --images: 0 must be a whole number"),
    (["demo", "--repeats", "0"], "demo: argument --repeats: 0 must be a whole number"),
    (["check", "--repeats", "0"], "check: argument --repeats: 0 must be a whole number"),
])
def test_bad_analysis_options_exit_2(capsys: pytest.CaptureFixture, args: list[str],
                                     message: str) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("vlmrate: error: ") and message in err and err.count("\n") == 1


def test_resume_with_nothing_left_says_so(tmp_path: Path, capsys: pytest.CaptureFixture,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import vlmrate.running.runner

    make_dataset(tmp_path, 2)
    monkeypatch.setattr(vlmrate.running.runner, "make_engine", lambda *a: ScriptedEngine())
    assert main(_cli_run(tmp_path)) == 0
    capsys.readouterr()
    assert main(_cli_run(tmp_path)) == 0
    err = capsys.readouterr().err
    assert "nothing left to rate" in err and "12/12" in err
    assert "0/?" not in err and "starting" not in err


def test_run_without_a_human_sheet(tmp_path: Path, capsys: pytest.CaptureFixture,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 3: the summary read manifest["human"].get and ended every such run in a
    traceback (exit 1) after writing all ratings."""
    import vlmrate.running.runner

    make_dataset(tmp_path, 2)
    (tmp_path / "data" / "human.csv").unlink()
    monkeypatch.setattr(vlmrate.running.runner, "make_engine", lambda *a: ScriptedEngine())
    assert main(_cli_run(tmp_path)) == 0
    out, err = capsys.readouterr()
    assert "human sheet: none" in out and "Traceback" not in err
    assert read_manifest(tmp_path / "runs" / "r")["human"] is None
    runs = str(tmp_path / "runs")
    assert main(["stats", "r", "--runs-dir", runs]) == 2
    assert "has no human ratings" in capsys.readouterr().err
    assert main(["export", "r", "--runs-dir", runs]) == 0  # the workbook without human columns
    assert "Traceback" not in capsys.readouterr().err
