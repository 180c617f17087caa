"""Case: one image, its human ratings, and every answer of the model for each aspect.

n/p walk the Results order; f flags the case for the current aspect and e edits its note,
both written to review.json at once (vlmrate.store.save_review).
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Footer, Header, Static, Tab, Tabs

from vlmrate.tui.data import RunData, fmt
from vlmrate.tui.screens.base import AppScreen
from vlmrate.tui.widgets.image_view import ImageView

_REVIEW_LOCK = threading.Lock()  # one review.json writer at a time


def tab_id(aspect: str) -> str:
    return "aspect-" + "".join(c if c.isalnum() else "_" for c in aspect)


def human_table(data: RunData, image_id: str, current: str) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False, expand=True,
                  padding=(0, 1), collapse_padding=True)
    table.add_column("aspect", no_wrap=True, overflow="ellipsis", ratio=1, min_width=7)
    for name in ("human", "model", "SD", "d"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("", width=1)
    row = data.rows.get(image_id, {})
    flagged = data.flagged(image_id)
    for aspect in data.aspects:
        mean, sd, _n = data.human.get(image_id, {}).get(aspect, (None, None, None))
        human = fmt(mean)
        if sd is not None:
            human += f" ±{fmt(sd, 1)}"
        d = row.get(f"{aspect}_d")
        table.add_row(
            Text(aspect, style="bold" if aspect == current else ""),
            human,
            fmt(row.get(f"{aspect}_mean")),
            fmt(row.get(f"{aspect}_sd")),
            "—" if fmt(d) == "—" else f"{float(d):+.2f}",
            Text("⚑", style="bold red") if aspect in flagged else "",
        )
    return table


def answers_table(data: RunData, image_id: str, aspect: str, raw: bool) -> Table | Text:
    answers = data.answers.get(image_id, {}).get(aspect, [])
    if not answers:
        return Text(f"no answers for {aspect}", style="italic")
    rating_only = bool((data.run.manifest.get("sampling") or {}).get("rating_only"))
    table = Table(box=None, header_style="bold", pad_edge=False, expand=True,
                  caption="no reasons (rating-only run)" if rating_only else None,
                  caption_justify="left")
    table.add_column("#", justify="right", width=3)
    table.add_column("rating", justify="center", width=6)
    table.add_column("raw answer" if raw or rating_only else "reason", ratio=1,
                     overflow="fold")
    for answer in answers:
        rating = Text("✗", style="bold red") if answer.rating is None else Text(
            str(answer.rating), style="bold")
        body = Text(answer.raw if raw else (answer.reason or answer.raw))
        if answer.error:
            body = Text.assemble((f"[{answer.error}] ", "red"), answer.raw or "(empty answer)")
        table.add_row(str(answer.repeat), rating, body)
    return table


class CaseScreen(AppScreen):
    """One image: picture, human ratings, the model's answers per aspect."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "move(1)", "Next", id="case.next"),
        Binding("p", "move(-1)", "Prev", id="case.prev"),
        Binding("f", "flag", "Flag", id="case.flag"),
        Binding("e", "note", "Note", id="case.note"),
        Binding("a,tab", "aspect(1)", "Aspect", id="case.aspect", priority=True),
        Binding("shift+tab", "aspect(-1)", "Prev aspect", id="case.aspect_prev", show=False,
                priority=True),
        Binding("r", "raw", "Raw/reason", id="case.raw"),
        Binding("escape", "back", "Back", id="case.back"),
    ]

    def __init__(self, data: RunData, order: list[str], index: int, aspect: str) -> None:
        super().__init__()
        self.data = data
        self.order = order
        self.index = index
        self.aspect = aspect if aspect in data.aspects else data.aspects[0]
        self.raw = False

    @property
    def image_id(self) -> str:
        return self.order[self.index]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="case-title")
        with Horizontal(id="case-body"):
            with Vertical(id="case-left"):
                yield ImageView(self.vapp.image_mode, id="case-image")
                yield Static("", id="case-human")
            with Vertical(id="case-right"):
                yield Tabs(*[Tab(a, id=tab_id(a)) for a in self.data.aspects],
                           active=tab_id(self.aspect), id="case-tabs")
                with VerticalScroll(id="case-answers-scroll"):
                    yield Static("", id="case-answers")
                yield Static("", id="case-note")
        yield Footer()

    async def on_mount(self) -> None:
        self.sub_title = self.data.run.name
        await self.show_case(new_image=True)
        self.query_one("#case-answers-scroll").focus()

    async def show_case(self, new_image: bool = False) -> None:
        data, image_id = self.data, self.image_id
        title = Text.assemble((image_id, "bold"), f"   {self.index + 1}/{len(self.order)}")
        flagged = data.flagged(image_id)
        if flagged:
            title.append(f"   ⚑ {', '.join(flagged)}", style="bold red")
        self.query_one("#case-title", Static).update(title)
        self.query_one("#case-human", Static).update(human_table(data, image_id, self.aspect))
        self.show_answers()
        if new_image:
            await self.query_one("#case-image", ImageView).show_image(
                data.image_path(image_id), image_id, data.images_note)

    def show_answers(self) -> None:
        data, image_id = self.data, self.image_id
        self.query_one("#case-answers", Static).update(
            answers_table(data, image_id, self.aspect, self.raw))
        note = data.note(image_id, self.aspect)
        flag = data.review.get(image_id, {}).get(self.aspect, {}).get("flagged")
        line = Text()
        line.append(f"{self.aspect}: ", style="bold")
        line.append("flagged" if flag else "not flagged", style="bold red" if flag else "dim")
        line.append(" · note: ")
        line.append(note or "—", style="" if note else "dim")
        self.query_one("#case-note", Static).update(line)

    # --- actions ----------------------------------------------------------------------

    async def action_move(self, step: int) -> None:
        target = self.index + step
        if not 0 <= target < len(self.order):
            self.notify("last image" if step > 0 else "first image", timeout=1.5)
            return
        self.index = target
        await self.show_case(new_image=True)
        self.query_one("#case-answers-scroll", VerticalScroll).scroll_home(animate=False)

    def action_aspect(self, step: int) -> None:
        aspects = self.data.aspects
        self.aspect = aspects[(aspects.index(self.aspect) + step) % len(aspects)]
        self.query_one("#case-tabs", Tabs).active = tab_id(self.aspect)

    @on(Tabs.TabActivated, "#case-tabs")
    async def _tab_activated(self, event: Tabs.TabActivated) -> None:
        for aspect in self.data.aspects:
            if tab_id(aspect) == event.tab.id:
                self.aspect = aspect
        await self.show_case()

    async def action_raw(self) -> None:
        self.raw = not self.raw
        self.show_answers()

    async def action_flag(self) -> None:
        image_id, aspect = self.image_id, self.aspect
        entry = self.data.review.setdefault(image_id, {}).setdefault(
            aspect, {"flagged": False, "note": ""})
        entry["flagged"] = not entry.get("flagged")
        await self.show_case()
        self.save(image_id, aspect, flagged=bool(entry["flagged"]))
        self.notify(f"{image_id} {aspect}: {'flagged' if entry['flagged'] else 'unflagged'}",
                    timeout=1.5)

    def action_note(self) -> None:
        image_id, aspect = self.image_id, self.aspect

        async def done(note: str | None) -> None:
            if note is None:
                return
            entry = self.data.review.setdefault(image_id, {}).setdefault(
                aspect, {"flagged": False, "note": ""})
            entry["note"] = note
            await self.show_case()
            self.save(image_id, aspect, note=note)

        self.vapp.ask_note(f"note on {image_id} · {aspect}", self.data.note(image_id, aspect),
                           done)

    @work(thread=True, group="review", exit_on_error=False)
    def save(self, image_id: str, aspect: str, **change: Any) -> None:
        from vlmrate.store import save_review

        try:
            with _REVIEW_LOCK:
                save_review(self.data.run.path, image_id, aspect, **change)
        except Exception as exc:
            self.app.call_from_thread(self.vapp.report_error, exc, "review.json")

    def action_back(self) -> None:
        self.app.pop_screen()
