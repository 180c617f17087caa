"""The in-process engine and `--engine openai` against a real `vllm serve` of the same model
send the same prompt token ids and, with the same seeds, get the same answers (issue 22).

The model is the real-geometry tiny LLaVA-NeXT: LLaMA's real tokenizer and llava-hf's chat
template, so what is compared is what llava-v1.6-vicuna-13b gets: the reference prompts
with LLaVA's system line, ``<s>`` first on both (vLLM's chat endpoint adds none unless asked:
``add_special_tokens``). One server for the module; 2 images x 2 aspects x 2 repeats, one
request at a time on both sides (the CPU build is deterministic for a given batch)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.vllm_serve import start_server, stop, wait_healthy
from tests.preflight.anyres_formula import anyres_image_tokens
from vlmrate.engines.base import RatingRequest, RatingResult, SamplingConfig
from vlmrate.engines.real_tokenizer import IMAGE_TOKEN_ID
from vlmrate.engines.tiny_model import REAL_GEOMETRY_ENGINE_OPTIONS
from vlmrate.inputs.study import load_study

pytest.importorskip("vllm")

pytestmark = [
    pytest.mark.engine,
    pytest.mark.filterwarnings("ignore:max_rollback_tokens is deprecated:DeprecationWarning"),
]

REPO = Path(__file__).resolve().parents[2]
STARTUP_S = 600
ASPECTS = ("relevance", "valence")
SIZES = {"wide": (400, 300), "tall": (300, 400)}
SAMPLING = SamplingConfig(temperature=0.3, max_tokens=40, structured=True, logprobs=True)
KV_BYTES = 256 << 20
#: Both engines explicitly (vLLM's CPU build makes "auto" bfloat16 for this float32
#: checkpoint; in bfloat16 the two processes' logits differ in the 3rd digit).
DTYPE = os.environ.get("VLMRATE_AGREE_DTYPE", "float32")


@pytest.fixture(scope="module")
def requests_() -> list[RatingRequest]:
    from PIL import Image

    study = load_study(str(REPO / "prompts" / "reference"))
    assert study.system and study.system.startswith("A chat between a curious human")
    out = []
    for i, (name, size) in enumerate(SIZES.items()):
        image = Image.new("RGB", size, (30 + 90 * i, 140, 220 - 80 * i))
        for aspect in ASPECTS:
            for repeat in (1, 2):
                out.append(RatingRequest(name, aspect, repeat, 1000 * i + 10 * repeat + len(aspect),
                                         study.aspect(aspect).prompt, image, study.system))
    return out


@pytest.fixture(scope="module")
def server(real_geometry_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[str]:
    log_path = tmp_path_factory.mktemp("server") / "vllm-serve.log"
    # the in-process engine's arguments on a CPU (engines/vllm.py): no chunked prefill, a
    # step budget of 4 x the context, prefix caching, one image per prompt, max_num_seqs =
    # its window (1 here), the same dtype
    proc, base = start_server(real_geometry_model_dir, log_path, [
        "--max-model-len", "4096", "--no-enable-chunked-prefill",
        "--max-num-batched-tokens", str(4 * 4096), "--enable-prefix-caching",
        "--limit-mm-per-prompt", '{"image": 1}', "--kv-cache-memory-bytes", str(KV_BYTES),
        "--dtype", DTYPE, "--max-num-seqs", "1"])
    try:
        wait_healthy(proc, base, log_path, time.monotonic() + STARTUP_S)
        yield base
    finally:
        stop(proc)


def _in_process(model: Path, requests: list[RatingRequest]
                ) -> tuple[list[RatingResult], dict[tuple, list[int]], dict[str, Any]]:
    from vlmrate.engines.vllm import VllmEngine

    ids: dict[tuple, list[int]] = {}

    class Capturing(VllmEngine):
        def _to_result(self, req: RatingRequest, output: Any, latency: float) -> RatingResult:
            ids[req.key] = list(output.prompt_token_ids)
            return super()._to_result(req, output, latency)

    options = {**REAL_GEOMETRY_ENGINE_OPTIONS, "extra": {"kv_cache_memory_bytes": KV_BYTES},
               "dtype": DTYPE}

    async def go() -> tuple[list[RatingResult], dict[str, Any]]:
        engine = Capturing(str(model), SAMPLING, max_in_flight=1, **options)
        await engine.start()
        try:
            results = [r async for r in engine.rate(requests)]
            shown = engine.rendered_prompts({r.aspect: r.prompt for r in requests},
                                            requests[0].system)
        finally:
            await engine.close()
        return results, shown

    results, shown = asyncio.run(go())
    return results, ids, shown


def _served(base: str, model: Path, requests: list[RatingRequest]
            ) -> tuple[list[RatingResult], dict[tuple, list[int]]]:
    from vlmrate.engines.openai import OpenAIEngine, encode_image

    async def go() -> list[RatingResult]:
        engine = OpenAIEngine(base, str(model), SAMPLING, concurrency=1, timeout_s=300)
        await engine.start()
        try:
            return [r async for r in engine.rate(requests)]
        finally:
            await engine.close()

    results = asyncio.run(go())
    # the prompt ids the server used for the very body the engine sends
    engine = OpenAIEngine(base, str(model), SAMPLING)
    ids = {}
    for req in requests:
        import json

        body = json.loads(engine._body(req, encode_image(req.image, engine.image_format)))
        body["return_token_ids"] = True
        answer = httpx.post(f"{base}/chat/completions", json=body, timeout=300).json()
        ids[req.key] = answer["prompt_token_ids"]
    return results, ids


def test_both_engines_send_the_same_tokens_and_get_the_same_answers(
        server: str, real_geometry_model_dir: Path, requests_: list[RatingRequest]) -> None:
    from transformers import AutoTokenizer

    local, local_ids, shown = _in_process(real_geometry_model_dir, requests_)
    remote, remote_ids = _served(server, real_geometry_model_dir, requests_)
    by_key = {r.request.key: r for r in remote}
    assert len(local) == len(remote) == len(requests_) == 8
    tokenizer = AutoTokenizer.from_pretrained(str(real_geometry_model_dir))
    for mine in local:
        key = mine.request.key
        theirs = by_key[key]
        assert mine.engine_error is None and theirs.engine_error is None, (mine, theirs)
        assert local_ids[key] == remote_ids[key], key
        ids = local_ids[key]
        # <s>, LLaVA's system line, then the image placeholder expanded to the anyres count
        assert ids[0] == 1 and tokenizer.decode(ids[1:4]) == "A chat between"
        width, height = SIZES[key[0]]
        assert ids.count(IMAGE_TOKEN_ID) == anyres_image_tokens(width, height)
        text_tokens = shown[key[1]]["tokens"]
        assert mine.prompt_tokens == theirs.prompt_tokens == (
            text_tokens - 1 + anyres_image_tokens(width, height))
        assert mine.text == theirs.text, key
        assert mine.finish_reason == theirs.finish_reason
        assert mine.rating_probs is not None and theirs.rating_probs is not None
        # the same logprobs (LLaMA's "7" and "<0x37>" both count as 7 on both engines)
        assert mine.rating_probs == pytest.approx(theirs.rating_probs, abs=1e-6)
        assert mine.digit_mass == pytest.approx(theirs.digit_mass, abs=1e-6)
    for aspect in ASPECTS:
        assert shown[aspect]["text"].startswith(
            requests_[0].system + " USER: <image>\n")
        assert shown[aspect]["text"].endswith(" ASSISTANT:")
