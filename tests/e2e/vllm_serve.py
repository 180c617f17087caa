"""A real `vllm serve` (vLLM's OpenAI-compatible server, CPU build) on 127.0.0.1 for the
e2e tests: start it on a free port, wait until GET /models answers, stop it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(model: Path, log_path: Path, args: list[str]) -> tuple[subprocess.Popen, str]:
    """`vllm serve MODEL --enforce-eager ARGS...` in a session of its own (so stop() ends
    its children too), its output in ``log_path``; (process, base URL)."""
    port = free_port()
    env = {**os.environ, "VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
    with open(log_path, "w") as log:  # the child holds its own descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
             "--host", "127.0.0.1", "--port", str(port), "--enforce-eager", *args],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    return proc, f"http://127.0.0.1:{port}/v1"


def wait_healthy(proc: subprocess.Popen, base: str, log_path: Path, deadline: float) -> None:
    """Until GET /models answers 200; the server's log tail if it dies, a failure at
    ``deadline`` (time.monotonic())."""
    while time.monotonic() < deadline:
        assert proc.poll() is None, log_path.read_text()[-3000:]
        try:
            if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    pytest.fail(f"vLLM server {base} did not become healthy in time")


def stop(proc: subprocess.Popen) -> None:
    """SIGINT to the server's session, SIGKILL after 30 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
