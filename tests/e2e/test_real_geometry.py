"""The tiny model with llava-v1.6-vicuna-13b's geometry through `vlmrate run` and vLLM's CPU
build: an 800x600 image is 2,340 image tokens in the prompt, other aspect ratios what the
anyres formula (tests/preflight/anyres_formula.py, written from the paper) says, every record of
a reference-prompt run is there, and the expected rating is read at the digit's position
with a Llama-family tokenizer ("Rating:", "▁", "7": the digit is its own token after "▁")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.preflight.anyres_formula import anyres_image_tokens
from vlmrate.engines.base import digit_probs, rating_token_index
from vlmrate.inputs.study import load_study
from vlmrate.runfolder.store import RATINGS, read_manifest

pytest.importorskip("vllm")

pytestmark = [pytest.mark.engine]

REPO = Path(__file__).resolve().parents[2]
ASPECTS = ("relevance", "arousal", "valence")
#: width x height; 800x600 is the reference study's typical image.
SIZES = {"landscape": (800, 600), "portrait": (600, 800), "strip": (1000, 300)}


@pytest.fixture(scope="module")
def geometry_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from PIL import Image

    root = tmp_path_factory.mktemp("geometry-data")
    (root / "images").mkdir()
    for i, (name, size) in enumerate(SIZES.items()):
        Image.new("RGB", size, (40 + 60 * i, 120, 200 - 50 * i)).save(root / "images" / f"{name}.png")
    return root


@pytest.fixture(scope="module")
def geometry_run(real_geometry_model_dir: Path, geometry_dataset: Path,
                 tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs = tmp_path_factory.mktemp("runs")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    proc = subprocess.run(
        [sys.executable, "-m", "vlmrate.cli", "run", str(geometry_dataset),
         "--model", str(real_geometry_model_dir), "--repeats", "2", "--structured",
         "--logprobs", "--max-tokens", "32", "--run", "geometry", "--runs-dir", str(runs),
         "--max-model-len", "4096", "--enforce-eager",
         "--prompts", str(REPO / "prompts" / "reference")],
        env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return runs / "geometry"


def _text_tokens(model_dir: Path, aspect: str) -> int:
    """Tokens of the rendered chat prompt other than the one <image> placeholder."""
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(str(model_dir))
    study = load_study(str(REPO / "prompts" / "reference"))
    prompt = (REPO / "prompts" / "reference" / f"{aspect}.txt").read_text(encoding="utf-8")
    # the reference set's system line (LLaVA's llava_v1) first, as a system message
    messages = [{"role": "system", "content": [{"type": "text", "text": study.system}]},
                {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
    rendered = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert rendered.startswith(study.system + " USER: <image>\n")
    ids = processor.tokenizer(rendered, add_special_tokens=True)["input_ids"]
    image_id = processor.tokenizer.convert_tokens_to_ids("<image>")
    assert ids.count(image_id) == 1
    return len(ids) - 1


def test_800x600_is_2340_image_tokens_and_every_record_is_there(
    geometry_run: Path, real_geometry_model_dir: Path
) -> None:
    manifest = read_manifest(geometry_run)
    assert manifest["status"] == "done" and manifest["total_jobs"] == 3 * 3 * 2
    records = [json.loads(line) for line in (geometry_run / RATINGS).read_text().splitlines()]
    assert {(r["image_id"], r["aspect"], r["repeat"]) for r in records} == {
        (name, a, k) for name in SIZES for a in ASPECTS for k in (1, 2)}
    assert len(records) == 18
    assert anyres_image_tokens(800, 600) == 2340
    text = {a: _text_tokens(real_geometry_model_dir, a) for a in ASPECTS}
    for r in records:
        assert r["engine_error"] is None and r["parse_error"] is None, r
        width, height = SIZES[r["image_id"]]
        assert r["prompt_tokens"] == anyres_image_tokens(width, height) + text[r["aspect"]], r
    landscape = [r for r in records if r["image_id"] == "landscape"]
    assert all(r["prompt_tokens"] - text[r["aspect"]] == 2340 for r in landscape)


def test_expected_rating_is_read_at_the_digit(geometry_run: Path,
                                              real_geometry_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(real_geometry_model_dir))
    ids = tokenizer("Rating: 7. Reason: calm", add_special_tokens=False)["input_ids"]
    pieces = tokenizer.convert_ids_to_tokens(ids)
    # Llama family: the space before the digit is a token of its own, the digit the next one
    seven = pieces.index("7")
    assert pieces[seven - 1] == "\u2581"
    assert rating_token_index(pieces) == seven
    assert digit_probs({"\u2581": 0.0}) is None  # the "▁" position holds no rating

    records = [json.loads(line) for line in (geometry_run / RATINGS).read_text().splitlines()]
    for r in records:
        probs = r["rating_probs"]
        assert probs is not None and len(probs) == 9 and abs(sum(probs) - 1) < 1e-6, r
        assert probs[r["rating"] - 1] > 0  # the sampled digit is in the distribution read
        assert sum(p > 0 for p in probs) >= 2  # a spread over digits, not one forced token
        assert r["expected_rating"] == pytest.approx(sum((i + 1) * p for i, p in enumerate(probs)))
