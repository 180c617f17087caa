"""Test-suite layout: tests/<package>/ mirrors src/vlmrate/<package>/; tests/e2e/ holds the slow tests.

Every test under tests/e2e/ (the vLLM CPU build, real servers, subprocess kills) and every test
marked `engine` (needs the vLLM CPU build and the tiny model) is marked `e2e`, so that
`pytest -m "not e2e"` is the fast suite for the edit loop; `make test` runs everything.
"""

from __future__ import annotations

import gc
import json
import os
from pathlib import Path
from typing import Any

import pytest

E2E_DIR = Path(__file__).parent / "e2e"
# a pytest-xdist worker (`make test-fast`), not `make test`'s single process
IN_XDIST_WORKER = bool(os.environ.get("PYTEST_XDIST_WORKER"))

# One thread per numeric library in each pytest-xdist worker (`make test-fast` runs more
# workers than cores): Polars' pool, OpenMP and OpenBLAS otherwise start a thread per core
# in every worker and spin while they wait, a fifth of the fast suite's CPU time on two
# cores. Set before any test module imports them (conftest is imported first);
# `make test` runs in one process and keeps the libraries' defaults.
if IN_XDIST_WORKER:
    for _threads in ("POLARS_MAX_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                     "MKL_NUM_THREADS"):
        os.environ.setdefault(_threads, "1")


# The garbage collector in each pytest-xdist worker: a full collection walks every object
# the worker holds (Textual, Polars, matplotlib, scipy: half a million), ~0.2 s each,
# dozens a worker, a tenth of the fast suite's CPU time. What outlives the tests (modules, caches, the
# fixtures of a module or the session) is moved out of its reach (gc.freeze) once the tests
# are collected and again every FREEZE_EVERY tests, after a collection so that no garbage is
# frozen. A test's garbage is still collected, and what its finalisers raise reported. What
# is frozen is not collected again: a module's or the session's fixture objects that end
# after a freeze are freed when the worker exits, not by pytest's five last collections
# (which walk only what is not frozen: 1.7 s a worker less). `make test` runs in one process
# with the collector's defaults.
FREEZE_EVERY = 10
_tests_run = 0


def _collect_and_freeze() -> None:
    gc.collect()
    gc.freeze()


def pytest_collection_finish(session: pytest.Session) -> None:
    if IN_XDIST_WORKER:
        _collect_and_freeze()


def pytest_runtest_logfinish(nodeid: str, location: tuple[str, int | None, str]) -> None:
    """After a test and its fixtures' teardown."""
    global _tests_run
    _tests_run += 1
    if IN_XDIST_WORKER and _tests_run % FREEZE_EVERY == 0:
        _collect_and_freeze()


# Textual's Pilot waits after every key until the app's process has been idle for one
# SLEEP_GRANULARITY (1/50 s: idle = under 1/20 of it in CPU time), twice a key: 40 ms of
# sleep a key, most of a TUI test's time. A 5 ms window with the same 1/20 rule is as
# strict about idleness; the tests wait for the app's workers themselves (tui/conftest.py
# `settle`). Set when pytest starts, before any app runs.
PILOT_IDLE_WINDOW_S = 0.005


def pytest_configure(config: pytest.Config) -> None:
    import textual._wait as pilot_wait

    pilot_wait.SLEEP_GRANULARITY = PILOT_IDLE_WINDOW_S
    pilot_wait.SLEEP_IDLE = PILOT_IDLE_WINDOW_S / 20


# Under `--dist loadgroup` (make test-fast) the tests that share a fixture of the suite's own
# with module or session scope run in one xdist worker, which builds it once (the LLaMA
# tokenizer folder, a module's analysed runs, the report page): otherwise every worker that
# draws one of them builds it again. The group is the session fixture's name, or else the
# module's; a module whose tests meet a session fixture joins that fixture's group whole.
# A module that names its own group keeps it (the modules that check against pingouin share
# tests.helpers.PINGOUIN).
SHARED_SCOPES = ("session", "package", "module")


def _shared_fixtures(item: pytest.Item) -> tuple[list[str], bool]:
    """(the suite's session/package fixtures the test uses, whether it uses a module one)."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return [], False
    session, module = [], False
    for name in sorted(info.names_closure):
        definitions = info.name2fixturedefs.get(name)
        if not definitions:
            continue
        fixture = definitions[-1]
        if fixture.scope not in SHARED_SCOPES or not fixture.func.__module__.startswith("tests"):
            continue
        if fixture.scope == "module":
            module = True
        else:
            session.append(name)
    return session, module


def _group_by_shared_fixtures(items: list[pytest.Item]) -> None:
    uses = {item: _shared_fixtures(item) for item in items}
    module_group: dict[str, str] = {}
    for item, (session, _module) in uses.items():
        if session:
            module_group.setdefault(item.module.__name__, session[0])  # type: ignore[attr-defined]
    for item, (session, module) in uses.items():
        if item.get_closest_marker("xdist_group") is not None:
            continue  # a module's own group ("pingouin", "figures")
        name = item.module.__name__  # type: ignore[attr-defined]
        if session:
            item.add_marker(pytest.mark.xdist_group(session[0]))
        elif module:
            item.add_marker(pytest.mark.xdist_group(module_group.get(name, name)))


# Tests that take seconds of wall time (a run in another process, real waits, every figure
# drawn): marked `long`, they are collected first, so that pytest-xdist hands them out
# at the start and no worker finishes the fast suite alone with one of them.
def _long_first(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("long") is None)  # stable


@pytest.hookimpl(tryfirst=True)  # before xdist's worker reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(E2E_DIR) or item.get_closest_marker("engine"):
            item.add_marker(pytest.mark.e2e)
    _group_by_shared_fixtures(items)
    _long_first(items)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """`-m "not e2e"` (the fast suite) does not even import tests/e2e/: its modules import
    vLLM at collection (~5 s in every xdist worker) only for tests that would be deselected."""
    if config.getoption("markexpr", "").strip() == "not e2e" and collection_path.is_relative_to(E2E_DIR):
        return True
    return None


@pytest.fixture(scope="session")
def llama_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """LLaMA's real tokenizer (vendored llama-tokenizer-js) saved as a llava-hf checkpoint
    holds it, with llava-hf's LLaVA-NeXT chat template; loaded as vLLM loads it."""
    pytest.importorskip("tokenizers")
    pytest.importorskip("transformers")
    from vlmrate.engines.real_tokenizer import save_llava_hf_tokenizer

    folder = tmp_path_factory.mktemp("llama-tokenizer")
    save_llava_hf_tokenizer(folder)
    # A checkpoint's config.json says llava_next; transformers 5 then loads tokenizer.json as
    # it is (llava_next is among its MODELS_WITH_INCORRECT_HUB_TOKENIZER_CLASS), not rebuilt
    # as the LlamaTokenizer that tokenizer_config.json names.
    (folder / "config.json").write_text(json.dumps({"model_type": "llava_next"}))
    return folder


@pytest.fixture(scope="session")
def llama_tokenizer(llama_tokenizer_dir: Path) -> Any:
    """The checkpoint's tokenizer as transformers loads it: tokenizer.json as it is, in the
    class AutoTokenizer (vLLM's loader) gives for it, with the same backend, special tokens
    and chat template (tests/engines/test_real_tokenizer.py shows it in `make test`).
    Loaded by that class directly: AutoTokenizer imports torch, scikit-learn and transformers'
    model code first (~5 s), which the fast suite otherwise never needs."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast.from_pretrained(str(llama_tokenizer_dir))
