"""How the in-process engine starts vLLM where a GPU is (issue 22): the GPU is found through
NVML, without initialising CUDA in this process, and vLLM's engine core is then spawned, not
forked. No GPU is needed: the decision logic is checked with a stand-in torch, and against
the installed vLLM's own choice of start method."""

from __future__ import annotations

import os
import sys
from types import ModuleType

import pytest

from tests.helpers import stand_in_torch
from vlmrate.engines.vllm import _prepare_environment, cuda_gpu_visible, engine_process_env

VARS = ("PYTORCH_NVML_BASED_CUDA_CHECK", "VLLM_WORKER_MULTIPROC_METHOD",
        "VLLM_ENABLE_V1_MULTIPROCESSING", "VLLM_BATCH_INVARIANT")


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A copy of the environment without the variables under test (this process's stays)."""
    env = {k: v for k, v in os.environ.items() if k not in VARS}
    monkeypatch.setattr(os, "environ", env)
    return env


def _torch(gpu: bool | Exception, seen: list[str | None]) -> ModuleType:
    def is_available() -> bool:
        seen.append(os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK"))
        if isinstance(gpu, Exception):
            raise gpu
        return gpu
    return stand_in_torch(is_available=is_available)


def test_gpu_spawns_the_engine_core_cpu_keeps_it_in_process() -> None:
    assert engine_process_env(gpu=True, env={}) == {"VLLM_WORKER_MULTIPROC_METHOD": "spawn"}
    assert engine_process_env(gpu=False, env={}) == {"VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
    # what the user set stays
    assert engine_process_env(gpu=True, env={"VLLM_WORKER_MULTIPROC_METHOD": "fork"}) == {}
    assert engine_process_env(gpu=False, env={"VLLM_ENABLE_V1_MULTIPROCESSING": "1"}) == {}


def test_the_gpu_is_asked_for_through_nvml_first(environ: dict[str, str]) -> None:
    seen: list[str | None] = []
    assert cuda_gpu_visible(_torch(True, seen)) is True
    assert seen == ["1"]  # set before torch's CUDA query, not after
    assert cuda_gpu_visible(_torch(RuntimeError("driver too old"), seen)) is False


def test_prepare_environment_on_a_gpu_and_on_a_cpu(environ: dict[str, str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str | None] = []
    monkeypatch.setitem(sys.modules, "torch", _torch(True, seen))  # what `import torch` gives
    assert _prepare_environment() is False  # a GPU
    assert seen == ["1"]
    assert os.environ["VLLM_WORKER_MULTIPROC_METHOD"] == "spawn"
    assert "VLLM_ENABLE_V1_MULTIPROCESSING" not in os.environ
    for key in VARS:
        os.environ.pop(key, None)
    monkeypatch.setitem(sys.modules, "torch", _torch(False, seen))
    assert _prepare_environment() is True  # no GPU
    assert os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"
    assert "VLLM_WORKER_MULTIPROC_METHOD" not in os.environ


@pytest.mark.engine  # imports vLLM (~10 s): with the slow tests
def test_installed_vllm_spawns_when_told(environ: dict[str, str]) -> None:
    """vLLM 0.32 reads VLLM_WORKER_MULTIPROC_METHOD when it starts a process (default fork)."""
    pytest.importorskip("vllm")
    from vllm.utils.system_utils import get_mp_context

    environ.update(engine_process_env(gpu=True, env=environ))
    assert get_mp_context().get_start_method() == "spawn"
    environ["VLLM_WORKER_MULTIPROC_METHOD"] = "fork"
    assert get_mp_context().get_start_method() == "fork"  # no CUDA initialised here
