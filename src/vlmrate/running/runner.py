"""Plan the (image, aspect, repeat) jobs of a run, stream them through an engine, append
each record as it arrives, and report progress. Resumable: finished keys are skipped.

Jobs go to the engine image-major (every aspect and repeat of one image together) so
that vLLM's prefix and encoder caches reuse the image. A bad image becomes error
records for its jobs while the run goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from vlmrate.engines.base import (
    Engine,
    EngineUnavailable,
    RatingRequest,
    RatingResult,
    SamplingConfig,
)
from vlmrate.errors import UserError
from vlmrate.inputs.dataset import (
    HumanSheet,
    ImageEntry,
    discover_images,
    find_human_sheet,
    fingerprint,
    read_human_sheet,
)
from vlmrate.inputs.images import ImageProblem, load_image
from vlmrate.inputs.study import Study, load_study
from vlmrate.redact import DEFAULT_API_KEY_ENV, Redactor
from vlmrate.runfolder.files import check_run_files
from vlmrate.runfolder.settings import RunConfig, default_run_name, run_dir_for
from vlmrate.runfolder.store import (
    LOG,
    MANIFEST,
    WRITTEN_FILES,
    RatingsWriter,
    RunLock,
    finished_and_unparsed,
    finished_keys,
    has_records,
    load_manifest,
    now_iso,
    read_manifest,
    repeat_seed,
    write_heartbeat,
    write_human,
    write_manifest,
)
from vlmrate.running.parse import parse_answer
from vlmrate.running.progress import Progress, RunClock
from vlmrate.versions import package_versions

__all__ = ["Progress", "RunConfig", "Runner", "make_engine"]


#: Seconds between heartbeats while nothing else changes.
BEAT_EVERY_S = 1.0


def make_engine(config: RunConfig, sampling: SamplingConfig, log_file: Path) -> Engine:
    """The engine the config names (checked by RunConfig.validate); imports it lazily
    (vLLM is heavy)."""
    config.validate()
    options = config.engine_options_for_engine()
    if config.engine == "openai":
        from vlmrate.engines.openai import OpenAIEngine

        assert config.base_urls
        return OpenAIEngine(config.base_urls, config.model, sampling, **options)
    from vlmrate.engines.vllm import VllmEngine

    return VllmEngine(config.model, sampling, log_file=log_file, **options)


def _check_model_folder(config: RunConfig) -> None:
    """A model given as a path (vllm engine) must exist before the run folder is made."""
    model = str(config.model)
    if config.engine != "vllm" or not model.startswith(("/", "./", "../", "~")):
        return
    if not Path(model).expanduser().exists():
        raise UserError(f"model folder {model} does not exist")


def _value(value: object) -> str:
    text = repr(value) if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 60 else text[:59] + "…"


def resume_differences(old: dict, new: dict) -> list[str]:
    """What differs between a run's manifest and the settings it is resumed with, one
    "field: was X, now Y" each (model, each sampling setting, the prompts)."""
    found = []
    if old.get("model") != new.get("model"):
        found.append(f"model: was {_value(old.get('model'))}, now {_value(new.get('model'))}")
    old_sampling, new_sampling = old.get("sampling") or {}, new.get("sampling") or {}
    if not isinstance(old_sampling, dict):
        old_sampling = {}
    # settings added later (rating_only) read as their default in older manifests
    old_sampling = {"rating_only": False, "logprobs_mode": "raw_logprobs", **old_sampling}
    new_sampling = {"rating_only": False, "logprobs_mode": "raw_logprobs", **new_sampling}
    for key in dict.fromkeys([*old_sampling, *new_sampling]):
        if old_sampling.get(key) != new_sampling.get(key):
            found.append(f"{key.replace('_', ' ')}: was {_value(old_sampling.get(key))}, "
                         f"now {_value(new_sampling.get(key))}")
    found += _selection_differences(old, new)
    old_system = (old.get("study") or {}).get("system")
    new_system = new["study"].get("system")
    if old_system != new_system:
        found.append(f"system text: was {_value(old_system)}, now {_value(new_system)}")
    old_prompts = {a.get("name"): (a.get("sha256"), a.get("reverse", False))
                   for a in (old.get("study") or {}).get("aspects", []) if isinstance(a, dict)}
    new_prompts = {a["name"]: (a["sha256"], a.get("reverse", False))
                   for a in new["study"]["aspects"]}
    if old_prompts != new_prompts:
        changed = sorted(n for n in {*old_prompts, *new_prompts}
                         if old_prompts.get(n) != new_prompts.get(n))
        found.insert(0, f"prompts: the text (or direction) of {', '.join(map(str, changed))} "
                        "changed")
    return found


def _selection_differences(old: dict, new: dict) -> list[str]:
    """The images a run rates (its --shard and --limit) as the run has them and as it is
    resumed: ratings.jsonl holds the old selection's images, so another one is refused."""
    old_data = old.get("dataset") if isinstance(old.get("dataset"), dict) else {}
    new_data = new.get("dataset") or {}
    found = []
    old_print, new_print = old_data.get("fingerprint"), new_data.get("fingerprint")
    if isinstance(old_print, str) and new_print and old_print != new_print:
        # other images (another folder, or files added, removed or changed): the records
        # on disk belong to the old ones
        found.append(f"dataset: was {_path_text(old_data.get('path'))} "
                     f"({_value(old_data.get('n_images'))} images), now "
                     f"{_path_text(new_data.get('path'))} ({_value(new_data.get('n_images'))} "
                     "images), other images")
    if old_data.get("shard") != new_data.get("shard"):
        found.append(f"shard: was {_shard_text(old_data.get('shard'))}, now "
                     f"{_shard_text(new_data.get('shard'))}")
    if "limit" in old_data and old_data.get("limit") != new_data.get("limit"):
        # (a manifest written before the limit was recorded says nothing about it)
        found.append(f"limit: was {_limit_text(old_data.get('limit'))}, now "
                     f"{_limit_text(new_data.get('limit'))}")
    return found


def _path_text(value: object, width: int = 60) -> str:
    """A folder as a message shows it: its end, which tells folders apart."""
    text = str(value)
    return text if len(text) <= width else "…" + text[-(width - 1):]


def _shard_text(value: object) -> str:
    return f"{value[0]}/{value[1]}" if isinstance(value, list) and len(value) == 2 else "none"


def _limit_text(value: object) -> str:
    return "all images" if value is None else _value(value)


class Runner:
    """One run: prepare() checks and writes the manifest; run() does the work."""

    def __init__(self, config: RunConfig, on_progress: Callable[[Progress], None] | None = None,
                 engine_factory: Callable[[RunConfig, SamplingConfig, Path], Engine] | None = None,
                 *, keep_failed_start: bool = False) -> None:
        self.config = config
        #: A start that fails before a record stays as a failed run with its reason (the
        #: TUI lists it); by default (the CLI's exit 2) what it made is removed.
        self.keep_failed_start = keep_failed_start
        self.on_progress = on_progress
        self.engine_factory = engine_factory or make_engine
        self.run_dir: Path | None = None
        self.study: Study | None = None
        self.images: list[ImageEntry] = []
        self.human: HumanSheet | None = None
        self.sampling: SamplingConfig | None = None
        self.repeats = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._resume_event: asyncio.Event | None = None
        self._cancel_requested = threading.Event()
        self._paused = False
        self._engine: Engine | None = None
        self._lock: RunLock | None = None
        self._redactor = Redactor()  # the run's secrets, set by prepare()
        self._tracker: _Tracker | None = None
        self._in_call = False  # an engine.rate() call is going on
        self._aborted = False  # ... and pause/cancel has ended it
        self._failure = ""  # the one-line reason of a failed run
        self._cancel_task: asyncio.Future[None] | None = None
        self._made: list[Path] = []  # what prepare() created (removed if the start fails)

    # --- preparation ------------------------------------------------------------------
    def prepare(self) -> Path:
        cfg = self.config
        cfg.validate()
        study = load_study(cfg.prompts, cfg.prompts_dir)
        all_images = images = discover_images(cfg.dataset)
        if cfg.shard is not None:  # every N-th image from the K-th (a Slurm array's task)
            k, n = cfg.shard
            images = images[k::n]
        if cfg.limit:
            images = images[: cfg.limit]
        dataset_dir = Path(cfg.dataset)
        human_path = cfg.human or find_human_sheet(dataset_dir)
        human = None
        if human_path is not None:
            human = read_human_sheet(human_path, study.aspect_names, id_column=cfg.id_column,
                                     scale=(study.scale_min, study.scale_max),
                                     # the dataset's images: --limit and --shard rate a
                                     # part, the sheet still has a row for every image
                                     image_ids=[i.image_id for i in all_images])
        repeats = cfg.repeats_for(study)
        sampling = cfg.sampling_for(study)
        name = cfg.run_name or default_run_name(dataset_dir, cfg.model)
        run_dir = run_dir_for(cfg.runs_dir, name)
        _check_model_folder(cfg)  # before anything is written
        if run_dir.is_symlink():  # its files would be written wherever the link points
            raise UserError(f"{run_dir} is a symbolic link: a run folder is a folder inside "
                            f"{cfg.runs_dir} (copy the run there, or choose another --run)")
        manifest = {
            "name": name,
            "status": "running",
            "study": study.to_manifest(),
            **cfg.to_manifest(sampling, repeats),
            # the selection (limit, shard) is a run setting: kept by resume, a different
            # one refused like the model (see resume_differences)
            "dataset": {"path": str(dataset_dir.resolve()), "n_images": len(images),
                        "fingerprint": fingerprint(images), "limit": cfg.limit,
                        **({} if cfg.shard is None else {
                            "shard": list(cfg.shard), "n_all_images": len(all_images),
                            "all_fingerprint": fingerprint(all_images)})},
            "human": None if human is None else {
                "path": str(Path(human_path).resolve()), "column_map": human.column_map(),
                "warnings": human.warnings},
            "total_jobs": len(images) * len(study.aspects) * repeats,
            "versions": package_versions(),
            "created": now_iso(),
        }
        # the URL's password and the API key never reach the disk (manifest, records)
        urls = cfg.base_url if isinstance(cfg.base_url, list | tuple) else [cfg.base_url]
        self._redactor = Redactor.for_run(
            urls, cfg.engine_options.get("api_key_env") or DEFAULT_API_KEY_ENV)
        manifest = self._redactor.value(manifest)
        check_run_files(run_dir, WRITTEN_FILES)  # a copied run's links: refused, untouched
        lock = RunLock(run_dir)
        self._made = [p for p in (Path(cfg.runs_dir), run_dir) if not p.exists()]
        self._made += [run_dir / n for n in WRITTEN_FILES if not os.path.lexists(run_dir / n)]
        try:
            lock.acquire()  # before anything is written: a second process changes nothing
        except OSError as exc:
            raise UserError(f"{run_dir}: cannot create the run folder ({exc.strerror})") from None
        try:
            if (run_dir / MANIFEST).is_file():
                manifest = self._merge_for_resume(run_dir, manifest)
            if human is not None:
                write_human(run_dir, human.frame)
            write_manifest(run_dir, manifest)
        except OSError as exc:
            lock.release()
            raise UserError(f"{run_dir}: cannot write the run folder ({exc.strerror})") from None
        except BaseException:
            lock.release()
            raise
        self._lock = lock
        self.run_dir, self.study, self.images, self.human = run_dir, study, images, human
        self.sampling, self.repeats = sampling, repeats
        return run_dir

    @staticmethod
    def _merge_for_resume(run_dir: Path, manifest: dict) -> dict:
        old, _ = load_manifest(run_dir)  # the checked copy: a hand-edited field cannot crash
        if old.get("status") == "imported":
            raise UserError(f"run {run_dir.name} was imported; choose another --run name")
        if not has_records(run_dir) or not finished_keys(run_dir):
            # it never rated anything (no record, or engine errors only, e.g. a server that
            # refused the settings): its fix starts it anew, the errors are redone
            return manifest
        differences = resume_differences(old, manifest)
        if differences:
            shown = "; ".join(differences[:3]) + ("; …" if len(differences) > 3 else "")
            raise UserError(
                f"run {run_dir.name} was started with other settings: {shown}. Resume needs "
                f"the same ones (or start a new run: another --run name, or Clone in the TUI)"
            )
        resumed = old.get("resumed") if isinstance(old.get("resumed"), list) else []
        kept = {}
        if old.get("merged_from"):  # a merged run resumed: where its records came from stays
            old_data = old.get("dataset") if isinstance(old.get("dataset"), dict) else {}
            kept = {"merged_from": old["merged_from"],
                    "dataset": {**manifest["dataset"], "parts": old_data.get("parts")}}
        return {**manifest, "created": old.get("created", manifest["created"]),
                "wall_s": old.get("wall_s"),
                "resumed": [*resumed, now_iso()], **kept}

    # --- control (thread-safe) --------------------------------------------------------
    def pause(self) -> None:
        """Stop submitting and abort what is in flight (it is redone on resume); the run
        reports "pausing" until the engine has let go of it, then "paused"."""
        self._paused = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._begin_pause)

    def resume(self) -> None:
        self._paused = False
        loop = self._loop
        if loop is not None and not loop.is_closed() and self._resume_event:
            loop.call_soon_threadsafe(self._resume_event.set)

    def cancel(self) -> None:
        """Stop submitting and abort what is in flight; what is written stays."""
        self._cancel_requested.set()
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._begin_cancel)

    def _begin_pause(self) -> None:  # on the run's loop
        if not self._paused or self._cancel_requested.is_set():
            return
        assert self._resume_event
        self._resume_event.clear()
        tracker = self._tracker
        if tracker is None or tracker.status not in ("running", "starting"):
            return
        if tracker.status == "running":
            tracker.set_status("pausing")
        else:  # still loading the model: it pauses once loaded
            tracker.message = "pauses as soon as the model has loaded"
            tracker.publish()
        self._abort_call()

    def _begin_cancel(self) -> None:  # on the run's loop
        if self._resume_event:
            self._resume_event.set()
        tracker = self._tracker
        if tracker is not None and tracker.status in ("running", "pausing", "paused",
                                                      "starting"):
            if tracker.status == "starting":  # vLLM's model load cannot be interrupted
                tracker.message = "the run stops as soon as the model has loaded"
            tracker.set_status("cancelling")
        self._abort_call()

    def _abort_call(self) -> None:
        """End the engine's rate() call now: what is in flight is aborted, not written."""
        if self._engine is not None and self._in_call:
            self._aborted = True
            self._cancel_task = asyncio.ensure_future(self._engine.cancel())

    # --- the run ----------------------------------------------------------------------
    def pending_jobs(self, done: set[tuple[str, str, int]]
                     ) -> list[tuple[ImageEntry, list[tuple[str, int]]]]:
        """Per image (in order), the (aspect, repeat) pairs not among the done keys."""
        assert self.study
        plan = []
        for entry in self.images:
            pairs = [(a.name, r) for a in self.study.aspects for r in range(1, self.repeats + 1)
                     if (entry.image_id, a.name, r) not in done]
            if pairs:
                plan.append((entry, pairs))
        return plan

    async def run(self) -> Progress:
        if self.run_dir is None:
            self.prepare()
        try:
            return await self._run()
        except UserError as exc:  # e.g. the server cannot be reached, the model not loaded
            self._release_lock()
            if not self.keep_failed_start and self._remove_what_it_made():
                raise UserError(f"{exc} (nothing was rated: {self.run_dir} is not kept)"
                                ) from None
            raise
        finally:
            self._release_lock()

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _remove_what_it_made(self) -> bool:
        """After a start that failed before a single record: remove the files (and the
        folder) this run created, so that nothing is left that looks like a run and the
        rerun with the fixed option starts afresh. A folder that was there before, or any
        file this run did not create, stays; so does everything once a record exists."""
        assert self.run_dir
        if has_records(self.run_dir) or not self._made:
            return False
        for path in reversed(self._made):
            with contextlib.suppress(OSError):
                if path.is_dir() and not path.is_symlink():
                    for tmp in path.glob(".*.tmp"):  # the atomic writers' leftovers
                        tmp.unlink()
                    path.rmdir()  # only when empty: anything else in it stays
                else:
                    path.unlink()
        return not self.run_dir.exists()

    async def _run(self) -> Progress:
        assert self.run_dir and self.study and self.sampling
        self._loop = asyncio.get_running_loop()
        self._resume_event = asyncio.Event()
        if not self._paused:
            self._resume_event.set()
        done, unparsed = finished_and_unparsed(self.run_dir)
        tracker = _Tracker(self.run_dir, self.study, self.images, self.repeats, done,
                           unparsed)
        self._tracker = tracker
        tracker.emit = self.on_progress
        if not self.pending_jobs(done):  # a resume with nothing left: say so
            tracker.status = "done"
            tracker.message = "nothing left to rate: every answer is already there"
            self._finish("done")
            tracker.publish()
            return tracker.snapshot()
        session_start = time.monotonic()
        with RatingsWriter(self.run_dir, lock=False) as writer:
            tracker.message = f"loading {self.config.engine} engine: {self.config.model}"
            tracker.set_status("starting")
            status = "failed"
            try:
                engine = self.engine_factory(self.config, self.sampling, self.run_dir / LOG)
                self._engine = engine
                if hasattr(engine, "on_notice"):  # e.g. the openai engine waiting to retry
                    engine.on_notice = tracker.notice
                if hasattr(engine, "on_phase"):  # the in-process engine downloading weights
                    loading = tracker.message

                    def phase(text: str | None, done: int | None = None,
                              total: int | None = None, loading: str = loading) -> None:
                        tracker.message = text or loading
                        tracker.download = (done, total) if text and total else None
                        tracker.publish()

                    engine.on_phase = phase
                try:
                    await engine.start()
                except EngineUnavailable as exc:
                    raise UserError(str(exc)) from None
                self._record_engine(engine)
                tracker.message = ""
                tracker.server_stats = getattr(engine, "server_stats", None)
                try:
                    await self._rate_until_done(engine, writer, tracker)
                except EngineUnavailable as exc:  # every server is down: the rest waits
                    tracker.message = f"{exc}; run again to rate the rest"
                    self._failure = " ".join(tracker.message.split())
                status = "cancelled" if self._cancel_requested.is_set() else (
                    "done" if tracker.done >= tracker.total else "failed")
                if status == "done" and not finished_keys(self.run_dir):
                    # every answer an engine error: the run produced nothing to analyse
                    status = "failed"
                    first = tracker.first_engine_error
                    tracker.message = "every answer failed" + (
                        f" (e.g. {first[:200]})" if first else "")
                    self._failure = " ".join(tracker.message.split())
            except (asyncio.CancelledError, KeyboardInterrupt):
                status = "cancelled"
                raise
            except Exception as exc:
                self._failure = " ".join(str(exc).split()) or type(exc).__name__
                raise
            finally:
                if self._engine is not None:
                    # closing must not hide the real outcome
                    with contextlib.suppress(Exception):
                        await asyncio.shield(self._engine.close())
                tracker.in_flight = 0
                self._finish(status, time.monotonic() - session_start)
                tracker.set_status(status)
        return tracker.snapshot()

    async def _rate_until_done(self, engine: Engine, writer: RatingsWriter,
                               tracker: _Tracker) -> None:
        """rate() calls until every job is written; a pause ends the call (its in-flight
        requests aborted), waits, and the next call asks for what is still missing."""
        assert self._resume_event
        while not self._cancel_requested.is_set():
            if not self._resume_event.is_set():
                tracker.in_flight = 0
                tracker.message = ""
                tracker.set_status("paused")
                await self._resume_event.wait()
                continue
            plan = self.pending_jobs(tracker.keys)
            if not plan:
                return
            tracker.in_flight = 0
            tracker.set_status("running")
            self._aborted = False
            self._in_call = True
            try:
                async for result in engine.rate(self._requests(plan, writer, tracker)):
                    tracker.in_flight = max(0, tracker.in_flight - 1)
                    record = self._record(result)
                    _append(writer, record)
                    tracker.add(record)
            finally:
                self._in_call = False
            if not self._aborted:
                return  # the plan went through (failures are records too)

    def _record_engine(self, engine: Engine) -> None:
        """After the engine started: what it resolved (``engine_info``: its arguments, the
        structured-output regex, the platform) and, where the engine can render them, the
        prompts as the model sees them (``rendered_prompts``: per aspect the chat
        template's text and its token count) go into the manifest. Informational: resume
        does not compare them."""
        assert self.run_dir and self.study
        try:
            info = engine.info()
        except Exception:  # an engine's self-description must not stop the run
            info = {}
        rendered = None
        render = getattr(engine, "rendered_prompts", None)
        if callable(render):
            try:
                rendered = render({a.name: a.prompt for a in self.study.aspects},
                                  self.study.system)
            except Exception:
                rendered = None
        with contextlib.suppress(OSError, UserError, TypeError, ValueError):
            manifest = read_manifest(self.run_dir)
            manifest["engine_info"] = self._redactor.value(info)
            manifest["rendered_prompts"] = rendered
            write_manifest(self.run_dir, manifest)

    def _finish(self, status: str, session_s: float = 0.0) -> None:
        """Write the final status (and the failure's one-line reason); ``wall_s`` adds up
        the wall time of every session (engine start included)."""
        assert self.run_dir
        with contextlib.suppress(OSError, UserError):  # e.g. disk full: ratings are what counts
            manifest = read_manifest(self.run_dir)
            manifest["status"] = status
            if status == "failed" and self._failure:
                manifest["error"] = self._failure
            else:
                manifest.pop("error", None)
            if session_s:
                manifest["wall_s"] = round(float(manifest.get("wall_s") or 0.0) + session_s, 3)
            write_manifest(self.run_dir, manifest)

    async def _requests(self, plan: list[tuple[ImageEntry, list[tuple[str, int]]]],
                        writer: RatingsWriter, tracker: _Tracker
                        ) -> AsyncIterator[RatingRequest]:
        assert self.study and self._resume_event
        prompts = {a.name: a.prompt for a in self.study.aspects}
        root = Path(self.config.dataset)
        root = root / "images" if (root / "images").is_dir() else root
        for entry, pairs in plan:
            if not self._resume_event.is_set() or self._cancel_requested.is_set():
                self._abort_call()
                return
            try:
                image = await asyncio.to_thread(load_image, entry.path, root)
            except ImageProblem as exc:
                for aspect, repeat in pairs:
                    record = self._error_record(entry.image_id, aspect, repeat, f"image: {exc}")
                    _append(writer, record)
                    tracker.add(record)
                continue
            for aspect, repeat in pairs:
                tracker.in_flight += 1
                yield RatingRequest(
                    image_id=entry.image_id, aspect=aspect, repeat=repeat,
                    seed=repeat_seed(self.config.seed, entry.image_id, aspect, repeat),
                    prompt=prompts[aspect], image=image, system=self.study.system,
                )

    def _record(self, result: RatingResult) -> dict:
        assert self.sampling
        req = result.request
        if result.engine_error:
            parsed_rating, reason, parse_error = None, None, None
        else:
            parsed = parse_answer(result.text, self.sampling.scale_min, self.sampling.scale_max)
            parsed_rating, reason, parse_error = parsed.rating, parsed.reason, parsed.error
        clean = self._redactor.text
        # A reversed aspect's answer is mapped back to the study's direction; the answer
        # as given stays in raw_rating.
        assert self.study
        rating, probs = self.study.to_study_scale(req.aspect, parsed_rating, result.rating_probs)
        expected = None
        if probs:
            expected = sum((self.sampling.scale_min + i) * p for i, p in enumerate(probs))
        return {
            "image_id": req.image_id, "aspect": req.aspect, "repeat": req.repeat,
            "seed": req.seed, "rating": rating, "raw_rating": parsed_rating,
            "reason": None if reason is None else clean(reason), "raw": clean(result.text),
            "parse_error": parse_error, "finish_reason": result.finish_reason,
            "prompt_tokens": result.prompt_tokens, "output_tokens": result.output_tokens,
            "latency_s": round(result.latency_s, 4), "expected_rating": expected,
            "rating_probs": probs,
            "engine_error": None if result.engine_error is None else clean(result.engine_error),
            "server": None if result.server is None else clean(result.server),
            "time": now_iso(),
            "digit_mass": result.digit_mass,
        }

    def _error_record(self, image_id: str, aspect: str, repeat: int, error: str) -> dict:
        return {
            "image_id": image_id, "aspect": aspect, "repeat": repeat,
            "seed": repeat_seed(self.config.seed, image_id, aspect, repeat), "rating": None,
            "raw_rating": None, "reason": None, "raw": None, "parse_error": None, "finish_reason": None,
            "prompt_tokens": None, "output_tokens": None, "latency_s": None,
            "expected_rating": None, "rating_probs": None,
            "engine_error": self._redactor.text(error), "server": None, "time": now_iso(),
            "digit_mass": None,
        }


def _append(writer: RatingsWriter, record: dict) -> None:
    try:
        writer.append(record)
    except OSError as exc:
        raise UserError(
            f"cannot write {writer.run_dir / 'ratings.jsonl'} ({exc.strerror or exc}); every "
            f"rating written before is kept: free space and run again to resume"
        ) from None


class _Tracker:
    """Counts what has been written and turns it into Progress snapshots."""

    def __init__(self, run_dir: Path, study: Study, images: list[ImageEntry], repeats: int,
                 done: set[tuple[str, str, int]],
                 unparsed: set[tuple[str, str, int]] = frozenset()) -> None:
        self.run_dir = run_dir
        self.totals = {a.name: len(images) * repeats for a in study.aspects}
        self.total = sum(self.totals.values())
        ids = {i.image_id for i in images}
        self.keys = set(done)  # written keys (the plan after a pause skips them)
        self.per_aspect_done = dict.fromkeys(self.totals, 0)
        for image_id, aspect, repeat in done:
            if image_id in ids and aspect in self.per_aspect_done and repeat <= repeats:
                self.per_aspect_done[aspect] += 1
        self.done = sum(self.per_aspect_done.values())
        # the counters are the run's, on disk: a resume starts from its parse failures
        self.parse_failures = sum(1 for image_id, aspect, repeat in unparsed
                                  if image_id in ids and aspect in self.per_aspect_done
                                  and repeat <= repeats)
        self.engine_errors = 0
        self.in_flight = 0
        self.clock = RunClock()
        self.status = "starting"
        self.message = ""
        self._notice, self._notice_until = "", 0.0
        self.first_engine_error: str | None = None  # of this session, for the end message
        self.emit: Callable[[Progress], None] | None = None
        self._beat_status = ""
        self._beat_at = 0.0
        self.server_stats: Callable[[], list[dict]] | None = None
        self.download: tuple[int, int] | None = None  # the model download, in bytes

    def set_status(self, status: str) -> None:
        """A new phase: timed from now, and reported at once."""
        self.status = status
        self.clock.set_phase(status)
        self.publish()

    def notice(self, text: str, for_s: float) -> None:
        """A passing message (an engine waiting to retry), shown while it holds."""
        self._notice, self._notice_until = text, time.monotonic() + max(for_s, 3.0)
        self.publish()

    def _live_notice(self) -> str:
        if self.status not in ("starting", "running", "paused"):
            return ""  # the run has ended: its outcome is what counts
        return self._notice if time.monotonic() < self._notice_until else ""

    def add(self, record: dict) -> None:
        key = (record["image_id"], record["aspect"], record["repeat"])
        self.keys.add(key)
        self.done += 1
        self.clock.answered(record.get("output_tokens") or 0)
        if record["aspect"] in self.per_aspect_done:
            self.per_aspect_done[record["aspect"]] += 1
        if record.get("engine_error"):
            self.engine_errors += 1
            self.first_engine_error = self.first_engine_error or record["engine_error"]
        elif record.get("parse_error"):
            self.parse_failures += 1
        self.publish(record)

    def snapshot(self, record: dict | None = None) -> Progress:
        """The counts now; ``record``: the one just written (None in status reports, so
        that a listener sees each record once)."""
        now = time.monotonic()
        rate, tokens_rate = self.clock.rates(now)
        eta = self.clock.eta(self.total - self.done, now) if self.status == "running" else None
        return Progress(
            run_dir=self.run_dir, total=self.total, done=self.done,
            per_aspect={a: (self.per_aspect_done[a], t) for a, t in self.totals.items()},
            parse_failures=self.parse_failures, engine_errors=self.engine_errors,
            ratings_per_s=rate, tokens_per_s=tokens_rate,
            elapsed_s=now - self.clock.began, eta_s=eta,
            last_record=record, status=self.status,
            message=self.message or self._live_notice(),
            in_flight=self.in_flight, phase_s=now - self.clock.phase_began,
            running_s=self.clock.running_s(now), at=now,
            servers=self.server_stats() if self.server_stats else [],
            download=self.download,
        )

    def publish(self, record: dict | None = None) -> None:
        snapshot = self.snapshot(record)
        if snapshot.status != self._beat_status or snapshot.at - self._beat_at >= BEAT_EVERY_S:
            self._beat(snapshot)
        if self.emit is not None:
            self.emit(snapshot)

    def _beat(self, snapshot: Progress) -> None:
        """The heartbeat watchers of other processes read (vlmrate.running.watch)."""
        self._beat_status, self._beat_at = snapshot.status, snapshot.at
        wall = time.time()
        with contextlib.suppress(OSError, UserError):  # a heartbeat is optional
            write_heartbeat(self.run_dir, {
                "pid": os.getpid(), "status": snapshot.status, "message": snapshot.message,
                "started": wall - snapshot.elapsed_s, "phase_since": wall - snapshot.phase_s,
                "elapsed_s": snapshot.elapsed_s, "in_flight": snapshot.in_flight,
                "running_s": snapshot.running_s,
                "done": snapshot.done, "total": snapshot.total, "at": wall})
