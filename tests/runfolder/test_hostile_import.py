"""Hostile ratings sheets for `vlmrate import` (issue 23 items 5 and 8): every one is one
line and exit 2, and no run is written. Each parametrized case is one hostile input."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import make_dataset
from vlmrate.cli import main

WIDE = [
    ("same-key-two-cases", "image,valence_1,Valence_1\npic1,3,4\npic2,5,6\n"),
    ("same-key-space", "image,valence_1,valence 1\npic1,3,4\npic2,5,6\n"),
    ("same-key-dash", "image,valence-1,valence_1\npic1,3,4\npic2,5,6\n"),
    ("repeat-zero", "image,valence_0,valence_1\npic1,3,4\npic2,5,6\n"),
    ("repeat-huge", "image,valence_99999999999999999999\npic1,3\npic2,5\n"),
    ("repeat-over-limit", "image,valence_1001\npic1,3\npic2,5\n"),
    ("repeat-arabic-digits", "image,valence_\u0661\npic1,3\npic2,5\n"),
]
LONG = [
    ("repeat-1e30", "1e30"), ("repeat-inf", "inf"), ("repeat-nan", "nan"),
    ("repeat-negative", "-1"), ("repeat-fraction", "1.5"), ("repeat-over-limit", "1001"),
    ("repeat-text", "ten"),
]


def _import(tmp_path: Path, text: str) -> int:
    sheet = tmp_path / "ratings.csv"
    sheet.write_text(text, encoding="utf-8")
    return main(["import", str(sheet), "--human", str(tmp_path / "data" / "human.csv"),
                 "--run", "imp", "--runs-dir", str(tmp_path / "runs")])


@pytest.mark.parametrize(("label", "text"), WIDE, ids=[w[0] for w in WIDE])
def test_a_bad_wide_sheet_is_refused(tmp_path: Path, label: str, text: str,
                                     capsys: pytest.CaptureFixture) -> None:
    make_dataset(tmp_path, 2)
    code = _import(tmp_path, text)
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("vlmrate: error:") and err.count("\n") == 1, err
    assert not (tmp_path / "runs" / "imp").exists()


@pytest.mark.parametrize(("label", "repeat"), LONG, ids=[x[0] for x in LONG])
def test_a_bad_long_repeat_is_refused(tmp_path: Path, label: str, repeat: str,
                                      capsys: pytest.CaptureFixture) -> None:
    make_dataset(tmp_path, 2)
    text = ("image_id,aspect,repeat,rating\npic1,valence,1,3\n"
            f"pic2,valence,{repeat},4\n")
    code = _import(tmp_path, text)
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("vlmrate: error:") and err.count("\n") == 1, err
    assert "repeat" in err
    assert not (tmp_path / "runs" / "imp").exists()


def test_two_columns_of_one_key_name_both(tmp_path: Path,
                                          capsys: pytest.CaptureFixture) -> None:
    make_dataset(tmp_path, 2)
    assert _import(tmp_path, WIDE[0][1]) == 2
    err = capsys.readouterr().err
    assert "'valence_1'" in err and "'Valence_1'" in err and "keep one" in err
