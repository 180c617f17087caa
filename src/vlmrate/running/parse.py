"""Turn a model's answer text into (rating, reason) or a parse-error code.

The reference template is ``Rating: 7. Reason: ...``; real models also write
markdown (``**Rating:** 7``), braces (``{Rating: 9. Reason: ...}``), ``7/9``,
``7 out of 9``, a reason before the rating, or prose around it. Ambiguous answers
are rejected with a distinct code rather than guessed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Error codes (short, stable: they are stored in ratings.jsonl and counted in stats).
EMPTY = "empty"
NO_RATING = "no_rating"
NOT_INTEGER = "not_integer"
OUT_OF_SCALE = "out_of_scale"
WRONG_SCALE = "wrong_scale"
CONFLICTING = "conflicting_ratings"
ERROR_CODES = (EMPTY, NO_RATING, NOT_INTEGER, OUT_OF_SCALE, WRONG_SCALE, CONFLICTING)

_NUMBER = r"([+-]?\d+(?:[.,]\d+)?)"
_OUT_OF = r"(?:\s*(?:/|out\s+of|of)\s*(\d+))?"
# "Rating: 7", "rating = 7", "Rating - 7/9", "rating is 7", "rating of 7 out of 9"
_LABELLED = re.compile(
    r"\brating\s*(?:[:=\-–]|\bis\b|\bof\b)?\s*(?:is\s+|of\s+|would\s+be\s+|:\s*)?"
    + _NUMBER
    + _OUT_OF,
    re.IGNORECASE,
)
# "7/9", "7 out of 9" anywhere (used only when no labelled rating is present)
_FRACTION = re.compile(r"(?<![\d.])" + r"([+-]?\d+(?:[.,]\d+)?)\s*(?:/|out\s+of)\s*(\d+)", re.I)
# "I would rate this image a 7", "I rate it 3", "rated as 6"
_VERBAL = re.compile(
    r"\brat(?:e|ed|ing)\s+(?:for\s+)?(?:this\s+image\s+|this\s+|it\s+|the\s+image\s+)?"
    r"(?:as\s+|at\s+|is\s+|would\s+be\s+)?(?:an?\s+)?" + _NUMBER + r"\b",
    re.IGNORECASE,
)
# A bare number opening the answer: "7. Reason: ..." or "7 - the image shows ..."
_LEADING = re.compile(r"^\s*" + _NUMBER + r"(?=\s*(?:[.:\-–,)]|$|\s))")
_REASON = re.compile(r"\breason(?:ing)?\s*[:\-–]\s*", re.IGNORECASE)
_MARKUP = re.compile(r"\*\*|__|`|^#+\s*", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class ParsedAnswer:
    rating: int | None
    reason: str | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


def _clean(text: str) -> str:
    text = _MARKUP.sub("", text)
    return text.strip().strip("{}[]").strip()


def _reason_of(text: str, rating_span: tuple[int, int] | None) -> str | None:
    match = _REASON.search(text)
    if match:
        reason = text[match.end():]
        # A reason written before the rating ends where the rating label starts.
        if rating_span and rating_span[0] > match.end():
            reason = text[match.end():rating_span[0]]
        reason = re.sub(r"\brating\s*[:=]?\s*$", "", reason.strip(), flags=re.I)
    elif rating_span:
        reason = (text[: rating_span[0]] + " " + text[rating_span[1]:]).strip()
    else:
        reason = text
    reason = reason.strip().strip("{}").strip().lstrip(".:-–,").strip()
    return reason or None


def _number(token: str) -> float:
    return float(token.replace(",", "."))


def parse_answer(text: str | None, scale_min: int = 1, scale_max: int = 9) -> ParsedAnswer:
    """Parse one answer. Returns the rating and reason, or an error code."""
    if text is None or not text.strip():
        return ParsedAnswer(None, None, EMPTY)
    cleaned = _clean(text)

    found = list(_LABELLED.finditer(cleaned))
    if not found:
        found = list(_FRACTION.finditer(cleaned))
    if not found:
        found = list(_VERBAL.finditer(cleaned))
    if not found:
        lead = _LEADING.match(cleaned)
        found = [lead] if lead else []
    if not found:
        return ParsedAnswer(None, _reason_of(cleaned, None), NO_RATING)

    values: list[float] = []
    for match in found:
        groups = match.groups()
        denominator = groups[1] if len(groups) > 1 else None
        if denominator is not None and int(denominator) != scale_max:
            return ParsedAnswer(None, _reason_of(cleaned, match.span()), WRONG_SCALE)
        values.append(_number(groups[0]))

    reason = _reason_of(cleaned, found[0].span())
    if len(set(values)) > 1:
        return ParsedAnswer(None, reason, CONFLICTING)
    value = values[0]
    if value != int(value) or "." in found[0].group(1) or "," in found[0].group(1):
        return ParsedAnswer(None, reason, NOT_INTEGER)
    rating = int(value)
    if not scale_min <= rating <= scale_max:
        return ParsedAnswer(None, reason, OUT_OF_SCALE)
    return ParsedAnswer(rating, reason, None)
