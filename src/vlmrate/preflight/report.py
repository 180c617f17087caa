"""The preflight report behind `vlmrate check` and the New-run form's projection.

Assembles, without loading a model: the visible GPUs, vLLM's version, the model's local
copy and shape (vlmrate.engines.model_specs), the dataset's image sizes and the prompts' token
counts, and the memory/time projection of vlmrate.preflight.projection, as one JSON-able dict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmrate.engines.model_specs import BUILTIN_SPECS, folder_size, local_model_dir, resolve_spec
from vlmrate.errors import UserError
from vlmrate.preflight.hardware import visible_gpus, vllm_version
from vlmrate.preflight.projection import (
    ANSWER_TOKENS_FULL,
    ANSWER_TOKENS_RATING_ONLY,
    GPU_TABLE,
    Assumptions,
    StudyShape,
    gpu_spec,
    project,
)
from vlmrate.runfolder.settings import DEFAULT_MODEL

#: The reference study, projected when no DATASET is given: 320 images of 800x600.
REFERENCE_IMAGES = 320
REFERENCE_SIZE = (800, 600)


@dataclass(frozen=True)
class CheckRequest:
    """What to project: the options of `vlmrate check` (and of the New-run form)."""

    dataset: Path | None = None
    model: str = DEFAULT_MODEL
    engine: str = "vllm"
    prompts: str = "reference"
    prompts_dir: Path = Path("prompts")
    repeats: int | None = None
    rating_only: bool = False
    gpu: str | None = None
    #: Ask torch.cuda when NVML is absent (imports torch: ~2 s).
    probe_torch: bool = True


def _image_sizes(dataset: Path) -> tuple[list[tuple[int, int]], list[str]]:
    from vlmrate.inputs.dataset import discover_images
    from vlmrate.inputs.images import ImageProblem, image_size

    sizes, unreadable, first = [], [], ""
    for entry in discover_images(dataset):
        try:  # the header only, with the limits `vlmrate run` applies
            sizes.append(image_size(entry.path))
        except ImageProblem as exc:
            unreadable.append(entry.image_id)
            first = first or str(exc)
    if not sizes:
        raise UserError(f"{dataset}: none of its images could be read (e.g. {first})")
    return sizes, unreadable


def _text_tokens(prompts: list[str], model_dir: Path | None) -> tuple[list[int], str]:
    """Token counts of the prompt texts: the model's tokenizer.json, else ~4 characters each."""
    if model_dir is not None and (model_dir / "tokenizer.json").is_file():
        try:
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
            return [len(tok.encode(p, add_special_tokens=False).ids) for p in prompts], \
                "the model's tokenizer"
        except Exception:
            pass
    return [max(1, math.ceil(len(p) / 4)) for p in prompts], "estimated: 4 characters a token"


def _target_gpu(name: str | None, gpus: list[Any]) -> tuple[Any, str]:
    if name is not None:
        # one card of the table, named as it is (not a name that merely holds one:
        # "A100-40G" is no A100 80 GB, "H100,A100" is two cards)
        key = " ".join(name.upper().replace("-", " ").replace("_", " ").split())
        spec = next((g for g in GPU_TABLE.values() if g.name.upper() == key), None)
        if spec is None:
            notes = ", ".join(g.note for g in GPU_TABLE.values() if g.name != "unknown")
            raise UserError(f"unknown GPU {name!r}; known: {', '.join(GPU_TABLE)} ({notes})")
        return spec, "--gpu"
    if gpus:
        first = gpus[0]
        spec = gpu_spec(first.name, first.memory_bytes) or gpu_spec("unknown", first.memory_bytes)
        return spec, f"visible GPU 0 ({first.name})"
    return GPU_TABLE["H100"], "no GPU visible: projected for an H100 (choose with --gpu)"


def build_report(req: CheckRequest) -> dict[str, Any]:
    """The preflight report of ``req`` as one JSON-able dict (UserError for bad input)."""
    from vlmrate.inputs.study import load_study

    if req.repeats is not None and req.repeats < 1:
        raise UserError("--repeats must be at least 1")
    gpus, probe = visible_gpus(probe_torch=req.probe_torch)
    version, dist = vllm_version()
    spec = resolve_spec(req.model)
    if spec is None:
        raise UserError(f"{req.model}: not on this machine and not in the built-in table "
                        f"({', '.join(BUILTIN_SPECS)}); give a local checkpoint folder")
    model_dir = local_model_dir(req.model)
    study = load_study(req.prompts, req.prompts_dir)
    repeats = req.repeats or (1 if req.rating_only else study.repeats)
    if req.dataset is not None:
        sizes, unreadable = _image_sizes(req.dataset)
        dataset_label = str(req.dataset)
    else:
        sizes, unreadable = [REFERENCE_SIZE] * REFERENCE_IMAGES, []
        dataset_label = f"none: the reference study ({REFERENCE_IMAGES} images at 800x600)"
    # the study's system text goes before every prompt (a system message)
    system = f"{study.system} " if study.system else ""
    text_tokens, text_source = _text_tokens([system + a.prompt for a in study.aspects],
                                            model_dir)
    gpu, gpu_source = _target_gpu(req.gpu, gpus)
    answer_tokens = ANSWER_TOKENS_RATING_ONLY if req.rating_only else ANSWER_TOKENS_FULL
    shape = StudyShape(image_sizes=tuple(sizes), aspect_text_tokens=tuple(text_tokens),
                       repeats=repeats, answer_tokens=answer_tokens)
    assume = Assumptions()
    projection = project(spec, gpu, shape, assume)
    report: dict[str, Any] = {
        "gpus": [{"index": g.index, "name": g.name, "memory_bytes": g.memory_bytes,
                  "free_bytes": g.free_bytes} for g in gpus],
        "gpu_probe": probe,
        "gpu_visible": bool(gpus),
        "target_gpu": {"name": gpu.name, "memory_bytes": gpu.memory_bytes,
                       "bf16_flops": gpu.bf16_flops, "bandwidth_bytes_s": gpu.bandwidth_bytes_s,
                       "source": gpu_source},
        "engine": req.engine,
        "vllm_version": version,
        "vllm_distribution": dist,
        "vllm_imports": None,
        "vllm_import_message": "not tried",
        "model": req.model,
        "model_local_dir": str(model_dir) if model_dir else None,
        "model_bytes_on_disk": folder_size(model_dir) if model_dir else None,
        "model_spec_source": spec.source,
        "dataset": dataset_label,
        "images": len(sizes),
        "unreadable_images": unreadable,
        "aspects": study.aspect_names,
        "repeats": repeats,
        "answers": shape.answers,
        "rating_only": bool(req.rating_only),
        "answer_tokens_assumed": answer_tokens,
        "prompt_text_tokens": dict(zip(study.aspect_names, text_tokens, strict=True)),
        "prompt_text_tokens_source": text_source,
        "assumptions": vars(assume),
        **projection.to_json(),
        "measured": None,
    }
    return report


def format_bytes(value: float | None) -> str:
    if value is None:
        return "-"
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.2f} {unit}"
    return f"{value:.0f} B"


def format_seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 120:
        return f"{value:.0f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


def summary_line(report: dict[str, Any]) -> str:
    """One line for the New-run form: image tokens, KV, fit and projected time."""
    tokens = report["image_tokens"]
    image = (str(tokens["min"]) if tokens["min"] == tokens["max"]
             else f"{tokens['min']}-{tokens['max']}")
    gpu = report["target_gpu"]["name"] + ("" if report["gpu_visible"] else " (no GPU visible)")
    head = (f"{report['images']} images x {image} image tokens, "
            f"KV {report['kv_bytes_per_token'] / 1e6:.2f} MB/token, {report['answers']:,} answers")
    if not report["fits"]:
        return f"{head}; {gpu}: does not fit (weights + one answer's KV)"
    return f"{head}; {gpu}: ~{format_seconds(report['projected_s'])}"
