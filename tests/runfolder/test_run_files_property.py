"""Property test (issue 17): random bytes and JSON values as ratings.jsonl lines, manifests
and review files never crash the store's readers, `vlmrate stats` or `vlmrate export`:
exit 0 or 2, an error is one line, no traceback, and every valid record is counted."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vlmrate.cli import main
from vlmrate.runfolder.store import (
    MANIFEST,
    RATINGS,
    REVIEW,
    list_runs,
    load_run,
    read_ratings_counted,
    read_review,
    write_human,
)

ASPECTS = ["relevance", "arousal"]
IMAGES = [f"img{i}" for i in range(1, 6)]
REPEATS = 3

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                               max_size=4),
    max_leaves=12,
)
FIELDS = ["image_id", "aspect", "repeat", "seed", "rating", "reason", "raw", "parse_error",
          "finish_reason", "prompt_tokens", "output_tokens", "latency_s", "expected_rating",
          "rating_probs", "engine_error", "time"]


@st.composite
def valid_records(draw: st.DrawFn) -> dict:
    rating = draw(st.none() | st.integers(1, 9))
    return {
        "image_id": draw(st.sampled_from(IMAGES)), "aspect": draw(st.sampled_from(ASPECTS)),
        "repeat": draw(st.integers(1, REPEATS)), "seed": draw(st.integers(0, 2**31)),
        "rating": rating, "reason": draw(st.none() | st.text(max_size=20)),
        "raw": draw(st.text(max_size=30)),
        "parse_error": "no_rating" if rating is None else None, "finish_reason": "stop",
        "prompt_tokens": 5, "output_tokens": 3, "latency_s": draw(st.floats(0, 10)),
        "expected_rating": draw(st.none() | st.floats(1, 9)),
        "rating_probs": draw(st.none() | st.lists(st.floats(0, 1), min_size=9, max_size=9)),
        "engine_error": None, "time": "2026-01-01T00:00:00+00:00",
    }


@st.composite
def broken_lines(draw: st.DrawFn) -> bytes:
    """A line that is not a valid record of this run: random bytes, a random JSON value, or
    a record (of an image no valid record has) with one field set to a random value."""
    kind = draw(st.sampled_from(["bytes", "json", "mutated"]))
    if kind == "bytes":
        return draw(st.binary(max_size=60)).replace(b"\n", b" ")
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    record = {**draw(valid_records()), "image_id": f"other{draw(st.integers(0, 9))}"}
    record[draw(st.sampled_from(FIELDS))] = draw(json_values)
    return json.dumps(record).encode()


def _manifest() -> dict:
    return {"name": "r", "status": "done", "model": "m",
            "study": {"name": "s", "scale": {"min": 1, "max": 9},
                      "aspects": [{"name": a, "prompt": "p", "sha256": "0"} for a in ASPECTS]},
            "engine": {"name": "vllm"}, "sampling": {"repeats": REPEATS, "seed": 0},
            "dataset": {"path": None, "n_images": len(IMAGES)},
            "human": {"path": "h.csv", "column_map": {}, "warnings": []},
            "total_jobs": len(IMAGES) * len(ASPECTS) * REPEATS}


@st.composite
def manifests(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["valid", "field", "json", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=40))
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    manifest = _manifest()
    if kind == "field":
        path = draw(st.sampled_from(["name", "status", "study", "sampling", "engine", "dataset",
                                     "human", "total_jobs", "study.aspects", "study.scale",
                                     "sampling.repeats", "human.warnings", "dataset.path"]))
        part: Any = manifest
        *parents, last = path.split(".")
        for key in parents:
            part = part[key]
        part[last] = draw(json_values)
    return json.dumps(manifest).encode()


@st.composite
def reviews(draw: st.DrawFn) -> bytes | None:
    kind = draw(st.sampled_from(["none", "json", "bytes", "cases"]))
    if kind == "none":
        return None
    if kind == "bytes":
        return draw(st.binary(max_size=40))
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    cases = draw(st.dictionaries(st.sampled_from(IMAGES), st.dictionaries(
        st.sampled_from(ASPECTS), json_values | st.fixed_dictionaries(
            {"flagged": st.booleans(), "note": st.text(max_size=10)}), max_size=2), max_size=3))
    return json.dumps({"version": 1, "cases": cases}).encode()


def _write_run(root: Path, lines: list[bytes], manifest: bytes, review: bytes | None,
               torn: bytes) -> Path:
    run_dir = root / "runs" / "r"
    run_dir.mkdir(parents=True)
    (run_dir / RATINGS).write_bytes(b"".join(line + b"\n" for line in lines) + torn)
    (run_dir / MANIFEST).write_bytes(manifest)
    if review is not None:
        (run_dir / REVIEW).write_bytes(review)
    write_human(run_dir, pl.DataFrame(
        [{"image_id": i, "aspect": a, "human_mean": 1.0 + (n * 7 + k) % 9, "human_sd": None,
          "human_n": None} for n, i in enumerate(IMAGES) for k, a in enumerate(ASPECTS)]))
    return run_dir


def _expected(lines: list[tuple[bool, bytes]]) -> dict[tuple, int | None]:
    """Key -> rating of the last valid record of each key."""
    out: dict[tuple, int | None] = {}
    for valid, line in lines:
        if valid:
            record = json.loads(line)
            out[(record["image_id"], record["aspect"], record["repeat"])] = record["rating"]
    return out


mixed_lines = st.lists(
    st.one_of(valid_records().map(lambda r: (True, json.dumps(r).encode())),
              broken_lines().map(lambda b: (False, b))), max_size=30)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=mixed_lines, manifest=manifests(), review=reviews(),
       torn=st.binary(max_size=20).map(lambda b: b.replace(b"\n", b"")))
@pytest.mark.long  # 150 generated run folders
def test_readers_take_every_valid_record(lines: list[tuple[bool, bytes]], manifest: bytes,
                                         review: bytes | None, torn: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = _write_run(Path(tmp), [b for _, b in lines], manifest, review, torn)
        frame, _ = read_ratings_counted(run_dir)
        expected = _expected(lines)
        got = {(r["image_id"], r["aspect"], r["repeat"]): r["rating"]
               for r in frame.iter_rows(named=True) if r["image_id"] in IMAGES}
        assert got == expected
        assert isinstance(read_review(run_dir), dict)
        assert len(list_runs(Path(tmp) / "runs")) == 1
        try:
            run = load_run(run_dir)
        except Exception as exc:  # only a manifest that is not a JSON object may stop it
            assert type(exc).__name__ == "UserError" and "manifest.json" in str(exc)
            return
        kept = {(r["image_id"], r["aspect"], r["repeat"]) for r in run.ratings.iter_rows(
            named=True)}
        if run.scale == (1, 9) and run.repeats >= REPEATS:
            assert set(expected) <= kept


def _cli(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "Traceback" not in out
    assert code in (0, 2), (code, err)
    if code == 2:
        assert err.count("\n") == 1 and err.startswith("vlmrate: error: "), err
    else:
        assert err.count("\n") <= 1 and (not err or err.startswith("vlmrate: warning: ")), err
    return code, out, err


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(lines=mixed_lines, manifest=manifests(), review=reviews())
def test_stats_and_export_exit_0_or_2(lines: list[tuple[bool, bytes]], manifest: bytes,
                                      review: bytes | None,
                                      capsys: pytest.CaptureFixture) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _write_run(Path(tmp), [b for _, b in lines], manifest, review, b"")
        runs = str(Path(tmp) / "runs")
        rated = any(rating is not None for rating in _expected(lines).values())
        readable = manifest == json.dumps(_manifest()).encode()  # the valid manifest
        code, out, _ = _cli(["stats", "r", "--json", "--runs-dir", runs], capsys)
        if readable and rated:  # valid records and a manifest: the statistics are made
            assert code == 0
            assert json.loads(out)["n_images"] >= 1
        code, out, _ = _cli(["export", "r", "--csv", "--runs-dir", runs], capsys)
        assert code == 0 or not (readable and rated)
