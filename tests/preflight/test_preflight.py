"""vlmrate.preflight.projection and model_specs: token and memory arithmetic against hand computations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.preflight.anyres_formula import anyres_image_tokens
from vlmrate.engines.model_specs import builtin_spec, resolve_spec, spec_from_folder
from vlmrate.preflight.projection import (
    GPU_TABLE,
    StudyShape,
    best_grid,
    gpu_spec,
    image_tiles,
    image_tokens,
    project,
)

VICUNA_13B = "llava-hf/llava-v1.6-vicuna-13b-hf"


def test_800x600_is_2340_image_tokens_on_llava_16_13b() -> None:
    spec = builtin_spec(VICUNA_13B)
    assert spec is not None
    # by hand: grid 672x672 (2x2 tiles); 48x48 features, the 4:3 image covers 36 rows;
    # 36*48 + 36 newlines + 576 base features
    assert best_grid(800, 600, spec.grid_pinpoints) == (672, 672)
    assert image_tokens(spec, 800, 600) == 36 * 48 + 36 + 576 == 2340
    assert image_tiles(spec, 800, 600) == 5
    assert spec.vision_positions == 577  # 24 x 24 patches + CLS


@pytest.mark.parametrize("size", [(600, 800), (336, 336), (1000, 300), (300, 1000), (1920, 1080),
                                  (640, 480), (500, 333), (2000, 2000), (50, 700), (1024, 768)])
def test_other_sizes_follow_the_anyres_formula(size: tuple[int, int]) -> None:
    spec = builtin_spec(VICUNA_13B)
    assert spec is not None
    assert image_tokens(spec, *size) == anyres_image_tokens(*size)


def test_square_image_by_hand() -> None:
    spec = builtin_spec(VICUNA_13B)
    assert spec is not None
    # 336x336: 336x672 and 672x336 both keep every pixel with the same waste; the first
    # wins: 24x48 features, the square image covers 24 columns -> 24x24 + 24 + 576
    assert image_tokens(spec, 336, 336) == 24 * 24 + 24 + 576 == 1176


def test_kv_bytes_per_token_and_weights_of_llava_16() -> None:
    assert builtin_spec(VICUNA_13B).kv_bytes_per_token == 2 * 40 * 5120 * 2 == 819_200  # 0.82 MB
    assert builtin_spec("llava-v1.6-vicuna-7b-hf").kv_bytes_per_token == 2 * 32 * 4096 * 2
    # Yi-34B: 60 layers, 8 KV heads of 128
    assert builtin_spec("llava-hf/llava-v1.6-34b-hf").kv_bytes_per_token == 2 * 60 * 8 * 128 * 2
    assert builtin_spec("llava-hf/llava-1.5-7b-hf") is not None
    assert image_tokens(builtin_spec("llava-hf/llava-1.5-7b-hf"), 800, 600) == 576
    spec = builtin_spec(VICUNA_13B)
    assert 26e9 < spec.weight_bytes < 27.5e9  # 13.35 B parameters x 2 bytes


def test_projection_by_hand_for_the_reference_study_on_h100() -> None:
    spec = builtin_spec(VICUNA_13B)
    h100 = GPU_TABLE["H100"]
    study = StudyShape(image_sizes=((800, 600),) * 320, aspect_text_tokens=(60, 60, 60),
                       repeats=10, answer_tokens=80)
    p = project(spec, h100, study)
    assert p.image_tokens == (2340,) * 320
    kv = 819_200
    assert p.kv_bytes_per_token == kv
    prefix = 2340 + 10
    assert p.kv_bytes_per_context == round((prefix + 60 + 80) * kv)
    budget = int(80e9 * 0.9) - spec.weight_bytes
    assert p.kv_budget_bytes == budget
    assert p.contexts_fit_unshared == budget // p.kv_bytes_per_context  # ~22 sequences
    assert 15 < p.contexts_fit_unshared < 25
    group = (prefix + 180 + 30 * (80 + 8)) * kv
    assert p.images_in_flight == pytest.approx(budget / group)
    assert p.answers_in_flight == min(256, int(budget / group * 30))
    assert p.prefill_tokens == 320 * (prefix + 180 + 30 * 8)
    flops = p.prefill_tokens * 2 * 13e9 + 320 * 5 * 577 * 2 * spec.vision_params_b * 1e9
    assert p.prefill_flops == pytest.approx(flops)
    assert p.prefill_s == pytest.approx(flops / (989e12 * 0.5))
    assert p.decode_tokens == 9600 * 80
    assert p.decode_steps == -(-768_000 // p.answers_in_flight)
    assert p.fits and p.projected_s == pytest.approx((p.prefill_s + p.decode_s) * 1.15)
    assert 60 < p.projected_s < 15 * 60  # bench/README.md: 2.5-14 minutes
    json.dumps(p.to_json())


def test_does_not_fit_a_small_card() -> None:
    spec = builtin_spec("llava-hf/llava-v1.6-34b-hf")
    study = StudyShape(image_sizes=((800, 600),), aspect_text_tokens=(60,), repeats=1)
    p = project(spec, GPU_TABLE["RTX 4090"], study)
    assert not p.fits and p.projected_s is None and p.kv_budget_bytes < 0


def test_rating_only_is_faster() -> None:
    spec = builtin_spec(VICUNA_13B)
    shape = {"image_sizes": ((800, 600),) * 20, "aspect_text_tokens": (60, 60, 60), "repeats": 10}
    full = project(spec, GPU_TABLE["H100"], StudyShape(**shape))
    short = project(spec, GPU_TABLE["H100"], StudyShape(**shape, answer_tokens=5))
    assert short.decode_tokens * 16 == full.decode_tokens
    assert short.projected_s < full.projected_s


def test_gpu_names() -> None:
    assert gpu_spec("NVIDIA H100 80GB HBM3").name == "H100"
    assert gpu_spec("NVIDIA GeForce RTX 4090").name == "RTX 4090"
    assert gpu_spec("h200").name == "H200"
    assert gpu_spec("Tesla T4") is None
    assert gpu_spec("unknown", 16 * 10**9).memory_bytes == 16 * 10**9



@pytest.mark.parametrize(("name", "card"), [
    ("Tesla V100-SXM2-32GB", "V100"), ("NVIDIA A10G", "A10"), ("NVIDIA A10", "A10"),
    ("NVIDIA A40", "A40"), ("NVIDIA L4", "L4"), ("NVIDIA L40S", "L40S"),
    ("NVIDIA RTX A6000", "A6000"), ("NVIDIA GeForce RTX 3090", "RTX 3090"),
    ("NVIDIA A100-SXM4-40GB", "A100-40G"), ("NVIDIA A100-PCIE-40GB", "A100-40G"),
    ("a100-40g", "A100-40G"), ("NVIDIA A100-SXM4-80GB", "A100"), ("A100-80G", "A100"),
    ("NVIDIA H100 PCIe", "H100 PCIe"), ("h100 pcie", "H100 PCIe"),
    ("NVIDIA H100 80GB HBM3", "H100"), ("NVIDIA GH200 480GB", "GH200"),
    ("NVIDIA H200", "H200"), ("NVIDIA B200", "B200"), ("AMD Instinct MI250X", "MI250X"),
    ("AMD Instinct MI250", "MI250"), ("AMD Instinct MI300X", "MI300X"),
    ("mi300x", "MI300X"),
])
def test_common_cards(name: str, card: str) -> None:
    assert gpu_spec(name).name == card


def test_a_visible_a100_with_40_gb_is_the_40_gb_card() -> None:
    spec = gpu_spec("NVIDIA A100-SXM4", 40 * 10**9)
    assert spec.name == "A100-40G" and spec.bandwidth_bytes_s == 1.555e12


def test_spec_from_a_local_config(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({
        "model_type": "llava_next",
        "image_grid_pinpoints": [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]],
        "text_config": {"hidden_size": 5120, "num_hidden_layers": 40, "num_attention_heads": 40,
                        "num_key_value_heads": 40, "max_position_embeddings": 4096},
        "vision_config": {"image_size": 336, "patch_size": 14},
        "vision_feature_select_strategy": "default",
    }))
    spec = spec_from_folder(tmp_path, "local")
    assert spec.kv_bytes_per_token == 819_200
    assert image_tokens(spec, 800, 600) == 2340
    assert resolve_spec(str(tmp_path)).kv_bytes_per_token == 819_200
