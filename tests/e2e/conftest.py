"""Session fixtures for the engine tests: the tiny model and the synthetic dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.tiny_model import (
    build_synthetic_dataset,
    build_tiny_llava_next,
    build_tiny_llava_next_real_geometry,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight LLaVA-NeXT checkpoint, built once per test session."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("tokenizers")
    dest = tmp_path_factory.mktemp("tiny-llava-next")
    return build_tiny_llava_next(dest, prompt_dir=REPO / "prompts" / "reference")


@pytest.fixture(scope="session")
def synthetic_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six generated images and a synthetic human sheet."""
    return build_synthetic_dataset(tmp_path_factory.mktemp("synthetic-data"), n_images=6)


@pytest.fixture(scope="session")
def real_geometry_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny LLaVA-NeXT with llava-v1.6-vicuna-13b's image geometry, built once."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("tokenizers")
    dest = tmp_path_factory.mktemp("tiny-llava-next-real-geometry")
    return build_tiny_llava_next_real_geometry(dest, prompt_dir=REPO / "prompts" / "reference")
