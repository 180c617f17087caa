"""`vlmrate run` end to end through vLLM's CPU build and the tiny random LLaVA-NeXT:
every record checked, SIGKILL mid-run then resume, and the openai engine against a real
vLLM OpenAI-compatible server of the same model."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.vllm_serve import free_port
from vlmrate.runfolder.store import RATINGS, read_manifest, read_ratings, repeat_seed

pytest.importorskip("vllm")

pytestmark = [pytest.mark.engine]

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = re.compile(r" ?Rating: ([1-9])\. Reason: [^\x00-\x20\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*")  # structured_regex, written out
ASPECTS = ("relevance", "arousal", "valence")


def vlmrate(*args: str, **kwargs: object) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    return subprocess.Popen([sys.executable, "-m", "vlmrate.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **kwargs)  # type: ignore[call-overload]


def run_args(model: Path, data: Path, runs: Path, name: str, *extra: str) -> list[str]:
    return ["run", str(data), "--model", str(model), "--repeats", "3", "--structured",
            "--max-tokens", "48", "--run", name, "--runs-dir", str(runs),
            "--max-model-len", "2048", "--enforce-eager", "--prompts",
            str(REPO / "prompts" / "reference"), *extra]


@pytest.fixture(scope="module")
def straight_run(tiny_model_dir: Path, synthetic_dataset: Path,
                 tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs = tmp_path_factory.mktemp("runs")
    proc = vlmrate(*run_args(tiny_model_dir, synthetic_dataset, runs, "straight", "--logprobs"))
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]
    return runs / "straight"


def test_every_record_of_a_structured_run(straight_run: Path) -> None:
    manifest = read_manifest(straight_run)
    assert manifest["status"] == "done" and manifest["total_jobs"] == 6 * 3 * 3
    lines = (straight_run / RATINGS).read_text().splitlines()
    assert len(lines) == 54
    records = [json.loads(line) for line in lines]
    keys = {(r["image_id"], r["aspect"], r["repeat"]) for r in records}
    assert keys == {(f"pic{i:03d}", a, r) for i in range(1, 7) for a in ASPECTS
                    for r in (1, 2, 3)}
    for r in records:
        match = TEMPLATE.fullmatch(r["raw"])
        assert match, r["raw"]
        assert r["rating"] == int(match.group(1)) and r["parse_error"] is None
        # the toy model writes ~1 character a token; the reason's bound assumes >= 3
        # (engines/base.py), so it may stop at --max-tokens after the rating
        assert r["engine_error"] is None and (r["finish_reason"] == "stop" or (
            r["finish_reason"] == "length" and r["output_tokens"] == 48))
        assert r["seed"] == repeat_seed(0, r["image_id"], r["aspect"], r["repeat"])
        assert r["prompt_tokens"] > 50 and r["output_tokens"] > 3 and r["latency_s"] > 0
        probs = r["rating_probs"]
        assert len(probs) == 9 and abs(sum(probs) - 1) < 1e-6
        assert probs[r["rating"] - 1] > 0  # the sampled digit had probability mass
        assert abs(r["expected_rating"] - sum((i + 1) * p for i, p in enumerate(probs))) < 1e-9
        assert 1 <= r["expected_rating"] <= 9
    # the human sheet came along from the dataset folder
    assert read_ratings(straight_run).height == 54


def test_sigkill_then_resume_equals_uninterrupted(tiny_model_dir: Path, synthetic_dataset: Path,
                                                  straight_run: Path, tmp_path: Path) -> None:
    args = run_args(tiny_model_dir, synthetic_dataset, tmp_path, "killed", "--logprobs")
    proc = vlmrate(*args)
    ratings = tmp_path / "killed" / RATINGS
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if ratings.exists() and ratings.read_bytes().count(b"\n") >= 10:
            break
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    before = ratings.read_bytes()
    complete = before[: before.rfind(b"\n") + 1]
    assert 10 <= complete.count(b"\n") < 54, "the kill came too late to test anything"
    resumed = vlmrate(*args)
    _, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err[-2000:]
    after = ratings.read_bytes()
    assert after.startswith(complete), "a record written before the kill changed"
    got = [(r["image_id"], r["aspect"], r["repeat"]) for r in map(json.loads, after.splitlines())]
    assert len(got) == len(set(got)) == 54
    key = ["image_id", "aspect", "repeat"]
    assert set(got) == set(read_ratings(straight_run).select(key).iter_rows())
    # The README's reproducibility promise, on the CPU build: every key of the resumed run
    # (those written before the kill and those redone after it) has the same seed, rating,
    # text and digit probabilities as in the uninterrupted run.
    cols = [*key, "seed", "rating", "reason", "raw", "rating_probs", "finish_reason"]
    resumed_frame = read_ratings(tmp_path / "killed").sort(key).select(cols)
    straight_frame = read_ratings(straight_run).sort(key).select(cols)
    assert resumed_frame.equals(straight_frame)


def test_openai_engine_against_real_vllm_server(tiny_model_dir: Path, synthetic_dataset: Path,
                                                tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model",
         str(tiny_model_dir), "--host", "127.0.0.1", "--port", str(port), "--enforce-eager",
         "--max-model-len", "2048", "--no-enable-chunked-prefill",
         "--kv-cache-memory-bytes", str(256 << 20)],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )
    try:
        base = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            try:
                if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(1)
        else:
            pytest.fail("vLLM server did not become healthy in 240 s")
        proc = vlmrate("run", str(synthetic_dataset), "--engine", "openai", "--base-url", base,
                       "--model", str(tiny_model_dir), "--repeats", "2", "--structured",
                       "--max-tokens", "48", "--run", "http", "--runs-dir", str(tmp_path),
                       "--limit", "3", "--prompts", str(REPO / "prompts" / "reference"))
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
        records = [json.loads(x) for x in (tmp_path / "http" / RATINGS).read_text().splitlines()]
        assert len(records) == 3 * 3 * 2
        for r in records:  # the server honoured structured_outputs
            assert TEMPLATE.fullmatch(r["raw"]), r["raw"]
            assert r["engine_error"] is None and 1 <= r["rating"] <= 9
            assert r["prompt_tokens"] > 50
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_demo_builds_runs_and_resumes(tmp_path: Path) -> None:
    env = {**os.environ, "VLMRATE_CACHE": str(tmp_path / "cache"),
           "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    args = [sys.executable, "-m", "vlmrate.cli", "demo", "--no-tui", "--images", "3",
            "--repeats", "2", "--runs-dir", str(tmp_path / "runs")]
    first = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600,
                           cwd=tmp_path, check=False)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "3 images × 3 aspects × up to 2 repeats = 18 answers, 0 without a rating" \
        in first.stdout
    assert "next: vlmrate stats demo" in first.stdout
    assert (tmp_path / "data" / "demo" / "README.txt").is_file()  # cwd/data/demo
    lines = (tmp_path / "runs" / "demo" / RATINGS).read_bytes()
    again = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600,
                           cwd=tmp_path, check=False)
    assert again.returncode == 0 and "building" not in again.stderr
    assert (tmp_path / "runs" / "demo" / RATINGS).read_bytes() == lines  # nothing redone
