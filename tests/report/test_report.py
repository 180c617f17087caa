"""`vlmrate report`: one self-contained page with every section, text escaped, nothing
loaded from anywhere (the browser test opens it in Chromium)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.export.conftest import two_comparable_runs
from tests.helpers import add_images
from vlmrate.cli import main
from vlmrate.report import inline_svg
from vlmrate.runfolder.store import load_run, save_review
from vlmrate.stats import analyse
from vlmrate.stats.layout import STATISTICS
from vlmrate.stats.methods import methods_text

NOTE = '</textarea><script>alert("x")</script>\x1b[31m'


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report") / "runs"
    run_dir = two_comparable_runs(root, n_images=14, repeats=3, other_seed=5)
    add_images(run_dir, root.parent / "data", [f"img{i:03d}" for i in range(1, 15)])
    save_review(run_dir, "img001", "valence", flagged=True, note=NOTE)  # answers: NASTY
    return root


@pytest.fixture(scope="module")
def page(runs: Path) -> str:
    assert main(["report", "demo", "--runs-dir", str(runs)]) == 0
    return (runs / "demo" / "demo-report.html").read_text(encoding="utf-8")


def test_sections_and_numbers(page: str, runs: Path) -> None:
    run = load_run("demo", runs)
    stats = analyse(run.ratings, run.human, run.aspects)
    for heading in ("Run", "Methods", "Statistics", "Figures", "Reviewed cases"):
        assert f">{heading}</h2>" in page
    import html

    assert html.escape(methods_text(stats), quote=True) in page
    for stat in STATISTICS:
        if "{" not in stat.label and not stat.path.startswith("icc.n0"):
            assert html.escape(stat.label, quote=True) in page, stat.label
    assert f"{stats.aspects['valence'].icc.ICC1.value:.3f}" in page
    assert "0" * 63 + "1" in page  # a prompt's sha256
    assert "tiny/llava" in page and "temperature" in page
    assert page.count("<figure") == 12 and page.count("<svg") == 12  # the case images too
    assert "src='data:image/jpeg;base64," in page  # the reviewed cases' thumbnails
    assert "@media print" in page


def test_text_is_escaped_and_nothing_is_loaded(page: str) -> None:
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "\x1b" not in page and "\x07" not in page  # control characters: U+FFFD
    assert 'a &amp; &lt;b&gt; &quot;q&quot;' in page  # a model's reason, in the case
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page, re.I)
    assert "@import" not in page and "url(http" not in page
    assert "default-src 'none'" in page  # and the browser is told so


def test_svg_ids_are_prefixed_per_figure() -> None:
    svg = ('<?xml version="1.0"?>\n<!DOCTYPE svg>\n<svg><defs><path id="g1"/>'
           '<clipPath id="c1"/></defs><use xlink:href="#g1"/>'
           '<g clip-path="url(#c1)"/><a href="#elsewhere"/></svg>')
    out = inline_svg(svg, "f3")
    assert out.startswith("<svg>")
    assert 'id="f3-g1"' in out and 'xlink:href="#f3-g1"' in out
    assert "url(#f3-c1)" in out and 'href="#elsewhere"' in out


def test_compare_report_and_errors(runs: Path, capsys: pytest.CaptureFixture,
                                   tmp_path: Path) -> None:
    assert main(["report", "--compare", "demo", "other", "--runs-dir", str(runs)]) == 0
    page = (runs / "demo" / "compare-demo-other.html").read_text()
    assert "vlmrate comparison: demo, other" in page and page.count("<svg") == 3
    assert "demo − other" in page
    capsys.readouterr()
    assert main(["report", "demo", "--runs-dir", str(runs), "-o",
                 str(tmp_path / "r.txt")]) == 2
    assert "must end in .html" in capsys.readouterr().err
    assert main(["report", "demo", "--runs-dir", str(runs), "-o",
                 str(tmp_path / "no" / "r.html")]) == 2
    out = tmp_path / "mine.html"
    assert main(["report", "demo", "--runs-dir", str(runs), "-o", str(out)]) == 0
    assert out.read_text().startswith("<!DOCTYPE html>")
