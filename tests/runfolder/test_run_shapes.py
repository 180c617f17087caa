"""Corrupt run files (issue 17 item 7): the store's readers take what has the right shape,
skip and name the rest; stats, export and resume never crash on them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.export.conftest import make_run
from tests.helpers import ScriptedEngine, make_dataset, runner_for
from vlmrate.cli import main
from vlmrate.errors import UserError
from vlmrate.runfolder.store import (
    MANIFEST,
    RATINGS,
    REVIEW,
    list_runs,
    load_run,
    read_ratings,
    read_ratings_counted,
    read_review,
    save_review,
)


def _record(image_id: str = "img001", aspect: str = "relevance", repeat: int = 1,
            rating: int | None = 5, **extra: object) -> dict:
    return {"image_id": image_id, "aspect": aspect, "repeat": repeat, "seed": 1,
            "rating": rating, "reason": "r", "raw": "Rating: 5", "parse_error": None,
            "finish_reason": "stop", "prompt_tokens": 10, "output_tokens": 3,
            "latency_s": 0.1, "expected_rating": None, "rating_probs": None,
            "engine_error": None, "time": "t", **extra}


BROKEN_LINES = [
    b"null", b"[1,2]", b'"text"', b"42", b"{}", b"{not json",
    json.dumps(_record(rating="five")).encode(),  # type: ignore[arg-type]
    json.dumps(_record(repeat=0)).encode(),
    json.dumps(_record(repeat=1.5)).encode(),  # type: ignore[arg-type]
    json.dumps(_record(repeat=True)).encode(),  # type: ignore[arg-type]
    json.dumps(_record(image_id="")).encode(),
    json.dumps(_record(image_id=None)).encode(),  # type: ignore[arg-type]
    json.dumps(_record(rating_probs="0.5")).encode(),
    b"\xff\xfe garbage bytes",
    b"[" * 5000 + b"]" * 5000,
]


def test_broken_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    good = [_record(image_id=f"img{i:03d}", repeat=r) for i in range(1, 4) for r in (1, 2)]
    lines = [json.dumps(r).encode() for r in good]
    for i, bad in enumerate(BROKEN_LINES):  # spread between the good lines
        lines.insert(1 + (i * 7) % len(lines), bad)
    (tmp_path / RATINGS).write_bytes(b"\n".join(lines) + b"\n{\"torn")
    frame, broken = read_ratings_counted(tmp_path)
    assert broken == len(BROKEN_LINES)
    assert sorted(frame.select("image_id", "repeat").iter_rows()) == \
        sorted((r["image_id"], r["repeat"]) for r in good)


def test_runner_nan_is_still_read(tmp_path: Path) -> None:
    """Python's json writes NaN; Polars refuses it: the line is read all the same."""
    line = json.dumps(_record(expected_rating=float("nan"), latency_s=float("nan")))
    (tmp_path / RATINGS).write_text(line + "\n" + json.dumps(_record(repeat=2)) + "\n")
    frame, broken = read_ratings_counted(tmp_path)
    assert broken == 0 and frame.height == 2


def test_good_lines_read_alike_with_or_without_a_bad_neighbour(tmp_path: Path) -> None:
    """A bad line must not change how the other lines are read (Polars reads them in
    both cases, e.g. an int reason becomes the text '3')."""
    odd = json.dumps(_record(reason=3, image_id="img002"))  # type: ignore[arg-type]
    (tmp_path / RATINGS).write_text(json.dumps(_record()) + "\n" + odd + "\n")
    alone = read_ratings(tmp_path)
    (tmp_path / RATINGS).write_text(json.dumps(_record()) + "\nnull\n" + odd + "\n")
    assert read_ratings(tmp_path).equals(alone)
    assert alone["reason"].to_list() == ["r", "3"]


def _run_with(tmp_path: Path, **files: object) -> Path:
    run_dir = make_run(tmp_path / "runs", "r")
    for name, content in files.items():
        path = run_dir / name.replace("_", ".")
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(json.dumps(content))
    return run_dir


def _cli(tmp_path: Path, capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    code = main([*args, "--runs-dir", str(tmp_path / "runs")])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


@pytest.mark.parametrize("manifest", [[], None, "text", 3])
def test_manifest_not_an_object_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture,
                                        manifest: object) -> None:
    _run_with(tmp_path, manifest_json=manifest)
    for command in (["stats", "r"], ["export", "r"]):
        code, _, err = _cli(tmp_path, capsys, *command)
        assert code == 2 and err.count("\n") == 1
        assert "manifest.json: not a run manifest" in err
    assert [r["status"] for r in list_runs(tmp_path / "runs")] == ["unreadable"]


@pytest.mark.parametrize(("change", "named"), [
    ({"study": None}, "study is null"),
    ({"study": {"aspects": "relevance", "scale": [1, 9]}}, "study.aspects is a string"),
    ({"study": {"aspects": [None, {"name": 3}], "scale": {"min": "1"}}}, "study.scale"),
    ({"sampling": [], "engine": "vllm", "dataset": None}, "sampling is a list"),
    ({"human": ["sheet.csv"]}, "human is a list"),
    ({"human": {"warnings": "one"}, "name": 7, "status": {}}, "human.warnings is a string"),
    ({"sampling": {"repeats": 10**12}}, "sampling.repeats 1000000000000"),
    ({"dataset": {"path": 5}, "total_jobs": "many"}, "dataset.path is a number"),
])
def test_manifest_fields_of_the_wrong_shape(tmp_path: Path, capsys: pytest.CaptureFixture,
                                            change: dict, named: str) -> None:
    run_dir = make_run(tmp_path / "runs", "r")
    manifest = {**json.loads((run_dir / MANIFEST).read_text()), **change}
    (run_dir / MANIFEST).write_text(json.dumps(manifest))
    run = load_run(run_dir)
    assert run.ratings.height == 12 * 3 * 4  # every record still counted
    assert any(named in p for p in run.problems), run.problems
    code, out, err = _cli(tmp_path, capsys, "stats", "r", "--json")
    assert code == 0 and json.loads(out)["n_images"] == 12
    assert err.startswith("vlmrate: warning: run ") and err.count("\n") == 1 and named in err
    code, _, _ = _cli(tmp_path, capsys, "export", "r", "--csv")
    assert code == 0
    assert list_runs(tmp_path / "runs")[0]["status"] in {"done", "unknown"}


def test_ratings_off_the_scale_are_skipped(tmp_path: Path, capsys: pytest.CaptureFixture
                                           ) -> None:
    run_dir = make_run(tmp_path / "runs", "r")
    with open(run_dir / RATINGS, "a") as handle:
        handle.write(json.dumps(_record(image_id="img001", repeat=99)) + "\n")
        handle.write(json.dumps(_record(image_id="img002", rating=4000)) + "\n")
        handle.write(json.dumps(_record(image_id="img999", repeat=10**15)) + "\n")
    run = load_run(run_dir)
    assert run.ratings.height == 12 * 3 * 4 - 1  # img002/relevance/1 superseded, then skipped
    assert "3 records with a rating outside 1..9 or a repeat" in run.problems[0]
    code, _, err = _cli(tmp_path, capsys, "stats", "r", "--json")
    assert code == 0 and "3 records" in err


@pytest.mark.parametrize("review", [
    [], None, "x", {"cases": []}, {"cases": {"img001": "x"}},
    {"cases": {"img001": {"relevance": {"flagged": "yes"}, "arousal": []}}},
    {"cases": {"img001": {"relevance": {"note": 5}}}},
])
def test_review_of_the_wrong_shape(tmp_path: Path, capsys: pytest.CaptureFixture,
                                   review: object) -> None:
    run_dir = _run_with(tmp_path, review_json=review)
    run = load_run(run_dir)
    assert run.review == {} or all(isinstance(e["flagged"], bool)
                                   for a in run.review.values() for e in a.values())
    assert any("review.json" in p for p in run.problems)
    code, _, err = _cli(tmp_path, capsys, "export", "r")
    assert code == 0 and "review.json" in err
    code, _, _ = _cli(tmp_path, capsys, "stats", "r")
    assert code == 0


def test_flagging_keeps_a_copy_of_a_broken_review(tmp_path: Path) -> None:
    run_dir = _run_with(tmp_path, review_json=b'{"cases": {"img001": {"relevance": {"fl')
    save_review(run_dir, "img002", "arousal", flagged=True)
    assert read_review(run_dir)["img002"]["arousal"]["flagged"] is True
    aside = list(run_dir.glob(f"{REVIEW}.broken-*"))
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b'{"cases": {"img001"')


def test_unreadable_human_parquet(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _run_with(tmp_path, human_parquet=b"PAR1 not really parquet")
    code, _, err = _cli(tmp_path, capsys, "stats", "r")
    assert code == 2 and err.count("\n") == 1 and "no human ratings" in err
    run = load_run(tmp_path / "runs" / "r")
    assert run.human.is_empty() and "human.parquet: unreadable" in run.problems[0]


def test_resume_over_a_broken_manifest_exits_2(tmp_path: Path) -> None:
    make_dataset(tmp_path, 2)
    asyncio.run(runner_for(tmp_path, ScriptedEngine()).run())  # a run with records
    manifest_path = tmp_path / "runs" / "r" / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest["study"] = None
    manifest["resumed"] = "yesterday"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(UserError, match="other settings: prompts"):
        runner_for(tmp_path, ScriptedEngine()).prepare()


def test_a_copied_run_folder_is_listed_under_its_own_name(tmp_path: Path) -> None:
    """A copy keeps its original's manifest name: the list names folders (unique, and what
    `vlmrate stats NAME` takes), or the TUI's Runs table met one key twice."""
    import shutil

    run_dir = make_run(tmp_path / "runs", "r")
    shutil.copytree(run_dir, tmp_path / "runs" / "r-copy")
    assert [r["name"] for r in list_runs(tmp_path / "runs")] == ["r", "r-copy"]
    assert load_run("r-copy", tmp_path / "runs").path == tmp_path / "runs" / "r-copy"
