"""ImageView: the image itself where the terminal can draw it, else a clear placeholder.

Modes (the app's ``image_mode``): "auto" lets textual-image pick Kitty (TGP), Sixel or
half-block characters (it asked the terminal before the app started, see
commands/tui.py); "halfcell" always uses half blocks (deterministic, for tests);
"placeholder" draws no image, only its name (when stdout is not a terminal).
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.containers import Container
from textual.widgets import Static


def image_widget_class(mode: str) -> type | None:
    if mode == "placeholder":
        return None
    try:
        if mode == "halfcell":
            from textual_image.widget import HalfcellImage

            return HalfcellImage
        from textual_image.widget import Image

        return Image
    except Exception:  # pragma: no cover - renderer unavailable: placeholder
        return None


class ImageView(Container):
    """Shows one image file, or a placeholder saying why there is none."""

    def __init__(self, mode: str = "placeholder", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.mode = mode
        self.path: Path | None = None

    async def show_image(self, path: Path | None, image_id: str, why_missing: str = "") -> None:
        self.path = path
        await self.remove_children()
        widget_class = image_widget_class(self.mode) if path is not None else None
        if path is not None and not path.is_file():
            why_missing, path = f"image file missing: {path.name}", None
        if path is None or widget_class is None:
            message = Text(justify="center")
            message.append(f"{image_id}\n", style="bold")
            if path is None:
                message.append(why_missing or "no image file for this id", style="italic")
            else:
                message.append(f"{path.name}\n", style="")
                message.append("(this terminal cannot draw images)", style="italic")
            await self.mount(Static(message, classes="image-placeholder"))
            return
        try:
            await self.mount(widget_class(str(path), classes="image"))
        except Exception as exc:
            await self.mount(Static(Text(f"{image_id}\ncannot draw {path.name}: {exc}",
                                         justify="center"), classes="image-placeholder"))
