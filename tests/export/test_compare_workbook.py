"""`vlmrate export --compare`: the Compare sheet holds `vlmrate compare`'s numbers (best in
bold), a native MAE-by-k line chart per aspect with one line per run, and one Summary
sheet per run; bad input exits 2 with one line."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest

from tests.stats.test_compare import ASPECTS, three_runs  # noqa: F401 - a fixture
from vlmrate.cli import main
from vlmrate.export.compare_sheet import summary_name


def rows_of(ws: openpyxl.worksheet.worksheet.Worksheet) -> list[list]:
    return [list(r) for r in ws.iter_rows(values_only=True)]


def test_compare_workbook(three_runs: tuple[Path, dict],  # noqa: F811
                          capsys: pytest.CaptureFixture) -> None:
    tmp, _ = three_runs
    runs = str(tmp / "runs")
    assert main(["compare", "close", "far", "mid", "--json", "--runs-dir", runs]) == 0
    want = json.loads(capsys.readouterr().out)
    out = tmp / "cmp.xlsx"
    assert main(["export", "--compare", "close", "far", "mid", "-o", str(out),
                 "--runs-dir", runs]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["Compare", "Summary close", "Summary far", "Summary mid"]
    assert book["Summary far"]["A1"].value == "vlmrate — far"
    ws = book["Compare"]
    rows = rows_of(ws)
    for aspect in ASPECTS:
        title = next(i for i, r in enumerate(rows)
                     if isinstance(r[0], str) and r[0].startswith(f"{aspect}: ")
                     and "common images" in r[0])
        head = rows[title + 1]
        assert head[:4] == ["run", "images", "bias", "MAE"]
        got = {r[0]: r for r in rows[title + 2: title + 5]}
        maes = {}
        for name, values in want["aspects"][aspect]["runs"].items():
            assert got[name][1] == values["n_images"]
            assert got[name][3] == pytest.approx(values["mae"], rel=1e-12)
            assert got[name][10] == pytest.approx(values["ccc"], rel=1e-12)
            maes[name] = values["mae"]
        best = min(maes, key=maes.get)
        row_no = title + 2 + list(got).index(best) + 1
        assert ws.cell(row_no, 4).font.b  # the best MAE is bold
        other = next(n for n in maes if n != best)
        assert not ws.cell(title + 2 + list(got).index(other) + 1, 4).font.b
        pairs = {r[0]: r for r in rows[title + 6: title + 9]}
        pair = want["aspects"][aspect]["pairs"]["close|far"]
        assert pairs["close − far"][2] == pytest.approx(pair["mae_diff"], rel=1e-12)
        assert pairs["close − far"][3] == pytest.approx(pair["mae_diff_ci"][0], rel=1e-12)
    charts = ws._charts
    assert len(charts) == len(ASPECTS)
    for chart in charts:
        assert len(chart.series) == 3  # one line per run
        assert chart.tagname == "lineChart"
    # on paper: every sheet fitted to one page wide, landscape for the wide Compare sheet
    for sheet in book.worksheets:
        assert sheet.sheet_properties.pageSetUpPr.fitToPage and sheet.print_area, sheet.title
    assert ws.page_setup.orientation == "landscape"


@pytest.mark.parametrize(("args", "message"), [
    (["--compare", "close"], "at least two runs"),
    (["close", "--compare", "close", "far"], "not both"),
    (["--compare", "close", "far", "--csv"], "--csv"),
    ([], "export needs RUN"),
    (["--compare", "close", "nope"], "'nope' not found"),
])
def test_compare_export_bad_input(three_runs: tuple[Path, dict],  # noqa: F811
                                  capsys: pytest.CaptureFixture, args: list[str],
                                  message: str) -> None:
    tmp, _ = three_runs
    assert main(["export", *args, "-o", str(tmp / "x.xlsx"),
                 "--runs-dir", str(tmp / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp / "x.xlsx").exists()


def test_summary_sheet_names() -> None:
    taken = {"Compare"}
    first = summary_name("a" * 40, taken)
    assert len(first) == 31 and first.startswith("Summary aaa")
    taken.add(first)
    second = summary_name("a" * 41, taken)
    assert second != first and len(second) <= 31 and second.endswith(" 2")
    assert summary_name("x:y/z?", set()) == "Summary x_y_z_"
