"""Keep the screen the app's: whatever else writes to file descriptors 1 and 2 (vLLM's
engine processes, CUDA, NCCL, C libraries, a stray print in a thread) goes to a log file.

Textual draws through ``sys.__stderr__`` and sizes the screen with ``sys.__stdout__``;
both are pointed at duplicates of the terminal, and then fds 1 and 2 themselves (which
child processes inherit) are pointed at the log. Everything is put back on exit.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

LOG_NAME = ".vlmrate-tui.log"


def log_path_for(runs_dir: Path) -> Path:
    """runs/.vlmrate-tui.log when runs/ exists, else one in the temp folder."""
    if Path(runs_dir).is_dir():
        return Path(runs_dir) / LOG_NAME
    return Path(tempfile.gettempdir()) / f"vlmrate-tui-{os.getuid()}.log"


@contextlib.contextmanager
def output_to_log(log_path: Path) -> Iterator[Path | None]:
    """Redirect fds 1 and 2 to log_path while the app runs; yields the log path, or None
    when stdout/stderr are not both terminals (then nothing is changed)."""
    if not (sys.__stdout__ and sys.__stderr__ and sys.__stdout__.isatty()
            and sys.__stderr__.isatty()):
        yield None
        return
    try:
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError:
        yield None
        return
    saved_stdout, saved_stderr = sys.__stdout__, sys.__stderr__
    saved_sys_stdout, saved_sys_stderr = sys.stdout, sys.stderr
    saved_stdout.flush()
    saved_stderr.flush()
    tty_out_fd, tty_err_fd = os.dup(1), os.dup(2)
    tty_out = os.fdopen(tty_out_fd, "w", buffering=1, encoding=saved_stdout.encoding,
                        errors="replace", closefd=False)
    tty_err = os.fdopen(tty_err_fd, "w", buffering=1, encoding=saved_stderr.encoding,
                        errors="replace", closefd=False)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    sys.__stdout__ = sys.stdout = tty_out  # type: ignore[misc]
    sys.__stderr__ = sys.stderr = tty_err  # type: ignore[misc]
    try:
        yield log_path
    finally:
        with contextlib.suppress(Exception):
            tty_out.flush()
            tty_err.flush()
        os.dup2(tty_out_fd, 1)
        os.dup2(tty_err_fd, 2)
        sys.__stdout__, sys.__stderr__ = saved_stdout, saved_stderr  # type: ignore[misc]
        sys.stdout, sys.stderr = saved_sys_stdout, saved_sys_stderr
        for stream in (tty_out, tty_err):
            with contextlib.suppress(Exception):
                stream.close()
        os.close(tty_out_fd)
        os.close(tty_err_fd)
