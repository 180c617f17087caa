"""`vlmrate demo`: a tiny random-weight LLaVA-NeXT and synthetic images, rated on the CPU
(or GPU) through vLLM with structured outputs, then the TUI (or the summary)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rich.console import Console

from vlmrate.runner import RunConfig, Runner
from vlmrate.store import load_run
from vlmrate.summary import render_summary


def cache_dir() -> Path:
    root = os.environ.get("VLMRATE_CACHE") or os.environ.get("XDG_CACHE_HOME")
    return Path(root) / "vlmrate" if root else Path.home() / ".cache" / "vlmrate"


def ensure_demo_inputs(n_images: int, console: Console) -> tuple[Path, Path]:
    """Build (once) the tiny model and the synthetic dataset in the cache folder."""
    from vlmrate.demo_data import build_synthetic_dataset
    from vlmrate.tiny_model import build_tiny_llava_next

    model_dir = cache_dir() / "tiny-llava-next"
    if not (model_dir / "config.json").is_file():
        console.print(f"building the tiny random-weight LLaVA-NeXT in {model_dir} ...")
        build_tiny_llava_next(model_dir)
    data_dir = cache_dir() / f"demo-data-{n_images}"
    if not (data_dir / "human.csv").is_file():
        console.print(f"building {n_images} synthetic images in {data_dir} ...")
        build_synthetic_dataset(data_dir, n_images=n_images)
    return model_dir, data_dir


def main(args: argparse.Namespace) -> int:
    from vlmrate.commands.run import run_with_progress
    from vlmrate.tiny_model import TINY_ENGINE_OPTIONS

    console = Console(stderr=True)
    model_dir, data_dir = ensure_demo_inputs(args.images, console)
    config = RunConfig(
        dataset=data_dir, prompts="reference", model=str(model_dir), engine="vllm",
        repeats=args.repeats, structured=True, logprobs=True, run_name="demo",
        runs_dir=args.runs_dir, max_tokens=64, engine_options=dict(TINY_ENGINE_OPTIONS),
    )
    final = run_with_progress(Runner(config), console)
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    if args.no_tui or not interactive:
        out = Console()
        out.print(render_summary(load_run(final.run_dir)))
        flag = "" if args.runs_dir == Path("runs") else f" --runs-dir {args.runs_dir}"
        out.print(f"next: vlmrate stats demo{flag} · vlmrate export demo{flag} · "
                  f"vlmrate (the TUI)")
        return 0 if final.status == "done" else 1
    from vlmrate.commands.tui import launch

    return launch(args.runs_dir, open_run=final.run_dir)
