"""Awkward human sheets: read when they can be, one clear line (exit 2) when they can't."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
import xlsxwriter

from tests.helpers import make_dataset
from vlmrate.cli import main

HEADER = "image,relevance,arousal,valence"


def run_cli(tmp_path: Path, sheet: Path) -> list[str]:
    return ["run", str(tmp_path / "data"), "--human", str(sheet), "--run", "r",
            "--runs-dir", str(tmp_path / "runs"), "--prompts",
            str(Path(__file__).parents[2] / "prompts" / "reference")]


def prepare_only(tmp_path: Path, sheet: Path) -> dict:
    """Read a sheet the way `vlmrate run` does, without an engine."""
    from vlmrate.runfolder.settings import RunConfig
    from vlmrate.running.runner import Runner

    runner = Runner(RunConfig(dataset=tmp_path / "data", human=sheet, run_name="r",
                              runs_dir=tmp_path / "runs",
                              prompts_dir=Path(__file__).parents[2] / "prompts"))
    runner.prepare()
    assert runner.human is not None
    return {(r["image_id"], r["aspect"]): r["human_mean"]
            for r in runner.human.frame.iter_rows(named=True)}


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("semicolon.csv", "image;relevance;arousal;valence\npic1;7;4;3\npic2;2;5;6\n"),
        ("bom.csv", "\ufeff" + HEADER + "\npic1,7,4,3\npic2,2,5,6\n"),
        ("titles.csv", "Norms of the climate image set\n(c) 2019\n\n" + HEADER
         + "\npic1,7,4,3\npic2,2,5,6\n"),
        ("tabs.tsv", "image\trelevance\tarousal\tvalence\npic1\t7\t4\t3\npic2\t2\t5\t6\n"),
    ],
)
def test_sheet_variants_read(tmp_path: Path, name: str, content: str) -> None:
    make_dataset(tmp_path, 2)
    sheet = tmp_path / name
    sheet.write_text(content, encoding="utf-8")
    values = prepare_only(tmp_path, sheet)
    assert values[("pic001", "relevance")] == 7.0 and values[("pic002", "valence")] == 6.0


def test_latin1_sheet(tmp_path: Path) -> None:
    make_dataset(tmp_path, 2)
    sheet = tmp_path / "latin1.csv"
    sheet.write_bytes((HEADER + ",Beschreibung\npic1,7,4,3,Eisbär\npic2,2,5,6,Straße\n")
                      .encode("latin-1"))
    assert prepare_only(tmp_path, sheet)[("pic001", "arousal")] == 4.0


def _xlsx_with_formula(path: Path, cached: bool) -> None:
    if cached:
        book = xlsxwriter.Workbook(path)
        sheet = book.add_worksheet()
        sheet.write_row(0, 0, HEADER.split(","))
        sheet.write_row(1, 0, ["pic1", 7, 4])
        sheet.write_formula(1, 3, "=1+2", None, 3)
        sheet.write_row(2, 0, ["pic2", 2, 5, 6])
        book.close()
    else:
        book = openpyxl.Workbook()
        sheet = book.active
        sheet.append(HEADER.split(","))
        sheet.append(["pic1", 7, 4, "=1+2"])
        sheet.append(["pic2", 2, 5, 6])
        book.save(path)


def test_xlsx_formula_with_value_is_read(tmp_path: Path) -> None:
    make_dataset(tmp_path, 2)
    _xlsx_with_formula(tmp_path / "h.xlsx", cached=True)
    assert prepare_only(tmp_path, tmp_path / "h.xlsx")[("pic001", "valence")] == 3.0


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "the file is empty"),
        ("\n\n  \n", "the file is empty"),
        (HEADER + "\npic1,7,4,3\nPIC001,2,5,6\n", "duplicate image id"),
        (HEADER + "\nfoo1,7,4,3\nbar2,2,5,6\n", "none of the 2 ids matches an image"),
        (HEADER + "\npic1,7,4,3\npic2,2,5,10\n", "outside the scale 1..9"),
        (HEADER + "\npic1,7,4,3\npic2,2,five,6\n", "'five' is not a number"),
        ("image,relevance,arousal\npic1,7,4\n", "no column for aspect 'valence'"),
        ("participant,score\n1,2\n", "no header row found"),
    ],
)
def test_bad_sheets_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture, content: str,
                           expected: str) -> None:
    make_dataset(tmp_path, 2)
    sheet = tmp_path / "human.csv"
    sheet.write_text(content)
    assert main(run_cli(tmp_path, sheet)) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "runs/r/ratings.jsonl").exists()


def test_uncomputed_xlsx_formula_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    make_dataset(tmp_path, 2)
    _xlsx_with_formula(tmp_path / "h.xlsx", cached=False)
    assert main(run_cli(tmp_path, tmp_path / "h.xlsx")) == 2
    err = capsys.readouterr().err
    assert "cell D2 holds a formula without a computed value" in err


def test_not_a_workbook_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    make_dataset(tmp_path, 2)
    (tmp_path / "h.xlsx").write_text("this is not a zip")
    assert main(run_cli(tmp_path, tmp_path / "h.xlsx")) == 2
    assert "cannot read the workbook" in capsys.readouterr().err


def test_partial_match_is_a_warning_not_an_error(tmp_path: Path) -> None:
    make_dataset(tmp_path, 3)
    sheet = tmp_path / "h.csv"
    sheet.write_text(HEADER + "\npic1,7,4,3\npic2,2,5,6\nextra9,1,1,1\n")
    from vlmrate.runfolder.settings import RunConfig
    from vlmrate.running.runner import Runner

    runner = Runner(RunConfig(dataset=tmp_path / "data", human=sheet, run_name="r",
                              runs_dir=tmp_path / "runs",
                              prompts_dir=Path(__file__).parents[2] / "prompts"))
    runner.prepare()
    assert runner.human is not None
    warnings = " ".join(runner.human.warnings)
    assert "1 sheet rows have no image: extra9" in warnings
    assert "1 image ids have no human rating: pic003" in warnings


# --- issue 17: header-only sheets, n/a, UTF-16, two ids of one image -----------------------

def _header_only_xlsx(path: Path) -> None:
    book = xlsxwriter.Workbook(path)
    book.add_worksheet().write_row(0, 0, HEADER.split(","))
    book.close()


@pytest.mark.parametrize("name", ["h.csv", "h.xlsx", "h_titles.csv"])
def test_header_only_sheet_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture,
                                   name: str) -> None:
    make_dataset(tmp_path, 2)
    sheet = tmp_path / name
    if name.endswith(".xlsx"):
        _header_only_xlsx(sheet)
    elif "titles" in name:
        sheet.write_text("Norms\n\n" + HEADER + "\n\n")
    else:
        sheet.write_text(HEADER + "\n")
    assert main(run_cli(tmp_path, sheet)) == 2
    err = capsys.readouterr().err
    row = 3 if "titles" in name else 1
    assert f"no rows below the header (row {row})" in err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("marker", ["n/a", "N/A", "NA", "#N/A", "nan", "  "])
def test_missing_markers_in_human_sheet(tmp_path: Path, marker: str) -> None:
    make_dataset(tmp_path, 2)
    sheet = tmp_path / "h.csv"
    sheet.write_text(HEADER + f"\npic1,7,{marker},3\npic2,2,5,6\n")
    values = prepare_only(tmp_path, sheet)
    assert ("pic001", "arousal") not in values  # no human value for that aspect
    assert values[("pic001", "valence")] == 3.0 and values[("pic002", "arousal")] == 5.0


def test_utf16_sheet_from_excel_is_read(tmp_path: Path) -> None:
    """Excel's "Unicode text" export: UTF-16 LE with a BOM, tab-separated."""
    make_dataset(tmp_path, 2)
    sheet = tmp_path / "h.txt"
    sheet.write_bytes(("image\trelevance\tarousal\tvalence\r\npic1\t7\t4\t3\r\n"
                       "pic2\t2\t5\t6\r\n").encode("utf-16"))
    assert prepare_only(tmp_path, sheet)[("pic002", "valence")] == 6.0


def test_multi_line_cell_row_number(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    make_dataset(tmp_path, 3)
    sheet = tmp_path / "h.csv"
    sheet.write_text("image,relevance,arousal,valence,comment\n"
                     'pic1,7,4,3,"a note\nover\nthree lines"\npic2,2,5,6,\npic3,2,x,6,\n')
    assert main(run_cli(tmp_path, sheet)) == 2
    assert "row 6, column 'arousal': 'x' is not a number" in capsys.readouterr().err
