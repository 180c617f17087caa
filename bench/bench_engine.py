"""Engine scheduling on the CPU build with the tiny random-weight LLaVA-NeXT.

One in-process vLLM engine (vlmrate's VllmEngine) is started once and shared by every
phase; each phase rates its own, disjoint set of synthetic images so that no phase finds
another phase's images in the prefix or encoder cache.

- runner:   a 20-image x 3-aspect x 10-repeat study through the `vlmrate run` machinery
            (Runner, --structured, image-major order, in-flight window).
- shuffled: the same study through the Runner, but the requests reach the engine shuffled
            across images (image-major order destroyed) — prefix-reuse comparison.
- naive:    what a notebook does: one request at a time to the same engine, awaiting each
            (same prompts, chat template, sampling, seeds), in the notebook's image ->
            aspect -> repeat order. Under load a 2-core VM can take over a second per
            answer, so the loop stops after --naive-budget-s (at an image boundary) and
            projects its per-answer time to the whole study (printed as "projected").

Prefix-cache and multimodal-cache hit rates come from vLLM's own Prometheus counters
(vllm:prefix_cache_hits / vllm:prefix_cache_queries, in tokens; vllm:mm_cache_hits /
vllm:mm_cache_queries, in images), read with vllm.v1.metrics.reader.get_metrics_snapshot()
before and after each phase (stat logging is switched on for this engine).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import random
import statistics
import sys
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    PROMPTS,
    KeptOpenEngine,
    Row,
    finish,
    fmt_ratio,
    fmt_s,
    parse_args,
    skipped,
)

BENCH = "engine"
ASPECT_NAMES = ("relevance", "arousal", "valence")


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--max-tokens", type=int, default=32,
                        help="answer length cap, the same in every phase (default 32)")
    parser.add_argument("--naive-requests", type=int, default=0,
                        help="requests the naive loop runs at most (0 = the whole study)")
    parser.add_argument("--naive-budget-s", type=float, default=60.0,
                        help="stop the naive loop after this long (after a whole image) and "
                             "project its per-answer time to the study (default 60)")
    parser.add_argument("--max-in-flight", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3,
                        help="image-major and shuffled runs each (median reported)")
    parser.add_argument("--model-dir", type=Path,
                        help="tiny model folder (default: WORK/tiny-llava-next, built once)")


# --- inputs ------------------------------------------------------------------------------

def _dataset(work: Path, name: str, n_images: int, seed: int) -> Path:
    dest = work / "engine-data" / f"{name}-{n_images}"
    if (dest / "human.csv").is_file():
        return dest
    from vlmrate.inputs.demo_data import build_synthetic_dataset

    return build_synthetic_dataset(dest, n_images=n_images, seed=seed)


# --- vLLM metrics ------------------------------------------------------------------------

CACHE_COUNTERS = ("vllm:prefix_cache_queries", "vllm:prefix_cache_hits",
                  "vllm:mm_cache_queries", "vllm:mm_cache_hits")


def _counters() -> dict[str, float]:
    """Current totals of vLLM's cache counters (summed over engines/labels)."""
    from vllm.v1.metrics.reader import Counter, get_metrics_snapshot

    totals = dict.fromkeys(CACHE_COUNTERS, 0.0)
    for metric in get_metrics_snapshot():
        if isinstance(metric, Counter) and metric.name in totals:
            totals[metric.name] += float(metric.value)
    return totals


def _delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before[k] for k in before}


def _rate(delta: dict[str, float], kind: str) -> float | None:
    queries = delta[f"vllm:{kind}_cache_queries"]
    return delta[f"vllm:{kind}_cache_hits"] / queries if queries else None


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _merge(phases: list[dict[str, Any]]) -> dict[str, Any]:
    """Median time of several runs of one phase; cache counters summed."""
    delta = {k: sum(p["delta"][k] for p in phases) for k in CACHE_COUNTERS}
    return {"seconds": statistics.median(p["seconds"] for p in phases),
            "answers": phases[0]["answers"], "delta": delta, "n": len(phases)}


# --- engine wrappers ---------------------------------------------------------------------

class SharedEngine(KeptOpenEngine):
    """Hands the Runner an engine that is already started; close() leaves it running.
    With ``collect`` (or a shuffle seed) the whole study is gathered first (every image
    loaded), shuffled when asked, and then submitted."""

    def __init__(self, inner: Any, shuffle_seed: int | None = None, collect: bool = False
                 ) -> None:
        super().__init__(inner)
        self.shuffle_seed = shuffle_seed
        self.collect = collect or shuffle_seed is not None

    async def rate(self, requests: AsyncIterator[Any] | Iterable[Any]) -> AsyncIterator[Any]:
        if self.collect:
            items = [r async for r in requests] if hasattr(requests, "__aiter__") else list(
                requests)
            if self.shuffle_seed is not None:
                random.Random(self.shuffle_seed).shuffle(items)
            requests = items
        async for result in self.inner.rate(requests):
            yield result


# --- phases ------------------------------------------------------------------------------

async def _runner_phase(engine: Any, dataset: Path, model: Path, args: argparse.Namespace,
                        name: str, shuffle: bool, collect: bool = False) -> dict[str, Any]:
    from vlmrate.runfolder.settings import RunConfig
    from vlmrate.running.runner import Runner

    config = RunConfig(dataset=dataset, prompts="reference", prompts_dir=PROMPTS,
                       model=str(model), engine="vllm", repeats=args.repeats,
                       max_tokens=args.max_tokens, structured=True, run_name=name,
                       runs_dir=args.work / "engine-runs")
    import shutil

    shutil.rmtree(config.runs_dir / name, ignore_errors=True)
    wrapper = SharedEngine(engine, shuffle_seed=0 if shuffle else None, collect=collect)
    runner = Runner(config, engine_factory=lambda *_: wrapper)
    runner.prepare()
    before = _counters()
    t0 = time.perf_counter()
    final = await runner.run()
    seconds = time.perf_counter() - t0
    delta = _delta(before, _counters())
    if final.status != "done":
        raise RuntimeError(f"run {name} ended {final.status}: {final.message}")
    return {"seconds": seconds, "answers": final.done, "delta": delta,
            "errors": final.engine_errors, "unparsed": final.parse_failures}


async def _naive_phase(engine: Any, dataset: Path, args: argparse.Namespace,
                       budget_s: float) -> dict[str, Any]:
    from vlmrate.engines.base import RatingRequest
    from vlmrate.inputs.dataset import discover_images
    from vlmrate.inputs.images import load_image
    from vlmrate.inputs.study import load_study
    from vlmrate.runfolder.store import repeat_seed

    study = load_study("reference", PROMPTS)
    root = dataset / "images"
    requests = []
    total = 0
    for entry in discover_images(dataset):
        image = load_image(entry.path, root)
        for aspect in study.aspects:
            for repeat in range(1, args.repeats + 1):
                total += 1
                requests.append(RatingRequest(
                    image_id=entry.image_id, aspect=aspect.name, repeat=repeat,
                    seed=repeat_seed(0, entry.image_id, aspect.name, repeat),
                    prompt=aspect.prompt, image=image))
    if args.naive_requests:
        requests = requests[: args.naive_requests]
    before = _counters()
    t0 = time.perf_counter()
    per_image = len(requests) // len({r.image_id for r in requests}) if requests else 1
    done = 0
    for request in requests:  # one at a time, awaiting each answer
        async for _ in engine.rate([request]):
            pass
        done += 1
        if done % per_image == 0 and time.perf_counter() - t0 > budget_s:
            break
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "answers": done, "total": total,
            "delta": _delta(before, _counters())}


async def _bench(args: argparse.Namespace, model: Path, datasets: dict[str, Path]
                 ) -> dict[str, Any]:
    from vlmrate.engines.base import SamplingConfig
    from vlmrate.inputs.study import load_study

    vllm_engine = importlib.import_module("vlmrate.engines.vllm")

    study = load_study("reference", PROMPTS)
    sampling = SamplingConfig(temperature=study.temperature, top_p=study.top_p,
                              max_tokens=args.max_tokens, structured=True)
    engine = vllm_engine.VllmEngine(str(model), sampling, max_in_flight=args.max_in_flight,
                        log_file=args.work / "engine-vllm.log",
                        extra={"disable_log_stats": False})
    t0 = time.perf_counter()
    await engine.start()
    out: dict[str, Any] = {"start_s": time.perf_counter() - t0}
    print(f"  engine started in {fmt_s(out['start_s'])}", flush=True)
    try:
        # warm-up on its own images, a whole study and a few single requests: vLLM compiles
        # kernels for new batch shapes on first use (measured: the first full-size run took
        # 13 s, the next ones 2.5 s), which must not be charged to any one phase
        warm = await _runner_phase(engine, datasets["warmup"], model, args, "bench-warmup",
                                   shuffle=False)
        single = await _naive_phase(engine, datasets["warmup"], args, budget_s=0.0)
        print(f"  warm-up: {warm['answers']} answers in {fmt_s(warm['seconds'])}, then "
              f"{single['answers']} one at a time in {fmt_s(single['seconds'])}", flush=True)
        # rounds alternate the order (major, shuffled / shuffled, major) against drift
        labels = {"runner": "image-major", "collected": "image-major, all images loaded "
                  "first", "shuffled": "shuffled, all images loaded first"}
        for i in range(args.rounds):
            order = [("runner", "collected", "shuffled"), ("shuffled", "runner", "collected"),
                     ("collected", "shuffled", "runner")][i % 3]
            for kind in order:
                phase = await _runner_phase(engine, datasets[f"{kind}{i}"], model, args,
                                            f"bench-{kind}{i}", shuffle=kind == "shuffled",
                                            collect=kind == "collected")
                out.setdefault(kind, []).append(phase)
                print(f"  round {i + 1}, runner ({labels[kind]}): {phase['answers']} answers "
                      f"in {fmt_s(phase['seconds'])}", flush=True)
        out["naive"] = await _naive_phase(engine, datasets["naive"], args,
                                          budget_s=args.naive_budget_s)
        print(f"  naive loop: {out['naive']['answers']} answers in "
              f"{fmt_s(out['naive']['seconds'])}", flush=True)
    finally:
        await engine.close()
    return out


def main(argv: list[str] | None = None) -> list[Row]:
    args = parse_args(argv, __doc__ or "", _options)
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    try:
        import vllm  # noqa: F401 - an optional dependency: no engine benchmark without it
    except ImportError as exc:
        return finish(skipped(BENCH, "vllm", exc), args.json_out)
    from vlmrate.engines.tiny_model import build_tiny_llava_next

    args.work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    model = build_tiny_llava_next(args.model_dir or args.work / "tiny-llava-next")
    print(f"[engine] tiny model ready ({fmt_s(time.perf_counter() - t0)}); "
          f"{args.images} images x 3 aspects x {args.repeats} repeats, "
          f"max_tokens {args.max_tokens}, --structured", flush=True)
    specs = [("warmup", args.images, 100), ("naive", args.images, 103)]
    for i in range(args.rounds):
        specs += [(f"{kind}{i}", args.images, base + i)
                  for kind, base in (("runner", 110), ("shuffled", 120), ("collected", 130))]
    datasets = {name: _dataset(args.work, name, n, seed) for name, n, seed in specs}
    res = asyncio.run(_bench(args, model, datasets))

    runner, shuffled, naive = _merge(res["runner"]), _merge(res["shuffled"]), res["naive"]
    collected = _merge(res["collected"])
    per_answer = naive["seconds"] / naive["answers"]
    naive_total = per_answer * naive["total"]
    measured = "measured" if naive["answers"] == naive["total"] else (
        f"projected from {naive['answers']} answers at {fmt_s(per_answer)} each")
    ratio = naive_total / runner["seconds"]
    print(f"  -> vlmrate run: {fmt_s(runner['seconds'])} (median of {runner['n']}) "
          f"({runner['answers'] / runner['seconds']:.1f} answers/s); naive loop: "
          f"{fmt_s(naive_total)} ({measured}); ratio {fmt_ratio(ratio)}")
    rows = [Row(BENCH, f"run, {args.images}x3x{args.repeats} = {runner['answers']} answers",
                fmt_s(runner["seconds"]), f"{fmt_s(naive_total)} naive"
                + ("" if naive["answers"] == naive["total"] else " (projected)"),
                fmt_ratio(ratio), ">= 5x", "yes" if ratio >= 5 else "no")]
    for label, phase in (("image-major", runner), ("collected", collected),
                         ("shuffled", shuffled), ("naive", naive)):
        d = phase["delta"]
        print(f"  {label:11s}: prefix-cache hit rate {_pct(_rate(d, 'prefix'))} "
              f"({d['vllm:prefix_cache_hits']:.0f}/{d['vllm:prefix_cache_queries']:.0f} "
              f"tokens), mm-cache hit rate {_pct(_rate(d, 'mm'))} "
              f"({d['vllm:mm_cache_hits']:.0f}/{d['vllm:mm_cache_queries']:.0f} images), "
              f"{fmt_s(phase['seconds'])} for {phase['answers']} answers")
    d_im, d_sh = runner["delta"], shuffled["delta"]
    rows.append(Row(BENCH, "prefix-cache hits, image-major vs shuffled",
                    _pct(_rate(d_im, "prefix")), _pct(_rate(d_sh, "prefix")) + " shuffled"))
    rows.append(Row(BENCH, "mm-cache hits, image-major vs shuffled",
                    _pct(_rate(d_im, "mm")), _pct(_rate(d_sh, "mm")) + " shuffled"))
    rows.append(Row(BENCH, "study time, image-major vs shuffled", fmt_s(runner["seconds"]),
                    fmt_s(shuffled["seconds"]) + " shuffled",
                    fmt_ratio(shuffled["seconds"] / runner["seconds"])))
    rows.append(Row(BENCH, "study time, image-major: streamed vs all loaded first",
                    fmt_s(runner["seconds"]), fmt_s(collected["seconds"]) + " loaded first",
                    fmt_ratio(collected["seconds"] / runner["seconds"])))
    rows.append(Row(BENCH, "engine start (tiny model, CPU)", fmt_s(res["start_s"])))
    return finish(rows, args.json_out)


if __name__ == "__main__":
    from _common import print_rows

    print_rows(main())
