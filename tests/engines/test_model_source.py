"""The model check that runs before vLLM spends minutes loading (or downloading) a model."""

from __future__ import annotations

from pathlib import Path

import pytest

from vlmrate.engines.model_source import model_problem


def test_local_folder(tmp_path: Path) -> None:
    assert "does not exist" in (model_problem(str(tmp_path / "nope")) or "")
    assert "no config.json" in (model_problem(str(tmp_path)) or "")
    (tmp_path / "config.json").write_text("{}")
    assert model_problem(str(tmp_path)) is None


def test_hub_id_offline_not_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    problem = model_problem("llava-hf/llava-v1.6-vicuna-13b-hf") or ""
    assert "not in the Hugging Face cache" in problem and "HF_HUB_OFFLINE" in problem


def test_hub_unreachable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on port 9
    problem = model_problem("llava-hf/llava-v1.6-vicuna-13b-hf", probe_timeout_s=2) or ""
    assert "cannot be reached" in problem and "--engine openai" in problem


def test_local_models_demo_model_first_then_vision_models_of_the_hf_cache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from vlmrate.engines.model_source import local_models

    monkeypatch.setenv("VLMRATE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert local_models() == []
    tiny = tmp_path / "cache" / "vlmrate" / "tiny-llava-next"
    tiny.mkdir(parents=True)
    (tiny / "config.json").write_text("{}")
    for name, config in (("llava-hf--llava-v1.6-mistral-7b-hf", {"vision_config": {}}),
                         ("org--text-only", {"model_type": "llama"}),
                         ("org--broken", None)):
        snap = tmp_path / "hub" / f"models--{name}" / "snapshots" / "abc"
        snap.mkdir(parents=True)
        if config is not None:
            (snap / "config.json").write_text(json.dumps(config))
    assert local_models() == [(str(tiny), "the demo's tiny random model"),
                              ("llava-hf/llava-v1.6-mistral-7b-hf", "Hugging Face cache")]
