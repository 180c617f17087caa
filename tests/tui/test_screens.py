"""Pilot tests: drive Runs -> Results -> Case / Stats like a reviewer does, by keyboard."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from textual.widgets import DataTable, Static

from tests.helpers import add_images
from tests.tui.conftest import (  # noqa: F401 - settle, text_of: other tests import them here
    ASPECTS,
    N_IMAGES,
    SIZE,
    OpenedApp,
    open_results,
    settle,
    text_of,
)
from vlmrate.tui.app import VlmrateApp
from vlmrate.tui.screens.case import CaseScreen
from vlmrate.tui.screens.new_run import NewRunScreen
from vlmrate.tui.screens.results import ResultsScreen
from vlmrate.tui.screens.runs import RunsScreen
from vlmrate.tui.screens.stats import StatsScreen
from vlmrate.tui.widgets.frame_table import FrameTable


def table_ids(table: DataTable | FrameTable) -> list[str]:
    if isinstance(table, FrameTable):
        return table.keys()
    return [str(key.value) for key in table.rows]


async def test_runs_screen_lists_the_run(make_app: Callable[..., VlmrateApp]) -> None:
    async with make_app().run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = pilot.app.screen.query_one("#runs-table", DataTable)
        assert table_ids(table) == ["study1"]
        row = table.get_row("study1")
        assert row[1] == "imported" and row[2] == "108/108" and row[4] == "tiny-vlm"
        assert "1 run " in text_of(pilot.app.screen.query_one("#runs-info", Static))


async def test_runs_screen_without_runs(tmp_path: Path) -> None:
    app = VlmrateApp(runs_dir=tmp_path / "runs", prompts_dir=tmp_path / "p")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "no runs" in text_of(app.screen.query_one("#runs-info", Static))
        await pilot.press("enter")  # nothing selected: a warning, no crash
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen)


async def test_results_aspect_focus(results_app: OpenedApp) -> None:
    async with results_app(size=(80, 24)) as (pilot, screen):
        table = screen.query_one("#results-table", FrameTable)
        assert len(table.columns) == 1 + 5 * len(ASPECTS)  # 4 measures + a marker each
        await pilot.press("a")
        assert screen.focus_aspect == "relevance"
        labels = [c.label for c in table.columns]
        assert labels == ["image", "mean", "SD", "n", "human", "d", ""]
        await pilot.press("a", "a", "a")
        assert screen.focus_aspect == "all aspects"


async def test_case_review_flag_note_and_navigation(
        results_app: OpenedApp, workspace: Path) -> None:
    review_path = workspace / "runs/study1/review.json"
    async with results_app() as (pilot, results):
        await pilot.press("right", "s")  # relevance mean, highest first
        order = list(results.order)
        await pilot.press("enter")
        await settle(pilot)
        case = pilot.app.screen
        assert isinstance(case, CaseScreen)
        assert case.image_id == order[0] and case.aspect == "relevance"
        title = text_of(case.query_one("#case-title", Static))
        assert order[0] in title and f"1/{N_IMAGES}" in title
        answers = [text_of(b) for b in case.query(".answer")]
        assert len(answers) == 3 and "(relevance 1)" in answers[0]
        assert "(relevance 3)" in answers[2]
        # the imported run has no image folder: a clear placeholder
        assert "no image folder" in text_of(case.query_one(".image-placeholder", Static))

        await pilot.press("f")
        await pilot.pause()
        await pilot.press("enter")  # the first category
        await settle(pilot)
        review = json.loads(review_path.read_text())["cases"]
        assert review[order[0]]["relevance"]["category"] == "model wrong"
        assert "⚑ relevance: model wrong" in text_of(case.query_one("#case-title", Static))

        await pilot.press("e")
        await pilot.pause()
        await pilot.press(*"looks odd", "ctrl+s")
        await settle(pilot)
        review = json.loads(review_path.read_text())["cases"]
        assert review[order[0]]["relevance"]["note"] == "looks odd"
        assert "looks odd" in text_of(case.query_one("#case-note", Static))

        await pilot.press("a")  # next aspect
        await pilot.pause()
        assert case.aspect == "arousal"
        assert "(arousal 2)" in text_of(case.query(".answer")[1])
        await pilot.press("tab")
        await pilot.pause()
        assert case.aspect == "valence"
        await pilot.press("f", "3")  # ambiguous image
        await settle(pilot)
        review = json.loads(review_path.read_text())["cases"]
        assert review[order[0]]["valence"]["category"] == "ambiguous image"
        assert review[order[0]]["relevance"]["note"] == "looks odd"
        await pilot.press("f", "0")  # not flagged any more
        await settle(pilot)
        review = json.loads(review_path.read_text())["cases"]
        assert "valence" not in review[order[0]]

        await pilot.press("n")
        await pilot.pause()
        assert case.image_id == order[1]
        assert f"2/{N_IMAGES}" in text_of(case.query_one("#case-title", Static))
        await pilot.press("p", "p")  # the second p stays on the first image
        await pilot.pause()
        assert case.image_id == order[0]

        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(pilot.app.screen, ResultsScreen)
        await pilot.pause()
        row = results.query_one("#results-table", FrameTable).get_row(order[0])
        assert row["_mark_relevance"] == "⚑✎" and row["_mark_valence"] == ""


async def test_case_shows_a_missing_answer(case_app: OpenedApp) -> None:
    async with case_app("img03", aspect="relevance") as (pilot, case):
        answers = [text_of(b) for b in case.query(".answer")]
        assert "rating ✗" in answers[1] and "[missing]" in answers[1]
        assert "(relevance 1)" in answers[0]
        await pilot.press("r")  # raw answers instead of reasons
        await pilot.pause()
        raw = case.answers()[0].raw
        assert raw and raw in text_of(case.query(".answer")[0])


async def test_case_draws_the_image(case_app: OpenedApp, workspace: Path) -> None:
    from textual_image.widget import HalfcellImage

    ids = [f"img{i:02d}" for i in range(1, N_IMAGES)]  # img12 has no file
    add_images(workspace / "runs/study1", workspace / "data/pics", ids)
    async with case_app("img01", image_mode="halfcell") as (pilot, case):
        assert len(case.query(HalfcellImage)) == 1
        await pilot.press("z")  # the image on the whole screen
        await pilot.pause()
        assert len(pilot.app.screen.query(HalfcellImage)) == 1
        await pilot.press("escape")
        await pilot.pause()
        assert pilot.app.screen is case
        case.index = case.order.index("img12")
        await case.show_case(new_image=True)
        await pilot.pause()
        assert not case.query(HalfcellImage)
        assert "no image file" in text_of(case.query_one(".image-placeholder", Static))


async def test_stats_screen(results_app: OpenedApp) -> None:
    async with results_app() as (pilot, _results):
        await pilot.press("t")
        await settle(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, StatsScreen)
        summary = text_of(screen.query_one("#stats-summary", Static))
        for label in ("ICC1", "Wilcoxon", "TOST", "Bland–Altman", *ASPECTS):
            assert label in summary
        # everything the CLI report shows, e.g. MAE, W+/W−, the TOST t values, n0
        assert screen.data is not None
        study = screen.data.study
        rows = {line.split("  ")[1]: line.split() for line in summary.splitlines()
                if line.startswith("  ")}
        for label, get, spec in (("MAE (mean of all repeats)", lambda a: a.agreement.mae, ".3f"),
                                 ("W+", lambda a: a.wilcoxon.w_plus, "g"),
                                 ("W−", lambda a: a.wilcoxon.w_minus, "g"),
                                 ("t lower", lambda a: a.tost.t_lower, ".2f"),
                                 ("t upper", lambda a: a.tost.t_upper, ".2f")):
            assert rows[label][-3:] == [format(get(study.aspects[a]), spec)
                                        for a in ASPECTS], label
        assert "k = n0 (answers per image, corrected)" in rows
        # the sheet has SDs but no rater counts: the Validity line says so, and how to fix it
        validity = " ".join(text_of(screen.query_one("#stats-validity", Static)).split())
        assert validity.startswith("Validity (relevance): no human noise ceiling: the human "
                                   "sheet has SDs but no rater counts (column relevance_n")
        assert "relevance~arousal" in text_of(screen.query_one("#stats-between", Static))
        assert "aspect relevance" in text_of(screen.query_one("#stats-info", Static))
        await pilot.press("a")
        assert screen.aspect == "arousal"
        assert "aspect arousal" in text_of(screen.query_one("#stats-info", Static))
        await pilot.press("right_square_bracket")
        assert screen.query_one("#stats-tabs").active == "byk"
        rows = text_of(screen.query_one("#stats-byk", Static))
        assert "MAE" in rows
        await pilot.press("escape")
        assert isinstance(pilot.app.screen, ResultsScreen)


async def test_export_writes_the_workbook_or_says_why_not(
        results_app: OpenedApp, workspace: Path) -> None:
    run_dir = workspace / "runs/study1"
    lock = run_dir / ".~lock.study1.xlsx#"  # the workbook is open in LibreOffice
    lock.write_text("")
    async with results_app() as (pilot, _results):
        await pilot.press("x")
        await settle(pilot)
        messages = [n.message for n in pilot.app._notifications]
        assert any("is open in another program" in m for m in messages)
        assert not (run_dir / "study1.xlsx").exists()
        assert isinstance(pilot.app.screen, ResultsScreen)
        lock.unlink()
        pilot.app.clear_notifications()
        await pilot.press("x")
        await settle(pilot)
        messages = [n.message for n in pilot.app._notifications]
        assert f"workbook written: {run_dir / 'study1.xlsx'}" in messages
        assert (run_dir / "study1.xlsx").stat().st_size > 0


async def test_new_run_rejects_a_missing_dataset(make_app: Callable[..., VlmrateApp]) -> None:
    async with make_app().run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(pilot.app.screen, NewRunScreen)
        await pilot.press(*"no/such/folder")
        await pilot.press("ctrl+s")
        for _ in range(100):  # the runner's prepare() checks it in a worker thread
            await pilot.pause(0.05)
            messages = [n.message for n in pilot.app._notifications]
            if any("no/such/folder: no such folder" in m for m in messages):
                break
        else:
            raise AssertionError("no notification about the missing folder")
        assert isinstance(pilot.app.screen, NewRunScreen)
        assert not pilot.app.screen.query_one("#start").disabled
        await pilot.press("escape")
        assert isinstance(pilot.app.screen, RunsScreen)


async def test_resuming_an_imported_run_is_refused(make_app: Callable[..., VlmrateApp]
                                                   ) -> None:
    async with make_app().run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("R")
        await pilot.pause()
        assert isinstance(pilot.app.screen, RunsScreen)
        messages = [n.message for n in pilot.app._notifications]
        assert any("study1 was imported" in m for m in messages)


async def test_palette_runs_screen_actions(make_app: Callable[..., VlmrateApp]) -> None:
    async with make_app().run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"new run")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(pilot.app.screen, NewRunScreen)


async def test_palette_lists_every_footer_key(make_app: Callable[..., VlmrateApp]) -> None:
    from vlmrate.tui.palette import ScreenActionsProvider

    async with make_app().run_test(size=SIZE) as pilot:
        await settle(pilot)
        provider = ScreenActionsProvider(pilot.app.screen)
        await provider.startup()
        titles = {title for title, _, _ in provider._entries}
        assert {"Open", "New run", "Stats", "Resume", "Refresh", "Open run study1"} <= titles


async def test_theme_switch(make_app: Callable[..., VlmrateApp]) -> None:
    async with make_app().run_test(size=SIZE) as pilot:
        await settle(pilot)
        before = pilot.app.theme
        pilot.app.action_toggle_dark()
        await pilot.pause()
        assert pilot.app.theme != before


def test_digit_probabilities_shown_once_when_every_answer_shares_them() -> None:
    from vlmrate.tui.data import Answer
    from vlmrate.tui.screens.case import answer_block, probs_text, shared_probs

    probs = [0.0, 0.01, 0.02, 0.05, 0.3, 0.4, 0.2, 0.02, 0.0]
    same = [Answer(r, 6, "ok", "ok", "", rating_probs=list(probs)) for r in (1, 2, 3)]
    assert shared_probs(same) == probs
    assert shared_probs(same[:1]) is None  # one answer: its own line
    other = [*same[:2], Answer(3, 5, "x", "x", "", rating_probs=[0.1] * 9)]
    assert shared_probs(other) is None
    assert shared_probs([Answer(1, 6, "a", "a", ""), Answer(2, 6, "a", "a", "")]) is None
    assert "5:.30" in probs_text(probs, (1, 9)).plain
    console = Console(width=80, record=True, color_system=None)
    console.print(answer_block(same[0], False, (1, 9), probs=False))
    assert "5:.30" not in console.export_text()


def _plain_chart(chart) -> str:  # type: ignore[no-untyped-def]
    import re

    chart.plt.plotsize(80, 20)
    return re.sub(r"\x1b\[[0-9;]*m", "", chart.plt.build())


def test_charts_tell_series_and_lines_apart_without_colour() -> None:
    from vlmrate.tui.screens.case import rating_histogram
    from vlmrate.tui.widgets.charts import Chart, bland_altman, errors_by_k

    chart = Chart()
    bland_altman(chart, [2, 3, 4, 5, 6], [0.5, -1, 0.2, 1.5, -0.3], 0.18, -1.5, 1.9, "BA")
    text = _plain_chart(chart)
    assert "bias 0.18" in text and "lower limit -1.50" in text and "upper limit 1.90" in text
    errors_by_k(chart, [{"k": 1, "mae": 2.0, "r": 0.1}, {"k": 2, "mae": 1.5, "r": 0.3}],
                "by k")
    legend = [line for line in _plain_chart(chart).splitlines() if "axis)" in line]
    assert "•• MAE (left axis)" in legend[0] and "xx r (right axis)" in legend[1]
    histogram = rating_histogram([5, 5, 6, 7, 7, 7], 6.2, (1, 9)).plain
    assert "5×2 6×1 7×3" in histogram  # the counts the bars stand for
