"""Watching a run of another process: the Runs list sees it running (lock + heartbeat),
enter opens the read-only live panel fed by tailing ratings.jsonl, its counter grows."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from textual.widgets import DataTable, Static

from tests.helpers import make_dataset
from tests.tui.test_job import wait_for
from tests.tui.test_screens import settle, text_of
from vlmrate.runfolder.store import count_records, read_manifest
from vlmrate.running.watch import RatingsTail, WatchedRun
from vlmrate.tui.app import VlmrateApp
from vlmrate.tui.screens.watch import WatchScreen

REPO = Path(__file__).resolve().parents[2]


def start_scripted_run(root: Path, delay: float) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tests.scripted_run", str(root),
                             "--delay", str(delay)], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.long  # a vlmrate run in another process
async def test_a_run_of_another_process_is_shown_live(tmp_path: Path) -> None:
    make_dataset(tmp_path, 10)  # 10 images x 3 aspects x 2 repeats = 60 answers
    process = start_scripted_run(tmp_path, delay=0.1)
    ratings = tmp_path / "runs" / "r" / "ratings.jsonl"
    try:
        deadline = time.monotonic() + 30
        while not (ratings.exists() and ratings.read_bytes().count(b"\n") >= 2):
            assert time.monotonic() < deadline and process.poll() is None, process.stderr
            time.sleep(0.05)
        app = VlmrateApp(runs_dir=tmp_path / "runs", data_dir=tmp_path / "data")
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            table = app.screen.query_one("#runs-table", DataTable)
            assert table.get_row("r")[1] == "running"
            await pilot.press("enter")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, WatchScreen)
            # read-only: pause and cancel are not keys of this panel
            assert screen.check_action("pause", ()) is False
            first = screen.watched.done
            await wait_for(pilot, lambda: screen.watched.done >= first + 5, timeout=30)
            counters = text_of(screen.query_one("#job-counters", Static))
            assert f"{screen.watched.done}/60 done" in counters or "/60 done" in counters
            assert "running" in text_of(screen.query_one("#job-title", Static))
            await wait_for(pilot, lambda: screen.watched.status == "done", timeout=60)
            await wait_for(pilot, lambda: "60/60 done" in text_of(
                screen.query_one("#job-counters", Static)), timeout=5)
            assert screen._timer is None  # over: the panel stops polling
    finally:
        process.kill()
        process.wait()
    assert read_manifest(tmp_path / "runs" / "r")["status"] == "done"


def test_tail_reads_only_new_bytes(tmp_path: Path) -> None:
    path = tmp_path / "ratings.jsonl"
    line = (json.dumps({"image_id": "a", "aspect": "x", "repeat": 1}) + "\n").encode()
    path.write_bytes(line * 100)
    tail = RatingsTail(path)
    assert len(tail.read()) == 100 and tail.bytes_read == len(line) * 100
    with open(path, "ab") as handle:
        handle.write(line * 3 + line[:10])  # three records and a torn one
    assert len(tail.read()) == 3
    assert tail.bytes_read == len(line) * 103 + 10  # only what was added was read
    with open(path, "ab") as handle:
        handle.write(line[10:])
    assert len(tail.read()) == 1
    # the Runs list's counter too
    run_dir = tmp_path
    assert count_records(run_dir) == 104
    with open(path, "ab") as handle:
        handle.write(line * 2)
    assert count_records(run_dir) == 106


def test_watched_run_after_its_process_died(tmp_path: Path) -> None:
    run_dir = tmp_path / "x"
    run_dir.mkdir()
    (run_dir / "manifest.json").write_text(json.dumps({
        "name": "x", "status": "running", "total_jobs": 4, "model": "m",
        "study": {"aspects": [{"name": "a"}, {"name": "b"}]}}))
    (run_dir / "ratings.jsonl").write_text(json.dumps(
        {"image_id": "i", "aspect": "a", "repeat": 1, "parse_error": "empty"}) + "\n")
    watched = WatchedRun(run_dir)
    progress = watched.poll()
    assert watched.status == "interrupted" and not watched.active  # nobody holds the lock
    assert progress.done == 1 and progress.per_aspect == {"a": (1, 2), "b": (0, 2)}
    assert progress.parse_failures == 1 and progress.eta_s is None


def test_rate_of_a_stopped_run_is_the_rate_it_had(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Once the watched run's process has stopped, the panel keeps the rate it had while
    running instead of letting the 30 s window drain towards zero (a finished run showed
    37.6/s where it had run at 90/s)."""
    import vlmrate.running.watch as live
    from vlmrate.runfolder.store import RunLock

    clock = [1000.0]
    monkeypatch.setattr(live.time, "monotonic", lambda: clock[0])
    run_dir = tmp_path / "x"
    run_dir.mkdir()
    (run_dir / "manifest.json").write_text(json.dumps({
        "name": "x", "status": "running", "total_jobs": 40, "model": "m",
        "study": {"aspects": [{"name": "a"}]}}))
    (run_dir / "ratings.jsonl").write_text("")
    lock = RunLock(run_dir)
    lock.acquire()
    watched = WatchedRun(run_dir)
    watched.poll()
    with open(run_dir / "ratings.jsonl", "a") as handle:
        for repeat in range(1, 21):
            handle.write(json.dumps({"image_id": "i", "aspect": "a", "repeat": repeat,
                                     "rating": 5, "output_tokens": 10}) + "\n")
    clock[0] += 10.0
    running = watched.poll()
    assert running.ratings_per_s == 2.0 and running.tokens_per_s == 20.0  # 20 in 10 s
    lock.release()
    (run_dir / "manifest.json").write_text(json.dumps({
        "name": "x", "status": "done", "total_jobs": 40, "model": "m",
        "study": {"aspects": [{"name": "a"}]}}))
    clock[0] += 25.0
    stopped = watched.poll()
    assert stopped.status == "done"
    assert (stopped.ratings_per_s, stopped.tokens_per_s) == (2.0, 20.0)
    assert stopped.eta_s is None


def test_watch_rate_and_eta_over_running_time(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The watch panel's rate is the runner's: over the run's running time from its
    heartbeat, so a minute of model loading while watching does not dilute it (4.4/s
    shown where the run did 9.5/s), and the ETA is the answers left at that rate."""
    import vlmrate.running.watch as live
    from vlmrate.runfolder.store import RunLock, write_heartbeat

    mono, wall = [1000.0], [5000.0]
    monkeypatch.setattr(live.time, "monotonic", lambda: mono[0])
    monkeypatch.setattr(live.time, "time", lambda: wall[0])
    run_dir = tmp_path / "x"
    run_dir.mkdir()
    (run_dir / "manifest.json").write_text(json.dumps({
        "name": "x", "status": "running", "total_jobs": 100, "model": "m",
        "study": {"aspects": [{"name": "a"}]}}))
    (run_dir / "ratings.jsonl").write_text("")
    lock = RunLock(run_dir)
    lock.acquire()
    write_heartbeat(run_dir, {"status": "starting", "running_s": 0.0, "at": wall[0]})
    watched = WatchedRun(run_dir)
    watched.poll()
    mono[0] += 60.0
    wall[0] += 60.0  # a minute loading the model
    write_heartbeat(run_dir, {"status": "running", "running_s": 0.0, "at": wall[0]})
    watched.poll()
    with open(run_dir / "ratings.jsonl", "a") as handle:
        for repeat in range(1, 21):
            handle.write(json.dumps({"image_id": "i", "aspect": "a", "repeat": repeat,
                                     "rating": 5, "output_tokens": 10}) + "\n")
    mono[0] += 10.0
    wall[0] += 10.0  # 10 s of running, the heartbeat 2 s old
    write_heartbeat(run_dir, {"status": "running", "running_s": 8.0, "at": wall[0] - 2})
    progress = watched.poll()
    assert progress.running_s == 10.0
    assert progress.ratings_per_s == 2.0  # 20 answers in 10 s of running (not 70 s)
    assert progress.eta_s == 40.0  # 80 left at 2/s
    lock.release()
