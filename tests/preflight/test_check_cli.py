"""`vlmrate check`: the preflight on this GPU-less machine, JSON and table, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.preflight.anyres_formula import anyres_image_tokens
from vlmrate import cli
from vlmrate.commands import check
from vlmrate.preflight import report as check_report


def _png(folder: Path, name: str, size: tuple[int, int]) -> None:
    from PIL import Image

    Image.new("RGB", size, (10, 20, 30)).save(folder / f"{name}.png")


@pytest.fixture()
def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    for i, size in enumerate([(800, 600), (600, 800), (1000, 300), (640, 480)]):
        _png(root / "images", f"img{i}", size)
    return root


@pytest.fixture()
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(check_report, "visible_gpus", lambda **_: ([], "test: none"))


def test_json_for_h100_without_a_gpu(dataset: Path, no_gpu: None,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check", str(dataset), "--gpu", "H100", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["gpu_visible"] is False and report["gpus"] == []
    assert report["target_gpu"]["name"] == "H100"
    assert report["kv_bytes_per_token"] == 2 * 40 * 5120 * 2  # 0.82 MB, LLaVA-1.6-vicuna-13B
    expected = [anyres_image_tokens(*s) for s in [(800, 600), (600, 800), (1000, 300), (640, 480)]]
    assert report["image_tokens"]["total"] == sum(expected)
    assert report["image_tokens"]["max"] == max(expected) == 2352
    assert report["image_tokens"]["min"] == 2182
    assert report["answers"] == 4 * 3 * 10  # reference: 3 aspects, 10 repeats
    assert report["projected_s"] > 0 and report["fits"] is True
    assert report["prefill_tokens"] < report["prefill_tokens_no_reuse"]


def test_table_says_no_gpu_and_still_projects(dataset: Path, no_gpu: None,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check", str(dataset), "--gpu", "H100"]) == 0
    out = capsys.readouterr().out
    assert "no GPU visible" in out
    assert "0.82 MB" in out and "2182-2352" in out
    assert "H100" in out and "projected study time" in out


def test_rating_only_defaults_to_one_repeat_and_is_shorter(
        no_gpu: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check", "--gpu", "H100", "--json"]) == 0
    full = json.loads(capsys.readouterr().out)
    assert cli.main(["check", "--gpu", "H100", "--json", "--rating-only"]) == 0
    short = json.loads(capsys.readouterr().out)
    assert full["images"] == short["images"] == 320 and full["image_tokens"]["min"] == 2340
    assert short["repeats"] == 1 and short["answers"] == 320 * 3
    assert short["decode_tokens"] == 320 * 3 * 5
    assert short["decode_s"] < full["decode_s"] / 10  # decode shrinks, the prefill stays
    assert short["prefill_s"] > full["prefill_s"] / 2 and short["projected_s"] < full["projected_s"]


@pytest.mark.parametrize("argv", [["check", "--gpu", "T4"], ["check", "/no/such/folder"],
                                  ["check", "--model", "nobody/nothing"],
                                  ["check", "--repeats", "0"]])
def test_bad_input_is_one_line_and_exit_2(argv: list[str], no_gpu: None,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("vlmrate: error: ") and err.count("\n") == 1


def test_a_card_too_small_says_so(no_gpu: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check", "--gpu", "RTX 4090", "--model", "llava-hf/llava-v1.6-34b-hf"]) == 0
    assert "do not fit" in capsys.readouterr().out


def test_measure_replaces_the_projection_with_the_measured_rate(
        dataset: Path, no_gpu: None, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from types import SimpleNamespace

    import vlmrate.running.runner

    seen = {}

    class FakeRunner:
        def __init__(self, config: vlmrate.running.runner.RunConfig) -> None:
            seen["config"] = config

        async def run(self) -> SimpleNamespace:
            # 1 s loading the model, 2 s rating
            return SimpleNamespace(done=9, elapsed_s=3.0, running_s=2.0, ratings_per_s=3.0,
                                   status="done")

    monkeypatch.setattr(vlmrate.running.runner, "Runner", FakeRunner)
    monkeypatch.setattr(check, "vllm_imports", lambda: (True, "imports"))
    assert cli.main(["check", str(dataset), "--gpu", "H100", "--measure", "--json",
                     "--repeats", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert seen["config"].limit == check.MEASURE_IMAGES and seen["config"].repeats == 2
    # one clock: 9 answers in 2 s of rating is 4.5/s, and the projection is at that rate
    assert report["measured"]["answers_per_s"] == 4.5 and report["measured"]["wall_s"] == 2.0
    assert report["projected_s"] == pytest.approx(4 * 3 * 2 / 4.5)
    assert cli.main(["check", str(dataset), "--gpu", "H100", "--measure",
                     "--repeats", "2"]) == 0
    out = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert "9 answers in 2.0 s of rating, 4.5/s (model load 1.0 s not counted" in out


def test_measure_needs_a_dataset(no_gpu: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check", "--measure"]) == 2
    assert "--measure needs a DATASET" in capsys.readouterr().err


def test_import_check_reports_a_broken_vllm(no_gpu: None, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(check_report, "vllm_version", lambda: ("0.32.0", "vllm"))
    monkeypatch.setattr(check, "vllm_imports", lambda: (False, "ImportError: libcuda.so.1"))
    assert cli.main(["check", "--gpu", "H100", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["vllm_imports"] is None  # not tried
    assert cli.main(["check", "--gpu", "H100", "--import-check"]) == 0
    assert "import: ImportError: libcuda.so.1" in capsys.readouterr().out


def test_no_download_promised_offline_and_images_capped(
        dataset: Path, no_gpu: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A model that is not cached and cannot be downloaded is not "downloaded on first
    run"; room for more images than the dataset has says "all 4 images"."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert cli.main(["check", str(dataset), "--gpu", "H100"]) == 0
    out = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert "downloaded on first run" not in out
    assert "not in the Hugging Face cache and HF_HUB_OFFLINE is set" in out
    assert "all 4 images at once" in out and "images sharing their prefix;" not in out
