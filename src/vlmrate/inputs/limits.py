"""The allowed values of a run's settings, in one place: the command line's option types,
the TUI's New-run form (RunConfig.validate) and study.toml (load_study) all check them
here, so a value refused by one is refused by every other (a NaN temperature, 0 repeats,
a scale of 1.7..9.9). Each check raises UserError with one line; imports nothing heavy."""

from __future__ import annotations

import math
from typing import Any

from vlmrate.errors import UserError

MAX_TEMPERATURE = 2.0
MAX_REPEATS = 1000  # the most repeats a run may have
MAX_TOKENS = 1_000_000
MAX_SCALE = 1000  # scale points are whole numbers within -MAX_SCALE..MAX_SCALE


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "…"


def is_whole(value: Any) -> bool:
    """An int that is no bool (TOML and JSON give ints; 2.0 is no whole number here)."""
    return isinstance(value, int) and not isinstance(value, bool)


def whole(value: Any, what: str, lo: int = 1, hi: int | None = None) -> int:
    """value when it is a whole number in lo..hi; else UserError naming ``what``."""
    if not is_whole(value) or value < lo or (hi is not None and value > hi):
        span = f"{lo}..{hi}" if hi is not None else f"{lo} or more"
        raise UserError(f"{what} {_shown(value)}: must be a whole number {span}")
    return int(value)


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UserError(f"{what} {_shown(value)}: must be a finite number")
    return float(value)


def temperature(value: Any, what: str = "temperature") -> float:
    number = _number(value, what)
    if not 0 <= number <= MAX_TEMPERATURE:
        raise UserError(f"{what} {_shown(value)}: must be between 0 and {MAX_TEMPERATURE:g}")
    return number


def top_p(value: Any, what: str = "top-p") -> float:
    number = _number(value, what)
    if not 0 < number <= 1:
        raise UserError(f"{what} {_shown(value)}: must be above 0 and at most 1")
    return number


def repeats(value: Any, what: str = "repeats") -> int:
    return whole(value, what, 1, MAX_REPEATS)


def max_tokens(value: Any, what: str = "max tokens") -> int:
    return whole(value, what, 1, MAX_TOKENS)


def scale(low: Any, high: Any, what: str = "scale") -> tuple[int, int]:
    """(min, max) of a rating scale: whole numbers, min below max (never cut to fit)."""
    for value, end in ((low, "min"), (high, "max")):
        whole(value, f"{what} {end}", -MAX_SCALE, MAX_SCALE)
    if low >= high:
        raise UserError(f"{what} {low}..{high}: min must be below max")
    return int(low), int(high)
