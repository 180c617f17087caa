"""`vlmrate export RUN --figures`: a Figures sheet with the PNG of every figure."""

from __future__ import annotations

import io
from pathlib import Path

import openpyxl
import pytest
from PIL import Image

from tests.export.conftest import make_run
from vlmrate.cli import main


@pytest.mark.long  # every figure drawn
def test_figures_sheet_holds_every_png(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    runs = tmp_path / "runs"
    make_run(runs, "demo", n_images=12, repeats=3)
    assert main(["export", "demo", "--runs-dir", str(runs)]) == 0
    plain = openpyxl.load_workbook(runs / "demo" / "demo.xlsx")
    assert "Figures" not in plain.sheetnames  # only when asked
    assert main(["export", "demo", "--runs-dir", str(runs), "--figures"]) == 0
    book = openpyxl.load_workbook(runs / "demo" / "demo.xlsx")
    assert book.sheetnames.index("Figures") == book.sheetnames.index("Cases") + 1
    sheet = book["Figures"]
    titles = [c.value for c in sheet["A"] if isinstance(c.value, str)
              and c.value.startswith("Figure ")]
    assert len(titles) == len(sheet._images) == 11
    for image in sheet._images:
        with Image.open(io.BytesIO(image._data())) as png:
            assert png.format == "PNG" and png.size[0] >= 500
    capsys.readouterr()
    assert main(["export", "--compare", "demo", "demo", "--figures",
                 "--runs-dir", str(runs)]) == 2
    assert "--figures" in capsys.readouterr().err
