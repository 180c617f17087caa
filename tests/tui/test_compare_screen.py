"""Pilot: mark two runs in the Runs list (space), open Compare (c), read its tables, chart
and disagreement list, and open the Case page of one image in each run (enter)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from textual.widgets import DataTable, Static, TabbedContent

from tests.tui.conftest import N_IMAGES, write_human_sheet, write_ratings
from tests.tui.test_screens import settle, text_of
from vlmrate.runfolder.importer import import_run
from vlmrate.runfolder.store import load_run
from vlmrate.stats.compare import RunFrames, compare, disagreements
from vlmrate.tui.app import VlmrateApp
from vlmrate.tui.screens.case import CaseScreen
from vlmrate.tui.screens.compare import CompareScreen
from vlmrate.tui.screens.runs import RunsScreen
from vlmrate.tui.widgets.charts import Chart


@pytest.fixture
def two_runs(workspace: Path) -> Path:
    """study1 (from the workspace) and study2: other ratings of the same images."""
    write_ratings(workspace / "study2-ratings.csv", seed=11)
    write_human_sheet(workspace / "study2-human.csv")
    import_run(workspace / "study2-ratings.csv", workspace / "study2-human.csv", "study2",
               workspace / "runs", model="test/other-vlm")
    return workspace


def expected(workspace: Path):
    runs = []
    for name in ("study1", "study2"):
        run = load_run(workspace / "runs" / name)
        runs.append(RunFrames(run.name, run.ratings, run.human, run.aspects, run.manifest))
    return compare(runs)


async def test_mark_runs_and_compare(two_runs: Path, make_app: Callable[..., VlmrateApp]
                                     ) -> None:
    async with make_app().run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        runs = pilot.app.screen
        assert isinstance(runs, RunsScreen)
        await pilot.press("c")  # nothing marked: a warning, no screen
        await settle(pilot)
        assert pilot.app.screen is runs
        table = runs.query_one("#runs-table", DataTable)
        for name in ("study1", "study2"):  # the list is newest first: mark by name
            table.move_cursor(row=table.get_row_index(name))
            await pilot.press("space")
        assert runs.marked == ["study1", "study2"]
        await pilot.press("c")
        await settle(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, CompareScreen)
        want = expected(two_runs)
        relevance = want.aspects["relevance"]
        # how the runs differ, as the CLI's runs table says: the model (≠), not the mode
        facts = text_of(screen.query_one("#compare-facts", Static)).splitlines()
        model = next(x for x in facts if x.startswith("model"))
        assert model.split()[:2] == ["model", "≠"] and model.split()[-1] == "other-vlm"
        assert next(x for x in facts if x.startswith("mode ")).split()[1] == "full"
        runs_text = text_of(screen.query_one("#compare-runs", Static))
        assert f"relevance: {relevance.n_common} common images" in runs_text
        mae_line = next(x for x in runs_text.splitlines() if x.startswith("MAE"))
        header = next(x for x in runs_text.splitlines() if x.startswith("measure"))
        assert header.split()[1:] == ["study1", "study2"]
        maes = [f"{r.mae:.3f}" for r in relevance.runs.values()]
        assert [v.rstrip("*") for v in mae_line.split()[1:]] == maes
        assert min(maes) + "*" in mae_line  # the best MAE is marked
        pairs_text = text_of(screen.query_one("#compare-pairs", Static))
        pair = relevance.pairs[("study1", "study2")]
        assert "study1 − study2" in pairs_text and f"{pair.mae_diff:.3f}" in pairs_text

        await pilot.press("a")  # next aspect
        await settle(pilot)
        assert screen.aspect == "arousal"
        assert "arousal:" in text_of(screen.query_one("#compare-runs", Static))

        await pilot.press("2")
        await settle(pilot)
        assert screen.query_one("#compare-tabs", TabbedContent).active == "cmp-byk"
        chart = screen.query_one("#compare-chart", Chart)
        assert chart.plt is not None

        await pilot.press("3")
        await settle(pilot)
        table = screen.query_one("#compare-disagree", DataTable)
        top = disagreements(want.aspects["arousal"], 50)
        assert [str(k.value) for k in table.rows] == top["image_id"].to_list()
        assert table.row_count == min(50, want.aspects["arousal"].n_common) <= N_IMAGES
        assert table.has_focus  # 3 focuses the list: enter opens the image
        await pilot.press("down", "enter")
        await settle(pilot)
        first = pilot.app.screen
        assert isinstance(first, CaseScreen)
        assert first.data.run.name == "study1" and first.image_id == top["image_id"][1]
        assert first.aspect == "arousal"
        await pilot.press("escape")
        await settle(pilot)
        second = pilot.app.screen
        assert isinstance(second, CaseScreen)
        assert second.data.run.name == "study2" and second.image_id == top["image_id"][1]
        await pilot.press("escape")
        await settle(pilot)
        assert pilot.app.screen is screen
        await pilot.press("escape")
        await settle(pilot)
        assert pilot.app.screen is runs


async def test_compare_of_runs_without_common_images_says_why(
        workspace: Path, make_app: Callable[..., VlmrateApp]) -> None:
    # a run of other images: nothing in common with study1
    other = workspace / "other"
    other.mkdir()
    lines = ["image_id,aspect,repeat,rating"] + [
        f"zz{i},relevance,1,{1 + i % 9}" for i in range(8)]
    (other / "r.csv").write_text("\n".join(lines) + "\n")
    (other / "h.csv").write_text("image,relevance\n" + "".join(
        f"zz{i},{2 + i % 5}\n" for i in range(8)))
    import_run(other / "r.csv", other / "h.csv", "elsewhere", workspace / "runs")
    async with make_app().run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        pilot.app.push_screen(CompareScreen([workspace / "runs" / "study1",
                                             workspace / "runs" / "elsewhere"]))
        await settle(pilot)
        info = text_of(pilot.app.screen.query_one("#compare-info", Static))
        assert "no image in common" in info
