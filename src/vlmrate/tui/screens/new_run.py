"""New run: the form for `vlmrate run`, validated before the Job screen opens."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Checkbox, Footer, Header, Input, Label, Select, Static

from vlmrate.errors import UserError

if TYPE_CHECKING:
    from vlmrate.tui.app import VlmrateApp

DEFAULT_MODEL = "llava-hf/llava-v1.6-vicuna-13b-hf"
ENGINES = ("vllm", "openai")
RUN_NAME = re.compile(r"[\w.\-]+")


def options_from_manifest(run_dir: Path) -> dict[str, Any]:
    """The form's values for resuming a run (best effort: unknown fields stay empty)."""
    from vlmrate.store import read_manifest

    try:
        manifest = read_manifest(run_dir)
    except UserError:
        return {"run_name": run_dir.name}
    engine = manifest.get("engine") or {}
    sampling = manifest.get("sampling") or {}
    study = manifest.get("study") or {}
    options: dict[str, Any] = {
        "dataset": (manifest.get("dataset") or {}).get("path") or "",
        "human": (manifest.get("human") or {}).get("path") or "",
        "prompts": study.get("path") or study.get("name") or "reference",
        "model": manifest.get("model") or DEFAULT_MODEL,
        "engine": engine.get("name") if engine.get("name") in ENGINES else "vllm",
        "base_url": " ".join(engine.get("base_urls") or [engine.get("base_url") or ""]).strip(),
        "repeats": sampling.get("repeats"),
        "temperature": sampling.get("temperature"),
        "structured": bool(sampling.get("structured")),
        "logprobs": bool(sampling.get("logprobs")),
        "run_name": manifest.get("name") or run_dir.name,
    }
    return options


def _prompt_sets(prompts_dir: Path) -> list[str]:
    from vlmrate.study import PACKAGE_ROOT, prompt_sets

    return sorted(set(prompt_sets(prompts_dir)) | set(prompt_sets(PACKAGE_ROOT / "prompts")))


def _dataset_suggestions(data_dir: Path) -> list[str]:
    if not data_dir.is_dir():
        return []
    return sorted(str(p) for p in data_dir.iterdir() if p.is_dir())


def collect_options(values: dict[str, Any], runs_dir: Path, prompts_dir: Path
                    ) -> dict[str, Any]:
    """RunConfig keyword arguments from the form, or UserError with one line."""
    dataset = str(values.get("dataset") or "").strip()
    if not dataset:
        raise UserError("dataset folder: required (a folder of images, e.g. data/<name>)")
    if not Path(dataset).is_dir():
        raise UserError(f"dataset folder {dataset}: no such folder")
    options: dict[str, Any] = {"dataset": Path(dataset), "runs_dir": runs_dir,
                               "prompts_dir": prompts_dir}
    human = str(values.get("human") or "").strip()
    if human:
        if not Path(human).is_file():
            raise UserError(f"human sheet {human}: no such file")
        options["human"] = Path(human)
    options["prompts"] = str(values.get("prompts") or "reference")
    options["model"] = str(values.get("model") or "").strip() or DEFAULT_MODEL
    engine = str(values.get("engine") or "vllm")
    if engine not in ENGINES:
        raise UserError(f"engine {engine!r}: choose vllm or openai")
    options["engine"] = engine
    base_urls = str(values.get("base_url") or "").replace(",", " ").split()
    if base_urls:
        for base_url in base_urls:
            if not re.match(r"https?://", base_url):
                raise UserError(f"base URL {base_url!r}: must start with http:// or https://")
        if len(set(base_urls)) != len(base_urls):
            raise UserError("base URLs: the same server is given twice")
        options["base_url"] = base_urls[0] if len(base_urls) == 1 else base_urls
    elif engine == "openai":
        raise UserError("the openai engine needs a base URL, e.g. http://localhost:8000/v1")
    repeats = str(values.get("repeats") or "").strip()
    if repeats:
        if not repeats.isdigit() or int(repeats) < 1:
            raise UserError(f"repeats {repeats!r}: a whole number of 1 or more")
        options["repeats"] = int(repeats)
    temperature = str(values.get("temperature") or "").strip()
    if temperature:
        try:
            value = float(temperature)
        except ValueError:
            raise UserError(f"temperature {temperature!r}: not a number") from None
        if not 0 <= value <= 2:
            raise UserError(f"temperature {temperature}: must be between 0 and 2")
        options["temperature"] = value
    options["structured"] = bool(values.get("structured"))
    options["logprobs"] = bool(values.get("logprobs"))
    run_name = str(values.get("run_name") or "").strip()
    if run_name:
        if not RUN_NAME.fullmatch(run_name):
            raise UserError(f"run name {run_name!r}: use letters, digits, '.', '_' or '-'")
        options["run_name"] = run_name
    return options


class NewRunScreen(Screen[None]):
    """The form; Start validates (here, then the runner's prepare()) and opens the Job."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "start", "Start", id="new.start", priority=True),
        Binding("escape", "cancel", "Cancel", id="new.cancel"),
    ]

    def __init__(self, values: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.initial = values or {}

    @property
    def vapp(self) -> VlmrateApp:
        return self.app  # type: ignore[return-value]

    def _field(self, label: str, widget: Any) -> Horizontal:
        return Horizontal(Label(label, classes="form-label"), widget, classes="form-row")

    def compose(self) -> ComposeResult:
        v = self.initial
        sets = _prompt_sets(self.vapp.prompts_dir) or ["reference"]
        prompts = str(v.get("prompts") or "reference")
        if prompts not in sets:
            sets = [*sets, prompts]
        yield Header()
        with VerticalScroll(id="new-form"):
            yield Static("New run — the same options as `vlmrate run`; empty = study default",
                         classes="info")
            yield self._field("dataset", Input(
                str(v.get("dataset") or ""), placeholder="data/<name> (folder of images)",
                id="dataset", compact=True,
                suggester=SuggestFromList(_dataset_suggestions(self.vapp.data_dir))))
            yield self._field("human sheet", Input(
                str(v.get("human") or ""), placeholder="default: DATASET/human.csv|xlsx",
                id="human", compact=True))
            yield self._field("prompt set", Select(
                [(s, s) for s in sets], value=prompts, allow_blank=False, id="prompts",
                compact=True))
            yield self._field("model", Input(str(v.get("model") or DEFAULT_MODEL), id="model",
                                             compact=True))
            yield self._field("engine", Select(
                [(e, e) for e in ENGINES], value=v.get("engine") or "vllm", allow_blank=False,
                id="engine", compact=True))
            yield self._field("base URL", Input(
                str(v.get("base_url") or ""), placeholder="openai engine: http://host:8000/v1 (several: space between)",
                id="base_url", compact=True))
            yield self._field("repeats", Input(
                "" if v.get("repeats") is None else str(v["repeats"]),
                placeholder="study default (10)", id="repeats", compact=True))
            yield self._field("temperature", Input(
                "" if v.get("temperature") is None else str(v["temperature"]),
                placeholder="study default (0.3)", id="temperature", compact=True))
            yield self._field("structured", Checkbox(
                "constrain answers to the template (vLLM structured outputs)",
                bool(v.get("structured")), id="structured", compact=True))
            yield self._field("logprobs", Checkbox(
                "store the probabilities of the digits 1..9 at the rating",
                bool(v.get("logprobs")), id="logprobs", compact=True))
            yield self._field("run name", Input(
                str(v.get("run_name") or ""), placeholder="default: dataset-model-date; "
                "an existing name resumes it", id="run_name", compact=True))
            with Horizontal(id="new-buttons"):
                yield Button("Start", variant="primary", id="start")
                yield Button("Cancel", id="cancel")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "new run"
        self.query_one("#dataset", Input).focus()

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for widget in self.query("#new-form Input, #new-form Select, #new-form Checkbox"):
            if widget.id:
                out[widget.id] = widget.value  # type: ignore[attr-defined]
        return out

    @on(Button.Pressed, "#start")
    def action_start(self) -> None:
        try:
            options = collect_options(self.values(), self.vapp.runs_dir, self.vapp.prompts_dir)
        except UserError as exc:
            self.notify(str(exc), title="new run", severity="error", timeout=8)
            return
        name = options.get("run_name")
        if name and self.vapp.active_job(name):
            self.notify(f"run {name} is already going on", severity="warning")
            return
        self.query_one("#start", Button).disabled = True
        self.notify("checking dataset, sheet, prompts…", title="new run", timeout=3)
        self.prepare(options)

    @work(thread=True, exclusive=True, group="prepare", exit_on_error=False)
    def prepare(self, options: dict[str, Any]) -> None:
        from vlmrate.tui.jobs import Job

        job = Job(options)
        try:
            job.prepare(self.vapp.runner_factory)
        except Exception as exc:
            self.app.call_from_thread(self._prepare_failed, exc)
            return
        self.app.call_from_thread(self._prepared, job)

    def _prepare_failed(self, error: BaseException) -> None:
        self.query_one("#start", Button).disabled = False
        self.vapp.report_error(error, "new run")

    def _prepared(self, job: Any) -> None:
        from vlmrate.tui.screens.job import JobScreen

        if self.vapp.active_job(job.name):
            self.query_one("#start", Button).disabled = False
            self.notify(f"run {job.name} is already going on", severity="warning")
            return
        self.vapp.start_job(job)
        self.app.switch_screen(JobScreen(job))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.app.pop_screen()
