"""No secret on disk (issue 17 item 5): a base URL with user:password and a server error
that echoes the Authorization header leave neither the password nor the API key in the
manifest, ratings.jsonl, the workbook, the CSV or the Parquet file."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import zipfile
from collections.abc import AsyncIterator, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import polars as pl
import pytest

from tests.helpers import PROMPTS, ScriptedEngine, make_dataset
from vlmrate.cli import main
from vlmrate.engines.base import RatingRequest, RatingResult
from vlmrate.runfolder.store import MANIFEST, RATINGS, load_run
from vlmrate.running.runner import RunConfig, Runner

KEY = "sk-test-0123456789abcdef"
PASSWORD = "hunter2-secret"
URL = f"http://alice:{PASSWORD}@127.0.0.1:9/v1"


class EchoingEngine(ScriptedEngine):
    """Half the requests fail with an error body that echoes the request's headers and URL."""

    async def rate(self, requests: Iterable[RatingRequest] | AsyncIterator[RatingRequest]
                   ) -> AsyncIterator[RatingResult]:
        async for result in super().rate(requests):
            if len(self.order) % 2:
                yield RatingResult.failed(result.request, (
                    f"HTTP 401: invalid token; request was POST {URL}/chat/completions with "
                    f"headers {{'Authorization': 'Bearer {KEY}'}} and {{'Authorization': "
                    f"'Basic {base64.b64encode(f'alice:{PASSWORD}'.encode()).decode()}'}}"),
                    0.01)
            else:
                yield result


def _files_text(root: Path) -> str:
    """Every byte under root as text, xlsx/parquet unpacked to their strings."""
    parts = []
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as archive:
                parts += [archive.read(n).decode("utf-8", "replace") for n in archive.namelist()]
        elif path.suffix == ".parquet":
            frame = pl.read_parquet(path)
            parts += [str(v) for c in frame.columns for v in frame[c].to_list()]
        else:
            parts.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(parts)


def test_no_password_and_no_key_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    make_dataset(tmp_path, 3)
    config = RunConfig(dataset=tmp_path / "data", run_name="r", runs_dir=tmp_path / "runs",
                       repeats=2, prompts_dir=PROMPTS, model="m", engine="openai",
                       base_url=URL)
    final = asyncio.run(Runner(config, engine_factory=lambda *a: EchoingEngine()).run())
    assert final.engine_errors == 9
    run_dir = tmp_path / "runs" / "r"
    assert main(["export", "r", "--csv", "--parquet", "--runs-dir", str(tmp_path / "runs")]) == 0
    on_disk = _files_text(run_dir)
    basic = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    assert PASSWORD not in on_disk and KEY not in on_disk and basic not in on_disk
    assert "http://127.0.0.1:9/v1" in (run_dir / MANIFEST).read_text()
    assert "Bearer [redacted]" in (run_dir / RATINGS).read_text()
    assert PASSWORD not in capsys.readouterr().out


def test_older_run_with_secrets_is_shown_without(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A run written before redaction: load_run (and so the workbook and the TUI) hides
    the password and the key found in its manifest and the environment."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    make_dataset(tmp_path, 2)
    config = RunConfig(dataset=tmp_path / "data", run_name="r", runs_dir=tmp_path / "runs",
                       repeats=1, prompts_dir=PROMPTS, model="m", engine="openai",
                       base_url="http://h/v1")
    asyncio.run(Runner(config, engine_factory=lambda *a: EchoingEngine()).run())
    run_dir = tmp_path / "runs" / "r"
    manifest = (run_dir / MANIFEST).read_text().replace("http://h/v1", URL)
    (run_dir / MANIFEST).write_text(manifest)
    ratings = (run_dir / RATINGS).read_text().replace("[redacted]", KEY)
    (run_dir / RATINGS).write_text(ratings.replace("127.0.0.1:9", f"alice:{PASSWORD}@x"))
    run = load_run(run_dir)
    shown = str(run.manifest) + "\n".join(run.ratings["engine_error"].drop_nulls())
    assert KEY not in shown and PASSWORD not in shown
    assert run.manifest["engine"]["base_url"] == "http://127.0.0.1:9/v1"


class _EchoHandler(BaseHTTPRequestHandler):
    """A server that lists the model and answers every chat request 400, quoting the
    Authorization header it got (as some proxies do)."""

    def log_message(self, *args: object) -> None:
        return None

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._send(200, {"data": [{"id": "m"}]})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._send(400, {"error": {"message": f"rejected; you sent Authorization: "
                                              f"{self.headers.get('Authorization')}"}})


@pytest.mark.parametrize("with_password", [True, False])
def test_real_http_echo_of_the_authorization_header(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    with_password: bool) -> None:
    """Through the real openai engine: httpx sends a URL's user:password as Basic auth
    (base64) and the key as Bearer; neither form reaches ratings.jsonl."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        port = httpd.server_address[1]
        url = (f"http://alice:{PASSWORD}@127.0.0.1:{port}/v1" if with_password
               else f"http://127.0.0.1:{port}/v1")
        make_dataset(tmp_path, 1)
        config = RunConfig(dataset=tmp_path / "data", run_name="r", runs_dir=tmp_path / "runs",
                           repeats=1, prompts_dir=PROMPTS, model="m", engine="openai",
                           base_url=url)
        final = asyncio.run(Runner(config).run())
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert final.status == "failed" and "Authorization" in final.message
    written = _files_text(tmp_path / "runs" / "r")
    basic = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    assert "Authorization: " in written
    assert KEY not in written and PASSWORD not in written and basic not in written
    assert KEY not in final.message and basic not in final.message
