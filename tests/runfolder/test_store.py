"""The run folder: append-only ratings, torn lines, lock, review, seeds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vlmrate.errors import UserError
from vlmrate.runfolder.store import (
    RATINGS,
    TORN,
    RatingsWriter,
    finished_keys,
    read_ratings,
    read_review,
    repeat_seed,
    save_review,
)


def record(image_id: str, aspect: str, repeat: int, rating: int | None = 5) -> dict:
    return {"image_id": image_id, "aspect": aspect, "repeat": repeat, "seed": 1,
            "rating": rating, "reason": "r", "raw": "Rating: 5. Reason: r",
            "parse_error": None, "finish_reason": "stop", "prompt_tokens": 10,
            "output_tokens": 5, "latency_s": 0.1, "expected_rating": None,
            "rating_probs": None, "engine_error": None, "time": "t"}


def test_append_and_read(tmp_path: Path) -> None:
    with RatingsWriter(tmp_path) as writer:
        for repeat in (1, 2, 3):
            writer.append(record("a", "valence", repeat))
    frame = read_ratings(tmp_path)
    assert frame.height == 3
    assert frame["repeat"].to_list() == [1, 2, 3]
    assert finished_keys(tmp_path) == {("a", "valence", r) for r in (1, 2, 3)}


def test_torn_last_line_ignored_then_set_aside(tmp_path: Path) -> None:
    with RatingsWriter(tmp_path) as writer:
        writer.append(record("a", "valence", 1))
        writer.append(record("a", "valence", 2))
    good = (tmp_path / RATINGS).read_bytes()
    with open(tmp_path / RATINGS, "ab") as handle:
        handle.write(b'{"image_id": "a", "aspect": "val')
    assert read_ratings(tmp_path).height == 2
    assert finished_keys(tmp_path) == {("a", "valence", 1), ("a", "valence", 2)}
    with RatingsWriter(tmp_path) as writer:
        writer.append(record("a", "valence", 3))
    data = (tmp_path / RATINGS).read_bytes()
    assert data.startswith(good)  # nothing complete was changed
    assert [json.loads(x)["repeat"] for x in data.splitlines()] == [1, 2, 3]
    assert b'"aspect": "val' in (tmp_path / TORN).read_bytes()


def test_second_writer_refused(tmp_path: Path) -> None:
    code = (
        "import sys, time; from pathlib import Path; from vlmrate.runfolder.store import RatingsWriter\n"
        "w = RatingsWriter(Path(sys.argv[1])); w.open(); print('locked', flush=True);"
        " time.sleep(30)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(UserError, match="in use by another vlmrate process"):
            RatingsWriter(tmp_path).open()
    finally:
        holder.kill()
        holder.wait()
    with RatingsWriter(tmp_path) as writer:  # free again once the holder is gone
        writer.append(record("a", "v", 1))


def test_review_saved_at_once(tmp_path: Path) -> None:
    save_review(tmp_path, "pic001", "valence", flagged=True)
    save_review(tmp_path, "pic001", "valence", note="looks like a flood")
    save_review(tmp_path, "pic002", "arousal", note="x")
    review = read_review(tmp_path)
    assert review["pic001"]["valence"]["flagged"] is True
    assert review["pic001"]["valence"]["note"] == "looks like a flood"
    assert review["pic002"]["arousal"]["flagged"] is False


def test_repeat_seed_is_stable_and_distinct() -> None:
    seeds = {repeat_seed(0, f"pic{i}", a, r) for i in range(20) for a in "xyz" for r in range(10)}
    assert len(seeds) == 600
    assert repeat_seed(0, "pic1", "x", 1) == repeat_seed(0, "pic1", "x", 1)
    assert repeat_seed(1, "pic1", "x", 1) != repeat_seed(0, "pic1", "x", 1)
    assert all(0 <= s < 2**31 for s in seeds)


def test_parquet_copy_speeds_reload_and_follows_appends(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import vlmrate.runfolder.store as store

    monkeypatch.setattr(store, "_CACHE_MIN_NEW_BYTES", 10_000)
    with RatingsWriter(tmp_path) as writer:
        for i in range(3000):
            writer.append(record(f"img{i}", "valence", 1, rating=1 + i % 9))
    first = read_ratings(tmp_path)
    copies = list(tmp_path.glob(".ratings-cache-*.parquet"))
    assert len(copies) == 1 and first.height == 3000
    with RatingsWriter(tmp_path) as writer:  # appended after the copy was made
        writer.append(record("late", "valence", 1, rating=9))
    with open(tmp_path / RATINGS, "ab") as handle:
        handle.write(b'{"image_id": "torn"')
    again = read_ratings(tmp_path)
    assert again.height == 3001 and again["image_id"][-1] == "late"
    assert again.head(3000).equals(first)
    # a ratings.jsonl replaced by other content is never read through the stale copy
    (tmp_path / RATINGS).write_bytes(b"".join(
        (json.dumps(record(f"new{i}", "arousal", 2)) + "\n").encode() for i in range(3500)))
    replaced = read_ratings(tmp_path)
    assert replaced.height == 3500 and set(replaced["aspect"]) == {"arousal"}


def test_list_runs_tells_interrupted_from_running(tmp_path: Path) -> None:
    from vlmrate.runfolder.store import RunLock, list_runs, write_manifest

    for name in ("alive", "dead"):
        (tmp_path / name).mkdir()
        write_manifest(tmp_path / name, {"name": name, "status": "running"})
    lock = RunLock(tmp_path / "alive")
    lock.acquire()
    try:
        status = {r["name"]: r["status"] for r in list_runs(tmp_path)}
    finally:
        lock.release()
    assert status == {"alive": "running", "dead": "interrupted"}


def test_line_count_is_exact_with_loaders_in_threads(tmp_path: Path) -> None:
    """Two loaders of the Runs list (the refresh key and the timer) counting at once
    must not both add the same new lines (720/360 showed after a start)."""
    import threading

    from vlmrate.runfolder.store import count_records

    for round_ in range(10):
        run_dir = tmp_path / f"r{round_}"
        run_dir.mkdir()
        (run_dir / "ratings.jsonl").write_text("{}\n" * 360)
        barrier = threading.Barrier(6)
        seen: list[int] = []

        def load(run_dir: Path = run_dir, barrier: threading.Barrier = barrier,
                 seen: list[int] = seen) -> None:
            barrier.wait()
            seen.append(count_records(run_dir))

        threads = [threading.Thread(target=load) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert seen == [360] * 6


def test_a_running_manifest_nobody_runs_is_interrupted(tmp_path: Path) -> None:
    """The Results header, the stats note and the workbook say "interrupted" for a run
    whose process was killed (the manifest still says running)."""
    from vlmrate.runfolder.store import RunLock, load_run

    run_dir = tmp_path / "runs" / "k"
    run_dir.mkdir(parents=True)
    (run_dir / "manifest.json").write_text(json.dumps({
        "name": "k", "status": "running", "total_jobs": 4,
        "study": {"aspects": [{"name": "a"}]}}))
    (run_dir / "ratings.jsonl").write_text("")
    assert load_run(run_dir).status == "interrupted"
    lock = RunLock(run_dir)
    lock.acquire()
    try:
        assert load_run(run_dir).status == "running"
    finally:
        lock.release()
