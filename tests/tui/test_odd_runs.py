"""Failed and odd runs in the Runs list: a failed engine start is a failed run with its
one-line reason; a run without ratings says so; folders are rows (newest first), long
names are cut in the middle."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from textual.widgets import DataTable, Static

from tests.helpers import ScriptedEngine, make_dataset, runner_for
from tests.tui.test_screens import settle, text_of
from vlmrate.engines.base import EngineUnavailable
from vlmrate.errors import UserError
from vlmrate.runfolder.store import list_runs, read_manifest
from vlmrate.tui.app import VlmrateApp
from vlmrate.tui.screens.runs import RunsScreen, middle_cut


class BrokenEngine(ScriptedEngine):
    async def start(self) -> None:
        raise EngineUnavailable("model folder /models/x has no config.json:\n  check the path")


def failed_run(tmp_path: Path) -> Path:
    make_dataset(tmp_path, 2)
    runner = runner_for(tmp_path, BrokenEngine())
    runner.keep_failed_start = True  # as the TUI's runner: the Runs list shows the reason
    with pytest.raises(UserError):
        asyncio.run(runner.run())
    return tmp_path / "runs" / "r"


async def test_failed_engine_start_is_a_failed_run_with_its_reason(tmp_path: Path) -> None:
    run_dir = await asyncio.to_thread(failed_run, tmp_path)
    manifest = read_manifest(run_dir)
    assert manifest["status"] == "failed"
    assert manifest["error"] == "model folder /models/x has no config.json: check the path"
    app = VlmrateApp(runs_dir=tmp_path / "runs", data_dir=tmp_path / "data")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#runs-table", DataTable)
        assert table.get_row("r")[1] == "failed"
        info = text_of(app.screen.query_one("#runs-info", Static))
        assert "failed — model folder /models/x has no config.json" in info
        await pilot.press("enter")  # no Results of nothing: one line says why
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen)
        assert any("has no config.json" in n.message for n in app._notifications)


def test_runs_are_folders_newest_first(tmp_path: Path) -> None:
    make_dataset(tmp_path, 2)
    asyncio.run(runner_for(tmp_path, ScriptedEngine()).run())
    runs = tmp_path / "runs"
    shutil.copytree(runs / "r", runs / "r-copy")  # same manifest name, its own folder
    manifest = json.loads((runs / "r-copy" / "manifest.json").read_text())
    manifest["created"] = "2099-01-01T00:00:00+00:00"
    (runs / "r-copy" / "manifest.json").write_text(json.dumps(manifest))
    (runs / "old").mkdir()
    (runs / "old" / "manifest.json").write_text(json.dumps(
        {"name": "r", "status": "done", "created": "2001-01-01T00:00:00+00:00"}))
    assert [r["name"] for r in list_runs(runs)] == ["r-copy", "r", "old"]


def test_long_names_are_cut_in_the_middle() -> None:
    name = "climate-images-2024-llava-v1.6-vicuna-13b-hf-20261126-1405"
    cut = middle_cut(name, 26)
    assert len(cut) == 26 and cut.startswith("climate-imag") and cut.endswith("261126-1405")
    assert middle_cut("short", 26) == "short"


async def test_long_name_leaves_progress_and_date_visible_at_80_columns(
        tmp_path: Path) -> None:
    make_dataset(tmp_path, 2)
    name = "data-llava-v1.6-vicuna-13b-hf-20261126-1405-and-more-words"
    await asyncio.to_thread(lambda: asyncio.run(
        runner_for(tmp_path, ScriptedEngine(), run_name=name).run()))
    app = VlmrateApp(runs_dir=tmp_path / "runs", data_dir=tmp_path / "data")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#runs-table", DataTable)
        row = table.get_row(name)
        assert row[0] == middle_cut(name, 16) and row[2] == "12/12"
        # every column within 80 columns (the dataset column was cut), the date short
        widths = [column.get_render_width(table) for column in table.ordered_columns]
        assert [str(c.label) for c in table.ordered_columns][-1] == "dataset"
        assert sum(widths) <= 80 and len(row[3]) == len("12-03 01:20")
        info = text_of(app.screen.query_one("#runs-info", Static))
        assert info.startswith(f"{name} · scripted · data")  # the cut name, whole
        await pilot.resize_terminal(160, 40)  # wide: repeats, failed answers, wall time
        await settle(pilot)
        assert [str(c.label) for c in table.ordered_columns] == [
            "name", "status", "progress", "K", "failed", "wall", "created", "model",
            "dataset"]
        row = table.get_row(name)
        assert row[0] == middle_cut(name, 36) and row[3] == "2" and row[4] == "0"
        assert table.cursor_row == 0
