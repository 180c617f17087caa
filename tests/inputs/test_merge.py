"""`vlmrate merge`: shards of one study join into the run an unsharded run would have
written; overlapping keys and different settings are refused with nothing written."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from tests.helpers import PROMPTS, ScriptedEngine, make_dataset
from vlmrate.cli import main
from vlmrate.errors import UserError
from vlmrate.merge import merge_runs
from vlmrate.runner import Runner
from vlmrate.settings import RunConfig
from vlmrate.store import read_human, read_manifest, read_ratings, read_review, save_review

KEY = ["image_id", "aspect", "repeat"]
SAME = [*KEY, "seed", "rating", "reason", "raw", "engine_error"]


def shard(tmp_path: Path, name: str, numbers: range) -> Path:
    """A dataset folder holding some of the study's images and the whole human sheet."""
    folder = tmp_path / name / "images"
    folder.mkdir(parents=True)
    for i in numbers:
        shutil.copy(tmp_path / "data" / "images" / f"pic{i:03d}.png", folder)
    shutil.copy(tmp_path / "data" / "human.csv", tmp_path / name)
    return tmp_path / name


def rate(tmp_path: Path, dataset: Path, name: str, **overrides: object) -> Path:
    settings: dict = {"repeats": 2, "model": "scripted", **overrides}
    config = RunConfig(dataset=dataset, run_name=name, runs_dir=tmp_path / "runs",
                       prompts_dir=PROMPTS, **settings)
    final = asyncio.run(Runner(config, engine_factory=lambda c, s, log: ScriptedEngine()).run())
    assert final.status == "done"
    return tmp_path / "runs" / name


@pytest.fixture
def study(tmp_path: Path) -> Path:
    make_dataset(tmp_path, 6)
    rate(tmp_path, shard(tmp_path, "part0", range(1, 4)), "s0")
    rate(tmp_path, shard(tmp_path, "part1", range(4, 7)), "s1")
    return tmp_path


def test_shards_merge_into_the_unsharded_run(study: Path) -> None:
    save_review(study / "runs" / "s1", "pic005", "arousal", flagged=True, note="odd")
    merged = merge_runs(["s0", "s1"], "all", study / "runs")
    straight = rate(study, study / "data", "straight")
    got = read_ratings(merged).sort(KEY).select(SAME)
    want = read_ratings(straight).sort(KEY).select(SAME)
    assert got.height == 6 * 3 * 2 and got.equals(want)
    assert read_human(merged).sort(["image_id", "aspect"]).equals(
        read_human(straight).sort(["image_id", "aspect"]))
    manifest = read_manifest(merged)
    assert manifest["status"] == "done" and manifest["total_jobs"] == 36
    assert [p["name"] for p in manifest["merged_from"]] == ["s0", "s1"]
    assert manifest["sampling"] == read_manifest(straight)["sampling"]
    assert read_review(merged)["pic005"]["arousal"]["note"] == "odd"


def test_overlapping_runs_are_refused(study: Path, capsys: pytest.CaptureFixture) -> None:
    rate(study, study / "part0", "s0-again")
    code = main(["merge", "s0", "s1", "s0-again", "--run", "all",
                 "--runs-dir", str(study / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "the runs overlap: 18 (image, aspect, repeat) keys are in more than one run" in err
    assert "in s0, s0-again" in err
    assert not (study / "runs" / "all").exists()


def test_runs_with_different_settings_are_refused(study: Path) -> None:
    rate(study, shard(study, "part2", range(1, 2)), "hot", temperature=1.2)
    with pytest.raises(UserError, match="differ in sampling: they are not parts of one study"):
        merge_runs(["s0", "hot"], "all", study / "runs")
    rate(study, shard(study, "part3", range(2, 3)), "other-model", model="another")
    with pytest.raises(UserError, match="differ in model"):
        merge_runs(["s1", "other-model"], "all", study / "runs")
    assert not (study / "runs" / "all").exists()


def test_merge_refuses_an_existing_target_and_a_single_run(study: Path) -> None:
    with pytest.raises(UserError, match="already exists"):
        merge_runs(["s0", "s1"], "s0", study / "runs")
    with pytest.raises(UserError, match="two runs or more"):
        merge_runs(["s0"], "x", study / "runs")
