"""Pilot tests of reviewing: sort by the cursor column and by |d|, every filter form (the
rows kept checked against the per-image frame), flags with a category and notes that
survive a restart with the view restored, OSC 52 copy, and the Stats tabs scrolling."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.containers import VerticalScroll
from textual.widgets import Input, Static

from tests.tui.conftest import ASPECTS, N_IMAGES, OpenedApp, settle, text_of
from tests.tui.test_frame_table import reference_sort
from vlmrate.runfolder.review import set_case
from vlmrate.tui.app import VlmrateApp
from vlmrate.tui.screens.case import CaseScreen
from vlmrate.tui.screens.results import ResultsScreen
from vlmrate.tui.screens.stats import StatsScreen
from vlmrate.tui.widgets.frame_table import FrameTable


@pytest.fixture(autouse=True)
def _reviewer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VLMRATE_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("VLMRATE_REVIEWER", "ana")


async def test_sort_by_the_cursor_column_and_by_abs_d(results_app: OpenedApp) -> None:
    async with results_app(size=(80, 24)) as (pilot, results):
        table = results.query_one("#results-table", FrameTable)
        rows = list(results.data.rows.values())
        await pilot.press("a")  # relevance only
        await pilot.press("right", "right")  # image -> mean -> SD
        assert table.cursor_column_key == "relevance_sd"
        await pilot.press("s")
        assert results.order == reference_sort(rows, "relevance_sd", True)
        await pilot.press("s")  # again: reversed
        assert results.order == reference_sort(rows, "relevance_sd", False)
        await pilot.press("right", "right", "s")  # SD -> n -> human
        assert results.order == reference_sort(rows, "relevance_human", True)
        await pilot.press("d")  # |d| of relevance, largest first
        absd = [{"image_id": r["image_id"], "x": None if r["relevance_d"] is None
                 else abs(r["relevance_d"])} for r in rows]
        assert results.order == reference_sort(absd, "x", True)
        assert "by |d| relevance ↓" in text_of(results.query_one("#results-info", Static))
        await pilot.press("a")  # arousal: still by |d|, of arousal now
        assert results.sort_column == "arousal_absd"
        # all aspects: the aspect under the column cursor is whole in view at 80 columns
        await pilot.press("a", "a")
        assert results.focus_aspect == "all aspects"
        await pilot.press(*["right"] * 12)
        assert "valence" in table.cursor_column_key
        header = table.render_line(0).text
        assert header.split()[0] == "image"
        assert all(f"val {f}" in header for f in ("m", "sd", "h", "d"))


def expected_ids(results: ResultsScreen, keep: Callable[[dict, str], bool],
                 aspect: str) -> list[str]:
    """The image ids (in id order) whose per-image row passes ``keep`` for the aspect,
    read from the per-image frame, the ratings and review.json, not from the screen."""
    data = results.data
    failures = {(r["image_id"], r["aspect"])
                for r in data.run.ratings.iter_rows(named=True)
                if r["parse_error"] or r["engine_error"]}
    review = json.loads((data.run.path / "review.json").read_text())["cases"]
    out = []
    for row in data.table.iter_rows(named=True):
        i = row["image_id"]
        extra = {"failure": (i, aspect) in failures,
                 "flagged": bool(review.get(i, {}).get(aspect, {}).get("category")),
                 "note": bool(review.get(i, {}).get(aspect, {}).get("note")),
                 "category": review.get(i, {}).get(aspect, {}).get("category") or "",
                 "note_text": review.get(i, {}).get(aspect, {}).get("note") or "",
                 "reasons": " ".join(a.reason for a in data.answers[i].get(aspect, []))}
        if keep({**row, **extra}, aspect):
            out.append(i)
    return out


def value(row: dict, key: str) -> float | None:
    v = row[key]
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


FORMS = [
    ("d > 2", lambda r, a: (value(r, f"{a}_d") or -99) > 2),
    ("|d| >= 1.5", lambda r, a: value(r, f"{a}_d") is not None and abs(r[f"{a}_d"]) >= 1.5),
    ("sd > 0.9", lambda r, a: (value(r, f"{a}_sd") or -1) > 0.9),
    ("h < 5 and m > 4", lambda r, a: (value(r, f"{a}_human") or 99) < 5
     and (value(r, f"{a}_mean") or -1) > 4),
    ("flagged", lambda r, a: r["flagged"]),
    ("failures", lambda r, a: r["failure"]),
    ("note", lambda r, a: r["note"]),
    ("flooded", lambda r, a: "flooded" in r["reasons"]),
    ("img1", lambda r, a: "img1" in r["image_id"]),
    ("d > 1 or d < -1", lambda r, a: abs(value(r, f"{a}_d") or 0) > 1),
    ('(flag = "model wrong" or note ~ OD) and not img1',
     lambda r, a: (r["category"] == "model wrong" or "od" in r["note_text"].lower())
     and "img1" not in r["image_id"]),
]


async def test_each_filter_form(results_app: OpenedApp, workspace: Path) -> None:
    run_dir = workspace / "runs/study1"
    set_case(run_dir, "img02", "relevance", category="model wrong")
    set_case(run_dir, "img05", "relevance", note="odd")
    set_case(run_dir, "img07", "arousal", category="human odd")  # not relevance
    async with results_app(size=(80, 24)) as (pilot, results):
        table = results.query_one("#results-table", FrameTable)
        await pilot.press("a")  # relevance
        await pilot.press("slash")
        box = results.query_one("#results-filter", Input)
        for text, keep in FORMS:
            box.value = text
            await pilot.pause()
            want = expected_ids(results, keep, "relevance")
            assert table.keys() == want, text
            assert 0 < len(want) < N_IMAGES, text
        # the ⚑ of arousal does not show in the relevance view, and "flagged" skips it
        box.value = "flagged"
        await pilot.pause()
        assert table.keys() == ["img02"]
        assert table.get_row("img02")["_mark_relevance"] == "⚑"
        assert table.get_row("img02")["_mark_arousal"] == ""
        # a wrong expression: the error under the line, the rows of the last good one
        box.value = "sd >"
        await pilot.pause()
        assert "a number is missing after >" in text_of(
            results.query_one("#results-filter-error", Static))
        assert table.keys() == ["img02"]
        # enter on a wrong line: it stays open with its error; nothing else is applied
        await pilot.press("escape", "slash")
        for key in "d > 2 or d <":
            await pilot.press(key if key != " " else "space")
        await pilot.press("enter")
        assert not results.query_one("#results-filter-box").has_class("hidden")
        assert "a number is missing after <" in text_of(
            results.query_one("#results-filter-error", Static))
        assert results.filter_text == "" and box.value == "d > 2 or d <"
        await pilot.press("space", "minus", "2", "enter")  # fixed: applied as typed
        assert results.query_one("#results-filter-box").has_class("hidden")
        assert results.filter_text == "d > 2 or d < -2"
        want = expected_ids(results, lambda r, a: abs(value(r, f"{a}_d") or 0) > 2,
                            "relevance")
        assert table.keys() == want
        view = json.loads((run_dir / "review.json").read_text())["view"]
        assert view["filter"] == "d > 2 or d < -2"
        await pilot.press("escape")  # clears the filter
        assert table.row_count == N_IMAGES and results.filter_text == ""
        assert isinstance(pilot.app.screen, ResultsScreen)


async def test_flags_notes_and_view_survive_a_restart(
        make_app: Callable[..., VlmrateApp], results_app: OpenedApp, workspace: Path) -> None:
    async with results_app(size=(80, 24)) as (pilot, results):
        await pilot.press("a", "a")  # arousal
        await pilot.press("d")  # by |d| of arousal
        await pilot.press("slash", *"sd < 1", "enter")
        await pilot.press("down")
        chosen = results.current_id()
        await pilot.press("enter")
        await settle(pilot)
        case = pilot.app.screen
        assert isinstance(case, CaseScreen) and case.aspect == "arousal"
        assert case.image_id == chosen
        await pilot.press("f")
        await pilot.pause()
        await pilot.press("2")  # the second default category
        await settle(pilot)
        await pilot.press("e")
        await pilot.pause()
        await pilot.press(*"first line", "enter", *"second line", "ctrl+s")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        table = results.query_one("#results-table", FrameTable)
        assert table.get_row(chosen)["_mark_arousal"] == "⚑✎"
        order = list(results.order)
    review = json.loads((workspace / "runs/study1/review.json").read_text())
    entry = review["cases"][chosen]["arousal"]
    assert entry["category"] == "human odd" and entry["note"] == "first line\nsecond line"
    assert entry["reviewer"] == "ana" and entry["time"]
    assert review["view"] == {"aspect": "arousal", "sort": "arousal_absd",
                              "descending": True, "filter": "sd < 1", "cursor": chosen}

    async with results_app(size=(80, 24)) as (pilot, results):  # a new app
        assert results.focus_aspect == "arousal"
        assert (results.sort_column, results.descending) == ("arousal_absd", True)
        assert results.filter_text == "sd < 1" and results.order == order
        assert results.current_id() == chosen
        await pilot.press("enter")
        await settle(pilot)
        case = pilot.app.screen
        note = text_of(case.query_one("#case-note", Static))
        assert "⚑ human odd" in note and "first line" in note
        assert "⚑ arousal: human odd" in text_of(case.query_one("#case-title", Static))


async def test_case_walks_flagged_and_copies_with_osc52(case_app: OpenedApp,
                                                        workspace: Path) -> None:
    run_dir = workspace / "runs/study1"
    set_case(run_dir, "img05", "valence", category="ambiguous image")
    set_case(run_dir, "img09", "relevance", category="prompt problem")
    async with case_app("img01", aspect="relevance") as (pilot, case):
        written: list[str] = []
        driver = pilot.app._driver
        original = driver.write
        driver.write = lambda data: (written.append(data), original(data))[1]
        await pilot.press("N")
        assert case.image_id == "img05"
        await pilot.press("N")
        assert case.image_id == "img09"
        await pilot.press("P", "P")
        assert case.image_id == "img05"
        await pilot.press("down", "c")  # the reason of the second answer
        reason = case.answers()[1].reason
        assert reason.endswith("(relevance 2)")
        assert f"\x1b]52;c;{base64.b64encode(reason.encode()).decode()}\a" in written
        # it says what happened: sent to the terminal, which may drop it (no "copied")
        message = list(pilot.app._notifications)[-1].message
        assert message.startswith("sent the reason of #2 to the terminal's clipboard")
        await pilot.press("C")  # the whole case
        sequence = written[-1]
        assert sequence.startswith("\x1b]52;c;") and sequence.endswith("\a")
        text = base64.b64decode(sequence[7:-1]).decode()
        assert "image img05" in text and "flag: ambiguous image" in text
        for aspect in ASPECTS:
            assert f"({aspect} 3)" in text


async def test_stats_tabs_scroll_without_tab(results_app: OpenedApp) -> None:
    async with results_app(size=(80, 18)) as (pilot, _results):
        await pilot.press("t")
        await settle(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, StatsScreen)
        summary = screen.query_one("#summary VerticalScroll", VerticalScroll)
        await pilot.press("pagedown")
        await pilot.pause()
        assert summary.scroll_y > 0
        await pilot.press("up")
        await pilot.pause()
        assert summary.scroll_y > 0
        await pilot.press("right_square_bracket")  # By k
        await pilot.pause()
        byk = screen.query_one("#byk VerticalScroll", VerticalScroll)
        assert screen.focused is byk, screen.focused
        assert byk.max_scroll_y >= 2, byk.max_scroll_y
        await pilot.press("down", "down")
        await pilot.pause()
        assert byk.scroll_y == 2
        await pilot.press("pageup")
        await pilot.pause()
        assert byk.scroll_y == 0


async def test_case_shows_logprobs_finish_reasons_and_the_histogram(
        case_app: OpenedApp, workspace: Path) -> None:
    import polars as pl

    from tests.tui.conftest import add_logprobs
    from vlmrate.runfolder.store import read_ratings

    run_dir = workspace / "runs/study1"
    add_logprobs(run_dir)
    ratings = read_ratings(run_dir).filter(
        (pl.col("image_id") == "img04") & (pl.col("aspect") == "valence")).sort("repeat")
    async with case_app("img04", aspect="valence") as (_pilot, case):
        blocks = [text_of(b) for b in case.query(".answer")]
        assert len(blocks) == ratings.height
        for block, rec in zip(blocks, ratings.iter_rows(named=True), strict=True):
            assert f"#{rec['repeat']}  rating {rec['rating']}" in block
            assert f"expected {rec['expected_rating']:.2f}" in block
            assert ("hit the token limit" in block) == (rec["finish_reason"] == "length")
            p = rec["rating_probs"][rec["rating"] - 1]
            assert f"{rec['rating']}:{p:.2f}".replace("0.", ".", 1) in block
        summary = text_of(case.query_one("#case-summary", Static))
        mean = sum(ratings["expected_rating"]) / ratings.height
        assert f"expected {mean:.2f} (mean of {ratings.height})" in summary
        histogram = text_of(case.query_one("#case-histogram", Static)).splitlines()
        digits = next(line for line in histogram if "123456789" in line)
        marker = next(line for line in histogram if "▲" in line)
        human = case.data.human["img04"]["valence"][0]
        assert marker.index("▲") - digits.index("1") == round(human - 1)
        assert f"human {human:.2f}" in marker


async def test_palette_lists_the_review_keys(case_app: OpenedApp) -> None:
    from vlmrate.tui.palette import ScreenActionsProvider

    async with case_app("img02") as (pilot, case):
        provider = ScreenActionsProvider(case)
        await provider.startup()
        titles = {title for title, _, _ in provider._entries}
        assert {"Next flagged", "Prev flagged", "Flag", "Note", "Copy",
                "Copy the whole case", "Image", "Next answer"} <= titles
        await pilot.press("escape")
        await pilot.pause()
        provider = ScreenActionsProvider(pilot.app.screen)
        await provider.startup()
        titles = {title for title, _, _ in provider._entries}
        assert {"Case", "Sort", "|d|", "Filter", "Aspect", "Reverse the order",
                "Export workbook"} <= titles


def test_copy_message_says_how_tmux_passes_it_on() -> None:
    from vlmrate.tui.screens.case import copy_message

    assert "tmux" not in copy_message("case img01", {})
    assert "set -g set-clipboard on" in copy_message("case img01", {"TMUX": "/tmp/x,1,0"})
