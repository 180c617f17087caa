"""`vlmrate figures`: every figure written, byte-identical reruns (also in another
process), journal widths and fonts, captions from the numbers, one-line errors."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.export.conftest import make_run, two_comparable_runs
from tests.helpers import add_images
from vlmrate.cli import main
from vlmrate.runfolder.store import load_run
from vlmrate.stats import analyse

REPO = Path(__file__).resolve().parents[2]
# one worker for the module (make test-fast: --dist loadgroup): matplotlib, the two runs
# and the all-format render of `rendered` are made once
pytestmark = pytest.mark.xdist_group("figures")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """runs/demo, whose dataset images are there (its case images are drawn), and
    runs/other of the same study, an imported run without them."""
    root = tmp_path_factory.mktemp("figs") / "runs"
    demo = two_comparable_runs(root, n_images=16, repeats=4, other_seed=2)
    add_images(demo, root.parent / "data", [f"img{i:03d}" for i in range(1, 17)])
    return root


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.mark.e2e  # a second Python process renders every figure again (~15 s): make test
def test_figures_written_in_the_run_folder_and_rerun_byte_identical(
        runs: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["figures", "demo", "--runs-dir", str(runs)]) == 0
    folder = runs / "demo" / "figures"
    assert str(folder) in capsys.readouterr().out
    first = _digests(folder)
    stems = {Path(n).stem for n in first if n != "figures.md"}
    # the reference set (1-4, first k per aspect), Bland–Altman, by k, sampled vs expected,
    # the case images, the human ceiling (the sheet has SDs and rater counts)
    assert len(stems) == 4 + 3 + 3 + 1 + 1
    assert all(f"{s}.{x}" in first for s in stems for x in ("pdf", "png", "svg"))
    # a rerun in another process, with another hash seed: the same bytes
    env = {**os.environ, "PYTHONHASHSEED": "12345",
           "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    out = runs.parent / "again"
    subprocess.run([sys.executable, "-m", "vlmrate.cli", "figures", "demo", "--runs-dir",
                    str(runs), "-o", str(out)], check=True, env=env,
                   capture_output=True, timeout=300)
    again = _digests(out)
    assert again.keys() == first.keys()
    for name, digest in again.items():
        if name != "figures.md":  # it names the command (with -o)
            assert first[name] == digest, name


@pytest.fixture(scope="module")
def rendered(runs: Path) -> Path:
    """``vlmrate figures demo`` (every format) once for the module: its folder."""
    assert main(["figures", "demo", "--runs-dir", str(runs)]) == 0
    return runs / "demo" / "figures"


def test_pdf_fonts_embedded_no_dates_widths(rendered: Path) -> None:
    for pdf in rendered.glob("*.pdf"):
        data = pdf.read_bytes()
        assert b"/FontFile2" in data  # TrueType (Type 42) embedded
        assert b"/Subtype /Type3" not in data
        assert b"CreationDate" not in data and b"ModDate" not in data
    for svg in rendered.glob("*.svg"):
        text = svg.read_text()
        assert "<dc:date>" not in text
    from PIL import Image

    for name, inches in (("fig02_icc", 3.5), ("fig06_bland_altman", 7.2)):
        with Image.open(rendered / f"{name}.png") as image:
            assert image.size[0] == round(inches * 300)


def test_captions_are_written_from_the_numbers(runs: Path, rendered: Path) -> None:
    md = (rendered / "figures.md").read_text()
    run = load_run("demo", runs)
    stats = analyse(run.ratings, run.human, run.aspects)
    assert "Made by `vlmrate figures demo`." in md
    for a, s in stats.aspects.items():
        assert f"{a} ICC(1,1) {s.icc.ICC1.value:.2f}".replace("-", "−") in md
        assert f"{a}: mean {s.stability.sd_mean:.2f}" in md
        ag = s.agreement
        assert f"{a}: bias {ag.ba_bias:.2f}".replace("-", "−") in md
        assert f"K = {s.n_repeats}" in md
        h = s.human  # the human-ceiling figure's caption: the numbers of the human block
        assert f"{a}: model MAE {h.model_mae:.2f}, one rater {h.rater_mae:.2f}" in md
    assert md.count("**Figure ") == 12


def test_one_aspect_and_compare(runs: Path) -> None:
    out = runs.parent / "one"
    assert main(["figures", "other", "--runs-dir", str(runs), "--aspect", "valence",
                 "--format", "svg", "-o", str(out)]) == 0
    names = sorted(p.name for p in out.glob("*.svg"))
    assert "fig05_first_k_01_valence.svg" in names and not any("arousal" in n for n in names)
    assert "fig03_between_aspects.svg" not in names  # one aspect: no correlation matrix
    assert "fig09_case_images.svg" not in names  # no dataset images: and figures.md says so
    assert "Not drawn: the case images" in (out / "figures.md").read_text()
    assert main(["figures", "--compare", "demo", "other", "--runs-dir", str(runs),
                 "--format", "png"]) == 0
    folder = runs / "demo" / "figures" / "compare-demo-other"
    assert sorted(p.name for p in folder.glob("*.png")) == [
        "cmp01_mae_r.png", "cmp02_mae_by_k.png", "cmp03_disagreements.png"]
    assert "demo" in (folder / "figures.md").read_text()


@pytest.mark.parametrize(("argv", "message"), [
    (["--format", "jpg"], "--format 'jpg'"),
    (["--aspect", "nope"], "has no aspect 'nope'"),
    (["--compare", "demo", "other"], "not both"),
])
def test_bad_input_is_one_line(runs: Path, capsys: pytest.CaptureFixture, argv: list[str],
                               message: str) -> None:
    assert main(["figures", "demo", "--runs-dir", str(runs), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_output_that_is_a_file_or_no_run(runs: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "file.txt"
    target.write_text("keep me")
    with monkeypatch.context() as patch:  # said before any statistics are computed
        patch.setattr("vlmrate.commands.figures.analysed_run", _not_called)
        patch.setattr("vlmrate.commands.figures.comparison", _not_called)
        for run in (["demo"], ["--compare", "demo", "other"]):
            assert main(["figures", *run, "--runs-dir", str(runs), "-o", str(target)]) == 2
            assert "is a file" in capsys.readouterr().err and target.read_text() == "keep me"
    assert main(["figures", "--runs-dir", str(runs)]) == 2
    assert main(["figures", "missing", "--runs-dir", str(runs)]) == 2


def _not_called(*args: object, **kwargs: object) -> None:
    raise AssertionError("the statistics were computed")


def test_case_images_when_the_dataset_is_there(rendered: Path) -> None:
    assert all((rendered / f"fig09_case_images.{x}").is_file() for x in ("pdf", "png", "svg"))
    md = (rendered / "figures.md").read_text()
    assert "**Figure 11. Case images.**" in md and "case images (the run's" not in md


def test_one_answer_per_image_and_an_aspect_without_human_means(tmp_path: Path) -> None:
    import polars as pl

    # SVG: the cheapest format to write (which figures are drawn is the same in every one)
    runs = tmp_path / "runs"
    make_run(runs, "one", n_images=6, repeats=1)
    assert main(["figures", "one", "--runs-dir", str(runs), "--format", "svg"]) == 0
    names = {p.stem for p in (runs / "one" / "figures").glob("*.svg")}
    assert "fig01_sd_per_image" not in names and "fig02_icc" not in names  # no SD, no ICC
    assert "fig07_errors_by_k" in names
    run_dir = make_run(runs, "nohum", n_images=6, repeats=3)
    human = pl.read_parquet(run_dir / "human.parquet")
    human.filter(pl.col("aspect") != "valence").write_parquet(run_dir / "human.parquet")
    assert main(["figures", "nohum", "--runs-dir", str(runs), "--format", "svg"]) == 0
    folder = run_dir / "figures"
    assert not any("valence" in p.name for p in folder.iterdir())
    assert "Not drawn: valence (no image has both" in (folder / "figures.md").read_text()


def _counted_figure() -> tuple[Any, list[int]]:
    from vlmrate.figures.style import new_figure

    fig, axes = new_figure(3.5, 2.0)
    axes[0][0].plot([1, 2, 3], [3, 1, 2])
    axes[0][0].set_xlabel("x")
    draws = [0]
    draw = fig.draw

    def counted(renderer: Any) -> Any:
        draws[0] += 1
        return draw(renderer)

    fig.draw = counted
    return fig, draws


def test_a_figure_is_drawn_once_per_format_and_reused(tmp_path: Path) -> None:
    """Each format a file more is one draw more (the layout is done once, savefig does not
    lay it out again), and the report's SVG and a PNG at the file's resolution are the
    files' bytes, not new drawings."""
    from vlmrate.figures.style import DPI, png_bytes, save, svg_text

    one, draws_one = _counted_figure()
    save(one, tmp_path / "one", ["svg"])
    three, draws_three = _counted_figure()
    save(three, tmp_path / "three", ["svg", "png", "pdf"])
    assert draws_three[0] - draws_one[0] == 2
    before = draws_three[0]
    assert svg_text(three) == (tmp_path / "three.svg").read_text(encoding="utf-8")
    assert png_bytes(three, dpi=DPI) == (tmp_path / "three.png").read_bytes()
    assert draws_three[0] == before
    assert png_bytes(three) != png_bytes(three, dpi=DPI) and draws_three[0] == before + 1
