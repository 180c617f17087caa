"""Small file helpers shared by the run folder's writers (no heavy imports).

Every file vlmrate writes in a run folder is opened through :func:`open_run_file` (or
written by :func:`write_text_atomic`, which uses it): a regular file inside the folder,
never a symbolic link or a device. A run copied from a colleague may hold links to files
elsewhere; reading through them is fine, writing through them would truncate, overwrite
or append to files outside the runs folder, so it is refused with one line.
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

from vlmrate.errors import UserError, clip

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def now_iso() -> str:
    """The current UTC time as ISO 8601 to the second (the run folder's time stamps)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _not_regular(path: Path, mode: int) -> UserError:
    kind = "a symbolic link" if stat.S_ISLNK(mode) else (
        "a folder" if stat.S_ISDIR(mode) else "not a regular file")
    return UserError(f"{clip(str(path), 100)} is {kind}: vlmrate writes only regular files "
                     f"inside a run folder (replace it by a copy of the file, or remove it)")


def refuse_unsafe(path: Path) -> None:
    """UserError unless ``path`` is absent or a regular file (a symbolic link is refused,
    whatever it points to)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UserError(f"{clip(str(path), 100)}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        raise _not_regular(Path(path), mode)


def check_run_files(run_dir: Path, names: tuple[str, ...] | list[str]) -> None:
    """refuse_unsafe for each of ``names`` in ``run_dir`` (before a writer starts, so that
    a refused run has nothing changed)."""
    for name in names:
        refuse_unsafe(Path(run_dir) / name)


def open_run_fd(path: Path, flags: int, mode: int = 0o644) -> int:
    """os.open for writing a file in a run folder: never through a symbolic link (the last
    component), only a regular file; UserError (one line) otherwise."""
    refuse_unsafe(path)
    try:
        fd = os.open(path, flags | _NOFOLLOW | _CLOEXEC | os.O_NONBLOCK, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _not_regular(Path(path), stat.S_IFLNK) from None
        if exc.errno == errno.ENXIO:  # a FIFO without a reader
            raise _not_regular(Path(path), stat.S_IFIFO) from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise _not_regular(Path(path), info.st_mode)
    if info.st_nlink > 1 and not flags & os.O_EXCL:  # written in place: the other name too
        os.close(fd)
        raise UserError(f"{clip(str(path), 100)} has another name (a hard link, e.g. a copy "
                        f"made with cp -l): writing it would change that file too (copy "
                        f"the run with cp -r)")
    os.set_blocking(fd, True)
    return fd


def open_run_file(path: Path, how: str = "wb", encoding: str | None = None) -> IO:
    """A file object for writing ``path`` in a run folder (see open_run_fd). ``how`` is one
    of "w", "a", "x", "r+" with an optional "b"; "a+" too (the run's lock)."""
    base = how.replace("b", "")
    flags = {"w": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
             "a": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
             "a+": os.O_RDWR | os.O_CREAT | os.O_APPEND,
             "x": os.O_WRONLY | os.O_CREAT | os.O_EXCL,
             "r+": os.O_RDWR}[base]
    if base == "w":  # truncate only once the file is known to be a regular file
        fd = open_run_fd(path, flags & ~os.O_TRUNC)
        os.ftruncate(fd, 0)
    else:
        fd = open_run_fd(path, flags)
    if "b" in how:
        return os.fdopen(fd, how.replace("x", "w"))
    return os.fdopen(fd, how.replace("x", "w"), encoding=encoding or "utf-8")


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader sees the old file or the new one, never
    a part: a new temp file beside it (unique per process and thread), fsync, rename. The
    rename replaces a symbolic link at ``path`` itself, but one is refused first: the run
    folder holds regular files only."""
    data = text.encode("utf-8")
    write_bytes_atomic(path, lambda handle: handle.write(data))


def write_bytes_atomic(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Like write_text_atomic for a binary writer: ``write(handle)`` fills the temp file."""
    path = Path(path)
    refuse_unsafe(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        tmp.unlink(missing_ok=True)  # a leftover of a killed writer with the same pid
        with open_run_file(tmp, "xb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
