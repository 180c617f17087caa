"""The openai engine says why nothing arrives (issue 17 item 11): before each wait for a
retry (a timeout, a 5xx, a 429 with Retry-After) it tells the run, and the run's progress
carries the message; `--timeout` sets the wait for one answer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from tests.engines.conftest import MODEL, FakeServer, make_requests
from tests.helpers import PROMPTS, make_dataset
from vlmrate.cli import build_parser
from vlmrate.commands.run import config_from_args
from vlmrate.engines.openai import OpenAIEngine
from vlmrate.running.runner import Progress, Runner, make_engine

EngineFactory = Callable[..., OpenAIEngine]


async def _rate(engine: OpenAIEngine, n: int = 1) -> list:
    requests = make_requests(n_images=1, aspects=("beauty",), repeats=n)
    return [result async for result in engine.rate(requests)]


async def test_retry_after_is_told(server: FakeServer, make_engine: EngineFactory) -> None:
    server.faults.append("429:1")
    engine = make_engine()
    notices: list[tuple[str, float]] = []
    engine.on_notice = lambda text, seconds: notices.append((text, seconds))
    results = await _rate(engine)
    assert results[0].engine_error is None
    assert len(notices) == 1
    text, seconds = notices[0]
    assert text == f"waiting 1 s to retry (1 of 3): HTTP 429 Retry-After 1 s, {server.url}"
    assert 1.0 <= seconds < 1.1


async def test_timeouts_are_told(server: FakeServer, make_engine: EngineFactory) -> None:
    server.faults.extend(["sleep:1.5", "500"])
    engine = make_engine(timeout_s=0.3)
    notices: list[str] = []
    engine.on_notice = lambda text, seconds: notices.append(text)
    assert (await _rate(engine))[0].engine_error is None
    assert notices[0].startswith("waiting 0 s to retry (1 of 3): timeout: no answer within "
                                 "0.3s, http://127.0.0.1:")
    assert notices[1].startswith("waiting 0 s to retry (2 of 3): HTTP 500: boom, ")


def test_run_progress_shows_the_wait(server: FakeServer, tmp_path: Path) -> None:
    make_dataset(tmp_path, 1)
    server.faults.append("429:1")
    args = build_parser().parse_args([
        "run", str(tmp_path / "data"), "--engine", "openai", "--base-url", server.url,
        "--model", MODEL, "--timeout", "7.5", "--repeats", "1", "--run", "r",
        "--runs-dir", str(tmp_path / "runs"), "--prompts", str(PROMPTS / "reference")])
    config = config_from_args(args)
    assert config.engine_options["timeout_s"] == 7.5
    engines: list[OpenAIEngine] = []

    def factory(*a: object) -> OpenAIEngine:
        engine = make_engine(*a)  # type: ignore[arg-type]
        engines.append(engine)  # type: ignore[arg-type]
        return engine  # type: ignore[return-value]

    seen: list[Progress] = []
    runner = Runner(config, on_progress=seen.append, engine_factory=factory)
    final = asyncio.run(runner.run())
    assert final.status == "done" and engines[0].timeout_s == 7.5
    waits = [p.message for p in seen if "Retry-After" in p.message]
    assert waits and waits[0].startswith("waiting 1 s to retry (1 of 5): HTTP 429")
    assert final.message == ""  # the notice passes
