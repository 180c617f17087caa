"""Hostile options and prompt sets for `vlmrate run` (issue 23 items 5, 9, 10, 11): each is
one line and exit 2 from the CLI, and nothing is written (no runs folder appears); a
study.toml gets the same checks as the command line; a start that fails at the server
leaves nothing that blocks its own fix. Each parametrized case is one hostile input."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.engines.conftest import MODEL, FakeServer
from tests.helpers import PROMPTS, make_dataset
from vlmrate.cli import main
from vlmrate.runfolder.store import read_manifest, read_ratings

DEAD = "http://127.0.0.1:9/v1"

# (label, extra arguments): the openai engine against a dead port unless changed
OPTIONS = [
    ("shard-superscript-k", ["--shard", "²/3"]),
    ("shard-superscript-n", ["--shard", "0/²"]),
    ("shard-empty", ["--shard", ""]),
    ("shard-k-too-big", ["--shard", "3/3"]),
    ("shard-words", ["--shard", "a/b"]),
    ("shard-huge", ["--shard", "0/99999999999999999999"]),
    ("url-twice-slash", ["--base-url", "http://127.0.0.1:9/v1/"]),
    ("url-port-range", ["--base-url", "http://127.0.0.1:99999/v1", "--engine", "openai"]),
    ("url-ipv6-open", ["--base-url", "http://[::1/v1"]),
    ("url-no-host", ["--base-url", "http://"]),
    ("url-ftp", ["--base-url", "ftp://127.0.0.1/v1"]),
    ("url-space", ["--base-url", "http://a b/v1"]),
    ("url-port-word", ["--base-url", "http://127.0.0.1:port/v1"]),
    ("url-with-vllm", ["--engine", "vllm"]),
    ("model-folder-missing", ["--engine", "vllm", "--model", "./models/nowhere"]),
    ("progress-every-tiny", ["--progress-every", "0.000001"]),
    ("temperature-nan", ["--temperature", "nan"]),
    ("top-p-inf", ["--top-p", "inf"]),
    ("repeats-zero", ["--repeats", "0"]),
    ("limit-zero", ["--limit", "0"]),
    ("run-name-dotdot", ["--run", ".."]),
    ("unreachable-server", []),
]

# (label, study.toml change as (regex, replacement) or a whole new text, prompt bytes)
STUDIES = [
    ("aspects-list-of-text", ("aspects", ""), None),
    ("scale-number", (r"scale = \{ min = 1, max = 9 \}", "scale = 5"), None),
    ("scale-text-min", (r"scale = \{ min = 1, max = 9 \}", 'scale = {min = "a"}'), None),
    ("scale-fractions", (r"scale = \{ min = 1, max = 9 \}", "scale = {min = 1.7, max = 9.9}"),
     None),
    ("scale-reversed", (r"scale = \{ min = 1, max = 9 \}", "scale = {min = 9, max = 1}"),
     None),
    ("repeats-text", (r"repeats = 10", 'repeats = "ten"'), None),
    ("repeats-zero", (r"repeats = 10", "repeats = 0"), None),
    ("repeats-negative", (r"repeats = 10", "repeats = -3"), None),
    ("repeats-huge", (r"repeats = 10", "repeats = 99999999"), None),
    ("temperature-nan", (r"temperature = 0.3", "temperature = nan"), None),
    ("temperature-9", (r"temperature = 0.3", "temperature = 9"), None),
    ("top-p-inf", (r"top_p = 1.0", "top_p = inf"), None),
    ("top-p-zero", (r"top_p = 1.0", "top_p = 0"), None),
    ("max-tokens-zero", (r"max_tokens = 320", "max_tokens = 0"), None),
    ("max-tokens-float", (r"max_tokens = 320", "max_tokens = 1.5"), None),
    ("name-number", (r'name = "reference"', "name = 5"), None),
    ("description-table", (r'description = "[^"]*"', "description = {a = 1}"), None),
    ("prompt-etc", (r'prompt_file = "relevance.txt"', 'prompt_file = "/etc/hostname"'), None),
    ("prompt-dotdot", (r'prompt_file = "relevance.txt"', 'prompt_file = "../outside.txt"'),
     None),
    ("prompt-not-utf8", None, b"\xff\xfe rate this \x80\n"),
    ("prompt-file-number", (r'prompt_file = "relevance.txt"', "prompt_file = 5"), None),
    ("aspect-name-number", (r'name = "relevance"', "name = 7"), None),
    ("low-number", (r'low = "most calm"', "low = 3"), None),
]


def _run(tmp_path: Path, *extra: str, prompts: Path = PROMPTS / "reference",
         url: str = DEAD) -> int:
    argv = ["run", str(tmp_path / "data"), "--engine", "openai", "--base-url", url,
            "--model", MODEL, "--run", "r", "--runs-dir", str(tmp_path / "runs"),
            "--prompts", str(prompts), "--repeats", "1", *extra]
    if "--engine" in extra:  # the case's engine, without the default's server
        i = argv.index("--engine")
        del argv[i:i + 2]
        if "vllm" in extra and "--model" in extra:
            j = argv.index("--base-url")
            del argv[j:j + 2]
    return main(argv)


def _one_error_line(err: str) -> str:
    lines = [x for x in err.splitlines() if x.strip()]
    assert lines and lines[-1].startswith("vlmrate: error: "), err
    assert "Traceback" not in err
    return lines[-1]


@pytest.mark.parametrize(("label", "extra"), OPTIONS, ids=[o[0] for o in OPTIONS])
def test_a_bad_option_is_one_line_and_writes_nothing(
        tmp_path: Path, label: str, extra: list[str], capsys: pytest.CaptureFixture) -> None:
    make_dataset(tmp_path, 1)
    code = _run(tmp_path, *extra)
    _one_error_line(capsys.readouterr().err)
    assert code == 2
    assert not (tmp_path / "runs").exists()  # not even the runs folder


def _study(tmp_path: Path, change: tuple[str, str] | None, prompt: bytes | None) -> Path:
    folder = tmp_path / "set"
    shutil.copytree(PROMPTS / "reference", folder)
    (tmp_path / "outside.txt").write_text("a prompt outside the set\n")
    toml = folder / "study.toml"
    text = toml.read_text()
    if change is not None:
        pattern, replacement = change
        if pattern == "aspects":  # aspects as a list of texts, no [[aspects]] tables
            text = 'aspects = ["a"]\n' + text.split("[[aspects]]")[0]
        else:
            text, n = re.subn(pattern, lambda m: replacement, text, count=1)
            assert n == 1, pattern
    toml.write_text(text)
    if prompt is not None:
        (folder / "relevance.txt").write_bytes(prompt)
    return folder


@pytest.mark.parametrize(("label", "change", "prompt"), STUDIES, ids=[s[0] for s in STUDIES])
def test_a_bad_study_toml_is_one_line_and_writes_nothing(
        tmp_path: Path, label: str, change: tuple[str, str] | None, prompt: bytes | None,
        capsys: pytest.CaptureFixture) -> None:
    make_dataset(tmp_path, 1)
    folder = _study(tmp_path, change, prompt)
    code = _run(tmp_path, prompts=folder)
    line = _one_error_line(capsys.readouterr().err)
    assert code == 2 and "study.toml" in line, line
    assert not (tmp_path / "runs").exists()


def test_the_cli_and_study_toml_say_the_same(tmp_path: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    """One validation: the same value is refused by both, for the same reason."""
    make_dataset(tmp_path, 1)
    from vlmrate.inputs.study import load_study
    from vlmrate.runfolder.settings import RunConfig

    folder = _study(tmp_path, (r"temperature = 0.3", "temperature = 9"), None)
    with pytest.raises(Exception, match="must be between 0 and 2") as from_toml:
        load_study(str(folder))
    with pytest.raises(Exception, match="must be between 0 and 2") as from_form:
        RunConfig(dataset=tmp_path, temperature=9.0).validate()
    assert type(from_toml.value) is type(from_form.value)


def test_a_failed_start_does_not_block_its_own_fix(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    """Unreachable at start: exit 2, no run left; the rerun with the right server runs.
    An old run that never rated anything (left by an earlier version) is no obstacle
    either: its fix is accepted."""
    make_dataset(tmp_path, 2)
    assert _run(tmp_path) == 2
    assert not (tmp_path / "runs" / "r").exists()
    (tmp_path / "runs" / "r").mkdir(parents=True)
    (tmp_path / "runs" / "r" / "notes.md").write_text("mine\n")
    assert _run(tmp_path) == 2
    assert [p.name for p in (tmp_path / "runs" / "r").iterdir()] == ["notes.md"]
    server = FakeServer()
    try:
        assert _run(tmp_path, "--repeats", "2", url=server.url) == 0
    finally:
        server.kill()
    capsys.readouterr()
    assert read_ratings(tmp_path / "runs" / "r").height == 2 * 3 * 2
    assert read_manifest(tmp_path / "runs" / "r")["status"] == "done"


def test_a_kept_failed_start_does_not_block_its_fix_either(tmp_path: Path) -> None:
    """The TUI keeps a failed start (its reason in the Runs list); a fix with other
    settings still starts, since that run never rated anything."""
    import asyncio

    from tests.helpers import ScriptedEngine, runner_for
    from vlmrate.engines.base import EngineUnavailable
    from vlmrate.errors import UserError

    class Down(ScriptedEngine):
        async def start(self) -> None:
            raise EngineUnavailable("cannot reach the server")

    make_dataset(tmp_path, 2)
    failing = runner_for(tmp_path, Down(), temperature=0.9)
    failing.keep_failed_start = True
    with pytest.raises(UserError):
        asyncio.run(failing.run())
    assert read_manifest(tmp_path / "runs" / "r")["status"] == "failed"
    final = asyncio.run(runner_for(tmp_path, ScriptedEngine(), temperature=0.1).run())
    assert final.status == "done"
    assert read_manifest(tmp_path / "runs" / "r")["sampling"]["temperature"] == 0.1


@pytest.mark.parametrize(("first", "again", "said"), [
    (["--limit", "1"], ["--limit", "2"], "limit: was 1, now 2"),
    (["--limit", "1"], [], "limit: was 1, now all images"),
    ([], ["--limit", "1"], "limit: was all images, now 1"),
    (["--shard", "0/2"], ["--shard", "1/2"], "shard: was 0/2, now 1/2"),
    (["--shard", "0/2"], [], "shard: was 0/2, now none"),
    ([], ["--shard", "0/3"], "shard: was none, now 0/3"),
])
def test_resume_with_another_selection_is_refused(tmp_path: Path, first: list[str],
                                                  again: list[str], said: str,
                                                  capsys: pytest.CaptureFixture) -> None:
    make_dataset(tmp_path, 4)
    server = FakeServer()
    try:
        assert _run(tmp_path, *first, url=server.url) == 0
        before = (tmp_path / "runs" / "r" / "manifest.json").read_bytes()
        capsys.readouterr()
        assert _run(tmp_path, *again, url=server.url) == 2
        line = _one_error_line(capsys.readouterr().err)
        assert said in line and "other settings" in line
        assert (tmp_path / "runs" / "r" / "manifest.json").read_bytes() == before
        assert _run(tmp_path, *first, url=server.url) == 0  # the same selection resumes
    finally:
        server.kill()


def test_a_run_of_engine_errors_only_does_not_block_its_fix(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture) -> None:
    """Every answer an engine error (a server refusing the settings): exit 1, and the
    rerun with other settings is accepted (no answer would be mixed with other ones)."""
    make_dataset(tmp_path, 2)
    server = FakeServer()
    server.faults.extend(["400"] * 6)
    try:
        assert _run(tmp_path, "--max-tokens", "99999", url=server.url) == 1
        assert read_ratings(tmp_path / "runs" / "r")["engine_error"].null_count() == 0
        assert _run(tmp_path, "--max-tokens", "64", url=server.url) == 0
    finally:
        server.kill()
    capsys.readouterr()
    frame = read_ratings(tmp_path / "runs" / "r")
    assert frame.height == 2 * 3 and frame["engine_error"].null_count() == 6
    assert read_manifest(tmp_path / "runs" / "r")["sampling"]["max_tokens"] == 64
