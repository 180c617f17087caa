"""`vlmrate run DATASET ...`: a headless run with a rich progress bar; resumable."""

from __future__ import annotations

import argparse
import asyncio
import sys

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from vlmrate.commands.common import SafeConsole
from vlmrate.engines.servers import servers_line
from vlmrate.errors import UserError
from vlmrate.runfolder.settings import RunConfig, parse_shard
from vlmrate.runfolder.store import load_run
from vlmrate.running.progress import Progress as RunProgress
from vlmrate.running.progress import clock
from vlmrate.running.progress_lines import PlainProgress
from vlmrate.running.runner import Runner
from vlmrate.safe_text import visible
from vlmrate.stats.run_summary import render_summary


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The run's settings from the command line (checked by Runner.prepare)."""
    options = {
        "tensor_parallel_size": args.tensor_parallel_size,
        "max_model_len": args.max_model_len,
        "gpu_memory_utilization": args.gpu_memory_utilization,
        "dtype": args.dtype,
        "enforce_eager": args.enforce_eager,
    } if args.engine == "vllm" else {"concurrency": args.concurrency, "timeout_s": args.timeout}
    options["data_parallel_size"] = args.data_parallel_size
    if args.batch_invariant:
        options["batch_invariant"] = True
    return RunConfig(
        dataset=args.dataset, human=args.human, prompts=args.prompts, model=args.model,
        engine=args.engine, base_url=args.base_url, repeats=args.repeats,
        temperature=args.temperature, top_p=args.top_p, max_tokens=args.max_tokens,
        seed=args.seed, structured=args.structured, logprobs=args.logprobs,
        rating_only=args.rating_only,
        run_name=args.run_name, runs_dir=args.runs_dir, id_column=args.id_column,
        engine_options={k: v for k, v in options.items() if v is not None}, limit=args.limit,
        shard=parse_shard(args.shard) if args.shard is not None else None,
    )


def run_with_progress(runner: Runner, console: Console) -> RunProgress:
    """Prepare and run, drawing a progress bar (a terminal; else run_with_plain_lines);
    returns the final progress."""
    run_dir = runner.prepare()
    console.print(f"run folder: {run_dir}", markup=False, highlight=False)
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("{task.fields[eta]}"),
        TextColumn("{task.fields[servers]}"),
        console=console, transient=False,
    ) as bar:
        task = bar.add_task("starting", total=None, rate="", eta="", servers="")

        def show(progress: RunProgress) -> None:
            label = progress.message or progress.status
            if progress.parse_failures or progress.engine_errors:
                label += f" ({progress.parse_failures} unparsed, {progress.engine_errors} errors)"
            # a server's text in the message: shown as written, never read as markup
            label = escape(visible(label, one_line=True))
            total, done = progress.total, progress.done
            if progress.download is not None:  # the model download: the bar counts MB
                done, total = (n // 1_000_000 for n in progress.download)
            bar.update(task, total=total, completed=done, description=label,
                       rate=f"{progress.ratings_per_s:.1f} answers/s"
                       if progress.ratings_per_s else "",
                       # the runner's estimate (running time only, the answers on disk),
                       # not rich's, which counts a resume's answers as just rated
                       eta=f"ETA {clock(progress.eta_s)}" if progress.eta_s is not None
                       else "",
                       servers=servers_line(progress.servers))

        runner.on_progress = show
        return asyncio.run(runner.run())


def run_with_plain_lines(runner: Runner, every_s: float) -> RunProgress:
    """Prepare and run, printing a plain progress line to stderr every ``every_s`` seconds
    (for a log file: no carriage returns, no escape codes)."""
    run_dir = runner.prepare()
    print(f"run folder: {run_dir}", file=sys.stderr, flush=True)
    with PlainProgress(every_s) as lines:
        runner.on_progress = lines
        return asyncio.run(runner.run())


def main(args: argparse.Namespace) -> int:
    console = SafeConsole(stderr=True)
    runner = Runner(config_from_args(args))
    every = getattr(args, "progress_every", None)
    if every is not None and every <= 0:
        raise UserError("--progress-every must be a positive number of seconds")
    try:
        if sys.stdout.isatty() and sys.stderr.isatty():
            final = run_with_progress(runner, console)
        else:
            final = run_with_plain_lines(runner, every or 30.0)
    except KeyboardInterrupt:
        console.print("stopped; what was rated is kept. Run the same command again to resume.")
        return 130
    SafeConsole().print(render_summary(load_run(final.run_dir)))
    if final.status != "done":  # an engine problem, not a user error: exit 1
        reason = f": {final.message}" if final.message else ""
        console.print(f"vlmrate: run {final.status}{reason}", markup=False, highlight=False)
    return 0 if final.status == "done" else 1
