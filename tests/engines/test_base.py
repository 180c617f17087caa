"""Unit tests of the engine API helpers (no model needed)."""

from __future__ import annotations

import json
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
    digit_mass,
    digit_probs,
    rating_token_index,
    reason_max_chars,
    structured_regex,
)

SRC = Path(__file__).resolve().parents[2] / "src"
#: The five llava-v1.6-vicuna-13b answers the reference study published (shared/protocol)
EXAMPLE_ANSWERS = Path(__file__).resolve().parents[1] / "fixtures" / "data" / "example_answers.jsonl"


def test_structured_regex_accepts_template_answers() -> None:
    pattern = re.compile(structured_regex(SamplingConfig(structured=True)))
    assert pattern.fullmatch("Rating: 7. Reason: the sky is grey, and it's calm.")
    assert pattern.fullmatch("Rating: 1. Reason: x")
    # what real reasons hold: digits, parentheses, quotes, semicolons, accents, a leading
    # space (SentencePiece's "▁R" as the first token)
    assert pattern.fullmatch(' Rating: 9. Reason: two polar bears (Arctic); "melting" café 2°C')
    assert not pattern.fullmatch("Rating: 0. Reason: x")
    assert not pattern.fullmatch("Rating: 10. Reason: x")
    assert not pattern.fullmatch("Rating: 5. Reason: ")
    assert not pattern.fullmatch("Rating: 5. Reason:  x")  # the reason starts with text
    assert not pattern.fullmatch("Rating: 5.")
    assert not pattern.fullmatch("  Rating: 5. Reason: x")  # one optional space, not two
    for control in ("\n", "\r", "\t", "\x1b", "\x7f", "\x85"):
        assert not pattern.fullmatch(f"Rating: 5. Reason: a{control}b"), repr(control)


def test_structured_regex_reason_is_bounded_by_max_tokens() -> None:
    for max_tokens, bound in ((8, 1), (32, 24), (128, 312), (320, 888), (1024, 1000)):
        regex = structured_regex(SamplingConfig(max_tokens=max_tokens))
        assert reason_max_chars(max_tokens) == bound
        pattern = re.compile(regex)
        assert pattern.fullmatch("Rating: 5. Reason: " + "a" * bound)
        assert not pattern.fullmatch("Rating: 5. Reason: " + "a" * (bound + 1))


def test_default_max_tokens_leaves_room_for_the_published_answers() -> None:
    answers = [json.loads(line)["answer"] for line in EXAMPLE_ANSWERS.read_text().splitlines()]
    assert len(answers) == 5 and max(len(a) for a in answers) == 604
    pattern = re.compile(structured_regex(SamplingConfig()))
    for answer in answers:
        assert pattern.fullmatch(answer), answer[:40]
        assert pattern.fullmatch(" " + answer)


def test_structured_regex_rating_only() -> None:
    pattern = re.compile(structured_regex(SamplingConfig(structured=True, rating_only=True)))
    assert pattern.fullmatch("Rating: 7")
    assert pattern.fullmatch(" Rating: 7")
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
        import vlmrate.engines.vllm, vlmrate.engines.base, vlmrate.engines.tiny_model
        import vlmrate.inputs.demo_data
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

    from vlmrate.inputs.demo_data import build_synthetic_dataset

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


def test_digit_mass_is_the_probability_before_renormalising() -> None:
    # 0.5 on "7" (two spellings), 0.2 on " 3", 0.1 on a word, 0.05 on "0" (off the scale)
    lp = {"7": math.log(0.3), "\u25817": math.log(0.2), " 3": math.log(0.2),
          "the": math.log(0.1), "0": math.log(0.05)}
    assert digit_mass(lp) == pytest.approx(0.7)
    assert digit_probs(lp) == pytest.approx([0, 0, 0.2 / 0.7, 0, 0, 0, 0.5 / 0.7, 0, 0])
    assert digit_mass(lp, 0, 9) == pytest.approx(0.75)
    assert digit_mass({"the": 0.0}) is None
    assert digit_mass({"7": -math.inf}) == 0.0
