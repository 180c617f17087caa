"""write_workbook: sheets, row counts, numbers, text safety, charts, panes, formats."""

from __future__ import annotations

import math
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest

from tests.export.conftest import ASPECTS, N_IMAGES, NASTY, REPEATS
from vlmrate.export import EXCEL_MAX_CHARS, SHEETS, TRUNCATED, write_workbook
from vlmrate.runfolder.store import LoadedRun
from vlmrate.stats.formatting import P_FORMAT, STAT_FORMAT
from vlmrate.stats.layout import AGREEMENT, RELIABILITY, sheet_rows, value_at

# How these texts are stored in the file (ECMA-376 ST_Xstring escaping, as Excel itself
# writes them); Excel shows the original text, openpyxl returns the stored form.
STORED = {"bell\x07char": "bell_x0007_char", "_x0041_ literal": "_x005F_x0041_ literal"}


def same(cell: Any, expected: Any) -> bool:
    if isinstance(expected, str):
        return cell == STORED.get(expected, expected)
    if expected is None or (isinstance(expected, float) and math.isnan(expected)):
        return cell is None
    if isinstance(expected, bool):  # booleans as the reports say them
        return cell == ("yes" if expected else "no")
    if isinstance(expected, int | float):
        return isinstance(cell, int | float) and cell == pytest.approx(expected, rel=1e-12)
    return cell == expected


@pytest.fixture
def book(loaded: LoadedRun, stats_json: dict, per_image: pl.DataFrame,
         tmp_path: Path) -> openpyxl.Workbook:
    path = write_workbook(loaded, stats_json, per_image, tmp_path / "out.xlsx")
    return openpyxl.load_workbook(path)


def rows_of(ws: Any) -> list[dict]:
    values = list(ws.iter_rows(values_only=True))
    header = values[0]
    return [dict(zip(header, row, strict=True)) for row in values[1:]]


def test_sheets_in_order_and_row_counts(book: openpyxl.Workbook, loaded: LoadedRun) -> None:
    assert book.sheetnames == list(SHEETS)
    assert book["Ratings"].max_row - 1 == loaded.ratings.height == N_IMAGES * 3 * REPEATS
    assert book["Answers"].max_row - 1 == loaded.ratings.height
    assert book["PerImage"].max_row - 1 == N_IMAGES
    assert book.active.title == "Summary"


def test_ratings_and_answers_equal_the_run(book: openpyxl.Workbook, loaded: LoadedRun) -> None:
    order = {a: i for i, a in enumerate(ASPECTS)}
    expected = sorted(loaded.ratings.iter_rows(named=True),
                      key=lambda r: (r["image_id"], order[r["aspect"]], r["repeat"]))
    ratings = rows_of(book["Ratings"])
    answers = rows_of(book["Answers"])
    assert len(ratings) == len(expected) == len(answers)
    for got, want, answer in zip(ratings, expected, answers, strict=True):
        for key, value in got.items():
            assert same(value, want[key]), (key, value, want[key])
        for key, value in answer.items():
            assert same(value, want[key]), (key, value, want[key])


def test_per_image_equals_frames(book: openpyxl.Workbook, loaded: LoadedRun,
                                 per_image: pl.DataFrame) -> None:
    sheet = {row["image_id"]: row for row in rows_of(book["PerImage"])}
    assert list(sheet) == sorted(sheet)
    stats = {row["image_id"]: row for row in per_image.iter_rows(named=True)}
    for rec in loaded.ratings.iter_rows(named=True):
        assert sheet[rec["image_id"]][f"{rec['aspect']}_{rec['repeat']}"] == rec["rating"]
    for image_id, row in stats.items():
        for key, value in row.items():
            assert same(sheet[image_id][key], value), (image_id, key)


def by_field(ws: Any) -> dict[str, dict]:
    out = {}
    for row in rows_of(ws):
        if row.get("field (stats --json)"):
            out[row["field (stats --json)"]] = row
    return out


@pytest.mark.parametrize("sheet", [RELIABILITY, AGREEMENT])
def test_by_aspect_sheets_equal_stats(book: openpyxl.Workbook, stats_json: dict,
                                      sheet: str) -> None:
    table = by_field(book[sheet])
    assert list(table) == [stat.path for stat in sheet_rows(sheet)]
    for key, row in table.items():
        for aspect in ASPECTS:
            want = value_at(stats_json["aspects"][aspect], key)
            assert same(row[aspect], want), (sheet, key, aspect, row[aspect], want)


def test_spot_values(book: openpyxl.Workbook, stats_json: dict) -> None:
    """A few numbers found by label, independent of the exporter's own field table."""
    agreement = {(r["section"], r["statistic"]): r for r in rows_of(book["Agreement"])}
    rel = stats_json["aspects"]["relevance"]
    assert agreement[("Wilcoxon signed-rank on d", "W+")]["relevance"] == 40.5
    assert agreement[("TOST (paired t)", "p")]["arousal"] == pytest.approx(0.01)
    assert agreement[("TOST (paired t)", "equivalent")]["relevance"] == "yes"
    assert agreement[("Pearson vs human", "95% CI lower")]["valence"] is None
    assert agreement[("Pearson vs human", "p")]["relevance"] == 1e-30
    reliability = {(r["section"], r["statistic"]): r for r in rows_of(book["Reliability"])}
    assert reliability[("ICC1", "95% CI upper")]["relevance"] == rel["icc"]["ICC1"]["ci"][1]
    assert reliability[("ICC1k", "df2")]["relevance"] == N_IMAGES * (REPEATS - 1)


def test_summary_facts_and_headline(book: openpyxl.Workbook, stats_json: dict,
                                    loaded: LoadedRun) -> None:
    ws = book["Summary"]
    facts = {row[0]: row[1] for row in ws.iter_rows(values_only=True) if row[0]}
    assert facts["run"] == "demo" and facts["status"] == "done"
    assert facts["model"] == "tiny/llava" and facts["engine"] == "vllm"
    assert "temperature=0.3" in facts["sampling"]
    assert facts["prompt sha256 (arousal)"] == f"{1:064x}"
    assert facts["dataset fingerprint"] == "abc123"
    assert facts["answers"] == loaded.ratings.height
    assert facts["valid ratings"] == loaded.ratings["rating"].is_not_null().sum()
    assert facts["images"] == N_IMAGES
    assert facts["parse failures"] == loaded.ratings.filter(
        pl.col("parse_error").is_not_null() & pl.col("engine_error").is_null()).height
    assert facts["prompt set"] == "reference"
    # the prompt text starts with '=' and is text too
    prompt_cells = [c for row in ws.iter_rows() for c in row
                    if isinstance(c.value, str) and c.value.startswith("=Rate")]
    assert len(prompt_cells) == 3 and all(c.data_type == "s" for c in prompt_cells)
    head = next(row for row in ws.iter_rows(values_only=True) if row[0] == "aspect")
    rows = {row[0]: dict(zip(head, row, strict=True)) for row in ws.iter_rows(values_only=True)
            if row[0] in ASPECTS}
    for aspect in ASPECTS:
        data = stats_json["aspects"][aspect]
        assert rows[aspect]["Wilcoxon W+"] == data["wilcoxon"]["w_plus"]
        assert same(rows[aspect]["TOST p"], data["tost"]["p"])
        assert same(rows[aspect]["TOST equivalent"], data["tost"]["equivalent"])
        assert same(rows[aspect]["Pearson r"], data["pearson_vs_human"]["r"])
        assert same(rows[aspect]["ICC1"], data["icc"]["ICC1"]["value"])
        assert rows[aspect]["n images"] == data["n_images"]


def test_errors_by_k_and_charts(book: openpyxl.Workbook, stats_json: dict) -> None:
    rows = rows_of(book["ErrorsByK"])
    assert len(rows) == len(ASPECTS) * REPEATS
    for row in rows:
        entry = stats_json["aspects"][row["aspect"]]["errors_by_k"][row["k"] - 1]
        assert row["n images"] == entry["n"]
        assert same(row["MAE"], entry["mae"]) and same(row["MSE"], entry["mse"])
        assert same(row["r"], entry["r"]) and same(row["MAE random k-subsets"],
                                                   entry["mae_subsets"])
        assert same(row["subsets 95% lower"], entry["mae_subsets_ci"][0])
        assert same(row["subsets 95% upper"], entry["mae_subsets_ci"][1])
        assert same(row["subsets Monte-Carlo SE"], entry.get("mae_subsets_se"))
    charts = book["ErrorsByK"]._charts
    assert len(charts) == 2
    assert all(len(chart.series) == len(ASPECTS) for chart in charts)


def test_charts_in_archive(loaded: LoadedRun, stats_json: dict, per_image: pl.DataFrame,
                           tmp_path: Path) -> None:
    path = write_workbook(loaded, stats_json, per_image, tmp_path / "c.xlsx")
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        assert sum(n.startswith("xl/charts/chart") for n in names) == 2
        chart = archive.read("xl/charts/chart1.xml").decode()
        assert "<c:lineChart>" in chart and "ErrorsByK!$B$2:$B$5" in chart
        # no formula anywhere in the data sheets
        for name in names:
            if name.startswith("xl/worksheets/sheet"):
                assert b"<f>" not in archive.read(name), name


def test_cross_by_k_and_between_aspects(book: openpyxl.Workbook, stats_json: dict) -> None:
    values = list(book["CrossByK"].iter_rows(values_only=True))
    blocks = [i for i, row in enumerate(values) if isinstance(row[0], str)
              and row[0].startswith("k = ")]
    assert len(blocks) == REPEATS
    for i in blocks:
        k = values[i][0].removeprefix("k = ")
        header = values[i + 1]
        assert header[1:] == tuple(ASPECTS)
        for row in values[i + 2:i + 2 + len(ASPECTS)]:
            for human, cell in zip(header[1:], row[1:], strict=True):
                assert same(cell, stats_json["cross_by_k"][k][row[0]][human])
    pairs = {row[0]: row for row in book["Reliability"].iter_rows(values_only=True)
             if row[0] and "~" in str(row[0])}
    assert list(pairs) == list(stats_json["between_aspects"])
    for pair, row in pairs.items():
        assert same(row[1], stats_json["between_aspects"][pair]["r"])
        assert same(row[2], stats_json["between_aspects"][pair]["p"])


def test_model_text_is_always_a_string(book: openpyxl.Workbook) -> None:
    for sheet, column in (("Ratings", "E"), ("Answers", "D")):
        cells = {c.value: c for c in book[sheet][column][1:] if c.value is not None}
        for text in NASTY:
            if text in ("bell\x07char", "_x0041_ literal"):
                continue
            assert text in cells, (sheet, text)
            assert cells[text].data_type == "s", (sheet, text)
    cases = book["Cases"]
    notes = [c for c in cases["M"][1:] if c.value == '=HYPERLINK("http://x","y")']
    assert notes and all(c.data_type == "s" for c in notes)
    assert not book["Ratings"]["E2"].hyperlink


def test_xml_invalid_characters_are_escaped(book: openpyxl.Workbook) -> None:
    """A control character (invalid in XML) is stored as _x0007_, and a literal '_x0041_'
    as _x005F_x0041_, so that Excel shows both texts exactly as the model wrote them."""
    texts = [c.value for c in book["Ratings"]["E"][1:]]
    assert "bell_x0007_char" in texts
    assert "_x005F_x0041_ literal" in texts


def test_cases_sheet(book: openpyxl.Workbook, loaded: LoadedRun) -> None:
    rows = rows_of(book["Cases"])
    reviewed = [r for r in rows if r["list"].startswith("reviewed")]
    assert [(r["image_id"], r["aspect"]) for r in reviewed] == [("img003", "arousal"),
                                                               ("img005", "valence")]
    assert rows[:2] == reviewed
    assert reviewed[0]["flagged"] == "yes" and reviewed[1]["note"] == "odd: sees a forest fire"
    assert reviewed[0]["category"] == loaded.review["img003"]["arousal"]["category"] != ""
    assert reviewed[1]["category"] is None  # a note only: no category
    assert reviewed[0]["reviewer"] == (loaded.review["img003"]["arousal"]["reviewer"] or None)
    answers = "answers (#repeat [rating] reason)"
    assert reviewed[0][answers].startswith("#1 [")
    for label in ("d highest", "d lowest", "SD highest"):
        for aspect in ASPECTS:
            chosen = [r for r in rows if r["list"].startswith(label) and r["aspect"] == aspect]
            assert [r["rank"] for r in chosen] == list(range(1, 11))
    top = [r for r in rows if r["list"].startswith("d highest") and r["aspect"] == "arousal"]
    assert [r["d"] for r in top] == sorted((r["d"] for r in top), reverse=True)
    low = [r for r in rows if r["list"].startswith("d lowest") and r["aspect"] == "arousal"]
    assert low[0]["d"] <= top[-1]["d"]
    some = top[0]
    reasons = loaded.ratings.filter(image_id=some["image_id"], aspect="arousal")
    for reason in reasons["reason"].drop_nulls():
        if reason in STORED:
            continue
        assert reason in some[answers]


def test_panes_filters_widths_and_formats(book: openpyxl.Workbook) -> None:
    for name in SHEETS[1:]:
        ws = book[name]
        assert ws.freeze_panes is not None, name
        assert ws["A1"].font.b or name == "CrossByK", name
    for name in ("Ratings", "Answers", "PerImage", "Reliability", "Agreement", "ErrorsByK",
                 "Cases"):
        assert book[name].auto_filter.ref, name
    ratings = book["Ratings"]
    assert ratings.column_dimensions["E"].width > 40
    assert ratings["E2"].alignment.wrap_text
    assert ratings["K2"].number_format == STAT_FORMAT
    agreement = {(r[0].value, r[1].value): r for r in book["Agreement"].iter_rows(min_row=2)}
    assert agreement[("TOST (paired t)", "p")][2].number_format == P_FORMAT
    assert agreement[("TOST (paired t)", "mean d")][2].number_format == STAT_FORMAT
    assert book["PerImage"]["F2"].number_format == STAT_FORMAT


def test_long_text_is_truncated_with_marker(loaded: LoadedRun, stats_json: dict,
                                           per_image: pl.DataFrame, tmp_path: Path) -> None:
    long = "x" * 40_000
    emoji = "😀" * 20_000  # 40,000 UTF-16 units
    ratings = loaded.ratings.with_columns(
        pl.when(pl.col("image_id") == "img002").then(pl.lit(long))
        .when(pl.col("image_id") == "img004").then(pl.lit(emoji))
        .otherwise(pl.col("raw")).alias("raw"))
    run = LoadedRun(loaded.name, loaded.path, loaded.manifest, loaded.aspects, ratings,
                    loaded.human, loaded.review)
    book = openpyxl.load_workbook(write_workbook(run, stats_json, per_image,
                                                 tmp_path / "long.xlsx"))
    raws = [c.value for c in book["Answers"]["D"][1:]]
    cut = [r for r in raws if r and r.endswith(TRUNCATED)]
    assert len(cut) == 2 * 3 * REPEATS
    for text in cut:
        assert len(text.encode("utf-16-le")) // 2 <= EXCEL_MAX_CHARS
        assert text.startswith("xxx") or text.startswith("😀")


def test_rows_beyond_excel_limit_continue_on_next_sheet(
        loaded: LoadedRun, stats_json: dict, per_image: pl.DataFrame, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("vlmrate.export.xlsx_writer.EXCEL_MAX_ROWS", 101)
    book = openpyxl.load_workbook(write_workbook(loaded, stats_json, per_image,
                                                 tmp_path / "split.xlsx"))
    assert book.sheetnames == ["Summary", "Ratings", "Ratings (2)", "PerImage", "Reliability",
                               "Agreement", "ErrorsByK", "CrossByK", "Cases", "Answers",
                               "Answers (2)"]
    assert book["Ratings"].max_row == 101
    assert book["Ratings (2)"].max_row - 1 == loaded.ratings.height - 100
    assert book["Ratings (2)"]["A1"].value == "image_id"


def test_imported_run_with_empty_columns(tmp_path: Path) -> None:
    from tests.runfolder.test_import import write_human, write_long
    from vlmrate.runfolder.importer import import_run
    from vlmrate.runfolder.store import load_run

    write_long(tmp_path / "long.csv", n_images=5)
    write_human(tmp_path / "human.csv", 5)
    run = load_run(import_run(tmp_path / "long.csv", tmp_path / "human.csv", "imp",
                              tmp_path / "runs"))
    from tests.export.conftest import fake_per_image, fake_stats
    path = write_workbook(run, fake_stats(run.aspects, 10, 5, "imp"),
                          fake_per_image(run.ratings, run.human, run.aspects),
                          tmp_path / "imp.xlsx")
    book = openpyxl.load_workbook(path)
    assert book["Ratings"].max_row - 1 == run.ratings.height == 5 * 3 * 10
    assert book["PerImage"].max_row - 1 == 5
    assert book["PerImage"].max_column == 1 + 3 * (10 + 5)


def test_empty_run_and_empty_stats(loaded: LoadedRun, tmp_path: Path) -> None:
    """A run without answers (e.g. cancelled at once) still exports, with empty tables."""
    empty = LoadedRun(loaded.name, loaded.path, loaded.manifest, loaded.aspects,
                      loaded.ratings.clear(), loaded.human, {})
    book = openpyxl.load_workbook(write_workbook(empty, {}, pl.DataFrame(
        schema={"image_id": pl.String}), tmp_path / "empty.xlsx"))
    assert book.sheetnames == list(SHEETS)
    assert book["Ratings"].max_row == 1 and book["PerImage"].max_row == 1
    assert not book["ErrorsByK"]._charts


def test_excel_text_limit() -> None:
    from vlmrate.export import excel_text

    assert excel_text("short") == "short"
    exact = "y" * EXCEL_MAX_CHARS
    assert excel_text(exact) == exact
    cut = excel_text(exact + "z")
    assert cut.endswith(TRUNCATED) and len(cut) == EXCEL_MAX_CHARS


def test_every_sheet_prints(book: openpyxl.Workbook) -> None:
    """Page setup: fitted to the page width, a print area, the header repeated, wide
    sheets landscape; wrapped headers and multi-line answers get their row heights;
    counts without decimals (W+ 40.5 as General, not 40.500)."""
    for ws in book.worksheets:
        setup = ws.page_setup
        assert ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
        assert setup.fitToWidth in (None, 1) and setup.fitToHeight == 0, ws.title  # 1 wide
        assert ws.print_area, ws.title
        assert setup.paperSize == 9, ws.title
        assert "&A" in ws.oddFooter.left.text, ws.title
        if ws.title not in ("Summary", "CrossByK"):
            assert ws.print_title_rows == "$1:$1", ws.title
    assert book["Cases"].page_setup.orientation == "landscape"
    assert book["Summary"].page_setup.orientation == "landscape"
    assert book["Reliability"].page_setup.orientation != "landscape"
    # the Reliability sheet prints its statistics, not the stats --json field names
    header = [c.value for c in book["Reliability"][1]]
    last = openpyxl.utils.get_column_letter(header.index("field (stats --json)"))
    assert book["Reliability"].print_area.split(":")[1].startswith(f"${last}$")
    # the Cases' answers, one per line: each row as tall as its lines
    cases = book["Cases"]
    head = [c.value for c in cases[1]]
    col = head.index("answers (#repeat [rating] reason)") + 1
    for row in range(2, cases.max_row + 1):
        text = cases.cell(row, col).value or ""
        if text:
            assert cases.row_dimensions[row].height >= 13 * (text.count("\n") + 1)
    assert book["ErrorsByK"].row_dimensions[1].height >= 26  # "subsets Monte-Carlo SE"
    agreement = book["Agreement"]
    w_plus = next(r for r in agreement.iter_rows(min_row=2) if r[1].value == "W+")
    assert w_plus[2].number_format == "General"
