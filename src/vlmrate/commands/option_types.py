"""Command-line value types that check their range when the options are parsed, so that a
bad value is one error line (exit 2) before anything runs, instead of being replaced by a
default (`--repeats 0` ran 10) or failing every answer later (`--temperature -1`)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from vlmrate.safe_text import visible

MAX_SEED = 2**63 - 1


def whole(lo: int, hi: int | None = None) -> Callable[[str], int]:
    """A whole number in lo..hi (hi None: no upper limit)."""
    span = f"from {lo} to {hi}" if hi is not None else f"of {lo} or more"

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text[:40]!r} is not a whole number {span}") from None
        if value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"{value} must be a whole number {span}")
        return value

    parse.__name__ = "whole number"  # argparse names the type in some messages
    return parse


def number(lo: float, hi: float | None = None, *, lo_open: bool = False,
           hi_open: bool = False) -> Callable[[str], float]:
    """A finite number between lo and hi (bounds included unless *_open)."""
    left = f"above {lo:g}" if lo_open else f"at least {lo:g}"
    right = "" if hi is None else f" and {'below' if hi_open else 'at most'} {hi:g}"
    span = left + right

    def parse(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text.strip()} is not a finite number")
        too_low = value <= lo if lo_open else value < lo
        too_high = hi is not None and (value >= hi if hi_open else value > hi)
        if too_low or too_high:
            raise argparse.ArgumentTypeError(f"{value:g} must be {span}")
        return value

    parse.__name__ = "number"
    return parse


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line: ``vlmrate: error: ...`` (exit 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        command = self.prog.removeprefix("vlmrate").strip()
        where = f"{command}: " if command else ""
        help_hint = f"vlmrate {command} --help" if command else "vlmrate --help"
        line = visible(f"vlmrate: error: {where}{message} (see {help_hint})", one_line=True)
        self.exit(2, line + "\n")
