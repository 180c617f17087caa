"""engine_output: vLLM-style noise (logging, warnings, fds 1/2) goes to a log, not the terminal."""

from __future__ import annotations

import io
import logging
import os
import pty
import subprocess
import sys
from pathlib import Path

from vlmrate.engines.output import LogRoute, output_to_log, stderr_to, tui_log_path

CHILD = """
import os, subprocess, sys
from pathlib import Path
from vlmrate.engines.output import output_to_log
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


def test_tui_log_path(tmp_path: Path) -> None:
    assert tui_log_path(tmp_path) == tmp_path / ".vlmrate-tui.log"
    assert tui_log_path(tmp_path / "missing").parent != tmp_path / "missing"


def test_log_route_takes_loggers_over_and_gives_them_back(tmp_path: Path) -> None:
    log = tmp_path / "run" / "run.log"
    lg = logging.getLogger("eo-test-lib")
    before = logging.StreamHandler(io.StringIO())
    lg.addHandler(before)
    lg.setLevel(logging.WARNING)
    route = LogRoute(log)
    try:
        route.attach("eo-test-lib", logging.INFO)
        route.attach("eo-test-lib")  # twice: still one handler
        assert lg.handlers == [route._handler] and not lg.propagate
        lg.info("engine ready")
        logging.getLogger("eo-test-lib.child").warning("from a child logger")
        for _ in range(6):
            lg.warning("same every request")
    finally:
        route.restore()
    assert lg.handlers == [before] and lg.propagate and lg.level == logging.WARNING
    lines = log.read_text().splitlines()
    assert any(line.endswith("INFO eo-test-lib: engine ready") for line in lines)
    assert any("eo-test-lib.child: from a child logger" in line for line in lines)
    # a repeated message: 3 copies, then one saying that further copies are dropped
    repeated = [line for line in lines if "same every request" in line]
    assert len(repeated) == 4 and repeated[-1].endswith("(repeated; further copies not logged)")
    lg.warning("after restore")
    assert "after restore" not in log.read_text()
    assert "after restore" in before.stream.getvalue()
    lg.removeHandler(before)


def test_log_route_without_a_file_drops_records(capfd) -> None:
    route = LogRoute(None)
    route.attach("eo-test-nofile")
    try:
        logging.getLogger("eo-test-nofile").error("nobody sees this")
    finally:
        route.restore()
    assert "nobody sees this" not in capfd.readouterr().err


def test_stderr_to_catches_what_bypasses_logging(tmp_path: Path, capfd) -> None:
    log = tmp_path / "run.log"
    log.write_text("earlier\n")
    with stderr_to(log):
        os.write(2, b"C++ warning\n")
        subprocess.run(["sh", "-c", "echo child-err >&2"], check=True)
    os.write(2, b"back on stderr\n")
    assert log.read_text() == "earlier\nC++ warning\nchild-err\n"  # appended
    assert capfd.readouterr().err == "back on stderr\n"
