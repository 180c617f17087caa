"""Runs: every run folder under runs/ with its status, model, dataset, progress and date."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Header, Static

from vlmrate.errors import UserError
from vlmrate.tui.screens.base import AppScreen
from vlmrate.tui.widgets.key_footer import KeyFooter

if TYPE_CHECKING:
    from vlmrate.runfolder.settings import RunConfig

COLUMNS = ("name", "status", "progress", "created", "model", "dataset")
#: Widest the name column gets; longer names are cut in the middle (start and end stay).
NAME_WIDTH = 26


@dataclass(frozen=True)
class RunsLayout:
    """The Runs table's columns for a terminal width: the widest cells of each."""

    columns: tuple[str, ...]
    name: int
    model: int
    dataset: int
    short_date: bool  # "12-03 01:20" instead of "2026-12-03 01:20"


def runs_layout(width: int) -> RunsLayout:
    """Narrow (under 100 columns): every column within the width, names cut shorter;
    wide (140 and more): also repeats, answers that failed and wall time."""
    if width < 100:
        return RunsLayout(COLUMNS, 16, 12, 10, True)
    if width < 140:
        return RunsLayout(COLUMNS, NAME_WIDTH, 24, 16, False)
    return RunsLayout(("name", "status", "progress", "K", "failed", "wall", "created",
                       "model", "dataset"), 36, 36, 28, False)


def _wall(seconds: Any) -> str:
    from vlmrate.running.progress import clock

    return clock(float(seconds)) if isinstance(seconds, int | float) else ""


def _short(text: Any, width: int) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= width else "…" + text[-(width - 1):]


def middle_cut(text: str, width: int) -> str:
    """``text`` in ``width`` characters, cut in the middle: "demo-tiny-ll…-20261126"."""
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    tail = width - 1 - head
    return text[:head] + "…" + text[-tail:]


def run_row(run: dict, layout: RunsLayout | None = None) -> tuple[str, ...]:
    layout = layout or runs_layout(100)
    done, total = run.get("done"), run.get("total")
    progress = f"{done}/{total}" if total else (str(done) if done is not None else "")
    model = str(run.get("model") or "").rsplit("/", 1)[-1]
    dataset = Path(str(run.get("dataset") or "")).name or "—"
    created = str(run.get("created") or "")[:16].replace("T", " ")
    if layout.short_date:
        created = created[5:]
    status = str(run.get("status", ""))
    if run.get("warning"):
        status += " ⚠"  # mostly unparsed: the info line says what and the likely fix
    failed = run.get("failed")
    cells = {"name": middle_cut(run["name"], layout.name), "status": status,
             "progress": progress, "created": created, "model": _short(model, layout.model),
             "dataset": _short(dataset, layout.dataset),
             "K": str(run.get("repeats") or ""), "failed": "" if failed is None else str(failed),
             "wall": _wall(run.get("wall_s"))}
    return tuple(cells[c] for c in layout.columns)


def run_detail(run: dict) -> str:
    """The info line of the selected run: why it failed, or that another process runs it."""
    name, status = run["name"], run.get("status")
    if status == "failed":
        return f"{name}: failed — {run.get('error') or 'no reason recorded (see run.log)'}"
    if status == "unreadable":
        return f"{name}: manifest.json is unreadable"
    if status == "running":
        return f"{name}: running · enter watches it live"
    if status == "interrupted":
        return f"{name}: interrupted (its process ended) · R resumes it"
    if status == "cancelled":
        return f"{name}: cancelled · R resumes it"
    if run.get("warning"):
        return f"{name}: {status} ⚠ {run['warning']}"
    if not run.get("done") and status not in ("imported",):
        return f"{name}: no ratings yet"
    return ""


class RunsTable(DataTable[str]):
    """The runs table: enter is its own key (not a screen priority binding, which would run
    before the arrows typed just before it: "down down enter" opened the first row)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Open", id="runs.open"),
        Binding("home", "first_row", "First run", id="runs.first", show=False),
        Binding("end", "last_row", "Last run", id="runs.last", show=False),
    ]

    def action_first_row(self) -> None:
        """Home: the cursor to the first run (DataTable's home only scrolled)."""
        if self.row_count:
            self.move_cursor(row=0)

    def action_last_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1)


class RunsScreen(AppScreen):
    """The list of runs; the start of everything."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "new_run", "New run", id="runs.new"),
        Binding("s", "stats", "Stats", id="runs.stats"),
        Binding("space", "mark", "Mark", id="runs.mark", show=False),  # footer fits 80
        Binding("c", "compare", "Compare", id="runs.compare"),
        Binding("R", "resume", "Resume", id="runs.resume"),
        Binding("N", "clone", "Clone as new run…", id="runs.clone", show=False),
        Binding("r", "refresh", "Refresh", id="runs.refresh", show=False),
        Binding("q", "app.quit", "Quit", id="runs.quit"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.runs: list[dict] = []
        self.marked: list[str] = []  # run names marked for Compare, in marking order
        self._layout: RunsLayout | None = None  # the table's columns now

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="runs-info", classes="info")
        table = RunsTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield table
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = f"runs in {self.vapp.runs_dir}"
        self.query_one("#runs-info", Static).update("loading runs…")
        # after the first frame: the worker imports polars (via the store), which would
        # otherwise compete with drawing it
        self.call_after_refresh(self.action_refresh)
        self.set_interval(5, self._refresh_if_running)

    def on_screen_resume(self) -> None:
        self.action_refresh()

    def _refresh_if_running(self) -> None:
        if any(r.get("status") == "running" for r in self.runs) or any(
                j.active for j in self.vapp.jobs.values()):
            self.action_refresh()

    def action_refresh(self) -> None:
        self.load_runs()

    @work(thread=True, exclusive=True, group="runs", exit_on_error=False)
    def load_runs(self) -> None:
        from vlmrate.runfolder.store import list_runs

        try:
            runs = list_runs(self.vapp.runs_dir)
        except Exception as exc:
            self.app.call_from_thread(self.vapp.report_error, exc, "runs")
            return
        self.app.call_from_thread(self.show_runs, runs)

    def on_resize(self) -> None:
        if self.runs:
            self.show_runs(self.runs)  # the columns follow the width

    def show_runs(self, runs: list[dict]) -> None:
        self.runs = runs
        table = self.query_one("#runs-table", DataTable)
        selected = self.selected_name()
        layout = runs_layout(self.size.width or 100)
        if layout != self._layout:
            table.clear(columns=True)
            table.add_columns(*layout.columns)
            self._layout = layout
        started = self.vapp.select_in_runs
        if started is not None and started in {r["name"] for r in runs}:
            selected, self.vapp.select_in_runs = started, None  # R resumes what n started
        table.clear()
        names = {r["name"] for r in runs}
        self.marked = [m for m in self.marked if m in names]
        for run in runs:
            row: list[Any] = list(run_row(run, layout))
            job = self.vapp.jobs.get(run["name"])
            if job is not None and job.active:
                row[1] = job.status
                if job.progress is not None:
                    row[2] = f"{job.progress.done}/{job.progress.total}"
            if run["name"] in self.marked:
                row[0] = Text(f"✓ {row[0]}", style="bold")
            table.add_row(*row, key=run["name"])
        if selected is not None and selected in {r["name"] for r in runs}:
            table.move_cursor(row=table.get_row_index(selected))
        self._show_info()

    @on(DataTable.RowHighlighted, "#runs-table")
    def _row_highlighted(self) -> None:
        self._show_info()

    def _show_info(self) -> None:
        runs = self.runs
        info = self.query_one("#runs-info", Static)
        selected = self.selected_run()
        detail = run_detail(selected) if selected is not None else ""
        job = self.vapp.active_job(selected["name"]) if selected is not None else None
        if job is not None:
            detail = f"{job.name}: {job.status} in this app · enter opens its panel"
        if runs:
            plural = "run" if len(runs) == 1 else "runs"
            marked = f" · {len(self.marked)} marked, c compares" if self.marked else (
                " · space marks runs to compare")
            what = ""
            if selected is not None and self._layout is not None and self._layout.short_date:
                # narrow: the cut cells of the row, whole
                what = (f"{selected['name']} · {selected.get('model') or '—'} · "
                        f"{Path(str(selected.get('dataset') or '')).name or '—'}\n")
            # Text, not markup: a run's error is a server's text ("[/bold]" is no tag)
            info.update(Text(detail or f"{what}{len(runs)} {plural} · enter opens · n starts a "
                             f"new run{marked}"))
        else:
            info.update(Text(f"no runs in {self.vapp.runs_dir}/ yet · n starts a new run "
                             "(or `vlmrate import` / `vlmrate demo` from a shell)"))

    def selected_name(self) -> str | None:
        table = self.query_one("#runs-table", DataTable)
        if not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:
            return None
        return str(key.value) if key.value is not None else None

    def selected_run(self) -> dict | None:
        name = self.selected_name()
        return next((r for r in self.runs if r["name"] == name), None)

    def run_names(self) -> list[str]:
        return [r["name"] for r in self.runs]

    def open_run_by_name(self, name: str) -> None:
        run = next((r for r in self.runs if r["name"] == name), None)
        if run is None and self.vapp.active_job(name):
            run = {"name": name}
        if run is not None:
            self._open(run)

    @on(DataTable.RowSelected, "#runs-table")
    def _row_selected(self) -> None:
        self.action_open()

    def action_open(self) -> None:
        run = self.selected_run()
        if run is None:
            self.notify("no run selected", severity="warning")
            return
        self._open(run)

    def _open(self, run: dict) -> None:
        job = self.vapp.active_job(run["name"])
        if job is not None:
            self.vapp.open_job(job)
            return
        if run.get("status") == "unreadable":
            self.notify(f"run {run['name']}: manifest.json is unreadable", severity="error")
            return
        if run.get("status") == "running":
            self.vapp.open_watch(Path(run["path"]))
            return
        if not run.get("done") and run.get("status") != "imported":
            self.notify(run_detail(run) if run.get("status") == "failed"
                        else f"{run['name']}: no ratings yet", title=run["name"],
                        severity="warning")
            return
        self.vapp.open_results(Path(run["path"]))

    def action_stats(self) -> None:
        run = self.selected_run()
        if run is None:
            self.notify("no run selected", severity="warning")
            return
        self.vapp.open_stats(Path(run["path"]))

    def action_mark(self) -> None:
        """Mark or unmark the selected run for Compare."""
        name = self.selected_name()
        if name is None:
            self.notify("no run selected", severity="warning")
            return
        if name in self.marked:
            self.marked.remove(name)
        else:
            self.marked.append(name)
        self.show_runs(self.runs)

    def action_compare(self) -> None:
        """Open Compare on the marked runs (two or more)."""
        paths = [Path(r["path"]) for name in self.marked for r in self.runs
                 if r["name"] == name and "path" in r]
        if len(paths) < 2:
            self.notify("mark two or more runs with space, then press c", severity="warning")
            return
        self.vapp.open_compare(paths)

    def action_new_run(self) -> None:
        self.vapp.open_new_run()

    def _config_of(self, run: dict, what: str) -> RunConfig | None:
        """The settings in the run's manifest (None, with a notification, when there are
        none to use)."""
        from vlmrate.runfolder.settings import RunConfig
        from vlmrate.runfolder.store import read_manifest

        run_dir = Path(run["path"])
        try:
            return RunConfig.from_manifest(read_manifest(run_dir), run_dir=run_dir,
                                           prompts_dir=self.vapp.prompts_dir)
        except UserError as exc:
            self.vapp.report_error(exc, what)
            return None

    def action_resume(self) -> None:
        """Resume the run with the settings of its manifest: no form."""
        run = self.selected_run()
        if run is None:
            self.notify("no run selected", severity="warning")
            return
        if self.vapp.active_job(run["name"]):
            self._open(run)
            return
        if run.get("status") == "running":
            self.notify(f"run {run['name']} is going on in another process; enter watches it",
                        severity="warning")
            return
        if run.get("status") == "done":
            self.notify(f"run {run['name']} is complete: nothing to resume", severity="warning")
            return
        config = self._config_of(run, "resume")
        if config is not None:
            self.notify(f"resuming {run['name']}: checking dataset, sheet, prompts…",
                        title="resume", timeout=3)
            self.vapp.resume_run(config)

    def action_clone(self) -> None:
        """The New run form filled in with this run's settings, for a new run."""
        run = self.selected_run()
        if run is None:
            self.notify("no run selected", severity="warning")
            return
        config = self._config_of(run, "clone")
        if config is not None:
            self.vapp.open_new_run(replace(config, run_name=None), clone_of=run["name"])
