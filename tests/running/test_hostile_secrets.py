"""A base URL whose password holds an unencoded '@' (issue 23 item 3): parsed as httpx
parses it, and no form of the password (as written, percent-encoded, decoded, its tail
after the '@', the Basic auth base64 a header-echoing server returns) reaches any byte
under the runs folder or the terminal. Each parametrized case is one hostile input."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.engines.conftest import MODEL, FakeServer
from tests.helpers import PROMPTS, make_dataset
from tests.running.test_secrets_on_disk import _files_text
from vlmrate.cli import main

PASSWORDS = ["p@ss99X", "p@ss@99XY", "p%40ss99X", "päss@wörd42", "pa:ss@99Z", "pw'x@9999;"]


def _forms(user: str, password: str) -> list[str]:
    from urllib.parse import quote, unquote

    plain = unquote(password)
    pair = f"{unquote(user)}:{plain}".encode()
    forms = {password, plain, quote(plain, safe=""), base64.b64encode(pair).decode(),
             base64.b64encode(pair).decode().rstrip("=")}
    forms.update(plain.split("@", 1)[1:])  # the tail a first-'@' parser leaves
    return sorted(f for f in forms if len(f) >= 4)


def _run(tmp_path: Path, url: str, *extra: str) -> int:
    return main(["run", str(tmp_path / "data"), "--engine", "openai", "--base-url", url,
                 "--model", MODEL, "--run", "r", "--runs-dir", str(tmp_path / "runs"),
                 "--prompts", str(PROMPTS / "reference"), "--repeats", "1", *extra])


@pytest.mark.parametrize("password", PASSWORDS)
def test_an_echoed_authorization_header_is_redacted(tmp_path: Path, password: str,
                                                    capsys: pytest.CaptureFixture) -> None:
    make_dataset(tmp_path, 2)
    server = FakeServer()
    server.faults.extend(["echo"] * 100)
    url = server.url.replace("http://", f"http://alice:{password}@")
    try:
        code = _run(tmp_path, url)
    finally:
        server.kill()
    out, err = capsys.readouterr()
    sent = [h.get("Authorization", "") for _, h in server.headers]
    assert any(h.startswith("Basic ") for h in sent)  # the server was sent the credentials
    assert code == 1 and "every answer failed" in err
    seen = _files_text(tmp_path / "runs") + out + err
    assert "Basic [redacted]" in seen
    for form in _forms("alice", password):
        assert form not in seen, form


@pytest.mark.parametrize("password", PASSWORDS)
def test_a_server_that_is_down_leaks_no_part_of_the_password(
        tmp_path: Path, password: str, capsys: pytest.CaptureFixture) -> None:
    make_dataset(tmp_path, 1)
    server = FakeServer()
    server.kill()
    url = server.url.replace("http://", f"http://alice:{password}@")
    code = _run(tmp_path, url)
    out, err = capsys.readouterr()
    assert code == 2 and "Traceback" not in err
    assert err.splitlines()[-1].startswith("vlmrate: error: cannot reach http://127.0.0.1:")
    seen = _files_text(tmp_path) + out + err
    for form in _forms("alice", password):
        assert form not in seen, form
    assert "@127.0.0.1" not in seen


@pytest.mark.parametrize("password", PASSWORDS)
def test_a_failed_start_kept_for_the_tui_holds_no_part_of_the_password(
        tmp_path: Path, password: str) -> None:
    """The TUI keeps a failed start (its reason in the Runs list): that reason and every
    other byte of the run are free of the password too."""
    import asyncio

    from vlmrate.errors import UserError
    from vlmrate.runfolder.settings import RunConfig
    from vlmrate.runfolder.store import read_manifest
    from vlmrate.running.runner import Runner

    make_dataset(tmp_path, 1)
    server = FakeServer()
    server.kill()
    url = server.url.replace("http://", f"http://alice:{password}@")
    config = RunConfig(dataset=tmp_path / "data", engine="openai", base_url=url, model=MODEL,
                       run_name="r", runs_dir=tmp_path / "runs", prompts_dir=PROMPTS)
    with pytest.raises(UserError) as caught:
        asyncio.run(Runner(config, keep_failed_start=True).run())
    manifest = read_manifest(tmp_path / "runs" / "r")
    assert manifest["status"] == "failed" and "cannot reach" in manifest["error"]
    seen = _files_text(tmp_path / "runs") + str(caught.value)
    for form in _forms("alice", password):
        assert form not in seen, form
