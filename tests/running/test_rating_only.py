"""Rating-only runs (`vlmrate run --rating-only`): the answer is `Rating: N` through the
structured template, logprobs on, one repeat by default; the manifest records the mode
(fast, scripted engine)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.helpers import PROMPTS, ScriptedEngine, make_dataset, runner_for
from tests.running.test_reversed import ProbEngine, answer_probs
from vlmrate.engines.base import structured_regex
from vlmrate.runfolder.settings import RATING_ONLY_MAX_TOKENS, RunConfig
from vlmrate.runfolder.store import read_manifest, read_ratings
from vlmrate.running.runner import Runner


class RatingOnlyEngine(ProbEngine):
    """Answers `Rating: N` only, with digit probabilities."""

    async def rate(self, requests):  # type: ignore[no-untyped-def]
        async for result in super().rate(requests):
            result.text = result.text.split(".")[0]
            result.output_tokens = 4
            yield result


def test_rating_only_settings() -> None:
    from vlmrate.inputs.study import load_study

    study = load_study("reference", PROMPTS)
    config = RunConfig(dataset=Path("d"), rating_only=True)
    sampling = config.sampling_for(study)
    assert config.repeats_for(study) == 1
    assert sampling.rating_only and sampling.structured and sampling.logprobs
    assert sampling.max_tokens == RATING_ONLY_MAX_TOKENS
    assert structured_regex(sampling) == " ?Rating: [1-9]"  # " R" is LLaMA's first token
    assert RunConfig(dataset=Path("d"), rating_only=True, repeats=5).repeats_for(study) == 5
    manifest = config.to_manifest(sampling, 1)
    assert manifest["sampling"]["rating_only"] is True
    back = RunConfig.from_manifest({**manifest, "name": "r", "dataset": {"path": "d"},
                                    "study": {"name": "reference"}})
    assert back.rating_only is True
    plain = RunConfig(dataset=Path("d"))
    assert plain.repeats_for(study) == study.repeats
    assert not plain.sampling_for(study).rating_only


def test_rating_only_run_records(tmp_path: Path) -> None:
    make_dataset(tmp_path)
    engine = RatingOnlyEngine()
    config = RunConfig(dataset=tmp_path / "data", run_name="r", runs_dir=tmp_path / "runs",
                       prompts_dir=PROMPTS, model="scripted", rating_only=True)
    asyncio.run(Runner(config, engine_factory=lambda c, s, log: engine).run())
    manifest = read_manifest(tmp_path / "runs/r")
    assert manifest["sampling"]["rating_only"] is True
    assert manifest["sampling"]["repeats"] == 1 and manifest["total_jobs"] == 4 * 3
    frame = read_ratings(tmp_path / "runs/r")
    assert frame.height == 4 * 3 and set(frame["repeat"]) == {1}
    for rec in frame.iter_rows(named=True):
        answer = 1 + rec["seed"] % 9
        assert rec["raw"] == f"Rating: {answer}"
        assert rec["rating"] == answer and rec["reason"] is None and rec["parse_error"] is None
        assert rec["expected_rating"] == sum((i + 1) * p
                                             for i, p in enumerate(answer_probs(answer)))


def test_a_run_from_before_rating_only_resumes(tmp_path: Path) -> None:
    make_dataset(tmp_path)
    asyncio.run(runner_for(tmp_path, ScriptedEngine(), limit=1).run())
    path = tmp_path / "runs/r/manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["sampling"]["rating_only"]  # as written before the option existed
    path.write_text(json.dumps(manifest))
    final = asyncio.run(runner_for(tmp_path, ScriptedEngine(), limit=1).run())  # same scope
    assert final.status == "done"


def test_new_run_form_passes_rating_only() -> None:
    from vlmrate.tui.screens.new_run import config_from_form

    base = RunConfig(dataset=Path("x"))
    assert config_from_form({"dataset": "d", "rating_only": True}, base).rating_only
    assert not config_from_form({"dataset": "d"}, base).rating_only


def test_new_run_projection_follows_rating_only(tmp_path: Path) -> None:
    from vlmrate.tui.screens.new_run import projection_text

    make_dataset(tmp_path)
    values = {"dataset": str(tmp_path / "data"), "model": "llava-hf/llava-v1.6-vicuna-13b-hf"}
    full = projection_text(values, PROMPTS)
    fast = projection_text({**values, "rating_only": True}, PROMPTS)
    assert full.startswith("projection:") and fast.startswith("projection:")
    # 4 images x 3 aspects: the study's 10 repeats, or rating-only's one
    assert "120 answers" in full and "12 answers" in fast
