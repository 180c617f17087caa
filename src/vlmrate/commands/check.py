"""`vlmrate check [DATASET]`: will this study fit this GPU, and how long will it take?

A preflight that loads no model: GPUs (NVML/torch when present), vLLM's version, the model's
local copy, its memory and KV arithmetic (vlmrate.engines.model_specs), the dataset's image tokens
and a projected study time (vlmrate.preflight.projection). ``--measure`` rates a few images for real
and replaces the projected time by the measured rate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

from vlmrate.commands.common import SafeConsole
from vlmrate.commands.option_types import whole
from vlmrate.errors import UserError
from vlmrate.preflight.hardware import vllm_imports
from vlmrate.preflight.projection import ANSWER_TOKENS_FULL, ANSWER_TOKENS_RATING_ONLY, GPU_TABLE
from vlmrate.preflight.report import CheckRequest
from vlmrate.preflight.report import build_report as make_report
from vlmrate.preflight.report import format_bytes as _bytes
from vlmrate.preflight.report import format_seconds as _seconds
from vlmrate.runfolder.settings import DEFAULT_MODEL
from vlmrate.runfolder.shapes import MAX_REPEATS

#: Images rated by --measure.
MEASURE_IMAGES = 3


def add_parser(sub: Any) -> None:
    check = sub.add_parser("check", help="preflight: GPU, model memory, image tokens, "
                           "projected study time (loads no model)")
    check.add_argument("dataset", type=Path, nargs="?",
                       help="folder of images (default: the reference study, 320 x 800x600)")
    check.add_argument("--model", default=DEFAULT_MODEL)
    check.add_argument("--engine", choices=("vllm", "openai"), default="vllm")
    check.add_argument("--prompts", default="reference", help="prompt set (default: reference)")
    check.add_argument("--repeats", type=whole(1, MAX_REPEATS),
                       help="answers per image and aspect (study default; 1 with --rating-only)")
    check.add_argument("--rating-only", action="store_true",
                       help=f"answers are 'Rating: N' (~{ANSWER_TOKENS_RATING_ONLY} tokens, "
                            f"not ~{ANSWER_TOKENS_FULL})")
    check.add_argument("--gpu", help=f"project for this GPU ({', '.join(GPU_TABLE)}); "
                       "default: the first visible one")
    check.add_argument("--measure", action="store_true",
                       help=f"rate {MEASURE_IMAGES} images for real and use the measured rate")
    check.add_argument("--import-check", action="store_true",
                       help="also import vLLM (in a child process: takes seconds)")
    check.add_argument("--json", action="store_true", help="one JSON object")


def build_report(args: argparse.Namespace) -> dict[str, Any]:
    if args.measure and args.dataset is None:
        raise UserError("--measure needs a DATASET to rate")
    request = CheckRequest(dataset=args.dataset, model=args.model, engine=args.engine,
                           prompts=args.prompts, repeats=args.repeats,
                           rating_only=args.rating_only, gpu=args.gpu)
    report = make_report(request)
    if report["vllm_version"] and (args.import_check or args.measure):
        report["vllm_imports"], report["vllm_import_message"] = vllm_imports()
    elif report["vllm_version"]:
        report["vllm_import_message"] = "not tried (--import-check)"
    if not report["model_local_dir"] and report["engine"] == "vllm":
        from vlmrate.engines.model_source import model_problem

        # "downloaded on first run" only when a download can happen
        report["model_problem"] = model_problem(report["model"], probe_timeout_s=2.0)
    if args.measure:
        report["measured"] = measure(args, report["repeats"])
        if report["measured"].get("answers_per_s"):
            report["projected_s"] = report["answers"] / report["measured"]["answers_per_s"]
    return report


def measure(args: argparse.Namespace, repeats: int) -> dict[str, Any]:
    """Rate the first few images for real (engine start excluded) and time it."""
    from vlmrate.running.runner import RunConfig, Runner

    if args.dataset is None:
        raise UserError("--measure needs a DATASET to rate")
    with tempfile.TemporaryDirectory(prefix="vlmrate-check-") as tmp:
        config = RunConfig(
            dataset=args.dataset, prompts=args.prompts, model=args.model, engine=args.engine,
            repeats=repeats, structured=True, rating_only=bool(args.rating_only),
            run_name="check-measure", runs_dir=Path(tmp), limit=MEASURE_IMAGES,
        )
        final = asyncio.run(Runner(config).run())
    # one clock for the numbers shown and the projection: the time spent rating (the
    # model load is not part of it; it said "90 answers in 23.0 s", then 12 s for 360)
    running = getattr(final, "running_s", None) or final.elapsed_s
    rate = final.done / running if final.done and running > 0 else None
    return {"images": MEASURE_IMAGES, "answers": final.done, "wall_s": running,
            "load_s": max(0.0, final.elapsed_s - running), "answers_per_s": rate,
            "status": final.status,
            "note": "the time spent rating, model load not counted; a short run's rate is "
                    "a floor for a long one"}


def render(report: dict[str, Any]) -> Any:
    from rich.table import Table

    table = Table(title="vlmrate check", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    if report["gpus"]:
        for g in report["gpus"]:
            table.add_row(f"GPU {g['index']}", f"{g['name']}, {_bytes(g['memory_bytes'])}")
    else:
        table.add_row("GPU", f"no GPU visible (probed: {report['gpu_probe']})")
    table.add_row("vLLM", f"{report['vllm_version']} ({report['vllm_distribution']}); "
                  f"import: {report['vllm_import_message']}" if report["vllm_version"]
                  else "not installed")
    table.add_row("engine", report["engine"] if report["engine"] == "vllm" else
                  "openai: the model runs on the server; its GPU is not seen from here "
                  "(name it with --gpu)")
    local = report["model_local_dir"]
    table.add_row("model", report["model"])
    table.add_row("  local copy", f"{local} ({_bytes(report['model_bytes_on_disk'])})"
                  if local else report.get("model_problem") or
                  "not in the local Hugging Face cache (downloaded on first run)")
    table.add_row("  shape from", report["model_spec_source"])
    table.add_row("  weights", _bytes(report["weight_bytes"]))
    kv = report["kv_bytes_per_token"]
    table.add_row("  KV cache per token", f"{kv / 1e6:.2f} MB ({kv:,} bytes)")
    tokens = report["image_tokens"]
    table.add_row("dataset", f"{report['dataset']}: {report['images']} images"
                  + (f" ({len(report['unreadable_images'])} unreadable)"
                     if report["unreadable_images"] else ""))
    table.add_row("  image tokens per image",
                  f"{tokens['min']}-{tokens['max']}, mean {tokens['mean']:.0f}"
                  if tokens["min"] != tokens["max"] else str(tokens["min"]))
    table.add_row("  prompt text tokens", ", ".join(
        f"{k} {v}" for k, v in report["prompt_text_tokens"].items())
        + f" ({report['prompt_text_tokens_source']})")
    table.add_row("  answers", f"{report['answers']:,} ({len(report['aspects'])} aspects x "
                  f"{report['repeats']} repeats; ~{report['answer_tokens_assumed']} tokens each"
                  + (", rating-only" if report["rating_only"] else "") + ")")
    gpu = report["target_gpu"]
    table.add_row("projected on", f"{gpu['name']} ({gpu['source']}): {_bytes(gpu['memory_bytes'])}"
                  f", {gpu['bf16_flops'] / 1e12:.0f} TFLOP/s, "
                  f"{gpu['bandwidth_bytes_s'] / 1e12:.2f} TB/s")
    table.add_row("  KV per image context", _bytes(report["kv_bytes_per_context"]))
    table.add_row("  KV budget", _bytes(report["kv_budget_bytes"])
                  + f" ({report['assumptions']['gpu_memory_utilization']:.0%} of memory "
                  "- weights)")
    if not report["fits"]:
        table.add_row("  fits", "[red]no: the weights and one answer's KV do not fit[/red]")
    else:
        images = report["images"]
        shared = (f"all {images} images at once, sharing their prefix"
                  if images and report["images_in_flight"] >= images else
                  f"{report['images_in_flight']:.1f} images sharing their prefix")
        table.add_row("  in flight", f"room for {report['answers_in_flight']:,} answers "
                      f"({shared}; {report['contexts_fit_unshared']:,} contexts without "
                      "sharing)")
        table.add_row("  prefill", f"{report['prefill_tokens']:,} tokens with prefix reuse "
                      f"({report['prefill_tokens_no_reuse']:,} without): "
                      f"{_seconds(report['prefill_s'])}")
        if report.get("max_num_batched_tokens"):
            table.add_row("  engine batch", f"{report['max_num_seqs']} sequences, "
                          f"{report['max_num_batched_tokens']:,} tokens a step "
                          f"({report['prefill_steps']:,} prefill steps)")
        table.add_row("  decode", f"{report['decode_tokens']:,} tokens in "
                      f"{report['decode_steps']:,} steps: {_seconds(report['decode_s'])}")
    measured = report.get("measured")
    if measured:
        table.add_row("measured", f"{measured['answers']} answers in {measured['wall_s']:.1f} s"
                      f" of rating, {measured['answers_per_s'] or 0:.1f}/s "
                      f"(model load {measured.get('load_s', 0):.1f} s not counted; "
                      f"{measured['note'].split('; ', 1)[-1]})")
    table.add_row("projected study time", _seconds(report["projected_s"]))
    return table


def main(args: argparse.Namespace) -> int:
    report = build_report(args)
    if args.json:
        print(json.dumps(report, default=str))
        return 0

    SafeConsole().print(render(report))
    return 0
