"""New run: the form for `vlmrate run`, validated before the Job screen opens."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.suggester import SuggestFromList
from textual.timer import Timer
from textual.widgets import (
    Button,
    Checkbox,
    Collapsible,
    Header,
    Input,
    Label,
    Select,
    Static,
)

from vlmrate.errors import UserError
from vlmrate.runfolder.settings import DEFAULT_MODEL, ENGINES, RunConfig
from vlmrate.tui.jobs import Job
from vlmrate.tui.screens.base import AppScreen
from vlmrate.tui.widgets.key_footer import KeyFooter


def _prompt_sets(prompts_dir: Path) -> list[str]:
    from vlmrate.inputs.study import PACKAGE_ROOT, prompt_sets

    return sorted(set(prompt_sets(prompts_dir)) | set(prompt_sets(PACKAGE_ROOT / "prompts")))


def _dataset_suggestions(data_dir: Path) -> list[str]:
    if not data_dir.is_dir():
        return []
    return sorted(str(p) for p in data_dir.iterdir() if p.is_dir())


def _text(values: dict[str, Any], key: str) -> str:
    return str(values.get(key) or "").strip()


def _servers(text: str) -> str | list[str] | None:
    """One base URL, or several separated by spaces or commas."""
    urls = text.replace(",", " ").split()
    return (urls[0] if len(urls) == 1 else urls) if urls else None


def _whole_number(text: str, what: str) -> int | None:
    if not text:
        return None
    if not (text.isascii() and text.isdigit()):  # '²'.isdigit() is True, int('²') fails
        raise UserError(f"{what} {text!r}: a whole number of 1 or more")
    return int(text)


def _number(text: str, what: str) -> float | None:
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise UserError(f"{what} {text!r}: not a number") from None


#: Engine options the form shows (advanced section), with how their text is read.
ENGINE_FIELDS: dict[str, str] = {
    "tensor_parallel_size": "int", "max_model_len": "int", "gpu_memory_utilization": "float",
    "dtype": "text", "enforce_eager": "bool", "concurrency": "int",
}


def _engine_options(values: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """The base's engine options with the form's fields over them (an empty field: the
    engine's default, so the option is left out)."""
    options = dict(base)
    for key, kind in ENGINE_FIELDS.items():
        if key not in values:
            continue
        what = key.replace("_", " ")
        if kind == "bool":
            value: Any = bool(values[key]) or None
        elif kind == "int":
            value = _whole_number(_text(values, key), what)
        elif kind == "float":
            value = _number(_text(values, key), what)
        else:
            value = _text(values, key) or None
        if value is None:
            options.pop(key, None)
        else:
            options[key] = value
    return options


#: What the projection line says before a dataset is typed.
PROJECTION_HINT = "projection (vlmrate check): type a dataset folder"
#: Fields whose change re-projects; the wait lets typing finish first.
PROJECTION_FIELDS = ("dataset", "model", "engine", "prompts", "repeats", "rating_only")
PROJECTION_DELAY_S = 0.6


def models_hint(local: list[tuple[str, str]]) -> Text:
    """The line under the model field: the models found here, or that none were."""
    text = Text("  ")
    if not local:
        text.append(f"no local model found (`vlmrate demo` builds a tiny one); "
                    f"{DEFAULT_MODEL} downloads from the hub", style="dim")
        return text
    text.append("found here: ", style="dim")
    for n, (model, where) in enumerate(local[:4]):
        if n:
            text.append(" · ", style="dim")
        text.append(model.rstrip("/").rsplit("/", 1)[-1] if model.startswith("/") else model)
        text.append(f" ({where})", style="dim")
    if len(local) > 4:
        text.append(f" · {len(local) - 4} more (type to complete)", style="dim")
    return text


def projection_text(values: dict[str, Any], prompts_dir: Path) -> str:
    """The `vlmrate check` projection of the form's values, as one line (errors included)."""
    from vlmrate.preflight.report import CheckRequest, build_report, summary_line

    dataset = _text(values, "dataset")
    if not dataset:
        return PROJECTION_HINT
    try:
        repeats = _whole_number(_text(values, "repeats"), "repeats")
        report = build_report(CheckRequest(
            dataset=Path(dataset), model=_text(values, "model") or DEFAULT_MODEL,
            engine=str(values.get("engine") or "vllm"),
            prompts=str(values.get("prompts") or "reference"), prompts_dir=prompts_dir,
            repeats=repeats, rating_only=bool(values.get("rating_only")),
            probe_torch=False))
    except UserError as exc:
        return f"projection: {exc}"
    except Exception as exc:  # a projection must never break the form
        return f"projection: not available ({type(exc).__name__})"
    return f"projection: {summary_line(report)}"


def config_from_form(values: dict[str, Any], base: RunConfig) -> RunConfig:
    """The form's fields (text, as typed) over ``base`` (a resumed run's settings keep the
    ones the form does not show), checked by RunConfig.validate; UserError with one line."""
    dataset = _text(values, "dataset")
    if not dataset:
        raise UserError("dataset folder: required (a folder of images, e.g. data/<name>)")
    human = _text(values, "human")

    def given(key: str, parse: Any, current: Any) -> Any:
        return parse(_text(values, key), key.replace("_", " ")) if key in values else current

    seed = given("seed", _whole_or_zero, base.seed)
    config = replace(
        base,
        dataset=Path(dataset),
        human=Path(human) if human else None,
        prompts=str(values.get("prompts") or "reference"),
        model=_text(values, "model") or DEFAULT_MODEL,
        engine=str(values.get("engine") or "vllm"),
        base_url=_servers(_text(values, "base_url")),
        repeats=_whole_number(_text(values, "repeats"), "repeats"),
        temperature=_number(_text(values, "temperature"), "temperature"),
        top_p=given("top_p", _number, base.top_p),
        max_tokens=given("max_tokens", _whole_number, base.max_tokens),
        seed=seed,
        limit=given("limit", _whole_number, base.limit),
        id_column=(_text(values, "id_column") or None) if "id_column" in values
        else base.id_column,
        structured=bool(values.get("structured")),
        logprobs=bool(values.get("logprobs")),
        rating_only=bool(values.get("rating_only")),
        run_name=_text(values, "run_name") or None,
        engine_options=_engine_options(values, base.engine_options),
    )
    config.validate()
    return config


def _whole_or_zero(text: str, what: str) -> int:
    if not text:
        return 0
    if not (text.isascii() and text.isdigit()):
        raise UserError(f"{what} {text!r}: a whole number of 0 or more")
    return int(text)


class NewRunScreen(AppScreen):
    """The form; Start validates (here, then the runner's prepare()) and opens the Job.
    ``config``: the settings of a run to resume (None: a new run)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "start", "Start", id="new.start", priority=True),
        Binding("escape", "cancel", "Cancel", id="new.cancel"),
    ]

    def __init__(self, config: RunConfig | None = None, *, clone_of: str = "") -> None:
        super().__init__()
        self.initial = config
        self.clone_of = clone_of
        if clone_of:
            self.heading = (f"New run with the settings of {clone_of} — give it a name (or "
                            "leave the default); advanced holds the rest")
        else:
            self.heading = ("New run — the options of `vlmrate run` (advanced holds the "
                            "rest); empty = study default")
        self._projection_timer: Timer | None = None

    def _field(self, label: str, widget: Any) -> Horizontal:
        return Horizontal(Label(label, classes="form-label"), widget, classes="form-row")

    def base_config(self) -> RunConfig:
        """What the form's fields go over: the resumed run's settings, or the defaults."""
        if self.initial is not None:
            return replace(self.initial, runs_dir=self.vapp.runs_dir,
                           prompts_dir=self.vapp.prompts_dir)
        return RunConfig(dataset=Path(), runs_dir=self.vapp.runs_dir,
                         prompts_dir=self.vapp.prompts_dir)

    def compose(self) -> ComposeResult:
        from vlmrate.engines.model_source import local_models

        c = self.initial
        local = local_models()  # offered first: they load without a download
        sets = _prompt_sets(self.vapp.prompts_dir) or ["reference"]
        prompts = c.prompts if c else "reference"
        if prompts not in sets:
            sets = [*sets, prompts]
        options = c.engine_options if c else {}

        def shown(value: Any) -> str:
            return "" if value is None else str(value)

        yield Header()
        with VerticalScroll(id="new-form"):
            yield Static(self.heading, classes="info")
            yield Static(PROJECTION_HINT, id="projection", classes="info")
            yield self._field("dataset", Input(
                str(c.dataset) if c else "", placeholder="data/<name> (folder of images)",
                id="dataset", compact=True,
                suggester=SuggestFromList(_dataset_suggestions(self.vapp.data_dir))))
            yield self._field("human sheet", Input(
                str(c.human) if c and c.human else "",
                placeholder="default: DATASET/human.csv|xlsx",
                id="human", compact=True))
            yield self._field("prompt set", Select(
                [(s, s) for s in sets], value=prompts, allow_blank=False, id="prompts",
                compact=True))
            yield self._field("model", Input(
                c.model if c else (local[0][0] if local else DEFAULT_MODEL), id="model",
                compact=True, suggester=SuggestFromList([m for m, _ in local]
                                                        + [DEFAULT_MODEL])))
            yield Static(models_hint(local), id="model-hint", classes="info")
            yield self._field("engine", Select(
                [(e, e) for e in ENGINES], value=c.engine if c else "vllm", allow_blank=False,
                id="engine", compact=True))
            yield self._field("base URL", Input(
                " ".join(c.base_urls) if c else "",
                placeholder="openai engine: http://host:8000/v1 (several: a space between)",
                id="base_url", compact=True))
            yield self._field("repeats", Input(
                "" if c is None or c.repeats is None else str(c.repeats),
                placeholder="study default (10)", id="repeats", compact=True))
            yield self._field("run name", Input(
                (c.run_name or "") if c else "", placeholder="default: dataset-model-date; "
                "an existing name resumes it", id="run_name", compact=True))
            with Collapsible(title="advanced: sampling, limits, engine options",
                             collapsed=True, id="advanced"):
                yield self._field("temperature", Input(
                    shown(c.temperature if c else None), placeholder="study default (0.3)",
                    id="temperature", compact=True))
                yield self._field("top-p", Input(
                    shown(c.top_p if c else None), placeholder="study default (1.0)",
                    id="top_p", compact=True))
                yield self._field("max tokens", Input(
                    shown(c.max_tokens if c else None), placeholder="study default",
                    id="max_tokens", compact=True))
                yield self._field("seed", Input(
                    shown(c.seed if c else 0), placeholder="0", id="seed", compact=True))
                yield self._field("structured", Checkbox(
                    "constrain answers to the template (vLLM structured outputs)",
                    c.structured if c else True, id="structured", compact=True))
                yield self._field("logprobs", Checkbox(
                    "store the probabilities of the digits 1..9 at the rating",
                    bool(c and c.logprobs), id="logprobs", compact=True))
                yield self._field("rating-only", Checkbox(
                    "answer 'Rating: N' only (no reason; logprobs on; 1 repeat by default)",
                    bool(c and c.rating_only), id="rating_only", compact=True))
                yield self._field("limit", Input(
                    shown(c.limit if c else None), placeholder="all images (first N only)",
                    id="limit", compact=True))
                yield self._field("id column", Input(
                    shown(c.id_column if c else None), placeholder="human sheet's id column "
                    "(found by itself)", id="id_column", compact=True))
                yield self._field("tensor par.", Input(
                    shown(options.get("tensor_parallel_size")), placeholder="vllm: 1 (GPUs)",
                    id="tensor_parallel_size", compact=True))
                yield self._field("max model len", Input(
                    shown(options.get("max_model_len")), placeholder="vllm: the model's",
                    id="max_model_len", compact=True))
                yield self._field("GPU memory", Input(
                    shown(options.get("gpu_memory_utilization")),
                    placeholder="vllm: 0.9 (share of GPU memory)",
                    id="gpu_memory_utilization", compact=True))
                yield self._field("dtype", Input(
                    shown(options.get("dtype")), placeholder="vllm: auto", id="dtype",
                    compact=True))
                yield self._field("enforce eager", Checkbox(
                    "vllm: no CUDA graphs (starts faster, runs slower)",
                    bool(options.get("enforce_eager")), id="enforce_eager", compact=True))
                yield self._field("concurrency", Input(
                    shown(options.get("concurrency")),
                    placeholder="openai: 64 requests at a time", id="concurrency",
                    compact=True))
            with Horizontal(id="new-buttons"):
                yield Button("Start", variant="primary", id="start")
                yield Button("Cancel", id="cancel")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = f"new run like {self.clone_of}" if self.clone_of else "new run"
        self.query_one("#dataset", Input).focus()
        if self.initial is not None:
            self.schedule_projection()

    @on(Input.Changed)
    @on(Select.Changed)
    @on(Checkbox.Changed)
    def _field_changed(self, event: Input.Changed | Select.Changed | Checkbox.Changed
                       ) -> None:
        if event.control.id in PROJECTION_FIELDS:
            self.schedule_projection()

    def schedule_projection(self) -> None:
        """Re-project once the fields have been still for PROJECTION_DELAY_S."""
        if self._projection_timer is not None:
            self._projection_timer.stop()
        self._projection_timer = self.set_timer(PROJECTION_DELAY_S, self._project)

    def _project(self) -> None:
        self.project(self.values(), self.vapp.prompts_dir)

    @work(thread=True, exclusive=True, group="projection", exit_on_error=False)
    def project(self, values: dict[str, Any], prompts_dir: Path) -> None:
        text = projection_text(values, prompts_dir)
        self.app.call_from_thread(self._show_projection, text)

    def _show_projection(self, text: str) -> None:
        if self.is_attached:
            self.query_one("#projection", Static).update(Text(text))  # no markup: paths

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for widget in self.query("#new-form Input, #new-form Select, #new-form Checkbox"):
            if widget.id:
                out[widget.id] = widget.value  # type: ignore[attr-defined]
        return out

    @on(Button.Pressed, "#start")
    def action_start(self) -> None:
        try:
            config = config_from_form(self.values(), self.base_config())
        except UserError as exc:
            self.notify(str(exc), title="new run", severity="error", timeout=8)
            return
        name = config.run_name
        if name and self.vapp.active_job(name):
            self.notify(f"run {name} is already going on", severity="warning")
            return
        self.query_one("#start", Button).disabled = True
        self.notify("checking dataset, sheet, prompts…", title="new run", timeout=3)
        self.prepare(config)

    @work(thread=True, exclusive=True, group="prepare", exit_on_error=False)
    def prepare(self, config: RunConfig) -> None:
        job = Job(config)
        try:
            job.prepare(self.vapp.runner_factory)
        except Exception as exc:
            self.app.call_from_thread(self._prepare_failed, exc)
            return
        self.app.call_from_thread(self._prepared, job)

    def _prepare_failed(self, error: BaseException) -> None:
        self.query_one("#start", Button).disabled = False
        self.vapp.report_error(error, "new run")

    def _prepared(self, job: Job) -> None:
        if self.vapp.active_job(job.name):
            self.query_one("#start", Button).disabled = False
            self.notify(f"run {job.name} is already going on", severity="warning")
            return
        self.vapp.start_job(job)
        self.vapp.open_job(job, replace=True)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.app.pop_screen()
