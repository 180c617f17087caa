"""Engine for one or several OpenAI-compatible chat endpoints (``vllm serve`` first of all).

Each RatingRequest becomes one POST to ``{base_url}/chat/completions`` with the image as a
base64 data URL. The image of an image_id is encoded once and shared by all its requests
(the runner sends the requests of one image together). With several base URLs, every
request of an image goes to one server and new images to the least busy one
(:mod:`vlmrate.engines.servers`); each server has at most ``concurrency`` requests in
flight. Timeouts, connection errors, 429 (honouring Retry-After) and 5xx are retried with
exponential backoff and jitter. After a timeout or a connection error, and when the 5xx
retries run out, the server is probed (``GET /models``): a server that does not answer
leaves the rotation, the request goes to another server, and the server is probed again
every ``cooldown_s`` and comes back when it answers. A request that fails on a server that
answers the probe, or that gets another 4xx or a malformed answer, comes back as a
RatingResult with ``engine_error`` set. Only when no server is left does ``rate()`` raise
(:class:`AllServersDown`), after yielding every answer it had; the requests it had not
answered yield nothing (they are left for resume).

The API key is read only from an environment variable (``api_key_env``) and is never
returned by ``info()``.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import errno
import functools
import io
import json
import math
import os
import random
import re
import socket
import ssl
import time
from collections import OrderedDict
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from vlmrate.engines.base import (
    EngineUnavailable,
    RatingRequest,
    RatingResult,
    SamplingConfig,
    chat_messages,
    digit_mass,
    digit_probs,
    structured_regex,
)
from vlmrate.engines.servers import AllServersDown, Server, ServerPool
from vlmrate.redact import redact_url as _redact_url

if TYPE_CHECKING:
    from PIL import Image

#: Ask vLLM's chat endpoint to add the tokenizer's special tokens (<s>) to the rendered
#: prompt, as vLLM does for the in-process engine's text prompt: both send the same ids.
ADD_SPECIAL_TOKENS = True
TOP_LOGPROBS = 20  # vLLM's default --max-logprobs; >= 9 so every digit can show up
MAX_BACKOFF_S = 30.0
MAX_RETRY_AFTER_S = 300.0
DONE_IMAGE_CACHE = 8  # encoded images kept after all their requests are done
PROBE_TIMEOUT_S = 10.0
QUEUE_PER_SERVER = 256  # requests that may wait for a server's window (~8 images of 30)
_ERROR_TEXT_CHARS = 300

_MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
_RATING_LABEL = re.compile(r"rating\s*[:=]", re.IGNORECASE)
_BYTE_DIGIT = re.compile(r"^<0x3[0-9]>$")


def encode_image(image: Image.Image, image_format: str = "PNG") -> str:
    """The image as a ``data:`` URL (base64)."""
    fmt = image_format.upper()
    keep = ("RGB",) if fmt == "JPEG" else ("RGB", "RGBA", "L")
    if image.mode not in keep:
        image = image.convert("RGB")
    buf = io.BytesIO()
    if fmt == "PNG":
        # Lossless either way; level 1 is several times faster than the default 6.
        image.save(buf, format="PNG", compress_level=1)
    elif fmt == "JPEG":
        image.save(buf, format="JPEG", quality=95)
    else:
        image.save(buf, format=fmt, lossless=True)
    return f"data:{_MIME[fmt]};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def rating_probs_from_logprobs(
    content: list[dict[str, Any]] | None, lo: int = 1, hi: int = 9
) -> list[float] | None:
    """Digit probabilities at the rating position of a chat ``logprobs.content`` list.

    The rating position is the first generated token after "Rating:" (or "rating =")
    that is a digit; None when there is no such token or no digit in its top logprobs.
    """
    table = rating_logprobs_table(content)
    return None if table is None else digit_probs(table, lo, hi)


def rating_logprobs_table(content: list[dict[str, Any]] | None) -> dict[str, float] | None:
    """Token -> logprob at the rating position (see :func:`rating_probs_from_logprobs`)."""
    if not content:
        return None
    tokens = [str(item.get("token", "")) if isinstance(item, dict) else "" for item in content]
    text = "".join(tokens)
    label = _RATING_LABEL.search(text)
    if label is None:
        return None
    start = 0
    for item, token in zip(content, tokens, strict=True):
        end = start + len(token)
        if end > label.end() and isinstance(item, dict):
            # Only the part of the token after the label counts ("Rating:" + " 7" or ": 7").
            tail = token[max(0, label.end() - start) :]
            if tail.strip(" ▁Ġ") and _is_digit_token(tail):
                # Two token ids may decode to the same text (LLaMA's "7" and its byte
                # spelling <0x37>): their probabilities add up, as in the in-process engine.
                top: dict[str, float] = {}
                seen: set[tuple[str, float]] = set()
                for alt in item.get("top_logprobs") or []:
                    if isinstance(alt, dict) and "token" in alt:
                        seen.add((str(alt["token"]), alt.get("logprob")))
                        _add_logprob(top, str(alt["token"]), alt.get("logprob"))
                if (token, item.get("logprob")) not in seen:  # the sampled token, if not listed
                    _add_logprob(top, token, item.get("logprob"))
                return top
            if not _BYTE_DIGIT.match(tail) and any(ch.isalpha() for ch in tail.strip("▁Ġ")):
                return None  # words before any digit: no rating digit to read
        start = end
    return None


def _is_digit_token(token: str) -> bool:
    stripped = token.strip().lstrip("▁Ġ").strip()
    return (len(stripped) == 1 and stripped in "0123456789") or bool(_BYTE_DIGIT.match(token))


def _add_logprob(top: dict[str, float], token: str, logprob: Any) -> None:
    """Add a token's probability to ``top`` (summed with another token of the same text)."""
    if not isinstance(logprob, int | float) or math.isnan(logprob):
        return
    if token in top:
        a, b = top[token], float(logprob)
        hi = max(a, b)
        top[token] = hi if hi == -math.inf else hi + math.log1p(math.exp(min(a, b) - hi))
    else:
        top[token] = float(logprob)


def _short(text: str, limit: int = _ERROR_TEXT_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _server_message(response: httpx.Response) -> str:
    """The error message of an OpenAI-style error body, else the body's start."""
    try:
        body = response.json()
    except ValueError:
        return _short(response.text) or response.reason_phrase
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return _short(str(err["message"]))
        if isinstance(err, str) and err:
            return _short(err)
        if body.get("message"):
            return _short(str(body["message"]))
        if body.get("detail"):
            return _short(str(body["detail"]))
    return _short(response.text)


def _describe_transport_error(exc: BaseException) -> str:
    """A short cause for a connection failure ("connection refused", "unknown host"...)."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:  # httpx wraps the OSError
        seen.add(id(cause))
        if isinstance(cause, socket.gaierror):
            return "unknown host"
        if isinstance(cause, ConnectionRefusedError) or getattr(cause, "errno", None) == (
            errno.ECONNREFUSED
        ):
            return "connection refused"
        if isinstance(cause, ConnectionResetError):
            return "connection reset"
        text = str(cause).lower()
        if "refused" in text:
            return "connection refused"
        if "name or service not known" in text or "nodename nor servname" in text:
            return "unknown host"
        cause = cause.__cause__ or cause.__context__
    return _short(str(exc) or type(exc).__name__, 200)


def _retry_after_s(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


@functools.cache
def _tls_context(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    """The context httpx would make for ``verify=True`` (SSL_CERT_FILE, SSL_CERT_DIR, else
    certifi), made once a process per pair of those settings: loading the CA bundle costs
    ~25 ms, which every new client (each engine start, each run) would otherwise pay."""
    return httpx.create_ssl_context(trust_env=True)


class _Failure:
    """Sentinel carrying an exception raised by the caller's request iterable."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_DONE = object()


@dataclass(eq=False)
class _Run:
    """State of one ``rate()`` call."""

    queue: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    tasks: set[asyncio.Task[RatingResult]] = field(default_factory=set)
    producer: asyncio.Task[None] | None = None
    cancelled: bool = False
    submitted_all: bool = False
    failed: bool = False  # every server went down: rate() raises after what is queued
    closed: bool = False  # rate() has returned: a late result only gives its permit back
    final: Any = _DONE  # what ends the queue once every task is done: _DONE or a _Failure


class OpenAIEngine:
    """Rates images through one or several OpenAI-compatible ``/chat/completions`` endpoints."""

    name = "openai"

    def __init__(
        self,
        base_url: str | list[str] | tuple[str, ...],
        model: str,
        sampling: SamplingConfig,
        *,
        concurrency: int = 64,
        timeout_s: float = 120,
        max_retries: int = 5,
        backoff_s: float = 0.5,
        api_key_env: str = "OPENAI_API_KEY",
        image_format: str = "PNG",
        cooldown_s: float = 30.0,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        if cooldown_s <= 0:
            raise ValueError("cooldown_s must be positive")
        if image_format.upper() not in _MIME:
            raise ValueError(f"image_format must be one of {', '.join(_MIME)}")
        urls = [base_url] if isinstance(base_url, str) else list(base_url)
        self.base_urls = [u.rstrip("/") for u in urls]
        self.pool = ServerPool(self.base_urls, concurrency)
        self.base_url = self.base_urls[0]
        self.model = model
        self.sampling = sampling
        self.concurrency = concurrency
        self.timeout_s = float(timeout_s)
        self.max_retries = max_retries
        self.backoff_s = float(backoff_s)
        self.cooldown_s = float(cooldown_s)
        self.api_key_env = api_key_env
        self.image_format = image_format.upper()
        self._client: httpx.AsyncClient | None = None
        self._sem: asyncio.Semaphore | None = None
        self._runs: set[_Run] = set()
        # image_id -> (data URL, requests submitted and not finished)
        self._images: dict[str, list[Any]] = {}
        self._done_images: OrderedDict[str, str] = OrderedDict()
        # requests taken from the caller's stream and not yet handed out: every server's
        # window plus QUEUE_PER_SERVER waiting, so that a full server does not hold up the
        # stream while another has room (its images' requests wait in the engine instead;
        # they share their image, so waiting costs little memory)
        self.permits = (concurrency + QUEUE_PER_SERVER) * len(self.pool.servers)
        self._probes: dict[Server, asyncio.Task[str | None]] = {}
        self._recoveries: set[asyncio.Task[None]] = set()
        self.images_encoded = 0
        #: Told (message, seconds) before each wait for a retry, so that a run can show
        #: why nothing arrives (a silent server, Retry-After). The runner sets it.
        self.on_notice: Callable[[str, float], None] | None = None

    # -- lifecycle -------------------------------------------------------------------

    def _ensure_client(self) -> httpx.AsyncClient:
        total = self.concurrency * len(self.pool.servers)
        if self._client is None:
            headers = {"Content-Type": "application/json"}
            key = os.environ.get(self.api_key_env)
            if key:
                headers["Authorization"] = f"Bearer {key}"
            self._client = httpx.AsyncClient(
                headers=headers,
                verify=_tls_context(os.environ.get("SSL_CERT_FILE"),
                                    os.environ.get("SSL_CERT_DIR")),
                timeout=httpx.Timeout(self.timeout_s),
                limits=httpx.Limits(
                    max_connections=total + len(self.pool.servers),  # room for probes
                    max_keepalive_connections=total,
                ),
            )
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.permits)
        return self._client

    async def start(self) -> None:
        """Check that the servers answer and serve the model; EngineUnavailable if none
        does, or if one refuses the key or does not serve the model. A server that cannot
        be reached starts out of rotation (probed again after the cool-down)."""
        self._ensure_client()
        problems = await asyncio.gather(*(self._check(s) for s in self.pool.servers))
        unreachable = []
        for server, problem in zip(self.pool.servers, problems, strict=True):
            if problem is None:
                continue
            if not problem.startswith("cannot reach"):
                raise EngineUnavailable(problem)
            unreachable.append((server, problem))
        if len(unreachable) == len(self.pool.servers):
            raise EngineUnavailable("; ".join(p for _, p in unreachable))
        for server, problem in unreachable:
            self._take_down(server, problem)

    async def _check(self, server: Server) -> str | None:
        """None when the server answers ``/models`` with the model, else why not."""
        client = self._ensure_client()
        where = _redact_url(server.url)
        limit = min(self.timeout_s, 30.0)
        try:
            async with asyncio.timeout(limit):
                response = await client.get(f"{server.url}/models")
        except (TimeoutError, httpx.TimeoutException):
            return f"cannot reach {where}: no answer within {limit:g}s"
        except httpx.TransportError as exc:
            return f"cannot reach {where}: {_describe_transport_error(exc)}"
        if response.status_code in (401, 403):
            return (f"{where} refused the API key (HTTP {response.status_code}); "
                    f"set it in the environment variable {self.api_key_env}")
        if response.status_code == 404 and not server.url.endswith("/v1"):
            return f"{where}/models not found (HTTP 404); the base URL usually ends in /v1"
        if response.status_code != 200:
            return (f"{where}/models answered HTTP {response.status_code}: "
                    f"{_server_message(response)}")
        try:
            body = response.json()
            served = [str(m["id"]) for m in body["data"]]
        except (ValueError, KeyError, TypeError):
            return f"{where}/models did not answer a model list: {_short(response.text, 120)}"
        if self.model not in served:
            names = ", ".join(served) if served else "none"
            return f"model {self.model!r} is not served by {where}; served models: {names}"
        return None

    async def cancel(self) -> None:
        """Stop submitting and cancel the requests in flight; rate() then ends."""
        for run in list(self._runs):
            await self._stop_run(run)

    async def close(self) -> None:
        await self.cancel()
        pending = [*self._recoveries, *self._probes.values()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def info(self) -> dict[str, Any]:
        """Engine settings for the manifest (never the API key)."""
        return {
            "engine": self.name,
            "base_url": _redact_url(self.base_url),
            "base_urls": [_redact_url(u) for u in self.base_urls],
            "model": self.model,
            "concurrency": self.concurrency,
            "timeout_s": self.timeout_s,
            "max_retries": self.max_retries,
            "backoff_s": self.backoff_s,
            "cooldown_s": self.cooldown_s,
            "api_key_env": self.api_key_env,
            "image_format": self.image_format,
            "sampling": asdict(self.sampling),
            "structured_regex": structured_regex(self.sampling) if self.sampling.structured
            else None,
            "add_special_tokens": ADD_SPECIAL_TOKENS,
        }

    def server_stats(self) -> list[dict[str, Any]]:
        """Per server: URL (without credentials), in rotation or not, answers, answers/s."""
        return [{**s, "url": _redact_url(s["url"])} for s in self.pool.stats()]

    # -- server health ---------------------------------------------------------------

    async def _server_is_down(self, server: Server) -> bool:
        """Probe the server (one probe at a time per server); take it out of rotation
        when it does not answer. True when it is out of rotation."""
        if not server.up:
            return True
        probe = self._probes.get(server)
        if probe is None or probe.done():
            probe = asyncio.create_task(self._probe(server))
            self._probes[server] = probe
        problem = await asyncio.shield(probe)
        if problem is not None:
            self._take_down(server, problem)
        return not server.up

    async def _probe(self, server: Server) -> str | None:
        try:
            async with asyncio.timeout(min(self.timeout_s, PROBE_TIMEOUT_S)):
                return await self._check(server)
        except TimeoutError:
            return f"cannot reach {_redact_url(server.url)}: no answer to the probe"

    def _take_down(self, server: Server, problem: str) -> None:
        if self.pool.mark_down(server, problem):
            task = asyncio.create_task(self._recover(server))
            self._recoveries.add(task)
            task.add_done_callback(self._recoveries.discard)
            if self.pool.all_down:
                error = AllServersDown(self.pool.down_message())
                for run in list(self._runs):
                    self._fail_run(run, error)

    async def _recover(self, server: Server) -> None:
        """Probe a server out of rotation every cool-down until it answers."""
        while not server.up:
            await asyncio.sleep(self.cooldown_s)
            if await self._probe(server) is None:
                self.pool.mark_up(server)

    # -- rating ----------------------------------------------------------------------

    async def rate(
        self, requests: Iterable[RatingRequest] | AsyncIterable[RatingRequest]
    ) -> AsyncIterator[RatingResult]:
        """Yield one RatingResult per request, in the order they finish."""
        self._ensure_client()
        run = _Run()
        self._runs.add(run)
        if self.pool.all_down:
            self._fail_run(run, AllServersDown(self.pool.down_message()))
        else:
            run.producer = asyncio.create_task(self._produce(run, requests))
        delivered = False
        try:
            while True:
                item = await run.queue.get()
                if item is _DONE:
                    delivered = True
                    break
                if isinstance(item, _Failure):
                    raise item.exc
                self._release()
                yield item
        finally:
            if not delivered:
                await self._stop_run(run)
            while not run.queue.empty():  # undelivered results still hold a permit
                if isinstance(run.queue.get_nowait(), RatingResult):
                    self._release()
            run.closed = True
            self._runs.discard(run)

    def _fail_run(self, run: _Run, error: AllServersDown) -> None:
        """End the run: what is queued is delivered, then rate() raises the error."""
        if not run.failed and not run.cancelled:
            run.failed = True
            run.queue.put_nowait(_Failure(error))

    def _release(self) -> None:
        assert self._sem is not None
        self._sem.release()

    async def _stop_run(self, run: _Run) -> None:
        if run.cancelled:
            return
        run.cancelled = True
        pending = [t for t in (run.producer, *run.tasks) if t is not None and not t.done()]
        for task in pending:
            task.cancel()
        # Each task's done callback has run once gather returns (callbacks run in order);
        # tasks that had finished before (their callbacks scheduled) get one loop turn.
        await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.sleep(0)
        run.queue.put_nowait(_DONE)

    async def _produce(
        self, run: _Run, requests: Iterable[RatingRequest] | AsyncIterable[RatingRequest]
    ) -> None:
        try:
            if isinstance(requests, AsyncIterable):
                async for request in requests:
                    await self._submit(run, request)
            else:
                for request in requests:
                    await self._submit(run, request)
        except asyncio.CancelledError:
            raise
        except AllServersDown as exc:
            self._fail_run(run, exc)
            return
        except Exception as exc:  # the caller's iterable failed: finish, then re-raise
            run.final = _Failure(exc)
        run.submitted_all = True
        if not run.tasks and not run.failed:
            run.queue.put_nowait(run.final)

    async def _submit(self, run: _Run, request: RatingRequest) -> None:
        assert self._sem is not None
        await self._sem.acquire()
        try:
            data_url = await self._image_url(request)
        except Exception as exc:
            run.queue.put_nowait(
                self._error(request, f"cannot encode image: {_short(str(exc), 200)}", 0.0)
            )
            return
        except BaseException:
            self._release()
            raise
        slot: list[Server | None] = [None]  # the server whose window the request holds
        task = asyncio.create_task(self._one(run, request, data_url, slot))
        run.tasks.add(task)
        task.add_done_callback(lambda t: self._finished(run, request, t, slot))

    def _finished(self, run: _Run, request: RatingRequest, task: asyncio.Task[Any],
                  slot: list[Server | None]) -> None:
        """Done callback of a request task, also when it was cancelled before it ran."""
        run.tasks.discard(task)
        if slot[0] is not None:  # cancelled while it held a place in a server's window
            self.pool.release(slot[0])
            slot[0] = None
        self._image_done(request.image_id)
        if (task.cancelled() or task.exception() is not None or task.result() is None
                or run.closed):
            self._release()  # nothing to deliver, or nobody to deliver it to
        else:  # the result keeps its permit until rate() hands it out
            run.queue.put_nowait(task.result())
        if run.submitted_all and not run.tasks and not run.cancelled and not run.failed:
            run.queue.put_nowait(run.final)

    async def _image_url(self, request: RatingRequest) -> str:
        entry = self._images.get(request.image_id)
        if entry is None:
            url = self._done_images.pop(request.image_id, None)
            if url is None:
                url = await asyncio.to_thread(encode_image, request.image, self.image_format)
                self.images_encoded += 1
            entry = self._images[request.image_id] = [url, 0]
        entry[1] += 1
        return str(entry[0])

    def _image_done(self, image_id: str) -> None:
        entry = self._images.get(image_id)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] <= 0:
            del self._images[image_id]
            self.pool.forget(image_id)
            self._done_images[image_id] = entry[0]
            while len(self._done_images) > DONE_IMAGE_CACHE:
                self._done_images.popitem(last=False)

    async def _one(
        self, run: _Run, request: RatingRequest, data_url: str, slot: list[Server | None]
    ) -> RatingResult | None:
        """The request's result from its server, or from the next one while servers fail;
        None when no server is left (the run then fails)."""
        started = time.perf_counter()
        try:
            for _ in range(2 * len(self.pool.servers)):
                server = slot[0] = await self.pool.acquire(request.image_id)
                result = await self._request(request, data_url, server, started)
                slot[0] = None
                self.pool.release(server)
                if result is not None:
                    if result.engine_error is None:
                        self.pool.answered(server)
                    return result
                # the server is out of rotation: the request goes to the image's next one
            return self._error(request, "every server failed this request in turn",
                               time.perf_counter() - started)
        except AllServersDown as exc:
            self._fail_run(run, exc)
            return None
        except Exception as exc:  # a bug here must not kill the run
            return self._error(request, f"internal error: {exc!r}", 0.0)

    def _body(self, request: RatingRequest, data_url: str) -> bytes:
        cfg = self.sampling
        body: dict[str, Any] = {
            "model": self.model,
            "messages": chat_messages(
                request.prompt, request.system,
                image={"type": "image_url", "image_url": {"url": data_url}}),
            # vLLM's chat endpoint tokenizes the rendered template without special tokens
            # by default, and llava-hf's template has no {{ bos_token }}: without this the
            # prompt lacks the <s> the in-process engine (and LLaVA's training) put first
            "add_special_tokens": ADD_SPECIAL_TOKENS,
            "temperature": cfg.temperature,
            "top_p": cfg.top_p,
            "max_tokens": cfg.max_tokens,
            "seed": request.seed,
            "n": 1,
        }
        if cfg.structured:
            body["structured_outputs"] = {"regex": structured_regex(cfg)}
        if cfg.logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = TOP_LOGPROBS
        return json.dumps(body).encode("utf-8")

    def _error(self, request: RatingRequest, message: str, latency: float,
               server: str | None = None) -> RatingResult:
        result = RatingResult.failed(request, message, latency)
        result.server = server
        return result

    def _notice_wait(self, kind: str, detail: str, attempt: int, delay: float,
                     retry_after: float | None, where: str) -> None:
        if self.on_notice is None:
            return
        why = (f"{kind} Retry-After {retry_after:.0f} s" if retry_after is not None
               else f"{kind}: {_short(detail, 80)}")
        # what the user waits for first: a progress bar cuts the end of a long line
        self.on_notice(f"waiting {delay:.0f} s to retry ({attempt + 1} of {self.max_retries}): "
                       f"{why}, {where}", delay)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:  # the server said when; add a little jitter
            return retry_after + random.uniform(0.0, 0.1 * self.backoff_s)
        return min(MAX_BACKOFF_S, self.backoff_s * (2**attempt)) * random.uniform(0.5, 1.5)

    async def _request(
        self, request: RatingRequest, data_url: str, server: Server, started: float
    ) -> RatingResult | None:
        """The server's answer or error for the request; None when the server turned out
        to be down (the caller sends the request elsewhere)."""
        client = self._ensure_client()
        url = f"{server.url}/chat/completions"
        where = _redact_url(server.url)
        body = self._body(request, data_url)
        kind, detail = "", ""
        for attempt in range(self.max_retries + 1):
            if not server.up:
                return None
            retry_after: float | None = None
            try:
                async with asyncio.timeout(self.timeout_s):
                    response = await client.post(url, content=body)
            except (TimeoutError, httpx.TimeoutException):
                kind, detail = "timeout", f"no answer within {self.timeout_s:g}s"
                if await self._server_is_down(server):
                    return None
            except httpx.TransportError as exc:
                kind, detail = "connection error", _describe_transport_error(exc)
                if await self._server_is_down(server):
                    return None
            else:
                status = response.status_code
                latency = time.perf_counter() - started
                if status == 200:
                    return self._result(request, response, latency, where)
                kind, detail = f"HTTP {status}", _server_message(response)
                if status == 429 or status >= 500:
                    retry_after = _retry_after_s(response)
                else:
                    return self._error(request, f"{kind}: {detail}", latency, where)
            if attempt < self.max_retries:
                delay = self._delay(attempt, retry_after)
                self._notice_wait(kind, detail, attempt, delay, retry_after, where)
                await asyncio.sleep(delay)
        if kind.startswith("HTTP 5") and await self._server_is_down(server):
            return None
        n = self.max_retries
        return self._error(
            request,
            f"{kind} after {n} {'retry' if n == 1 else 'retries'}: {detail}",
            time.perf_counter() - started,
            where,
        )

    def _result(
        self, request: RatingRequest, response: httpx.Response, latency: float, server: str
    ) -> RatingResult:
        result = self._parse_result(request, response, latency)
        result.server = server
        return result

    def _parse_result(
        self, request: RatingRequest, response: httpx.Response, latency: float
    ) -> RatingResult:
        try:
            body = response.json()
        except ValueError:
            return self._error(
                request, f"malformed JSON response: {_short(response.text, 120)}", latency
            )
        choices = body.get("choices") if isinstance(body, dict) else None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            detail = _server_message(response)
            return self._error(request, f"response without choices: {detail}", latency)
        choice = choices[0]
        message = choice.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):  # content parts
            content = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        usage = body.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        probs = mass = None
        if self.sampling.logprobs:
            logprobs = choice.get("logprobs")
            items = logprobs.get("content") if isinstance(logprobs, dict) else None
            table = rating_logprobs_table(items if isinstance(items, list) else None)
            if table is not None:
                lo, hi = self.sampling.scale_min, self.sampling.scale_max
                probs, mass = digit_probs(table, lo, hi), digit_mass(table, lo, hi)
        return RatingResult(
            request=request,
            text=content if isinstance(content, str) else "",
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=_int_or_none(usage.get("prompt_tokens")),
            output_tokens=_int_or_none(usage.get("completion_tokens")),
            latency_s=latency,
            rating_probs=probs,
            engine_error=None,
            digit_mass=mass,
        )


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
