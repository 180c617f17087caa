"""The vLLM engine: the model runs in this process, driven by one background thread.

vLLM 0.32's ``AsyncLLM`` always starts its engine core in a spawned subprocess (measured
~35 s to start on 2 CPU cores, and it needs an ``if __name__ == "__main__"`` guard), so this
engine drives vLLM's ``LLMEngine`` instead, the engine behind ``vllm.LLM``: a dedicated thread
owns it, adds requests, calls ``step()`` and hands finished outputs to the asyncio loop. On
the CPU build the engine core then runs in-process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``,
~3-10 s to start); on a GPU vLLM's multiprocess engine core is kept, spawned (not forked:
see :func:`engine_process_env`), and the GPU is found without initialising CUDA here
(:func:`cuda_gpu_visible`).

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

from vlmrate.engines.base import (
    EngineUnavailable,
    RatingRequest,
    RatingResult,
    SamplingConfig,
    chat_messages,
    digit_mass,
    digit_probs,
    rating_token_index,
    structured_regex,
)
from vlmrate.engines.batching import engine_batch_sizes
from vlmrate.engines.output import (
    LogRoute,
    quiet_environment,
    silence_library_warnings,
    stderr_back_to_terminal,
    stderr_to,
)

__all__ = [
    "INSTALL_HINT",
    "SEED_MODULUS",
    "VllmEngine",
    "cuda_gpu_visible",
    "engine_process_env",
    "engine_seed",
    "model_load_running",
    "resolved_dtype",
]

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
    """The model's context length: its local config, else the built-in table (None when
    neither knows it)."""
    from vlmrate.engines.model_specs import resolve_spec

    spec = resolve_spec(model)  # the local config, else vlmrate's built-in table
    return spec.max_model_len if spec is not None else None


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
        self._resolved: dict[str, Any] = {}  # what vLLM made of them (after start)
        self._regex = structured_regex(sampling) if sampling.structured else None
        self._processor: Any = None
        self._rendered: dict[tuple[str, str | None], str] = {}
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
        #: Called (on the event loop) with a phase line and the bytes done and in all while
        #: the weights download ("downloading model 12.3 / 26.7 GB", done, total), then
        #: with None when they are there.
        self.on_phase: Any = None

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
        # the weights first, with visible progress (inside vLLM the download is silent)
        from vlmrate.engines.download import download_message, fetch_model

        def progress(done: int, total: int) -> None:
            if self.on_phase is not None:
                self._post(self.on_phase, download_message(done, total), done, total)

        if await asyncio.to_thread(fetch_model, self.model, progress) and self.on_phase:
            self.on_phase(None)
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
            "engine_resolved": dict(self._resolved),
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
            prompt = self._render(req.prompt, req.system)
            params = self._sampling_params(req)
        except Exception as exc:  # a bad prompt or seed fails this request only
            self._deliver(rid, None, _describe(exc))
            return
        inputs = {"prompt": prompt, "multi_modal_data": {"image": req.image}}
        self._commands.put(_AddRequest(rid, inputs, params))

    def _render(self, prompt: str, system: str | None = None) -> str:
        rendered = self._rendered.get((prompt, system))
        if rendered is None:
            rendered = self._processor.apply_chat_template(
                chat_messages(prompt, system), add_generation_prompt=True, tokenize=False
            )
            self._rendered[(prompt, system)] = rendered
        return rendered

    def rendered_prompts(self, prompts: dict[str, str],
                         system: str | None) -> dict[str, dict[str, Any]]:
        """Per aspect: the prompt as the model sees it (the chat template's text, one
        ``<image>`` placeholder) and its token count as vLLM counts it before the image is
        expanded (``<s>`` included: vLLM tokenizes a text prompt with special tokens)."""
        tokenizer = getattr(self._processor, "tokenizer", None)
        shown: dict[str, dict[str, Any]] = {}
        for aspect, prompt in prompts.items():
            text = self._render(prompt, system)
            tokens = None
            if tokenizer is not None:
                tokens = len(tokenizer(text, add_special_tokens=True)["input_ids"])
            shown[aspect] = {"text": text, "tokens": tokens}
        return shown

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
                table = self._rating_table(completion)
                if table is not None:
                    lo, hi = self.sampling.scale_min, self.sampling.scale_max
                    probs, mass = digit_probs(table, lo, hi), digit_mass(table, lo, hi)
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
            digit_mass=mass,
        )

    def _rating_probs(self, completion: Any) -> list[float] | None:
        table = self._rating_table(completion)
        if table is None:
            return None
        return digit_probs(table, self.sampling.scale_min, self.sampling.scale_max)

    def _rating_table(self, completion: Any) -> dict[str, float] | None:
        """Token text -> logprob at the rating digit's position (None: no such position)."""
        logprobs = completion.logprobs
        if not logprobs:
            return None
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
            return None
        table: dict[str, float] = {}
        for token_id, lp in (logprobs[index] or {}).items():
            text = (
                lp.decoded_token if lp.decoded_token is not None else self._decode_token(token_id)
            )
            if text is not None and lp.logprob is not None:
                _merge_logprob(table, text, float(lp.logprob))
        return table

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

    def _engine_kwargs(self, on_cpu: bool) -> dict[str, Any]:
        """vLLM's ``EngineArgs`` for this engine (recorded in the manifest as resolved).

        Batch sizes from :func:`engine_batch_sizes` on every platform; ``dtype`` "auto"
        means bfloat16 on a GPU (the dtype LLaVA-1.6 was trained in, and the README's
        ``vllm serve --dtype bfloat16``: both engines alike) and the checkpoint's on the CPU
        build (whose bfloat16 support depends on the CPU). Pure: no vLLM import.
        """
        kwargs: dict[str, Any] = {
            "model": self.model,
            "tensor_parallel_size": self.tensor_parallel_size,
            "max_model_len": self.max_model_len,
            "gpu_memory_utilization": self.gpu_memory_utilization,
            "dtype": resolved_dtype(self.dtype, on_cpu),
            "enforce_eager": self.enforce_eager,
            "enable_prefix_caching": True,
            "disable_log_stats": True,
            "limit_mm_per_prompt": {"image": 1},
            "use_tqdm_on_load": False,
        }
        if self.sampling.logprobs:  # which probabilities rating_probs are read from
            kwargs["logprobs_mode"] = self.sampling.logprobs_mode
        # The Runner's window and several image prefills a step (engines/batching.py):
        # vLLM's engine context would give 128 sequences and 2,048 tokens a step.
        context = self.max_model_len or _configured_max_len(self.model)
        kwargs.update(engine_batch_sizes(self.max_in_flight, context))
        if on_cpu:
            # Seeded requests crash the CPU engine with chunked prefill on; without it vLLM
            # raises max_num_batched_tokens to at least max_model_len by itself.
            kwargs["enable_chunked_prefill"] = False
            # The step token budget also sizes vLLM's encoder budget and encoder cache; at
            # max_model_len it holds one LLaVA-NeXT image (up to 2,928 tokens), so a second
            # new image in the same step is cut before its image: a partial prefill, whose
            # discarded sample rewinds the seeded CPU generator and kills the engine
            # ("CPU Generator does not use offset"; bench/README.md, bench_geometry.py).
            # engine_batch_sizes gives 4 x the context.
            if not os.environ.get("VLLM_CPU_KVCACHE_SPACE"):
                kwargs["kv_cache_memory_bytes"] = CPU_KV_CACHE_BYTES
        kwargs.update(self.extra)
        return kwargs

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

        kwargs = self._engine_kwargs(on_cpu)
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
        engine = LLMEngine.from_engine_args(engine_args)
        with contextlib.suppress(Exception):
            self._resolved = {
                "dtype": str(engine.model_config.dtype).removeprefix("torch."),
                "max_num_seqs": engine.vllm_config.scheduler_config.max_num_seqs,
                "max_num_batched_tokens":
                    engine.vllm_config.scheduler_config.max_num_batched_tokens,
                "max_model_len": engine.model_config.max_model_len,
            }
        return engine


def _prepare_environment(batch_invariant: bool = False) -> bool:
    """Set vLLM's environment before it is imported; True when no CUDA GPU is visible.

    The GPU is looked for through NVML (:func:`cuda_gpu_visible`), never by initialising
    CUDA here: a CUDA call in this process before vLLM starts its engine core would make a
    forked core fail on its first CUDA call. With a GPU the engine core is spawned
    (:func:`engine_process_env`).
    """
    quiet_environment()
    os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
    os.environ.setdefault("VLLM_DO_NOT_TRACK", "1")
    try:
        import torch
    except ImportError as exc:
        raise EngineUnavailable(INSTALL_HINT) from exc
    on_cpu = not cuda_gpu_visible(torch)
    if batch_invariant and on_cpu and not _other_accelerator(torch):
        # Measured with vLLM 0.32's CPU build: its batch-invariant overrides are Triton
        # kernels, Triton has no CPU driver, and every request fails.
        raise EngineUnavailable(
            "--batch-invariant needs a GPU: vLLM's batch-invariant kernels do not run on "
            "its CPU build")
    if batch_invariant:  # vLLM's batch-invariant kernels (read when the engine is built)
        os.environ["VLLM_BATCH_INVARIANT"] = "1"
    for key, value in engine_process_env(gpu=not on_cpu, env=os.environ).items():
        os.environ[key] = value
    return on_cpu


#: The in-process engine's dtype where a GPU is and --dtype says "auto" (the default).
GPU_DTYPE = "bfloat16"


def resolved_dtype(dtype: str | None, on_cpu: bool) -> str:
    """The dtype handed to vLLM: an explicit one as given; "auto" is bfloat16 on a GPU (what
    the README's ``vllm serve`` line uses) and the checkpoint's on the CPU build."""
    if dtype and dtype != "auto":
        return dtype
    return "auto" if on_cpu else GPU_DTYPE


def cuda_gpu_visible(torch: Any) -> bool:
    """Whether a CUDA GPU is visible, asked without initialising CUDA in this process.

    ``torch.cuda.is_available()`` calls ``cudaGetDeviceCount`` unless
    ``PYTORCH_NVML_BASED_CUDA_CHECK=1`` (vLLM sets it only when it is imported, after us),
    and a process that has called into CUDA cannot hand it to a forked child. With the
    variable set torch counts devices through NVML, which forks safely
    (bench/gpu_fork_check.py shows both orders on a CUDA machine).
    """
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    try:
        return bool(torch.cuda.is_available())
    except Exception:  # a broken driver: no usable GPU
        return False


def engine_process_env(*, gpu: bool, env: Any) -> dict[str, str]:
    """The environment variables to set for vLLM's engine core process (those the user
    has set are kept).

    - No GPU (vLLM's CPU build): the engine core runs in this process
      (``VLLM_ENABLE_V1_MULTIPROCESSING=0``; ~3 s to start instead of ~17-35 s on 2 cores).
    - A GPU: vLLM's multiprocess engine core, started with ``spawn``
      (``VLLM_WORKER_MULTIPROC_METHOD``). vLLM forks by default and switches to spawn only
      when ``torch.cuda.is_initialized()``; this process runs threads (the TUI, asyncio, the
      engine thread) and fork copies their locks mid-use, and a fork after any CUDA call
      fails in the child.
    """
    wanted = ({"VLLM_WORKER_MULTIPROC_METHOD": "spawn"} if gpu
              else {"VLLM_ENABLE_V1_MULTIPROCESSING": "0"})
    return {key: value for key, value in wanted.items() if not env.get(key)}


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
