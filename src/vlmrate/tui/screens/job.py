"""Job: the live panel while a run goes on (the runner works in the app's thread worker)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Header, Label, ProgressBar, RichLog, Static

from vlmrate.engines.servers import servers_line
from vlmrate.runfolder.parse_health import unparsed_warning
from vlmrate.running.progress import PHASE_WORDS, clock
from vlmrate.tui.jobs import Job
from vlmrate.tui.screens.base import AppScreen
from vlmrate.tui.widgets.key_footer import KeyFooter

if TYPE_CHECKING:
    from vlmrate.running.progress import Progress

REFRESH_S = 0.25


def one_line(text: Any, width: int = 70) -> str:
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def answer_line(record: dict) -> Text:
    rating = record.get("rating")
    error = record.get("engine_error") or record.get("parse_error")
    head = Text.assemble(
        (f"{record.get('image_id', '?')} ", "bold"),
        f"{record.get('aspect', '?')} #{record.get('repeat', '?')} ",
        (f"→ {rating} " if rating is not None else "→ ✗ ", "bold red" if error else "bold"),
    )
    if error:
        head.append(f"[{one_line(error, 30)}] ", style="red")
    head.append(one_line(record.get("reason") or record.get("raw"), 80))
    return head


class JobScreen(AppScreen):
    """Progress bars and counters of one run, refreshed four times a second."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "pause", "Pause/resume", id="job.pause"),
        Binding("c", "cancel_run", "Cancel run", id="job.cancel"),
        Binding("o", "results", "Results", id="job.results"),
        Binding("escape,q", "back", "Back", id="job.back"),  # q too, as in Runs
    ]

    REFRESH_S: ClassVar[float] = REFRESH_S

    def __init__(self, job: Job) -> None:
        super().__init__()
        self.job = job
        self._written = 0
        self._failed_seen = -1
        self._timer: Timer | None = None
        self._aspect_bars: dict[str, ProgressBar] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="job-top"):
            yield Static("", id="job-title")
            with Horizontal(classes="bar-row"):
                yield Label("overall", classes="bar-label")
                yield ProgressBar(total=None, show_eta=False, id="job-overall")
            yield Vertical(id="job-aspects")
            yield Static("", id="job-counters")
            yield Static("", id="job-failed")
        yield RichLog(id="job-log", max_lines=500, wrap=False, markup=False)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = f"run {self.job.name}"
        self.update_panel()
        self._timer = self.set_interval(self.REFRESH_S, self.update_panel)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("pause", "cancel_run"):
            return True if self.job.active and self.job.status != "cancelling" else None
        if action == "results":
            return True if not self.job.active and self.job.run_dir else None
        return True

    def update_panel(self) -> None:
        job = self.job
        progress = job.progress
        self.query_one("#job-title", Static).update(_title(job))
        if progress is not None:
            self._update_bars(progress)
            self.query_one("#job-counters", Static).update(_counters(progress, job.status))
        self._update_failed()
        self._update_log()
        self.refresh_bindings()
        if not job.active and self._timer is not None:
            self._timer.stop()  # a finished run's panel does not change: no more ticks
            self._timer = None

    def _update_bars(self, progress: Progress) -> None:
        self.query_one("#job-overall", ProgressBar).update(
            total=progress.total or None, progress=progress.done)
        box = self.query_one("#job-aspects", Vertical)
        for aspect, (done, total_a) in progress.per_aspect.items():
            bar = self._aspect_bars.get(aspect)
            if bar is None:
                bar = ProgressBar(total=total_a or None, show_eta=False)
                self._aspect_bars[aspect] = bar
                box.mount(Horizontal(Label(aspect, classes="bar-label"), bar, classes="bar-row"))
            bar.update(total=total_a or None, progress=done)

    def _update_failed(self) -> None:
        if self.job.failed_count == self._failed_seen:
            return
        self._failed_seen = self.job.failed_count
        failed = list(self.job.failed)
        widget = self.query_one("#job-failed", Static)
        if not failed:
            widget.update("")
            return
        lines = Text(f"failed answers ({self.job.failed_count}), latest first:\n",
                     style="bold")
        width = max(40, self.size.width - 2)
        for record in reversed(failed[-3:]):
            error = record.get("engine_error") or record.get("parse_error") or "?"
            head = (f"  {record.get('image_id')} {record.get('aspect')} "
                    f"#{record.get('repeat')} [{one_line(error, 24)}] ")
            lines.append(head, style="red")
            room = max(10, width - len(head))
            lines.append(one_line(record.get("raw") or "(empty)", room) + "\n")
        widget.update(lines)

    def _update_log(self) -> None:
        job = self.job
        new = min(job.record_count - self._written, len(job.records))
        if new <= 0:
            return
        log = self.query_one("#job-log", RichLog)
        for record in list(job.records)[-new:]:
            log.write(answer_line(record))
        self._written = job.record_count

    def action_pause(self) -> None:
        paused = self.job.toggle_pause()
        self.notify("pausing: what is in flight is dropped and redone on resume; p resumes"
                    if paused else "resumed", title=self.job.name)
        self.update_panel()

    def action_cancel_run(self) -> None:
        def answer(yes: bool | None) -> None:
            if yes and self.job.active:
                self.job.cancel()
                self.notify("cancelling… finished answers are kept; R in Runs resumes",
                            title=self.job.name)
                self.update_panel()

        self.vapp.confirm(f"Cancel run {self.job.name}?",
                          "The run stops; what is written is kept. Resume it later with R.",
                          answer)

    def action_results(self) -> None:
        if self.job.run_dir is None:
            return
        self.vapp.open_results(self.job.run_dir, replace=True)

    def action_back(self) -> None:
        if self.job.active:
            self.notify("the run goes on; enter on it in Runs reopens this panel",
                        title=self.job.name)
        self.app.pop_screen()


def _status_style(status: str) -> str:
    return {"done": "green", "failed": "red", "cancelled": "yellow", "paused": "yellow",
            "pausing": "yellow", "cancelling": "yellow"}.get(status, "cyan")


def phase_line(progress: Progress | None, status: str, now: float | None = None) -> Text:
    """"loading model 0:42", "running 3:10", "pausing… 12 in flight", "paused 0:20"."""
    word = PHASE_WORDS.get(status, status)
    text = Text(word, style=_status_style(status) + " bold")
    if progress is None:
        return text
    _, phase_s = progress.ticked(now)
    if status == "running" and progress.status == "running":
        # the running time of the whole session: a pause does not start it again
        phase_s = progress.running_s + (phase_s - progress.phase_s)
    if status in ("pausing", "cancelling"):
        text.append(f" {progress.in_flight} in flight", style=_status_style(status))
    elif status not in ("done", "cancelled", "failed") and progress.status == status:
        text.append(f" {clock(phase_s)}")
    return text


def _title(job: Job) -> Text:
    title = Text.assemble(("run ", "dim"), (job.name, "bold"), "  ",
                          phase_line(job.progress, job.status))
    model = str(job.config.model or "").rstrip("/").rsplit("/", 1)[-1]
    title.append(f"  model {model}", style="dim")
    message = job.message or (job.progress.message if job.progress else "")
    if message:
        title.append(f"\n{one_line(message, 200)}", style="red" if job.status == "failed"
                     else "dim")
    return title


def _counters(progress: Progress, status: str | None = None) -> Text:
    status = status or progress.status
    elapsed, _ = progress.ticked()
    text = Text()
    text.append(f"{progress.done}/{progress.total} done", style="bold")
    text.append(f" · {progress.ratings_per_s:.1f} answers/s"
                f" · {progress.tokens_per_s:.0f} tokens/s · elapsed {clock(elapsed)}")
    if status == "running" and progress.eta_s is not None:
        text.append(f" · ETA {clock(progress.eta_s)}")
    failures, errors = progress.parse_failures, progress.engine_errors
    text.append(f"\nparse failures {failures}", style="yellow" if failures else "")
    text.append(" · ")
    text.append(f"engine errors {errors}", style="red" if errors else "")
    warning = unparsed_warning(progress.done, failures)
    if warning:  # most answers unparsed: say so, with the likely fix
        text.append(f"\n⚠ {warning}", style="bold yellow")
    servers = servers_line(progress.servers)
    if servers:
        text.append(f"\n{servers}", style="red" if " OUT " in servers else "")
    return text
