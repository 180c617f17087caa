"""`vlmrate stats RUN --json` (and `vlmrate export RUN`) as whole processes, on imported
synthetic studies of 320, 5,000 and 20,000 images x 3 aspects x 10 repeats, against the
pandas + pingouin notebook baseline in bench/baseline_stats.py (also a whole process).

Targets (issue 8): >= 20x faster than the baseline at 5,000 images; <= 5 s at 20,000.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    REPO,
    Row,
    child_env,
    finish,
    fmt_ratio,
    fmt_s,
    imported_run,
    parse_args,
    run_timed,
    vlmrate_cmd,
)

BENCH = "stats"
SIZES = (320, 5000, 20000)
# The baseline is slow at 20,000 images (see bench/README.md): opt in with --baseline-all.
BASELINE_SIZES = (320, 5000)
STATS_REPEATS = {320: 3, 5000: 3, 20000: 2}


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--baseline-all", action="store_true",
                        help="also run the (slow) baseline at sizes above 5,000")
    parser.add_argument("--no-export", action="store_true")


def _stats_once(run_dir: Path) -> float:
    seconds, proc = run_timed(vlmrate_cmd("stats", str(run_dir), "--json"), cwd=run_dir.parent)
    if proc.returncode != 0:
        raise RuntimeError(f"vlmrate stats failed ({proc.returncode}): {proc.stderr[-2000:]}")
    data = json.loads(proc.stdout)
    aspects = data["aspects"]
    assert set(aspects) == {"relevance", "arousal", "valence"}, aspects.keys()
    for name, aspect in aspects.items():
        k = aspect["errors_by_k"]
        assert len(k) == 10 and k[-1]["mae_subsets_ci"] is not None, name
        assert aspect["agreement"]["mae_ci"] is not None, name
    return seconds


def _baseline_once(work: Path, run_dir: Path) -> float:
    sheets = work / "sheets"
    cmd = [sys.executable, str(REPO / "bench" / "baseline_stats.py"),
           str(sheets / f"{run_dir.name}-ratings.csv"), str(sheets / f"{run_dir.name}-human.csv")]
    seconds, proc = run_timed(cmd, env=child_env(), timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"baseline failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return seconds


def _export_once(run_dir: Path, out: Path) -> float:
    out.unlink(missing_ok=True)
    seconds, proc = run_timed(vlmrate_cmd("export", str(run_dir), "-o", str(out)),
                              cwd=run_dir.parent)
    if proc.returncode != 0:
        raise RuntimeError(f"vlmrate export failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return seconds


def main(argv: list[str] | None = None) -> list[Row]:
    args = parse_args(argv, __doc__ or "", _options)
    has_export = not args.no_export

    rows: list[Row] = []
    work = args.work
    for n in args.sizes:
        print(f"[stats] {n:,} images x 3 aspects x 10 repeats", flush=True)
        run_dir = imported_run(work, n)
        # The first read of a run parses ratings.jsonl and keeps a Parquet copy; later reads
        # (the TUI, export, another stats) use it. Both are timed: cold first, then warm.
        for copy in run_dir.glob(".ratings-cache-*.parquet"):
            copy.unlink()
        cold = _stats_once(run_dir)
        print(f"  vlmrate stats --json, first read of the run (cold): {fmt_s(cold)}",
              flush=True)
        rows.append(Row(BENCH, f"stats --json, {n:,} images, cold", fmt_s(cold)))
        times = [_stats_once(run_dir) for _ in range(STATS_REPEATS.get(n, 1))]
        times.sort()
        ours = times[len(times) // 2]
        print(f"  vlmrate stats --json (warm): {fmt_s(ours)} (median of {len(times)}: "
              f"{', '.join(fmt_s(t) for t in times)})", flush=True)
        row = Row(BENCH, f"stats --json, {n:,} images, warm", fmt_s(ours))
        if n in BASELINE_SIZES or args.baseline_all:
            base = _baseline_once(work, run_dir)
            ratio = base / ours
            print(f"  pandas+pingouin baseline: {fmt_s(base)}  -> vlmrate is {fmt_ratio(ratio)}"
                  f" faster warm, {fmt_ratio(base / cold)} cold", flush=True)
            rows[-1].baseline, rows[-1].ratio = fmt_s(base), fmt_ratio(base / cold)
            row.baseline, row.ratio = fmt_s(base), fmt_ratio(ratio)
            if n == 5000:
                row.target, row.met = ">= 20x", "yes" if ratio >= 20 else "no"
        else:
            print("  baseline: not run at this size (minutes; --baseline-all runs it)")
            row.baseline = "not run"
        if n == 20000:
            row.target, row.met = "<= 5 s", "yes" if ours <= 5 else "no"
            rows[-1].target, rows[-1].met = "<= 5 s", "yes" if cold <= 5 else "no"
        rows.append(row)
        if has_export:
            xlsx = work / f"{run_dir.name}.xlsx"
            seconds = _export_once(run_dir, xlsx)
            size = xlsx.stat().st_size / 1e6 if xlsx.is_file() else 0.0
            print(f"  vlmrate export: {fmt_s(seconds)} ({size:.1f} MB workbook)", flush=True)
            rows.append(Row(BENCH, f"export, {n:,} images", fmt_s(seconds)))
    return finish(rows, args.json_out)


if __name__ == "__main__":
    from _common import print_rows

    print_rows(main())
