"""Damaged runs as the readers meet them (issue 23 item 12): a corrupt human.parquet is
named as the reason, by the run's own folder name; merge, compare and export --compare
warn about what they left out as stats does; a merged run is not resumed over its record;
the Case page of a merged run finds its parts' images. Each parametrized case is one
hostile input tried."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from tests.helpers import PROMPTS, ScriptedEngine, make_dataset
from vlmrate.cli import main
from vlmrate.runfolder.settings import RunConfig
from vlmrate.runfolder.store import HUMAN, MANIFEST, RATINGS, read_manifest
from vlmrate.running.runner import Runner


def _rate(root: Path, name: str, **overrides: object) -> Path:
    config = RunConfig(dataset=root / "data", run_name=name, runs_dir=root / "runs",
                       prompts_dir=PROMPTS, repeats=2, model="scripted", **overrides)
    asyncio.run(Runner(config, engine_factory=lambda c, s, log: ScriptedEngine()).run())
    return root / "runs" / name


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("damaged")
    make_dataset(root, 6)
    _rate(root, "s0", shard=(0, 2))
    _rate(root, "s1", shard=(1, 2))
    _rate(root, "full")
    return root


@pytest.mark.parametrize("damage", [b"", b"PAR1 not parquet", b"\x00" * 64])
def test_a_corrupt_human_parquet_is_named_with_the_copy_s_own_name(
        project: Path, damage: bytes, capsys: pytest.CaptureFixture) -> None:
    copy = project / "runs" / "s0-copy"
    shutil.copytree(project / "runs" / "s0", copy)
    (copy / HUMAN).write_bytes(damage)
    try:
        for argv in (["stats", "s0-copy"], ["compare", "s0-copy", "full"],
                     ["export", "--compare", "s0-copy", "full", "-o",
                      str(project / "c.xlsx")]):
            assert main([*argv, "--runs-dir", str(project / "runs")]) == 2
            err = capsys.readouterr().err
            assert "run s0-copy has no human ratings (human.parquet: unreadable" in err, err
            assert err.count("\n") == 1
    finally:
        shutil.rmtree(copy)


@pytest.mark.parametrize("command", ["merge", "compare", "export-compare"])
def test_broken_records_are_warned_about(project: Path, command: str,
                                         capsys: pytest.CaptureFixture) -> None:
    broken = project / "runs" / "s1-broken"
    shutil.copytree(project / "runs" / "s1", broken)
    with open(broken / RATINGS, "ab") as handle:
        handle.write(b'{"image_id": 5}\n[1, 2]\nnot json\n')
    runs = ["--runs-dir", str(project / "runs")]
    try:
        if command == "merge":
            argv = ["merge", "s0", "s1-broken", "--run", "m-broken"]
        elif command == "compare":
            argv = ["compare", "s1-broken", "full"]
        else:
            argv = ["export", "--compare", "s1-broken", "full", "-o", str(project / "w.xlsx")]
        assert main([*argv, *runs]) == 0
        err = capsys.readouterr().err
        assert "vlmrate: warning: run s1-broken: ratings.jsonl: 3 lines that are not a " \
               "rating record" in err, err
    finally:
        shutil.rmtree(broken)
        shutil.rmtree(project / "runs" / "m-broken", ignore_errors=True)


def test_resuming_a_merged_run_keeps_where_it_came_from(project: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    runs = project / "runs"
    assert main(["merge", "s0", "s1", "--run", "merged2", "--runs-dir", str(runs)]) == 0
    before = read_manifest(runs / "merged2")
    config = RunConfig(dataset=project / "data", run_name="merged2", runs_dir=runs,
                       prompts_dir=PROMPTS, repeats=2, model="scripted")
    final = asyncio.run(Runner(config, engine_factory=lambda c, s, log: ScriptedEngine()
                               ).run())
    assert final.status == "done"
    after = read_manifest(runs / "merged2")
    assert after["merged_from"] == before["merged_from"]
    assert after["dataset"]["parts"] == before["dataset"]["parts"]
    assert after["resumed"]
    capsys.readouterr()


def test_the_case_page_of_a_merged_run_finds_the_images(project: Path) -> None:
    from vlmrate.tui.data import load_run_data

    if not (project / "runs" / "merged").exists():
        assert main(["merge", "s0", "s1", "--run", "merged", "--runs-dir",
                     str(project / "runs")]) == 0
    data = load_run_data(project / "runs" / "merged")
    assert data.images_note == ""
    assert data.image_path("pic001") == project / "data" / "images" / "pic001.png"
    assert data.image_path("pic006") is not None
    manifest = json.loads((project / "runs" / "merged" / MANIFEST).read_text())
    assert manifest["dataset"]["path"] is None


SHARED_BAD = [["--bound", "nan"], ["--bound", "inf"], ["--bound", "-1"], ["--bound", "0"],
              ["--alpha", "0.7"], ["--alpha", "nan"], ["--alpha", "0"]]
COMPARE_BAD = [["--aspect", ""], ["--aspect", "  "], ["--seed", "-1"], ["--width", "0"],
               ["--width", "x"]]
CASES = ([("compare", e) for e in SHARED_BAD + COMPARE_BAD]
         + [("export-compare", e) for e in SHARED_BAD])


@pytest.mark.parametrize(("command", "extra"), CASES)
def test_compare_options_get_the_checks_stats_gets(project: Path, extra: list[str],
                                                   command: str,
                                                   capsys: pytest.CaptureFixture) -> None:
    if command == "compare":
        argv = ["compare", "s0", "full", *extra]
    else:
        argv = ["export", "--compare", "s0", "full", "-o", str(project / "x.xlsx"), *extra]
    assert main([*argv, "--runs-dir", str(project / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vlmrate: error:") and err.count("\n") == 1, err
    assert not (project / "x.xlsx").exists()
