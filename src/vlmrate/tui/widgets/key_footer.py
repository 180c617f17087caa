"""The footer every screen shows: Textual's Footer, rebuilt only when what it shows changes.

Textual's Footer recomposes all its keys on every bindings signal: each focus move, each
screen resume, each `refresh_bindings()` (a job's progress tick), once per signal even when
several arrive before the next frame, and each new key then restyles itself twice (its
``compact`` data binding). Most signals leave the keys exactly as they were. This footer
compares what it would show (key, label, enabled, tooltip, group) with what it shows and
recomposes only on a difference, at most once a frame; what it draws is Textual's.
"""

from __future__ import annotations

from typing import Any

from textual.screen import Screen
from textual.widgets import Footer


class KeyFooter(Footer):
    """Footer that skips the rebuilds that would draw the same keys again."""

    _shown: tuple[Any, ...] | None = None
    _rebuild_pending = False

    def _keys(self) -> tuple[Any, ...]:
        """What the footer would show now: every visible binding's face and state."""
        app = self.app
        keys = tuple(
            (binding.key, app.get_key_display(binding), binding.description, binding.action,
             enabled, tooltip, binding.tooltip, binding.group)
            for (_node, binding, enabled, tooltip) in self.screen.active_bindings.values()
            if binding.show)
        palette = app.ENABLE_COMMAND_PALETTE and self.show_command_palette
        return (*keys, palette, app.COMMAND_PALETTE_BINDING)

    def compose(self) -> Any:
        if self._bindings_ready:
            self._shown = self._keys()
        return super().compose()

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen and not self._rebuild_pending:
            self._rebuild_pending = True
            self.call_after_refresh(self._rebuild)

    async def _rebuild(self) -> None:
        self._rebuild_pending = False
        if self.is_attached and self._keys() != self._shown:
            await self.recompose()
