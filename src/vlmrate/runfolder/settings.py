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
from urllib.parse import urlsplit

from vlmrate.engines.base import SamplingConfig
from vlmrate.errors import UserError
from vlmrate.inputs import limits
from vlmrate.redact import redact_url

if TYPE_CHECKING:
    from vlmrate.inputs.study import Study

DEFAULT_MODEL = "llava-hf/llava-v1.6-vicuna-13b-hf"
ENGINES = ("vllm", "openai")
#: The engine_options each engine takes (the others are ignored by that engine).
ENGINE_OPTIONS: dict[str, frozenset[str]] = {
    "vllm": frozenset({"max_in_flight", "tensor_parallel_size", "max_model_len",
                       "gpu_memory_utilization", "dtype", "enforce_eager", "extra",
                       "batch_invariant"}),
    "openai": frozenset({"concurrency", "timeout_s", "max_retries", "backoff_s",
                         "api_key_env", "cooldown_s"}),
}
MAX_TEMPERATURE = limits.MAX_TEMPERATURE
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
    base_url: str | list[str] | None = None  # openai engine: one server, or several
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
    shard: tuple[int, int] | None = None  # (k, n): rate every n-th image from the k-th

    @property
    def base_urls(self) -> list[str]:
        """The openai engine's servers, in the order given (empty for none)."""
        if not self.base_url:
            return []
        return [self.base_url] if isinstance(self.base_url, str) else list(self.base_url)

    def validate(self) -> None:
        """Check the values (not the files: Runner.prepare reads those); UserError with
        one line naming the first problem."""
        if self.engine not in ENGINES:
            raise UserError(f"unknown engine {self.engine!r} (use {' or '.join(ENGINES)})")
        if self.base_urls:
            seen: dict[str, str] = {}
            for url in self.base_urls:
                key = check_base_url(url)
                if key in seen:
                    raise UserError(f"base URL {_shown(redact_url(url))}: the same server is "
                                    f"given twice (as {_shown(redact_url(seen[key]))})")
                seen[key] = url
            if self.engine != "openai":
                raise UserError(f"a base URL (--base-url) is for the openai engine; the "
                                f"{self.engine} engine runs the model in this process (drop "
                                f"the URL or choose the openai engine)")
        elif self.engine == "openai":
            raise UserError("the openai engine needs a base URL: --base-url "
                            "(e.g. http://host:8000/v1)")
        if not str(self.model).strip():
            raise UserError("model: a name or a folder is needed")
        if self.repeats is not None:
            limits.repeats(self.repeats)
        if self.max_tokens is not None:
            limits.max_tokens(self.max_tokens)
        _positive_int(self.limit, "limit")
        if self.shard is not None:
            k, n = self.shard
            if not (isinstance(n, int) and isinstance(k, int) and 0 <= k < n):
                raise UserError(f"shard {k}/{n}: K/N with N shards and 0 <= K < N")
        if self.temperature is not None:  # the checks study.toml's values get too
            limits.temperature(self.temperature)
        if self.top_p is not None:
            limits.top_p(self.top_p)
        options = self.engine_options
        for key in ("concurrency", "tensor_parallel_size", "max_model_len", "max_in_flight"):
            _positive_int(options.get(key), key.replace("_", " "))
        memory = options.get("gpu_memory_utilization")
        if memory is not None and not 0 < memory <= 1:
            raise UserError(f"gpu memory utilization {memory}: must be above 0 and at most 1")
        if self.run_name is not None:
            check_run_name(self.run_name)
        self._check_parallel_options()

    def _check_parallel_options(self) -> None:
        """Data parallel or batch invariance asked of an engine that cannot do it."""
        options = self.engine_options
        data_parallel = options.get("data_parallel_size")
        _positive_int(data_parallel, "data parallel size")
        if data_parallel is not None and data_parallel > 1:
            tp = options.get("tensor_parallel_size") or 1
            # vLLM 0.32 refuses LLM(data_parallel_size>1) in one process ("may hang"); its
            # data parallel replicas run behind its server, which the openai engine drives.
            raise UserError(
                f"data parallel size {data_parallel}: vLLM runs data parallel replicas only "
                f"behind its server; start `vllm serve MODEL --data-parallel-size "
                f"{data_parallel} --tensor-parallel-size {tp}` ({data_parallel * tp} GPUs) "
                f"and rate with --engine openai --base-url http://HOST:8000/v1")
        if options.get("batch_invariant") and self.engine != "vllm":
            raise UserError("--batch-invariant switches the in-process vLLM engine; for "
                            "servers start each `vllm serve` with VLLM_BATCH_INVARIANT=1 in "
                            "its environment")

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
        return {
            "model": self.model,
            "engine": {"name": self.engine, **_server_fields(self.base_urls),
                       "options": {k: v for k, v in self.engine_options.items()
                                   if "key" not in k.lower()}},
            "sampling": {
                "temperature": sampling.temperature, "top_p": sampling.top_p,
                "max_tokens": sampling.max_tokens, "seed": self.seed, "repeats": repeats,
                "structured": sampling.structured, "logprobs": sampling.logprobs,
                "rating_only": sampling.rating_only,
                # which probabilities rating_probs / expected_rating are read from
                "logprobs_mode": sampling.logprobs_mode,
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
            base_url=_recorded_servers(engine) if engine.get("name") == "openai" else None,
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
            shard=_recorded_shard(section("dataset").get("shard")),
            limit=number(section("dataset").get("limit"), int),
        )


def _server_fields(urls: list[str]) -> dict[str, Any]:
    """The manifest's record of the openai engine's servers (credentials dropped):
    ``base_url`` (the first, as before several were possible) and ``base_urls``."""
    shown = [redact_url(u) for u in urls]
    return {"base_url": shown[0] if shown else None, "base_urls": shown}


def _recorded_servers(engine: dict) -> str | list[str] | None:
    """The servers a manifest's engine section names (one URL as a string)."""
    urls = engine.get("base_urls")
    if isinstance(urls, list) and urls and all(isinstance(u, str) for u in urls):
        return urls[0] if len(urls) == 1 else list(urls)
    url = engine.get("base_url")
    return url if isinstance(url, str) else None


def check_base_url(url: str) -> str:
    """The server a base URL names, as a key to compare two URLs by (scheme, host, port,
    path without a trailing '/'); UserError with one line when it is no http(s) URL with a
    host and a valid port. The message never shows the URL's password."""
    shown = _shown(redact_url(url)) if isinstance(url, str) else repr(url)
    if not isinstance(url, str) or not re.match(r"(?i)https?://", url):
        raise UserError(f"base URL {shown}: must start with http:// or https://")
    if any(c.isspace() or ord(c) < 0x20 for c in url):
        raise UserError(f"base URL {shown}: holds a space or a control character")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # "[::1", port 99999, a port that is no number
        raise UserError(f"base URL {shown}: not a valid URL ({exc})") from None
    if not parts.hostname:
        raise UserError(f"base URL {shown}: names no host (e.g. http://host:8000/v1)")
    port = port or (443 if parts.scheme.lower() == "https" else 80)
    return f"{parts.scheme.lower()}://{parts.hostname.lower()}:{port}{parts.path.rstrip('/')}"


_SHARD = re.compile(r"\s*(\d{1,9})\s*/\s*(\d{1,9})\s*", re.ASCII)


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` as (K, N); UserError with one line when it is not one."""
    match = _SHARD.fullmatch(text)
    if match is None:
        raise UserError(f"shard {text!r}: K/N, e.g. 0/4 for the first of four shards")
    k, n = int(match[1]), int(match[2])
    if not 0 <= k < n:
        raise UserError(f"shard {text}: K/N with N shards and 0 <= K < N")
    return k, n


def _recorded_shard(value: Any) -> tuple[int, int] | None:
    if (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        return value[0], value[1]
    return None
