"""Where the export's files go and how they are written: checked up front (one clear
line when a target cannot be written) and replaced atomically (a temporary file beside the
target, renamed over it), so a failed export never leaves a half-written file."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from vlmrate.errors import UserError, clip
from vlmrate.runfolder.files import open_run_file
from vlmrate.runfolder.store import LoadedRun


def default_path(run: LoadedRun) -> Path:
    return Path(run.path) / f"{run.name}.xlsx"


def companion_path(xlsx: Path, suffix: str) -> Path:
    """<stem>.ratings.csv / .parquet next to the workbook."""
    return xlsx.with_name(f"{xlsx.stem}.ratings{suffix}")


def check_target(path: Path, *, expect_suffix: str | None = ".xlsx") -> Path:
    """Raise UserError (one line) unless path can be written; returns it made absolute."""
    path = Path(path).expanduser()
    try:
        return _check_target(path, expect_suffix)
    except OSError as exc:  # e.g. a name over the file system's 255 bytes
        raise UserError(f"{clip(str(path), 80)}: {exc.strerror or exc}") from None


def _check_target(path: Path, expect_suffix: str | None) -> Path:
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UserError(f"{path}: is a directory; give a file name, e.g. {path / 'run.xlsx'}")
    if expect_suffix and path.suffix.lower() != expect_suffix:
        raise UserError(f"{path}: the file name must end in {expect_suffix}")
    if not parent.exists():
        raise UserError(f"{path}: folder {parent} does not exist")
    if not parent.is_dir():
        raise UserError(f"{path}: {parent} is not a folder")
    for lock in (parent / f".~lock.{path.name}#", parent / f"~${path.name}"):
        if lock.exists():
            raise UserError(f"{path}: is open in another program (lock file {lock.name}); "
                            "close it and export again")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"{path}: permission denied (cannot write in {parent})")
    if path.exists() and not os.access(path, os.W_OK):
        raise UserError(f"{path}: permission denied (the file is read-only)")
    return path


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[IO[bytes]]:
    """A binary handle on a temp file beside path, renamed over path on success."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        handle = open_run_file(tmp, "wb")
    except OSError as exc:
        raise UserError(f"{path}: cannot write ({exc.strerror})") from None
    try:
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise UserError(f"{path}: cannot write ({exc.strerror}); is it open in another "
                        "program?") from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
