"""Test-suite layout: tests/<package>/ mirrors src/vlmrate/<package>/; tests/e2e/ holds the slow tests.

Every test under tests/e2e/ (the vLLM CPU build, real servers, subprocess kills) and every test
marked `engine` (needs the vLLM CPU build and the tiny model) is marked `e2e`, so that
`pytest -m "not e2e"` is the fast suite for the edit loop; `make test` runs everything.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

E2E_DIR = Path(__file__).parent / "e2e"

# One thread per numeric library in each pytest-xdist worker (`make test-fast` runs twice as
# many workers as cores): Polars' pool, OpenMP and OpenBLAS otherwise start a thread per
# core in every worker and spin while they wait, a fifth of the fast suite's CPU time on
# two cores. Set before any test module imports them (conftest is imported first);
# `make test` runs in one process and keeps the libraries' defaults.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _threads in ("POLARS_MAX_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                     "MKL_NUM_THREADS"):
        os.environ.setdefault(_threads, "1")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(E2E_DIR) or item.get_closest_marker("engine"):
            item.add_marker(pytest.mark.e2e)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """`-m "not e2e"` (the fast suite) does not even import tests/e2e/: its modules import
    vLLM at collection (~5 s in every xdist worker) only for tests that would be deselected."""
    if config.getoption("markexpr", "").strip() == "not e2e" and collection_path.is_relative_to(E2E_DIR):
        return True
    return None
