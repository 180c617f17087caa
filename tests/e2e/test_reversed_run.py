"""A reversed-scale prompt set through vLLM's CPU build and the tiny model: the stored
rating is the answer mapped back (10 - answer), the answer is kept as raw_rating, and the
digit probabilities are read backwards (greedy decoding: the answer is the most probable
digit of the answer's own scale, so the mapped rating is the most probable stored one)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.test_run import REPO, vlmrate
from vlmrate.runfolder.store import read_manifest, read_ratings

pytest.importorskip("vllm")

pytestmark = [pytest.mark.engine]

ANSWER = re.compile(r" ?Rating: ([1-9])\. Reason: ")


def test_reversed_prompts_store_mapped_ratings(tiny_model_dir: Path, synthetic_dataset: Path,
                                               tmp_path: Path) -> None:
    proc = vlmrate("run", str(synthetic_dataset), "--model", str(tiny_model_dir), "--repeats",
                   "1", "--temperature", "0", "--structured", "--logprobs", "--max-tokens", "40",
                   "--limit", "3", "--run", "rev", "--runs-dir", str(tmp_path),
                   "--max-model-len", "2048", "--enforce-eager", "--prompts",
                   str(REPO / "prompts" / "reference-reversed"))
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]
    manifest = read_manifest(tmp_path / "rev")
    assert all(a["reverse"] for a in manifest["study"]["aspects"])
    frame = read_ratings(tmp_path / "rev")
    assert frame.height == 3 * 3
    for rec in frame.iter_rows(named=True):
        match = ANSWER.match(rec["raw"])
        assert match, rec["raw"]
        answer = int(match.group(1))
        assert rec["raw_rating"] == answer
        assert rec["rating"] == 10 - answer
        probs = rec["rating_probs"]
        assert len(probs) == 9 and abs(sum(probs) - 1) < 1e-6
        # greedy: the answer was the most probable digit; stored backwards, that is the
        # probability at the mapped rating
        assert max(range(9), key=probs.__getitem__) == rec["rating"] - 1
        assert rec["expected_rating"] == pytest.approx(
            sum((i + 1) * p for i, p in enumerate(probs)))
