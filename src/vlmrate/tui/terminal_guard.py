"""The TUI's last line of defence against text that would drive the terminal.

Screens show text that did not come from vlmrate (answers, error bodies, notes, reviewer
names, image ids) made visible with safe_text.visible where they lay it out; this guard
catches what any widget (a table cell, a notification, a title) would still send raw:
before Textual turns a line of the screen into terminal output, a control character in
its text is made visible. Textual's own escape sequences come from styles and cursor
moves, never from a segment's text, so they are untouched.
"""

from __future__ import annotations

from typing import Any

from vlmrate.safe_text import has_control, visible

_installed = False


def install() -> None:
    """Wrap textual.strip.Strip.render once per process."""
    global _installed
    if _installed:
        return
    from rich.segment import Segment
    from textual.strip import Strip

    original = Strip.render

    def render(self: Strip, console: Any) -> str:
        if getattr(self, "_render_cache", None) is not None:  # checked when first rendered
            return original(self, console)
        segments = list(self)
        if any(s.control is None and has_control(s.text) for s in segments):
            safe = [s if s.control is not None else
                    Segment(visible(s.text, one_line=True), s.style) for s in segments]
            return original(Strip(safe), console)
        return original(self, console)

    Strip.render = render  # type: ignore[method-assign]
    _installed = True
