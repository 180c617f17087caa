"""A real local HTTP server that answers like vLLM's OpenAI-compatible server.

It runs ``http.server`` in a thread on 127.0.0.1 (random port) so the engine talks real
HTTP over real sockets. Faults are scripted per chat request through ``server.faults``:

- ``"500"``          HTTP 500 with an OpenAI-style error body
- ``"429:<s>"``      HTTP 429 with ``Retry-After: <s>``
- ``"400"``          HTTP 400 (no retry expected)
- ``"sleep:<s>"``    sleep <s> seconds, then answer normally (client timeouts)
- ``"badjson"``      HTTP 200 with a body that is not JSON
- ``"nochoices"``    HTTP 200 JSON without ``choices``
- ``"close"``        drop the connection without answering
- ``"echo"``         HTTP 400 whose message echoes the request's headers (Authorization too)
- ``"escape"``       HTTP 400 whose message holds terminal escape sequences (OSC title,
                     clear screen, OSC 52 clipboard)

The normal answer's rating is ``seed % 9 + 1``. Without structured outputs the text
echoes the prompt (``Rating: r. Reason: <prompt>``); with ``structured_outputs.regex`` it
is a template answer; ``guided_regex`` is ignored, as current vLLM does.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import math
import re
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from PIL import Image

from vlmrate.engines.base import RatingRequest, SamplingConfig
from vlmrate.engines.openai import OpenAIEngine

MODEL = "tiny-llava"
PNG_PREFIX = "data:image/png;base64,"
ERROR_400 = "This model's maximum context length is 4096 tokens."
#: What a hostile server (or model) puts into its text: a window title, a screen clear and
#: a clipboard write, each a terminal escape sequence.
ESCAPES = "x\x1b]0;PWNED\x07\x1b[2J\x1b]52;c;cHduZWQ=\x07\x9b31m y"
TOKEN_RE = re.compile(r"\d|[A-Za-z]+|\s+|[^\w\s]")


def rating_of(seed: int) -> int:
    return seed % 9 + 1


def alt_digits(r: int) -> tuple[int, int]:
    return r % 9 + 1, (r + 1) % 9 + 1


def expected_probs(r: int) -> list[float]:
    """The probabilities the fake server's top logprobs give after renormalising."""
    a1, a2 = alt_digits(r)
    probs = [0.0] * 9
    probs[r - 1], probs[a1 - 1], probs[a2 - 1] = 0.6 / 0.9, 0.2 / 0.9, 0.1 / 0.9
    return probs


def prompt_tokens_of(prompt: str) -> int:
    return 100 + len(prompt.split())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        self.server.owner.connections.add(self.connection)

    def finish(self) -> None:
        self.server.owner.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def _send(
        self, status: int, body: bytes | dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            self.close_connection = True  # the client went away

    def _unauthorised(self) -> bool:
        key = self.server.owner.require_key
        if key is None or self.headers.get("Authorization") == f"Bearer {key}":
            return False
        self._send(401, {"error": {"message": "Unauthorized", "code": 401}})
        return True

    def do_GET(self) -> None:
        owner = self.server.owner
        owner.record_headers(self.path, dict(self.headers))
        if self._unauthorised():
            return
        if self.path == "/v1/models":
            data = [
                {"id": m, "object": "model", "owned_by": "vllm", "root": m} for m in owner.models
            ]
            self._send(200, {"object": "list", "data": data})
        else:
            self._send(404, {"error": {"message": "Not Found", "type": "NotFound", "code": 404}})

    def do_POST(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        owner.record_headers(self.path, dict(self.headers))
        if self._unauthorised():
            return
        if self.path != "/v1/chat/completions":
            self._send(404, {"error": {"message": "Not Found", "code": 404}})
            return
        fault = owner.enter()
        try:
            self._chat(raw, fault)
        finally:
            owner.leave()

    def _chat(self, raw: bytes, fault: str | None) -> None:
        owner = self.server.owner
        if fault == "500":
            self._send(
                500, {"error": {"message": "boom", "type": "InternalServerError", "code": 500}}
            )
            return
        if fault and fault.startswith("429:"):
            self._send(
                429,
                {"error": {"message": "too many requests", "code": 429}},
                {"Retry-After": fault.split(":", 1)[1]},
            )
            return
        if fault == "400":
            self._send(
                400, {"error": {"message": ERROR_400, "type": "BadRequestError", "code": 400}}
            )
            return
        if fault == "echo":
            self._send(400, {"error": {"message": f"bad request; headers: {dict(self.headers)}",
                                       "code": 400}})
            return
        if fault == "escape":
            self._send(400, {"error": {"message": ESCAPES, "code": 400}})
            return
        if fault == "close":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault and fault.startswith("sleep:"):
            time.sleep(float(fault.split(":", 1)[1]))
        body = json.loads(raw)
        owner.record_body(body)
        if fault == "badjson":
            self._send(200, b'{"id": "cmpl-1", "choices": [')
            return
        if fault == "nochoices":
            self._send(200, {"id": "cmpl-1", "object": "chat.completion", "model": MODEL})
            return
        delay = owner.delay_fn(body) if owner.delay_fn else owner.delay
        if delay:
            time.sleep(delay)
        self._send(200, owner.answer(body))


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    owner: FakeServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that time out or vanish are part of the tests


class FakeServer:
    """vLLM-like OpenAI server on 127.0.0.1; records what it was sent."""

    def __init__(self, models: tuple[str, ...] = (MODEL, "other-model"), port: int = 0) -> None:
        self.models = models
        self.faults: deque[str] = deque()
        self.require_key: str | None = None  # answer 401 unless "Bearer <key>" is sent
        self.delay = 0.0
        self.delay_fn: Callable[[dict[str, Any]], float] | None = None
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[tuple[str, dict[str, str]]] = []
        self.chat_calls = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.connections: set[socket.socket] = set()
        self.lock = threading.Lock()
        self._httpd = _HTTPServer(("127.0.0.1", port), _Handler)
        self._httpd.owner = self
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        self.alive = True

    def enter(self) -> str | None:
        with self.lock:
            self.chat_calls += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            return self.faults.popleft() if self.faults else None

    def leave(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def record_body(self, body: dict[str, Any]) -> None:
        with self.lock:
            self.bodies.append(body)

    def record_headers(self, path: str, headers: dict[str, str]) -> None:
        with self.lock:
            self.headers.append((path, headers))

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        """A chat.completion like vLLM's, derived from the request."""
        content = body["messages"][-1]["content"]  # the user turn (after a system message)
        image_url = next(p for p in content if p["type"] == "image_url")["image_url"]["url"]
        prompt = next(p for p in content if p["type"] == "text")["text"]
        Image.open(io.BytesIO(base64.b64decode(image_url.split(",", 1)[1]))).load()
        r = rating_of(int(body["seed"]))
        if isinstance(body.get("structured_outputs"), dict) and body["structured_outputs"].get(
            "regex"
        ):
            text = f"Rating: {r}. Reason: the colours are pleasant."
        else:  # guided_regex, if sent, is ignored like current vLLM does
            text = f"Rating: {r}. Reason: {prompt}"
        tokens = TOKEN_RE.findall(text)
        finish = "stop"
        if len(tokens) > body["max_tokens"]:
            tokens, finish = tokens[: body["max_tokens"]], "length"
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": "".join(tokens), "tool_calls": []},
            "logprobs": None,
            "finish_reason": finish,
            "stop_reason": None,
        }
        if body.get("logprobs"):
            choice["logprobs"] = {
                "content": self._logprobs(tokens, r, int(body.get("top_logprobs") or 0))
            }
        return {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [choice],
            "usage": {
                "prompt_tokens": prompt_tokens_of(prompt),
                "completion_tokens": len(tokens),
                "total_tokens": prompt_tokens_of(prompt) + len(tokens),
            },
        }

    @staticmethod
    def _logprobs(tokens: list[str], r: int, k: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        seen_label = False
        done = False
        a1, a2 = alt_digits(r)
        text = ""
        for token in tokens:
            if not done and seen_label and token == str(r):
                top = [
                    (str(r), math.log(0.6)),
                    (f"▁{a1}", math.log(0.2)),
                    (f" {a2}", math.log(0.1)),
                    ("Rating", math.log(0.05)),
                    ("0", math.log(0.05)),
                ]
                done = True
            else:
                top = [(token, -0.01), ("the", -5.0)]
            top = top[:k]
            out.append(
                {
                    "token": token,
                    "logprob": top[0][1] if top else -0.01,
                    "bytes": list(token.encode()),
                    "top_logprobs": [
                        {"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in top
                    ],
                }
            )
            text += token
            seen_label = seen_label or text.endswith("Rating:")
        return out

    def kill(self) -> None:
        """Die like a crashed server: stop listening and drop every open connection."""
        if not self.alive:
            return
        self.alive = False
        self._httpd.shutdown()
        self._httpd.server_close()
        for conn in list(self.connections):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def server() -> Iterator[FakeServer]:
    srv = FakeServer()
    yield srv
    srv.kill()


def make_image(i: int) -> Image.Image:
    return Image.new("RGB", (16 + i, 12 + i), (40 * i % 256, 255 - 30 * i, 100))


def make_requests(
    n_images: int = 6, aspects: tuple[str, ...] = ("beauty", "calm", "order"), repeats: int = 3
) -> list[RatingRequest]:
    """All requests of an image together, as the runner sends them."""
    out = []
    seed = 0
    for i in range(n_images):
        image = make_image(i)
        for aspect in aspects:
            for rep in range(repeats):
                out.append(
                    RatingRequest(
                        image_id=f"img{i}",
                        aspect=aspect,
                        repeat=rep,
                        seed=1000 + seed,
                        prompt=f"Rate the {aspect} of this picture",
                        image=image,
                    )
                )
                seed += 1
    return out


@pytest.fixture
async def make_engine(server: FakeServer) -> AsyncIterator[Callable[..., OpenAIEngine]]:
    engines: list[OpenAIEngine] = []

    def factory(sampling: SamplingConfig | None = None, **kwargs: Any) -> OpenAIEngine:
        kwargs.setdefault("backoff_s", 0.01)
        kwargs.setdefault("timeout_s", 5)
        kwargs.setdefault("max_retries", 3)
        kwargs.setdefault("api_key_env", "VLMRATE_TEST_API_KEY")
        engine = OpenAIEngine(
            kwargs.pop("base_url", server.url),
            kwargs.pop("model", MODEL),
            sampling or SamplingConfig(),
            **kwargs,
        )
        engines.append(engine)
        return engine

    yield factory
    for engine in engines:
        await engine.close()
