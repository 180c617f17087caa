"""Start-up with vLLM installed: `vlmrate --help` and the TUI's first frame, as whole
processes, and whether vllm, torch or transformers were imported on the way.

Target (issue 8): <= 1.5 s each (vLLM, torch and transformers imported only when a run
starts). The bare interpreter start (`python -c pass`) is printed beside them.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Row, child_env, finish, fmt_s, parse_args, run_timed, vlmrate_cmd

BENCH = "startup"
REPEATS = 5
HEAVY = ("vllm", "torch", "transformers")

# The TUI as `vlmrate` (no command) opens it, headless; the auto-pilot runs once the first
# screen is mounted and painted, records the time since the parent spawned this process,
# and quits.
TUI_CHILD = r"""
import json, sys, time
from pathlib import Path
T0 = float(sys.argv[1])
import vlmrate.cli  # the entry point's own imports
from vlmrate.tui.app import VlmrateApp

first = {}

async def pilot(p):
    await p.pause()
    first["s"] = time.time() - T0
    first["screen"] = type(p.app.screen).__name__
    first["heavy"] = [m for m in ("vllm", "torch", "transformers") if m in sys.modules]
    p.app.exit(0)

app = VlmrateApp(runs_dir=Path(sys.argv[2]), prompts_dir=Path(sys.argv[3]))
app.run(headless=True, size=(100, 30), auto_pilot=pilot)
print(json.dumps(first))
"""

MODULES_CHILD = r"""
import json, sys
import vlmrate.cli, vlmrate.running.runner, vlmrate.commands.run, vlmrate.commands.stats
vlmrate.cli.build_parser()
print(json.dumps([m for m in ("vllm", "torch", "transformers") if m in sys.modules]))
"""


def _median(cmd: list[str], n: int = REPEATS) -> tuple[float, list[float]]:
    times = []
    for _ in range(n):
        seconds, proc = run_timed(cmd)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr[-1500:]}")
        times.append(seconds)
    return statistics.median(times), times


def main(argv: list[str] | None = None) -> list[Row]:
    args = parse_args(argv, __doc__ or "")
    rows: list[Row] = []
    try:
        import vllm  # noqa: F401 - the point is that it is installed
        vllm_state = "vLLM installed"
    except ImportError:
        vllm_state = "vLLM NOT installed (the numbers do not show its cost)"
    print(f"[startup] {vllm_state}; median of {REPEATS} runs each", flush=True)

    bare, _ = _median([sys.executable, "-c", "pass"])
    print(f"  python -c pass: {fmt_s(bare)}")
    helps, times = _median(vlmrate_cmd("--help"))
    print(f"  vlmrate --help: {fmt_s(helps)} ({', '.join(fmt_s(t) for t in times)})",
          flush=True)
    rows.append(Row(BENCH, "vlmrate --help", fmt_s(helps), f"{fmt_s(bare)} bare python", "",
                    "<= 1.5 s", "yes" if helps <= 1.5 else "no"))

    _, proc = run_timed([sys.executable, "-c", MODULES_CHILD])
    heavy_cli = json.loads(proc.stdout) if proc.returncode == 0 else ["(check failed)"]
    print(f"  heavy modules after importing the CLI and the run/stats commands: "
          f"{heavy_cli or 'none'}")
    rows.append(Row(BENCH, "vllm/torch/transformers imported by the CLI",
                    ", ".join(heavy_cli) or "none", target="none",
                    met="yes" if not heavy_cli else "no"))

    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp) / "runs"
        runs.mkdir()
        firsts, walls, heavy_tui = [], [], []
        for _ in range(REPEATS):
            cmd = [sys.executable, "-c", TUI_CHILD, repr(time.time()), str(runs),
                   str(Path(tmp) / "prompts")]
            wall, proc = run_timed(cmd, cwd=Path(tmp), env=child_env(TERM="xterm-256color"))
            if proc.returncode != 0 or not proc.stdout.strip():
                raise RuntimeError(f"TUI child failed: {proc.stderr[-1500:]}")
            info = json.loads(proc.stdout.strip().splitlines()[-1])
            firsts.append(info["s"])
            walls.append(wall)
            heavy_tui = info["heavy"]
    first = statistics.median(firsts)
    print(f"  TUI first frame ({info['screen']}): {fmt_s(first)} "
          f"({', '.join(fmt_s(t) for t in firsts)}); whole process to exit "
          f"{fmt_s(statistics.median(walls))}")
    print(f"  heavy modules when the first frame is up: {heavy_tui or 'none'}")
    rows.append(Row(BENCH, "TUI first frame", fmt_s(first), "", "", "<= 1.5 s",
                    "yes" if first <= 1.5 else "no"))
    rows.append(Row(BENCH, "vllm/torch/transformers imported by the TUI",
                    ", ".join(heavy_tui) or "none", target="none",
                    met="yes" if not heavy_tui else "no"))
    return finish(rows, args.json_out)


if __name__ == "__main__":
    from _common import print_rows

    print_rows(main())
