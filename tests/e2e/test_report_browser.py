"""The HTML report as a reader sees it: headless Chromium (Debian's package, installed by
`make test`'s system-deps step) opens the file offline and the DevTools protocol says
what the page did. The figure PDFs convert with pdftoppm."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from tests.e2e.cdp import Browser, chromium_binary
from tests.export.conftest import make_run
from vlmrate.cli import main
from vlmrate.runfolder.store import save_review

SCRIPT_NOTE = '<script>document.title="pwned"</script><img src=x onerror=alert(1)>'
FIGURE_SIZES = ("JSON.stringify([...document.querySelectorAll('figure .svg svg')]"
                ".map(s => {const r = s.getBoundingClientRect(); return [r.width, r.height];}))")


def need(binary: str | None, what: str) -> str:
    if binary:
        return binary
    if os.environ.get("CI"):  # make test installs it: missing there is a failure
        pytest.fail(f"{what} is not installed (make system-deps)")
    pytest.skip(f"{what} is not installed (make system-deps installs it)")


@pytest.fixture
def report(tmp_path: Path) -> Path:
    runs = tmp_path / "runs"
    run_dir = make_run(runs, "demo", n_images=30, repeats=5)
    save_review(run_dir, "img001", "relevance", flagged=True, note=SCRIPT_NOTE)
    assert main(["report", "demo", "--runs-dir", str(runs)]) == 0
    return run_dir / "demo-report.html"


def test_report_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    need(chromium_binary(), "chromium")
    url = report.resolve().as_uri()
    shot = tmp_path / "report.png"
    with Browser(tmp_path / "profile") as browser:
        browser.open(url)
        sizes = browser.evaluate(FIGURE_SIZES)
        title = browser.evaluate("document.title")
        scripts = browser.evaluate("document.querySelectorAll('script').length")
        text = browser.evaluate("document.body.innerText")
        browser.screenshot(shot)
        first = browser.evaluate("JSON.stringify(document.querySelector('figure')"
                                 ".getBoundingClientRect())")
        pdf = browser.print_pdf(tmp_path / "printed.pdf")
        requests, errors = browser.requests(), browser.errors()
    # no request leaves the page: the file itself and data: URLs (images inside SVGs)
    assert [u for u in requests if u != url and not u.startswith("data:")] == []
    assert url in requests  # the watch works: it saw the page's own load
    assert errors == []
    sizes = json.loads(sizes)
    assert len(sizes) >= 8  # the reference set, Bland–Altman, by k, sampled vs expected
    assert all(w > 100 and h > 100 for w, h in sizes), sizes
    assert json.loads(first)["height"] > 100
    # the model's and reviewer's text is text: no script ran, none is in the DOM
    assert title == "vlmrate report: demo"
    assert scripts == 0
    assert SCRIPT_NOTE in text
    with Image.open(shot) as image:
        assert image.size == (1200, 1600)
        colours = image.convert("L").getextrema()
        assert colours[0] < 60 and colours[1] > 200  # ink on paper, not a blank page
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 10_000
    keep = os.environ.get("VLMRATE_TEST_ARTIFACTS")
    if keep:  # CI or a developer keeps the screenshot to look at
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / "report-screenshot.png")


def test_the_watch_sees_a_request(tmp_path: Path) -> None:
    """The check above could fail: a page that loads something from the network is
    caught (a request, and the failure to reach the address)."""
    need(chromium_binary(), "chromium")
    page = tmp_path / "leaky.html"
    page.write_text("<!DOCTYPE html><html><body><img src='http://127.0.0.1:9/x.png'>"
                    "</body></html>")
    with Browser(tmp_path / "profile") as browser:
        browser.open(page.resolve().as_uri())
        requests, errors = browser.requests(), browser.errors()
    assert "http://127.0.0.1:9/x.png" in requests
    assert errors


def test_figure_pdfs_convert_with_pdftoppm(tmp_path: Path) -> None:
    pdftoppm = need(shutil.which("pdftoppm"), "pdftoppm")
    runs = tmp_path / "runs"
    make_run(runs, "demo", n_images=30, repeats=5)
    assert main(["figures", "demo", "--runs-dir", str(runs), "--format", "pdf"]) == 0
    pdfs = sorted((runs / "demo" / "figures").glob("*.pdf"))
    assert len(pdfs) >= 8
    for pdf in pdfs:
        out = tmp_path / pdf.stem
        subprocess.run([pdftoppm, "-png", "-r", "72", "-singlefile", str(pdf), str(out)],
                       check=True, timeout=60)
        with Image.open(out.with_suffix(".png")) as image:
            width, height = image.size
            assert width >= 250 and height >= 100  # 3.5 in or 7.2 in wide at 72 dpi
            assert image.convert("L").getextrema()[0] < 100  # something is drawn
