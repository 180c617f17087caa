"""NoteScreen: the note on a case, several lines (ctrl+s saves, escape leaves it unchanged)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, TextArea


class NoteScreen(ModalScreen[str | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", id="note.save", priority=True),
        Binding("escape", "cancel", "Cancel", id="note.cancel"),
    ]

    def __init__(self, title: str, note: str) -> None:
        super().__init__()
        self.title_text = title
        self.note = note

    def compose(self) -> ComposeResult:
        with Vertical(id="note-box"):
            yield Label(self.title_text, id="note-title")
            yield TextArea(self.note, id="note-input", soft_wrap=True, show_line_numbers=False)
            yield Label("ctrl+s saves · escape cancels", id="note-help")

    def on_mount(self) -> None:
        area = self.query_one("#note-input", TextArea)
        area.focus()
        area.move_cursor(area.document.end)

    def action_save(self) -> None:
        self.dismiss(self.query_one("#note-input", TextArea).text.rstrip())

    def action_cancel(self) -> None:
        self.dismiss(None)
