"""Shared test helpers: a scripted engine and small datasets."""

from __future__ import annotations

import asyncio
import importlib.machinery
import json
import random
import struct
import zlib
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from PIL import Image

from vlmrate.engines.base import RatingRequest, RatingResult
from vlmrate.runfolder.settings import RunConfig
from vlmrate.running.runner import Runner

PROMPTS = Path(__file__).parents[1] / "prompts"

# The test modules that check against pingouin (its import takes ~1.5 s: pandas and its
# statistics stack) share one xdist worker under `--dist loadgroup` (make test-fast): the
# import is paid once. No test of the fast suite imports transformers' Auto classes (~5 s:
# torch, scikit-learn, model code): the LLaMA tokenizer is loaded by its class
# (tests/conftest.py `llama_tokenizer`); the GPU decisions are checked with a stand-in
# torch, and only xgrammar imports the real one (tests/engines/test_grammar_real_tokens.py).
PINGOUIN = pytest.mark.xdist_group("pingouin")


class ScriptedEngine:
    """Answers 'Rating: N. Reason: ...' with N derived from the seed; records the order."""

    def __init__(self, delay_s: float = 0.0, fail_every: int = 0,
                 answers: list[str] | None = None) -> None:
        self.order: list[tuple[str, str, int]] = []
        self.delay_s = delay_s
        self.fail_every = fail_every
        self.answers = answers  # given answers, in turn, instead of seed-derived ones
        self.cancelled = False
        self.cancels = 0  # cancel() ends the rate() calls going on, not later ones
        self.closed = False

    async def start(self) -> None:
        return None

    async def rate(self, requests: Iterable[RatingRequest] | AsyncIterator[RatingRequest]
                   ) -> AsyncIterator[RatingResult]:
        generation = self.cancels
        async for request in _aiter(requests):
            if self.cancels != generation:
                return
            self.order.append(request.key)
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
                if self.cancels != generation:
                    return  # aborted while in flight: no result
            rating = 1 + request.seed % 9
            text = f"Rating: {rating}. Reason: seed {request.seed}"
            if self.fail_every and len(self.order) % self.fail_every == 0:
                text = "I cannot rate this."
            finish = "stop"
            if self.answers:
                text = self.answers[(len(self.order) - 1) % len(self.answers)]
                finish = "length" if len(text) > 500 else "stop"
            yield RatingResult(request, text, finish, 50, max(1, len(text) // 4), 0.01)

    async def cancel(self) -> None:
        self.cancelled = True
        self.cancels += 1

    async def close(self) -> None:
        self.closed = True

    def info(self) -> dict[str, Any]:
        return {"name": "scripted"}


async def _aiter(items: Iterable | AsyncIterator) -> AsyncIterator:
    if hasattr(items, "__aiter__"):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item


def make_dataset(root: Path, n: int = 4) -> Path:
    images = root / "data" / "images"
    images.mkdir(parents=True)
    rng = random.Random(0)
    for i in range(1, n + 1):
        Image.new("RGB", (16, 12), (rng.randrange(256), 0, 0)).save(images / f"pic{i:03d}.png")
    with open(root / "data" / "human.csv", "w") as handle:
        handle.write("image,relevance,arousal,valence\n")
        for i in range(1, n + 1):
            handle.write(f"pic{i},{rng.randint(1, 9)},{rng.randint(1, 9)},{rng.randint(1, 9)}\n")
    return root / "data"


def runner_for(tmp_path: Path, engine: ScriptedEngine, **overrides: Any) -> Runner:
    settings: dict[str, Any] = {"dataset": tmp_path / "data", "run_name": "r",
                                "runs_dir": tmp_path / "runs", "repeats": 2,
                                "prompts_dir": PROMPTS, "model": "scripted", **overrides}
    config = RunConfig(**settings)
    return Runner(config, engine_factory=lambda c, s, log: engine)


def keep_only_images(run_dir: Path, ids: Iterable[str], status: str = "running") -> None:
    """Make a finished run look interrupted after ``ids``: its other records are dropped and
    the manifest says ``status`` (a run's selection is kept by resume, so a pilot with
    --limit is no way to make a partial run of the whole set)."""
    import json

    wanted = set(ids)
    path = Path(run_dir) / "ratings.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(x for x in lines if json.loads(x)["image_id"] in wanted))
    manifest_path = Path(run_dir) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["status"] = status
    manifest_path.write_text(json.dumps(manifest))


def add_images(run_dir: Path, folder: Path, ids: list[str]) -> None:
    """Give a run without its images (an imported or a written-out one) an image folder:
    folder/<id>.png, deterministic striped PNGs, named in the manifest's dataset (its other
    fields kept), so that the Case page, the case-images figure and the report's thumbnails
    can show them."""
    folder.mkdir(parents=True, exist_ok=True)
    for n, image_id in enumerate(ids):
        image = Image.new("RGB", (64, 48), (40 * n % 255, 120, 200))
        for x in range(0, 64, 8):
            for y in range(48):
                image.putpixel((x, y), (255, 255, 255))
        image.save(folder / f"{image_id}.png")
    manifest_path = run_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["dataset"] = {**(manifest.get("dataset") or {}), "path": str(folder),
                           "n_images": len(ids)}
    manifest_path.write_text(json.dumps(manifest))


def stand_in_torch(**cuda: Any) -> ModuleType:
    """A module to put in ``sys.modules["torch"]`` (monkeypatch.setitem): ``import torch``
    and ``importlib.util.find_spec("torch")`` then give it, and ``torch.cuda`` holds the
    given functions (``is_available``, ``device_count``, ...). The code under test asks torch
    only these; the real torch takes seconds to import."""
    torch = ModuleType("torch")
    torch.__spec__ = importlib.machinery.ModuleSpec("torch", None)
    torch.cuda = SimpleNamespace(**cuda)  # type: ignore[attr-defined]
    return torch


class LazyModule:
    """A module imported on first use, not when the test file is collected: pytest-xdist
    collects every test file in every worker, so a slow import at module level (xgrammar
    2.4 s, pingouin 1.7 s) is paid once per worker even by workers that never run its
    tests. With ``skip_missing`` a missing module skips the test that uses it."""

    def __init__(self, name: str, skip_missing: bool = False) -> None:
        self._name = name
        self._skip_missing = skip_missing

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):
            # pytest's collection looks every module-level name over for fixture and test
            # markers (``_fixture_function_marker``, ``__test__``): that must not import
            raise AttributeError(attr)
        import importlib

        import pytest

        module = (pytest.importorskip(self._name) if self._skip_missing
                  else importlib.import_module(self._name))
        return getattr(module, attr)


def write_png_bomb(path: Path, width: int = 20000, height: int = 20000) -> None:
    """A tiny PNG whose header claims width x height pixels (400 megapixels: over Pillow's
    decompression-bomb limit), without ever holding such an image in memory."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    raw = zlib.compress(b"\x00" * (width + 1) * 4)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw)
                     + chunk(b"IEND", b""))
