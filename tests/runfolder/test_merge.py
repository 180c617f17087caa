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
from vlmrate.runfolder.merge import merge_runs
from vlmrate.runfolder.settings import RunConfig
from vlmrate.runfolder.store import (
    read_human,
    read_manifest,
    read_ratings,
    read_review,
    save_review,
)
from vlmrate.running.runner import Runner

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
    """Two shards of one study, as two tasks of a Slurm array rate it (--shard K/2)."""
    make_dataset(tmp_path, 6)
    rate(tmp_path, tmp_path / "data", "s0", shard=(0, 2))
    rate(tmp_path, tmp_path / "data", "s1", shard=(1, 2))
    return tmp_path


def test_shards_split_the_images_between_them(study: Path) -> None:
    ids = [set(read_ratings(study / "runs" / s)["image_id"]) for s in ("s0", "s1")]
    assert ids == [{"pic001", "pic003", "pic005"}, {"pic002", "pic004", "pic006"}]
    assert read_manifest(study / "runs" / "s1")["dataset"]["shard"] == [1, 2]
    assert not read_manifest(study / "runs" / "s1")["human"]["warnings"]  # whole sheet matched


def test_shards_of_copied_folders_merge_too(tmp_path: Path) -> None:
    make_dataset(tmp_path, 4)
    rate(tmp_path, shard(tmp_path, "part0", range(1, 3)), "c0")
    rate(tmp_path, shard(tmp_path, "part1", range(3, 5)), "c1")
    merged = merge_runs(["c0", "c1"], "all", tmp_path / "runs")
    straight = rate(tmp_path, tmp_path / "data", "straight")
    assert read_ratings(merged).sort(KEY).select(SAME).equals(
        read_ratings(straight).sort(KEY).select(SAME))
    assert read_human(merged).sort(["image_id", "aspect"]).equals(
        read_human(straight).sort(["image_id", "aspect"]))


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
    rate(study, study / "data", "s0-again", shard=(0, 2))
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


@pytest.mark.parametrize("shard", ["2/2", "1", "a/b", "0/0"])
def test_a_bad_shard_is_one_line(shard: str, tmp_path: Path,
                                 capsys: pytest.CaptureFixture) -> None:
    make_dataset(tmp_path, 2)
    code = main(["run", str(tmp_path / "data"), "--shard", shard, "--run", "x",
                 "--runs-dir", str(tmp_path / "runs"), "--model", "m",
                 "--prompts", str(PROMPTS / "reference")])
    err = capsys.readouterr().err
    assert code == 2 and "shard" in err and "Traceback" not in err
    assert not (tmp_path / "runs" / "x").exists()
