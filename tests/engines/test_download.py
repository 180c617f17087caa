"""The weights are fetched before the engine starts, with their progress in bytes
(issue 22 item 9): through huggingface_hub against a hub on 127.0.0.1, into a temporary
cache; a complete cache or a local folder fetches nothing; an unreachable hub is one line;
the Runner shows the phase as the run's message (job panel, plain lines)."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engines.fake_hub import FakeHub
from tests.helpers import ScriptedEngine, make_dataset, runner_for
from vlmrate.engines.base import EngineUnavailable
from vlmrate.engines.download import download_message, fetch_model

pytest.importorskip("huggingface_hub")

WEIGHTS = os.urandom(3 << 20)
FILES = {"config.json": b'{"model_type": "llava_next"}', "model.safetensors": WEIGHTS,
         "tokenizer.json": b"{}", "README.md": b"not loaded by vLLM"}


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    import huggingface_hub.constants as constants

    server = FakeHub("org/tiny-llava", FILES, chunk_delay_s=0.03)
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setattr(constants, "ENDPOINT", server.url)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                        server.url + "/{repo_id}/resolve/{revision}/{filename}")
    yield server
    server.close()


@pytest.mark.long  # a download polled until done
def test_download_reports_bytes_until_done(hub: FakeHub) -> None:
    seen: list[tuple[int, int]] = []
    assert fetch_model("org/tiny-llava", lambda d, t: seen.append((d, t)), poll_s=0.05)
    total = sum(len(FILES[n]) for n in ("config.json", "model.safetensors", "tokenizer.json"))
    assert {t for _, t in seen} == {total}  # README.md is not what vLLM loads
    done = [d for d, _ in seen]
    assert done == sorted(done) and done[-1] == total
    assert any(0 < d < total for d in done), seen  # seen while the weights came in
    assert sorted(hub.downloads) == ["config.json", "model.safetensors", "tokenizer.json"]
    # complete now: nothing fetched, nothing reported
    again: list[tuple[int, int]] = []
    assert fetch_model("org/tiny-llava", lambda d, t: again.append((d, t))) is False
    assert again == [] and len(hub.downloads) == 3


def test_local_folder_fetches_nothing(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    assert fetch_model(str(tmp_path), lambda d, t: None) is False


def test_unreachable_hub_is_one_line(hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants as constants

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    monkeypatch.setattr(constants, "ENDPOINT", dead)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                        dead + "/{repo_id}/resolve/{revision}/{filename}")
    with pytest.raises(EngineUnavailable, match="cannot download org/tiny-llava") as caught:
        fetch_model("org/tiny-llava", lambda d, t: None)
    assert "\n" not in str(caught.value)


def test_cached_model_with_the_hub_out_of_reach_loads_from_the_cache(
        hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants as constants

    assert fetch_model("org/tiny-llava", lambda d, t: None, poll_s=0.05)
    dead = "http://127.0.0.1:9"  # discard port: nothing answers
    monkeypatch.setattr(constants, "ENDPOINT", dead)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                        dead + "/{repo_id}/resolve/{revision}/{filename}")
    assert fetch_model("org/tiny-llava", lambda d, t: None) is False
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert fetch_model("org/other", lambda d, t: None) is False


def test_message() -> None:
    assert download_message(12_300_000_000, 26_700_000_000) == \
        "downloading model 12.3 / 26.7 GB"


class _Downloading(ScriptedEngine):
    on_phase = None

    async def start(self) -> None:
        for done in (0, 5_000_000_000, 26_700_000_000):
            self.on_phase(download_message(done, 26_700_000_000), done, 26_700_000_000)
            await asyncio.sleep(0)
        self.on_phase(None)


def test_runner_shows_the_download_as_its_message(tmp_path: Path) -> None:
    make_dataset(tmp_path, 1)
    runner = runner_for(tmp_path, _Downloading())
    messages: list[str] = []
    downloads: list[tuple[int, int] | None] = []

    def seen(progress) -> None:  # type: ignore[no-untyped-def]
        messages.append(progress.message)
        downloads.append(progress.download)

    runner.on_progress = seen
    assert asyncio.run(runner.run()).status == "done"
    # the bytes for the terminal's bar, while the phase lasts
    assert [d for d in downloads if d] == [(0, 26_700_000_000), (5_000_000_000, 26_700_000_000),
                                           (26_700_000_000, 26_700_000_000)]
    assert downloads[-1] is None
    shown = [m for m in messages if m.startswith("downloading")]
    assert shown == ["downloading model 0.0 / 26.7 GB", "downloading model 5.0 / 26.7 GB",
                     "downloading model 26.7 / 26.7 GB"]
    after = messages[messages.index(shown[-1]) + 1]
    assert after.startswith("loading ")  # back to the loading line once the files are there


def test_terminal_bar_runs_through_the_download(tmp_path: Path) -> None:
    import io

    from rich.console import Console

    from vlmrate.commands.run import run_with_progress

    make_dataset(tmp_path, 1)
    out = io.StringIO()
    final = run_with_progress(runner_for(tmp_path, _Downloading()),
                              Console(file=out, force_terminal=True, width=120))
    assert final.status == "done" and final.done == final.total
