"""Fixtures of the TUI tests: deterministic runs made with `vlmrate import`."""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from vlmrate.importer import import_run
from vlmrate.tui.app import VlmrateApp

ASPECTS = ["relevance", "arousal", "valence"]
REASONS = ["melting glacier and open water", "a crowded beach in summer",
           "smoke over a dry forest", "a flooded street after rain", "wind turbines on a hill",
           "a quiet office with plants"]
N_IMAGES = 12
REPEATS = 3


def write_ratings(path: Path, n_images: int = N_IMAGES, repeats: int = REPEATS,
                  seed: int = 7) -> None:
    """Long ratings: a fixed bias per aspect, a reason per image, one missing answer."""
    rng = random.Random(seed)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image_id", "aspect", "repeat", "rating", "reason"])
        for i in range(1, n_images + 1):
            for a, aspect in enumerate(ASPECTS):
                centre = 2 + (i * 3 + a * 2) % 7
                for repeat in range(1, repeats + 1):
                    rating: object = max(1, min(9, centre + rng.choice([-1, 0, 0, 1])))
                    if (i, a, repeat) == (3, 0, 2):
                        rating = ""
                    reason = f"{REASONS[(i + a) % len(REASONS)]} ({aspect} {repeat})"
                    writer.writerow([f"img{i:02d}", aspect, repeat, rating, reason])


def write_human_sheet(path: Path, n_images: int = N_IMAGES, seed: int = 3) -> None:
    rng = random.Random(seed)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "Relevance_mean", "Relevance_sd", "Arousal_mean",
                         "Arousal_sd", "Valence_mean", "Valence_sd"])
        for i in range(1, n_images + 1):
            row = [f"img{i:02d}"]
            for _ in ASPECTS:
                row += [round(rng.uniform(1.5, 8.5), 2), round(rng.uniform(0.5, 2.5), 2)]
            writer.writerow(row)


def make_run(root: Path, name: str = "study1") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    write_ratings(root / f"{name}-ratings.csv")
    write_human_sheet(root / f"{name}-human.csv")
    return import_run(root / f"{name}-ratings.csv", root / f"{name}-human.csv", name,
                      root / "runs", model="test/tiny-vlm")


def add_images(run_dir: Path, folder: Path, ids: list[str]) -> None:
    """Give an imported run an image folder (deterministic solid-colour PNGs)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for n, image_id in enumerate(ids):
        image = Image.new("RGB", (64, 48), (40 * n % 255, 120, 200))
        for x in range(0, 64, 8):
            for y in range(48):
                image.putpixel((x, y), (255, 255, 255))
        image.save(folder / f"{image_id}.png")
    manifest_path = run_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["dataset"] = {"path": str(folder), "n_images": len(ids)}
    manifest_path.write_text(json.dumps(manifest))


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A folder like the one `vlmrate` opens on: runs/ with one imported run, data/."""
    make_run(tmp_path)
    (tmp_path / "data").mkdir()
    return tmp_path


@pytest.fixture
def make_app(workspace: Path) -> Callable[..., VlmrateApp]:
    def factory(**kwargs: object) -> VlmrateApp:
        return VlmrateApp(runs_dir=workspace / "runs", prompts_dir=workspace / "prompts",
                          data_dir=workspace / "data", **kwargs)  # type: ignore[arg-type]

    return factory
