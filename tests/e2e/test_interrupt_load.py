"""ctrl-c while vLLM loads the model (issue 17 item 11): `vlmrate run` stops at once (it
waited 18-30 s for the load to end, and once aborted in C++ with "terminate called
without an active exception"); the message reaches the terminal and the run is
"cancelled", ready to resume."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.test_run import run_args, vlmrate
from vlmrate.runfolder.store import LOG, RATINGS, read_manifest

pytest.importorskip("vllm")

pytestmark = [pytest.mark.engine]


def _wait_for(check: object, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_ctrl_c_during_model_load(tiny_model_dir: Path, synthetic_dataset: Path,
                                  tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    proc = vlmrate(*run_args(tiny_model_dir, synthetic_dataset, runs, "r"),
                   preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    log = runs / "r" / LOG
    # vLLM's first log lines: the model load has begun
    assert _wait_for(lambda: log.is_file() and log.stat().st_size > 0, 120)
    if (runs / "r" / RATINGS).is_file() and (runs / "r" / RATINGS).stat().st_size:
        pytest.skip("the model loaded before the signal could be sent")
    proc.send_signal(signal.SIGINT)
    sent = time.monotonic()
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    took = time.monotonic() - sent
    assert proc.returncode == 130, err[-2000:]
    assert took < 5, f"took {took:.1f}s to stop"
    assert "stopped; what was rated is kept" in err
    assert "terminate called" not in err and "Traceback" not in err
    assert read_manifest(runs / "r")["status"] == "cancelled"
