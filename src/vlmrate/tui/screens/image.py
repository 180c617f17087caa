"""ImageScreen: one image over the whole screen (escape or z goes back)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from vlmrate.tui.screens.base import AppScreen
from vlmrate.tui.widgets.image_view import ImageView
from vlmrate.tui.widgets.key_footer import KeyFooter


class ImageScreen(AppScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,z", "back", "Back", id="image.back"),
    ]

    def __init__(self, path: Path | None, image_id: str, why_missing: str = "") -> None:
        super().__init__()
        self.path, self.image_id, self.why_missing = path, image_id, why_missing

    def compose(self) -> ComposeResult:
        yield Static(self.image_id, id="image-title")
        yield ImageView(self.vapp.image_mode, id="image-full")
        yield KeyFooter()

    async def on_mount(self) -> None:
        await self.query_one(ImageView).show_image(self.path, self.image_id, self.why_missing)

    def action_back(self) -> None:
        self.app.pop_screen()
