"""AppScreen: the base of the app's screens, with the typed accessor of the VlmrateApp
(its folders, jobs, navigation and shared actions)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.screen import Screen

if TYPE_CHECKING:
    from vlmrate.tui.app import VlmrateApp


class AppScreen(Screen[None]):
    """A screen of VlmrateApp; ``self.vapp`` is ``self.app`` with its real type."""

    @property
    def vapp(self) -> VlmrateApp:
        return cast("VlmrateApp", self.app)
