"""OpenAIEngine against a real local HTTP server that answers like vLLM's."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from PIL import Image

from vlmrate.engines.base import (
    EngineUnavailable,
    RatingRequest,
    RatingResult,
    SamplingConfig,
    digit_probs,
    structured_regex,
)
from vlmrate.engines.openai import (
    QUEUE_PER_SERVER,
    OpenAIEngine,
    _retry_after_s,
    encode_image,
    rating_probs_from_logprobs,
)
from vlmrate.engines.servers import AllServersDown

from .conftest import (
    ERROR_400,
    MODEL,
    PNG_PREFIX,
    FakeServer,
    expected_probs,
    make_image,
    make_requests,
    prompt_tokens_of,
    rating_of,
)

EngineFactory = Callable[..., OpenAIEngine]


async def collect(engine: OpenAIEngine, requests: Any) -> list[RatingResult]:
    return [result async for result in engine.rate(requests)]


def key(req: RatingRequest) -> tuple[str, str, int]:
    return (req.image_id, req.aspect, req.repeat)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- full batch ------------------------------------------------------------------------


async def test_batch_returns_every_result_once(server: FakeServer, make_engine: EngineFactory):
    requests = make_requests()  # 6 images x 3 aspects x 3 repeats
    assert len(requests) == 54
    cfg = SamplingConfig(temperature=0.7, top_p=0.9, max_tokens=64)
    engine = make_engine(cfg, concurrency=8)
    await engine.start()
    results = await collect(engine, requests)

    assert len(results) == 54
    assert sorted(key(r.request) for r in results) == sorted(key(r) for r in requests)
    for res in results:
        req = res.request
        assert res.engine_error is None
        # the answer belongs to this request: rating from its seed, text echoes its prompt
        assert res.text == f"Rating: {rating_of(req.seed)}. Reason: {req.prompt}"
        assert res.finish_reason == "stop"
        assert res.prompt_tokens == prompt_tokens_of(req.prompt)
        assert res.output_tokens is not None and res.output_tokens > 5
        assert res.latency_s > 0
        assert res.rating_probs is None
    assert {id(r.request) for r in results} == {id(r) for r in requests}  # the very objects

    # what the server received
    assert len(server.bodies) == 54
    for body in server.bodies:
        assert body["model"] == MODEL
        assert body["temperature"] == 0.7
        assert body["top_p"] == 0.9
        assert body["max_tokens"] == 64
        assert body["n"] == 1
        assert "structured_outputs" not in body and "guided_regex" not in body
        assert "logprobs" not in body
        content = body["messages"][0]["content"]
        assert body["messages"][0]["role"] == "user"  # no system text: no system message
        assert [p["type"] for p in content] == ["image_url", "text"]
        # <s> first, as the in-process engine's prompt (vLLM's chat default is false)
        assert body["add_special_tokens"] is True
    assert sorted(b["seed"] for b in server.bodies) == sorted(r.seed for r in requests)

    # each image encoded once, cache empty of in-flight entries afterwards
    assert engine.images_encoded == 6
    assert engine._images == {}


async def test_image_is_a_valid_png_data_url(server: FakeServer, make_engine: EngineFactory):
    requests = make_requests(n_images=3, aspects=("beauty",), repeats=1)
    results = await collect(make_engine(), requests)
    assert all(r.engine_error is None for r in results)
    by_prompt_seed = {b["seed"]: b for b in server.bodies}
    for req in requests:
        content = by_prompt_seed[req.seed]["messages"][0]["content"]
        url = content[0]["image_url"]["url"]
        assert url.startswith(PNG_PREFIX)
        raw = base64.b64decode(url[len(PNG_PREFIX) :], validate=True)
        assert raw.startswith(b"\x89PNG\r\n\x1a\n")
        decoded = Image.open(io.BytesIO(raw))
        assert decoded.format == "PNG"
        assert decoded.convert("RGB").tobytes() == req.image.tobytes()  # lossless
        assert content[1] == {"type": "text", "text": req.prompt}


async def test_jpeg_image_format(server: FakeServer, make_engine: EngineFactory):
    req = make_requests(n_images=1, aspects=("beauty",), repeats=1)
    results = await collect(make_engine(image_format="jpeg"), req)
    assert results[0].engine_error is None
    url = server.bodies[0]["messages"][0]["content"][0]["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    assert Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).format == "JPEG"


async def test_image_encoded_once_per_image(
    server: FakeServer, make_engine: EngineFactory, monkeypatch: pytest.MonkeyPatch
):
    import vlmrate.engines.openai as mod

    calls: list[tuple[int, int]] = []
    real = mod.encode_image

    def counting(image: Image.Image, fmt: str = "PNG") -> str:
        calls.append(image.size)
        return real(image, fmt)

    monkeypatch.setattr(mod, "encode_image", counting)
    engine = make_engine(concurrency=2)  # fewer slots than requests per image
    results = await collect(engine, make_requests(n_images=4, repeats=2))
    assert len(results) == 24 and all(r.engine_error is None for r in results)
    assert len(calls) == 4
    assert engine._images == {}  # nothing in flight is cached any more
    assert len(engine._done_images) <= mod.DONE_IMAGE_CACHE


async def test_async_iterable_input(server: FakeServer, make_engine: EngineFactory):
    requests = make_requests(n_images=2)

    async def gen() -> AsyncIterator[RatingRequest]:
        for req in requests:
            await asyncio.sleep(0)
            yield req

    results = await collect(make_engine(concurrency=4), gen())
    assert sorted(key(r.request) for r in results) == sorted(key(r) for r in requests)


async def test_results_are_yielded_as_they_finish(server: FakeServer, make_engine: EngineFactory):
    requests = make_requests(n_images=1, aspects=("beauty",), repeats=4)
    slow_seed = requests[0].seed
    server.delay_fn = lambda body: 0.4 if body["seed"] == slow_seed else 0.0
    results = await collect(make_engine(concurrency=4), requests)
    assert results[-1].request.seed == slow_seed
    assert results[0].request.seed != slow_seed


async def test_max_tokens_reached_gives_finish_reason_length(
    server: FakeServer, make_engine: EngineFactory
):
    req = make_requests(n_images=1, aspects=("beauty",), repeats=1)
    results = await collect(make_engine(SamplingConfig(max_tokens=3)), req)
    assert results[0].finish_reason == "length"
    assert results[0].output_tokens == 3


# -- structured outputs and logprobs ---------------------------------------------------


async def test_structured_outputs_field(server: FakeServer, make_engine: EngineFactory):
    cfg = SamplingConfig(structured=True)
    results = await collect(make_engine(cfg), make_requests(n_images=2, repeats=1))
    assert len(server.bodies) == 6
    for body in server.bodies:
        assert body["structured_outputs"] == {"regex": structured_regex(cfg)}
        assert "guided_regex" not in body
    for res in results:
        assert re.fullmatch(structured_regex(cfg), res.text), res.text


async def test_logprobs_give_rating_probs(server: FakeServer, make_engine: EngineFactory):
    cfg = SamplingConfig(structured=True, logprobs=True)
    results = await collect(make_engine(cfg), make_requests(n_images=2, repeats=2))
    for body in server.bodies:
        assert body["logprobs"] is True
        assert body["top_logprobs"] == 20
    for res in results:
        r = rating_of(res.request.seed)
        assert res.rating_probs == pytest.approx(expected_probs(r))
        assert sum(res.rating_probs) == pytest.approx(1.0)
        assert max(range(9), key=lambda i: res.rating_probs[i]) + 1 == r


def _lp(token: str, top: dict[str, float] | None = None) -> dict[str, Any]:
    top = top or {token: -0.1}
    return {
        "token": token,
        "logprob": next(iter(top.values())),
        "top_logprobs": [{"token": t, "logprob": lp} for t, lp in top.items()],
    }


def test_rating_position_is_first_digit_after_label():
    import math

    content = [
        _lp("Image"),
        _lp(" "),
        _lp("3", {"3": -0.1, "4": -3.0}),  # a digit before the label is not the rating
        _lp(":"),
        _lp(" **"),
        _lp("Rating"),
        _lp(":**"),
        _lp("▁7", {"▁7": math.log(0.5), "7": math.log(0.25), " 8": math.log(0.25)}),
        _lp("/"),
        _lp("9"),
    ]
    probs = rating_probs_from_logprobs(content)
    assert probs is not None
    assert probs[6] == pytest.approx(0.75) and probs[7] == pytest.approx(0.25)


def test_rating_position_sampled_token_added_when_missing_from_top():
    content = [_lp("Rating"), _lp(":"), {"token": " 5", "logprob": -0.2, "top_logprobs": []}]
    probs = rating_probs_from_logprobs(content)
    assert probs == pytest.approx([0, 0, 0, 0, 1, 0, 0, 0, 0])


def test_two_tokens_of_the_same_text_add_up():
    """LLaMA writes "7" as the token 7 or as its byte token <0x37>; vLLM shows both as "7"
    (seen against a real vllm serve: the grammar leaves both spellings at the digit)."""
    import math

    from vlmrate.engines.openai import rating_logprobs_table

    top = [("7", math.log(0.3)), ("8", math.log(0.2)), ("7", math.log(0.1)), ("8", math.log(0.4))]
    item = {"token": "7", "logprob": math.log(0.3),
            "top_logprobs": [{"token": t, "logprob": lp} for t, lp in top]}
    content = [_lp("Rating"), _lp(":"), _lp(" "), item]
    table = rating_logprobs_table(content)
    assert table is not None
    assert math.exp(table["7"]) == pytest.approx(0.4) and math.exp(table["8"]) == pytest.approx(0.6)
    assert rating_probs_from_logprobs(content) == pytest.approx([0, 0, 0, 0, 0, 0, 0.4, 0.6, 0])


def test_rating_position_none_without_digit_or_label():
    assert rating_probs_from_logprobs(None) is None
    assert rating_probs_from_logprobs([_lp("I"), _lp(" rate"), _lp(" 7")]) is None
    words_first = [_lp("Rating"), _lp(":"), _lp(" about"), _lp(" 7")]
    assert rating_probs_from_logprobs(words_first) is None


def test_digit_probs_tolerates_token_spellings():
    import math

    probs = digit_probs(
        {
            "▁7": math.log(0.2),
            " 7": math.log(0.2),
            "Ġ3": math.log(0.1),
            "<0x35>": math.log(0.1),
            "x": -0.1,
            "0": -0.1,
        }
    )
    assert probs is not None
    assert probs[6] == pytest.approx(0.4 / 0.6)
    assert probs[2] == pytest.approx(0.1 / 0.6)
    assert probs[4] == pytest.approx(0.1 / 0.6)
    assert digit_probs({"a": -0.1}) is None


# -- retries and failures --------------------------------------------------------------


async def test_injected_500s_then_success(server: FakeServer, make_engine: EngineFactory):
    server.faults.extend(["500", "500"])
    req = make_requests(n_images=1, aspects=("beauty",), repeats=1)
    results = await collect(make_engine(max_retries=3), req)
    assert results[0].engine_error is None
    assert results[0].text.startswith("Rating: ")
    assert server.chat_calls == 3


async def test_500s_until_retries_run_out(server: FakeServer, make_engine: EngineFactory):
    server.faults.extend(["500"] * 10)
    req = make_requests(n_images=1, aspects=("beauty",), repeats=1)
    results = await collect(make_engine(max_retries=3), req)
    assert results[0].engine_error == "HTTP 500 after 3 retries: boom"
    assert results[0].text == ""
    assert server.chat_calls == 4


async def test_429_honours_retry_after(server: FakeServer, make_engine: EngineFactory):
    server.faults.append("429:1")
    req = make_requests(n_images=1, aspects=("beauty",), repeats=1)
    t0 = time.perf_counter()
    results = await collect(make_engine(backoff_s=0.01), req)
    elapsed = time.perf_counter() - t0
    assert results[0].engine_error is None
    assert server.chat_calls == 2
    assert elapsed >= 0.95  # waited the server's Retry-After, not the 10 ms backoff


async def test_timeout_then_success(server: FakeServer, make_engine: EngineFactory):
    server.faults.append("sleep:1.5")
    req = make_requests(n_images=1, aspects=("beauty",), repeats=1)
    results = await collect(make_engine(timeout_s=0.3), req)
    assert results[0].engine_error is None
    assert server.chat_calls == 2


async def test_timeouts_until_retries_run_out(server: FakeServer, make_engine: EngineFactory):
    server.faults.extend(["sleep:1.5"] * 5)
    req = make_requests(n_images=1, aspects=("beauty",), repeats=1)
    t0 = time.perf_counter()
    results = await collect(make_engine(timeout_s=0.25, max_retries=2), req)
    elapsed = time.perf_counter() - t0
    assert results[0].engine_error == "timeout after 2 retries: no answer within 0.25s"
    assert server.chat_calls == 3
    assert 0.7 < elapsed < 3.0  # three 0.25 s attempts, not three 1.5 s sleeps
    assert 0.7 < results[0].latency_s <= elapsed  # latency counts every attempt


async def test_dropped_connection_is_retried(server: FakeServer, make_engine: EngineFactory):
    server.faults.append("close")
    req = make_requests(n_images=1, aspects=("beauty",), repeats=1)
    results = await collect(make_engine(), req)
    assert results[0].engine_error is None
    assert server.chat_calls == 2


async def test_400_is_not_retried(server: FakeServer, make_engine: EngineFactory):
    server.faults.append("400")
    req = make_requests(n_images=1, aspects=("beauty",), repeats=2)
    results = await collect(make_engine(concurrency=1), req)
    errors = [r.engine_error for r in results]
    assert f"HTTP 400: {ERROR_400}" in errors
    assert None in errors  # the other request went through
    assert server.chat_calls == 2


async def test_malformed_json(server: FakeServer, make_engine: EngineFactory):
    server.faults.append("badjson")
    req = make_requests(n_images=1, aspects=("beauty",), repeats=1)
    results = await collect(make_engine(), req)
    assert results[0].engine_error is not None
    assert results[0].engine_error.startswith("malformed JSON response")
    assert server.chat_calls == 1


async def test_response_without_choices(server: FakeServer, make_engine: EngineFactory):
    server.faults.append("nochoices")
    req = make_requests(n_images=1, aspects=("beauty",), repeats=1)
    results = await collect(make_engine(), req)
    assert results[0].engine_error is not None
    assert results[0].engine_error.startswith("response without choices")
    assert server.chat_calls == 1


async def test_unencodable_image_is_an_error_result(server: FakeServer, make_engine: EngineFactory):
    good = make_requests(n_images=1, aspects=("beauty",), repeats=2)
    bad = RatingRequest("broken", "beauty", 0, 7, "Rate it", image=None)  # type: ignore[arg-type]
    results = await collect(make_engine(), [good[0], bad, good[1]])
    by_id = {r.request.image_id: r for r in results}
    assert len(results) == 3
    assert by_id["broken"].engine_error is not None
    assert by_id["broken"].engine_error.startswith("cannot encode image")
    assert all(r.engine_error is None for r in results if r.request.image_id != "broken")


async def test_server_dies_mid_run(server: FakeServer, make_engine: EngineFactory):
    """The only server dies: every answer it gave comes out, then AllServersDown; the
    requests it did not answer yield nothing (they are left for resume)."""
    requests = make_requests()
    server.delay = 0.03
    engine = make_engine(concurrency=4, max_retries=2, timeout_s=2)
    await engine.start()
    results: list[RatingResult] = []
    with pytest.raises(AllServersDown) as err:
        async for res in engine.rate(requests):
            results.append(res)
            if len(results) == 10:
                await asyncio.to_thread(server.kill)
    assert f"cannot reach {server.url}" in str(err.value)
    keys = [key(r.request) for r in results]
    assert len(keys) == len(set(keys)) and 10 <= len(keys) < len(requests)
    assert all(r.engine_error is None and r.server == server.url for r in results)
    assert engine.server_stats()[0]["up"] is False
    assert engine._sem is not None and engine._sem._value == engine.permits == 4 + QUEUE_PER_SERVER  # every permit returned


# -- start / auth / info ---------------------------------------------------------------


async def test_start_ok(server: FakeServer, make_engine: EngineFactory):
    await make_engine().start()
    assert server.headers[0][0] == "/v1/models"


async def test_start_connection_refused(make_engine: EngineFactory):
    url = f"http://127.0.0.1:{free_port()}/v1"
    engine = make_engine(base_url=url)
    with pytest.raises(EngineUnavailable) as err:
        await engine.start()
    assert str(err.value) == f"cannot reach {url}: connection refused"


async def test_start_model_not_served(server: FakeServer, make_engine: EngineFactory):
    engine = make_engine(model="llava-13b")
    with pytest.raises(EngineUnavailable) as err:
        await engine.start()
    message = str(err.value)
    assert "'llava-13b' is not served" in message
    assert f"{MODEL}, other-model" in message
    assert "\n" not in message


async def test_start_base_url_without_v1(server: FakeServer, make_engine: EngineFactory):
    engine = make_engine(base_url=server.url.removesuffix("/v1"))
    with pytest.raises(EngineUnavailable, match="usually ends in /v1"):
        await engine.start()


async def test_api_key_from_env_only(
    server: FakeServer, make_engine: EngineFactory, monkeypatch: pytest.MonkeyPatch
):
    secret = "sk-test-5ecret-value"
    monkeypatch.setenv("VLMRATE_TEST_API_KEY", secret)
    engine = make_engine(api_key_env="VLMRATE_TEST_API_KEY")
    await engine.start()
    await collect(engine, make_requests(n_images=1, aspects=("beauty",), repeats=1))
    assert [path for path, _ in server.headers] == ["/v1/models", "/v1/chat/completions"]
    for _, headers in server.headers:
        assert headers["Authorization"] == f"Bearer {secret}"
    info = engine.info()
    dumped = json.dumps(info)
    assert secret not in dumped and secret[-6:] not in dumped
    assert secret not in repr(engine) and secret not in str(vars(engine).keys())
    assert info["api_key_env"] == "VLMRATE_TEST_API_KEY"
    assert info["base_url"] == server.url
    assert info["model"] == MODEL
    assert info["concurrency"] == 64
    assert info["timeout_s"] == 5


async def test_no_api_key_no_header(
    server: FakeServer, make_engine: EngineFactory, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("VLMRATE_TEST_API_KEY", raising=False)
    await make_engine().start()
    assert "Authorization" not in server.headers[0][1]


def test_info_drops_credentials_in_url():
    engine = OpenAIEngine("http://user:pw@example.org:8000/v1/", "m", SamplingConfig())
    assert engine.info()["base_url"] == "http://example.org:8000/v1"


async def test_start_no_models(server: FakeServer, make_engine: EngineFactory):
    server.models = ()
    with pytest.raises(EngineUnavailable, match="served models: none"):
        await make_engine().start()


async def test_start_without_the_key_a_server_wants(
    server: FakeServer, make_engine: EngineFactory, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("VLMRATE_TEST_API_KEY", raising=False)
    server.require_key = "sk-right"
    with pytest.raises(EngineUnavailable) as err:
        await make_engine().start()
    assert "refused the API key (HTTP 401)" in str(err.value)
    assert "VLMRATE_TEST_API_KEY" in str(err.value)


# -- concurrency and cancellation ------------------------------------------------------


async def test_concurrency_bound_respected(server: FakeServer, make_engine: EngineFactory):
    server.delay = 0.03
    results = await collect(make_engine(concurrency=4), make_requests())
    assert len(results) == 54
    assert server.max_in_flight == 4


async def test_cancel_stops_the_run(server: FakeServer, make_engine: EngineFactory):
    server.delay = 1.0
    engine = make_engine(concurrency=4)
    results: list[RatingResult] = []

    async def consume() -> None:
        async for res in engine.rate(make_requests()):
            results.append(res)

    t0 = time.perf_counter()
    task = asyncio.create_task(consume())
    await asyncio.sleep(0.2)
    await engine.cancel()
    await asyncio.wait_for(task, 2)
    assert time.perf_counter() - t0 < 0.95  # in-flight requests were not waited for
    assert results == []
    assert engine._runs == set()
    assert engine._sem is not None and engine._sem._value == engine.permits == 4 + QUEUE_PER_SERVER  # every permit back
    assert server.chat_calls <= 4  # nothing submitted after cancel


async def test_leaving_rate_early_cleans_up(server: FakeServer, make_engine: EngineFactory):
    server.delay = 0.05
    engine = make_engine(concurrency=4)
    gen = engine.rate(make_requests())
    got = [await anext(gen), await anext(gen)]
    await gen.aclose()
    assert len(got) == 2
    assert engine._runs == set()
    assert engine._sem is not None and engine._sem._value == engine.permits == 4 + QUEUE_PER_SERVER
    # the engine still works afterwards
    results = await collect(engine, make_requests(n_images=1, repeats=1))
    assert len(results) == 3


async def test_input_iterable_error_propagates_after_results(
    server: FakeServer, make_engine: EngineFactory
):
    requests = make_requests(n_images=1, repeats=1)

    def broken() -> Any:
        yield from requests
        raise RuntimeError("planner bug")

    results: list[RatingResult] = []
    with pytest.raises(RuntimeError, match="planner bug"):
        async for res in make_engine().rate(broken()):
            results.append(res)
    assert len(results) == 3


# -- helpers ---------------------------------------------------------------------------


def test_retry_after_parsing():
    import httpx

    def resp(value: str) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": value})

    assert _retry_after_s(resp("2")) == 2.0
    assert _retry_after_s(resp("0.5")) == 0.5
    assert _retry_after_s(resp("-3")) == 0.0
    assert _retry_after_s(resp("soon")) is None
    future = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 < (_retry_after_s(resp(future)) or 0) <= 31
    assert _retry_after_s(httpx.Response(429)) is None


def test_encode_image_converts_modes():
    url = encode_image(Image.new("P", (4, 4)), "PNG")
    assert url.startswith(PNG_PREFIX)
    url = encode_image(Image.new("RGBA", (4, 4)), "JPEG")
    assert url.startswith("data:image/jpeg;base64,")
    assert make_image(1).mode == "RGB"


def test_constructor_validates():
    with pytest.raises(ValueError):
        OpenAIEngine("http://x/v1", "m", SamplingConfig(), concurrency=0)
    with pytest.raises(ValueError):
        OpenAIEngine("http://x/v1", "m", SamplingConfig(), image_format="BMP")


async def test_cancel_at_any_point_returns_every_permit(
    server: FakeServer, make_engine: EngineFactory
):
    """Cancelling between a task's creation and its first step must not leak a permit."""
    server.delay = 0.2
    engine = make_engine(concurrency=4)
    for steps in range(1, 12):
        results: list[RatingResult] = []

        async def consume() -> None:
            async for res in engine.rate(make_requests(n_images=2)):
                results.append(res)  # noqa: B023

        task = asyncio.create_task(consume())
        for _ in range(steps):
            await asyncio.sleep(0)
        await engine.cancel()
        await asyncio.wait_for(task, 2)
        assert engine._sem is not None and engine._sem._value == engine.permits == 4 + QUEUE_PER_SERVER, steps
        assert engine._images == {}, steps
        assert engine._runs == set()
    # and it still rates afterwards
    assert len(await collect(engine, make_requests(n_images=1, repeats=1))) == 3


async def test_system_text_is_a_system_message_before_the_user_turn(
        server: FakeServer, make_engine: EngineFactory) -> None:
    from dataclasses import replace

    requests = [replace(r, system="Be a careful rater.")
                for r in make_requests(n_images=2, aspects=("beauty",), repeats=1)]
    engine = make_engine(SamplingConfig(structured=True))
    await engine.start()
    results = await collect(engine, requests)
    assert all(r.engine_error is None for r in results) and len(results) == 2
    for body in server.bodies:
        system, user = body["messages"]
        # a list of parts, as llava-hf's template needs (a plain string renders as nothing)
        assert system == {"role": "system",
                          "content": [{"type": "text", "text": "Be a careful rater."}]}
        assert user["role"] == "user"
        assert [p["type"] for p in user["content"]] == ["image_url", "text"]
        assert body["add_special_tokens"] is True
    info = engine.info()
    assert info["structured_regex"] == structured_regex(SamplingConfig(structured=True))
    assert info["add_special_tokens"] is True
