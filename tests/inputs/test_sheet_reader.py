"""The sheet reader: the csv module for every CSV (issue 17 item 8), UTF-16, long cells,
row numbers that stay right after multi-line cells, cells kept as written."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import xlsxwriter

from tests.helpers import make_dataset
from vlmrate.cli import main
from vlmrate.errors import UserError
from vlmrate.inputs.sheets import read_sheet, read_sheet_rows
from vlmrate.runfolder.importer import read_ratings_sheet

PROMPTS = Path(__file__).parents[2] / "prompts" / "reference"
HEADER = "image,relevance,arousal,valence"


def _is_header(row: list[str]) -> bool:
    return row[0].strip().lower() in {"image", "image_id"}


def _write_csv(path: Path, rows: list[list[str]]) -> Path:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    path.write_bytes(buffer.getvalue().encode("utf-8"))
    return path


@pytest.mark.parametrize("inside", ["a\x0bb", "a\x0cb", "a\n\nb", "a\r\n\r\nb", "a\u2028b",
                                    "a\x1cb", "a\x85b"])
def test_quoted_cells_keep_every_character(tmp_path: Path, inside: str) -> None:
    """str.splitlines() splits at \\x0b, \\x0c, \\x1c, \\x85, U+2028 and drops blank lines;
    the csv module keeps a quoted cell whole."""
    rows = [["image_id", "aspect", "repeat", "rating", "reason"],
            ["pic1", "relevance", "1", "7", inside],
            ["pic2", "relevance", "1", "3", "plain"]]
    sheet = read_sheet(_write_csv(tmp_path / "r.csv", rows), _is_header)
    assert sheet.frame["reason"].to_list() == [inside, "plain"]
    assert sheet.frame["image_id"].to_list() == ["pic1", "pic2"]


def test_row_numbers_follow_multi_line_cells(tmp_path: Path) -> None:
    rows = [["image_id", "aspect", "repeat", "rating", "reason"],
            ["pic1", "relevance", "1", "7", "line one\nline two\nline three"],
            ["pic2", "relevance", "1", "3", "ok"],
            ["pic3", "relevance", "1", "eleven", "bad"]]
    path = _write_csv(tmp_path / "r.csv", rows)
    assert [n for n, _ in read_sheet_rows(path)] == [1, 2, 5, 6]
    with pytest.raises(UserError, match=r"row 6: rating 'eleven' is not a number"):
        read_ratings_sheet(path)


def test_blank_lines_between_rows_count_as_rows(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("image_id,aspect,repeat,rating\n\npic1,relevance,1,7\n\n\n"
                    "pic2,relevance,1,99\n")
    with pytest.raises(UserError, match=r"row 6: rating '99' is outside the scale"):
        read_ratings_sheet(path)


def test_xlsx_row_numbers_count_empty_rows_above(tmp_path: Path) -> None:
    path = tmp_path / "r.xlsx"
    book = xlsxwriter.Workbook(path)
    ws = book.add_worksheet()
    ws.write_row(2, 0, ["image_id", "aspect", "repeat", "rating"])
    ws.write_row(4, 0, ["pic1", "relevance", 1, 7])
    ws.write_row(6, 0, ["pic2", "relevance", 1, 12])
    book.close()
    with pytest.raises(UserError, match=r"row 7: rating '12' is outside the scale"):
        read_ratings_sheet(path)


def test_leading_spaces_are_kept(tmp_path: Path) -> None:
    """' =1+4' is text as written, not the formula '=1+4'; numbers and ids still read."""
    rows = [["image_id", "aspect", "repeat", "rating", "reason"],
            [" pic1", " relevance", " 1", " 7 ", " =1+4"]]
    imported = read_ratings_sheet(_write_csv(tmp_path / "r.csv", rows))
    row = imported.frame.row(0, named=True)
    assert (row["image_id"], row["aspect"], row["repeat"], row["rating"]) == \
        ("pic1", "relevance", 1, 7)
    assert row["reason"] == " =1+4"


def test_a_cell_of_spaces_is_empty(tmp_path: Path) -> None:
    rows = [["image_id", "aspect", "repeat", "rating"], ["pic1", "relevance", "1", "   "]]
    imported = read_ratings_sheet(_write_csv(tmp_path / "r.csv", rows))
    assert imported.frame["rating"].to_list() == [None]
    assert imported.frame["parse_error"].to_list() == ["missing"]


def test_cell_over_the_csv_default_limit_is_read(tmp_path: Path) -> None:
    long_reason = "x" * 200_000  # over csv's default field_size_limit of 131,072
    rows = [["image_id", "aspect", "repeat", "rating", "reason"],
            ["pic1", "relevance", "1", "7", long_reason]]
    imported = read_ratings_sheet(_write_csv(tmp_path / "r.csv", rows))
    assert imported.frame["reason"].to_list() == [long_reason]
    assert csv.field_size_limit() == 131_072  # the process-wide limit is left as it was


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_sheets_are_read(tmp_path: Path, encoding: str) -> None:
    make_dataset(tmp_path, 2)
    sheet = tmp_path / "human.csv"
    sheet.write_bytes((HEADER + "\npic1,7,4,3\npic2,2,5,6\nÄrger,1,1,1\n").encode(encoding))
    frame = read_sheet(sheet, _is_header).frame
    assert frame["image"].to_list() == ["pic1", "pic2", "Ärger"]
    assert frame["valence"].to_list() == ["3", "6", "1"]


def test_binary_with_nul_bytes_is_named(tmp_path: Path) -> None:
    sheet = tmp_path / "human.csv"
    sheet.write_bytes(b"image,relevance\npic1,\x00\x01\x02\x03garbage\x00\n")
    with pytest.raises(UserError, match="NUL bytes, so it is not a text sheet"):
        read_sheet_rows(sheet)


def test_long_values_are_cut_in_messages(tmp_path: Path, capsys: pytest.CaptureFixture
                                         ) -> None:
    make_dataset(tmp_path, 2)
    sheet = tmp_path / "human.csv"
    sheet.write_text(HEADER + "\npic1,7,4,3\npic2,2," + "z" * 100_000 + ",6\n")
    assert main(["run", str(tmp_path / "data"), "--human", str(sheet), "--run", "r",
                 "--runs-dir", str(tmp_path / "runs"), "--prompts", str(PROMPTS)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and len(err) < 400
    assert "100,000 characters" in err and "is not a number" in err


def test_long_header_list_is_cut(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    make_dataset(tmp_path, 2)
    sheet = tmp_path / "human.csv"
    names = ",".join(f"column_with_a_long_name_{i}" for i in range(2000))
    sheet.write_text(f"image,{names}\npic1," + ",".join("1" * 2000) + "\n")
    assert main(["run", str(tmp_path / "data"), "--human", str(sheet), "--run", "r",
                 "--runs-dir", str(tmp_path / "runs"), "--prompts", str(PROMPTS)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and len(err) < 600 and "more)" in err
