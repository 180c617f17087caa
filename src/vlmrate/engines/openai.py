"""Engine for any OpenAI-compatible chat endpoint (``vllm serve`` first of all).

Each RatingRequest becomes one POST to ``{base_url}/chat/completions`` with the image as a
base64 data URL. The image of an image_id is encoded once and shared by all its requests
(the runner sends the requests of one image together). At most ``concurrency`` requests
are in flight; timeouts, connection errors, 429 (honouring Retry-After) and 5xx are
retried with exponential backoff and jitter. A request that still fails, or that gets
another 4xx or a malformed answer, comes back as a RatingResult with ``engine_error``
set: ``rate()`` never raises for a failed request.

The API key is read only from an environment variable (``api_key_env``) and is never
returned by ``info()``.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import errno
import io
import json
import math
import os
import random
import re
import socket
import time
from collections import OrderedDict
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from vlmrate.engines.base import (
    EngineUnavailable,
    RatingRequest,
    RatingResult,
    SamplingConfig,
    digit_probs,
    structured_regex,
)

if TYPE_CHECKING:
    from PIL import Image

TOP_LOGPROBS = 20  # vLLM's default --max-logprobs; >= 9 so every digit can show up
MAX_BACKOFF_S = 30.0
MAX_RETRY_AFTER_S = 300.0
DONE_IMAGE_CACHE = 8  # encoded images kept after all their requests are done
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
                top: dict[str, float] = {}
                for alt in item.get("top_logprobs") or []:
                    if isinstance(alt, dict) and "token" in alt:
                        _add_logprob(top, str(alt["token"]), alt.get("logprob"))
                if token not in top:
                    _add_logprob(top, token, item.get("logprob"))
                return digit_probs(top, lo, hi)
            if not _BYTE_DIGIT.match(tail) and any(ch.isalpha() for ch in tail.strip("▁Ġ")):
                return None  # words before any digit: no rating digit to read
        start = end
    return None


def _is_digit_token(token: str) -> bool:
    stripped = token.strip().lstrip("▁Ġ").strip()
    return (len(stripped) == 1 and stripped in "0123456789") or bool(_BYTE_DIGIT.match(token))


def _add_logprob(top: dict[str, float], token: str, logprob: Any) -> None:
    if isinstance(logprob, int | float) and not math.isnan(logprob):
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


def _redact_url(url: str) -> str:
    """The URL without any user:password part."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


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
    final: Any = _DONE  # what ends the queue once every task is done: _DONE or a _Failure


class OpenAIEngine:
    """Rates images through an OpenAI-compatible ``/chat/completions`` endpoint."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        sampling: SamplingConfig,
        *,
        concurrency: int = 64,
        timeout_s: float = 120,
        max_retries: int = 5,
        backoff_s: float = 0.5,
        api_key_env: str = "OPENAI_API_KEY",
        image_format: str = "PNG",
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        if image_format.upper() not in _MIME:
            raise ValueError(f"image_format must be one of {', '.join(_MIME)}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.sampling = sampling
        self.concurrency = concurrency
        self.timeout_s = float(timeout_s)
        self.max_retries = max_retries
        self.backoff_s = float(backoff_s)
        self.api_key_env = api_key_env
        self.image_format = image_format.upper()
        self._client: httpx.AsyncClient | None = None
        self._sem: asyncio.Semaphore | None = None
        self._runs: set[_Run] = set()
        # image_id -> (data URL, requests submitted and not finished)
        self._images: dict[str, list[Any]] = {}
        self._done_images: OrderedDict[str, str] = OrderedDict()
        self.images_encoded = 0
        #: Told (message, seconds) before each wait for a retry, so that a run can show
        #: why nothing arrives (a silent server, Retry-After). The runner sets it.
        self.on_notice: Callable[[str, float], None] | None = None

    # -- lifecycle -------------------------------------------------------------------

    def _ensure_client(self) -> httpx.AsyncClient:
        if self._client is None:
            headers = {"Content-Type": "application/json"}
            key = os.environ.get(self.api_key_env)
            if key:
                headers["Authorization"] = f"Bearer {key}"
            self._client = httpx.AsyncClient(
                headers=headers,
                timeout=httpx.Timeout(self.timeout_s),
                limits=httpx.Limits(
                    max_connections=self.concurrency,
                    max_keepalive_connections=self.concurrency,
                ),
            )
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.concurrency)
        return self._client

    async def start(self) -> None:
        """Check that the server answers and serves the model; EngineUnavailable if not."""
        client = self._ensure_client()
        url = f"{self.base_url}/models"
        where = _redact_url(self.base_url)
        try:
            async with asyncio.timeout(min(self.timeout_s, 30.0)):
                response = await client.get(url)
        except (TimeoutError, httpx.TimeoutException):
            raise EngineUnavailable(
                f"cannot reach {where}: no answer within {min(self.timeout_s, 30.0):g}s"
            ) from None
        except httpx.TransportError as exc:
            raise EngineUnavailable(
                f"cannot reach {where}: {_describe_transport_error(exc)}"
            ) from None
        if response.status_code in (401, 403):
            raise EngineUnavailable(
                f"{where} refused the API key (HTTP {response.status_code}); "
                f"set it in the environment variable {self.api_key_env}"
            )
        if response.status_code == 404 and not self.base_url.endswith("/v1"):
            raise EngineUnavailable(
                f"{where}/models not found (HTTP 404); the base URL usually ends in /v1"
            )
        if response.status_code != 200:
            raise EngineUnavailable(
                f"{where}/models answered HTTP {response.status_code}: {_server_message(response)}"
            )
        try:
            body = response.json()
            served = [str(m["id"]) for m in body["data"]]
        except (ValueError, KeyError, TypeError):
            raise EngineUnavailable(
                f"{where}/models did not answer a model list: {_short(response.text, 120)}"
            ) from None
        if self.model not in served:
            names = ", ".join(served) if served else "none"
            raise EngineUnavailable(
                f"model {self.model!r} is not served by {where}; served models: {names}"
            )

    async def cancel(self) -> None:
        """Stop submitting and cancel the requests in flight; rate() then ends."""
        for run in list(self._runs):
            await self._stop_run(run)

    async def close(self) -> None:
        await self.cancel()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def info(self) -> dict[str, Any]:
        """Engine settings for the run manifest (never the API key)."""
        return {
            "engine": self.name,
            "base_url": _redact_url(self.base_url),
            "model": self.model,
            "concurrency": self.concurrency,
            "timeout_s": self.timeout_s,
            "max_retries": self.max_retries,
            "backoff_s": self.backoff_s,
            "api_key_env": self.api_key_env,
            "image_format": self.image_format,
            "sampling": asdict(self.sampling),
        }

    # -- rating ----------------------------------------------------------------------

    async def rate(
        self, requests: Iterable[RatingRequest] | AsyncIterable[RatingRequest]
    ) -> AsyncIterator[RatingResult]:
        """Yield one RatingResult per request, in the order they finish."""
        self._ensure_client()
        run = _Run()
        self._runs.add(run)
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
            self._runs.discard(run)

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
        # Each task's done callback has run once gather returns (callbacks run in order).
        await asyncio.gather(*pending, return_exceptions=True)
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
        except Exception as exc:  # the caller's iterable failed: finish, then re-raise
            run.final = _Failure(exc)
        run.submitted_all = True
        if not run.tasks:
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
        task = asyncio.create_task(self._one(request, data_url))
        run.tasks.add(task)
        task.add_done_callback(lambda t: self._finished(run, request, t))

    def _finished(self, run: _Run, request: RatingRequest, task: asyncio.Task[Any]) -> None:
        """Done callback of a request task, also when it was cancelled before it ran."""
        run.tasks.discard(task)
        self._image_done(request.image_id)
        if task.cancelled() or task.exception() is not None:
            self._release()  # nothing to deliver
        else:  # the result keeps its permit until rate() hands it out
            run.queue.put_nowait(task.result())
        if run.submitted_all and not run.tasks and not run.cancelled:
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
            self._done_images[image_id] = entry[0]
            while len(self._done_images) > DONE_IMAGE_CACHE:
                self._done_images.popitem(last=False)

    async def _one(self, request: RatingRequest, data_url: str) -> RatingResult:
        try:
            return await self._request(request, data_url)
        except Exception as exc:  # a bug here must not kill the run
            return self._error(request, f"internal error: {exc!r}", 0.0)

    def _body(self, request: RatingRequest, data_url: str) -> bytes:
        cfg = self.sampling
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": data_url}},
                        {"type": "text", "text": request.prompt},
                    ],
                }
            ],
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

    def _error(self, request: RatingRequest, message: str, latency: float) -> RatingResult:
        return RatingResult.failed(request, message, latency)

    def _notice_wait(self, kind: str, detail: str, attempt: int, delay: float,
                     retry_after: float | None) -> None:
        if self.on_notice is None:
            return
        where = _redact_url(self.base_url)
        why = (f"{kind} Retry-After {retry_after:.0f} s" if retry_after is not None
               else f"{kind}: {_short(detail, 80)}")
        # what the user waits for first: a progress bar cuts the end of a long line
        self.on_notice(f"waiting {delay:.0f} s to retry ({attempt + 1} of {self.max_retries}): "
                       f"{why}, {where}", delay)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:  # the server said when; add a little jitter
            return retry_after + random.uniform(0.0, 0.1 * self.backoff_s)
        return min(MAX_BACKOFF_S, self.backoff_s * (2**attempt)) * random.uniform(0.5, 1.5)

    async def _request(self, request: RatingRequest, data_url: str) -> RatingResult:
        client = self._ensure_client()
        url = f"{self.base_url}/chat/completions"
        body = self._body(request, data_url)
        started = time.perf_counter()
        kind, detail = "", ""
        for attempt in range(self.max_retries + 1):
            retry_after: float | None = None
            try:
                async with asyncio.timeout(self.timeout_s):
                    response = await client.post(url, content=body)
            except (TimeoutError, httpx.TimeoutException):
                kind, detail = "timeout", f"no answer within {self.timeout_s:g}s"
            except httpx.TransportError as exc:
                kind, detail = "connection error", _describe_transport_error(exc)
            else:
                status = response.status_code
                if status == 200:
                    return self._result(request, response, time.perf_counter() - started)
                kind, detail = f"HTTP {status}", _server_message(response)
                if status == 429 or status >= 500:
                    retry_after = _retry_after_s(response)
                else:
                    return self._error(request, f"{kind}: {detail}", time.perf_counter() - started)
            if attempt < self.max_retries:
                delay = self._delay(attempt, retry_after)
                self._notice_wait(kind, detail, attempt, delay, retry_after)
                await asyncio.sleep(delay)
        n = self.max_retries
        return self._error(
            request,
            f"{kind} after {n} {'retry' if n == 1 else 'retries'}: {detail}",
            time.perf_counter() - started,
        )

    def _result(
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
        probs = None
        if self.sampling.logprobs:
            logprobs = choice.get("logprobs")
            items = logprobs.get("content") if isinstance(logprobs, dict) else None
            probs = rating_probs_from_logprobs(
                items if isinstance(items, list) else None,
                self.sampling.scale_min,
                self.sampling.scale_max,
            )
        return RatingResult(
            request=request,
            text=content if isinstance(content, str) else "",
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=_int_or_none(usage.get("prompt_tokens")),
            output_tokens=_int_or_none(usage.get("completion_tokens")),
            latency_s=latency,
            rating_probs=probs,
            engine_error=None,
        )


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
