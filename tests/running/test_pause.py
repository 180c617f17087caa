"""Pause and cancel abort what is in flight: nothing is written while paused, the aborted
answers are asked again on resume (no gap, no duplicate); the clocks count running time."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.helpers import ScriptedEngine, make_dataset, runner_for
from vlmrate.runfolder.store import iter_records
from vlmrate.running.progress import Progress, RateWindow, RunClock


def lines(run_dir: Path) -> int:
    path = run_dir / "ratings.jsonl"
    return path.read_bytes().count(b"\n") if path.exists() else 0


def wait(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


@pytest.mark.long  # a paused second
def test_pause_aborts_in_flight_and_resume_completes(tmp_path: Path) -> None:
    make_dataset(tmp_path, 6)
    engine = ScriptedEngine(delay_s=0.05)
    runner = runner_for(tmp_path, engine)  # 6 images x 3 aspects x 2 repeats
    reports: list[Progress] = []
    runner.on_progress = reports.append
    result: list[Progress] = []
    thread = threading.Thread(target=lambda: result.append(asyncio.run(runner.run())))
    thread.start()
    run_dir = tmp_path / "runs" / "r"
    wait(lambda: lines(run_dir) >= 5)
    runner.pause()
    wait(lambda: reports[-1].status == "paused")
    statuses = [p.status for p in reports]
    assert "pausing" in statuses and statuses.index("pausing") < statuses.index("paused")
    assert reports[-1].eta_s is None and reports[-1].in_flight == 0
    frozen = lines(run_dir)
    running_at_pause = reports[-1].running_s
    time.sleep(1.0)
    assert lines(run_dir) == frozen  # nothing appended while paused
    runner.resume()
    thread.join(30)
    assert result and result[0].status == "done"
    keys = Counter((r["image_id"], r["aspect"], r["repeat"]) for r in iter_records(run_dir))
    assert len(keys) == 6 * 3 * 2 and max(keys.values()) == 1
    # the request in flight at the pause was asked again: asked once more than written
    assert len(engine.order) == 6 * 3 * 2 + 1
    # the paused second is not running time; elapsed counts it
    assert result[0].running_s < result[0].elapsed_s - 0.9
    assert result[0].running_s >= running_at_pause


def test_cancel_while_paused_ends_the_run(tmp_path: Path) -> None:
    make_dataset(tmp_path, 4)
    runner = runner_for(tmp_path, ScriptedEngine(delay_s=0.05))
    reports: list[Progress] = []
    runner.on_progress = reports.append
    result: list[Progress] = []
    thread = threading.Thread(target=lambda: result.append(asyncio.run(runner.run())))
    thread.start()
    wait(lambda: lines(tmp_path / "runs" / "r") >= 2)
    runner.pause()
    wait(lambda: reports[-1].status == "paused")
    runner.cancel()
    thread.join(10)
    assert result[0].status == "cancelled" and result[0].done < 24
    assert "cancelled" in (tmp_path / "runs" / "r" / "manifest.json").read_text()


def test_rate_looks_at_recent_running_time_only(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    now = [100.0]
    monkeypatch.setattr("vlmrate.running.progress.time.monotonic", lambda: now[0])
    clock = RunClock(window_s=10)
    now[0] = 160.0  # a minute loading the model: not in the rate
    clock.set_phase("running")
    for _ in range(20):  # 2 answers/s for 10 s
        now[0] += 0.5
        clock.answered(5)
    assert clock.rates() == (2.0, 10.0)
    clock.set_phase("paused")
    now[0] += 300  # a long pause: the rate stays what it was
    assert clock.rates() == (2.0, 10.0)
    clock.set_phase("running")
    for _ in range(10):  # then slower: 1 answer/s, and the window forgets the fast part
        now[0] += 1.0
        clock.answered(5)
    assert clock.rates() == (1.0, 5.0)
    assert clock.running_s() == 20.0


def test_rate_window_eta_and_a_watcher_start() -> None:
    """The one estimator: answers over the last window of running time; a watcher that
    began at running time 50 does not spread its answers over the 50 s before it."""
    window = RateWindow(window_s=10, since_s=50.0)
    for i in range(8):
        window.add(50.0 + (i + 1) * 0.5, 3)  # 8 answers in 4 s of running time
    assert window.rates(54.0) == (2.0, 6.0)
    assert window.eta(100, 54.0) == 50.0
    assert window.eta(0, 54.0) == 0.0
    assert RateWindow().eta(5, 10.0) is None  # no answers yet: no ETA
