"""The model's weights fetched before the engine starts, with visible progress.

Inside vLLM the first run of ``llava-hf/llava-v1.6-vicuna-13b-hf`` downloads 26.7 GB with its
progress bars off and its stderr in the run's log: minutes of a silent "loading". So the
in-process engine fetches the files vLLM will load first (:func:`fetch_model`): the hub's
file list (``snapshot_download(dry_run=True)``) gives the total, the bytes in the model's
cache folder (finished blobs and ``.incomplete`` parts) the progress, reported about once a
second as ``downloading model 12.3 / 26.7 GB``. A local folder or a complete cache does
nothing; a hub that cannot be reached is one line (EngineUnavailable).
huggingface_hub is imported inside the functions only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from vlmrate.engines.base import EngineUnavailable

__all__ = ["WEIGHT_PATTERNS", "download_message", "fetch_model"]

#: What vLLM loads of a Hugging Face checkpoint: configs, tokenizer, chat template, weights.
WEIGHT_PATTERNS = ["*.json", "*.safetensors", "*.model", "*.jinja", "*.txt", "*.tiktoken"]
POLL_S = 1.0


def download_message(done: int, total: int) -> str:
    """The phase line: ``downloading model 12.3 / 26.7 GB``."""
    return f"downloading model {done / 1e9:.1f} / {total / 1e9:.1f} GB"


def _folder_bytes(folder: Path) -> int:
    total = 0
    if folder.is_dir():
        for path in folder.rglob("*"):
            try:
                if path.is_file() and not path.is_symlink():
                    total += path.stat().st_size
            except OSError:
                continue
    return total


def fetch_model(model: str, on_progress: Callable[[int, int], None],
                *, poll_s: float = POLL_S) -> bool:
    """Download what vLLM will load of ``model`` into the Hugging Face cache, calling
    ``on_progress(done_bytes, total_bytes)`` about every ``poll_s``. True when something
    was downloaded; False for a local folder or a complete cache."""
    if Path(model).expanduser().exists():
        return False
    try:
        from huggingface_hub import constants, snapshot_download
    except ImportError:  # pragma: no cover - vLLM depends on huggingface_hub
        return False
    from huggingface_hub.utils import disable_progress_bars

    disable_progress_bars()  # our line is the progress; theirs would garble the screen
    if constants.HF_HUB_OFFLINE:
        return False  # the cache is all there is; vLLM says what is missing
    try:
        plan = snapshot_download(model, allow_patterns=WEIGHT_PATTERNS, dry_run=True)
    except Exception as exc:
        from huggingface_hub import try_to_load_from_cache

        if isinstance(try_to_load_from_cache(model, "config.json"), str):
            return False  # cached, the hub out of reach: load what is there
        raise EngineUnavailable(f"cannot download {model}: {_one_line(exc)}") from None
    files = [f for f in plan if not isinstance(f, str)]
    if not any(f.will_download for f in files):
        return False
    total = sum(f.file_size or 0 for f in files)
    blobs = Path(constants.HF_HUB_CACHE) / f"models--{model.replace('/', '--')}" / "blobs"
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(poll_s):
            on_progress(min(_folder_bytes(blobs), total), total)

    on_progress(min(_folder_bytes(blobs), total), total)
    watcher = threading.Thread(target=watch, name="vlmrate-download", daemon=True)
    watcher.start()
    try:
        snapshot_download(model, allow_patterns=WEIGHT_PATTERNS)
    except Exception as exc:
        raise EngineUnavailable(f"download of {model} failed: {_one_line(exc)} (what was "
                                "fetched stays in the cache; run again to go on)") from None
    finally:
        stop.set()
        watcher.join(5)
    on_progress(total, total)
    return True


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return text[:300]
