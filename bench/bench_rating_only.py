"""Rating-only answers (`vlmrate run --rating-only`) against full answers (rating + reason)
through the real runner and vLLM's CPU build with the tiny random-weight LLaVA-NeXT.

Both modes rate the same synthetic images with the same repeats, seeds and temperature;
each mode runs in its own process (its own engine: the structured-output template is part
of the engine's sampling), warms up on images of its own first (vLLM compiles kernels for
new batch shapes on first use), then rates the measured images through `Runner` exactly
as `vlmrate run` does (full: --structured --logprobs; rating-only: --rating-only, which
implies both). Reported per mode: answers/s over the rating time (engine start excluded),
mean output tokens per answer, and the ratio rating-only / full.

Random weights under a constrained template write reasons of whatever length the
template allows, so the full mode's output tokens are set by --max-tokens (the reference
study's model writes ~80-token reasons; the reference study.toml allows 160).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    PROMPTS,
    KeptOpenEngine,
    Row,
    child_env,
    finish,
    fmt_ratio,
    fmt_s,
    parse_args,
    skipped,
)

BENCH = "rating-only"
MODES = ("full", "rating-only")


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3,
                        help="answers per image and aspect, both modes (default 3)")
    parser.add_argument("--max-tokens", type=int, default=96,
                        help="answer cap of the full mode (default 96)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="measured runs per mode, each on images of its own (median)")
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)  # the child
    parser.add_argument("--model-dir", type=Path,
                        help="tiny model folder (default: WORK/tiny-llava-next, built once)")


class KeptEngine(KeptOpenEngine):
    """The engine of the first run, started once and kept open for the next run."""

    def factory(self, config: Any, sampling: Any, log_file: Path) -> Any:
        from vlmrate.running.runner import make_engine

        if self.inner is None:
            self.inner = make_engine(config, sampling, log_file)
        return self


async def _child(args: argparse.Namespace, model: Path, data: dict[str, Path]) -> dict:
    from vlmrate.engines.tiny_model import TINY_ENGINE_OPTIONS
    from vlmrate.runfolder.store import read_ratings
    from vlmrate.running.runner import RunConfig, Runner

    engine = KeptEngine()
    rating_only = args.mode == "rating-only"
    out: dict[str, Any] = {"mode": args.mode}
    try:
        for phase in ["warmup", *[f"measured{i}" for i in range(args.rounds)]]:
            name = f"bench-{args.mode}-{phase}"
            runs = args.work / "rating-only-runs"
            shutil.rmtree(runs / name, ignore_errors=True)
            config = RunConfig(
                dataset=data[phase], prompts="reference", prompts_dir=PROMPTS,
                model=str(model), engine="vllm", repeats=args.repeats,
                max_tokens=None if rating_only else args.max_tokens,
                structured=not rating_only, logprobs=not rating_only,
                rating_only=rating_only, run_name=name, runs_dir=runs,
                engine_options=dict(TINY_ENGINE_OPTIONS))
            runner = Runner(config, engine_factory=engine.factory)
            runner.prepare()
            t0, cpu0 = time.perf_counter(), time.process_time()
            final = await runner.run()
            seconds = time.perf_counter() - t0 - (engine.start_s if phase == "warmup" else 0)
            cpu_s = time.process_time() - cpu0  # the engine runs in this process
            if final.status != "done":
                raise RuntimeError(f"{name} ended {final.status}: {final.message}")
            frame = read_ratings(runs / name)
            out[phase] = {
                "answers": frame.height, "seconds": seconds, "cpu_s": cpu_s,
                "output_tokens_mean": float(frame["output_tokens"].mean()),
                "prompt_tokens_mean": float(frame["prompt_tokens"].mean()),
                "valid": int(frame["rating"].is_not_null().sum()),
                "with_expected": int(frame["expected_rating"].is_not_null().sum()),
                "with_reason": int(frame["reason"].is_not_null().sum()),
            }
            print(f"  [{args.mode}] {phase}: {frame.height} answers in {fmt_s(seconds)}, "
                  f"{out[phase]['output_tokens_mean']:.1f} output tokens/answer", flush=True)
        out["start_s"] = engine.start_s
    finally:
        if engine.inner is not None:
            await engine.inner.close()
    return out


def _inputs(args: argparse.Namespace) -> tuple[Path, dict[str, Path]]:
    from vlmrate.engines.tiny_model import build_tiny_llava_next
    from vlmrate.inputs.demo_data import build_synthetic_dataset

    model = build_tiny_llava_next(args.model_dir or args.work / "tiny-llava-next")
    data = {}
    phases = [("warmup", 201), *[(f"measured{i}", 202 + i) for i in range(args.rounds)]]
    for phase, seed in phases:
        dest = args.work / "rating-only-data" / f"{phase}-{args.images}"
        if not (dest / "human.csv").is_file():
            build_synthetic_dataset(dest, n_images=args.images, seed=seed)
        data[phase] = dest
    return model, data


def main(argv: list[str] | None = None) -> list[Row]:
    args = parse_args(argv, __doc__ or "", _options)
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    for module in ("vlmrate.engines.vllm", "vlmrate.engines.tiny_model", "vllm"):
        try:
            __import__(module)
        except ImportError as exc:
            return finish(skipped(BENCH, module, exc), args.json_out)
    args.work.mkdir(parents=True, exist_ok=True)
    model, data = _inputs(args)
    if args.mode:  # the child: one mode, its result as JSON
        result = asyncio.run(_child(args, model, data))
        assert args.json_out is not None
        args.json_out.write_text(json.dumps(result))
        return []
    print(f"[rating-only] {args.images} images x 3 aspects x {args.repeats} repeats per mode; "
          f"full answers capped at {args.max_tokens} tokens", flush=True)
    results = {}
    for mode in MODES:
        out = args.work / f"rating-only-{mode}.json"
        cmd = [sys.executable, __file__, "--mode", mode, "--json-out", str(out),
               "--work", str(args.work), "--images", str(args.images),
               "--repeats", str(args.repeats), "--max-tokens", str(args.max_tokens),
               "--rounds", str(args.rounds)]
        if args.model_dir:
            cmd += ["--model-dir", str(args.model_dir)]
        proc = subprocess.run(cmd, env=child_env(), check=False, timeout=900)
        if proc.returncode != 0:
            raise SystemExit(f"the {mode} child failed ({proc.returncode})")
        results[mode] = json.loads(out.read_text())
    def median_round(mode: str) -> dict:
        rounds = [results[mode][f"measured{i}"] for i in range(args.rounds)]
        seconds = sorted(r["seconds"] for r in rounds)
        cpu = sorted(r["cpu_s"] for r in rounds)
        print(f"  [{mode}] rounds: " + ", ".join(
            f"{fmt_s(r['seconds'])} (CPU {fmt_s(r['cpu_s'])})" for r in rounds))
        return {**rounds[0], "seconds": seconds[len(seconds) // 2],
                "cpu_s": cpu[len(cpu) // 2],
                "output_tokens_mean": sum(r["output_tokens_mean"] for r in rounds)
                / len(rounds)}

    full, fast = median_round("full"), median_round("rating-only")
    rate_full = full["answers"] / full["seconds"]
    rate_fast = fast["answers"] / fast["seconds"]
    ratio = rate_fast / rate_full
    token_ratio = full["output_tokens_mean"] / fast["output_tokens_mean"]
    cpu_ratio = (full["cpu_s"] / full["answers"]) / (fast["cpu_s"] / fast["answers"])
    print(f"  -> median of {args.rounds} rounds: full: {rate_full:.2f} answers/s, {full['output_tokens_mean']:.1f} output "
          f"tokens/answer; rating-only: {rate_fast:.2f} answers/s, "
          f"{fast['output_tokens_mean']:.1f} output tokens/answer; "
          f"{fmt_ratio(ratio)} answers/s, {fmt_ratio(token_ratio)} fewer output tokens; "
          f"CPU time per answer {1000 * full['cpu_s'] / full['answers']:.0f} ms vs "
          f"{1000 * fast['cpu_s'] / fast['answers']:.0f} ms ({fmt_ratio(cpu_ratio)})")
    print(f"  engine start: full {fmt_s(results['full']['start_s'])}, rating-only "
          f"{fmt_s(results['rating-only']['start_s'])} (not counted)")
    n = full["answers"]
    rows = [
        Row(BENCH, f"full answers, {n} answers", f"{rate_full:.2f} answers/s",
            f"{full['output_tokens_mean']:.1f} tok/answer"),
        Row(BENCH, f"rating-only, {fast['answers']} answers", f"{rate_fast:.2f} answers/s",
            f"{fast['output_tokens_mean']:.1f} tok/answer", fmt_ratio(ratio)),
        Row(BENCH, "CPU time per answer, full / rating-only",
            f"{1000 * full['cpu_s'] / full['answers']:.0f} ms / "
            f"{1000 * fast['cpu_s'] / fast['answers']:.0f} ms", "", fmt_ratio(cpu_ratio)),
    ]
    return finish(rows, args.json_out)


if __name__ == "__main__":
    main()
