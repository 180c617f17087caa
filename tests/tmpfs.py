"""A small tmpfs for full-disk and read-only tests, where the test process may mount one
(root in a container or VM); tests that need it skip elsewhere and a twin test makes the
writer fail instead."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_tmpfs(path: Path, size_kib: int = 256, *, readonly: bool = False) -> Iterator[Path]:
    """Mount a tmpfs of size_kib at path (created) for the block; skip the test if the
    process cannot mount."""
    path.mkdir(parents=True, exist_ok=True)
    mount = shutil.which("mount")
    options = f"size={size_kib}k" + (",ro" if readonly else "")
    if mount is None:
        pytest.skip("no mount command")
    done = subprocess.run([mount, "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def remount(path: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(path)], check=True,
                   capture_output=True)
