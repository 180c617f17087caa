"""Several servers behind one openai engine: image affinity, least-busy choice, a window
per server, failover, probing back after the cool-down, and the pool's bookkeeping."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest

from vlmrate.engines.base import EngineUnavailable, RatingResult, SamplingConfig
from vlmrate.engines.openai import OpenAIEngine
from vlmrate.engines.servers import AllServersDown, ServerPool, servers_line

from .conftest import MODEL, FakeServer, make_requests

FAST = {"backoff_s": 0.01, "timeout_s": 5, "max_retries": 2, "api_key_env": "VLMRATE_NO_KEY"}


@pytest.fixture
def two() -> Iterator[tuple[FakeServer, FakeServer]]:
    a, b = FakeServer(), FakeServer()
    yield a, b
    a.kill()
    b.kill()


def engine_for(*urls: str, **options: Any) -> OpenAIEngine:
    return OpenAIEngine(list(urls), MODEL, SamplingConfig(), **{**FAST, **options})


def servers_by_image(results: list[RatingResult]) -> dict[str, set[str]]:
    by_image: dict[str, set[str]] = defaultdict(set)
    for result in results:
        assert result.server is not None
        by_image[result.request.image_id].add(result.server)
    return by_image


def image_of(body: dict[str, Any]) -> str:
    return body["messages"][0]["content"][0]["image_url"]["url"]


async def rate_all(engine: OpenAIEngine, requests: Any) -> list[RatingResult]:
    await engine.start()
    try:
        return [r async for r in engine.rate(requests)]
    finally:
        await engine.close()


async def test_every_request_of_an_image_goes_to_one_server(two):
    a, b = two
    a.delay = b.delay = 0.01
    requests = make_requests(n_images=8)
    results = await rate_all(engine_for(a.url, b.url, concurrency=4), requests)
    assert sorted(r.request.key for r in results) == sorted(r.key for r in requests)
    assert all(r.engine_error is None for r in results)
    by_image = servers_by_image(results)
    assert all(len(servers) == 1 for servers in by_image.values()), by_image
    assert {s for servers in by_image.values() for s in servers} == {a.url, b.url}
    # and each server saw every request of its images (the same encoded image each time)
    assert a.chat_calls + b.chat_calls == len(requests)
    assert not {image_of(x) for x in a.bodies} & {image_of(x) for x in b.bodies}


async def test_new_images_go_to_the_least_busy_server(two):
    slow, fast = two
    slow.delay, fast.delay = 0.3, 0.01
    results = await rate_all(engine_for(slow.url, fast.url, concurrency=9),
                             make_requests(n_images=8))
    per_server = defaultdict(set)
    for r in results:
        per_server[r.server].add(r.request.image_id)
    # the slow server is still busy with its first image while the fast one takes the rest
    assert len(per_server[fast.url]) >= 6, per_server
    assert len(per_server[slow.url]) >= 1


async def test_a_full_server_does_not_hold_up_the_others(two):
    """The first image waits for the slow server's window inside the engine; the stream
    goes on and the fast server answers the next images meanwhile."""
    slow, fast = two
    slow.delay, fast.delay = 0.5, 0.01
    engine = engine_for(slow.url, fast.url, concurrency=2)
    await engine.start()
    first: list[str | None] = []
    try:
        async for result in engine.rate(make_requests(n_images=4)):
            first.append(result.server)
            if len(first) == 6:
                break
    finally:
        await engine.close()
    assert first.count(fast.url) >= 5, first  # not stuck behind the slow server's image


async def test_each_server_has_its_own_window(two):
    a, b = two
    a.delay = b.delay = 0.05
    engine = engine_for(a.url, b.url, concurrency=3)
    results = await rate_all(engine, make_requests(n_images=6))
    assert len(results) == 54
    assert a.max_in_flight == 3 and b.max_in_flight == 3
    stats = engine.server_stats()
    assert [s["answered"] for s in stats] == [a.chat_calls, b.chat_calls]
    assert all(s["up"] and s["in_flight"] == 0 for s in stats)


async def test_a_server_that_dies_leaves_the_rotation_and_its_requests_go_on(two):
    a, b = two
    a.delay = b.delay = 0.03
    requests = make_requests(n_images=8)
    engine = engine_for(a.url, b.url, concurrency=4, cooldown_s=60)
    await engine.start()
    results: list[RatingResult] = []
    try:
        async for result in engine.rate(requests):
            results.append(result)
            if len(results) == 12:
                await asyncio.to_thread(a.kill)
        stats = engine.server_stats()
    finally:
        await engine.close()
    keys = [r.request.key for r in results]
    assert sorted(keys) == sorted(r.key for r in requests)  # each once, none lost
    assert all(r.engine_error is None for r in results)
    assert stats[0]["up"] is False and "cannot reach" in stats[0]["down_reason"]
    assert stats[1]["up"] is True and stats[0]["times_down"] == 1
    assert results[-1].server == b.url
    answered_by_a = sum(r.server == a.url for r in results)
    assert answered_by_a + b.chat_calls == len(requests)  # nothing answered twice
    assert "OUT" in servers_line(stats)


async def test_a_server_that_comes_back_rejoins_after_the_cool_down():
    a, b = FakeServer(), FakeServer()
    port = a.port
    try:
        a.delay = b.delay = 0.02
        engine = engine_for(a.url, b.url, concurrency=2, cooldown_s=0.2)
        await engine.start()
        results = []
        back: FakeServer | None = None
        async for result in engine.rate(make_requests(n_images=12)):
            results.append(result)
            if len(results) == 6:
                await asyncio.to_thread(a.kill)
            if len(results) == 30 and back is None:
                assert engine.server_stats()[0]["up"] is False
                back = FakeServer(port=port)
                back.delay = 0.02
            if back is not None and back.chat_calls:
                break
        stats = engine.server_stats()
        await engine.close()
        assert back is not None and back.chat_calls > 0  # probed, back, and given images
        assert stats[0]["up"] is True and stats[0]["times_down"] == 1
        assert all(r.engine_error is None for r in results)
    finally:
        a.kill()
        b.kill()
        if back is not None:
            back.kill()


async def test_every_server_down_ends_the_run_with_what_was_answered(two):
    a, b = two
    a.delay = b.delay = 0.03
    requests = make_requests(n_images=8)
    engine = engine_for(a.url, b.url, concurrency=4)
    await engine.start()
    results: list[RatingResult] = []
    with pytest.raises(AllServersDown) as err:
        async for result in engine.rate(requests):
            results.append(result)
            if len(results) == 12:
                await asyncio.gather(asyncio.to_thread(a.kill), asyncio.to_thread(b.kill))
    await engine.close()
    assert str(err.value).startswith("every server is down (")
    assert a.url in str(err.value) and b.url in str(err.value)
    keys = [r.request.key for r in results]
    assert len(keys) == len(set(keys)) and 12 <= len(keys) < len(requests)
    assert all(r.engine_error is None for r in results)


async def test_a_failing_request_on_a_live_server_is_an_error_not_a_failover(two):
    a, b = two
    a.faults.extend(["500"] * 3)
    engine = engine_for(a.url, b.url, concurrency=1, max_retries=2)
    results = await rate_all(engine, make_requests(n_images=1, aspects=("beauty",), repeats=2))
    errors = [r.engine_error for r in results if r.engine_error]
    assert errors == ["HTTP 500 after 2 retries: boom"]
    assert engine.server_stats()[0]["up"] is True  # the probe answered: the server stays


async def test_start_with_one_server_unreachable_runs_on_the_others(two):
    a, b = two
    a.kill()
    engine = engine_for(a.url, b.url, concurrency=4, cooldown_s=60)
    results = await rate_all(engine, make_requests(n_images=3))
    assert len(results) == 27 and {r.server for r in results} == {b.url}
    assert engine.server_stats()[0]["up"] is False


async def test_start_refuses_a_server_without_the_model(two):
    a, _ = two
    other = FakeServer(models=("other-model",))
    try:
        with pytest.raises(EngineUnavailable, match="not served by"):
            await engine_for(a.url, other.url).start()
    finally:
        other.kill()


def test_the_same_url_twice_is_refused():
    with pytest.raises(ValueError, match="twice"):
        engine_for("http://h:1/v1", "http://h:1/v1")


async def test_pool_waits_for_room_and_raises_when_all_go_down():
    pool = ServerPool(["http://a/v1", "http://b/v1"], window=1)
    first = await pool.acquire("img1")
    second = await pool.acquire("img2")
    assert first is not second  # least busy: the empty one
    waiting = asyncio.create_task(pool.acquire("img1"))
    await asyncio.sleep(0.01)
    assert not waiting.done()  # img1's server is full
    pool.release(first)
    assert await asyncio.wait_for(waiting, 1) is first
    blocked = asyncio.create_task(pool.acquire("img3"))  # both windows full
    await asyncio.sleep(0.01)
    pool.mark_down(first, "gone")
    await asyncio.sleep(0.01)
    assert not blocked.done()
    pool.mark_down(second, "gone too")
    with pytest.raises(AllServersDown, match="gone; gone too"):
        await asyncio.wait_for(blocked, 1)


async def test_pool_moves_an_image_off_a_server_that_went_down():
    pool = ServerPool(["http://a/v1", "http://b/v1"], window=4)
    a = await pool.acquire("img1")
    pool.mark_down(a, "gone")
    b = await pool.acquire("img1")
    assert b is not a and pool.server_of("img1") is b
    pool.mark_up(a)
    assert await pool.acquire("img1") is b  # affinity stays where the image went
    pool.forget("img1")
    assert await pool.acquire("img1") is a  # a new image goes to the least busy


def test_servers_line_does_not_repeat_the_url():
    out = {"url": "http://h2:8000/v1", "up": False,
           "down_reason": "cannot reach http://h2:8000/v1: connection refused"}
    up = {"url": "http://h1:8000/v1", "up": True, "answers_per_s": 0.0}
    assert servers_line([up, out]).endswith("h2:8000 OUT (connection refused)")


def test_servers_line():
    up = {"url": "http://h1:8000/v1", "up": True, "answers_per_s": 2.25}
    out = {"url": "http://h2:8000/v1", "up": False, "down_reason": "connection refused"}
    assert servers_line([up]) == ""
    assert servers_line([up, out]) == ("servers: h1:8000 2.2/s · "
                                      "h2:8000 OUT (connection refused)")
