"""Image discovery and human-sheet reading, matching and validation."""

from __future__ import annotations

from pathlib import Path

import pytest
import xlsxwriter
from PIL import Image

from vlmrate.errors import UserError
from vlmrate.inputs.dataset import discover_images, normalise_id, read_human_sheet
from vlmrate.inputs.study import load_study

ASPECTS = ["relevance", "arousal", "valence"]


def test_normalise_id() -> None:
    assert normalise_id("PIC001.jpg") == normalise_id("pic1") == "pic1"
    assert normalise_id("img_0010") == "img_10"
    assert normalise_id("a") != normalise_id("b")


def test_discover_images_sorted_and_filtered(tmp_path: Path) -> None:
    for name in ("b.png", "a.jpg", "c.webp", "notes.txt", ".hidden.png"):
        if name.endswith(".txt"):
            (tmp_path / name).write_text("x")
        else:
            Image.new("RGB", (4, 4)).save(tmp_path / name, format="PNG")
    images = discover_images(tmp_path)
    assert [i.image_id for i in images] == ["a", "b", "c"]


def test_discover_images_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such folder"):
        discover_images(tmp_path / "nope")
    with pytest.raises(UserError, match="no images"):
        discover_images(tmp_path)
    Image.new("RGB", (4, 4)).save(tmp_path / "pic1.png")
    Image.new("RGB", (4, 4)).save(tmp_path / "pic001.jpg", format="JPEG")
    with pytest.raises(UserError, match="same image id"):
        discover_images(tmp_path)


def test_sheet_with_bom_semicolons_title_rows(tmp_path: Path) -> None:
    text = "Climate images norms\nexported 2019\nImage;Relevance;Arousal;Valence;Valence_SD\n" \
           "pic001;7,5;4,25;3;1,2\npic002;2;5;6;0,9\n"
    path = tmp_path / "h.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    sheet = read_human_sheet(path, ASPECTS, image_ids=["pic1", "pic2"])
    rows = {(r["image_id"], r["aspect"]): r for r in sheet.frame.iter_rows(named=True)}
    assert rows[("pic1", "relevance")]["human_mean"] == 7.5
    assert rows[("pic1", "arousal")]["human_mean"] == 4.25
    assert rows[("pic1", "valence")]["human_sd"] == 1.2
    assert sheet.columns["valence"] == {"mean": "Valence", "sd": "Valence_SD"}


def test_latin1_sheet(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_bytes("image,relevance,arousal,valence,comment\npic1,5,5,5,tr\xe8s\n"
                     .encode("latin-1"))
    assert read_human_sheet(path, ASPECTS).frame.height == 3


def test_xlsx_sheet(tmp_path: Path) -> None:
    path = tmp_path / "h.xlsx"
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, ["image_id", "relevance_mean", "arousal_mean", "valence_mean"])
    sheet.write_row(1, 0, ["pic1", 7.25, 3, 5])
    book.close()
    frame = read_human_sheet(path, ASPECTS).frame
    assert frame.filter(aspect="relevance")["human_mean"].to_list() == [7.25]


def test_no_id_matches(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("image,relevance,arousal,valence\nfoo,5,5,5\n")
    with pytest.raises(UserError, match="none of the 1 ids matches"):
        read_human_sheet(path, ASPECTS, image_ids=["pic1"])


def test_reference_study_is_the_protocol_byte_for_byte() -> None:
    study = load_study("reference", Path(__file__).parents[2] / "prompts")
    assert study.aspect_names == ASPECTS
    assert (study.scale_min, study.scale_max, study.repeats, study.temperature) == (1, 9, 10, 0.3)
    shared = Path(__file__).parents[3] / "shared" / "protocol"
    if shared.is_dir():
        for aspect in study.aspects:
            assert aspect.prompt.encode() == (shared / f"{aspect.name}.txt").read_bytes()


def test_unknown_prompt_set(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="prompt set 'nope' not found"):
        load_study("nope", tmp_path)


def test_example_dataset_in_data_reads_as_documented() -> None:
    """data/example (described in data/README.md): every image matched, every cell kept."""
    import csv

    from vlmrate.inputs.dataset import find_human_sheet

    folder = Path(__file__).parents[2] / "data" / "example"
    images = discover_images(folder)
    sheet_path = find_human_sheet(folder)
    assert sheet_path == folder / "human.csv"
    human = read_human_sheet(sheet_path, ASPECTS, image_ids=[i.image_id for i in images])
    assert human.warnings == []
    assert human.id_column == "image"
    assert human.columns["arousal"] == {"mean": "Arousal Mean", "sd": "Arousal SD"}
    # the sheet's ids (pic1) are the images' ids (pic001); read back with the csv module
    with sheet_path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    expected = {
        (f"pic{int(row['image'][3:]):03d}", aspect): float(row[cols["mean"]])
        for row in rows
        for aspect, cols in human.columns.items()
        if row[cols["mean"]]
    }
    got = {(r["image_id"], r["aspect"]): r["human_mean"] for r in human.frame.iter_rows(named=True)}
    assert got == expected
    assert len(got) == len(rows) * len(ASPECTS) - 1  # one empty cell: no rating, not a 0
