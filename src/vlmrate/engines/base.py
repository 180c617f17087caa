"""What every rating engine takes and gives: requests in, results out as they finish.

The runner builds one :class:`RatingRequest` per (image, aspect, repeat), already holding the
loaded RGB image and the full prompt text, and streams them into :meth:`Engine.rate`, which
yields one :class:`RatingResult` per request as soon as it finishes (in no particular order).
A failure of one request is reported in its result (``engine_error``), never raised.
"""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = [
    "Engine",
    "EngineUnavailable",
    "RatingRequest",
    "RatingResult",
    "SamplingConfig",
    "digit_probs",
    "rating_token_index",
    "structured_regex",
]

#: Longest reason the structured template allows (characters).
MAX_REASON_CHARS = 150
#: Upper bound of the tokens "Rating: N. Reason: " plus the end-of-sequence token can take.
_TEMPLATE_OVERHEAD_TOKENS = 24


class EngineUnavailable(Exception):
    """The engine cannot run here; ``str(exc)`` is one line telling the user what to do."""


@dataclass(frozen=True)
class SamplingConfig:
    """How answers are sampled; the same for every request of a run."""

    temperature: float = 0.3
    top_p: float = 1.0
    max_tokens: int = 128
    structured: bool = False
    logprobs: bool = False
    scale_min: int = 1
    scale_max: int = 9
    #: With ``structured``: the answer is ``Rating: N`` and nothing else (no reason).
    rating_only: bool = False


@dataclass(frozen=True)
class RatingRequest:
    """One answer to get: ``repeat`` is 1-based; ``image`` is a loaded RGB PIL image."""

    image_id: str
    aspect: str
    repeat: int
    seed: int
    prompt: str
    image: Image

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.image_id, self.aspect, self.repeat)


@dataclass
class RatingResult:
    """The answer to one request. ``rating_probs`` holds one probability per scale point;
    ``server`` is the base URL that answered (None for an in-process engine)."""

    request: RatingRequest
    text: str
    finish_reason: str | None
    prompt_tokens: int | None
    output_tokens: int | None
    latency_s: float
    rating_probs: list[float] | None = None
    engine_error: str | None = None
    server: str | None = None
    rating_mass: float | None = None  # the scale digits' probability before renormalising

    @classmethod
    def failed(cls, request: RatingRequest, message: str, latency_s: float) -> RatingResult:
        """The result of a request that got no answer (the message says why)."""
        return cls(request=request, text="", finish_reason=None, prompt_tokens=None,
                   output_tokens=None, latency_s=latency_s, engine_error=message)


@runtime_checkable
class Engine(Protocol):
    """A rating engine. Call ``start`` once, then ``rate`` (possibly several times), ``close``."""

    async def start(self) -> None:
        """Load the model / connect; raises EngineUnavailable with a one-line message."""
        ...

    def rate(
        self, requests: AsyncIterator[RatingRequest] | Iterable[RatingRequest]
    ) -> AsyncIterator[RatingResult]:
        """Submit requests in the order given and yield each result as it finishes."""
        ...

    async def cancel(self) -> None:
        """Abort everything in flight; running ``rate`` calls end soon.

        Results that had already finished when cancel() was called may still be yielded;
        aborted requests yield nothing.
        """
        ...

    async def close(self) -> None:
        """Release the model / connections. Safe to call twice."""
        ...

    def info(self) -> dict[str, Any]:
        """Engine name and options for the manifest (never secrets)."""
        ...


def _scale_pattern(lo: int, hi: int) -> str:
    if lo > hi:
        raise ValueError(f"empty rating scale {lo}..{hi}")
    if lo >= 0 and hi <= 9:
        return f"[{lo}-{hi}]" if lo < hi else str(lo)
    # Longest numbers first so that "10" is not read as "1".
    numbers = sorted((str(n) for n in range(lo, hi + 1)), key=lambda s: (-len(s), s))
    return "(" + "|".join(re.escape(n) for n in numbers) + ")"


def structured_regex(cfg: SamplingConfig) -> str:
    """The answer template as a regex for structured outputs.

    ``Rating: N. Reason: text`` with N on the scale and a reason short enough that the
    whole answer (plus the end token) fits in ``cfg.max_tokens`` even at one token per
    character, so a constrained answer ends with ``stop``, not ``length``. With
    ``cfg.rating_only`` the answer is ``Rating: N`` alone.
    """
    scale = _scale_pattern(cfg.scale_min, cfg.scale_max)
    if cfg.rating_only:
        return rf"Rating: {scale}"
    reason_max = max(1, min(MAX_REASON_CHARS, cfg.max_tokens - _TEMPLATE_OVERHEAD_TOKENS))
    return rf"Rating: {scale}\. Reason: [A-Za-z][A-Za-z ,.'-]{{0,{reason_max - 1}}}"


_BYTE_TOKEN = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


def _token_digit(token: str) -> int | None:
    """The integer a token stands for, tolerating SentencePiece/BPE space markers and the
    byte tokens some tokenizers use for digits (``<0x37>`` is "7")."""
    byte = _BYTE_TOKEN.match(token.strip())
    if byte:
        token = chr(int(byte.group(1), 16))
    text = token.replace("\u2581", " ").replace("\u0120", " ").strip()
    if text.isascii() and text.isdigit():
        return int(text)
    return None


def digit_probs(top_logprobs: dict[str, float], lo: int = 1, hi: int = 9) -> list[float] | None:
    """Renormalised probabilities of the ratings lo..hi from one position's top logprobs.

    Keys are decoded tokens (``"7"``, ``" 7"``, ``"▁7"``, ``"Ġ7"`` all count as 7; several
    tokens of the same number are summed); values are log-probabilities. Ratings absent from
    the top list get probability 0. Returns None when no rating token is present.
    """
    return digit_probs_and_mass(top_logprobs, lo, hi)[0]


def digit_probs_and_mass(
    top_logprobs: dict[str, float], lo: int = 1, hi: int = 9
) -> tuple[list[float] | None, float | None]:
    """:func:`digit_probs` and the probability mass the digits lo..hi had together before
    renormalising (1 minus what went to other tokens); (None, None) without a digit."""
    mass = [0.0] * (hi - lo + 1)
    for token, logprob in top_logprobs.items():
        value = _token_digit(token)
        if value is None or not lo <= value <= hi:
            continue
        if logprob is None or math.isnan(logprob):
            continue
        mass[value - lo] += math.exp(logprob) if logprob > -math.inf else 0.0
    total = sum(mass)
    if total <= 0.0 or not math.isfinite(total):
        return None, None
    return [m / total for m in mass], min(total, 1.0)


_RATING_LABEL = re.compile(r"rating\s*[:=]?", re.IGNORECASE)


def rating_token_index(pieces: list[str], lo: int = 1, hi: int = 9) -> int | None:
    """Index of the token that carries the rating digit among the generated token texts.

    The first token after the text "Rating:" whose text is a number on the scale; if the
    label never appears, the first such token at all. None when there is none.
    """
    seen = ""
    label_end: int | None = None
    first_digit: int | None = None
    for i, piece in enumerate(pieces):
        if label_end is None:
            match = _RATING_LABEL.search(seen)
            if match is not None:
                label_end = i
        value = _token_digit(piece)
        if value is not None and lo <= value <= hi:
            if label_end is not None:
                return i
            if first_digit is None:
                first_digit = i
        seen += piece
    return first_digit
