"""The runner's planning, resume, bad-image isolation and control, with a scripted engine.

The engine here is a small in-test implementation of the Engine protocol that answers
from the seed; the real vLLM and HTTP engines are exercised in tests/e2e and
tests/engines.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ScriptedEngine, keep_only_images, make_dataset, runner_for
from vlmrate.engines.base import SamplingConfig
from vlmrate.errors import UserError
from vlmrate.runfolder.store import read_manifest, read_ratings


def test_full_run_image_major(tmp_path: Path) -> None:
    make_dataset(tmp_path)
    engine = ScriptedEngine()
    events = []
    runner = runner_for(tmp_path, engine)
    runner.on_progress = events.append
    final = asyncio.run(runner.run())
    assert final.status == "done" and final.done == final.total == 4 * 3 * 2
    # every request of an image is submitted before the next image's
    image_order = [key[0] for key in engine.order]
    assert image_order == sorted(image_order)
    frame = read_ratings(tmp_path / "runs/r")
    assert frame.height == 24 and frame["rating"].null_count() == 0
    assert read_manifest(tmp_path / "runs/r")["status"] == "done"
    assert engine.closed
    assert events[-1].per_aspect == {"relevance": (8, 8), "arousal": (8, 8), "valence": (8, 8)}
    # each record reaches the listener once (the start and end reports carry none)
    reported = [(e.last_record["image_id"], e.last_record["aspect"], e.last_record["repeat"])
                for e in events if e.last_record is not None]
    assert sorted(reported) == sorted(engine.order) and len(set(reported)) == 24
    assert events[-1].status == "done" and events[-1].last_record is None
    human = json.loads((tmp_path / "runs/r/manifest.json").read_text())["human"]
    assert human["column_map"]["id"] == "image"


def test_resume_skips_finished_and_matches_uninterrupted(tmp_path: Path) -> None:
    make_dataset(tmp_path)
    asyncio.run(runner_for(tmp_path, ScriptedEngine()).run())
    # as a run interrupted after its first two images leaves it (the selection is the
    # run's: a resume rates the same images, issue 23 item 6)
    path = tmp_path / "runs/r/ratings.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    partial = b"".join(line for line in lines if b'"pic001"' in line or b'"pic002"' in line)
    path.write_bytes(partial)
    second = ScriptedEngine()
    final = asyncio.run(runner_for(tmp_path, second).run())
    assert final.status == "done"
    assert len(second.order) == 2 * 3 * 2  # only the two new images
    data = (tmp_path / "runs/r/ratings.jsonl").read_bytes()
    assert data.startswith(partial)
    resumed = read_ratings(tmp_path / "runs/r").sort(["image_id", "aspect", "repeat"])
    (tmp_path / "other").mkdir()
    make_dataset(tmp_path / "other")
    asyncio.run(runner_for(tmp_path / "other", ScriptedEngine()).run())
    straight = read_ratings(tmp_path / "other/runs/r").sort(["image_id", "aspect", "repeat"])
    cols = ["image_id", "aspect", "repeat", "seed", "rating", "raw"]
    assert resumed.select(cols).equals(straight.select(cols))


def test_resume_refuses_changed_settings(tmp_path: Path) -> None:
    make_dataset(tmp_path)
    asyncio.run(runner_for(tmp_path, ScriptedEngine(), limit=1).run())
    with pytest.raises(UserError, match=r"other settings: temperature: was 0\.\d+, now 0\.9\."):
        runner_for(tmp_path, ScriptedEngine(), temperature=0.9, limit=1).prepare()
    # every difference is named with both values
    with pytest.raises(UserError) as caught:
        runner_for(tmp_path, ScriptedEngine(), model="other", max_tokens=7, seed=5,
                   limit=1).prepare()
    message = str(caught.value)
    assert "model: was 'scripted', now 'other'" in message and "\n" not in message
    assert "max tokens: was" in message and "now 7" in message
    assert "seed: was 0, now 5" in message


def test_bad_image_becomes_error_records(tmp_path: Path) -> None:
    data = make_dataset(tmp_path)
    (data / "images" / "pic002.png").write_text("not an image")
    final = asyncio.run(runner_for(tmp_path, ScriptedEngine()).run())
    frame = read_ratings(tmp_path / "runs/r")
    bad = frame.filter(image_id="pic002")
    assert bad.height == 6 and bad["engine_error"].str.contains("pic002.png").all()
    assert frame.filter(image_id="pic003")["rating"].null_count() == 0
    assert final.engine_errors == 6 and final.status == "done"


def test_parse_failures_counted(tmp_path: Path) -> None:
    make_dataset(tmp_path)
    final = asyncio.run(runner_for(tmp_path, ScriptedEngine(fail_every=4)).run())
    frame = read_ratings(tmp_path / "runs/r")
    assert final.parse_failures == 6 == frame["parse_error"].is_not_null().sum()
    assert set(frame["parse_error"].drop_nulls()) == {"no_rating"}


def test_a_resume_counts_the_parse_failures_on_disk(tmp_path: Path) -> None:
    """The counters are the run's: after a resume the panel's parse failures include
    those of the earlier session (294 on disk showed as 0)."""
    make_dataset(tmp_path, n=6)
    runner = runner_for(tmp_path, ScriptedEngine(fail_every=4, delay_s=0.01))

    def stop_early(progress: Any) -> None:
        if progress.done == 12:
            runner.cancel()

    runner.on_progress = stop_early
    assert asyncio.run(runner.run()).status == "cancelled"
    on_disk = int(read_ratings(tmp_path / "runs/r")["parse_error"].is_not_null().sum())
    assert on_disk > 0
    resumed = runner_for(tmp_path, ScriptedEngine())  # this session parses every answer
    first: list[Any] = []
    resumed.on_progress = lambda p: first.append(p) if not first else None
    final = asyncio.run(resumed.run())
    assert first[0].parse_failures == on_disk  # from the first report on
    assert final.parse_failures == on_disk == int(
        read_ratings(tmp_path / "runs/r")["parse_error"].is_not_null().sum())


def test_cancel_keeps_what_was_written(tmp_path: Path) -> None:
    make_dataset(tmp_path, n=6)
    engine = ScriptedEngine(delay_s=0.01)
    runner = runner_for(tmp_path, engine)

    def stop_early(progress: Any) -> None:
        if progress.done == 5:
            runner.cancel()

    runner.on_progress = stop_early
    final = asyncio.run(runner.run())
    assert final.status == "cancelled"
    assert 5 <= read_ratings(tmp_path / "runs/r").height < 36
    assert read_manifest(tmp_path / "runs/r")["status"] == "cancelled"
    final = asyncio.run(runner_for(tmp_path, ScriptedEngine()).run())
    assert final.status == "done" and read_ratings(tmp_path / "runs/r").height == 36


def test_missing_dataset_is_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such folder"):
        runner_for(tmp_path, ScriptedEngine()).prepare()


def test_sampling_from_study_defaults(tmp_path: Path) -> None:
    make_dataset(tmp_path)
    runner = runner_for(tmp_path, ScriptedEngine())
    runner.prepare()
    assert runner.sampling == SamplingConfig(temperature=0.3, top_p=1.0, max_tokens=320)


def test_engine_options_checked_before_anything_is_written(tmp_path: Path) -> None:
    make_dataset(tmp_path)
    from tests.helpers import PROMPTS
    from vlmrate.runfolder.settings import RunConfig
    from vlmrate.running.runner import Runner

    def config(engine: str) -> RunConfig:
        return RunConfig(dataset=tmp_path / "data", run_name="r", runs_dir=tmp_path / "runs",
                         prompts_dir=PROMPTS, engine=engine)

    with pytest.raises(UserError, match="needs a base URL"):
        Runner(config("openai")).prepare()
    with pytest.raises(UserError, match="unknown engine"):
        Runner(config("tgi")).prepare()
    assert not (tmp_path / "runs").exists()


def test_wall_time_adds_up_over_sessions(tmp_path: Path) -> None:
    make_dataset(tmp_path)
    asyncio.run(runner_for(tmp_path, ScriptedEngine(delay_s=0.01), limit=2).run())
    first = read_manifest(tmp_path / "runs/r")["wall_s"]
    assert first >= 2 * 3 * 2 * 0.01
    keep_only_images(tmp_path / "runs/r", ["pic001"])
    asyncio.run(runner_for(tmp_path, ScriptedEngine(delay_s=0.01), limit=2).run())
    assert read_manifest(tmp_path / "runs/r")["wall_s"] >= first + 1 * 3 * 2 * 0.01


def test_a_limited_run_does_not_blame_the_human_sheet(tmp_path: Path) -> None:
    """--limit rates the first images; the sheet's rows for the others are not "sheet rows
    with no image" (they have one): the manifest records no such warning."""
    make_dataset(tmp_path, n=6)
    asyncio.run(runner_for(tmp_path, ScriptedEngine(), limit=2).run())
    human = read_manifest(tmp_path / "runs/r")["human"]
    assert not any("have no image" in w for w in human["warnings"]), human["warnings"]


def test_resume_on_other_images_is_refused(tmp_path: Path) -> None:
    """The same --run over another dataset folder (or the same folder with images added)
    would mix two image sets in one ratings.jsonl: refused, naming both, nothing changed."""
    make_dataset(tmp_path, n=3)
    asyncio.run(runner_for(tmp_path, ScriptedEngine()).run())
    run_dir = tmp_path / "runs/r"
    before = (run_dir / "ratings.jsonl").read_bytes(), (run_dir / "manifest.json").read_bytes()
    other = tmp_path / "other"
    make_dataset(other, n=4)
    with pytest.raises(UserError, match=r"dataset: was .*data \(3 images\), now .*other/data "
                                        r"\(4 images\), other images"):
        runner_for(tmp_path, ScriptedEngine(), dataset=other / "data").prepare()
    from PIL import Image  # the same folder with one image more

    Image.new("RGB", (16, 12), (9, 9, 9)).save(tmp_path / "data/images/pic099.png")
    with pytest.raises(UserError, match="other images"):
        runner_for(tmp_path, ScriptedEngine()).prepare()
    assert ((run_dir / "ratings.jsonl").read_bytes(), (run_dir / "manifest.json").read_bytes()
            ) == before
