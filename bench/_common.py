"""Helpers shared by the benchmarks: timing, subprocesses, synthetic studies, result rows.

Every benchmark script has ``main(argv) -> list[Row]``; run alone it prints its own lines,
and ``--json-out FILE`` writes the rows for ``bench/run_all.py``'s summary table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
PROMPTS = REPO / "prompts"
ASPECTS = ("relevance", "arousal", "valence")


@dataclass
class Row:
    """One line of the summary: what, vlmrate's number, the baseline's, ratio, target."""

    bench: str
    what: str
    value: str
    baseline: str = ""
    ratio: str = ""
    target: str = ""
    met: str = ""  # "yes" | "no" | "" (no target) | "skipped"


def child_env(**extra: str) -> dict[str, str]:
    """Environment for a child process that imports vlmrate from this checkout."""
    env = dict(os.environ)
    parts = [str(SRC), str(REPO)]
    if env.get("PYTHONPATH"):  # the caller's path wins (e.g. a checkout under test)
        parts.insert(0, env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(parts)
    env.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.update(extra)
    return env


def run_timed(cmd: list[str], *, cwd: Path | None = None, timeout: float = 600,
              env: dict[str, str] | None = None) -> tuple[float, subprocess.CompletedProcess]:
    """Wall time (s) of a whole child process, from spawn to exit."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env or child_env(), capture_output=True,
                          text=True, timeout=timeout, check=False)
    return time.perf_counter() - t0, proc


def median_of(fn: Callable[[], float], repeats: int) -> tuple[float, list[float]]:
    times = [fn() for _ in range(max(1, repeats))]
    return statistics.median(times), times


def vlmrate_cmd(*args: str) -> list[str]:
    """`vlmrate ARGS` as this interpreter runs it (the console script may not be installed)."""
    return [sys.executable, "-m", "vlmrate.cli", *args]


def fmt_s(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    return f"{seconds / 60:.1f} min"


def fmt_ratio(ratio: float) -> str:
    return f"{ratio:.1f}x"


def skipped(bench: str, module: str, error: BaseException | None = None) -> list[Row]:
    detail = f" ({type(error).__name__}: {error})" if error else ""
    print(f"skipped: {module} not available yet{detail}", flush=True)
    return [Row(bench, f"skipped: {module} not available yet", "", met="skipped")]


def parse_args(argv: list[str] | None, description: str,
               add: Callable[[argparse.ArgumentParser], None] | None = None
               ) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--json-out", type=Path, help="write the result rows here (run_all)")
    parser.add_argument("--work", type=Path, default=REPO / "bench" / ".work",
                        help="scratch folder for generated studies (default bench/.work)")
    if add:
        add(parser)
    return parser.parse_args(argv)


def finish(rows: list[Row], json_out: Path | None) -> list[Row]:
    if json_out is not None:
        json_out.write_text(json.dumps([asdict(r) for r in rows], indent=1))
    return rows


# --- synthetic studies -------------------------------------------------------------------

def synthetic_study(n_images: int, repeats: int = 10, seed: int = 0,
                    missing: float = 0.01) -> tuple[Any, Any]:
    """(ratings long frame, human wide frame) of a realistic study, as polars frames.

    Human means: relevance bimodal-ish, arousal and valence negatively correlated.
    The model: a biased, shrunk copy of the human mean per image plus image-level
    disagreement, and per-answer noise (SD ~0.9), rounded to 1..9; ~1% unparsed answers.
    """
    import polars as pl

    rng = np.random.default_rng(seed)
    ids = [f"img{i:05d}" for i in range(1, n_images + 1)]
    rel = np.clip(np.where(rng.random(n_images) < 0.6, rng.normal(6.8, 1.2, n_images),
                           rng.normal(3.0, 1.3, n_images)), 1, 9)
    aro = np.clip(rng.normal(5.0, 1.4, n_images), 1, 9)
    val = np.clip(5.5 - 0.5 * (aro - 5.0) + rng.normal(0, 1.3, n_images), 1, 9)
    human = {"relevance": rel, "arousal": aro, "valence": val}
    bias = {"relevance": 0.4, "arousal": -0.3, "valence": 0.1}
    frames = []
    for aspect in ASPECTS:
        h = human[aspect]
        latent = 5.0 + bias[aspect] + 0.8 * (h - 5.0) + rng.normal(0, 0.7, n_images)
        answers = latent[:, None] + rng.normal(0, 0.9, (n_images, repeats))
        rating = np.clip(np.rint(answers), 1, 9).astype(np.int64).ravel()
        mask = rng.random(rating.size) < missing
        frame = pl.DataFrame({
            "image_id": np.repeat(ids, repeats),
            "aspect": [aspect] * rating.size,
            "repeat": np.tile(np.arange(1, repeats + 1), n_images),
            "rating": rating,
        })
        frames.append(frame.with_columns(
            pl.when(pl.Series(mask)).then(None).otherwise(pl.col("rating")).alias("rating")))
    ratings = pl.concat(frames).sort("image_id", maintain_order=True)
    human_wide = pl.DataFrame({"image": ids, **{a: np.round(human[a], 2) for a in ASPECTS}})
    return ratings, human_wide


def imported_run(work: Path, n_images: int, repeats: int = 10, seed: int = 0) -> Path:
    """An imported run of a synthetic study (cached in ``work``); returns its folder."""
    from vlmrate.runfolder.importer import import_run

    name = f"synth-{n_images}x{repeats}-s{seed}"
    runs = work / "runs"
    run_dir = runs / name
    if (run_dir / "manifest.json").is_file() and (run_dir / "human.parquet").is_file():
        return run_dir
    import shutil

    shutil.rmtree(run_dir, ignore_errors=True)
    src = work / "sheets"
    src.mkdir(parents=True, exist_ok=True)
    ratings, human = synthetic_study(n_images, repeats, seed)
    ratings_csv, human_csv = src / f"{name}-ratings.csv", src / f"{name}-human.csv"
    ratings.write_csv(ratings_csv)
    human.write_csv(human_csv)
    t0 = time.perf_counter()
    import_run(ratings_csv, human_csv, name, runs, model="synthetic")
    print(f"  (imported {name}: {ratings.height:,} ratings in {fmt_s(time.perf_counter() - t0)})",
          flush=True)
    return run_dir


def print_rows(rows: list[Row]) -> None:
    header = ("benchmark", "measure", "vlmrate", "baseline", "ratio", "target", "met")
    table = [header, *[(r.bench, r.what, r.value, r.baseline, r.ratio, r.target, r.met)
                       for r in rows]]
    widths = [max(len(str(line[i])) for line in table) for i in range(len(header))]
    for j, line in enumerate(table):
        print("  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
        if j == 0:
            print("  ".join("-" * w for w in widths))


class KeptOpenEngine:
    """An engine the Runner may start and close as often as it likes while the real one
    (``inner``) stays loaded: start() starts it the first time only (its time kept in
    ``start_s``), close() leaves it running; rating, cancelling and info go through.
    Benchmarks measure several runs on one loaded model with it."""

    def __init__(self, inner: Any = None) -> None:
        self.inner = inner
        self.start_s = 0.0
        self._started = inner is not None  # given an engine: already started

    async def start(self) -> None:
        if not self._started:
            t0 = time.perf_counter()
            await self.inner.start()
            self.start_s = time.perf_counter() - t0
            self._started = True

    def rate(self, requests: Any) -> Any:
        return self.inner.rate(requests)

    async def cancel(self) -> None:
        await self.inner.cancel()

    async def close(self) -> None:
        return None

    def info(self) -> dict[str, Any]:
        return self.inner.info()
