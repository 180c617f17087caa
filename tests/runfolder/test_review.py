"""review.json: categories, notes, reviewer and time per (image, aspect); the saved view;
tolerant reading; atomic writes; `vlmrate review RUN --json`; the study's categories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vlmrate.cli import main
from vlmrate.inputs.study import load_study
from vlmrate.runfolder.review import (
    DEFAULT_CATEGORIES,
    flag_categories,
    read_review_file,
    reviewer_name,
    save_view,
    set_case,
)


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLMRATE_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.delenv("VLMRATE_REVIEWER", raising=False)
    monkeypatch.setenv("USER", "ana")


def test_set_case_writes_category_note_reviewer_time(tmp_path: Path) -> None:
    set_case(tmp_path, "img1", "valence", category="human odd")
    set_case(tmp_path, "img1", "valence", note="two lines\nof note")
    set_case(tmp_path, "img2", "arousal", note="only a note", reviewer="bo")
    data = json.loads((tmp_path / "review.json").read_text())
    assert data["version"] == 2
    entry = data["cases"]["img1"]["valence"]
    assert entry["category"] == "human odd" and entry["note"] == "two lines\nof note"
    assert entry["reviewer"] == "ana" and entry["time"].startswith("20")
    assert data["cases"]["img2"]["arousal"] == {**data["cases"]["img2"]["arousal"],
                                                "category": None, "reviewer": "bo"}
    cases = read_review_file(tmp_path).cases
    assert cases["img1"]["valence"]["flagged"] is True
    assert cases["img2"]["arousal"]["flagged"] is False
    # unflag and clear the note: the entry goes
    set_case(tmp_path, "img1", "valence", category=None, note="")
    assert "img1" not in read_review_file(tmp_path).cases
    assert not list(tmp_path.glob(".review.json*"))  # no temp file left behind


def test_view_and_cases_kept_by_each_other(tmp_path: Path) -> None:
    set_case(tmp_path, "img1", "relevance", category="model wrong")
    save_view(tmp_path, {"aspect": "valence", "sort": "valence_d", "descending": True,
                         "filter": "|d| >= 1.5", "cursor": "img1", "junk": 3})
    set_case(tmp_path, "img2", "relevance", note="n")
    review = read_review_file(tmp_path)
    assert review.view == {"aspect": "valence", "sort": "valence_d", "descending": True,
                           "filter": "|d| >= 1.5", "cursor": "img1"}
    assert set(review.cases) == {"img1", "img2"}


def test_version_1_and_wrong_shapes_are_tolerated(tmp_path: Path) -> None:
    (tmp_path / "review.json").write_text(json.dumps({
        "version": 1,
        "cases": {"a": {"valence": {"flagged": True, "note": "old", "updated": "2025-01-01"},
                        "arousal": {"flagged": False, "note": 5},
                        "relevance": "flagged"},
                  "b": ["not", "a", "dict"],
                  "c": {"valence": {"category": 3}}},
        "view": {"sort": 7, "filter": "sd > 3"}}))
    review = read_review_file(tmp_path)
    assert review.cases == {"a": {"valence": {"category": "flagged", "flagged": True,
                                              "note": "old", "reviewer": "",
                                              "time": "2025-01-01"}}}
    assert review.view == {"filter": "sd > 3"}
    assert review.problems == ["review.json: 4 entries of the wrong shape (ignored)"]
    # the next write keeps a copy of the file it could not read whole
    set_case(tmp_path, "a", "arousal", note="new")
    assert len(list(tmp_path.glob("review.json.broken-*"))) == 1
    assert read_review_file(tmp_path).cases["a"]["valence"]["note"] == "old"


@pytest.mark.parametrize("content", ["[1, 2]", "not json {", '"text"', '{"cases": 3}', ""])
def test_unreadable_review_gives_nothing_and_says_so(tmp_path: Path, content: str) -> None:
    (tmp_path / "review.json").write_text(content)
    review = read_review_file(tmp_path)
    assert review.cases == {} and review.problems


def test_reviewer_from_setting_env_or_user(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    assert reviewer_name() == "ana"
    config = tmp_path / "config.toml"
    config.write_text('[review]\nreviewer = "Dr. Lee"\ncategories = ["x", "y"]\n')
    monkeypatch.setenv("VLMRATE_CONFIG", str(config))
    assert reviewer_name() == "Dr. Lee"
    assert flag_categories({}) == ["x", "y"]
    monkeypatch.setenv("VLMRATE_REVIEWER", "kim")
    assert reviewer_name() == "kim"


def test_categories_from_the_study(tmp_path: Path) -> None:
    assert flag_categories(None) == list(DEFAULT_CATEGORIES)
    folder = tmp_path / "prompts/mine"
    folder.mkdir(parents=True)
    (folder / "v.txt").write_text("Rate valence.")
    (folder / "study.toml").write_text(
        '[[aspects]]\nname = "valence"\nprompt_file = "v.txt"\n'
        '[review]\ncategories = ["sees text", "model wrong"]\n')
    study = load_study("mine", tmp_path / "prompts")
    manifest = {"study": study.to_manifest()}
    assert flag_categories(manifest) == ["sees text", "model wrong"]


def test_cli_review_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.tui.conftest import make_run

    run_dir = make_run(tmp_path)
    assert main(["review", str(run_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"run": "study1", "cases": []}
    set_case(run_dir, "img02", "valence", category="ambiguous image", note="dark")
    set_case(run_dir, "img01", "arousal", note="check")
    assert main(["review", "study1", "--runs-dir", str(tmp_path / "runs"), "--json"]) == 0
    cases = json.loads(capsys.readouterr().out)["cases"]
    assert [(c["image_id"], c["aspect"], c["category"], c["note"], c["reviewer"])
            for c in cases] == [("img01", "arousal", None, "check", "ana"),
                                ("img02", "valence", "ambiguous image", "dark", "ana")]
    assert main(["review", "no-such-run", "--runs-dir", str(tmp_path / "runs")]) == 2
    assert "no-such-run" in capsys.readouterr().err
