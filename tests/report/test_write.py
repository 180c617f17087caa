"""What the TUI's `f` on Stats writes: figures and report in their default places."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from tests.export.conftest import make_run
from vlmrate.errors import UserError
from vlmrate.report.write import write_figures_and_report
from vlmrate.runfolder.store import load_run
from vlmrate.tui.screens.stats import StatsScreen


@pytest.mark.long  # every figure drawn, the report written
def test_f_on_stats_writes_figures_and_report_in_the_run(tmp_path: Path) -> None:
    keys = {b.key: b for b in StatsScreen.BINDINGS}  # type: ignore[union-attr]
    assert keys["f"].action == "figures" and keys["f"].show  # in the footer and the help
    run_dir = make_run(tmp_path / "runs", "demo", n_images=10, repeats=3)
    before = {p.name for p in tmp_path.rglob("*")}
    # SVG: the cheapest format, and the report's figures are then the files' bytes
    done = write_figures_and_report(load_run(run_dir), formats=("svg",), workbook=True)
    folder, report, n = done.figures, done.report, done.n_figures
    assert folder == run_dir / "figures" and report == run_dir / "demo-report.html"
    assert n == 11 and len(list(folder.glob("*.svg"))) == n
    assert done.workbook == run_dir / "demo.xlsx"
    assert "Figures" in openpyxl.load_workbook(done.workbook).sheetnames
    assert report.read_text().count("<svg") == n
    outside = {p.name for p in tmp_path.rglob("*")} - before
    assert all((run_dir / name).exists() or (folder / name).exists() for name in outside)


def test_no_human_ratings_is_one_clear_error(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path / "runs", "demo", n_images=4, repeats=2)
    (run_dir / "human.parquet").unlink()
    with pytest.raises(UserError, match="no human ratings"):
        write_figures_and_report(load_run(run_dir))
    assert not (run_dir / "figures").exists()
