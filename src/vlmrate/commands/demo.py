"""`vlmrate demo`: a tiny random-weight LLaVA-NeXT and synthetic images, rated on the CPU
(or GPU) through vLLM with structured outputs, then the TUI (or the summary)."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from rich.console import Console

from vlmrate.commands.common import SafeConsole
from vlmrate.engines.model_source import TINY_MODEL_DIR
from vlmrate.errors import UserError
from vlmrate.runfolder.settings import RunConfig
from vlmrate.runfolder.store import load_run
from vlmrate.running.runner import Runner
from vlmrate.stats.run_summary import render_summary

#: Where the demo writes its synthetic dataset: data/demo in the current folder, beside
#: runs/, so the TUI's New run form offers it too. Git-ignored.
DEMO_DATASET = Path("data") / "demo"


def cache_dir() -> Path:
    """Where the demo builds its tiny model (the New run form offers it from there)."""
    from vlmrate.engines.model_source import vlmrate_cache_dir

    return vlmrate_cache_dir()


def ensure_demo_inputs(n_images: int, console: Console) -> tuple[Path, Path]:
    """Build (once) the tiny model in the cache folder and the synthetic dataset."""
    from vlmrate.engines.tiny_model import build_tiny_llava_next

    model_dir = cache_dir() / TINY_MODEL_DIR
    if not (model_dir / "config.json").is_file():
        console.print(f"building the tiny random-weight LLaVA-NeXT in {model_dir} ...",
                      markup=False)
        build_tiny_llava_next(model_dir)
    return model_dir, ensure_demo_dataset(n_images, console)


def ensure_demo_dataset(n_images: int, console: Console) -> Path:
    """data/demo with n_images synthetic images: kept when it has them, else (re)built.

    A data/demo that the demo did not write is never touched (one clear error instead).
    """
    from vlmrate.inputs.demo_data import build_synthetic_dataset, is_synthetic_dataset

    data_dir = DEMO_DATASET
    if data_dir.is_dir() and any(data_dir.iterdir()) and not is_synthetic_dataset(data_dir):
        raise UserError(f"{data_dir} exists and is not the demo's synthetic dataset; "
                        "move it away or run the demo in another folder")
    if not (data_dir / "human.csv").is_file() or _image_count(data_dir) != n_images:
        shutil.rmtree(data_dir, ignore_errors=True)  # only ever the demo's own data
        console.print(f"building {n_images} synthetic images in {data_dir} ...", markup=False)
        build_synthetic_dataset(data_dir, n_images=n_images)
    return data_dir


def _image_count(data_dir: Path) -> int:
    images = data_dir / "images"
    return sum(1 for _ in images.glob("*.png")) if images.is_dir() else 0


def main(args: argparse.Namespace) -> int:
    from vlmrate.commands.run import run_with_progress
    from vlmrate.engines.tiny_model import TINY_ENGINE_OPTIONS

    console = SafeConsole(stderr=True)
    model_dir, data_dir = ensure_demo_inputs(args.images, console)
    config = RunConfig(
        dataset=data_dir, prompts="reference", model=str(model_dir), engine="vllm",
        repeats=args.repeats, structured=True, logprobs=True, run_name="demo",
        runs_dir=args.runs_dir, max_tokens=64, engine_options=dict(TINY_ENGINE_OPTIONS),
    )
    final = run_with_progress(Runner(config), console)
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    if args.no_tui or not interactive:
        out = SafeConsole()
        out.print(render_summary(load_run(final.run_dir)))
        flag = "" if args.runs_dir == Path("runs") else f" --runs-dir {args.runs_dir}"
        out.print(f"next: vlmrate stats demo{flag} · vlmrate export demo{flag} · "
                  f"vlmrate (the TUI)")
        return 0 if final.status == "done" else 1
    from vlmrate.commands.tui import launch

    return launch(args.runs_dir, open_run=final.run_dir)
