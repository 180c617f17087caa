"""The settings of a run, in one place: RunConfig, the default model, the engines and their
options, and the run-name rule.

The CLI (`vlmrate run`, `import`, `demo`), the TUI's New run form and resuming a run from
the Runs screen all build a :class:`RunConfig` and check it with :meth:`RunConfig.validate`;
the manifest's settings are written by :meth:`RunConfig.to_manifest` and read back by
:meth:`RunConfig.from_manifest`. Imports nothing heavy (no vLLM, torch or Polars), so
`vlmrate --help` and the TUI's first frame stay fast.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vlmrate.engines.base import SamplingConfig
from vlmrate.errors import UserError
from vlmrate.redact import redact_url

if TYPE_CHECKING:
    from vlmrate.study import Study

DEFAULT_MODEL = "llava-hf/llava-v1.6-vicuna-13b-hf"
ENGINES = ("vllm", "openai")
#: The engine_options each engine takes (the others are ignored by that engine).
ENGINE_OPTIONS: dict[str, frozenset[str]] = {
    "vllm": frozenset({"max_in_flight", "tensor_parallel_size", "max_model_len",
                       "gpu_memory_utilization", "dtype", "enforce_eager", "extra"}),
    "openai": frozenset({"concurrency", "timeout_s", "max_retries", "backoff_s",
                         "api_key_env"}),
}
MAX_TEMPERATURE = 2.0
#: The answer cap of a rating-only run: `Rating: N` (at most 10 characters) and the end
#: token even at one token per character (a random-weight model under the template splits
#: "Rating" into pieces; a real one takes ~5 tokens), so a rating-only answer ends with
#: "stop", not "length".
RATING_ONLY_MAX_TOKENS = 12

# --- the run-name rule ------------------------------------------------------------------

#: Longest run name (characters); the UTF-8 bytes are bounded too, so that the run
#: folder and the files named after the run (``<name>.ratings.parquet``) stay within the
#: file system's 255-byte limit for one name.
RUN_NAME_MAX = 100
_RUN_NAME_MAX_BYTES = 200
#: Letters and digits (Unicode word characters, as `\\w`), '_', '.' and '-'.
_RUN_NAME = re.compile(r"[\w.\-]+")
_RUN_NAME_HINT = "use letters, digits, '.', '_' or '-'"


def _shown(text: str, width: int = 40) -> str:
    """A value for an error line: repr, cut to ``width`` characters."""
    return repr(text) if len(text) <= width else repr(text[:width]) + "…"


def run_name_problem(name: object) -> str | None:
    """Why ``name`` is not a valid run name, or None when it is one.

    A run name is one path component: letters, digits, '_', '.' and '-', not "." or "..",
    at most RUN_NAME_MAX characters.
    """
    if not isinstance(name, str) or not name:
        return "a run name is needed"
    if not _RUN_NAME.fullmatch(name):
        return f"run name {_shown(name)}: {_RUN_NAME_HINT}"
    if name in {".", ".."}:
        return f"run name {name!r}: not '.' or '..' (a run is a folder inside the runs folder)"
    if len(name) > RUN_NAME_MAX:
        return f"run name {_shown(name)}: too long ({len(name)} characters, at most {RUN_NAME_MAX})"
    if len(name.encode("utf-8")) > _RUN_NAME_MAX_BYTES:
        return (f"run name {_shown(name)}: too long ({len(name.encode('utf-8'))} bytes in "
                f"UTF-8, at most {_RUN_NAME_MAX_BYTES})")
    return None


def is_run_name(name: object) -> bool:
    return run_name_problem(name) is None


def check_run_name(name: str) -> str:
    """``name`` when it is a valid run name; else UserError with one line."""
    problem = run_name_problem(name)
    if problem is not None:
        raise UserError(problem)
    return name


def run_dir_for(runs_dir: Path, name: str) -> Path:
    """The folder of run ``name`` under ``runs_dir`` (``runs_dir / name``); refuses a name
    that breaks the rule or a folder that would not be directly inside ``runs_dir``."""
    check_run_name(name)
    run_dir = Path(runs_dir) / name
    root = os.path.normpath(Path(runs_dir).absolute())
    if os.path.dirname(os.path.normpath(run_dir.absolute())) != root:
        raise UserError(f"run name {_shown(name)}: resolves outside {runs_dir}")
    return run_dir


def default_run_name(dataset: Path, model: str, when: float | None = None) -> str:
    """dataset-model-YYYYmmdd-HHMM, made to follow the run-name rule."""
    def clean(text: str) -> str:
        return re.sub(r"[^\w.\-]+", "-", text).strip("-") or "run"

    data = clean(Path(dataset).resolve().name)
    short = clean(model.rstrip("/").split("/")[-1])
    stamp = time.strftime("%Y%m%d-%H%M", time.localtime(when))
    room = RUN_NAME_MAX - len(stamp) - 2
    if len(data) + len(short) > room:  # cut the longer part(s), keep the date
        data_len = min(len(data), max(room // 2, room - len(short)))
        data, short = data[:data_len], short[: room - data_len]
    return f"{data}-{short}-{stamp}"


# --- RunConfig ------------------------------------------------------------------------------

def _positive_int(value: int | None, what: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                              or value < 1):
        raise UserError(f"{what} {value!r}: must be a whole number of 1 or more")


@dataclass
class RunConfig:
    """Everything a run is started (or resumed) with. None = the study's default."""

    dataset: Path
    human: Path | None = None
    prompts: str = "reference"
    model: str = DEFAULT_MODEL
    engine: str = "vllm"
    base_url: str | None = None
    repeats: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int = 0
    structured: bool = False
    logprobs: bool = False
    #: The answer is `Rating: N` only (structured, logprobs on, 1 repeat by default).
    rating_only: bool = False
    run_name: str | None = None
    runs_dir: Path = Path("runs")
    id_column: str | None = None
    engine_options: dict[str, Any] = field(default_factory=dict)
    limit: int | None = None
    prompts_dir: Path = Path("prompts")

    def validate(self) -> None:
        """Check the values (not the files: Runner.prepare reads those); UserError with
        one line naming the first problem."""
        if self.engine not in ENGINES:
            raise UserError(f"unknown engine {self.engine!r} (use {' or '.join(ENGINES)})")
        if self.base_url:
            if not re.match(r"https?://", self.base_url):
                raise UserError(f"base URL {_shown(self.base_url)}: must start with http:// "
                                f"or https://")
        elif self.engine == "openai":
            raise UserError("the openai engine needs a base URL: --base-url "
                            "(e.g. http://host:8000/v1)")
        if not str(self.model).strip():
            raise UserError("model: a name or a folder is needed")
        _positive_int(self.repeats, "repeats")
        _positive_int(self.max_tokens, "max tokens")
        _positive_int(self.limit, "limit")
        if self.temperature is not None and not 0 <= self.temperature <= MAX_TEMPERATURE:
            raise UserError(f"temperature {self.temperature}: must be between 0 and "
                            f"{MAX_TEMPERATURE:g}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise UserError(f"top-p {self.top_p}: must be above 0 and at most 1")
        options = self.engine_options
        for key in ("concurrency", "tensor_parallel_size", "max_model_len", "max_in_flight"):
            _positive_int(options.get(key), key.replace("_", " "))
        memory = options.get("gpu_memory_utilization")
        if memory is not None and not 0 < memory <= 1:
            raise UserError(f"gpu memory utilization {memory}: must be above 0 and at most 1")
        if self.run_name is not None:
            check_run_name(self.run_name)

    # --- what the study leaves open ---------------------------------------------------
    def repeats_for(self, study: Study) -> int:
        """The repeats asked for, else 1 for a rating-only run, else the study's."""
        return self.repeats or (1 if self.rating_only else study.repeats)

    def sampling_for(self, study: Study) -> SamplingConfig:
        """Sampling of the run; rating-only implies structured outputs and logprobs, and
        caps the answer at RATING_ONLY_MAX_TOKENS unless max_tokens is given."""
        default_tokens = RATING_ONLY_MAX_TOKENS if self.rating_only else study.max_tokens
        return SamplingConfig(
            temperature=study.temperature if self.temperature is None else self.temperature,
            top_p=study.top_p if self.top_p is None else self.top_p,
            max_tokens=self.max_tokens or default_tokens,
            structured=self.structured or self.rating_only,
            logprobs=self.logprobs or self.rating_only,
            rating_only=self.rating_only,
            scale_min=study.scale_min,
            scale_max=study.scale_max,
        )

    def engine_options_for_engine(self) -> dict[str, Any]:
        """The engine_options the chosen engine takes."""
        allowed = ENGINE_OPTIONS.get(self.engine, frozenset())
        return {k: v for k, v in self.engine_options.items() if k in allowed}

    # --- the manifest -----------------------------------------------------------------
    def to_manifest(self, sampling: SamplingConfig, repeats: int) -> dict[str, Any]:
        """The manifest's "model", "engine" (no option naming a key) and "sampling"."""
        base_url = redact_url(self.base_url) if self.base_url else None  # no password
        return {
            "model": self.model,
            "engine": {"name": self.engine, "base_url": base_url,
                       "options": {k: v for k, v in self.engine_options.items()
                                   if "key" not in k.lower()}},
            "sampling": {
                "temperature": sampling.temperature, "top_p": sampling.top_p,
                "max_tokens": sampling.max_tokens, "seed": self.seed, "repeats": repeats,
                "structured": sampling.structured, "logprobs": sampling.logprobs,
                "rating_only": sampling.rating_only,
            },
        }

    @classmethod
    def from_manifest(cls, manifest: dict, *, run_dir: Path | None = None,
                      runs_dir: Path = Path("runs"), prompts_dir: Path = Path("prompts")
                      ) -> RunConfig:
        """The settings a run was started with, to resume it (UserError when the manifest
        cannot be resumed: an imported run, or no dataset)."""
        def section(key: str) -> dict:
            value = manifest.get(key)
            return value if isinstance(value, dict) else {}

        def number(value: Any, kind: type) -> Any:
            if isinstance(value, bool) or not isinstance(value, int | float):
                return None
            return kind(value) if kind is float or float(value).is_integer() else None

        if not isinstance(manifest, dict):
            raise UserError("the manifest is not an object; this run cannot be resumed")
        name = manifest.get("name")
        if run_dir is not None:  # the folder is the run (a copied run has its own folder)
            name, runs_dir = Path(run_dir).name, Path(run_dir).parent
        elif not is_run_name(name):
            name = None
        label = name or "this run"
        if manifest.get("status") == "imported":
            raise UserError(f"run {label} was imported; only runs rated here can be resumed")
        dataset = section("dataset").get("path")
        if not isinstance(dataset, str) or not dataset:
            raise UserError(f"run {label}: its manifest names no dataset folder to resume")
        engine, sampling, study = section("engine"), section("sampling"), section("study")
        human, column_map = section("human"), section("human").get("column_map")
        options = engine.get("options")
        # the prompt set's folder as recorded (relative to where the run started), else its
        # name; resume compares the prompt texts' sha256 either way
        prompts = study.get("path")
        if not (isinstance(prompts, str) and prompts and (Path(prompts) / "study.toml").is_file()):
            prompts = study.get("name")
        model = manifest.get("model")
        id_column = column_map.get("id") if isinstance(column_map, dict) else None
        return cls(
            dataset=Path(dataset),
            human=Path(human["path"]) if isinstance(human.get("path"), str) else None,
            prompts=prompts if isinstance(prompts, str) and prompts else "reference",
            model=model if isinstance(model, str) and model else DEFAULT_MODEL,
            engine=engine.get("name") if engine.get("name") in ENGINES else "vllm",
            base_url=engine.get("base_url") if isinstance(engine.get("base_url"), str) else None,
            repeats=number(sampling.get("repeats"), int),
            temperature=number(sampling.get("temperature"), float),
            top_p=number(sampling.get("top_p"), float),
            max_tokens=number(sampling.get("max_tokens"), int),
            seed=number(sampling.get("seed"), int) or 0,
            structured=sampling.get("structured") is True,
            logprobs=sampling.get("logprobs") is True,
            rating_only=sampling.get("rating_only") is True,
            run_name=name,
            runs_dir=Path(runs_dir),
            id_column=id_column if isinstance(id_column, str) else None,
            engine_options=dict(options) if isinstance(options, dict) else {},
            prompts_dir=Path(prompts_dir),
        )
