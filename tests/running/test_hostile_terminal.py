"""Terminal escapes from outside vlmrate (issue 23 item 4) never reach the terminal raw
from the CLI: a server's error body in `vlmrate run`'s "every answer failed (e.g. …)",
notes, reviewer names and image ids in `vlmrate review` (table and --json), a sheet cell
in an error line, a run's warnings. The stored data keeps the original text. Each
parametrized case is one hostile input tried."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.engines.conftest import ESCAPES, MODEL, FakeServer
from tests.helpers import PROMPTS, make_dataset
from vlmrate.cli import main
from vlmrate.runfolder.store import RATINGS, REVIEW, save_review
from vlmrate.safe_text import visible

HOSTILE = {
    "osc-title": "\x1b]0;PWNED\x07",
    "clear": "\x1b[2J\x1b[H",
    "osc52": "\x1b]52;c;cHduZWQ=\x07",
    "c1-csi": "\x9b31m",
    "bell-backspace": "\x07\x08\x08",
    "bidi": "\u202egnp.exe",
    "del-nul": "\x7f\x00",
    "cr-overwrite": "ok\rPWNED",
}


def _raw_controls(text: str) -> list[str]:
    """The control characters in text (tab and newline aside)."""
    return sorted({c for c in text if c not in "\t\n" and (ord(c) < 0x20 or 0x7f <= ord(c)
                                                         <= 0x9f or c in "\u202a\u202b\u202c"
                                                         "\u202d\u202e\u2066\u2067\u2068"
                                                         "\u2069")})


def test_visible_writes_each_control_character_as_cat_v_does() -> None:
    assert visible("a\x1b]0;x\x07b") == "a^[]0;x^Gb"
    assert visible("\x9b\x7f\u202e") == "\\x9b^?\\u202e"
    assert visible("two\nlines\tok") == "two\nlines\tok"
    assert visible("two\nlines", one_line=True) == "two^Jlines"
    assert visible("päss wörd 😀") == "päss wörd 😀"


@pytest.fixture(scope="module")
def failed_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A run whose every answer is the escape-laden error body of a hostile server."""
    root = tmp_path_factory.mktemp("hostile")
    make_dataset(root, 2)
    server = FakeServer()
    server.faults.extend(["escape"] * 100)
    try:
        import contextlib
        import io

        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(["run", str(root / "data"), "--engine", "openai", "--base-url",
                         server.url, "--model", MODEL, "--run", "r", "--runs-dir",
                         str(root / "runs"), "--prompts", str(PROMPTS / "reference"),
                         "--repeats", "1"])
    finally:
        server.kill()
    assert code == 1
    return root, err.getvalue()


def test_every_answer_failed_shows_the_server_text_made_visible(
        failed_run: tuple[Path, str]) -> None:
    root, err = failed_run
    assert "every answer failed (e.g." in err and "^[]0;PWNED^G" in err
    assert _raw_controls(err) == []
    # the record keeps the server's text as it came
    assert "\\u001b]0;PWNED\\u0007" in (root / "runs" / "r" / RATINGS).read_text()


@pytest.mark.parametrize("kind", sorted(HOSTILE))
@pytest.mark.parametrize("where", ["note", "reviewer", "image_id"])
def test_review_shows_hostile_text_made_visible(
        failed_run: tuple[Path, str], kind: str, where: str, tmp_path: Path,
        capsys: pytest.CaptureFixture) -> None:
    root, _ = failed_run
    hostile = HOSTILE[kind]
    run_dir = root / "runs" / "r"
    entry = {"category": "other", "note": "n", "reviewer": "me", "time": "t"}
    entry[{"image_id": "note"}.get(where, where)] = hostile if where != "image_id" else "n"
    image_id = f"pic{hostile}" if where == "image_id" else "pic001"
    (run_dir / REVIEW).write_text(json.dumps(
        {"version": 1, "cases": {image_id: {"relevance": entry}}}), encoding="utf-8")
    for argv in (["review", "r"], ["review", "r", "--json"]):
        assert main([*argv, "--runs-dir", str(root / "runs")]) == 0
        out, err = capsys.readouterr()
        assert _raw_controls(out + err) == [], (argv, out)
        if "--json" in argv:  # the same value, escaped as JSON does
            cases = json.loads(out)["cases"]
            assert any(hostile in cases[0][k] for k in ("image_id", "note", "reviewer"))
    stored = json.loads((run_dir / REVIEW).read_text())["cases"]  # kept as written
    assert any(hostile in v for v in [*stored, *(v for e in stored.values()
                                                 for a in e.values() for v in a.values())])


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_hostile_sheet_cell_in_an_error_line(tmp_path: Path, kind: str,
                                               capsys: pytest.CaptureFixture) -> None:
    make_dataset(tmp_path, 2)
    sheet = tmp_path / "ratings.csv"
    sheet.write_text(f"image,relevance_1\npic1,4\npic2,{HOSTILE[kind].replace(chr(0), '')}x\n",
                     encoding="utf-8")
    code = main(["import", str(sheet), "--human", str(tmp_path / "data" / "human.csv"),
                 "--run", "imp", "--runs-dir", str(tmp_path / "runs")])
    out, err = capsys.readouterr()
    assert code == 2 and err.startswith("vlmrate: error:") and err.count("\n") == 1, err
    assert _raw_controls(out + err) == []


def test_a_note_saved_keeps_its_text(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    make_dataset(tmp_path, 1)
    from tests.runfolder.test_hostile_runfolder import _rate

    run_dir = _rate(tmp_path, "n")
    save_review(run_dir, "pic001", "relevance", note=ESCAPES)
    assert main(["review", "n", "--runs-dir", str(tmp_path / "runs")]) == 0
    assert _raw_controls(capsys.readouterr().out) == []
    stored = json.loads((run_dir / REVIEW).read_text())["cases"]["pic001"]["relevance"]
    assert stored["note"] == ESCAPES


@pytest.fixture(scope="module")
def hostile_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two shards and a full run whose model name, human-sheet warning and every reason
    carry escape sequences (as a copied or hand-edited run may)."""
    import asyncio

    from tests.helpers import ScriptedEngine
    from vlmrate.runfolder.settings import RunConfig
    from vlmrate.running.runner import Runner

    root = tmp_path_factory.mktemp("hostile-reports")
    make_dataset(root, 4)
    for name, shard in (("h0", (0, 2)), ("h1", (1, 2)), ("hfull", None)):
        config = RunConfig(dataset=root / "data", run_name=name, runs_dir=root / "runs",
                           prompts_dir=PROMPTS, repeats=2, model=f"m{HOSTILE['osc-title']}",
                           shard=shard)
        asyncio.run(Runner(config, engine_factory=lambda c, s, log: ScriptedEngine()).run())
        run_dir = root / "runs" / name
        manifest = json.loads((run_dir / "manifest.json").read_text())
        manifest["human"]["warnings"] = [f"sheet cell {HOSTILE['osc52']}"]
        (run_dir / "manifest.json").write_text(json.dumps(manifest))
        lines = (run_dir / RATINGS).read_text().splitlines()
        records = [json.loads(x) for x in lines]
        for r in records:
            r["reason"] = f"why {HOSTILE['clear']}{HOSTILE['c1-csi']}"
        (run_dir / RATINGS).write_text("\n".join(json.dumps(r) for r in records) + "\n")
        with open(run_dir / RATINGS, "a") as handle:
            handle.write(f'"{HOSTILE["osc-title"]}"\n')  # a broken line: a warning
    return root


@pytest.mark.parametrize("argv", [
    ["stats", "hfull"], ["stats", "hfull", "--json"], ["compare", "h0", "hfull"],
    ["compare", "hfull", "h1", "--json"], ["merge", "h0", "h1", "--run", "hm"],
    ["review", "hfull"], ["export", "hfull"],
])
def test_reports_of_a_hostile_run_show_no_raw_control(hostile_runs: Path, argv: list[str],
                                                      capsys: pytest.CaptureFixture) -> None:
    code = main([*argv, "--runs-dir", str(hostile_runs / "runs")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert _raw_controls(out + err) == [], (argv, out[-500:], err)


def test_the_progress_bar_shows_server_text_as_written(tmp_path: Path) -> None:
    """The terminal's progress bar (Rich) shows a server's text escaped: markup-like text
    (``[/bold]``) is no markup, escape sequences are made visible."""
    import io

    from tests.helpers import ScriptedEngine, runner_for
    from vlmrate.commands.common import SafeConsole
    from vlmrate.commands.run import run_with_progress
    from vlmrate.engines.base import RatingResult

    class Hostile(ScriptedEngine):
        async def rate(self, requests):  # type: ignore[no-untyped-def]
            async for result in super().rate(requests):
                yield RatingResult.failed(result.request,
                                          f"HTTP 400: [/bold] [red]x {HOSTILE['osc-title']}",
                                          0.01)

    make_dataset(tmp_path, 1)
    out = io.StringIO()
    console = SafeConsole(file=out, force_terminal=True, width=200)
    final = run_with_progress(runner_for(tmp_path, Hostile()), console)
    assert final.status == "failed" and "every answer failed" in final.message
    shown = out.getvalue()
    assert "[/bold] [red]x ^[]0;PWNED^G" in shown
    assert "\x1b]0;PWNED" not in shown and "\x07" not in shown
