"""What vlmrate needs to know about a vision-language model without loading it.

A :class:`ModelSpec` holds the numbers of the preflight arithmetic (``vlmrate check``): the
text model's shape (layers, KV heads, head size: the KV cache per token), its parameter
counts (weight memory, FLOPs per token) and the image processor's geometry (tile size,
patch size, anyres grid pinpoints: image tokens per image). It comes from the model's own
``config.json`` + ``preprocessor_config.json`` when they are in the local Hugging Face
cache, else from :data:`BUILTIN_SPECS`, written by hand from the public configs.

Nothing here imports torch, transformers or vLLM.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: LLaVA-NeXT's anyres grid, as [height, width] pairs in pixels. Source:
#: https://huggingface.co/llava-hf/llava-v1.6-vicuna-13b-hf/blob/main/config.json
#: ("image_grid_pinpoints"; the same list in preprocessor_config.json and in every
#: llava-hf/llava-v1.6-* checkpoint; it is also transformers' LlavaNextConfig default).
LLAVA_NEXT_PINPOINTS: tuple[tuple[int, int], ...] = (
    (336, 672), (672, 336), (672, 672), (1008, 336), (336, 1008),
)


@dataclass(frozen=True)
class ModelSpec:
    """Shape of a VLM as far as memory, tokens and time are concerned."""

    name: str
    #: Text (language) model parameters, billions: FLOPs per token = 2 x this.
    text_params_b: float
    #: Vision tower + projector parameters, billions.
    vision_params_b: float
    num_layers: int
    hidden_size: int
    num_attention_heads: int
    num_kv_heads: int
    #: Bytes per weight / KV element (2 for bf16/fp16).
    dtype_bytes: int = 2
    #: "anyres" (LLaVA-NeXT), "fixed" (one tile, LLaVA-1.5).
    image_mode: str = "anyres"
    tile_size: int = 336
    patch_size: int = 14
    grid_pinpoints: tuple[tuple[int, int], ...] = LLAVA_NEXT_PINPOINTS
    #: "default" drops the CLS feature (576 of 577), "full" keeps it.
    vision_feature_select_strategy: str = "default"
    #: One learned newline embedding after every row of the unpadded grid features.
    image_newline: bool = True
    max_model_len: int = 4096
    source: str = "built-in table"

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def kv_bytes_per_token(self) -> int:
        """K and V of every layer: 2 x layers x kv_heads x head_dim x dtype bytes."""
        return 2 * self.num_layers * self.num_kv_heads * self.head_dim * self.dtype_bytes

    @property
    def weight_bytes(self) -> int:
        return round((self.text_params_b + self.vision_params_b) * 1e9 * self.dtype_bytes)

    @property
    def vision_positions(self) -> int:
        """Tokens the vision tower runs over per tile: (tile/patch)^2 + the CLS token."""
        return (self.tile_size // self.patch_size) ** 2 + 1

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["grid_pinpoints"] = [list(p) for p in self.grid_pinpoints]
        data["kv_bytes_per_token"] = self.kv_bytes_per_token
        data["weight_bytes"] = self.weight_bytes
        return data


# Text-model shapes from each checkpoint's config.json "text_config" (hidden_size,
# num_hidden_layers, num_attention_heads, num_key_value_heads); the vision tower of all
# LLaVA-1.5/1.6 models is CLIP ViT-L/14 at 336 px ("vision_config": image_size 336,
# patch_size 14, hidden 1024, 24 layers: ~0.30 B parameters + a ~0.02-0.06 B projector).
# Parameter counts: the model cards' sizes (Llama-2 7B = 6.7 B, 13B = 13.0 B, Mistral-7B =
# 7.2 B, Yi-34B = 34.4 B).
_CLIP_L336 = 0.32
BUILTIN_SPECS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        # https://huggingface.co/llava-hf/llava-v1.6-vicuna-13b-hf/blob/main/config.json:
        # text_config hidden_size 5120, num_hidden_layers 40, num_attention_heads 40
        # (no GQA: num_key_value_heads = 40); vision_feature_layer -2,
        # vision_feature_select_strategy "default", use_image_newline_parameter true.
        ModelSpec("llava-hf/llava-v1.6-vicuna-13b-hf", 13.0, _CLIP_L336 + 0.03,
                  num_layers=40, hidden_size=5120, num_attention_heads=40, num_kv_heads=40),
        # .../llava-v1.6-vicuna-7b-hf/config.json: Llama-2-7B (4096 wide, 32 layers, 32 heads).
        ModelSpec("llava-hf/llava-v1.6-vicuna-7b-hf", 6.7, _CLIP_L336 + 0.02,
                  num_layers=32, hidden_size=4096, num_attention_heads=32, num_kv_heads=32),
        # .../llava-v1.6-mistral-7b-hf/config.json: Mistral-7B (4096 wide, 32 layers,
        # 32 heads, 8 KV heads), max_position_embeddings 32768.
        ModelSpec("llava-hf/llava-v1.6-mistral-7b-hf", 7.2, _CLIP_L336 + 0.02,
                  num_layers=32, hidden_size=4096, num_attention_heads=32, num_kv_heads=8,
                  max_model_len=32768),
        # .../llava-v1.6-34b-hf/config.json: Yi-34B (7168 wide, 60 layers, 56 heads,
        # 8 KV heads).
        ModelSpec("llava-hf/llava-v1.6-34b-hf", 34.4, _CLIP_L336 + 0.06,
                  num_layers=60, hidden_size=7168, num_attention_heads=56, num_kv_heads=8),
        # .../llava-1.5-7b-hf and -13b-hf: one 336-px tile, 576 image tokens, no anyres.
        ModelSpec("llava-hf/llava-1.5-7b-hf", 6.7, _CLIP_L336 + 0.02,
                  num_layers=32, hidden_size=4096, num_attention_heads=32, num_kv_heads=32,
                  image_mode="fixed", grid_pinpoints=(), image_newline=False),
        ModelSpec("llava-hf/llava-1.5-13b-hf", 13.0, _CLIP_L336 + 0.03,
                  num_layers=40, hidden_size=5120, num_attention_heads=40, num_kv_heads=40,
                  image_mode="fixed", grid_pinpoints=(), image_newline=False),
    )
}

_ALIASES = {name.split("/")[-1].lower(): name for name in BUILTIN_SPECS}


def builtin_spec(model: str) -> ModelSpec | None:
    """The built-in spec of a model id (``owner/name`` or just ``name``), if any."""
    if model in BUILTIN_SPECS:
        return BUILTIN_SPECS[model]
    key = model.rstrip("/").split("/")[-1].lower()
    return BUILTIN_SPECS.get(_ALIASES.get(key, ""))


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache folder (HF_HUB_CACHE, HF_HOME/hub or ~/.cache/...)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "huggingface")
    return Path(home) / "hub"


def local_model_dir(model: str) -> Path | None:
    """A folder with the model's config.json: the path itself, or its latest cached snapshot."""
    path = Path(model).expanduser()
    if (path / "config.json").is_file():
        return path
    if "/" not in model or path.is_absolute():
        return None
    snapshots = hf_cache_dir() / f"models--{model.replace('/', '--')}" / "snapshots"
    if not snapshots.is_dir():
        return None
    candidates = [p for p in snapshots.iterdir() if (p / "config.json").is_file()]
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None


def folder_size(path: Path) -> int:
    """Bytes on disk under ``path`` (the HF cache's snapshot links count their blobs)."""
    root = path
    if path.parent.name == "snapshots":  # count the repo's blobs once, not per snapshot
        root = path.parent.parent / "blobs"
        if not root.is_dir():
            root = path
    total = 0
    for item in root.rglob("*"):
        try:
            if item.is_file():
                total += item.stat().st_size
        except OSError:
            continue
    return total


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def spec_from_folder(folder: Path, name: str, fallback: ModelSpec | None = None) -> ModelSpec:
    """A spec from a checkpoint folder's config.json / preprocessor_config.json.

    Values the files do not state come from ``fallback`` (the built-in entry) or the
    LLaVA-NeXT defaults; parameter counts come from the safetensors index when present.
    """
    config = _read_json(folder / "config.json")
    pre = _read_json(folder / "preprocessor_config.json")
    proc = _read_json(folder / "processor_config.json")
    text = config.get("text_config") or config
    vision = config.get("vision_config") or {}
    base = fallback or ModelSpec(name, 0.0, 0.0, num_layers=1, hidden_size=1,
                                 num_attention_heads=1, num_kv_heads=1)
    hidden = int(text.get("hidden_size", base.hidden_size))
    heads = int(text.get("num_attention_heads", base.num_attention_heads))
    crop = pre.get("crop_size") or {}
    tile = int(crop.get("height", vision.get("image_size", base.tile_size))
               if isinstance(crop, dict) else vision.get("image_size", base.tile_size))
    pinpoints = config.get("image_grid_pinpoints") or pre.get("image_grid_pinpoints")
    model_type = str(config.get("model_type", ""))
    mode = "anyres" if pinpoints else ("fixed" if model_type == "llava" else base.image_mode)
    text_b, vision_b = _param_counts(folder)
    if text_b == 0.0:
        text_b, vision_b = base.text_params_b, base.vision_params_b
    return dataclasses.replace(
        base,
        name=name,
        text_params_b=text_b,
        vision_params_b=vision_b,
        num_layers=int(text.get("num_hidden_layers", base.num_layers)),
        hidden_size=hidden,
        num_attention_heads=heads,
        num_kv_heads=int(text.get("num_key_value_heads") or heads),
        dtype_bytes=base.dtype_bytes,
        image_mode=mode,
        tile_size=tile,
        patch_size=int(vision.get("patch_size", proc.get("patch_size", base.patch_size))),
        grid_pinpoints=tuple(tuple(int(v) for v in p) for p in (pinpoints or ())),
        vision_feature_select_strategy=str(config.get(
            "vision_feature_select_strategy", base.vision_feature_select_strategy)),
        image_newline=mode == "anyres",
        max_model_len=int(text.get("max_position_embeddings", base.max_model_len)),
        source=f"config in {folder}",
    )


def _param_counts(folder: Path) -> tuple[float, float]:
    """(text, vision+projector) parameters in billions from the safetensors headers."""
    import struct

    text = vision = 0
    for file in sorted(folder.glob("*.safetensors")):
        try:
            with file.open("rb") as fh:
                (length,) = struct.unpack("<Q", fh.read(8))
                header = json.loads(fh.read(length))
        except (OSError, ValueError, struct.error):
            return 0.0, 0.0
        for key, meta in header.items():
            if key == "__metadata__" or not isinstance(meta, dict):
                continue
            count = 1
            for dim in meta.get("shape", []):
                count *= int(dim)
            if "vision" in key or "projector" in key:
                vision += count
            else:
                text += count
    return text / 1e9, vision / 1e9


def resolve_spec(model: str) -> ModelSpec | None:
    """The model's spec from its local config when cached, else the built-in table."""
    builtin = builtin_spec(model)
    folder = local_model_dir(model)
    if folder is not None:
        return spec_from_folder(folder, model, builtin)
    return builtin
