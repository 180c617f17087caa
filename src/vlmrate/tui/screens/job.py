"""Job: the live panel while a run goes on (the runner works in the app's thread worker)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header, Label, ProgressBar, RichLog, Static

from vlmrate.engines.servers import servers_line
from vlmrate.tui.jobs import Job
from vlmrate.tui.screens.base import AppScreen

if TYPE_CHECKING:
    from vlmrate.progress import Progress

REFRESH_S = 0.25


def clock(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds < 0:
        return "—"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


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
        Binding("escape", "back", "Back", id="job.back"),
    ]

    def __init__(self, job: Job) -> None:
        super().__init__()
        self.job = job
        self._written = 0
        self._failed_seen = -1
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
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"run {self.job.name}"
        self.update_panel()
        self.set_interval(REFRESH_S, self.update_panel)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("pause", "cancel_run"):
            return True if self.job.active else None
        if action == "results":
            return True if not self.job.active and self.job.run_dir else None
        return True

    def update_panel(self) -> None:
        job = self.job
        progress = job.progress
        status = job.status
        title = Text.assemble(("run ", "dim"), (job.name, "bold"), "  ",
                              (f"[{status}]", _status_style(status)))
        title.append(f"  model {job.config.model}", style="dim")
        if job.message:
            title.append(f"\n{job.message}", style="red" if status == "failed" else "")
        self.query_one("#job-title", Static).update(title)
        if progress is not None:
            self._update_bars(progress)
            self.query_one("#job-counters", Static).update(_counters(progress))
        self._update_failed()
        self._update_log()
        self.refresh_bindings()

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
        failed = list(self.job.failed)
        if len(failed) == self._failed_seen:
            return
        self._failed_seen = len(failed)
        widget = self.query_one("#job-failed", Static)
        if not failed:
            widget.update("")
            return
        lines = Text("last failed answers:\n", style="bold")
        for record in failed[-3:]:
            error = record.get("engine_error") or record.get("parse_error") or "?"
            lines.append(f"  {record.get('image_id')} {record.get('aspect')} "
                         f"#{record.get('repeat')} [{one_line(error, 24)}] ", style="red")
            lines.append(one_line(record.get("raw") or "(empty)", 60) + "\n")
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
        self.notify("paused: p resumes" if paused else "resumed", title=self.job.name)
        self.update_panel()

    def action_cancel_run(self) -> None:
        self.job.cancel()
        self.notify("cancelling… finished answers are kept; start the run again to resume",
                    title=self.job.name)

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
    return {"done": "green", "failed": "red", "cancelled": "yellow", "paused": "yellow"
            }.get(status, "cyan")


def _counters(progress: Progress) -> Text:
    text = Text()
    text.append(f"{progress.done}/{progress.total} done", style="bold")
    text.append(f" · {progress.ratings_per_s:.1f} ratings/s"
                f" · {progress.tokens_per_s:.0f} tokens/s"
                f" · elapsed {clock(progress.elapsed_s)} · ETA {clock(progress.eta_s)}")
    failures, errors = progress.parse_failures, progress.engine_errors
    text.append(f"\nparse failures {failures}", style="yellow" if failures else "")
    text.append(" · ")
    text.append(f"engine errors {errors}", style="red" if errors else "")
    if progress.message:
        text.append(f" · {escape(progress.message)}")
    servers = servers_line(progress.servers)
    if servers:
        text.append(f"\n{servers}", style="red" if " OUT " in servers else "")
    return text
