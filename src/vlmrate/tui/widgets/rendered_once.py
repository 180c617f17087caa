"""A Rich renderable drawn once per width, for the big tables of the Stats screen.

A Static that holds a Rich renderable renders it whole to learn its height, then again to
draw it, and both again at every layout of its screen (a tab switch, a scrollbar that
appears, a focus move). The Stats summary (a row per statistic, ~140 rows) was rendered
five times when the screen opened, a third of its cost. Wrapped in ``RenderedOnce``, each
width (and set of render options) is rendered once and its segments are reused.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.segment import Segment

T = TypeVar("T")
KEEP = 4  # widths remembered: the screen's width with and without a scrollbar, and a resize


def _key(console: Console, options: ConsoleOptions) -> Hashable:
    """What the segments depend on besides the renderable itself. Not the height: Textual
    asks with none to measure and with the widget's to draw, and a table's lines do not
    depend on it (Rich renders its cells at height None)."""
    return (id(console), options.max_width, options.min_width, options.justify,
            options.overflow, options.no_wrap, options.highlight, options.markup,
            options.ascii_only, options.legacy_windows, options.encoding)


def _remembered(cache: OrderedDict[Hashable, T], key: Hashable, make: Callable[[], T]) -> T:
    """cache[key], made the first time it is asked for; the KEEP keys made last are kept."""
    if key not in cache:
        cache[key] = make()
        if len(cache) > KEEP:
            cache.popitem(last=False)
    return cache[key]


class RenderedOnce:
    """``renderable`` with its segments and measurement kept per width (the renderable must
    not change afterwards: give the Static a new one instead; and its lines must not depend
    on the height it is given, as a table's or a text's do not)."""

    def __init__(self, renderable: RenderableType) -> None:
        self.renderable = renderable
        self._segments: OrderedDict[Hashable, list[Segment]] = OrderedDict()
        self._measures: OrderedDict[Hashable, Measurement] = OrderedDict()

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from _remembered(self._segments, _key(console, options),
                               lambda: list(console.render(self.renderable, options)))

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return _remembered(self._measures, _key(console, options),
                           lambda: Measurement.get(console, options, self.renderable))
