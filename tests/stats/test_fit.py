"""Reports that fit the terminal (stats.fit): the width (--width, COLUMNS, a terminal, a
pipe), and the stats and compare reports at 80 and 60 columns - no line wider than
the width, no ellipsis, and every number of the wide report, whole, in the narrow one."""

from __future__ import annotations

import io
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table

from vlmrate.cli import main
from vlmrate.stats import analyse, render_report
from vlmrate.stats.fit import PIPED_WIDTH, fit, terminal_width

from .helpers import human_frame, ratings_frame
from .test_compare import import_rows, long_rows, write_human

DECIMAL = re.compile(r"<0\.001|[-−]?\d+\.\d+")
WHOLE = re.compile(r"(?<![\w.(,])[-−]?\d+(?![%\w.])")  # not 95% or ICC(A,1) of headers
ASPECTS = ["relevance", "arousal"]


def _text(renderable, width: int) -> str:
    console = Console(width=width, record=True, color_system=None, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def _check_fits(wide: str, narrow: str, width: int) -> None:
    lines = narrow.splitlines()
    assert max(cell_len(line) for line in lines) <= width
    assert "…" not in narrow
    assert Counter(DECIMAL.findall(narrow)) == Counter(DECIMAL.findall(wide))
    assert set(WHOLE.findall(narrow)) == set(WHOLE.findall(wide))


@pytest.fixture(scope="module")
def study():
    rng = np.random.default_rng(4)
    n, k = 30, 4
    mats, hums = {}, {}
    for a in ASPECTS:
        truth = rng.uniform(2, 8, n)
        mats[a] = np.rint(truth[:, None] + rng.normal(0.3, 1.2, (n, k))).clip(1, 9)
        hums[a] = np.round(truth + rng.normal(0, 0.4, n), 2)
    return analyse(ratings_frame(mats), human_frame(hums), ASPECTS, run_name="a-long-run-name")


@pytest.mark.parametrize("width", [80, 60])
def test_stats_report_fits_and_keeps_every_number(study, width: int) -> None:
    wide = _text(render_report(study, 200), 200)
    narrow = _text(render_report(study, width), width)
    _check_fits(wide, narrow, width)
    # the wide report is one line per statistic; the narrow one stacks the
    # "CI / test" column under its row and keeps estimate and p on the row
    icc = next(line for line in narrow.splitlines() if line.startswith(" ICC(1,1) "))
    assert re.search(r"\s-?\d\.\d{3}\s+(<0\.001|\d\.\d{3})\s*$", icc)
    assert "95% CI / test" in narrow


def test_a_table_that_fits_is_left_as_it_is() -> None:
    t = Table("a", "b")
    t.add_row("x", "1.000")
    assert fit(t, 80) is t


def test_stacked_columns_keep_styles_and_rows_without_label() -> None:
    t = Table("label", "n", "wide interval", "p", box=None)
    t.add_row("first", "12", "[-0.123456, 0.654321] and a long note", "0.002")
    t.add_row("", "", "two-sided", "0.400")
    narrow = _text(fit(t, 40), 40)
    assert max(cell_len(line) for line in narrow.splitlines()) <= 40
    lines = [line.strip() for line in narrow.splitlines()]
    assert any(line.startswith("first") and line.endswith("0.002") for line in lines)
    assert any(line.startswith("two-sided") and line.endswith("0.400") for line in lines)
    assert "[-0.123456," in narrow and "0.654321]" in narrow


def test_terminal_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    assert terminal_width(stream=io.StringIO()) == PIPED_WIDTH  # a pipe: the default
    monkeypatch.setenv("COLUMNS", "72")
    assert terminal_width(stream=io.StringIO()) == 72
    assert terminal_width(90, stream=io.StringIO()) == 90  # --width wins
    monkeypatch.setenv("COLUMNS", "junk")
    assert terminal_width(stream=io.StringIO()) == PIPED_WIDTH


def test_cli_stats_and_compare_follow_columns(tmp_path: Path, capsys,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    write_human(tmp_path / "human.csv", 20)
    for name, seed, noise in (("close-to-people", 1, 0.8), ("far-from-people", 2, 2.5)):
        import_rows(tmp_path, name, long_rows(20, seed, noise), tmp_path / "human.csv")
    runs = ["--runs-dir", str(tmp_path / "runs")]
    for command in (["stats", "close-to-people"],
                    ["compare", "close-to-people", "far-from-people"]):
        capsys.readouterr()
        assert main([*command, *runs, "--width", "200"]) == 0
        wide = capsys.readouterr().out
        monkeypatch.setenv("COLUMNS", "80")
        assert main([*command, *runs]) == 0
        monkeypatch.delenv("COLUMNS")
        narrow = capsys.readouterr().out
        _check_fits(wide, narrow, 80)
        assert max(cell_len(line) for line in wide.splitlines()) > 80
