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
    "chat_messages",
    "digit_mass",
    "digit_probs",
    "rating_token_index",
    "reason_max_chars",
    "structured_regex",
]

#: Longest reason the structured template allows (characters). The reference study's
#: published llava-v1.6-vicuna-13b answers have reasons of 230-585 characters.
MAX_REASON_CHARS = 1000
#: The reason's bound in characters per token of ``max_tokens`` left after the template:
#: English text is ~4-5 characters per LLaMA token (the published answers 4.2-4.8), so at 3
#: a reason that reaches the bound still ends before ``max_tokens`` in practice.
REASON_CHARS_PER_TOKEN = 3
#: Upper bound of the tokens "Rating: N. Reason: " plus the end-of-sequence token can take.
_TEMPLATE_OVERHEAD_TOKENS = 24
#: What a reason may hold: any character but control characters (C0, DEL, C1), so no
#: newline; letters of any script, digits, quotes, parentheses, semicolons, ...
_REASON_CHAR = r"[^\x00-\x1f\x7f-\x9f]"
#: Its first character: the same, not a space.
_REASON_FIRST = r"[^\x00-\x20\x7f-\x9f]"


class EngineUnavailable(Exception):
    """The engine cannot run here; ``str(exc)`` is one line telling the user what to do."""


@dataclass(frozen=True)
class SamplingConfig:
    """How answers are sampled; the same for every request of a run."""

    temperature: float = 0.3
    top_p: float = 1.0
    max_tokens: int = 320
    structured: bool = False
    logprobs: bool = False
    scale_min: int = 1
    scale_max: int = 9
    #: With ``structured``: the answer is ``Rating: N`` and nothing else (no reason).
    rating_only: bool = False
    #: Which probabilities ``rating_probs`` are read from (vLLM's ``logprobs_mode``):
    #: "raw_logprobs", the model's own distribution (temperature 1, before top_p; in vLLM
    #: 0.32 after the structured-output grammar mask, which the model runner applies to the
    #: logits first), so the expected rating does not depend on the sampling settings.
    logprobs_mode: str = "raw_logprobs"


@dataclass(frozen=True)
class RatingRequest:
    """One answer to get: ``repeat`` is 1-based; ``image`` is a loaded RGB PIL image."""

    image_id: str
    aspect: str
    repeat: int
    seed: int
    prompt: str
    image: Image
    #: The study's system text (a system message before the user turn); None: no system
    #: message. Rendered through the model's chat template by both engines.
    system: str | None = None

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
    #: The probability the digits of the scale had together at the rating position before
    #: ``rating_probs`` were renormalised over them (low: the expected rating is not to be
    #: trusted: the model meant another token there).
    digit_mass: float | None = None

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


def reason_max_chars(max_tokens: int) -> int:
    """The longest reason (characters) the structured template allows at ``max_tokens``."""
    budget = REASON_CHARS_PER_TOKEN * (max_tokens - _TEMPLATE_OVERHEAD_TOKENS)
    return max(1, min(MAX_REASON_CHARS, budget))


def structured_regex(cfg: SamplingConfig) -> str:
    """The answer template as a regex for structured outputs.

    `` ?Rating: N. Reason: text``: an optional leading space (a SentencePiece model's first
    token after ``ASSISTANT:`` is ``▁R``, " R"; without it the grammar would force the model
    into tokens it never produces, right before the digit), N on the scale, and a reason of
    any characters but control characters (so no newline), starting with a non-space,
    at most :func:`reason_max_chars` long. With ``cfg.rating_only`` the answer is
    `` ?Rating: N`` alone. Compiled by vLLM's structured-output backend (xgrammar in vLLM
    0.32); tests/engines/test_grammar_real_tokens.py compiles it against LLaMA's tokenizer.
    """
    scale = _scale_pattern(cfg.scale_min, cfg.scale_max)
    if cfg.rating_only:
        return rf" ?Rating: {scale}"
    reason_max = reason_max_chars(cfg.max_tokens)
    return (rf" ?Rating: {scale}\. Reason: {_REASON_FIRST}{_REASON_CHAR}{{0,{reason_max - 1}}}")


def chat_messages(prompt: str, system: str | None = None,
                  image: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The conversation both engines send: an optional system message, then the user turn
    with the image first and the prompt text. Every content is a list of parts, as
    llava-hf's template needs (it renders a plain-string content as nothing).
    ``image`` is the image part (default ``{"type": "image"}``, the processor's form)."""
    messages: list[dict[str, Any]] = []
    if system:
        messages.append({"role": "system", "content": [{"type": "text", "text": system}]})
    messages.append({"role": "user", "content": [image or {"type": "image"},
                                                 {"type": "text", "text": prompt}]})
    return messages


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


def _digit_masses(top_logprobs: dict[str, float], lo: int, hi: int) -> list[float] | None:
    """Probability of each rating lo..hi among one position's top logprobs (tokens of the
    same number summed); None when no rating token with a logprob is there."""
    mass = [0.0] * (hi - lo + 1)
    found = False
    for token, logprob in top_logprobs.items():
        value = _token_digit(token)
        if value is None or not lo <= value <= hi or logprob is None or math.isnan(logprob):
            continue
        found = True
        mass[value - lo] += math.exp(logprob) if logprob > -math.inf else 0.0
    return mass if found else None


def digit_probs(top_logprobs: dict[str, float], lo: int = 1, hi: int = 9) -> list[float] | None:
    """Renormalised probabilities of the ratings lo..hi from one position's top logprobs.

    Keys are decoded tokens (``"7"``, ``" 7"``, ``"▁7"``, ``"Ġ7"`` all count as 7; several
    tokens of the same number are summed); values are log-probabilities. Ratings absent from
    the top list get probability 0. Returns None when no rating token is present (or the
    ones present have no probability).
    """
    mass = _digit_masses(top_logprobs, lo, hi)
    total = sum(mass) if mass is not None else 0.0
    if total <= 0.0 or not math.isfinite(total):
        return None
    return [m / total for m in mass]


def digit_mass(top_logprobs: dict[str, float], lo: int = 1, hi: int = 9) -> float | None:
    """The summed probability of the ratings lo..hi among one position's top logprobs
    (the mass :func:`digit_probs` renormalises); None when no rating token is there."""
    mass = _digit_masses(top_logprobs, lo, hi)
    return None if mass is None else min(1.0, sum(mass))


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
