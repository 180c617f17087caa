"""One `vlmrate run` over two vLLM CPU servers vs. one server, same-sized studies.

Starts two OpenAI-compatible vLLM servers of the tiny random-weight LLaVA-NeXT on loopback
(``--enable-prefix-caching``), then rates a synthetic study through one server and an
equal study (other images, so no cache carries over) through both. Reports answers/s of
each run and, per server, the prefix-cache hit rate of that run (deltas of the
``vllm:prefix_cache_hits`` / ``vllm:prefix_cache_queries`` counters from ``/metrics``).
A third study goes through both servers with the requests dealt round-robin, as a load
balancer in front of them would (no image affinity), for comparison. A small warm-up
study through both servers goes first (not measured). On a 2-core machine two servers
share the same cores: the point is not a speed-up but that image affinity keeps each
server's hit rate where one server's is.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from _common import (
    PROMPTS,
    Row,
    child_env,
    finish,
    fmt_s,
    parse_args,
    print_rows,
    vlmrate_cmd,
)

BENCH = "servers"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(model: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    with open(log, "w") as handle:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
             "--host", "127.0.0.1", "--port", str(port), "--enforce-eager",
             "--max-model-len", "2048", "--no-enable-chunked-prefill", "--enable-prefix-caching",
             "--kv-cache-memory-bytes", str(256 << 20)],
            stdout=handle, stderr=subprocess.STDOUT, env=child_env(), start_new_session=True)
    return proc, f"http://127.0.0.1:{port}/v1"


def wait_healthy(servers: list[tuple[subprocess.Popen, str]], timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    for proc, base in servers:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server {base} exited with {proc.returncode}")
            try:
                if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server {base} not healthy in {timeout:.0f} s")
            time.sleep(1)


def prefix_counters(base: str) -> tuple[float, float]:
    """(hits, queries) in tokens from the server's Prometheus /metrics."""
    import httpx

    text = httpx.get(base.removesuffix("/v1") + "/metrics", timeout=10).text
    hits = queries = 0.0
    for line in text.splitlines():
        if line.startswith("vllm:prefix_cache_hits"):
            hits += float(line.rsplit(" ", 1)[1])
        elif line.startswith("vllm:prefix_cache_queries"):
            queries += float(line.rsplit(" ", 1)[1])
    return hits, queries


def rate_round_robin(data: Path, runs: Path, name: str, model: Path, urls: list[str],
                     repeats: int) -> int:
    """Rate in this process through the openai engine with every request dealt to the
    next server in turn (a load balancer's way); returns the answers written."""
    import asyncio
    import itertools

    from vlmrate.engines.openai import OpenAIEngine
    from vlmrate.runfolder.settings import RunConfig
    from vlmrate.running.runner import Runner

    def round_robin(config: RunConfig, sampling: object, log: Path) -> OpenAIEngine:
        engine = OpenAIEngine(config.base_urls, config.model, sampling,  # type: ignore[arg-type]
                              concurrency=27)
        pool, turn = engine.pool, itertools.cycle(engine.pool.servers)

        async def acquire(image_id: str) -> object:
            server = next(turn)
            while server.in_flight >= server.window:
                await asyncio.sleep(0.005)
            server.in_flight += 1
            return server

        pool.acquire = acquire  # type: ignore[method-assign]
        return engine

    config = RunConfig(dataset=data, model=str(model), engine="openai", base_url=urls,
                       repeats=repeats, structured=True, max_tokens=32, run_name=name,
                       runs_dir=runs, prompts_dir=PROMPTS)
    final = asyncio.run(Runner(config, engine_factory=round_robin).run())
    if final.status != "done":
        raise RuntimeError(f"round-robin run ended {final.status}: {final.message}")
    return final.done


def rate(data: Path, runs: Path, name: str, model: Path, urls: list[str], repeats: int,
         round_robin: bool = False) -> tuple[float, int, list[float | None]]:
    """(wall s, answers, per-server hit rate of this run) of one `vlmrate run` (or, with
    round_robin, of the same run in this process with requests dealt in turn)."""
    before = [prefix_counters(u) for u in urls]
    if round_robin:
        t0 = time.perf_counter()
        answers = rate_round_robin(data, runs, name, model, urls, repeats)
        return time.perf_counter() - t0, answers, _hit_rates(urls, before)
    args = ["run", str(data), "--engine", "openai", "--model", str(model), "--structured",
            "--max-tokens", "32", "--repeats", str(repeats), "--run", name,
            "--runs-dir", str(runs), "--concurrency", "27"]
    for url in urls:
        args += ["--base-url", url]
    t0 = time.perf_counter()
    proc = subprocess.run(vlmrate_cmd(*args), env=child_env(), capture_output=True, text=True,
                          timeout=1800, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"vlmrate run failed: {proc.stderr[-2000:]}")
    answers = (runs / name / "ratings.jsonl").read_bytes().count(b"\n")
    return wall, answers, _hit_rates(urls, before)


def _hit_rates(urls: list[str], before: list[tuple[float, float]]) -> list[float | None]:
    rates: list[float | None] = []
    for url, (h0, q0) in zip(urls, before, strict=True):
        h1, q1 = prefix_counters(url)
        rates.append((h1 - h0) / (q1 - q0) if q1 > q0 else None)
    return rates


def pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def main(argv: list[str] | None = None) -> list[Row]:
    args = parse_args(argv, __doc__.splitlines()[0], lambda p: (
        p.add_argument("--images", type=int, default=8),
        p.add_argument("--repeats", type=int, default=4),
        p.add_argument("--startup-timeout", type=float, default=900)))
    try:
        import vllm  # noqa: F401

        from vlmrate.engines.tiny_model import build_tiny_llava_next
        from vlmrate.inputs.demo_data import build_synthetic_dataset
    except ImportError as exc:
        print(f"skipped: vllm not available ({exc})")
        return finish([Row(BENCH, "skipped: vllm not available", "", met="skipped")],
                      args.json_out)
    work = args.work
    model = build_tiny_llava_next(work / "tiny-llava-next")
    data = [build_synthetic_dataset(work / f"servers-data-{args.images}-{seed}",
                                    n_images=args.images, seed=seed) for seed in (11, 12, 13)]
    warm_data = build_synthetic_dataset(work / "servers-warmup", n_images=2, seed=10)
    runs = work / "servers-runs"
    shutil.rmtree(runs, ignore_errors=True)
    t0 = time.perf_counter()
    servers = [start_server(model, work / f"server{i}.log") for i in (0, 1)]
    rows: list[Row] = []
    try:
        wait_healthy(servers, args.startup_timeout)
        print(f"[servers] two servers up in {fmt_s(time.perf_counter() - t0)}", flush=True)
        urls = [u for _, u in servers]
        rate(warm_data, runs, "warmup", model, urls, 2)
        one = rate(data[0], runs, "one", model, urls[:1], args.repeats)
        two = rate(data[1], runs, "two", model, urls, args.repeats)
        dealt = rate(data[2], runs, "dealt", model, urls, args.repeats, round_robin=True)
    finally:
        for proc, _ in servers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)
        for proc, _ in servers:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    study = f"{args.images} images × 3 aspects × {args.repeats}"
    for label, (wall, answers, rates), how in (
            ("one server", one, "whole `vlmrate run` process"),
            ("two servers", two, "whole `vlmrate run` process"),
            ("two servers, dealt round-robin", dealt, "in-process Runner, no CLI start")):
        rows.append(Row(BENCH, f"{label}: answers/s ({study}, {how})",
                        f"{answers / wall:.2f}/s ({answers} in {fmt_s(wall)})"))
        rows.append(Row(BENCH, f"{label}: prefix-cache hit rate per server",
                        " / ".join(pct(r) for r in rates)))
    print_rows(rows)
    return finish(rows, args.json_out)


if __name__ == "__main__":
    main()
