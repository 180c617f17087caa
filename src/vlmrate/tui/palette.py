"""Command palette: every key shown in the footer is also a palette entry, plus "Open run".

The entries come from the calling screen's active bindings, so a new key on any screen
appears in the palette without being listed twice.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider


class ScreenActionsProvider(Provider):
    """The actions of the screen the palette was opened from, and the runs to open."""

    async def startup(self) -> None:
        self._entries: list[tuple[str, str, Callable[[], Any]]] = []
        seen: set[str] = set()
        for active in self.screen.active_bindings.values():
            binding = active.binding
            if not active.enabled or not binding.description or binding.action in seen:
                continue
            if binding.action in ("command_palette", "app.command_palette"):
                continue
            seen.add(binding.action)
            key = self.app.get_key_display(binding)
            callback = partial(self.app.run_action, binding.action, active.node)
            self._entries.append((binding.description, f"key: {key}", callback))
        open_run = getattr(self.screen, "open_run_by_name", None)
        names = getattr(self.screen, "run_names", None)
        if callable(open_run) and callable(names):
            for name in names():
                self._entries.append((f"Open run {name}", "results of this run",
                                      partial(open_run, name)))

    async def discover(self) -> Hits:
        for title, help_text, callback in self._entries:
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._entries:
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
