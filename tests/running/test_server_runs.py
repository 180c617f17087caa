"""Runs against an OpenAI-compatible server that misbehaves, a second process on the same
run folder, and secrets that must never be written down."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.engines.conftest import MODEL, FakeServer
from tests.helpers import PROMPTS, make_dataset
from vlmrate.cli import main
from vlmrate.runfolder.settings import RunConfig
from vlmrate.runfolder.store import MANIFEST, load_run, read_ratings
from vlmrate.running.runner import Runner

ROOT = Path(__file__).parents[2]
FAST = {"max_retries": 1, "backoff_s": 0.01, "timeout_s": 2.0, "concurrency": 4}


def openai_runner(tmp_path: Path, url: str, **options: object) -> Runner:
    return Runner(RunConfig(dataset=tmp_path / "data", engine="openai", base_url=url,
                            model=MODEL, repeats=2, run_name="srv", runs_dir=tmp_path / "runs",
                            prompts_dir=PROMPTS, structured=True,
                            engine_options={**FAST, **options}))


def test_server_dies_mid_run_then_resume_fills_the_gaps(tmp_path: Path) -> None:
    make_dataset(tmp_path, 6)
    server = FakeServer()
    server.delay = 0.02
    runner = openai_runner(tmp_path, server.url)

    def kill_after_ten(progress: object) -> None:
        if getattr(progress, "done", 0) == 10:
            server.kill()

    runner.on_progress = kill_after_ten
    final = asyncio.run(runner.run())
    frame = read_ratings(tmp_path / "runs/srv")
    # the only server is down: the run stops, says so, and writes no error records
    assert final.status == "failed" and "every server is down" in final.message
    assert f"cannot reach {server.url}" in final.message and "run again" in final.message
    assert 10 <= frame.height < 36 and frame["engine_error"].null_count() == frame.height
    assert (frame["server"] == server.url).all()
    assert final.servers[0]["up"] is False
    # the server is back (on another port): resume does exactly the unanswered keys
    again = FakeServer()
    try:
        final = asyncio.run(openai_runner(tmp_path, again.url).run())
    finally:
        again.kill()
    assert final.status == "done"
    assert again.chat_calls == 36 - frame.height
    after = read_ratings(tmp_path / "runs/srv")
    assert after.height == 36 and after["engine_error"].null_count() == 36
    assert after["rating"].null_count() == 0
    kept = after.join(frame, on=["image_id", "aspect", "repeat"], suffix="_b")
    assert (kept["raw"] == kept["raw_b"]).all() and kept.height == frame.height


def test_server_errors_are_clear_per_request(tmp_path: Path) -> None:
    make_dataset(tmp_path, 2)
    server = FakeServer()
    try:
        server.faults.extend(["500", "500", "500", "500", "badjson", "nochoices", "400"])
        # one request at a time, so the scripted faults meet the requests in order
        final = asyncio.run(openai_runner(tmp_path, server.url, concurrency=1).run())
    finally:
        server.kill()
    frame = read_ratings(tmp_path / "runs/srv")
    messages = frame["engine_error"].drop_nulls().to_list()
    assert final.status == "done" and frame.height == 12
    assert sum("HTTP 500 after 1 retry:" in m for m in messages) == 2
    assert any("HTTP 400" in m for m in messages)
    assert len(messages) == 5 and frame["rating"].null_count() == 5


def test_refused_connection_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    make_dataset(tmp_path, 1)
    server = FakeServer()
    url = server.url
    server.kill()
    code = main(["run", str(tmp_path / "data"), "--engine", "openai", "--base-url", url,
                 "--model", MODEL, "--run", "x", "--runs-dir", str(tmp_path / "runs"),
                 "--prompts", str(PROMPTS / "reference")])
    err = capsys.readouterr().err
    assert code == 2 and "cannot reach" in err and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("vlmrate: error:")


def test_api_key_is_never_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-test-0123456789-secret"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    make_dataset(tmp_path, 2)
    server = FakeServer()
    server.require_key = secret
    try:
        final = asyncio.run(openai_runner(tmp_path, server.url).run())
    finally:
        server.kill()
    assert final.status == "done"
    run = load_run(tmp_path / "runs/srv")
    assert run.ratings["engine_error"].null_count() == run.ratings.height
    from vlmrate.export import export_run

    export_run(run, csv=True, parquet=True)
    written = [p for p in (tmp_path / "runs/srv").rglob("*") if p.is_file()]
    assert any(p.suffix == ".xlsx" for p in written) and len(written) >= 6
    for path in written:
        data = path.read_bytes()
        if path.suffix == ".xlsx":
            import zipfile

            with zipfile.ZipFile(path) as book:
                data = b"".join(book.read(n) for n in book.namelist())
        assert secret.encode() not in data, path


def test_second_process_on_the_same_run_is_refused(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    make_dataset(tmp_path, 6)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}
    first = subprocess.Popen([sys.executable, "-m", "tests.scripted_run", str(tmp_path),
                              "--delay", "0.2"], stdout=subprocess.PIPE, text=True, env=env,
                             cwd=ROOT)
    try:
        assert first.stdout is not None
        # it has written answers (the manifest got the started engine's info before them)
        line = first.stdout.readline()
        while line and not (line.strip().isdigit() and int(line) >= 1):
            line = first.stdout.readline()
        assert line, "the first run ended before writing an answer"
        manifest = (tmp_path / "runs/r" / MANIFEST).read_bytes()
        code = main(["run", str(tmp_path / "data"), "--run", "r", "--runs-dir",
                     str(tmp_path / "runs"), "--repeats", "2", "--model", "scripted",
                     "--prompts", str(PROMPTS / "reference")])
        err = capsys.readouterr().err
        assert code == 2 and "in use by another vlmrate process" in err
        assert (tmp_path / "runs/r" / MANIFEST).read_bytes() == manifest
    finally:
        first.kill()
        first.wait()
    lines = (tmp_path / "runs/r/ratings.jsonl").read_bytes().splitlines()
    import json

    keys = [(r["image_id"], r["aspect"], r["repeat"]) for r in map(json.loads, lines)]
    assert len(keys) == len(set(keys))  # nothing interleaved from a second writer


def test_two_servers_one_dies_the_run_ends_done_with_every_answer(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    make_dataset(tmp_path, 8)
    a, b = FakeServer(), FakeServer()
    a.delay = b.delay = 0.05
    killer = threading.Timer(0.6, a.kill)
    try:
        killer.start()
        code = main(["run", str(tmp_path / "data"), "--engine", "openai", "--base-url", a.url,
                     "--base-url", b.url, "--model", MODEL, "--run", "two", "--repeats", "2",
                     "--structured", "--concurrency", "3", "--runs-dir", str(tmp_path / "runs"),
                     "--prompts", str(PROMPTS / "reference")])
    finally:
        killer.cancel()
        a.kill()
        b.kill()
    err = capsys.readouterr().err
    assert code == 0, err
    frame = read_ratings(tmp_path / "runs/two")
    assert frame.height == 8 * 3 * 2 and frame["engine_error"].null_count() == frame.height
    assert frame["rating"].null_count() == 0
    assert set(frame["server"].to_list()) == {a.url, b.url}
    manifest = json.loads((tmp_path / "runs/two" / MANIFEST).read_text())
    assert manifest["engine"]["base_urls"] == [a.url, b.url]
    assert manifest["status"] == "done"
    # the plain progress lines (stderr is not a terminal) say which server is out
    host_a, host_b = (u.split("//")[1].split("/")[0] for u in (a.url, b.url))
    assert f"{host_a} OUT (" in err and f"{host_b} " in err


def test_the_same_base_url_twice_is_one_clear_error(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    make_dataset(tmp_path, 1)
    code = main(["run", str(tmp_path / "data"), "--engine", "openai", "--base-url",
                 "http://h:1/v1", "--base-url", "http://h:1/v1", "--model", MODEL,
                 "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and "the same server is given twice" in err and "Traceback" not in err
