"""What a figure function returns, and how its caption prints numbers."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass
class Made:
    """One figure: file stem, title, caption (written from the numbers it shows) and the
    matplotlib figure (closed once written)."""

    name: str
    title: str
    caption: str
    fig: Any
    width: str = "double"  # "single" (3.5 in) or "double" (7.2 in) column


def num(value: Any, digits: int = 2) -> str:
    """A number for a caption; "n/a" for a missing one."""
    if value is None:
        return "n/a"
    value = float(value)
    if not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}f}".replace("-", "−")


def ci(pair: Any, digits: int = 2) -> str:
    lo, hi = (pair if pair is not None else (None, None))
    return f"[{num(lo, digits)}, {num(hi, digits)}]"


def pct(level: float) -> str:
    return f"{100 * level:g}%"


def finite(value: Any) -> bool:
    return value is not None and math.isfinite(float(value))


def p_text(p: Any) -> str:
    """"= 0.012" or "< 0.001" (vlmrate.stats.formatting's p format)."""
    from vlmrate.stats.formatting import p_value

    text = p_value(p)
    if text.startswith(("<", ">")):
        return f"{text[0]} {text[1:]}"
    return f"= {text}" if text[:1].isdigit() else "n/a"
