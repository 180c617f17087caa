"""Where a model's weights come from, checked before an engine spends minutes loading it.

A model is a local folder, or a Hugging Face id that is either in the local cache or
downloadable. On a server without network access a download would retry for minutes
before failing; this check says so in one line at once.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

#: The demo's tiny random-weight LLaVA-NeXT, in the vlmrate cache (``vlmrate demo``).
TINY_MODEL_DIR = "tiny-llava-next"


def vlmrate_cache_dir() -> Path:
    """$VLMRATE_CACHE/vlmrate, $XDG_CACHE_HOME/vlmrate or ~/.cache/vlmrate."""
    root = os.environ.get("VLMRATE_CACHE") or os.environ.get("XDG_CACHE_HOME")
    return Path(root) / "vlmrate" if root else Path.home() / ".cache" / "vlmrate"


def _is_vision_model(config: Path) -> bool:
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "vision_config" in data


def local_models(limit: int = 20) -> list[tuple[str, str]]:
    """Vision-language models that load without a download, (model, where) each: the
    demo's tiny model in the vlmrate cache, then those in the Hugging Face cache (a
    snapshot with a config.json that has a vision_config). Reads only folder names and
    small config files."""
    from vlmrate.engines.model_specs import hf_cache_dir

    found: list[tuple[str, str]] = []
    tiny = vlmrate_cache_dir() / TINY_MODEL_DIR
    if (tiny / "config.json").is_file():
        found.append((str(tiny), "the demo's tiny random model"))
    try:
        entries = sorted(hf_cache_dir().glob("models--*"))
    except OSError:
        entries = []
    for entry in entries:
        if len(found) >= limit:
            break
        configs = sorted(entry.glob("snapshots/*/config.json"))
        if configs and _is_vision_model(configs[-1]):
            found.append((entry.name.removeprefix("models--").replace("--", "/"),
                          "Hugging Face cache"))
    return found


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
    import httpx  # here: the New run form lists local models without it

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    try:
        httpx.head(endpoint, timeout=probe_timeout_s)
    except httpx.HTTPError:
        return (f"model {model} is not a local folder, not in the Hugging Face cache, and "
                f"{endpoint} cannot be reached: {hint}")
    return None
