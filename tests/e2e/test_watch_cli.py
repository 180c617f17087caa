"""A run started with `vlmrate run` (stdout a file, as under nohup) watched live in the
TUI, killed, then resumed from the Runs list with R (no form), with the tiny model."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from textual.widgets import DataTable, Static

from tests.tui.test_job import wait_for
from tests.tui.test_screens import settle, text_of
from vlmrate.runfolder.store import iter_records, read_manifest
from vlmrate.tui.app import VlmrateApp
from vlmrate.tui.screens.job import JobScreen
from vlmrate.tui.screens.watch import WatchScreen

pytest.importorskip("vllm")
pytestmark = [pytest.mark.engine, pytest.mark.e2e]

REPO = Path(__file__).resolve().parents[2]
REPEATS = 24


def lines_of(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def running_lines(log: Path) -> int:
    return sum(" running: " in line for line in log.read_text().splitlines())


async def until(predicate, timeout: float) -> None:  # type: ignore[no-untyped-def]
    """Poll the files every 20 ms (the app keeps running meanwhile)."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_cli_run_watched_live_then_resumed_with_R(
        tiny_model_dir: Path, synthetic_dataset: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    log = tmp_path / "run.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "vlmrate.cli", "run", str(synthetic_dataset), "--model",
             str(tiny_model_dir), "--repeats", str(REPEATS), "--max-model-len", "2048",
             "--enforce-eager", "--max-tokens", "48", "--structured", "--run", "cli",
             "--runs-dir", str(runs), "--progress-every", "1"],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    total = 6 * 3 * REPEATS
    ratings = runs / "cli" / "ratings.jsonl"
    try:
        app = VlmrateApp(runs_dir=runs, data_dir=tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: (runs / "cli" / ".progress.json").exists(),
                           timeout=120)
            await pilot.press("r")
            await settle(pilot)
            table = app.screen.query_one("#runs-table", DataTable)
            assert table.get_row("cli")[1] == "running"
            await pilot.press("enter")
            await pilot.pause()
            watch = app.screen
            assert isinstance(watch, WatchScreen)
            # The run is driven from here so that the kill lands mid-run however fast the
            # machine: the process is frozen (SIGSTOP; it still holds the run lock) at known
            # points, and the panel must catch up with the file each time.
            await until(lambda: lines_of(ratings) >= 20, timeout=300)
            process.send_signal(signal.SIGSTOP)
            first = lines_of(ratings)
            await wait_for(pilot, lambda: watch.watched.done == first, timeout=60)
            assert watch.watched.status == "running"
            process.send_signal(signal.SIGCONT)  # the counter goes on growing, live
            await until(lambda: lines_of(ratings) >= min(first + 20, total - 40)
                        and (running_lines(log) >= 3 or lines_of(ratings) >= total - 40),
                        timeout=300)
            process.send_signal(signal.SIGSTOP)
            second = lines_of(ratings)
            assert first < second < total
            await wait_for(pilot, lambda: watch.watched.done == second, timeout=60)
            assert watch.watched.status == "running"
            counters = text_of(watch.query_one("#job-counters", Static))
            assert re.search(rf"\b{second}/{total} done", counters)
            # kill the CLI run half way: it becomes "interrupted"
            process.send_signal(signal.SIGKILL)
            process.wait(30)
            killed_at = ratings.read_bytes().count(b"\n")
            assert killed_at < total
            await pilot.press("escape")
            await pilot.press("r")
            await settle(pilot)
            table = app.screen.query_one("#runs-table", DataTable)
            assert table.get_row("cli")[1] == "interrupted"
            await pilot.press("R")  # resumes with the manifest's settings, no form
            await wait_for(pilot, lambda: isinstance(app.screen, JobScreen), timeout=60)
            job = app.screen
            assert isinstance(job, JobScreen)
            await wait_for(pilot, lambda: job.job.status in {"done", "failed", "cancelled"},
                           timeout=600)
            assert job.job.status == "done", job.job.message
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    keys = Counter((r["image_id"], r["aspect"], r["repeat"]) for r in iter_records(runs / "cli"))
    assert len(keys) == total and max(keys.values()) == 1  # no gap, no duplicate
    assert read_manifest(runs / "cli")["status"] == "done"
    # the CLI's stdout was a file: plain lines, one a second, no \r and no escapes
    text = log.read_text()
    assert "\r" not in text and "\x1b" not in text
    lines = [line for line in text.splitlines() if " answers/s " in line]
    assert any(line.split(" ", 2)[2].startswith("loading model: 0/") for line in lines)
    running = [line for line in lines if " running: " in line]
    assert len(running) >= 3 and all("ETA" in line and "parse failures" in line
                                     for line in running)
    print(f"killed at {killed_at}/{total}; {len(lines)} plain progress lines")

