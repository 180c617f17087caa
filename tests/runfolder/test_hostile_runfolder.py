"""Hostile run folders and names (issue 23 items 1 and 2): `vlmrate merge` follows the
run-name rule, writes through a temp folder inside the runs folder and never removes what
it did not create; a kill -9 leaves nothing in the way of the next attempt; a run whose
files are symbolic links to files elsewhere is refused with one line and those files stay
as they were. Each parametrized case is one hostile input tried."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import PROMPTS, ScriptedEngine, make_dataset
from vlmrate.cli import main
from vlmrate.errors import UserError
from vlmrate.runfolder.settings import RunConfig
from vlmrate.runfolder.store import (
    HEARTBEAT,
    HUMAN,
    LOCK,
    LOG,
    MANIFEST,
    RATINGS,
    REVIEW,
    TORN,
    list_runs,
    read_ratings,
    save_review,
)
from vlmrate.running.runner import Runner

ROOT = Path(__file__).resolve().parents[2]


def _rate(root: Path, name: str, **overrides: object) -> Path:
    config = RunConfig(dataset=root / "data", run_name=name, runs_dir=root / "runs",
                       prompts_dir=PROMPTS, repeats=1, model="scripted", **overrides)
    final = asyncio.run(Runner(config, engine_factory=lambda c, s, log: ScriptedEngine()).run())
    assert final.status == "done"
    return root / "runs" / name


def _tree(root: Path) -> dict[str, str]:
    """Every path under root with a digest of its bytes (a link: its target)."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            found[rel] = "-> " + os.readlink(path)
        elif path.is_file():
            found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            found[rel] = "dir"
    return found


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("merge")
    make_dataset(root, 4)
    _rate(root, "s0", shard=(0, 2))
    _rate(root, "s1", shard=(1, 2))
    (root / "notes.txt").write_text("my notes\n")
    return root


BAD_NAMES = ["", ".", "..", "../x", "../../y", "ABSOLUTE", "a b", "a/b", "s0/..",
             "~x", "x\n", "a" * 300, "\x1b]0;x\x07"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_merge_refuses_a_name_outside_the_rule(shards: Path, name: str,
                                               capsys: pytest.CaptureFixture) -> None:
    absolute = shards.parent / f"{shards.name}-absolute-run"  # outside the project
    name = str(absolute) if name == "ABSOLUTE" else name
    before = _tree(shards)
    code = main(["merge", "s0", "s1", "--run", name, "--runs-dir", str(shards / "runs")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("vlmrate: error: ") and err.count("\n") == 1, err
    assert _tree(shards) == before
    assert not absolute.exists()


@pytest.mark.parametrize("taken", [MANIFEST, RATINGS, HUMAN, REVIEW, "link", "file"])
def test_merge_leaves_an_existing_target_alone(shards: Path, taken: str,
                                               capsys: pytest.CaptureFixture) -> None:
    target = shards / "runs" / "taken"
    if taken == "link":
        target.symlink_to(shards)
    elif taken == "file":
        target.write_text("a file\n")
    else:
        target.mkdir()
        (target / taken).write_text("mine\n")
    before = _tree(shards)
    try:
        code = main(["merge", "s0", "s1", "--run", "taken", "--runs-dir", str(shards / "runs")])
        assert code == 2 and "vlmrate: error:" in capsys.readouterr().err
        assert _tree(shards) == before
    finally:
        if target.is_symlink() or target.is_file():
            target.unlink()
        else:
            for child in target.iterdir():
                child.unlink()
            target.rmdir()


def _merge_in_child(root: Path, name: str, setup: str) -> subprocess.CompletedProcess:
    code = (f"import os, resource, signal, sys\n{setup}\n"
            f"from vlmrate.cli import main\n"
            f"sys.exit(main(['merge', 's0', 's1', '--run', {name!r}, '--runs-dir', "
            f"{str(root / 'runs')!r}]))\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120, check=False)


def test_merge_on_a_full_disk_removes_only_its_own_files(shards: Path) -> None:
    target = shards / "runs" / "full"
    target.mkdir()
    (target / "notes.md").write_text("the PI's notes\n")
    before = _tree(shards)
    done = _merge_in_child(shards, "full", "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
                           "resource.setrlimit(resource.RLIMIT_FSIZE, (200, 200))")
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "None" not in done.stderr, done.stderr
    assert "cannot write the run (File too large" in done.stderr
    assert _tree(shards) == before  # the notes stay; no temp folder is left behind


def test_merge_killed_before_the_move_blocks_nothing(shards: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    done = _merge_in_child(shards, "killed", "os.rename = lambda *a: os.kill(os.getpid(), 9)")
    assert done.returncode == -9
    assert not (shards / "runs" / "killed").exists()
    assert "killed" not in [r["name"] for r in list_runs(shards / "runs")]
    assert main(["merge", "s0", "s1", "--run", "killed", "--runs-dir",
                 str(shards / "runs")]) == 0
    assert read_ratings(shards / "runs" / "killed").height == 12
    capsys.readouterr()


# --- symbolic links inside a run folder ------------------------------------------------

LINKED = [LOCK, HUMAN, RATINGS, MANIFEST, REVIEW, TORN, LOG, HEARTBEAT]


@pytest.mark.parametrize("name", LINKED)
def test_resume_refuses_a_run_file_that_is_a_link(tmp_path: Path, name: str) -> None:
    make_dataset(tmp_path, 3)
    run_dir = _rate(tmp_path, "copied", limit=2)
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"precious\n")
    if (run_dir / name).exists():
        (run_dir / name).unlink()
    (run_dir / name).symlink_to(outside)
    before = _tree(tmp_path)
    config = RunConfig(dataset=tmp_path / "data", run_name="copied",
                       runs_dir=tmp_path / "runs", prompts_dir=PROMPTS, repeats=1,
                       model="scripted", limit=2)
    with pytest.raises(UserError, match="is a symbolic link: vlmrate writes only regular"):
        asyncio.run(Runner(config, engine_factory=lambda c, s, log: ScriptedEngine()).run())
    assert outside.read_bytes() == b"precious\n"
    assert _tree(tmp_path) == before


def test_a_run_folder_that_is_a_link_is_not_written(tmp_path: Path) -> None:
    make_dataset(tmp_path, 2)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "linked").symlink_to(elsewhere)
    config = RunConfig(dataset=tmp_path / "data", run_name="linked",
                       runs_dir=tmp_path / "runs", prompts_dir=PROMPTS, repeats=1,
                       model="scripted")
    with pytest.raises(UserError, match="is a symbolic link: a run folder is a folder"):
        asyncio.run(Runner(config, engine_factory=lambda c, s, log: ScriptedEngine()).run())
    assert list(elsewhere.iterdir()) == []


def test_a_note_never_writes_through_a_link(tmp_path: Path) -> None:
    make_dataset(tmp_path, 2)
    run_dir = _rate(tmp_path, "r")
    outside = tmp_path / "outside.json"
    outside.write_text('{"version": 1, "cases": {}}')
    (run_dir / REVIEW).symlink_to(outside)
    with pytest.raises(UserError, match="symbolic link"):
        save_review(run_dir, "pic001", "relevance", note="hi")
    assert outside.read_text() == '{"version": 1, "cases": {}}'


def test_export_replaces_a_linked_workbook_and_leaves_its_target(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    make_dataset(tmp_path, 2)
    run_dir = _rate(tmp_path, "r")
    outside = tmp_path / "outside.xlsx"
    outside.write_bytes(b"precious")
    (run_dir / "r.xlsx").symlink_to(outside)
    for stale in (run_dir / f".r.xlsx.{os.getpid()}.tmp",):
        stale.symlink_to(tmp_path / "other.bin")
    assert main(["export", "r", "--runs-dir", str(tmp_path / "runs")]) == 2
    assert "symbolic link" in capsys.readouterr().err
    assert outside.read_bytes() == b"precious" and not (tmp_path / "other.bin").exists()


# --- merge: what the parts say about themselves (items 5 and 7) ---------------------------

@pytest.mark.parametrize(("field", "value"), [
    ("study", "x"), ("study.aspects", [1, 2]), ("total_jobs", "many"), ("sampling", [1]),
    ("dataset", "data"), ("model", 5), ("human", "yes"), ("study.scale", "1..9"),
])
def test_merge_refuses_a_part_with_a_broken_manifest(shards: Path, field: str, value: object,
                                                     capsys: pytest.CaptureFixture) -> None:
    import json
    import shutil

    runs = shards / "runs"
    broken = runs / "broken"
    shutil.copytree(runs / "s1", broken)
    manifest = json.loads((broken / MANIFEST).read_text())
    if "." in field:
        outer, inner = field.split(".")
        manifest[outer][inner] = value
    else:
        manifest[field] = value
    (broken / MANIFEST).write_text(json.dumps(manifest))
    try:
        before = _tree(shards)
        code = main(["merge", "s0", "broken", "--run", "m", "--runs-dir", str(runs)])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
        assert "broken" in err and MANIFEST in err
        assert _tree(shards) == before
    finally:
        shutil.rmtree(broken)


def test_merge_of_an_incomplete_shard_set_says_so(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    make_dataset(tmp_path, 8)
    _rate(tmp_path, "q0", shard=(0, 4))
    _rate(tmp_path, "q1", shard=(1, 4))
    assert main(["merge", "q0", "q1", "--run", "half", "--runs-dir",
                 str(tmp_path / "runs")]) == 0
    err = capsys.readouterr().err
    assert "incomplete: shards 2/4, 3/4 not merged" in err
    manifest = json.loads((tmp_path / "runs" / "half" / MANIFEST).read_text())
    assert manifest["status"] == "failed" and "2/4, 3/4" in manifest["error"]
    assert manifest["total_jobs"] == 8 * 3 * 1  # the whole set's plan: it reads as partial
    assert main(["stats", "half", "--runs-dir", str(tmp_path / "runs")]) == 0
    assert "partial: 12 of 24 answers" in capsys.readouterr().out
    _rate(tmp_path, "q2", shard=(2, 4))
    _rate(tmp_path, "q3", shard=(3, 4))
    assert main(["merge", "q0", "q1", "q2", "q3", "--run", "all", "--runs-dir",
                 str(tmp_path / "runs")]) == 0
    manifest = json.loads((tmp_path / "runs" / "all" / MANIFEST).read_text())
    assert manifest["status"] == "done" and "error" not in manifest
    capsys.readouterr()


@pytest.mark.parametrize("other", ["another dataset", "another split"])
def test_merge_refuses_shards_of_two_datasets(tmp_path: Path, other: str,
                                              capsys: pytest.CaptureFixture) -> None:
    make_dataset(tmp_path, 4)
    _rate(tmp_path, "a0", shard=(0, 2))
    if other == "another dataset":
        elsewhere = tmp_path / "elsewhere"
        make_dataset(elsewhere, 6)
        config = RunConfig(dataset=elsewhere / "data", run_name="b1",
                           runs_dir=tmp_path / "runs", prompts_dir=PROMPTS, repeats=1,
                           model="scripted", shard=(1, 2))
        asyncio.run(Runner(config, engine_factory=lambda c, s, log: ScriptedEngine()).run())
    else:
        _rate(tmp_path, "b1", shard=(1, 3))
    code = main(["merge", "a0", "b1", "--run", "m", "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and "not parts of one study" in err
    assert not (tmp_path / "runs" / "m").exists()


@pytest.mark.parametrize("name", LINKED)
def test_the_cli_resume_of_a_copied_run_with_links(tmp_path: Path, name: str,
                                                    capsys: pytest.CaptureFixture) -> None:
    """The same through `vlmrate run` against a local OpenAI-compatible server: one line,
    exit 2, the file outside and the run folder unchanged."""
    from tests.engines.conftest import MODEL, FakeServer

    make_dataset(tmp_path, 3)
    server = FakeServer()
    argv = ["run", str(tmp_path / "data"), "--engine", "openai", "--base-url", server.url,
            "--model", MODEL, "--run", "copied", "--runs-dir", str(tmp_path / "runs"),
            "--prompts", str(PROMPTS / "reference"), "--repeats", "1", "--limit", "2"]
    try:
        assert main(argv) == 0
        run_dir = tmp_path / "runs" / "copied"
        outside = tmp_path / "outside.txt"
        outside.write_bytes(b"precious\n")
        if os.path.lexists(run_dir / name):
            (run_dir / name).unlink()
        (run_dir / name).symlink_to(outside)
        before = _tree(tmp_path)
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "is a symbolic link" in err, err
        assert outside.read_bytes() == b"precious\n" and _tree(tmp_path) == before
    finally:
        server.kill()


@pytest.mark.parametrize("name", [RATINGS, LOCK])
def test_a_file_hard_linked_elsewhere_is_not_written_in_place(tmp_path: Path,
                                                              name: str) -> None:
    make_dataset(tmp_path, 3)
    run_dir = _rate(tmp_path, "linked", limit=2)
    keep_only = (run_dir / RATINGS).read_bytes().splitlines(keepends=True)[:2]
    (run_dir / RATINGS).write_bytes(b"".join(keep_only))  # interrupted: work to do
    backup = tmp_path / "backup.bin"
    os.link(run_dir / name, backup)
    before = backup.read_bytes()
    config = RunConfig(dataset=tmp_path / "data", run_name="linked",
                       runs_dir=tmp_path / "runs", prompts_dir=PROMPTS, repeats=1,
                       model="scripted", limit=2)
    with pytest.raises(UserError, match="has another name"):
        asyncio.run(Runner(config, engine_factory=lambda c, s, log: ScriptedEngine()).run())
    assert backup.read_bytes() == before
