"""FlagScreen: pick the flag category of a case (or take the flag away)."""

from __future__ import annotations

from typing import ClassVar

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

NOT_FLAGGED = "\0none"


class FlagScreen(ModalScreen[str | None]):
    """Dismissed with the category, NOT_FLAGGED to unflag, or None (escape: no change)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="flag.cancel"),
    ]

    def __init__(self, title: str, categories: list[str], current: str | None) -> None:
        super().__init__()
        self.title_text = title
        self.categories = categories
        self.current = current

    def compose(self) -> ComposeResult:
        options = [Option(f"{n}  {c}" if n <= 9 else c, id=c)
                   for n, c in enumerate(self.categories, 1)]
        if self.current is not None:
            options.append(Option("0  not flagged", id=NOT_FLAGGED))
        with Vertical(id="flag-box"):
            yield Label(self.title_text, id="flag-title")
            yield OptionList(*options, id="flag-options")

    def on_mount(self) -> None:
        options = self.query_one("#flag-options", OptionList)
        options.focus()
        if self.current in self.categories:
            options.highlighted = self.categories.index(self.current)

    def on_key(self, event: events.Key) -> None:
        """A digit picks the category of that number (0: not flagged)."""
        key = event.character or ""
        if key.isdigit():
            event.stop()
            number = int(key)
            if number == 0 and self.current is not None:
                self.dismiss(NOT_FLAGGED)
            elif 1 <= number <= len(self.categories):
                self.dismiss(self.categories[number - 1])

    @on(OptionList.OptionSelected, "#flag-options")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
