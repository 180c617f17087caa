"""No secret on disk (issue 17 item 5): a base URL with user:password and a server error
that echoes the Authorization header leave neither the password nor the API key in the
manifest, ratings.jsonl, the workbook, the CSV or the Parquet file."""

from __future__ import annotations

import asyncio
import zipfile
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import polars as pl
import pytest

from tests.helpers import PROMPTS, ScriptedEngine, make_dataset
from vlmrate.cli import main
from vlmrate.engines.base import RatingRequest, RatingResult
from vlmrate.runner import RunConfig, Runner
from vlmrate.store import MANIFEST, RATINGS, load_run

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
                    f"headers {{'Authorization': 'Bearer {KEY}'}}"), 0.01)
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
    assert PASSWORD not in on_disk and KEY not in on_disk
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
