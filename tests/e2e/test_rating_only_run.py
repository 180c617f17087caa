"""`vlmrate run --rating-only` through vLLM's CPU build and the tiny model: each answer is
`Rating: N` and nothing else (structured outputs), a few tokens, with the digit
probabilities and the expected rating; one repeat by default; the manifest says so."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.test_run import REPO, vlmrate
from vlmrate.runfolder.settings import RATING_ONLY_MAX_TOKENS
from vlmrate.runfolder.store import read_manifest, read_ratings

pytest.importorskip("vllm")

pytestmark = [pytest.mark.engine]


def test_rating_only_records(tiny_model_dir: Path, synthetic_dataset: Path,
                             tmp_path: Path) -> None:
    proc = vlmrate("run", str(synthetic_dataset), "--model", str(tiny_model_dir),
                   "--rating-only", "--limit", "3", "--run", "fast", "--runs-dir",
                   str(tmp_path), "--max-model-len", "2048", "--enforce-eager", "--prompts",
                   str(REPO / "prompts" / "reference"))
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]
    sampling = read_manifest(tmp_path / "fast")["sampling"]
    assert sampling["rating_only"] is True and sampling["repeats"] == 1
    assert sampling["structured"] is True and sampling["logprobs"] is True
    assert sampling["max_tokens"] == RATING_ONLY_MAX_TOKENS
    frame = read_ratings(tmp_path / "fast")
    assert frame.height == 3 * 3 and set(frame["repeat"]) == {1}
    for rec in frame.iter_rows(named=True):
        match = re.fullmatch(r" ?Rating: ([1-9])", rec["raw"])
        assert match, rec["raw"]
        assert rec["rating"] == int(match.group(1)) and rec["reason"] is None
        assert rec["parse_error"] is None and rec["finish_reason"] == "stop"
        assert 1 <= rec["output_tokens"] <= RATING_ONLY_MAX_TOKENS
        probs = rec["rating_probs"]
        assert len(probs) == 9 and abs(sum(probs) - 1) < 1e-6
        assert rec["expected_rating"] == pytest.approx(
            sum((i + 1) * p for i, p in enumerate(probs)))
        assert 0 < rec["digit_mass"] <= 1  # the digits' share before renormalising
