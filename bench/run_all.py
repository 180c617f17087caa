"""Run every benchmark, each in its own process, and print one summary table.

    python bench/run_all.py            # or: make bench
    PYTHONPATH=src:. python bench/run_all.py --only stats startup

Must finish in under 10 minutes on a 2-core CPU machine without a GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, Row, child_env, fmt_s, print_rows

BENCHES = {  # name -> (script, timeout in seconds)
    "startup": ("bench_startup.py", 120),
    "stats": ("bench_stats.py", 300),
    "results": ("bench_results_table.py", 240),
    "engine": ("bench_engine.py", 360),
    "servers": ("bench_servers.py", 900),
    "geometry": ("bench_geometry.py", 600),
    "rating-only": ("bench_rating_only.py", 900),
    "figures": ("figures_speed.py", 300),
}


def machine() -> str:
    try:
        load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        load = "?"
    try:
        import vllm

        vllm_version = vllm.__version__
    except Exception:
        vllm_version = "not installed"
    gpu = "no GPU"
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            gpu = out.stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError):
        pass
    return (f"{platform.node()}: {os.cpu_count()} CPUs, {gpu}, load average {load}; "
            f"Python {platform.python_version()}, vLLM {vllm_version}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="+", choices=list(BENCHES), help="run only these")
    parser.add_argument("--work", type=Path, default=REPO / "bench" / ".work")
    args = parser.parse_args()
    names = args.only or list(BENCHES)
    print(f"machine: {machine()}", flush=True)
    rows: list[Row] = []
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            script, timeout = BENCHES[name]
            out = Path(tmp) / f"{name}.json"
            print(f"\n=== {name} ({script}) ===", flush=True)
            t0 = time.perf_counter()
            cmd = [sys.executable, str(REPO / "bench" / script), "--json-out", str(out),
                   "--work", str(args.work)]
            try:
                proc = subprocess.run(cmd, env=child_env(), timeout=timeout, check=False)
                code = proc.returncode
            except subprocess.TimeoutExpired:
                code = "timeout"
            took = time.perf_counter() - t0
            if code == 0 and out.is_file():
                rows += [Row(**r) for r in json.loads(out.read_text())]
            else:
                rows.append(Row(name, f"FAILED ({code}) after {fmt_s(took)}", "", met="no"))
            print(f"--- {name}: {fmt_s(took)}", flush=True)
    total = time.perf_counter() - t_all
    print(f"\n=== summary ({fmt_s(total)} in all; machine: {machine()}) ===")
    print_rows(rows)
    return 0 if all(not r.what.startswith("FAILED") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
