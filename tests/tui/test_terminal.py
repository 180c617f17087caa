"""output_to_log: engine noise on fds 1/2 goes to the log, not onto the terminal."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

from vlmrate.tui.terminal import log_path_for, output_to_log

CHILD = """
import os, subprocess, sys
from pathlib import Path
from vlmrate.tui.terminal import output_to_log
with output_to_log(Path(sys.argv[1])) as log:
    assert log is not None
    os.write(1, b"noise-fd1\\n")
    os.write(2, b"noise-fd2\\n")
    subprocess.run(["sh", "-c", "echo noise-child; echo noise-child-err >&2"], check=True)
    sys.__stderr__.write("drawn-by-app\\n")
    sys.__stderr__.flush()
    assert os.isatty(sys.__stdout__.fileno()) and os.isatty(sys.__stderr__.fileno())
print("restored-stdout")
print("restored-stderr", file=sys.stderr)
"""


def test_noise_goes_to_the_log_not_the_terminal(tmp_path: Path) -> None:
    log = tmp_path / "tui.log"
    master, slave = pty.openpty()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(log)], stdin=slave,
                            stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    code = proc.wait(timeout=30)
    os.close(master)
    screen = b"".join(chunks).decode()
    assert code == 0, screen
    assert "drawn-by-app" in screen
    assert "restored-stdout" in screen and "restored-stderr" in screen
    assert "noise" not in screen
    logged = log.read_text()
    for word in ("noise-fd1", "noise-fd2", "noise-child", "noise-child-err"):
        assert word in logged


def test_not_a_terminal_changes_nothing(tmp_path: Path) -> None:
    with output_to_log(tmp_path / "x.log") as log:
        assert log is None
    assert not (tmp_path / "x.log").exists()


def test_log_path(tmp_path: Path) -> None:
    assert log_path_for(tmp_path) == tmp_path / ".vlmrate-tui.log"
    assert log_path_for(tmp_path / "missing").parent != tmp_path / "missing"
