"""VlmrateApp: the Textual app `vlmrate` opens on the current folder.

Screens: Runs -> Job (live) -> Results -> Case / Stats. Only the Runs screen is imported
at start; the others (and polars, the statistics, the runner, the image renderer) are
imported when first used, so the first frame comes quickly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from vlmrate.tui.jobs import Job, RunnerFactory, default_runner_factory
from vlmrate.tui.palette import ScreenActionsProvider

if TYPE_CHECKING:
    from vlmrate.runfolder.settings import RunConfig
    from vlmrate.tui.data import RunData
    from vlmrate.tui.screens.case import CaseScreen


class VlmrateApp(App[int]):
    """Rate images with a VLM, watch the run, review cases, read the statistics."""

    TITLE = "vlmrate"
    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses keep it
    COMMANDS: ClassVar = {*App.COMMANDS, ScreenActionsProvider}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True, show=False),
        Binding("f2", "change_theme", "Theme", id="theme", show=False),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("f1", "help", "Help", id="help.f1", show=False),
    ]

    def __init__(self, runs_dir: Path = Path("runs"), *, prompts_dir: Path = Path("prompts"),
                 data_dir: Path = Path("data"), image_mode: str = "placeholder",
                 runner_factory: RunnerFactory | None = None,
                 open_run: Path | None = None) -> None:
        super().__init__()
        from vlmrate.tui.terminal_guard import install

        install()  # no control character of a run's text reaches the terminal raw
        self.open_run = open_run  # a run whose Results open first (after `vlmrate demo`)
        self.runs_dir = Path(runs_dir)
        self.prompts_dir = Path(prompts_dir)
        self.data_dir = Path(data_dir)
        self.image_mode = image_mode  # "auto" | "halfcell" | "placeholder"
        self.runner_factory: RunnerFactory = runner_factory or default_runner_factory
        self.jobs: dict[str, Job] = {}
        self.select_in_runs: str | None = None  # the run just started: Runs selects it
        self.writing_figures = False  # one writer of figures/report/workbook at a time

    def on_mount(self) -> None:
        from vlmrate.tui.screens.runs import RunsScreen

        self.push_screen(RunsScreen())
        if self.open_run is not None:
            self.open_results(Path(self.open_run))

    # --- navigation: screens open each other through these (each screen's module is
    # imported when it first opens) --------------------------------------------------------

    def _show(self, screen: Screen[Any], replace: bool) -> None:
        if replace:
            self.switch_screen(screen)
        else:
            self.push_screen(screen)

    def open_results(self, run_path: Path, *, replace: bool = False) -> None:
        from vlmrate.tui.screens.results import ResultsScreen

        self._show(ResultsScreen(Path(run_path)), replace)

    def open_stats(self, run_path: Path) -> None:
        from vlmrate.tui.screens.stats import StatsScreen

        self.push_screen(StatsScreen(Path(run_path)))

    def open_compare(self, run_paths: list[Path]) -> None:
        """Compare: the runs side by side on their common images."""
        from vlmrate.tui.screens.compare import CompareScreen

        self.push_screen(CompareScreen([Path(p) for p in run_paths]))

    def open_case(self, data: RunData, order: list[str], index: int, aspect: str
                  ) -> CaseScreen:
        """Case of ``order[index]``; n/p walk ``order``. Returns the screen opened."""
        from vlmrate.tui.screens.case import CaseScreen

        screen = CaseScreen(data, order, index, aspect)
        self.push_screen(screen)
        return screen

    def open_job(self, job: Job, *, replace: bool = False) -> None:
        from vlmrate.tui.screens.job import JobScreen

        self._show(JobScreen(job), replace)

    def open_watch(self, run_path: Path) -> None:
        """The read-only live panel of a run another process runs."""
        from vlmrate.tui.screens.watch import WatchScreen

        self.push_screen(WatchScreen(Path(run_path)))

    def open_new_run(self, config: RunConfig | None = None, *, clone_of: str = "") -> None:
        """The New run form; with ``config``, filled in with those settings (``clone_of``:
        the run they come from)."""
        from vlmrate.tui.screens.new_run import NewRunScreen

        self.push_screen(NewRunScreen(config, clone_of=clone_of))

    def open_help(self) -> None:
        """The keys of the current screen (`?`, F1); on the help itself: close it."""
        from vlmrate.tui.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss(None)
            return
        self.push_screen(HelpScreen(self.screen))

    def action_help(self) -> None:
        self.open_help()

    def ask_note(self, title: str, note: str,
                 done: Callable[[str | None], Awaitable[None] | None]) -> None:
        """The note editor (several lines); ``done`` gets the note (None: cancelled)."""
        from vlmrate.tui.screens.note import NoteScreen

        self.push_screen(NoteScreen(title, note), done)

    def ask_category(self, title: str, categories: list[str], current: str | None,
                     done: Callable[[str | None], Awaitable[None] | None]) -> None:
        """The flag category picker; ``done`` gets a category, FlagScreen.NOT_FLAGGED or
        None (cancelled)."""
        from vlmrate.tui.screens.flag import FlagScreen

        self.push_screen(FlagScreen(title, categories, current), done)

    def open_image(self, path: Path | None, image_id: str, why_missing: str = "") -> None:
        """The image of a case over the whole screen."""
        from vlmrate.tui.screens.image import ImageScreen

        self.push_screen(ImageScreen(path, image_id, why_missing))

    # --- jobs --------------------------------------------------------------------------

    @work(thread=True, exit_on_error=False, group="prepare")
    def resume_run(self, config: RunConfig) -> None:
        """Prepare (check everything, merge the manifest) and start a run, then open its
        Job panel; a problem is one notification (it names what differs)."""
        job = Job(config)
        try:
            job.prepare(self.runner_factory)
        except Exception as exc:
            self.call_from_thread(self.report_error, exc, "resume")
            return
        self.call_from_thread(self._start_prepared, job)

    def _start_prepared(self, job: Job) -> None:
        if self.active_job(job.name):
            self.notify(f"run {job.name} is already going on", severity="warning")
            return
        self.start_job(job)
        self.open_job(job)

    def start_job(self, job: Job) -> None:
        """Run a prepared job in a thread worker owned by the app (it outlives screens)."""
        self.jobs[job.name] = job
        self.select_in_runs = job.name
        self.run_worker(job.run_blocking, name=f"job:{job.name}", group="jobs", thread=True,
                        exit_on_error=False, description=f"run {job.name}")

    def active_job(self, name: str) -> Job | None:
        job = self.jobs.get(name)
        return job if job is not None and job.active else None

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if not worker.name.startswith("job:"):
            return
        job = self.jobs.get(worker.name.removeprefix("job:"))
        if job is None:
            return
        if event.state == WorkerState.SUCCESS:
            job.finish(result=worker.result)
            self.notify(f"run {job.name}: {job.status}", title=f"run {job.status}")
        elif event.state == WorkerState.ERROR:
            job.finish(error=worker.error)
            self.notify(job.message, title=f"run {job.name} failed", severity="error",
                        timeout=10)
        elif event.state == WorkerState.CANCELLED:
            job.finish(error=RuntimeError("cancelled"))

    def cancel_jobs(self) -> None:
        for job in self.jobs.values():
            job.cancel()

    def active_jobs(self) -> list[Job]:
        return [job for job in self.jobs.values() if job.active]

    async def action_quit(self) -> None:
        """Quit; while a run of this app goes on, ask first (quitting stops it)."""
        from vlmrate.tui.screens.confirm import ConfirmScreen

        running = self.active_jobs()
        if not running:
            self.cancel_jobs()
            self.exit(0)
            return
        if isinstance(self.screen, ConfirmScreen):
            return
        names = ", ".join(job.name for job in running)

        def answer(yes: bool | None) -> None:
            if yes:
                self.cancel_jobs()
                self.exit(0)

        self.confirm("Quit vlmrate?",
                     f"Run {names} goes on: quitting stops it; what is written is kept. "
                     "Resume it later with R.", answer)

    def confirm(self, question: str, detail: str,
                done: Callable[[bool | None], Awaitable[None] | None]) -> None:
        """A yes/no question answered by keyboard; ``done`` gets True for yes."""
        from vlmrate.tui.screens.confirm import ConfirmScreen

        self.push_screen(ConfirmScreen(question, detail), done)

    def on_unmount(self) -> None:
        self.cancel_jobs()

    # --- shared actions ----------------------------------------------------------------

    def notify(self, message: str, *, title: str = "", severity: Any = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Textual's notify, never reading the message as markup: it often holds text from
        outside vlmrate (a server's error, a sheet cell, a path), and ``[/bold]`` in it
        would be a MarkupError instead of a message."""
        super().notify(message, title=title, severity=severity, timeout=timeout,
                       markup=False)

    def report_error(self, error: BaseException | None, title: str = "") -> None:
        """A user error as one line; anything else as its type and message (no traceback)."""
        from vlmrate.errors import UserError

        if error is None:
            return
        if isinstance(error, UserError):
            self.notify(str(error), title=title, severity="error", timeout=10)
        else:
            self.notify(f"{type(error).__name__}: {error}", title=title or "unexpected error",
                        severity="error", timeout=10)

    @work(thread=True, exit_on_error=False, group="export")
    def export_run(self, run: Any) -> None:
        """`x` on Results and Stats: write the workbook in a worker, notify the path."""
        from vlmrate.tui.data import export

        try:
            path = export(run)
        except Exception as exc:
            self.call_from_thread(self.report_error, exc, "export")
            return
        self.call_from_thread(self.notify, f"workbook written: {path}", title="export")

    @work(thread=True, exit_on_error=False, group="figures")
    def write_figures(self, run: Any) -> None:
        """`f` on Stats: the figures (RUN/figures/), the HTML report and the workbook with
        its Figures sheet, in a worker."""
        try:
            from vlmrate.report.write import write_figures_and_report

            done = write_figures_and_report(run, workbook=True)
        except Exception as exc:
            self.call_from_thread(self.report_error, exc, "figures")
            return
        finally:
            self.writing_figures = False  # set by the Stats screen's action (UI thread)
        self.call_from_thread(self.notify, f"{done.n_figures} figures (PDF, PNG, SVG) in "
                              f"{done.figures}\nreport: {done.report}\nworkbook with a "
                              f"Figures sheet: {done.workbook}", title="figures", timeout=10)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        dark = self.theme != "textual-light"
        yield SystemCommand("Light theme" if dark else "Dark theme",
                            "Switch between textual-light and textual-dark",
                            self.action_toggle_dark)

    def action_toggle_dark(self) -> None:
        self.theme = "textual-dark" if self.theme == "textual-light" else "textual-light"
