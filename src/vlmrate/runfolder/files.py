"""Small file helpers shared by the run folder's writers (no heavy imports)."""

from __future__ import annotations

import datetime as dt
import os
import threading
from pathlib import Path


def now_iso() -> str:
    """The current UTC time as ISO 8601 to the second (the run folder's time stamps)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader sees the old file or the new one, never
    a part: a temp file beside it (unique per process and thread), fsync, rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
