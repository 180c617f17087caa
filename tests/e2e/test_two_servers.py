"""Two real vLLM CPU OpenAI-compatible servers of the tiny model behind one `vlmrate run`:
both serve, no image's answers are split across them, and killing one mid-run still ends
the same invocation with exit 0 and every answer rated."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.vllm_serve import start_server as start_vllm_server
from tests.e2e.vllm_serve import stop, wait_healthy
from vlmrate.runfolder.store import RATINGS, read_manifest

pytest.importorskip("vllm")

pytestmark = [pytest.mark.engine]

REPO = Path(__file__).resolve().parents[2]
STARTUP_S = 600  # two CPU servers share two cores: give them time
WINDOW = 6  # requests in flight on one server (--concurrency)


def start_server(model: Path, log_path: Path) -> tuple[subprocess.Popen, str]:
    return start_vllm_server(model, log_path, [
        "--max-model-len", "2048", "--no-enable-chunked-prefill", "--enable-prefix-caching",
        "--kv-cache-memory-bytes", str(256 << 20)])


@pytest.fixture(scope="module")
def two_servers(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[list[tuple[subprocess.Popen, str]]]:
    logs = tmp_path_factory.mktemp("server-logs")
    servers = [start_server(tiny_model_dir, logs / f"server{i}.log") for i in (0, 1)]
    try:
        deadline = time.monotonic() + STARTUP_S
        for i, (proc, base) in enumerate(servers):
            wait_healthy(proc, base, logs / f"server{i}.log", deadline)
        yield servers
    finally:
        for proc, _ in servers:
            stop(proc)


def vlmrate_run(model: Path, data: Path, runs: Path, name: str, urls: list[str],
                repeats: int = 2) -> subprocess.Popen:
    args = ["run", str(data), "--engine", "openai", "--model", str(model),
            "--repeats", str(repeats),
            "--structured", "--max-tokens", "48", "--run", name, "--runs-dir", str(runs),
            "--concurrency", str(WINDOW), "--prompts", str(REPO / "prompts" / "reference")]
    for url in urls:
        args += ["--base-url", url]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    return subprocess.Popen([sys.executable, "-m", "vlmrate.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def records_of(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / RATINGS).read_text().splitlines()]


def check_every_answer_rated(records: list[dict], n_images: int, repeats: int = 2) -> None:
    keys = [(r["image_id"], r["aspect"], r["repeat"]) for r in records]
    assert len(keys) == len(set(keys)) == n_images * 3 * repeats
    for r in records:
        assert r["engine_error"] is None and r["rating"] is not None, r


def test_two_servers_share_the_images_without_splitting_one(
        two_servers: list[tuple[subprocess.Popen, str]], tiny_model_dir: Path,
        synthetic_dataset: Path, tmp_path: Path) -> None:
    urls = [base for _, base in two_servers]
    proc = vlmrate_run(tiny_model_dir, synthetic_dataset, tmp_path, "two", urls)
    _, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err[-3000:]
    records = records_of(tmp_path / "two")
    check_every_answer_rated(records, 6)
    servers_of_image: dict[str, set[str]] = defaultdict(set)
    for r in records:
        servers_of_image[r["image_id"]].add(r["server"])
    assert {s for servers in servers_of_image.values() for s in servers} == set(urls)  # (a)
    assert all(len(s) == 1 for s in servers_of_image.values()), servers_of_image  # (b)
    assert read_manifest(tmp_path / "two")["engine"]["base_urls"] == urls


def test_killing_one_server_mid_run_still_rates_everything(
        two_servers: list[tuple[subprocess.Popen, str]], tiny_model_dir: Path,
        synthetic_dataset: Path, tmp_path: Path) -> None:
    urls = [base for _, base in two_servers]
    victim, victim_url = two_servers[1]
    # 4 repeats: 12 requests an image, more than a server's window of 6, so the victim
    # cannot answer a whole image in one batch between two looks at the file
    proc = vlmrate_run(tiny_model_dir, synthetic_dataset, tmp_path, "kill", urls, repeats=4)
    ratings = tmp_path / "kill" / RATINGS
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:  # kill once the victim has answered something
        if ratings.exists() and ratings.read_bytes().count(victim_url.encode()) >= 2:
            break
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        time.sleep(0.1)
    # stopped first, then counted, then killed (the run went on with the other server
    # meanwhile: a CI run once counted every answer written by the time the kill had been
    # waited for); what the victim had sent before it stopped may still be written after
    # the count: at most its window of requests in flight
    os.killpg(victim.pid, signal.SIGSTOP)
    done_at_kill = ratings.read_bytes().count(b"\n")
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(30)
    _, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err[-3000:]
    assert done_at_kill < 6 * 3 * 4, "the kill came too late to test anything"
    records = records_of(tmp_path / "kill")
    check_every_answer_rated(records, 6, 4)  # (c) the same invocation rated every answer
    after_kill = records[done_at_kill:]
    from_victim = [r for r in after_kill if r["server"] == victim_url]
    assert len(from_victim) <= WINDOW, len(from_victim)  # only what it had sent already
    assert len(after_kill) > len(from_victim)  # the survivor rated the rest
    assert {r["server"] for r in after_kill} <= {urls[0], victim_url}
    assert read_manifest(tmp_path / "kill")["status"] == "done"
    assert "OUT (" in err  # the plain progress lines said the server was out
