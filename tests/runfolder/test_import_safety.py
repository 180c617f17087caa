"""`vlmrate import` never deletes what it did not create (issue 17 item 1): it writes into
a temp folder inside the runs folder and moves the files in at the end; a full or
read-only disk is one error line (exit 2) and every file that was there stays."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from tests.runfolder.test_import import write_human, write_long
from tests.tmpfs import remount, small_tmpfs
from vlmrate.cli import main


def _inputs(tmp_path: Path, n_images: int = 137) -> tuple[Path, Path]:
    write_long(tmp_path / "long.csv", n_images=n_images)
    write_human(tmp_path / "human.csv", n_images)
    return tmp_path / "long.csv", tmp_path / "human.csv"


def _import(ratings: Path, human: Path, runs: Path, name: str) -> list[str]:
    return ["import", str(ratings), "--human", str(human), "--run", name,
            "--runs-dir", str(runs)]


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def _populate(runs: Path) -> None:
    """A run folder with the user's notes only, another run, and a user file."""
    (runs / "myrun").mkdir(parents=True)
    (runs / "myrun" / "notes.txt").write_text("my notes about this study\n")
    (runs / "other").mkdir()
    (runs / "other" / "manifest.json").write_text('{"name": "other"}')
    (runs / "other" / "ratings.jsonl").write_text("")
    (runs / "todo.txt").write_text("user file\n")


def _one_line_error(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("name", ["myrun", "fresh"])
def test_full_disk_keeps_every_file(tmp_path: Path, capsys: pytest.CaptureFixture,
                                    name: str) -> None:
    ratings, human = _inputs(tmp_path)  # ~1.6 MB of records: more than the disk holds
    with small_tmpfs(tmp_path / "runs", size_kib=256) as runs:
        _populate(runs)
        before = _tree(runs)
        assert main(_import(ratings, human, runs, name)) == 2
        err = _one_line_error(capsys)
        assert "No space left on device" in err and "nothing that was there" in err
        assert _tree(runs) == before
        assert sorted(p.name for p in runs.iterdir()) == ["myrun", "other", "todo.txt"]


@pytest.mark.parametrize("name", ["myrun", "fresh"])
def test_failing_writer_keeps_every_file(tmp_path: Path, capsys: pytest.CaptureFixture,
                                         monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """The same promise where no tmpfs can be mounted: the manifest write fails."""
    import vlmrate.runfolder.importer

    def disk_full(run_dir: Path, manifest: dict) -> None:
        (run_dir / "manifest.json").write_text("{")  # a partial file, as a full disk leaves
        raise OSError(errno.ENOSPC, "No space left on device")

    ratings, human = _inputs(tmp_path, 5)
    runs = tmp_path / "runs"
    _populate(runs)
    before = _tree(runs)
    monkeypatch.setattr(vlmrate.runfolder.importer, "write_manifest", disk_full)
    assert main(_import(ratings, human, runs, name)) == 2
    assert "No space left on device" in _one_line_error(capsys)
    assert _tree(runs) == before
    assert sorted(p.name for p in runs.iterdir()) == ["myrun", "other", "todo.txt"]


def test_read_only_runs_folder_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ratings, human = _inputs(tmp_path, 5)
    with small_tmpfs(tmp_path / "runs", size_kib=256) as runs:
        _populate(runs)
        before = _tree(runs)
        remount(runs, "ro")
        assert main(_import(ratings, human, runs, "myrun")) == 2
        err = _one_line_error(capsys)
        assert "cannot create the run there (Read-only file system)" in err
        assert _tree(runs) == before


def test_unwritable_runs_folder_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The same where no read-only tmpfs can be mounted (root may write anywhere)."""
    real_mkdir = Path.mkdir

    def denied(self: Path, *args: object, **kwargs: object) -> None:
        if self.name.startswith(".import~"):
            raise PermissionError(errno.EACCES, "Permission denied")
        real_mkdir(self, *args, **kwargs)  # type: ignore[arg-type]

    ratings, human = _inputs(tmp_path, 5)
    monkeypatch.setattr(Path, "mkdir", denied)
    assert main(_import(ratings, human, tmp_path / "runs", "r")) == 2
    assert "cannot create the run there (Permission denied)" in _one_line_error(capsys)


def test_import_into_a_folder_with_notes_keeps_them(tmp_path: Path) -> None:
    ratings, human = _inputs(tmp_path, 5)
    runs = tmp_path / "runs"
    _populate(runs)
    assert main(_import(ratings, human, runs, "myrun")) == 0
    assert (runs / "myrun" / "notes.txt").read_text() == "my notes about this study\n"
    assert {p.name for p in (runs / "myrun").iterdir()} == \
        {"notes.txt", "manifest.json", "ratings.jsonl", "human.parquet"}
    assert not [p for p in runs.iterdir() if p.name.startswith(".import~")]


def test_folder_holding_a_run_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture
                                              ) -> None:
    ratings, human = _inputs(tmp_path, 5)
    runs = tmp_path / "runs"
    (runs / "half").mkdir(parents=True)
    (runs / "half" / "human.parquet").write_bytes(b"somebody's file")
    assert main(_import(ratings, human, runs, "half")) == 2
    assert "already exists (human.parquet)" in _one_line_error(capsys)
    assert (runs / "half" / "human.parquet").read_bytes() == b"somebody's file"
    assert [p.name for p in (runs / "half").iterdir()] == ["human.parquet"]


def test_an_import_being_written_is_not_listed(tmp_path: Path) -> None:
    """Its temp folder holds a manifest for a moment; '~' is no run-name character, so
    list_runs can skip it without hiding a run the rule allows (such as '.hidden')."""
    from vlmrate.runfolder.importer import STAGING_PREFIX
    from vlmrate.runfolder.settings import is_run_name
    from vlmrate.runfolder.store import list_runs

    ratings, human = _inputs(tmp_path, 3)
    runs = tmp_path / "runs"
    assert main(_import(ratings, human, runs, ".hidden")) == 0
    staging = runs / f"{STAGING_PREFIX}x~abc"
    staging.mkdir()
    (staging / "manifest.json").write_text('{"name": "x"}')
    assert not is_run_name(staging.name)
    assert [r["name"] for r in list_runs(runs)] == [".hidden"]


def test_imported_run_has_the_usual_permissions(tmp_path: Path) -> None:
    """Not tempfile.mkdtemp's 0700: other users of a shared server read runs as before."""
    import os
    import stat

    ratings, human = _inputs(tmp_path, 3)
    old = os.umask(0o022)
    try:
        assert main(_import(ratings, human, tmp_path / "runs", "shared")) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "runs" / "shared").stat().st_mode) == 0o755
