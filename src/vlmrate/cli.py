"""The `vlmrate` command. Sub-command modules are imported only when they run, so that
`vlmrate --help` stays fast on a machine where vLLM and torch are installed."""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import sys
from collections.abc import Callable
from pathlib import Path

from vlmrate import __version__
from vlmrate.commands.option_types import MAX_SEED, OneLineParser, number, whole
from vlmrate.errors import UserError, clip
from vlmrate.runfolder.settings import DEFAULT_MODEL, ENGINES, MAX_TEMPERATURE
from vlmrate.runfolder.shapes import MAX_REPEATS
from vlmrate.safe_text import visible

BOUND = number(0, 100, lo_open=True)  # TOST bound, in scale points
ALPHA = number(0, 0.5, lo_open=True, hi_open=True)  # the TOST interval is 1 - 2 alpha


def _nonempty(option: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"{option}: empty; give a name or leave it out")
        return text
    return parse


def _runs_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"),
                        help="where run folders live (default: ./runs)")


def _width(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--width", type=whole(40, 1000),
                        help="report width in columns (default: the terminal's, or COLUMNS; "
                             "100 when piped); narrower reports stack their wide columns")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="vlmrate",
        description="Make a vision-language model rate images like people did, and measure "
                    "how far it is from them. Without a command: open the TUI here.",
    )
    parser.add_argument("--version", action="version", version=f"vlmrate {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="rate a dataset with a model (headless, resumable)")
    run.add_argument("dataset", type=Path, help="folder of images (or with images/ inside)")
    run.add_argument("--human", type=Path, help="human ratings sheet (CSV/XLSX); default: "
                     "DATASET/human.csv|xlsx if present")
    run.add_argument("--prompts", default="reference", help="prompt set (default: reference)")
    run.add_argument("--model", default=DEFAULT_MODEL)
    run.add_argument("--engine", choices=ENGINES, default="vllm")
    run.add_argument("--base-url", action="append",
                     help="OpenAI-compatible server, e.g. http://host:8000/v1; give it once "
                          "per server to spread the images over several (with failover)")
    run.add_argument("--repeats", type=whole(1, MAX_REPEATS),
                     help="answers per image and aspect (study default)")
    run.add_argument("--temperature", type=number(0, MAX_TEMPERATURE),
                     help=f"0..{MAX_TEMPERATURE:g} (study default)")
    run.add_argument("--top-p", type=number(0, 1, lo_open=True), help="above 0, at most 1")
    run.add_argument("--max-tokens", type=whole(1, 1_000_000))
    run.add_argument("--seed", type=whole(0, MAX_SEED), default=0, help="base seed (default 0)")
    run.add_argument("--structured", action="store_true",
                     help="constrain answers to the template (vLLM structured outputs)")
    run.add_argument("--rating-only", action="store_true",
                     help="answer 'Rating: N' only (structured outputs, a few tokens, "
                          "logprobs on; 1 repeat unless --repeats)")
    run.add_argument("--logprobs", action="store_true",
                     help="store the probabilities of the digits 1..9 at the rating")
    run.add_argument("--run", dest="run_name", help="run name (default: dataset-model-date)")
    run.add_argument("--id-column", help="id column of the human sheet")
    run.add_argument("--tensor-parallel-size", type=whole(1, 1024), default=1,
                     help="GPUs one model copy is split over (vllm engine)")
    run.add_argument("--data-parallel-size", type=whole(1, 1024), default=1,
                     help="model copies (vLLM runs them behind `vllm serve`; see README)")
    run.add_argument("--batch-invariant", action="store_true",
                     help="vLLM's batch-invariant kernels (VLLM_BATCH_INVARIANT=1): a "
                          "request's answer does not depend on what it is batched with")
    run.add_argument("--max-model-len", type=whole(1))
    run.add_argument("--gpu-memory-utilization", type=number(0, 1, lo_open=True), default=0.9)
    run.add_argument("--dtype", default="auto")
    run.add_argument("--enforce-eager", action="store_true")
    run.add_argument("--concurrency", type=whole(1, 10_000), default=64,
                     help="requests in flight (openai engine) (default 64)")
    run.add_argument("--timeout", type=number(0, 86_400, lo_open=True), metavar="SECONDS",
                     help="openai engine: seconds to wait for one answer before it is "
                          "retried (default 120)")
    run.add_argument("--limit", type=whole(1), help="rate only the first N images")
    run.add_argument("--progress-every", type=number(1, 86_400), default=30.0,
                     metavar="S", help="when output is not a terminal (nohup, slurm): a plain "
                     "progress line every S seconds, at least 1 (default 30)")
    run.add_argument("--shard", metavar="K/N",
                     help="rate every N-th image from the K-th (0-based), e.g. a Slurm array "
                          "task's share; join the shards with `vlmrate merge`")
    _runs_dir(run)

    imp = sub.add_parser("import", help="turn ratings made elsewhere into a run")
    imp.add_argument("ratings", type=Path, help="long CSV (image_id, aspect, repeat, rating"
                     "[, reason]) or wide sheet (relevance_1..relevance_10, ...)")
    imp.add_argument("--human", type=Path, required=True, help="human ratings sheet")
    imp.add_argument("--run", dest="run_name", required=True, help="name of the new run")
    imp.add_argument("--model", default="unknown", help="model that made the ratings")
    imp.add_argument("--id-column", help="id column of the human sheet")
    _runs_dir(imp)

    merge = sub.add_parser("merge", help="join disjoint runs of one study (e.g. shards) into one")
    merge.add_argument("runs", nargs="+", help="run folders or names under --runs-dir")
    merge.add_argument("--run", dest="run_name", required=True, help="name of the new run")
    _runs_dir(merge)

    stats = sub.add_parser("stats", help="every analysis of a run")
    stats.add_argument("run", help="run folder or name under ./runs")
    stats.add_argument("--json", action="store_true", help="one JSON object (NaN as null)")
    stats.add_argument("--bound", type=BOUND, default=0.5, help="TOST bound (default 0.5)")
    stats.add_argument("--alpha", type=ALPHA, default=0.05, help="above 0, below 0.5")
    stats.add_argument("--k-max", type=whole(1, MAX_REPEATS), help="largest k for errors by k")
    stats.add_argument("--seed", type=whole(0, MAX_SEED), default=0,
                       help="seed of bootstrap and subsets")
    _width(stats)
    stats.add_argument("--raters", type=whole(2, 1_000_000), metavar="N",
                       help="raters behind each human mean where the sheet has no A_n column "
                            "(with its A_sd: the human noise ceiling)")
    _runs_dir(stats)

    comp = sub.add_parser("compare", help="runs side by side on their common images")
    comp.add_argument("runs", nargs="+", metavar="RUN",
                      help="run folders or names (two or more); RUN:expected is the run's "
                           "logprob expected rating as a run")
    comp.add_argument("--json", action="store_true", help="one JSON object (NaN as null)")
    comp.add_argument("--aspect", type=_nonempty("--aspect"),
                      help="only this aspect (default: every shared aspect)")
    comp.add_argument("--bound", type=BOUND, default=0.5, help="TOST bound (default 0.5)")
    comp.add_argument("--alpha", type=ALPHA, default=0.05, help="above 0, below 0.5")
    comp.add_argument("--seed", type=whole(0, MAX_SEED), default=0,
                      help="seed of the bootstraps")
    _width(comp)
    _runs_dir(comp)

    export = sub.add_parser("export", help="write the workbook of a run (or of a comparison)")
    export.add_argument("run", nargs="?", help="run folder or name under ./runs")
    export.add_argument("--compare", nargs="+", metavar="RUN",
                        help="write a comparison workbook of these runs instead (two or "
                             "more; RUN:expected as in `vlmrate compare`)")
    export.add_argument("-o", "--output", type=Path, help="xlsx path (default: in the run)")
    export.add_argument("--csv", action="store_true", help="also write <name>.ratings.csv beside the workbook")
    export.add_argument("--parquet", action="store_true", help="also write <name>.ratings.parquet beside the workbook")
    export.add_argument("--figures", action="store_true",
                        help="add a Figures sheet with the PNGs of `vlmrate figures`")
    export.add_argument("--bound", type=BOUND, default=0.5, help="TOST bound (default 0.5)")
    export.add_argument("--alpha", type=ALPHA, default=0.05, help="above 0, below 0.5")
    export.add_argument("--raters", type=whole(2, 1_000_000), metavar="N",
                        help="raters behind each human mean where the sheet has no A_n "
                             "column (as in `vlmrate stats`)")
    _runs_dir(export)

    figures = sub.add_parser("figures", help="publication figures (PDF/PNG/SVG) and "
                             "figures.md with their captions")
    figures.add_argument("run", nargs="?", help="run folder or name under ./runs")
    figures.add_argument("--compare", nargs="+", metavar="RUN",
                         help="figures of a comparison of these runs instead (two or more; "
                              "RUN:expected as in `vlmrate compare`)")
    figures.add_argument("-o", "--output", type=Path, metavar="DIR",
                         help="folder (default: RUN/figures)")
    figures.add_argument("--format", default="pdf,png,svg",
                         help="comma-separated: pdf, png, svg (default: all three)")
    figures.add_argument("--aspect", help="only this aspect (default: every aspect)")
    figures.add_argument("--bound", type=BOUND, default=0.5, help="TOST bound (default 0.5)")
    figures.add_argument("--alpha", type=ALPHA, default=0.05, help="above 0, below 0.5")
    _runs_dir(figures)

    report = sub.add_parser("report", help="one self-contained HTML report (summary, "
                            "methods, every table, figures, reviewed cases)")
    report.add_argument("run", nargs="?", help="run folder or name under ./runs")
    report.add_argument("--compare", nargs="+", metavar="RUN",
                        help="report a comparison of these runs instead (two or more)")
    report.add_argument("-o", "--output", type=Path, metavar="FILE.html",
                        help="HTML path (default: RUN/RUN-report.html)")
    report.add_argument("--aspect", help="figures of this aspect only (default: every aspect)")
    report.add_argument("--bound", type=BOUND, default=0.5, help="TOST bound (default 0.5)")
    report.add_argument("--alpha", type=ALPHA, default=0.05, help="above 0, below 0.5")
    _runs_dir(report)

    review = sub.add_parser("review", help="the flags and notes of a run (review.json)")
    review.add_argument("run", help="run folder or name under ./runs")
    review.add_argument("--json", action="store_true",
                        help="one JSON object: {run, cases: [{image_id, aspect, category, "
                        "note, reviewer, time}]}")
    _runs_dir(review)

    demo = sub.add_parser("demo", help="tiny model + synthetic data: run, then open the TUI")
    demo.add_argument("--no-tui", action="store_true", help="print the summary, no TUI")
    demo.add_argument("--images", type=whole(1, 10_000), default=12,
                      help="synthetic images (default 12)")
    demo.add_argument("--repeats", type=whole(1, MAX_REPEATS), default=3)
    _runs_dir(demo)

    from vlmrate.commands.check import add_parser as add_check_parser

    add_check_parser(sub)

    tui = sub.add_parser("tui", help="open the TUI (same as no command)")
    _runs_dir(tui)
    return parser


COMMANDS = {"run": "run", "import": "import_", "merge": "merge", "stats": "stats",
            "compare": "compare",
            "export": "export", "figures": "figures", "report": "report",
            "review": "review", "demo": "demo", "check": "check",
            "tui": "tui", None: "tui"}


def main(argv: list[str] | None = None) -> int:
    code = _main(argv)
    _leave_now_if_model_loading(code)
    return code


def _leave_now_if_model_loading(code: int) -> None:
    """After ctrl-c during vLLM's model load, the load goes on in its thread and cannot be
    stopped; ending the interpreter around it may abort in C++ ("terminate called without
    an active exception"). Everything is written and closed by now: leave at once."""
    vllm = sys.modules.get("vlmrate.engines.vllm")
    if vllm is not None and vllm.model_load_running():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


@functools.cache
def _parser() -> argparse.ArgumentParser:
    """The parser, built once a process: an argparse parser parses any number of times, and
    a process that calls main() again (the test suite: ~500 times) need not rebuild it."""
    return build_parser()


def _main(argv: list[str] | None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (one line, exit 2)
        return exc.code if isinstance(exc.code, int) else 2
    if args.command is None:
        args.runs_dir = Path("runs")
    try:
        module = importlib.import_module(f"vlmrate.commands.{COMMANDS[args.command]}")
        return int(module.main(args) or 0)
    except UserError as exc:
        print(visible(f"vlmrate: error: {exc}", one_line=True), file=sys.stderr)
        return 2
    except OSError as exc:  # a path the checks above missed: still one line, no traceback
        where = f"{clip(str(exc.filename), 80)}: " if exc.filename else ""
        print(visible(f"vlmrate: error: {where}{exc.strerror or exc}", one_line=True),
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vlmrate: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
