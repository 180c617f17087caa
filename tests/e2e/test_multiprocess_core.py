"""The GPU code path on the CPU build: vLLM's multiprocess engine core
(VLLM_ENABLE_V1_MULTIPROCESSING=1, the default where a GPU is visible) under `vlmrate run`:
every record checked, a cancel (Ctrl-C) mid-run, and no process left behind either way."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from vlmrate.runfolder.store import RATINGS, read_manifest, repeat_seed

pytest.importorskip("vllm")

pytestmark = [pytest.mark.engine]

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = re.compile(r" ?Rating: ([1-9])\. Reason: [^\x00-\x20\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*")  # structured_regex, written out


def start(model: Path, data: Path, runs: Path, name: str, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "VLLM_ENABLE_V1_MULTIPROCESSING": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    args = ["run", str(data), "--model", str(model),
            "--run", name, "--runs-dir", str(runs), "--max-model-len", "2048",
            "--enforce-eager", "--prompts", str(REPO / "prompts" / "reference"), *extra]
    return subprocess.Popen([sys.executable, "-m", "vlmrate.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def watch_children(proc: subprocess.Popen, until: callable, timeout: float
                   ) -> set[psutil.Process]:
    """The process's descendants seen while waiting for ``until()`` (or its exit)."""
    seen: set[psutil.Process] = set()
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None and not until():
        try:
            seen.update(parent.children(recursive=True))
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    return seen


def assert_all_gone(children: set[psutil.Process]) -> None:
    _, alive = psutil.wait_procs(list(children), timeout=30)
    assert not alive, f"left behind: {[(p.pid, p.name()) for p in alive]}"


def test_multiprocess_engine_core_run_every_record(tiny_model_dir: Path, synthetic_dataset: Path,
                                                   tmp_path: Path) -> None:
    proc = start(tiny_model_dir, synthetic_dataset, tmp_path, "mp", "--limit", "3",
                 "--repeats", "2", "--logprobs", "--structured", "--max-tokens", "32")
    children = watch_children(proc, lambda: False, timeout=900)
    _, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err[-3000:]
    assert children, "no engine core process was started: not the multiprocess path"
    assert_all_gone(children)
    manifest = read_manifest(tmp_path / "mp")
    assert manifest["status"] == "done" and manifest["total_jobs"] == 3 * 3 * 2
    records = [json.loads(x) for x in (tmp_path / "mp" / RATINGS).read_text().splitlines()]
    keys = {(r["image_id"], r["aspect"], r["repeat"]) for r in records}
    assert len(records) == len(keys) == 18
    for r in records:
        match = TEMPLATE.fullmatch(r["raw"])
        assert match, r["raw"]
        assert r["rating"] == int(match.group(1)) and r["engine_error"] is None
        assert r["server"] is None  # a toy-model reason may stop at --max-tokens (32)
        assert r["finish_reason"] == "stop" or (
            r["finish_reason"] == "length" and r["output_tokens"] == 32)
        assert r["seed"] == repeat_seed(0, r["image_id"], r["aspect"], r["repeat"])
        assert r["prompt_tokens"] > 50 and len(r["rating_probs"]) == 9


def test_multiprocess_engine_core_cancel_leaves_nothing_behind(
        tiny_model_dir: Path, synthetic_dataset: Path, tmp_path: Path) -> None:
    ratings = tmp_path / "cancel" / RATINGS
    # free text of random weights: answers end at scattered lengths, so they trickle in
    proc = start(tiny_model_dir, synthetic_dataset, tmp_path, "cancel", "--repeats", "4",
                 "--max-tokens", "400")

    def some_written() -> bool:
        return ratings.exists() and ratings.read_bytes().count(b"\n") >= 4

    children = watch_children(proc, some_written, timeout=900)
    assert proc.poll() is None, proc.communicate()[1][-3000:]
    assert children, "no engine core process was started: not the multiprocess path"
    proc.send_signal(signal.SIGINT)  # Ctrl-C
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert "Run the same command again to resume" in err
    assert_all_gone(children)
    lines = ratings.read_bytes().splitlines(keepends=True)
    assert 4 <= len(lines) < 6 * 3 * 4
    assert all(line.endswith(b"\n") and json.loads(line)["engine_error"] is None
               for line in lines)  # whole records only; aborted requests wrote nothing
    assert read_manifest(tmp_path / "cancel")["status"] == "cancelled"
