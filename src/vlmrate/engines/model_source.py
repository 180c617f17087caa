"""Where a model's weights come from, checked before an engine spends minutes loading it.

A model is a local folder, or a Hugging Face id that is either in the local cache or
downloadable. On a server without network access a download would retry for minutes
before failing; this check says so in one line at once.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx


def model_problem(model: str, probe_timeout_s: float = 5.0) -> str | None:
    """None if the model can be loaded; otherwise one line saying why not and what to do."""
    path = Path(model).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            return f"model folder {model} has no config.json (not a Hugging Face checkpoint)"
        return None
    if model.startswith(("/", "./", "../", "~")) or model.count("/") > 1:
        return f"model folder {model} does not exist"
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - vLLM depends on huggingface_hub
        return None
    cached = try_to_load_from_cache(model, "config.json")
    if isinstance(cached, str):
        return None
    hint = (f"download it where there is network (`hf download {model}`, then copy the "
            f"cache or the folder here) and pass the folder, or use --engine openai")
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}:
        return f"model {model} is not in the Hugging Face cache and HF_HUB_OFFLINE is set: {hint}"
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    try:
        httpx.head(endpoint, timeout=probe_timeout_s)
    except httpx.HTTPError:
        return (f"model {model} is not a local folder, not in the Hugging Face cache, and "
                f"{endpoint} cannot be reached: {hint}")
    return None
