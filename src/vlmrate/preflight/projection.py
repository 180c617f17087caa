"""The arithmetic of ``vlmrate check``: image tokens, KV memory and a projected study time.

Nothing here loads a model or touches a GPU; the inputs are a :class:`ModelSpec`, a
:class:`GpuSpec`, the images' sizes and the prompts' token counts.

**Image tokens (LLaVA-NeXT anyres).** The image is fitted into the grid pinpoint that keeps
the most of its pixels (ties: the least padding), cut into ``tile`` x ``tile`` tiles, plus one
downscaled base tile. Each tile gives ``(tile / patch)^2`` features ("default" strategy: the
CLS feature dropped). The grid's features (``rows*side`` x ``cols*side``) lose the rows or
columns that are padding of the fitted image, one newline token follows every remaining row,
and the base tile's features come last. 800x600 on a 336/14 model: grid 672x672 (2x2), 48x48
features unpadded to 36x48 = 1,728 + 36 newlines + 576 = 2,340.

**Projected time** (the derivation of bench/README.md, on one GPU, image-major order with
prefix caching):

- prefill: per image the shared prefix (template + image tokens) once, each aspect's text
  once, and each answer's last partial KV block (``block/2`` tokens on average); FLOPs =
  2 x text parameters per token, plus the vision tower (tiles x positions x 2 x its
  parameters); time = FLOPs / (peak x MFU).
- decode: ``answers x answer_tokens`` tokens in steps of ``in_flight`` sequences; a step
  reads the weights once and the KV of the images in flight (shared prefixes read once per
  image, the lower bound of bench/README.md) at ``bandwidth x bw_efficiency``, or takes
  ``in_flight x 2 x params`` FLOPs at peak x MFU, whichever is longer.
- overheads (image loading, scheduling, detokenising, structured outputs): + ``overhead``.
- in flight: as many answers as the KV budget (``memory x utilisation - weights``) holds
  when an image's answers share its prefix, at most ``max_in_flight`` (vlmrate's 256).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from vlmrate.engines.batching import engine_batch_sizes
from vlmrate.engines.model_specs import ModelSpec

#: Tokens of the chat template around one prompt (BOS, "USER:", "\n", "ASSISTANT:").
TEMPLATE_TOKENS = 10
#: Generated tokens of one answer: "Rating: N. Reason: ..." (~80, bench/README.md) or
#: "Rating: N" alone in rating-only mode.
ANSWER_TOKENS_FULL = 80
ANSWER_TOKENS_RATING_ONLY = 5
#: vLLM's KV block on a GPU (a request recomputes at most its last partial block).
GPU_BLOCK_SIZE = 16


@dataclass(frozen=True)
class GpuSpec:
    """Peak figures of one GPU: dense bf16 tensor FLOP/s and memory bandwidth."""

    name: str
    memory_bytes: int
    bf16_flops: float
    bandwidth_bytes_s: float
    note: str = ""


#: Datasheet figures (dense tensor bf16, fp16 where the card has no bf16; no sparsity),
#: most specific first. ``pattern`` finds the card in a driver's name ("NVIDIA A100-SXM4-
#: 40GB") or in --gpu ("A100-40G", "h100 pcie"). "unknown" is a cautious guess.
GPU_TABLE: dict[str, GpuSpec] = {
    g.name: g
    for g in (
        GpuSpec("V100", 32 * 10**9, 125e12, 0.9e12, "Tesla V100 32 GB (fp16; 16 GB too)"),
        GpuSpec("A10", 24 * 10**9, 125e12, 0.6e12, "A10 / A10G 24 GB"),
        GpuSpec("A40", 48 * 10**9, 149.7e12, 0.696e12, "A40 48 GB"),
        GpuSpec("L4", 24 * 10**9, 121e12, 0.3e12, "L4 24 GB"),
        GpuSpec("L40S", 48 * 10**9, 362e12, 0.864e12, "L40S 48 GB"),
        GpuSpec("A6000", 48 * 10**9, 154.8e12, 0.768e12, "RTX A6000 48 GB"),
        GpuSpec("RTX 3090", 24 * 10**9, 71e12, 0.936e12, "GeForce RTX 3090 24 GB"),
        GpuSpec("RTX 4090", 24 * 10**9, 165e12, 1.008e12, "GeForce RTX 4090 24 GB"),
        GpuSpec("A100-40G", 40 * 10**9, 312e12, 1.555e12, "A100 40 GB"),
        GpuSpec("A100", 80 * 10**9, 312e12, 2.039e12, "A100 SXM 80 GB"),
        GpuSpec("H100 PCIe", 80 * 10**9, 756e12, 2.0e12, "H100 PCIe 80 GB"),
        GpuSpec("H100", 80 * 10**9, 989e12, 3.35e12, "H100 SXM 80 GB"),
        GpuSpec("GH200", 96 * 10**9, 989e12, 4.0e12, "GH200 96 GB (144 GB HBM3e too)"),
        GpuSpec("H200", 141 * 10**9, 989e12, 4.8e12, "H200 SXM 141 GB"),
        GpuSpec("B200", 180 * 10**9, 2250e12, 8.0e12, "B200 180 GB"),
        GpuSpec("MI250X", 128 * 10**9, 383e12, 3.2e12, "Instinct MI250X 128 GB"),
        GpuSpec("MI250", 128 * 10**9, 362e12, 3.2e12, "Instinct MI250 128 GB"),
        GpuSpec("MI300X", 192 * 10**9, 1307e12, 5.3e12, "Instinct MI300X 192 GB"),
        GpuSpec("unknown", 24 * 10**9, 100e12, 1.0e12, "unlisted card: a guess"),
    )
}
#: How each card is found in a name (upper case, "-" and "_" as spaces).
_GPU_PATTERNS: dict[str, str] = {
    "V100": r"\bV100", "A10": r"\bA10G?\b", "A40": r"\bA40\b", "L4": r"\bL4\b",
    "L40S": r"\bL40S\b", "A6000": r"\bA6000\b", "RTX 3090": r"\b3090\b",
    "RTX 4090": r"\b4090\b", "A100-40G": r"\bA100\b.*\b40 ?G", "A100": r"\bA100\b",
    "H100 PCIe": r"\bH100\b.*\bPCIE\b", "H100": r"\bH100\b", "GH200": r"\bGH200\b",
    "H200": r"\bH200\b", "B200": r"\bB200\b", "MI250X": r"\bMI250X\b",
    "MI250": r"\bMI250\b", "MI300X": r"\bMI300X?\b",
}


def gpu_spec(name: str, memory_bytes: int | None = None) -> GpuSpec | None:
    """The table entry that ``name`` names ("NVIDIA H100 80GB HBM3" -> H100, "NVIDIA
    A100-SXM4-40GB" -> A100-40G, "h100 pcie" -> H100 PCIe), the first in table order.

    None for a name that matches nothing; "unknown" (with ``memory_bytes`` if given)
    only when asked for by that name. A visible card's own memory replaces the table's.
    """
    import re

    key = name.upper().replace("-", " ").replace("_", " ")
    for entry in GPU_TABLE.values():
        pattern = _GPU_PATTERNS.get(entry.name)
        if pattern and re.search(pattern, key):
            if entry.name == "A100" and memory_bytes and memory_bytes < 60 * 10**9:
                entry = GPU_TABLE["A100-40G"]  # its bandwidth too, not only its memory
            return entry if memory_bytes is None else _with_memory(entry, memory_bytes)
    if key.strip() == "UNKNOWN":
        entry = GPU_TABLE["unknown"]
        return entry if memory_bytes is None else _with_memory(entry, memory_bytes)
    return None


def _with_memory(entry: GpuSpec, memory_bytes: int) -> GpuSpec:
    return GpuSpec(entry.name, memory_bytes, entry.bf16_flops, entry.bandwidth_bytes_s,
                   entry.note)


# --------------------------------------------------------------------------- image tokens


def best_grid(width: int, height: int, pinpoints: Sequence[Sequence[int]]) -> tuple[int, int]:
    """The (height, width) pinpoint that keeps the most pixels of the image, least padding."""
    best: tuple[int, int] | None = None
    best_kept, best_waste = -1, math.inf
    for pin_h, pin_w in pinpoints:
        scale = min(pin_w / width, pin_h / height)
        kept = min(int(width * scale) * int(height * scale), width * height)
        waste = pin_w * pin_h - kept
        if kept > best_kept or (kept == best_kept and waste < best_waste):
            best, best_kept, best_waste = (pin_h, pin_w), kept, waste
    if best is None:
        raise ValueError("no grid pinpoints")
    return best


def image_tokens(spec: ModelSpec, width: int, height: int) -> int:
    """Image tokens the model's processor puts in the prompt for a width x height image."""
    if width <= 0 or height <= 0:
        raise ValueError(f"bad image size {width}x{height}")
    side = spec.tile_size // spec.patch_size
    per_tile = side * side + (1 if spec.vision_feature_select_strategy == "full" else 0)
    if spec.image_mode != "anyres" or not spec.grid_pinpoints:
        return per_tile
    grid_h, grid_w = best_grid(width, height, spec.grid_pinpoints)
    rows, cols = side * (grid_h // spec.tile_size), side * (grid_w // spec.tile_size)
    if width / height > cols / rows:  # wider than the grid: padding rows top and bottom
        kept = int(round(height * (cols / width), 7))
        rows -= 2 * ((rows - kept) // 2)
    else:
        kept = int(round(width * (rows / height), 7))
        cols -= 2 * ((cols - kept) // 2)
    newlines = rows if spec.image_newline else 0
    return rows * cols + newlines + per_tile


def image_tiles(spec: ModelSpec, width: int, height: int) -> int:
    """Tiles the vision tower encodes for one image (grid tiles + the base tile)."""
    if spec.image_mode != "anyres" or not spec.grid_pinpoints:
        return 1
    grid_h, grid_w = best_grid(width, height, spec.grid_pinpoints)
    return (grid_h // spec.tile_size) * (grid_w // spec.tile_size) + 1


# --------------------------------------------------------------------------- the study


@dataclass(frozen=True)
class StudyShape:
    """What the projection needs of a study."""

    image_sizes: tuple[tuple[int, int], ...]
    #: Token count of each aspect's prompt text (one prompt per aspect).
    aspect_text_tokens: tuple[int, ...]
    repeats: int
    answer_tokens: int = ANSWER_TOKENS_FULL

    @property
    def answers_per_image(self) -> int:
        return len(self.aspect_text_tokens) * self.repeats

    @property
    def answers(self) -> int:
        return len(self.image_sizes) * self.answers_per_image


@dataclass(frozen=True)
class Assumptions:
    mfu: float = 0.5
    bandwidth_efficiency: float = 0.7
    gpu_memory_utilization: float = 0.9
    max_in_flight: int = 256
    overhead: float = 0.15
    block_size: int = GPU_BLOCK_SIZE


@dataclass(frozen=True)
class Projection:
    image_tokens: tuple[int, ...]
    kv_bytes_per_token: int
    weight_bytes: int
    kv_budget_bytes: int
    #: KV of one answer's whole context (template + image + prompt + answer).
    kv_bytes_per_context: int
    #: Answers' contexts that fit at once if nothing were shared.
    contexts_fit_unshared: int
    #: Images whose answers fit at once when each image's answers share its prefix.
    images_in_flight: float
    answers_in_flight: int
    prefill_tokens: int
    prefill_tokens_no_reuse: int
    prefill_flops: float
    prefill_s: float
    decode_tokens: int
    decode_steps: int
    decode_s: float
    projected_s: float | None
    fits: bool
    #: The engine's batch sizes (engines/batching.py: what VllmEngine gives vLLM) and the
    #: engine steps the prefill needs at that token budget.
    max_num_seqs: int = 0
    max_num_batched_tokens: int = 0
    prefill_steps: int = 0

    def to_json(self) -> dict[str, object]:
        tokens = self.image_tokens
        return {
            "image_tokens": {
                "min": min(tokens) if tokens else None,
                "max": max(tokens) if tokens else None,
                "mean": sum(tokens) / len(tokens) if tokens else None,
                "total": sum(tokens),
            },
            **{k: getattr(self, k) for k in (
                "kv_bytes_per_token", "weight_bytes", "kv_budget_bytes", "kv_bytes_per_context",
                "contexts_fit_unshared", "images_in_flight", "answers_in_flight",
                "prefill_tokens", "prefill_tokens_no_reuse", "prefill_flops", "prefill_s",
                "decode_tokens", "decode_steps", "decode_s", "projected_s", "fits",
                "max_num_seqs", "max_num_batched_tokens", "prefill_steps")},
        }


def project(spec: ModelSpec, gpu: GpuSpec, study: StudyShape,
            assume: Assumptions = Assumptions()) -> Projection:
    """Memory and time of the whole study on one GPU (see the module docstring)."""
    tokens = tuple(image_tokens(spec, w, h) for w, h in study.image_sizes)
    tiles = [image_tiles(spec, w, h) for w, h in study.image_sizes]
    n_aspects = max(1, len(study.aspect_text_tokens))
    text_mean = sum(study.aspect_text_tokens) / n_aspects if study.aspect_text_tokens else 0.0
    kv = spec.kv_bytes_per_token
    prefixes = [t + TEMPLATE_TOKENS for t in tokens]
    mean_prefix = sum(prefixes) / len(prefixes) if prefixes else 0.0

    per_answer_context = mean_prefix + text_mean + study.answer_tokens
    kv_context = round(per_answer_context * kv)
    budget = int(gpu.memory_bytes * assume.gpu_memory_utilization) - spec.weight_bytes
    fits = budget > kv_context > 0 or (kv_context == 0 and budget > 0)
    contexts_unshared = max(0, budget // kv_context) if kv_context else 0
    per_image_group = (mean_prefix + sum(study.aspect_text_tokens)
                       + study.answers_per_image * (study.answer_tokens
                                                    + assume.block_size / 2)) * kv
    images_fit = max(0.0, budget / per_image_group) if per_image_group else 0.0
    batch = engine_batch_sizes(assume.max_in_flight, spec.max_model_len)
    in_flight = int(min(batch["max_num_seqs"], images_fit * study.answers_per_image,
                        study.answers))
    in_flight = max(in_flight, 1 if fits else 0)

    answers_per_image = study.answers_per_image
    per_image_prefill = [p + sum(study.aspect_text_tokens)
                         + answers_per_image * assume.block_size // 2 for p in prefixes]
    prefill_tokens = int(sum(per_image_prefill))
    no_reuse = int(sum(answers_per_image * (p + text_mean) for p in prefixes))
    vision_flops = sum(t * spec.vision_positions * 2 * spec.vision_params_b * 1e9 for t in tiles)
    prefill_flops = prefill_tokens * 2 * spec.text_params_b * 1e9 + vision_flops
    peak = gpu.bf16_flops * assume.mfu
    prefill_s = prefill_flops / peak

    decode_tokens = study.answers * study.answer_tokens
    steps = math.ceil(decode_tokens / in_flight) if in_flight else 0
    bandwidth = gpu.bandwidth_bytes_s * assume.bandwidth_efficiency
    images_per_step = in_flight / answers_per_image if answers_per_image else 0.0
    kv_read = (images_per_step * mean_prefix
               + in_flight * (text_mean + study.answer_tokens / 2)) * kv
    step_s = max((spec.weight_bytes + kv_read) / bandwidth,
                 in_flight * 2 * spec.text_params_b * 1e9 / peak)
    decode_s = steps * step_s
    projected = (prefill_s + decode_s) * (1 + assume.overhead) if fits else None
    return Projection(
        image_tokens=tokens, kv_bytes_per_token=kv, weight_bytes=spec.weight_bytes,
        kv_budget_bytes=budget, kv_bytes_per_context=kv_context,
        contexts_fit_unshared=int(contexts_unshared), images_in_flight=images_fit,
        answers_in_flight=in_flight, prefill_tokens=prefill_tokens,
        prefill_tokens_no_reuse=no_reuse, prefill_flops=prefill_flops, prefill_s=prefill_s,
        decode_tokens=decode_tokens, decode_steps=steps, decode_s=decode_s,
        projected_s=projected, fits=fits,
        max_num_seqs=batch["max_num_seqs"],
        max_num_batched_tokens=batch.get("max_num_batched_tokens", 0),
        prefill_steps=(math.ceil(prefill_tokens / batch["max_num_batched_tokens"])
                       if batch.get("max_num_batched_tokens") else 0),
    )
