"""Numbers of the statistics as text (the CLI report, the TUI) and as Excel number formats
(the workbook): one rule per kind of number, used by every view.

Missing values (None, NaN, ±inf) are shown as an em dash. Imports nothing heavy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real
from typing import Any

MISSING = "—"
P_SMALL = 0.001  # p-values below this are shown as "<0.001"

# Excel number formats of the workbook's cells, by kind (see layout.Kind).
STAT_FORMAT = "0.000"
P_FORMAT = "[<0.0001]0.00E+00;0.0000"
COUNT_FORMAT = "0"


def is_missing(value: Any) -> bool:
    """None, or a number that is NaN or infinite (numpy scalars included)."""
    if value is None:
        return True
    if isinstance(value, bool) or not isinstance(value, Real):
        return False
    return not math.isfinite(value)


def number(value: Any, digits: int = 3) -> str:
    """A statistic with a fixed number of decimals: 0.123."""
    if is_missing(value):
        return MISSING
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and not text.strip("-0.") else text  # not -0.000


def compact(value: Any) -> str:
    """A number without trailing zeros (Python's g format): 48, 11323.5."""
    if is_missing(value):
        return MISSING
    return f"{value:g}"


def p_value(value: Any) -> str:
    """A p-value with three decimals, or <0.001."""
    if is_missing(value):
        return MISSING
    if value < P_SMALL:
        return "<0.001"
    return f"{value:.3f}"


def interval(pair: Any, digits: int = 3) -> str:
    """[lower, upper]; a missing interval as one em dash."""
    if not isinstance(pair, Sequence) or isinstance(pair, str) or len(pair) != 2:
        return MISSING
    return f"[{number(pair[0], digits)}, {number(pair[1], digits)}]"


def yes_no(value: Any) -> str:
    if value is None:
        return MISSING
    return "yes" if value else "no"


def count(value: Any) -> str:
    if is_missing(value):
        return MISSING
    return str(int(value))
