"""A run with fewer answers than planned says "partial: N of M answers" everywhere its
results are shown: Results, Stats (both reload on r), `vlmrate stats`, the workbook."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import openpyxl
from textual.widgets import Static

from tests.helpers import ScriptedEngine, make_dataset, runner_for
from tests.tui.test_screens import settle, text_of
from vlmrate.cli import main as cli_main
from vlmrate.tui.app import VlmrateApp
from vlmrate.tui.screens.results import ResultsScreen
from vlmrate.tui.screens.stats import StatsScreen


def partial_run(tmp_path: Path, keep: int) -> Path:
    """A cancelled run of 6 images x 3 aspects x 2 repeats with ``keep`` answers."""
    make_dataset(tmp_path, 6)
    asyncio.run(runner_for(tmp_path, ScriptedEngine()).run())
    run_dir = tmp_path / "runs" / "r"
    lines = (run_dir / "ratings.jsonl").read_text().splitlines(keepends=True)
    (run_dir / "ratings.jsonl").write_text("".join(lines[:keep]))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["status"] = "cancelled"
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    return run_dir


async def test_results_and_stats_say_partial_and_reload(tmp_path: Path) -> None:
    run_dir = await asyncio.to_thread(partial_run, tmp_path, 24)
    app = VlmrateApp(runs_dir=tmp_path / "runs", data_dir=tmp_path / "data")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        results = app.screen
        assert isinstance(results, ResultsScreen)
        assert "partial: 24 of 36 answers" in text_of(results.query_one("#results-info",
                                                                         Static))
        # the run grows (as a run of another process does); r reads it again
        full = runner_for(tmp_path, ScriptedEngine())
        await asyncio.to_thread(lambda: asyncio.run(full.run()))
        await pilot.press("r")
        await settle(pilot)
        info = text_of(results.query_one("#results-info", Static))
        assert "partial" not in info
        lines = (run_dir / "ratings.jsonl").read_text().splitlines(keepends=True)
        (run_dir / "ratings.jsonl").write_text("".join(lines[:30]))
        await pilot.press("t")
        await settle(pilot)
        stats = app.screen
        assert isinstance(stats, StatsScreen)
        assert "partial: 30 of 36 answers" in text_of(stats.query_one("#stats-info", Static))
        (run_dir / "ratings.jsonl").write_text("".join(lines[:20]))
        await pilot.press("r")
        await settle(pilot)
        assert "partial: 20 of 36 answers" in text_of(stats.query_one("#stats-info", Static))


def test_cli_stats_and_workbook_say_partial(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    partial_run(tmp_path, keep=24)
    runs = str(tmp_path / "runs")
    assert cli_main(["stats", "r", "--runs-dir", runs]) == 0
    assert "partial: 24 of 36 answers" in capsys.readouterr().out
    assert cli_main(["stats", "r", "--json", "--runs-dir", runs]) == 0
    json.loads(capsys.readouterr().out)  # the JSON stays one object (its n say how many)
    assert cli_main(["export", "r", "--runs-dir", runs]) == 0
    book = openpyxl.load_workbook(tmp_path / "runs" / "r" / "r.xlsx")
    facts = {row[0]: row[1] for row in book["Summary"].iter_rows(values_only=True) if row[0]}
    assert facts.get("partial run") == "partial: 24 of 36 answers"


def test_export_of_a_run_without_ratings_refuses(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    run_dir = partial_run(tmp_path, keep=0)
    code = cli_main(["export", "r", "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and err == "vlmrate: error: run r has no ratings yet: nothing to export\n"
    assert not (run_dir / "r.xlsx").exists()
