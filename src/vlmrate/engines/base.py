"""Engine protocol shared by the vLLM and OpenAI-compatible engines.

PLACEHOLDER: a minimal copy written on the ``openai`` branch so that the openai engine
can be built and tested before the real ``base.py`` (engine branch) lands. The names and
signatures match the agreed API; on merge, keep the engine branch's version.
"""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from PIL import Image


class EngineUnavailable(Exception):
    """The engine cannot run (no server, no model, no vLLM build); one clear line."""


@dataclass(frozen=True)
class SamplingConfig:
    temperature: float = 0.3
    top_p: float = 1.0
    max_tokens: int = 128
    structured: bool = False
    logprobs: bool = False
    scale_min: int = 1
    scale_max: int = 9


@dataclass(frozen=True)
class RatingRequest:
    image_id: str
    aspect: str
    repeat: int
    seed: int
    prompt: str
    image: Image.Image  # loaded RGB by the runner


@dataclass
class RatingResult:
    request: RatingRequest
    text: str
    finish_reason: str | None
    prompt_tokens: int | None
    output_tokens: int | None
    latency_s: float
    rating_probs: list[float] | None
    engine_error: str | None


class Engine(Protocol):
    async def start(self) -> None: ...

    def rate(
        self, requests: Iterable[RatingRequest] | AsyncIterable[RatingRequest]
    ) -> AsyncIterator[RatingResult]: ...

    async def cancel(self) -> None: ...

    async def close(self) -> None: ...

    def info(self) -> dict[str, Any]: ...


def structured_regex(cfg: SamplingConfig) -> str:
    """The answer template as a regex for structured outputs."""
    lo, hi = cfg.scale_min, cfg.scale_max
    if 0 <= lo <= hi <= 9:
        number = f"[{lo}-{hi}]"
    else:
        number = "(" + "|".join(str(v) for v in range(lo, hi + 1)) + ")"
    return rf"Rating: {number}\. Reason: [A-Za-z ,.'-]{{1,150}}"


_BYTE_DIGIT = re.compile(r"^<0x3([0-9])>$")


def _token_digit(token: str) -> int | None:
    """The digit a token stands for ("7", " 7", "▁7", "Ġ7", "<0x37>"), else None."""
    match = _BYTE_DIGIT.match(token)
    if match:
        return int(match.group(1))
    stripped = token.strip().lstrip("▁Ġ").strip()
    if len(stripped) == 1 and stripped in "0123456789":
        return int(stripped)
    return None


def digit_probs(top_logprobs: dict[str, float], lo: int = 1, hi: int = 9) -> list[float] | None:
    """Probabilities of the digits lo..hi renormalised over those digits.

    Tokens that stand for the same digit ("7", "▁7", " 7") are summed. None when no
    digit of the scale has a finite probability.
    """
    mass = [0.0] * (hi - lo + 1)
    for token, logprob in top_logprobs.items():
        digit = _token_digit(token)
        if digit is None or not lo <= digit <= hi:
            continue
        if logprob is None or math.isnan(logprob):
            continue
        mass[digit - lo] += math.exp(logprob)
    total = sum(mass)
    if total <= 0.0:
        return None
    return [m / total for m in mass]
