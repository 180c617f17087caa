"""Runs: every run folder under runs/ with its status, model, dataset, progress and date."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Header, Static

from vlmrate.errors import UserError
from vlmrate.tui.screens.base import AppScreen

COLUMNS = ("name", "status", "model", "dataset", "progress", "created")


def _short(text: Any, width: int) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= width else "…" + text[-(width - 1):]


def run_row(run: dict) -> tuple[str, ...]:
    done, total = run.get("done"), run.get("total")
    progress = f"{done}/{total}" if total else (str(done) if done is not None else "")
    model = str(run.get("model") or "").rsplit("/", 1)[-1]
    dataset = Path(str(run.get("dataset") or "")).name or "—"
    created = str(run.get("created") or "")[:16].replace("T", " ")
    return (run["name"], str(run.get("status", "")), _short(model, 24), _short(dataset, 16),
            progress, created)


class RunsScreen(AppScreen):
    """The list of runs; the start of everything."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open", id="runs.open", priority=True),
        Binding("n", "new_run", "New run", id="runs.new"),
        Binding("s", "stats", "Stats", id="runs.stats"),
        Binding("space", "mark", "Mark", id="runs.mark"),
        Binding("c", "compare", "Compare", id="runs.compare"),
        Binding("R", "resume", "Resume", id="runs.resume"),
        Binding("r", "refresh", "Refresh", id="runs.refresh"),
        Binding("q", "app.quit", "Quit", id="runs.quit"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.runs: list[dict] = []
        self.marked: list[str] = []  # run names marked for Compare, in marking order

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="runs-info", classes="info")
        table: DataTable[str] = DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        table.add_columns(*COLUMNS)
        yield table
        yield Footer()

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
        from vlmrate.store import list_runs

        try:
            runs = list_runs(self.vapp.runs_dir)
        except Exception as exc:
            self.app.call_from_thread(self.vapp.report_error, exc, "runs")
            return
        self.app.call_from_thread(self.show_runs, runs)

    def show_runs(self, runs: list[dict]) -> None:
        self.runs = runs
        table = self.query_one("#runs-table", DataTable)
        selected = self.selected_name()
        table.clear()
        names = {r["name"] for r in runs}
        self.marked = [m for m in self.marked if m in names]
        for run in runs:
            row: list[Any] = list(run_row(run))
            job = self.vapp.jobs.get(run["name"])
            if job is not None and job.active:
                row[1] = job.status
            if run["name"] in self.marked:
                row[0] = Text(f"✓ {row[0]}", style="bold")
            table.add_row(*row, key=run["name"])
        if selected is not None and selected in {r["name"] for r in runs}:
            table.move_cursor(row=table.get_row_index(selected))
        info = self.query_one("#runs-info", Static)
        if runs:
            plural = "run" if len(runs) == 1 else "runs"
            marked = f" · {len(self.marked)} marked, c compares" if self.marked else (
                " · space marks runs to compare")
            info.update(f"{len(runs)} {plural} · enter opens · n starts a new run{marked}")
        else:
            info.update(f"no runs in {self.vapp.runs_dir}/ yet · n starts a new run "
                        "(or `vlmrate import` / `vlmrate demo` from a shell)")

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

    def action_resume(self) -> None:
        run = self.selected_run()
        if run is None:
            self.notify("no run selected", severity="warning")
            return
        if self.vapp.active_job(run["name"]):
            self._open(run)
            return
        from vlmrate.settings import RunConfig
        from vlmrate.store import read_manifest

        run_dir = Path(run["path"])
        try:
            config = RunConfig.from_manifest(read_manifest(run_dir), run_dir=run_dir,
                                             runs_dir=self.vapp.runs_dir,
                                             prompts_dir=self.vapp.prompts_dir)
        except UserError as exc:
            self.vapp.report_error(exc, "resume")
            return
        self.vapp.open_new_run(config)
