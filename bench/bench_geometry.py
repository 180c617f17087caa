"""Prefix reuse with the real LLaVA-1.6 geometry: image-major vs shuffled order when the KV
cache cannot hold every image's prefix.

The model is the tiny random-weight LLaVA-NeXT with llava-v1.6-vicuna-13b's image geometry
(vlmrate.engines.tiny_model.build_tiny_llava_next_real_geometry): an 800x600 image is 2,340 image
tokens, a prompt ~2,460 tokens. The KV cache is sized (``kv_cache_memory_bytes``, which the
vLLM 0.32 CPU build honours like VLLM_CPU_KVCACHE_SPACE but in bytes) to hold the prefixes
of about ``--cache-images`` images at once, fewer than the study's images — the situation of
a 13B model on a GPU, whose KV budget (~45 GB on an H100 at 0.82 MB/token) holds ~20 of
the reference study's 320 image prefixes.

Each order rates its own synthetic 800x600 images (no order finds another's images in a
cache) through the Runner and one shared, already started VllmEngine; a warm-up study runs
first. Prefix-cache hit rates (tokens) and multimodal-cache hit rates (images) are deltas
of vLLM's Prometheus counters, as in bench_engine.py.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PROMPTS, Row, finish, fmt_ratio, fmt_s, parse_args, skipped

BENCH = "geometry"


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", type=int, default=12, help="images per order (default 12)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--cache-images", type=float, default=3.0,
                        help="KV cache size in image prefixes (default 3)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="runs of each order, alternating (median reported)")
    parser.add_argument("--max-in-flight", type=int, default=256)
    parser.add_argument("--max-num-batched-tokens", type=int, default=0,
                        help="vLLM's step token budget, which also sizes its encoder budget "
                             "and encoder cache (default 0: VllmEngine's, 4 x the context "
                             "length on the CPU = 16,384 here, ~5 images of <= 2,928 tokens)")


def _dataset(dest: Path, n_images: int, seed: int) -> Path:
    """n 800x600 images with random shapes (distinct content: no cross-order cache hits)."""
    import random

    from PIL import Image, ImageDraw

    images = dest / "images"
    if images.is_dir() and len(list(images.glob("*.png"))) == n_images:
        return dest
    images.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    for i in range(n_images):
        img = Image.new("RGB", (800, 600), tuple(rng.randrange(256) for _ in range(3)))
        draw = ImageDraw.Draw(img)
        for _ in range(8):
            x, y = rng.randrange(800), rng.randrange(600)
            draw.rectangle((x, y, x + rng.randrange(40, 300), y + rng.randrange(40, 300)),
                           fill=tuple(rng.randrange(256) for _ in range(3)))
        img.save(images / f"g{seed}_{i:03d}.png")
    return dest


def _kv_bytes_per_token(model: Path) -> int:
    """K and V of every layer in the engine's dtype (the CPU build runs bf16: 2 bytes)."""
    import json

    text = json.loads((model / "config.json").read_text())["text_config"]
    heads = text["num_attention_heads"]
    head_dim = text.get("head_dim") or text["hidden_size"] // heads
    return 2 * text["num_hidden_layers"] * text.get("num_key_value_heads", heads) * head_dim * 2


def _kv_tokens_from_log(log: Path) -> int | None:
    match = re.search(r"KV cache size: ([\d,]+) tokens", log.read_text(errors="replace"))
    return int(match.group(1).replace(",", "")) if match else None


async def _bench(args: argparse.Namespace, model: Path, datasets: dict[str, Path],
                 kv_bytes: int) -> dict[str, Any]:
    from bench_engine import _runner_phase

    from vlmrate.engines.base import SamplingConfig
    from vlmrate.engines.tiny_model import REAL_MAX_MODEL_LEN
    from vlmrate.engines.vllm import VllmEngine
    from vlmrate.inputs.study import load_study

    study = load_study("reference", PROMPTS)
    sampling = SamplingConfig(temperature=study.temperature, top_p=study.top_p,
                              max_tokens=args.max_tokens, structured=True)
    log = args.work / "geometry-vllm.log"
    log.unlink(missing_ok=True)
    engine = VllmEngine(str(model), sampling, max_in_flight=args.max_in_flight, log_file=log,
                        enforce_eager=True, max_model_len=REAL_MAX_MODEL_LEN,
                        extra={"disable_log_stats": False, "kv_cache_memory_bytes": kv_bytes,
                               **({"max_num_batched_tokens": args.max_num_batched_tokens}
                                  if args.max_num_batched_tokens else {})})
    t0 = time.perf_counter()
    await engine.start()
    out: dict[str, Any] = {"start_s": time.perf_counter() - t0,
                           "kv_tokens": _kv_tokens_from_log(log)}
    print(f"  engine started in {fmt_s(out['start_s'])}; KV cache {out['kv_tokens']} tokens",
          flush=True)
    try:
        warm = await _runner_phase(engine, datasets["warmup"], model, args, "geo-warmup",
                                   shuffle=False)
        print(f"  warm-up: {warm['answers']} answers in {fmt_s(warm['seconds'])}", flush=True)
        for i in range(args.rounds):
            order = ("major", "shuffled") if i % 2 == 0 else ("shuffled", "major")
            for kind in order:
                phase = await _runner_phase(engine, datasets[f"{kind}{i}"], model, args,
                                            f"geo-{kind}{i}", shuffle=kind == "shuffled",
                                            collect=True)
                if phase["errors"]:
                    raise RuntimeError(f"{kind}: {phase['errors']} engine errors (see {log})")
                out.setdefault(kind, []).append(phase)
                print(f"  round {i + 1}, {kind}: {phase['answers']} answers in "
                      f"{fmt_s(phase['seconds'])}", flush=True)
    finally:
        await engine.close()
    return out


def main(argv: list[str] | None = None) -> list[Row]:
    args = parse_args(argv, __doc__ or "", _options)
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    for module in ("vlmrate.engines.vllm", "vlmrate.preflight.projection", "vllm"):
        try:
            __import__(module)
        except ImportError as exc:
            return finish(skipped(BENCH, module, exc), args.json_out)
    from bench_engine import CACHE_COUNTERS, _pct, _rate

    from vlmrate.engines.tiny_model import build_tiny_llava_next_real_geometry

    args.work.mkdir(parents=True, exist_ok=True)
    model = build_tiny_llava_next_real_geometry(args.work / "tiny-llava-next-real-geometry",
                                                prompt_dir=PROMPTS / "reference")
    kv_per_token = _kv_bytes_per_token(model)
    prefix_tokens = 2340 + 130  # image + template + a reference prompt (~120 tokens)
    kv_bytes = int(args.cache_images * prefix_tokens * kv_per_token)
    print(f"[geometry] {args.images} images (800x600, 2,340 image tokens) x 3 aspects x "
          f"{args.repeats} repeats per order; KV cache {kv_bytes / 1e6:.1f} MB "
          f"= {args.cache_images:g} image prefixes", flush=True)
    datasets = {"warmup": _dataset(args.work / "geo-data" / "warmup", args.images, 200)}
    for i in range(args.rounds):
        for kind, base in (("major", 210), ("shuffled", 220)):
            datasets[f"{kind}{i}"] = _dataset(args.work / "geo-data" / f"{kind}{i}",
                                              args.images, base + i)
    res = asyncio.run(_bench(args, model, datasets, kv_bytes))

    def merged(kind: str) -> dict[str, Any]:
        phases = res[kind]
        return {"seconds": statistics.median(p["seconds"] for p in phases),
                "answers": phases[0]["answers"],
                "delta": {k: sum(p["delta"][k] for p in phases) for k in CACHE_COUNTERS}}

    major, shuffled = merged("major"), merged("shuffled")
    for label, phase in (("image-major", major), ("shuffled", shuffled)):
        d = phase["delta"]
        print(f"  {label:11s}: prefix-cache hit rate {_pct(_rate(d, 'prefix'))} "
              f"({d['vllm:prefix_cache_hits']:.0f}/{d['vllm:prefix_cache_queries']:.0f} "
              f"tokens), mm-cache hit rate {_pct(_rate(d, 'mm'))}, "
              f"{fmt_s(phase['seconds'])} for {phase['answers']} answers")
    cache = f"KV cache {res['kv_tokens']} tokens (~{args.cache_images:g} image prefixes)"
    rows = [
        Row(BENCH, f"prefix-cache hits, image-major vs shuffled ({cache})",
            _pct(_rate(major["delta"], "prefix")),
            _pct(_rate(shuffled["delta"], "prefix")) + " shuffled"),
        Row(BENCH, "mm-cache hits, image-major vs shuffled", _pct(_rate(major["delta"], "mm")),
            _pct(_rate(shuffled["delta"], "mm")) + " shuffled"),
        Row(BENCH, f"study time, {major['answers']} answers, image-major vs shuffled",
            fmt_s(major["seconds"]), fmt_s(shuffled["seconds"]) + " shuffled",
            fmt_ratio(shuffled["seconds"] / major["seconds"])),
        Row(BENCH, "engine start (real-geometry tiny model, CPU)", fmt_s(res["start_s"])),
    ]
    return finish(rows, args.json_out)


if __name__ == "__main__":
    from _common import print_rows

    print_rows(main())
