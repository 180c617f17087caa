"""`vlmrate import`: long and wide sheets become runs; bad sheets exit 2 with one line."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest

from vlmrate.cli import main
from vlmrate.runfolder.store import load_run

ASPECTS = ["relevance", "arousal", "valence"]


def write_long(path: Path, n_images: int = 137, empty_share: float = 0.03, seed: int = 1) -> int:
    rng = random.Random(seed)
    rows = 0
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image_id", "aspect", "repeat", "rating", "reason"])
        for i in range(1, n_images + 1):
            for aspect in ASPECTS:
                for repeat in range(1, 11):
                    rating = "" if rng.random() < empty_share else rng.randint(1, 9)
                    writer.writerow([f"pic{i:03d}", aspect, repeat, rating, f"why {i}"])
                    rows += 1
    return rows


def write_human(path: Path, n_images: int = 137, columns: list[str] | None = None,
                id_name: str = "Image") -> None:
    rng = random.Random(2)
    columns = columns or ["Relevance_mean", "Arousal_mean", "Valence_mean"]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([id_name, *columns])
        for i in range(1, n_images + 1):
            writer.writerow([f"pic{i}", *[round(rng.uniform(1, 9), 2) for _ in columns]])


def test_long_import_one_line_per_row(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    n_rows = write_long(tmp_path / "long.csv")
    write_human(tmp_path / "human.csv")
    code = main(["import", str(tmp_path / "long.csv"), "--human", str(tmp_path / "human.csv"),
                 "--run", "imp", "--runs-dir", str(tmp_path / "runs")])
    assert code == 0
    lines = (tmp_path / "runs/imp/ratings.jsonl").read_text().splitlines()
    assert len(lines) == n_rows == 137 * 3 * 10
    records = [json.loads(line) for line in lines]
    empty = [r for r in records if r["rating"] is None]
    assert 0.015 < len(empty) / n_rows < 0.05
    assert all(r["parse_error"] == "missing" for r in empty)
    run = load_run(tmp_path / "runs/imp")
    assert run.status == "imported"
    assert run.aspects == ASPECTS
    assert run.human.height == 137 * 3
    # zero padding: the sheet says pic1, the ratings pic001; the human frame uses pic001
    assert set(run.human["image_id"]) == set(run.ratings["image_id"])
    out = capsys.readouterr().out
    assert "137 images" in out and "137 matched" in out


def test_wide_import(tmp_path: Path) -> None:
    rng = random.Random(3)
    with open(tmp_path / "wide.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id"] + [f"{a.capitalize()}_{r}" for a in ASPECTS for r in range(1, 11)])
        for i in range(1, 21):
            cells = [rng.randint(1, 9) for _ in range(30)]
            if i == 7:
                cells[12] = ""  # arousal_3 of pic007 not rated: no answer, not a failure
            writer.writerow([f"pic{i:03d}", *cells])
    write_human(tmp_path / "human.csv", 20, ["relevance", "arousal", "valence"])
    assert main(["import", str(tmp_path / "wide.csv"), "--human", str(tmp_path / "human.csv"),
                 "--run", "w", "--runs-dir", str(tmp_path / "runs")]) == 0
    run = load_run("w", tmp_path / "runs")
    assert run.ratings.height == 20 * 30 - 1
    assert run.ratings["parse_error"].null_count() == run.ratings.height
    assert run.aspects == ASPECTS
    first = run.ratings.filter(image_id="pic001", aspect="arousal").sort("repeat")
    assert first["repeat"].to_list() == list(range(1, 11))


@pytest.mark.parametrize(
    ("human_text", "expected"),
    [
        ("image,relevance,arousal\npic1,5,5\n", "aspect 'valence' is not in the human sheet"),
        ("image,relevance,arousal,valence\npic1,5,5,5\npic001,4,4,4\n", "duplicate image id"),
        ("image,relevance,arousal,valence\npic1,5,high,5\n", "'high' is not a number"),
        ("image,relevance,arousal,valence\npic1,5,12,5\n", "outside the scale"),
        ("", "empty"),
    ],
)
def test_bad_human_sheet_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture,
                                 human_text: str, expected: str) -> None:
    write_long(tmp_path / "long.csv", n_images=3)
    (tmp_path / "human.csv").write_text(human_text)
    code = main(["import", str(tmp_path / "long.csv"), "--human", str(tmp_path / "human.csv"),
                 "--run", "bad", "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2
    assert expected in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "runs/bad").exists()


@pytest.mark.parametrize(
    ("ratings_text", "expected"),
    [
        ("image_id,aspect,repeat,rating\npic1,relevance,1,seven\n", "row 2"),
        ("image_id,aspect,repeat,rating\npic1,relevance,1,7.5\n", "not an integer"),
        ("image_id,aspect,repeat,rating\npic1,relevance,1,3\npic1,relevance,1,4\n", "repeats row"),
        ("image_id,score\npic1,4\n", "neither long"),
        # import matches ids as `vlmrate run` does: pic1 and pic001 are one image (item 10)
        ("image_id,aspect,repeat,rating\npic1,relevance,1,3\npic001,relevance,2,4\n",
         "'pic1' (row 2) and 'pic001' (row 3) name the same image"),
        ("id,relevance_1,relevance_2\nPIC2,3,4\npic2.jpg,4,5\n",
         "'PIC2' (row 2) and 'pic2.jpg' (row 3) name the same image"),
        ("image_id,aspect,repeat,rating\n", "no ratings rows"),
        ("image_id,aspect,repeat,rating\npic1,relevance,1.5,3\n", "not a whole number"),
        # a typo in the ratings file's aspect: the ratings file is named first, not the
        # human sheet alone
        ("image_id,aspect,repeat,rating\npic1,relevnce,1,3\n",
         "r.csv: aspect 'relevnce' is not in the human sheet"),
    ],
)
def test_bad_ratings_sheet_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture,
                                   ratings_text: str, expected: str) -> None:
    (tmp_path / "r.csv").write_text(ratings_text)
    write_human(tmp_path / "human.csv", 3)
    code = main(["import", str(tmp_path / "r.csv"), "--human", str(tmp_path / "human.csv"),
                 "--run", "bad", "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and expected in err and "r.csv" in err


def test_existing_run_is_not_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_long(tmp_path / "long.csv", n_images=2)
    write_human(tmp_path / "human.csv", 2)
    args = ["import", str(tmp_path / "long.csv"), "--human", str(tmp_path / "human.csv"),
            "--run", "x", "--runs-dir", str(tmp_path / "runs")]
    assert main(args) == 0
    before = (tmp_path / "runs/x/ratings.jsonl").read_bytes()
    assert main(args) == 2
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "runs/x/ratings.jsonl").read_bytes() == before


def test_long_import_expected_rating_and_row_order(tmp_path: Path) -> None:
    rng = random.Random(5)
    rows = []
    for i in range(1, 31):
        for aspect in ASPECTS:
            for repeat in range(1, 4):
                rating = rng.randint(1, 9)
                expected = "" if (i, repeat) == (4, 2) else round(rating + rng.uniform(-0.4, 0.4), 3)
                rows.append([f"pic{i:03d}", aspect, repeat, rating, min(max(expected, 1), 9)
                             if expected != "" else ""])
    rng.shuffle(rows)  # valence may come first: the study order must not follow the rows
    with open(tmp_path / "long.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image_id", "aspect", "repeat", "rating", "expected_rating"])
        writer.writerows(rows)
    write_human(tmp_path / "human.csv", n_images=30)
    code = main(["import", str(tmp_path / "long.csv"), "--human", str(tmp_path / "human.csv"),
                 "--run", "exp", "--runs-dir", str(tmp_path / "runs")])
    assert code == 0
    run = load_run(tmp_path / "runs/exp")
    assert run.aspects == ASPECTS  # the human sheet's column order
    got = {(r["image_id"], r["aspect"], r["repeat"]): r["expected_rating"]
           for r in run.ratings.iter_rows(named=True)}
    for image_id, aspect, repeat, _, expected in rows:
        assert got[(image_id, aspect, repeat)] == (None if expected == "" else expected)


@pytest.mark.parametrize("cell", ["high", "9.5", "0"])
def test_bad_expected_rating_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture,
                                     cell: str) -> None:
    with open(tmp_path / "long.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image_id", "aspect", "repeat", "rating", "expected_rating"])
        writer.writerow(["pic001", "relevance", 1, 5, 5.2])
        writer.writerow(["pic001", "relevance", 2, 6, cell])
    write_human(tmp_path / "human.csv", n_images=1, columns=["Relevance"])
    code = main(["import", str(tmp_path / "long.csv"), "--human", str(tmp_path / "human.csv"),
                 "--run", "bad", "--runs-dir", str(tmp_path / "runs")])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "expected_rating" in err[0] and "row 3" in err[0]
    assert not (tmp_path / "runs/bad").exists()
