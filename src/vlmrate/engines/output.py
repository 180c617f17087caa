"""Keeping the output of vLLM, transformers, torch and child processes off the terminal.

That output reaches a terminal four ways; each has one tool here:

- environment variables the libraries read when imported: :func:`quiet_environment`;
- Python logging ("vllm", "transformers"): :class:`LogRoute` sends the records to a log
  file (a run's ``run.log``) until it is restored;
- Python warnings raised inside vLLM: :func:`silence_library_warnings`;
- file descriptors 1 and 2 (C++ warnings of torch and vLLM's kernels, progress bars, child
  processes): :func:`stderr_to` points fd 2 at the log while vLLM starts, and
  :func:`output_to_log` points fds 1 and 2 at a log for a whole TUI session while the app
  keeps drawing on the terminal.

The vLLM engine uses the first four wherever it runs (``vlmrate run``, ``vlmrate demo``, a
job in the TUI); ``vlmrate`` (the TUI) wraps the app in :func:`output_to_log`.
Nothing heavy is imported here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

#: The TUI's own log (engine noise of a whole session), in the runs folder.
TUI_LOG_NAME = ".vlmrate-tui.log"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: A log is never appended through a symbolic link (a copied run may hold one to a file
#: elsewhere): that open fails, and the log is not written.
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def quiet_environment() -> None:
    """Ask vLLM, the Hugging Face libraries and tqdm not to print; before they are imported."""
    os.environ["VLLM_CONFIGURE_LOGGING"] = "0"  # vLLM would add its own stderr handler
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # its warning after a fork


class RepeatFilter(logging.Filter):
    """Let each distinct message through a few times only (vLLM repeats some per request)."""

    def __init__(self, limit: int = 3) -> None:
        super().__init__()
        self.limit = limit
        self.seen: dict[tuple[str, str], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        if key not in self.seen and len(self.seen) >= 10_000:
            return True
        count = self.seen.get(key, 0) + 1
        self.seen[key] = count
        if count == self.limit + 1:
            record.msg = f"{record.msg} (repeated; further copies not logged)"
        return count <= self.limit + 1


class LogRoute:
    """The records of chosen loggers go to ``log_file`` (or nowhere), not the terminal.

    :meth:`attach` takes a logger over (its handlers removed, no propagation to the root);
    :meth:`restore` gives every logger back its handlers, level and propagation and closes
    the file. Child loggers ("vllm.x") follow their parent.
    """

    def __init__(self, log_file: Path | None) -> None:
        self.log_file = Path(log_file) if log_file is not None else None
        self._handler: logging.Handler | None = None
        self._saved: list[tuple[logging.Logger, list[logging.Handler], bool, int]] = []

    def _make_handler(self) -> logging.Handler:
        handler: logging.Handler
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(self.log_file, encoding="utf-8")
            handler.setFormatter(logging.Formatter(LOG_FORMAT))
        else:
            handler = logging.NullHandler()
        handler.addFilter(RepeatFilter())
        return handler

    def attach(self, name: str, level: int | None = None) -> None:
        """Send logger ``name``'s records to the log (at ``level`` when given)."""
        if self._handler is None:
            self._handler = self._make_handler()
        handler = self._handler
        lg = logging.getLogger(name)
        if handler in lg.handlers:
            return
        self._saved.append((lg, list(lg.handlers), lg.propagate, lg.level))
        for old in list(lg.handlers):
            lg.removeHandler(old)
        lg.addHandler(handler)
        if level is not None:
            lg.setLevel(level)
        lg.propagate = False

    def restore(self) -> None:
        """Put every attached logger back as it was and close the log file."""
        handler = self._handler
        if handler is None:
            return
        for lg, handlers, propagate, level in self._saved:
            lg.removeHandler(handler)
            for old in handlers:
                lg.addHandler(old)
            lg.propagate = propagate
            lg.setLevel(level)
        self._saved = []
        with contextlib.suppress(Exception):
            handler.close()
        self._handler = None


def silence_library_warnings() -> None:
    """Keep Python warnings raised while vLLM runs (deprecations mostly) off the terminal.

    Warnings filters are process-wide; these only match warnings attributed to vLLM and its
    grammar backends, and deprecation notices attributed to torch and transformers.
    """
    warnings.filterwarnings("ignore", module=r"(vllm|xgrammar|llguidance|outlines_core)(\..*)?$")
    for category in (DeprecationWarning, FutureWarning):
        warnings.filterwarnings("ignore", category=category, module=r"(torch|transformers)(\..*)?$")


@contextlib.contextmanager
def stderr_to(path: Path | None) -> Iterator[None]:
    """Point file descriptor 2 at ``path`` (appended; or /dev/null) for the duration.

    Catches what bypasses logging while vLLM starts: C++ warnings of torch and vLLM's
    kernels, progress bars. Affects the whole process for the duration; inside
    :func:`output_to_log` the TUI draws on its own copy of the terminal, so it is not
    disturbed.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    target_path = str(path) if path is not None else os.devnull
    try:
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        target = os.open(target_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW, 0o644)
    except OSError:
        os.close(saved)
        yield
        return
    try:
        os.dup2(target, 2)
        os.close(target)
        _saved_stderr.append(saved)
        yield
    finally:
        with contextlib.suppress(ValueError):
            _saved_stderr.remove(saved)
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


# The terminal's fd 2 of each stderr_to still active (a thread loading a model holds one).
_saved_stderr: list[int] = []


def stderr_back_to_terminal() -> None:
    """Point fd 2 back at what it was before the first stderr_to still active: an engine
    thread stuck in a model load must not swallow the message of an interrupt. (Its own
    restore later does the same again.)"""
    if _saved_stderr:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        with contextlib.suppress(OSError):
            os.dup2(_saved_stderr[0], 2)


def tui_log_path(runs_dir: Path) -> Path:
    """Where a TUI session's engine noise goes: runs/.vlmrate-tui.log when runs/ exists,
    else a file in the temp folder."""
    if Path(runs_dir).is_dir():
        return Path(runs_dir) / TUI_LOG_NAME
    return Path(tempfile.gettempdir()) / f"vlmrate-tui-{os.getuid()}.log"


@contextlib.contextmanager
def output_to_log(log_path: Path) -> Iterator[Path | None]:
    """Keep the screen the app's: redirect fds 1 and 2 to ``log_path`` while it runs.

    Whatever else writes to them (vLLM's engine processes, CUDA, NCCL, C libraries, a stray
    print in a thread) lands in the log. Textual draws through ``sys.__stderr__`` and sizes
    the screen with ``sys.__stdout__``; both are pointed at duplicates of the terminal, and
    then fds 1 and 2 themselves (which child processes inherit) at the log. Everything is
    put back on exit. Yields the log path, or None when stdout/stderr are not both
    terminals (then nothing is changed).
    """
    if not (sys.__stdout__ and sys.__stderr__ and sys.__stdout__.isatty()
            and sys.__stderr__.isatty()):
        yield None
        return
    try:
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | _NOFOLLOW,
                         0o644)
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
