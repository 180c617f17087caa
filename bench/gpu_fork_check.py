"""Does a forked child still get the GPU? The order of vlmrate's GPU check, torch only.

vLLM's multiprocess engine core forks by default (it spawns only once
``torch.cuda.is_initialized()``). Before issue 22 vlmrate asked ``torch.cuda.is_available()``
before importing vLLM, without ``PYTORCH_NVML_BASED_CUDA_CHECK=1``: that runs
``cudaGetDeviceCount`` in the parent, and a child forked afterwards fails on its first CUDA
call. Each scenario runs in a fresh interpreter:

- ``old``: ``torch.cuda.is_available()`` with the CUDA-runtime check, then fork, then a CUDA
  tensor in the child (expected: the child fails);
- ``new``: ``PYTORCH_NVML_BASED_CUDA_CHECK=1`` set first (what
  ``vlmrate.engines.vllm.cuda_gpu_visible`` does), then the same (expected: the child works);
- ``new+spawn``: the NVML check, then a *spawned* child (what vlmrate now makes vLLM do).

Run: ``python bench/gpu_fork_check.py``. Without a CUDA GPU it says "no GPU available" and
exits 0. Prints one line per scenario and a JSON summary; exit 1 when the new order fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

_CHILD = r"""
import json, multiprocessing as mp, os, sys
nvml = sys.argv[1] == "nvml"
method = sys.argv[2]
if nvml:
    os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = "1"
else:
    os.environ.pop("PYTORCH_NVML_BASED_CUDA_CHECK", None)
import torch

def work(queue):
    try:
        x = torch.ones(4, device="cuda")
        queue.put({"ok": True, "value": float((x * 2).sum().item()),
                   "device": torch.cuda.get_device_name(0)})
    except Exception as exc:
        queue.put({"ok": False, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0]}"})

if __name__ == "__main__":
    available = torch.cuda.is_available()
    parent = {"available": available, "initialized": torch.cuda.is_initialized()}
    if not available:
        print(json.dumps({"parent": parent, "child": None}))
        sys.exit(0)
    ctx = mp.get_context(method)
    queue = ctx.Queue()
    proc = ctx.Process(target=work, args=(queue,))
    proc.start()
    proc.join(120)
    child = queue.get(timeout=5) if not queue.empty() else {"ok": False, "error": f"exit {proc.exitcode}"}
    print(json.dumps({"parent": parent, "child": child}))
"""

SCENARIOS = {"old": ("runtime", "fork"), "new": ("nvml", "fork"), "new+spawn": ("nvml", "spawn")}


def _run(check: str, method: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTORCH_NVML_BASED_CUDA_CHECK"}
    proc = subprocess.run([sys.executable, "-c", _CHILD, check, method], env=env,
                          capture_output=True, text=True, timeout=300)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"error": (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]}
    return json.loads(lines[-1])


def main() -> int:
    try:
        import torch
    except ImportError:
        print("torch is not installed: nothing to check")
        return 0
    os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = "1"  # this process: no CUDA init either
    if not torch.cuda.is_available():
        print(f"no GPU available (torch {torch.__version__}, CUDA build: "
              f"{torch.version.cuda or 'no'}): nothing to check")
        print(json.dumps({"gpu": False}))
        return 0
    results = {name: _run(*how) for name, how in SCENARIOS.items()}
    for name, result in results.items():
        child = result.get("child") or {}
        verdict = ("child OK" if child.get("ok") else
                   f"child FAILED: {child.get('error') or result.get('error')}")
        print(f"{name:10s} ({' then '.join(SCENARIOS[name])}): {verdict}")
    print(json.dumps({"gpu": True, **results}))
    new_ok = all((results[n].get("child") or {}).get("ok") for n in ("new", "new+spawn"))
    return 0 if new_ok else 1


if __name__ == "__main__":
    sys.exit(main())
