"""The vLLM engine: the model runs in this process, driven by one background thread.

vLLM 0.32's ``AsyncLLM`` always starts its engine core in a spawned subprocess (measured
~35 s to start on 2 CPU cores, and it needs an ``if __name__ == "__main__"`` guard), so this
engine drives vLLM's ``LLMEngine`` instead, the engine behind ``vllm.LLM``: a dedicated thread
owns it, adds requests, calls ``step()`` and hands finished outputs to the asyncio loop. On
the CPU build the engine core then runs in-process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``,
~3-10 s to start); on a GPU vLLM's default multiprocess engine core is kept.

vllm and torch are imported in :meth:`VllmEngine.start` only, so importing this module is
instant and works without vLLM installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import math
import os
import queue
import threading
import time
import traceback
from collections.abc import AsyncIterator, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vlmrate.engine_output import (
    LogRoute,
    quiet_environment,
    silence_library_warnings,
    stderr_back_to_terminal,
    stderr_to,
)
from vlmrate.engines.base import (
    EngineUnavailable,
    RatingRequest,
    RatingResult,
    SamplingConfig,
    digit_probs_and_mass,
    rating_token_index,
    structured_regex,
)

__all__ = ["INSTALL_HINT", "SEED_MODULUS", "VllmEngine", "engine_seed", "model_load_running"]

INSTALL_HINT = (
    "vLLM is not installed: pip install 'vlmrate[gpu]' (CUDA) or 'vlmrate[cpu]' (CPU build), "
    "or use --engine openai --base-url URL"
)
#: Top logprobs asked for at every generated position when rating_probs are wanted.
TOP_LOGPROBS = 20
#: vLLM keeps seeds as signed 64-bit integers: a larger one kills the whole engine in
#: step() ("Overflow when unpacking long long"), and -1 means "no seed".
SEED_MODULUS = 1 << 63
#: KV cache reserved on the CPU build unless the caller or VLLM_CPU_KVCACHE_SPACE says.
CPU_KV_CACHE_BYTES = 1 << 30

# Child of "vllm": while an engine lives its records go to the same log file, not the terminal.
_log = logging.getLogger("vllm.vlmrate")
# Engine threads inside vLLM's model load right now (it cannot be interrupted there).
_loading: set[threading.Thread] = set()


def model_load_running() -> bool:
    """Whether an engine thread is still loading a model. Such a thread cannot be stopped,
    and a process that ends normally meanwhile may abort in vLLM's C++ code ("terminate
    called without an active exception"): after an interrupt the CLI then leaves at once
    with os._exit (every record is already written: the writer is unbuffered)."""
    return any(thread.is_alive() for thread in _loading)


def _merge_logprob(table: dict[str, float], token: str, logprob: float) -> None:
    """Add a token's probability to ``table`` (two token ids may decode to the same text)."""
    if token in table:
        a, b = table[token], logprob
        hi = max(a, b)
        table[token] = hi if hi == -math.inf else hi + math.log1p(math.exp(min(a, b) - hi))
    else:
        table[token] = logprob


@dataclass(frozen=True, slots=True)
class _AddRequest:
    """Engine thread: add one request to vLLM."""

    request_id: str
    inputs: dict[str, Any]
    params: Any  # vllm.SamplingParams


@dataclass(frozen=True, slots=True)
class _AbortRequests:
    """Engine thread: abort these requests if they are still running."""

    request_ids: list[str]


@dataclass(frozen=True, slots=True)
class _Stop:
    """Engine thread: abort what is running and leave its loop."""


_Command = _AddRequest | _AbortRequests | _Stop


def _configured_max_len(model: str) -> int | None:
    """The context length in a local checkpoint's config (None when not on this machine)."""
    from vlmrate.model_specs import local_model_dir, spec_from_folder

    folder = local_model_dir(model)
    return spec_from_folder(folder, model).max_model_len if folder is not None else None


class _Call:
    """Book-keeping of one ``rate()`` call: its in-flight requests and its result queue."""

    def __init__(self) -> None:
        self.results: asyncio.Queue[RatingResult | None] = asyncio.Queue()
        self.pending: dict[str, tuple[RatingRequest, float]] = {}
        self.window: asyncio.Semaphore | None = None


class VllmEngine:
    """Rates images with a vision-language model served by vLLM inside this process."""

    name = "vllm"
    #: Ask vLLM for its flat logprobs container (fewer Python objects per token).
    flat_logprobs = True

    def __init__(
        self,
        model: str,
        sampling: SamplingConfig,
        *,
        max_in_flight: int = 256,
        tensor_parallel_size: int = 1,
        max_model_len: int | None = None,
        gpu_memory_utilization: float = 0.9,
        dtype: str = "auto",
        enforce_eager: bool = False,
        log_file: Path | None = None,
        extra: dict[str, Any] | None = None,
        quiet_stderr: bool = True,
        batch_invariant: bool = False,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.model = str(model)
        self.sampling = sampling
        self.max_in_flight = max_in_flight
        self.tensor_parallel_size = tensor_parallel_size
        self.max_model_len = max_model_len
        self.gpu_memory_utilization = gpu_memory_utilization
        self.dtype = dtype
        self.enforce_eager = enforce_eager
        self.log_file = Path(log_file) if log_file is not None else None
        self.extra = dict(extra or {})
        self.quiet_stderr = quiet_stderr
        self.batch_invariant = batch_invariant

        self._platform: str | None = None
        self._engine_args: dict[str, Any] = {}
        self._regex = structured_regex(sampling) if sampling.structured else None
        self._processor: Any = None
        self._rendered: dict[str, str] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._commands: queue.Queue[_Command] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._calls: dict[str, _Call] = {}
        self._counter = 0
        self._dead: str | None = None
        self._started = False
        self._closed = False
        # vLLM's and transformers' logging goes to log_file while the engine lives.
        self._log_route = LogRoute(self.log_file)
        # Filled by the worker thread with the vLLM classes it imported.
        self._vllm: dict[str, Any] = {}

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Import vLLM, load the model and start the engine thread."""
        if self._started:
            return
        if self._closed:
            raise RuntimeError("engine is closed")
        from vlmrate.engines.model_source import model_problem

        try:
            if importlib.util.find_spec("vllm") is None:
                raise EngineUnavailable(INSTALL_HINT)
        except (ImportError, ValueError):
            raise EngineUnavailable(INSTALL_HINT) from None
        problem = await asyncio.to_thread(model_problem, self.model)
        if problem:
            raise EngineUnavailable(problem)
        self._loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = self._loop.create_future()
        self._thread = threading.Thread(
            target=self._thread_main, args=(ready,), name="vlmrate-vllm", daemon=True
        )
        self._thread.start()
        try:
            await ready
        except (asyncio.CancelledError, KeyboardInterrupt):
            # ctrl-c while vLLM loads: it cannot be stopped inside the load, and waiting for
            # the load to end took 18-30 s. The thread stops itself once loaded (_Stop is
            # queued); the terminal gets its stderr back for the interrupt message now.
            self._commands.put(_Stop())
            self._thread = None
            stderr_back_to_terminal()
            raise
        except BaseException:
            self._commands.put(_Stop())
            await asyncio.to_thread(self._thread.join, 30)
            self._thread = None
            self._log_route.restore()
            raise
        self._started = True

    async def close(self) -> None:
        """Abort what is in flight, stop the engine thread and free the model."""
        if self._closed:
            return
        self._closed = True
        await self.cancel()
        thread = self._thread
        if thread is not None:
            self._commands.put(_Stop())
            await asyncio.to_thread(thread.join, 60)
            self._thread = None
        self._log_route.restore()

    async def cancel(self) -> None:
        """Abort every in-flight request; running ``rate()`` calls end soon.

        Results that had already finished are still yielded; aborted ones are not.
        """
        ids = [rid for call in self._calls.values() for rid in call.pending]
        for call in list(self._calls.values()):
            call.pending.clear()
            call.results.put_nowait(None)
        self._calls.clear()
        if ids and self._thread is not None:
            self._commands.put(_AbortRequests(ids))

    def info(self) -> dict[str, Any]:
        """Engine name and options, for the manifest."""
        return {
            "engine": self.name,
            "model": self.model,
            "max_in_flight": self.max_in_flight,
            "tensor_parallel_size": self.tensor_parallel_size,
            "max_model_len": self.max_model_len,
            "gpu_memory_utilization": self.gpu_memory_utilization,
            "dtype": self.dtype,
            "enforce_eager": self.enforce_eager,
            "batch_invariant": self.batch_invariant,
            "extra": {k: v for k, v in self.extra.items() if _is_plain(v)},
            "platform": self._platform,
            "engine_args": {k: v for k, v in self._engine_args.items() if _is_plain(v)},
            "sampling": asdict(self.sampling),
            "structured_regex": self._regex,
            "seed_modulus": SEED_MODULUS,
            "vllm_version": self._vllm.get("version"),
        }

    # ------------------------------------------------------------------ rating

    async def rate(
        self, requests: AsyncIterator[RatingRequest] | Iterable[RatingRequest]
    ) -> AsyncIterator[RatingResult]:
        """Submit requests in order, at most ``max_in_flight`` at a time; yield as they finish."""
        if not self._started or self._closed:
            raise RuntimeError("VllmEngine.start() must be awaited before rate()")
        call = _Call()
        call.window = asyncio.Semaphore(self.max_in_flight)
        call_id = f"c{self._counter}"
        self._counter += 1
        self._calls[call_id] = call
        feeder = asyncio.create_task(self._feed(call_id, call, requests))
        try:
            while True:
                if feeder.done():
                    feeder.result()  # re-raise an error of the request source
                    if not call.pending and call.results.empty():
                        return
                    result = await call.results.get()
                else:
                    getter = asyncio.ensure_future(call.results.get())
                    done, _ = await asyncio.wait(
                        {getter, feeder}, return_when=asyncio.FIRST_COMPLETED
                    )
                    if getter not in done:
                        getter.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await getter
                        continue
                    result = getter.result()
                if result is None:  # cancelled
                    return
                call.window.release()
                yield result
        finally:
            if not feeder.done():
                feeder.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await feeder
            self._calls.pop(call_id, None)
            if call.pending and self._thread is not None:
                self._commands.put(_AbortRequests(list(call.pending)))
            call.pending.clear()

    async def _feed(
        self,
        call_id: str,
        call: _Call,
        requests: AsyncIterator[RatingRequest] | Iterable[RatingRequest],
    ) -> None:
        assert call.window is not None
        if hasattr(requests, "__aiter__"):
            async for req in requests:  # type: ignore[union-attr]
                await call.window.acquire()
                if call_id not in self._calls:
                    return
                self._submit(call_id, call, req)
        else:
            for req in requests:  # type: ignore[union-attr]
                await call.window.acquire()
                if call_id not in self._calls:
                    return
                self._submit(call_id, call, req)

    def _submit(self, call_id: str, call: _Call, req: RatingRequest) -> None:
        rid = f"{call_id}-{self._counter}-{req.image_id}-{req.aspect}-{req.repeat}"
        self._counter += 1
        now = time.perf_counter()
        call.pending[rid] = (req, now)
        if self._dead is not None:
            self._deliver(rid, None, f"engine stopped: {self._dead}")
            return
        try:
            prompt = self._render(req.prompt)
            params = self._sampling_params(req)
        except Exception as exc:  # a bad prompt or seed fails this request only
            self._deliver(rid, None, _describe(exc))
            return
        inputs = {"prompt": prompt, "multi_modal_data": {"image": req.image}}
        self._commands.put(_AddRequest(rid, inputs, params))

    def _render(self, prompt: str) -> str:
        rendered = self._rendered.get(prompt)
        if rendered is None:
            messages = [
                {
                    "role": "user",
                    "content": [{"type": "image"}, {"type": "text", "text": prompt}],
                }
            ]
            rendered = self._processor.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=False
            )
            self._rendered[prompt] = rendered
        return rendered

    def _sampling_params(self, req: RatingRequest) -> Any:
        cfg = self.sampling
        sp_cls = self._vllm["SamplingParams"]
        so_cls = self._vllm["StructuredOutputsParams"]
        kind = self._vllm["RequestOutputKind"]
        return sp_cls(
            n=1,
            seed=engine_seed(req.seed),
            temperature=cfg.temperature,
            top_p=cfg.top_p,
            max_tokens=cfg.max_tokens,
            logprobs=TOP_LOGPROBS if cfg.logprobs else None,
            flat_logprobs=self.flat_logprobs,
            structured_outputs=so_cls(regex=self._regex) if self._regex else None,
            output_kind=kind.FINAL_ONLY,
        )

    # ------------------------------------------------------------------ results

    def _deliver(self, rid: str, output: Any, error: str | None) -> None:
        """Turn a finished vLLM output (or an error) into a RatingResult. Event-loop thread."""
        call_id = rid.split("-", 1)[0]
        call = self._calls.get(call_id)
        if call is None:
            return
        entry = call.pending.pop(rid, None)
        if entry is None:
            return
        req, t0 = entry
        latency = time.perf_counter() - t0
        if output is None:
            result = RatingResult.failed(req, error or "unknown engine error", latency)
        else:
            result = self._to_result(req, output, latency)
        call.results.put_nowait(result)

    def _to_result(self, req: RatingRequest, output: Any, latency: float) -> RatingResult:
        completion = output.outputs[0] if output.outputs else None
        prompt_ids = output.prompt_token_ids
        if completion is None:
            return RatingResult(
                request=req,
                text="",
                finish_reason=None,
                prompt_tokens=len(prompt_ids) if prompt_ids is not None else None,
                output_tokens=0,
                latency_s=latency,
                engine_error="vLLM returned no completion",
            )
        probs = mass = None
        if self.sampling.logprobs:
            try:
                probs, mass = self._rating_probs(completion)
            except Exception:
                _log.warning("could not read rating logprobs", exc_info=True)
        return RatingResult(
            request=req,
            text=completion.text,
            finish_reason=completion.finish_reason,
            prompt_tokens=len(prompt_ids) if prompt_ids is not None else None,
            output_tokens=len(completion.token_ids),
            latency_s=latency,
            rating_probs=probs,
            engine_error=None,
            rating_mass=mass,
        )

    def _rating_probs(self, completion: Any) -> tuple[list[float] | None, float | None]:
        """(digit probabilities at the rating position, their mass before renormalising)."""
        logprobs = completion.logprobs
        if not logprobs:
            return None, None
        lo, hi = self.sampling.scale_min, self.sampling.scale_max
        token_ids = list(completion.token_ids)
        pieces: list[str] = []
        for pos, token_id in enumerate(token_ids[: len(logprobs)]):
            entry = logprobs[pos] or {}
            chosen = entry.get(token_id)
            text = chosen.decoded_token if chosen is not None else None
            if text is None:
                text = self._decode_token(token_id)
            pieces.append(text or "")
        index = rating_token_index(pieces, lo, hi)
        if index is None:
            return None, None
        table: dict[str, float] = {}
        for token_id, lp in (logprobs[index] or {}).items():
            text = (
                lp.decoded_token if lp.decoded_token is not None else self._decode_token(token_id)
            )
            if text is not None and lp.logprob is not None:
                _merge_logprob(table, text, float(lp.logprob))
        return digit_probs_and_mass(table, lo, hi)

    def _decode_token(self, token_id: int) -> str | None:
        tokenizer = getattr(self._processor, "tokenizer", None)
        if tokenizer is None:
            return None
        try:
            return str(tokenizer.decode([token_id]))
        except Exception:
            return None

    # ------------------------------------------------------------------ engine thread

    def _post(self, fn: Any, *args: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # loop closed meanwhile
            loop.call_soon_threadsafe(fn, *args)

    def _thread_main(self, ready: asyncio.Future[None]) -> None:
        _loading.add(threading.current_thread())
        try:
            quiet = stderr_to(self.log_file) if self.quiet_stderr else contextlib.nullcontext()
            with quiet:
                engine = self._create_engine()
        except BaseException as exc:
            _loading.discard(threading.current_thread())
            err: Exception
            if isinstance(exc, EngineUnavailable):
                err = exc
            else:
                # Full traceback to the log file; one line for the user.
                _log.error("vLLM failed to start:\n%s", traceback.format_exc())
                where = f"; details in {self.log_file}" if self.log_file is not None else ""
                err = EngineUnavailable(
                    f"vLLM could not start {self.model!r}: {_describe(exc)}{where}"
                )
                err.__cause__ = exc
            self._post(_set_exception, ready, err)
            return
        _loading.discard(threading.current_thread())
        self._post(_set_result, ready, None)
        try:
            self._run(engine)
        finally:
            self._shutdown_engine(engine)

    def _run(self, engine: Any) -> None:
        live: set[str] = set()
        while True:
            block = not live
            try:
                cmd = self._commands.get(block=block)
            except queue.Empty:
                cmd = None
            while cmd is not None:
                match cmd:
                    case _Stop():
                        if live:
                            with contextlib.suppress(Exception):
                                engine.abort_request(list(live))
                        return
                    case _AddRequest(rid, inputs, params):
                        try:
                            engine.add_request(rid, inputs, params)
                            live.add(rid)
                        except Exception as exc:
                            self._post(self._deliver, rid, None, _describe(exc))
                    case _AbortRequests(request_ids):
                        ids = [rid for rid in request_ids if rid in live]
                        if ids:
                            with contextlib.suppress(Exception):
                                engine.abort_request(ids)
                            live.difference_update(ids)
                try:
                    cmd = self._commands.get_nowait()
                except queue.Empty:
                    cmd = None
            if not live:
                continue
            try:
                outputs = engine.step()
            except Exception as exc:
                self._dead = _describe(exc)
                _log.error("vLLM engine step failed:\n%s", traceback.format_exc())
                for rid in live:
                    self._post(self._deliver, rid, None, f"engine failed: {self._dead}")
                live.clear()
                self._drain_after_death()
                return
            for out in outputs:
                if not getattr(out, "finished", False):
                    continue
                rid = out.request_id
                if rid not in live:
                    continue
                live.discard(rid)
                completion = out.outputs[0] if out.outputs else None
                if completion is not None and completion.finish_reason == "abort":
                    continue
                self._post(self._deliver, rid, out, None)

    def _drain_after_death(self) -> None:
        """After a fatal engine error, fail every later request until stopped."""
        while True:
            cmd = self._commands.get()
            if isinstance(cmd, _Stop):
                return
            if isinstance(cmd, _AddRequest):
                self._post(self._deliver, cmd.request_id, None, f"engine stopped: {self._dead}")

    def _shutdown_engine(self, engine: Any) -> None:
        core = getattr(engine, "engine_core", None)
        with contextlib.suppress(Exception):
            if core is not None:
                core.shutdown()
        with contextlib.suppress(Exception):
            del engine
            import gc

            gc.collect()

    def _create_engine(self) -> Any:
        """Import vLLM and build the engine. Runs in the engine thread."""
        on_cpu = _prepare_environment(self.batch_invariant)
        self._log_route.attach("vllm", logging.INFO)
        silence_library_warnings()
        try:
            import vllm
            from vllm.engine.arg_utils import EngineArgs
            from vllm.sampling_params import (
                RequestOutputKind,
                SamplingParams,
                StructuredOutputsParams,
            )
            from vllm.v1.engine.llm_engine import LLMEngine
        except ImportError as exc:
            raise EngineUnavailable(INSTALL_HINT) from exc

        from vllm.platforms import current_platform

        platform = str(getattr(current_platform, "device_type", "") or "")
        if current_platform.is_cpu():
            platform = "cpu"
        elif not (current_platform.is_cuda_alike() or platform):
            raise EngineUnavailable(
                "vLLM found no usable GPU (and this is not its CPU build): install "
                "'vlmrate[cpu]' for CPU-only machines, or use --engine openai --base-url URL"
            )
        on_cpu = on_cpu or platform == "cpu"
        self._platform = platform or "unknown"
        self._vllm = {
            "SamplingParams": SamplingParams,
            "StructuredOutputsParams": StructuredOutputsParams,
            "RequestOutputKind": RequestOutputKind,
            "version": getattr(vllm, "__version__", None),
        }

        kwargs: dict[str, Any] = {
            "model": self.model,
            "tensor_parallel_size": self.tensor_parallel_size,
            "max_model_len": self.max_model_len,
            "gpu_memory_utilization": self.gpu_memory_utilization,
            "dtype": self.dtype,
            "enforce_eager": self.enforce_eager,
            "enable_prefix_caching": True,
            "disable_log_stats": True,
            "limit_mm_per_prompt": {"image": 1},
            "use_tqdm_on_load": False,
        }
        if on_cpu:
            # Seeded requests crash the CPU engine with chunked prefill on; without it vLLM
            # raises max_num_batched_tokens to at least max_model_len by itself.
            kwargs["enable_chunked_prefill"] = False
            # The step token budget also sizes vLLM's encoder budget and encoder cache; at
            # max_model_len it holds one LLaVA-NeXT image (up to 2,928 tokens), so a second
            # new image in the same step is cut before its image: a partial prefill, whose
            # discarded sample rewinds the seeded CPU generator and kills the engine
            # ("CPU Generator does not use offset"; bench/README.md, bench_geometry.py).
            context = self.max_model_len or _configured_max_len(self.model)
            if context:
                kwargs["max_num_batched_tokens"] = 4 * context
            if not os.environ.get("VLLM_CPU_KVCACHE_SPACE"):
                kwargs["kv_cache_memory_bytes"] = CPU_KV_CACHE_BYTES
        kwargs.update(self.extra)
        self._engine_args = kwargs

        from transformers import AutoProcessor
        from transformers.utils import logging as hf_logging

        # transformers logs to stderr by itself (e.g. from the image processor running inside
        # the engine); get_logger installs that handler, so take the logger over after it.
        hf_logging.get_logger("transformers")
        self._log_route.attach("transformers")

        try:
            processor = AutoProcessor.from_pretrained(self.model)
        except Exception as exc:
            raise EngineUnavailable(
                f"cannot load the processor of {self.model!r}: {_describe(exc)}"
            ) from exc
        if not getattr(processor, "chat_template", None):
            raise EngineUnavailable(
                f"the processor of {self.model!r} has no chat template; vlmrate renders "
                "prompts with the model's own chat template"
            )
        self._processor = processor

        engine_args = EngineArgs(**kwargs)
        return LLMEngine.from_engine_args(engine_args)


def _prepare_environment(batch_invariant: bool = False) -> bool:
    """Set vLLM's environment before it is imported; True when no CUDA GPU is visible."""
    quiet_environment()
    os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
    os.environ.setdefault("VLLM_DO_NOT_TRACK", "1")
    try:
        import torch
    except ImportError as exc:
        raise EngineUnavailable(INSTALL_HINT) from exc
    on_cpu = not torch.cuda.is_available()
    if batch_invariant and on_cpu and not _other_accelerator(torch):
        # Measured with vLLM 0.32's CPU build: its batch-invariant overrides are Triton
        # kernels, Triton has no CPU driver, and every request fails.
        raise EngineUnavailable(
            "--batch-invariant needs a GPU: vLLM's batch-invariant kernels do not run on "
            "its CPU build")
    if batch_invariant:  # vLLM's batch-invariant kernels (read when the engine is built)
        os.environ["VLLM_BATCH_INVARIANT"] = "1"
    if on_cpu:
        # In-process engine core: ~3 s to start instead of ~17-35 s on 2 cores.
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    return on_cpu


def _other_accelerator(torch: Any) -> bool:
    """An Intel XPU (vLLM's batch-invariant kernels support it as well as CUDA/ROCm)."""
    xpu = getattr(torch, "xpu", None)
    return bool(xpu is not None and xpu.is_available())


def engine_seed(seed: int) -> int:
    """The seed handed to vLLM: ``seed`` reduced into 0..2**63-1 (unchanged when inside)."""
    return int(seed) % SEED_MODULUS


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    name = type(exc).__name__
    return f"{name}: {first}"[:500] if first else name


def _is_plain(value: Any) -> bool:
    if value is None or isinstance(value, str | int | float | bool):
        return True
    if isinstance(value, list | tuple):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False


def _set_result(fut: asyncio.Future[None], value: None) -> None:
    if not fut.done():
        fut.set_result(value)


def _set_exception(fut: asyncio.Future[None], exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)
