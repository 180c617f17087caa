"""Unit tests of the engine API helpers (no model needed)."""

from __future__ import annotations

import math
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vlmrate.engines.base import (
    RatingRequest,
    SamplingConfig,
    digit_probs,
    rating_token_index,
    structured_regex,
)

SRC = Path(__file__).resolve().parents[2] / "src"


def test_structured_regex_accepts_template_answers() -> None:
    pattern = re.compile(structured_regex(SamplingConfig(structured=True)))
    assert pattern.fullmatch("Rating: 7. Reason: the sky is grey, and it's calm.")
    assert pattern.fullmatch("Rating: 1. Reason: x")
    assert not pattern.fullmatch("Rating: 0. Reason: x")
    assert not pattern.fullmatch("Rating: 10. Reason: x")
    assert not pattern.fullmatch("Rating: 5. Reason: ")
    assert not pattern.fullmatch("Rating: 5.")


def test_structured_regex_reason_fits_max_tokens() -> None:
    for max_tokens in (8, 32, 128, 1024):
        regex = structured_regex(SamplingConfig(max_tokens=max_tokens))
        bound = int(re.search(r"\{0,(\d+)\}", regex).group(1)) + 1  # type: ignore[union-attr]
        assert 1 <= bound <= 150
        assert bound <= max(1, max_tokens - 20)


def test_structured_regex_rating_only() -> None:
    pattern = re.compile(structured_regex(SamplingConfig(structured=True, rating_only=True)))
    assert pattern.fullmatch("Rating: 7")
    assert not pattern.fullmatch("Rating: 7. Reason: x")
    assert not pattern.fullmatch("Rating: 0")
    wide = re.compile(structured_regex(SamplingConfig(rating_only=True, scale_max=10)))
    assert wide.fullmatch("Rating: 10") and not wide.fullmatch("Rating: 11")


def test_structured_regex_other_scales() -> None:
    pattern = re.compile(structured_regex(SamplingConfig(scale_min=1, scale_max=10)))
    assert pattern.fullmatch("Rating: 10. Reason: x")
    assert pattern.fullmatch("Rating: 1. Reason: x")
    assert not pattern.fullmatch("Rating: 11. Reason: x")
    assert re.fullmatch(
        structured_regex(SamplingConfig(scale_min=1, scale_max=5)), "Rating: 5. Reason: x"
    )


def test_digit_probs_tolerates_token_spellings() -> None:
    lp = {"7": math.log(0.5), "\u25817": math.log(0.1), " 3": math.log(0.2), "Ġ9": math.log(0.1)}
    lp["x"] = math.log(0.05)
    lp["0"] = math.log(0.05)
    probs = digit_probs(lp)
    assert probs is not None and len(probs) == 9
    assert math.isclose(sum(probs), 1.0)
    assert math.isclose(probs[6], 0.6 / 0.9)
    assert math.isclose(probs[2], 0.2 / 0.9)
    assert probs[0] == 0.0


def test_digit_probs_none_without_digits_and_handles_inf() -> None:
    assert digit_probs({"a": -0.1, "b": -2.0}) is None
    assert digit_probs({}) is None
    probs = digit_probs({"4": 0.0, "5": -math.inf})
    assert probs is not None and probs[3] == 1.0 and probs[4] == 0.0


def test_rating_token_index() -> None:
    assert rating_token_index(["Rating", ":", " ", "7", ".", " Reason"]) == 3
    assert rating_token_index(["R", "ating", ": ", "\u25818"]) == 3
    # A digit before the label is skipped in favour of the one after it.
    assert rating_token_index(["In", " 2", " words", ".", " Rating", ":", " 5"]) == 6
    # No label: the first digit on the scale.
    assert rating_token_index(["I", " say", " 0", " 6"]) == 3
    assert rating_token_index(["no", " digits"]) is None


def test_request_key() -> None:
    from PIL import Image

    req = RatingRequest("a", "valence", 2, 5, "p", Image.new("RGB", (2, 2)))
    assert req.key == ("a", "valence", 2)


def test_import_is_light() -> None:
    """Importing the engine modules must not import vllm, torch or transformers."""
    code = textwrap.dedent(
        """
        import sys, time
        t = time.perf_counter()
        import vlmrate.engines.vllm, vlmrate.engines.base, vlmrate.tiny_model
        import vlmrate.demo_data
        took = time.perf_counter() - t
        heavy = [m for m in ("vllm", "torch", "transformers", "tokenizers") if m in sys.modules]
        assert not heavy, heavy
        print(took)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(SRC), "PATH": ""},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert float(proc.stdout) < 1.0


def test_missing_vllm_gives_one_clear_line(tmp_path: Path) -> None:
    """Without vllm, start() raises EngineUnavailable with the install hint."""
    code = textwrap.dedent(
        """
        import asyncio, sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "vllm" or name.startswith("vllm."):
                    raise ImportError("blocked for the test")
                return None
        sys.meta_path.insert(0, Block())
        from vlmrate.engines.base import EngineUnavailable, SamplingConfig
        from vlmrate.engines.vllm import VllmEngine
        async def main():
            eng = VllmEngine("nowhere", SamplingConfig(), quiet_stderr=False)
            try:
                await eng.start()
            except EngineUnavailable as exc:
                print(exc)
            else:
                print("started?!")
            await eng.close()
        asyncio.run(main())
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(SRC), "PATH": "", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    line = proc.stdout.strip()
    assert "\n" not in line
    assert "vLLM is not installed" in line and "--engine openai" in line


@pytest.mark.parametrize("n", [1, 6])
def test_synthetic_dataset(tmp_path: Path, n: int) -> None:
    import csv

    from PIL import Image

    from vlmrate.demo_data import build_synthetic_dataset

    dest = build_synthetic_dataset(tmp_path / "d", n_images=n, seed=3)
    files = sorted((dest / "images").iterdir())
    assert [f.name for f in files] == [f"pic{i:03d}.png" for i in range(1, n + 1)]
    sizes = {Image.open(f).size for f in files}
    assert len(sizes) == n or n == 1
    rows = list(csv.DictReader((dest / "human.csv").open()))
    assert [r["image_id"] for r in rows] == [f.stem for f in files]
    for row in rows:
        assert set(row) == {"image_id"} | {f"{a}{suffix}" for a in ("relevance", "arousal",
                                                                    "valence")
                                             for suffix in ("", "_sd", "_n")}
        for aspect in ("relevance", "arousal", "valence"):
            assert 1.0 <= float(row[aspect]) <= 9.0
            assert len(row[aspect].split(".")[1]) == 2
            assert 0.8 <= float(row[f"{aspect}_sd"]) <= 2.2  # for the human noise ceiling
            assert 15 <= int(row[f"{aspect}_n"]) <= 40
    assert "SYNTHETIC" in (dest / "README.txt").read_text()
    again = build_synthetic_dataset(tmp_path / "e", n_images=n, seed=3)
    assert (again / "human.csv").read_text() == (dest / "human.csv").read_text()


def test_repair_torchvision_patch_is_idempotent() -> None:
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "tools" / "repair_torchvision.py"
    spec = importlib.util.spec_from_file_location("repair_torchvision", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    original = textwrap.dedent(
        """\
        import torch
        import torch.library

        # Ensure that torch.ops.torchvision is visible
        import torchvision.extension  # noqa: F401


        @torch.library.register_fake("torchvision::nms")
        def meta_nms(dets, scores, iou_threshold):
            pass


        @torch.library.register_fake('torchvision::qnms')
        def meta_qnms(dets, scores, iou_threshold):
            pass
        """
    )
    patched = mod.patch_source(original)
    assert "@torch.library.register_fake(" not in patched
    assert patched.count('@_vlmrate_register_fake("torchvision::nms")') == 1
    assert patched.count("@_vlmrate_register_fake('torchvision::qnms')") == 1
    assert mod.patch_source(patched) == patched
    compile(patched, "_meta_registrations.py", "exec")


def test_digit_mass_is_the_digits_share_before_renormalising() -> None:
    from vlmrate.engines.base import digit_probs_and_mass
    from vlmrate.engines.openai import rating_probs_and_mass

    top = {"7": math.log(0.5), " 8": math.log(0.2), "▁7": math.log(0.05), "the": math.log(0.2)}
    probs, mass = digit_probs_and_mass(top)
    assert mass == pytest.approx(0.75)  # 0.5 + 0.05 + 0.2; "the" is not a digit
    assert probs == pytest.approx([0, 0, 0, 0, 0, 0, 0.55 / 0.75, 0.2 / 0.75, 0])
    assert probs == digit_probs(top)
    assert digit_probs_and_mass({"the": 0.0}) == (None, None)
    content = [{"token": "Rating", "logprob": -0.1}, {"token": ":", "logprob": -0.1},
               {"token": " 7", "logprob": math.log(0.6),
                "top_logprobs": [{"token": " 7", "logprob": math.log(0.6)},
                                 {"token": " 6", "logprob": math.log(0.3)},
                                 {"token": " seven", "logprob": math.log(0.1)}]}]
    probs, mass = rating_probs_and_mass(content)
    assert mass == pytest.approx(0.9) and probs[6] == pytest.approx(0.6 / 0.9)
