"""Crashes: SIGKILL at random points, torn last lines, a full disk. Resume must give no
duplicate and no gap, and never change a line written before."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

from tests.helpers import make_dataset
from vlmrate.runfolder.store import RATINGS, read_ratings

ROOT = Path(__file__).parents[2]
N_IMAGES = 6
EXPECTED = {(f"pic{i:03d}", a, r) for i in range(1, N_IMAGES + 1)
            for a in ("relevance", "arousal", "valence") for r in (1, 2)}


def start(root: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}
    return subprocess.Popen([sys.executable, "-m", "tests.scripted_run", str(root), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=ROOT)


def keys(path: Path) -> list[tuple[str, str, int]]:
    """Keys of the complete lines (a torn tail is not a record)."""
    data = path.read_bytes()
    lines = data[: data.rfind(b"\n") + 1].split(b"\n")
    return [(r["image_id"], r["aspect"], r["repeat"]) for r in map(json.loads, filter(None, lines))]


def test_sigkill_then_resume_several_trials(tmp_path: Path) -> None:
    rng = random.Random(7)
    reference = tmp_path / "reference"
    reference.mkdir()
    make_dataset(reference, N_IMAGES)
    assert start(reference).wait(60) == 0
    straight = read_ratings(reference / "runs/r").sort(["image_id", "aspect", "repeat"])
    for trial in range(4):
        root = tmp_path / f"trial{trial}"
        root.mkdir()
        make_dataset(root, N_IMAGES)
        kill_after = rng.randint(1, len(EXPECTED) - 2)
        proc = start(root, "--delay", "0.02")
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.strip().isdigit() and int(line) >= kill_after:
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        ratings = root / "runs/r" / RATINGS
        before = ratings.read_bytes()
        if trial % 2:  # a power cut tore the last line in half
            with open(ratings, "ab") as handle:
                handle.write(b'{"image_id":"pic00')
        assert start(root).wait(60) == 0
        after = ratings.read_bytes()
        assert after.startswith(before), "a line written before the kill changed"
        got = keys(ratings)
        assert len(got) == len(set(got)) == len(EXPECTED), "duplicate or gap after resume"
        assert set(got) == EXPECTED
        resumed = read_ratings(root / "runs/r").sort(["image_id", "aspect", "repeat"])
        cols = ["image_id", "aspect", "repeat", "seed", "rating", "raw"]
        assert resumed.select(cols).equals(straight.select(cols))


def test_disk_full_stops_cleanly_and_resumes(tmp_path: Path) -> None:
    make_dataset(tmp_path, N_IMAGES)
    proc = start(tmp_path, "--fsize", "6000")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "File too large" in err and "resume" in err
    ratings = tmp_path / "runs/r" / RATINGS
    before = ratings.read_bytes()
    kept = keys(ratings)
    assert 0 < len(kept) < len(EXPECTED)
    assert start(tmp_path).wait(60) == 0
    assert ratings.read_bytes()[: before.rfind(b"\n") + 1] == before[: before.rfind(b"\n") + 1]
    final = keys(ratings)
    assert len(final) == len(set(final)) and set(final) == EXPECTED
