"""What several sub-commands share."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from rich.console import Console, ConsoleOptions, RenderableType
from rich.segment import Segment

from vlmrate.runfolder.store import LoadedRun
from vlmrate.safe_text import has_control, visible


class SafeConsole(Console):
    """A Rich console whose output never holds a control character that came from the data
    (an answer, a note, an id): what it renders is passed through safe_text.visible. Rich's
    own styling (colours, cursor moves of a progress bar) is added after, so it stays.
    Strings (also a table's cells) are made visible before they are measured, so that the
    layout fits what is shown."""

    def render_str(self, text: str, **kwargs: Any) -> Any:
        return super().render_str(visible(text), **kwargs)

    def render(self, renderable: RenderableType, options: ConsoleOptions | None = None
               ) -> Iterable[Segment]:
        for segment in super().render(renderable, options):
            if segment.control is None and has_control(segment.text.replace("\n", "")):
                yield Segment(visible(segment.text), segment.style)
            else:
                yield segment


def say(text: str) -> None:
    """One line on stderr (a warning), its control characters made visible."""
    print(visible(text, one_line=True), file=sys.stderr)


def warn_problems(run: LoadedRun) -> None:
    """One stderr line naming what the readers set aside (broken lines, wrong fields)."""
    if run.problems:
        say(f"vlmrate: warning: run {run.name}: {'; '.join(run.problems)}")
