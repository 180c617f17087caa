"""Case: one image, its human and model ratings, and every answer of one aspect.

Each answer is a full-width block: repeat, rating, finish reason, the expected rating and
the probabilities of 1..9 when the run has logprobs, and the reason wrapped to the width.
n/p walk the Results order (with its filter), N/P the flagged cases in it; f flags with a
category, e edits the note (several lines): both written to review.json at once
(vlmrate.runfolder.review). c copies the current answer's reason, C the whole case, as text to the
clipboard (OSC 52: works over SSH and inside tmux). z shows the image on the whole screen.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from typing import Any, ClassVar

from rich.console import Group
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Header, Static

from vlmrate.safe_text import visible
from vlmrate.tui.data import Answer, RunData, fmt
from vlmrate.tui.screens.base import AppScreen
from vlmrate.tui.widgets.image_view import ImageView
from vlmrate.tui.widgets.key_footer import KeyFooter

BLOCKS = " ▁▂▃▄▅▆▇█"


def signed(value: Any) -> str:
    return "—" if fmt(value) == "—" else f"{float(value):+.2f}"


def rating_histogram(ratings: list[int], human_mean: float | None,
                     scale: tuple[int, int]) -> Text:
    """Two rows of bars (one per rating of the scale), the ratings under them and a ▲ at
    the human mean."""
    low, high = scale
    counts = Counter(ratings)
    top = max(counts.values(), default=0)
    rows = ["", ""]
    for value in range(low, high + 1):
        level = round(16 * counts.get(value, 0) / top) if top else 0
        rows[0] += BLOCKS[max(0, level - 8)] if level > 8 else " "
        rows[1] += BLOCKS[min(level, 8)]
    text = Text("model ratings\n", style="dim")
    text.append(rows[0] + "\n", style="bold cyan")
    text.append(rows[1] + "\n", style="bold cyan")
    text.append("".join(str(v % 10) for v in range(low, high + 1)) + "\n", style="dim")
    if counts:  # the counts the bars stand for
        text.append(" ".join(f"{v}×{counts[v]}" for v in sorted(counts)) + "\n")
    if human_mean is not None:
        at = round(human_mean - low) if high > low else 0
        at = max(0, min(high - low, at))
        text.append(" " * at + "▲", style="bold magenta")
        text.append(f" human {fmt(human_mean)}", style="magenta")
    else:
        text.append("no human rating", style="dim")
    return text


def summary_text(data: RunData, image_id: str, aspect: str) -> Text:
    """Human mean/SD/n, the model's mean/SD/n and d, the expected rating (logprobs)."""
    mean, sd, n = data.human.get(image_id, {}).get(aspect, (None, None, None))
    row = data.rows.get(image_id, {})
    text = Text()
    text.append(f"{aspect}\n", style="bold")
    text.append("human  ", style="dim")
    text.append(f"{fmt(mean)}")
    text.append(f" ± {fmt(sd)}" if sd is not None else "")
    text.append(f"  n {n}\n" if n is not None else "\n")
    text.append("model  ", style="dim")
    text.append(f"{fmt(row.get(f'{aspect}_mean'))} ± {fmt(row.get(f'{aspect}_sd'))}"
                f"  n {fmt(row.get(f'{aspect}_n'))}\n")
    d = row.get(f"{aspect}_d")
    text.append("d      ", style="dim")
    text.append(signed(d), style=_d_style(d))
    answers = data.answers.get(image_id, {}).get(aspect, []) if image_id in data.answers \
        else []
    expected = [a.expected_rating for a in answers if a.expected_rating is not None]
    if expected:
        text.append("\nexpected ", style="dim")
        text.append(f"{fmt(sum(expected) / len(expected))} (mean of {len(expected)})")
    return text


def _d_style(d: Any) -> str:
    if fmt(d) == "—":
        return ""
    return "green" if float(d) < -0.5 else ("red" if float(d) > 0.5 else "")


def probs_text(probs: list[float], scale: tuple[int, int], label: str = "  P ") -> Text:
    """The probabilities of the rating digits, "P 1:.02 2:.10 …" (0.25 and more bold)."""
    text = Text(label, style="dim")
    for offset, p in enumerate(probs):
        text.append(f"{scale[0] + offset}:", style="dim")
        text.append(f"{p:.2f} ".replace("0.", ".", 1) if p < 1 else "1.0 ",
                    style="bold" if p >= 0.25 else "")
    return text


def shared_probs(answers: list[Answer]) -> list[float] | None:
    """The digit probabilities when every answer (two or more) shows the same ones (the
    prefix up to the rating is the same, so is its next-token distribution): shown once."""
    shown = [tuple(f"{p:.2f}" for p in a.rating_probs) if a.rating_probs else None
             for a in answers]
    if len(answers) > 1 and shown[0] is not None and all(s == shown[0] for s in shown):
        return list(answers[0].rating_probs or [])
    return None


def answer_block(answer: Answer, raw: bool, scale: tuple[int, int],
                 probs: bool = True) -> Group:
    """One answer as a full-width block (``probs``: with its digit probabilities)."""
    head = Text()
    head.append(f"#{answer.repeat}", style="bold")
    head.append("  rating ")
    if answer.rating is None:
        head.append("✗", style="bold red")
    else:
        head.append(str(answer.rating), style="bold")
    if answer.finish_reason:
        style = "bold yellow" if answer.finish_reason == "length" else "dim"
        label = "hit the token limit" if answer.finish_reason == "length" else \
            answer.finish_reason
        head.append(f"  · {label}", style=style)
    if answer.expected_rating is not None:
        head.append(f"  · expected {answer.expected_rating:.2f}")
    parts: list[Text] = [head]
    if answer.rating_probs and probs:
        parts.append(probs_text(answer.rating_probs, scale))
    if answer.error:
        body = Text.assemble((f"[{visible(answer.error)}] ", "red"),
                             visible(answer.raw or "(empty answer)"))
    else:
        body = Text(visible(answer.raw if raw else (answer.reason or answer.raw
                                                    or "(no reason)")))
    parts.append(body)
    return Group(*parts)


def case_as_text(data: RunData, image_id: str, aspects: list[str]) -> str:
    """The whole case as plain text (for the clipboard)."""
    lines = [f"image {image_id} · run {data.run.name}"]
    for aspect in aspects:
        lines.append("")
        lines.append(summary_text(data, image_id, aspect).plain)
        entry = data.entry(image_id, aspect)
        if entry.get("category"):
            lines.append(f"flag: {entry['category']}")
        if entry.get("note"):
            lines.append(f"note: {entry['note']}")
        for answer in data.answers.get(image_id, {}).get(aspect, []) \
                if image_id in data.answers else []:
            rating = "—" if answer.rating is None else str(answer.rating)
            text = answer.reason or answer.raw
            if answer.error:
                text = f"[{answer.error}] {answer.raw}"
            lines.append(f"#{answer.repeat} [{rating}] {text}")
    return "\n".join(lines) + "\n"


class AnswerBlock(Static):
    """One answer; the current one is highlighted."""


def copy_message(what: str, environ: Mapping[str, str] | None = None) -> str:
    """What a copy can truthfully say: the text went to the terminal (OSC 52), which may
    or may not pass it to the clipboard; tmux drops it unless set-clipboard is on."""
    environ = os.environ if environ is None else environ
    text = f"sent {what} to the terminal's clipboard (OSC 52; not every terminal accepts it)"
    if environ.get("TMUX"):
        text += "; in tmux it arrives only with `set -g set-clipboard on` in ~/.tmux.conf"
    return text


class CaseScreen(AppScreen):
    """One image: picture, human and model ratings, the answers of one aspect."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "move(1)", "Next", id="case.next"),
        Binding("p", "move(-1)", "Prev", id="case.prev", show=False),
        Binding("N", "move_flagged(1)", "Next flagged", id="case.next_flagged", show=False),
        Binding("P", "move_flagged(-1)", "Prev flagged", id="case.prev_flagged",
                show=False),
        Binding("f", "flag", "Flag", id="case.flag"),
        Binding("e", "note", "Note", id="case.note"),
        Binding("a", "aspect(1)", "Aspect", id="case.aspect"),
        Binding("tab", "aspect(1)", "Next aspect", id="case.aspect_tab", show=False,
                priority=True),
        Binding("shift+tab", "aspect(-1)", "Prev aspect", id="case.aspect_prev", show=False,
                priority=True),
        Binding("down,j", "answer(1)", "Next answer", id="case.answer_next", show=False),
        Binding("up,k", "answer(-1)", "Prev answer", id="case.answer_prev", show=False),
        Binding("pagedown", "page(1)", "Page down", id="case.page_down", show=False),
        Binding("pageup", "page(-1)", "Page up", id="case.page_up", show=False),
        Binding("c", "copy_reason", "Copy", id="case.copy"),
        Binding("C", "copy_case", "Copy the whole case", id="case.copy_case", show=False),
        Binding("z", "full_image", "Image", id="case.image"),
        Binding("r", "raw", "Raw answers / reasons", id="case.raw", show=False),
        Binding("escape,q", "back", "Back", id="case.back"),  # q too, as in Runs
    ]

    def __init__(self, data: RunData, order: list[str], index: int, aspect: str) -> None:
        super().__init__()
        self.data = data
        self.order = order
        self.index = index
        self.aspect = aspect if aspect in data.aspects else data.aspects[0]
        self.raw = False
        self.current = 0  # the answer c copies

    @property
    def image_id(self) -> str:
        return self.order[self.index]

    def answers(self) -> list[Answer]:
        if self.image_id not in self.data.answers:
            return []
        return self.data.answers[self.image_id].get(self.aspect, [])

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="case-title")
        with Horizontal(id="case-top"):
            yield ImageView(self.vapp.image_mode, id="case-image")
            yield Static("", id="case-summary")
            yield Static("", id="case-histogram")
        yield Static("", id="case-aspects")
        answers = VerticalScroll(id="case-answers")
        answers.can_focus = False  # the screen's keys move through it (no key race)
        yield answers
        yield Static("", id="case-note")
        yield KeyFooter()

    async def on_mount(self) -> None:
        self.sub_title = self.data.run.name
        await self.show_case(new_image=True)

    async def show_case(self, new_image: bool = False) -> None:
        data, image_id = self.data, self.image_id
        title = Text.assemble((visible(image_id, one_line=True), "bold"),
                              f"  {self.index + 1}/{len(self.order)}")
        for aspect in data.aspects:
            category = data.category(image_id, aspect)
            if category:
                title.append(f"  ⚑ {aspect}: {category}", style="bold red")
        self.query_one("#case-title", Static).update(title)
        aspects = Text()
        for n, aspect in enumerate(data.aspects):
            if n:
                aspects.append(" │ ", style="dim")
            mark = ("⚑" if data.category(image_id, aspect) else "") + \
                ("✎" if data.entry(image_id, aspect).get("note") else "")
            aspects.append(f" {aspect}{mark} ", style="reverse bold" if aspect == self.aspect
                           else "")
        aspects.append("   a/tab: next aspect", style="dim")
        self.query_one("#case-aspects", Static).update(aspects)
        self.query_one("#case-summary", Static).update(summary_text(data, image_id,
                                                                    self.aspect))
        ratings = [a.rating for a in self.answers() if a.rating is not None]
        mean = data.human.get(image_id, {}).get(self.aspect, (None, None, None))[0]
        self.query_one("#case-histogram", Static).update(
            rating_histogram(ratings, mean, data.run.scale))
        await self.show_answers()
        if new_image:
            await self.query_one("#case-image", ImageView).show_image(
                data.image_path(image_id), image_id, data.images_note)

    async def show_answers(self) -> None:
        box = self.query_one("#case-answers", VerticalScroll)
        await box.remove_children()
        answers = self.answers()
        self.current = max(0, min(self.current, len(answers) - 1))
        if not answers:
            await box.mount(Static(Text(f"no answers for {self.aspect}", style="italic")))
        else:
            if (self.data.run.manifest.get("sampling") or {}).get("rating_only"):
                await box.mount(Static(Text("no reasons (rating-only run): the raw answers",
                                            style="italic")))
            shared = shared_probs(answers)
            if shared is not None:  # once, not the same line under every answer
                await box.mount(Static(probs_text(shared, self.data.run.scale,
                                                  "every answer: P ")))
            await box.mount_all(
                AnswerBlock(answer_block(a, self.raw, self.data.run.scale,
                                         probs=shared is None),
                            classes="answer" + (" current" if n == self.current else ""))
                for n, a in enumerate(answers))
        entry = self.data.entry(self.image_id, self.aspect)
        line = Text()
        line.append(f"{self.aspect}: ", style="bold")
        category = entry.get("category")
        line.append(f"⚑ {category}" if category else "not flagged",
                    style="bold red" if category else "dim")
        note = entry.get("note", "")
        line.append(" · note: ")
        line.append(visible(note) or "—", style="" if note else "dim")
        self.query_one("#case-note", Static).update(line)

    # --- actions ----------------------------------------------------------------------

    async def _go(self, index: int) -> None:
        self.index = index
        self.current = 0
        await self.show_case(new_image=True)
        self.query_one("#case-answers", VerticalScroll).scroll_home(animate=False)

    async def action_move(self, step: int) -> None:
        target = self.index + step
        if not 0 <= target < len(self.order):
            self.notify("last image" if step > 0 else "first image", timeout=1.5)
            return
        await self._go(target)

    async def action_move_flagged(self, step: int) -> None:
        target = self.index + step
        while 0 <= target < len(self.order):
            if self.data.flagged(self.order[target]):
                await self._go(target)
                return
            target += step
        self.notify("no flagged case " + ("after" if step > 0 else "before") + " this one",
                    timeout=2)

    async def action_aspect(self, step: int) -> None:
        aspects = self.data.aspects
        self.aspect = aspects[(aspects.index(self.aspect) + step) % len(aspects)]
        self.current = 0
        await self.show_case()

    def action_answer(self, step: int) -> None:
        blocks = list(self.query(AnswerBlock))
        if not blocks:
            return
        blocks[self.current].remove_class("current")
        self.current = max(0, min(len(blocks) - 1, self.current + step))
        blocks[self.current].add_class("current")
        blocks[self.current].scroll_visible(animate=False)

    def action_page(self, step: int) -> None:
        box = self.query_one("#case-answers", VerticalScroll)
        if step > 0:
            box.scroll_page_down(animate=False)
        else:
            box.scroll_page_up(animate=False)

    async def action_raw(self) -> None:
        self.raw = not self.raw
        await self.show_answers()

    def action_flag(self) -> None:
        from vlmrate.tui.screens.flag import NOT_FLAGGED

        image_id, aspect = self.image_id, self.aspect
        current = self.data.category(image_id, aspect)

        async def done(choice: str | None) -> None:
            if choice is None:
                return
            category = None if choice == NOT_FLAGGED else choice
            await self._change(image_id, aspect, category=category)
            self.notify(f"{image_id} {aspect}: " + (f"⚑ {category}" if category
                                                    else "not flagged"), timeout=1.5)

        self.vapp.ask_category(f"flag {image_id} · {aspect}", self.data.categories or
                               ["flagged"], current, done)

    def action_note(self) -> None:
        image_id, aspect = self.image_id, self.aspect

        async def done(note: str | None) -> None:
            if note is not None:
                await self._change(image_id, aspect, note=note)

        self.vapp.ask_note(f"note on {image_id} · {aspect}",
                           self.data.entry(image_id, aspect).get("note", ""), done)

    async def _change(self, image_id: str, aspect: str, **change: Any) -> None:
        """Apply a change to the review in memory, show it, and write review.json."""
        from vlmrate.runfolder.review import normalise_entry, reviewer_name

        entry = dict(self.data.entry(image_id, aspect)) or normalise_entry({}) or {}
        entry.update(change)
        entry["flagged"] = entry.get("category") is not None
        entry["reviewer"] = reviewer_name()
        aspects = self.data.review.setdefault(image_id, {})
        if entry.get("category") is None and not entry.get("note", "").strip():
            aspects.pop(aspect, None)
        else:
            aspects[aspect] = entry
        await self.show_case()
        self.save(image_id, aspect, **change)

    @work(thread=True, group="review", exit_on_error=False)
    def save(self, image_id: str, aspect: str, **change: Any) -> None:
        from vlmrate.runfolder.review import set_case

        try:
            set_case(self.data.run.path, image_id, aspect, **change)
        except Exception as exc:
            self.app.call_from_thread(self.vapp.report_error, exc, "review.json")

    def action_copy_reason(self) -> None:
        answers = self.answers()
        if not answers:
            return
        answer = answers[self.current]
        self.app.copy_to_clipboard(answer.reason or answer.raw)
        self.notify(copy_message(f"the reason of #{answer.repeat}"), timeout=6)

    def action_copy_case(self) -> None:
        self.app.copy_to_clipboard(case_as_text(self.data, self.image_id, self.data.aspects))
        self.notify(copy_message(f"case {self.image_id}"), timeout=6)

    def action_full_image(self) -> None:
        self.vapp.open_image(self.data.image_path(self.image_id), self.image_id,
                             self.data.images_note)

    def action_back(self) -> None:
        self.app.pop_screen()
