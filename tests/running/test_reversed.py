"""Reversed-scale prompt sets: answers mapped back to the study's direction, the answer as
given kept as raw_rating, the digit probabilities read backwards (fast, scripted engine)."""

from __future__ import annotations

import asyncio
import difflib
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest

from tests.helpers import PROMPTS, ScriptedEngine, _aiter, make_dataset, runner_for
from vlmrate.engines.base import RatingRequest, RatingResult
from vlmrate.errors import UserError
from vlmrate.inputs.study import Aspect, Study, load_study
from vlmrate.runfolder.store import read_manifest, read_ratings


def test_mapping_of_a_reversed_aspect() -> None:
    study = Study("s", (Aspect("up", "p"), Aspect("down", "q", reverse=True)),
                  scale_min=1, scale_max=7)
    probs = [0.1, 0.2, 0.3, 0.4, 0.0, 0.0, 0.0]
    assert study.to_study_scale("up", 2, probs) == (2, probs)
    rating, back = study.to_study_scale("down", 2, probs)
    assert rating == 1 + 7 - 2
    assert back == [0.0, 0.0, 0.0, 0.4, 0.3, 0.2, 0.1]
    assert study.to_study_scale("down", None, None) == (None, None)
    # the expected rating of the mapped probabilities is the mapped expected answer
    e_answer = sum((i + 1) * p for i, p in enumerate(probs))
    e_back = sum((i + 1) * p for i, p in enumerate(back))
    assert e_back == pytest.approx(8 - e_answer)


def test_reference_reversed_swaps_only_the_anchors() -> None:
    ref, rev = load_study("reference", PROMPTS), load_study("reference-reversed", PROMPTS)
    assert rev.aspect_names == ref.aspect_names
    assert all(a.reverse for a in rev.aspects) and not any(a.reverse for a in ref.aspects)
    assert (rev.scale_min, rev.scale_max, rev.repeats, rev.temperature, rev.max_tokens) == (
        ref.scale_min, ref.scale_max, ref.repeats, ref.temperature, ref.max_tokens)
    for a, b in zip(ref.aspects, rev.aspects, strict=True):
        changed = [line for line in difflib.ndiff(a.prompt.splitlines(), b.prompt.splitlines())
                   if line[:1] in "+-"]
        assert len(changed) == 2  # one line out, one line in
        old, new = changed[0][2:], changed[1][2:]
        lo, hi = old.split("(1 means the most ")[1].split(", 9 means the most ")
        assert new == old.replace(f"1 means the most {lo}, 9 means the most {hi}",
                                  f"1 means the most {hi.rstrip('.)')}, 9 means the most "
                                  f"{lo}.)")
        assert (a.low, a.high) == (b.low, b.high)  # the study's direction, as the reference


def test_reverse_must_be_a_boolean(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "a.txt").write_text("rate")
    (tmp_path / "s" / "study.toml").write_text('[[aspects]]\nname = "a"\nreverse = "yes"\n')
    with pytest.raises(UserError, match="reverse"):
        load_study(str(tmp_path / "s"))


def answer_probs(answer: int) -> list[float]:
    """Probabilities of the answers 1..9 as the engine gives them: peaked at the answer,
    rising slowly towards 9 elsewhere (so that reading them backwards shows)."""
    weights = [1.0 + (i == answer - 1) * 5 + i * 0.1 for i in range(9)]
    return [w / sum(weights) for w in weights]


class ProbEngine(ScriptedEngine):
    """Answers like ScriptedEngine and gives digit probabilities peaked at the answer."""

    async def rate(self, requests: Iterable[RatingRequest] | AsyncIterator[RatingRequest]
                   ) -> AsyncIterator[RatingResult]:
        async for request in _aiter(requests):
            answer = 1 + request.seed % 9
            probs = answer_probs(answer)
            yield RatingResult(request, f"Rating: {answer}. Reason: seed", "stop", 50, 6, 0.01,
                               rating_probs=probs)


def test_reversed_run_stores_mapped_rating_raw_rating_and_probs(tmp_path: Path) -> None:
    make_dataset(tmp_path)
    asyncio.run(runner_for(tmp_path, ProbEngine(), prompts="reference-reversed",
                           logprobs=True).run())
    manifest = read_manifest(tmp_path / "runs/r")
    assert [a["reverse"] for a in manifest["study"]["aspects"]] == [True, True, True]
    frame = read_ratings(tmp_path / "runs/r")
    assert frame.height == 4 * 3 * 2
    for rec in frame.iter_rows(named=True):
        answer = 1 + rec["seed"] % 9
        assert rec["raw_rating"] == answer and rec["rating"] == 10 - answer
        probs = rec["rating_probs"]
        assert probs == pytest.approx(answer_probs(answer)[::-1])
        assert max(range(9), key=probs.__getitem__) == rec["rating"] - 1
        assert rec["expected_rating"] == pytest.approx(
            sum((i + 1) * p for i, p in enumerate(probs)))


def test_plain_run_keeps_raw_rating_equal_to_rating(tmp_path: Path) -> None:
    make_dataset(tmp_path)
    asyncio.run(runner_for(tmp_path, ProbEngine(), logprobs=True).run())
    frame = read_ratings(tmp_path / "runs/r")
    assert (frame["rating"] == frame["raw_rating"]).all()
    for rec in frame.iter_rows(named=True):
        assert rec["rating_probs"] == pytest.approx(answer_probs(rec["rating"]))


def test_resume_refuses_a_changed_direction(tmp_path: Path) -> None:
    make_dataset(tmp_path)
    asyncio.run(runner_for(tmp_path, ScriptedEngine(), limit=1).run())
    reversed_set = tmp_path / "rev"
    reversed_set.mkdir()
    for path in (PROMPTS / "reference").iterdir():
        text = path.read_text()
        if path.name == "study.toml":
            text = text.replace('prompt_file = "valence.txt"',
                                'prompt_file = "valence.txt"\nreverse = true')
        (reversed_set / path.name).write_text(text)
    with pytest.raises(UserError, match="prompts"):
        runner_for(tmp_path, ScriptedEngine(), prompts=str(reversed_set)).prepare()
