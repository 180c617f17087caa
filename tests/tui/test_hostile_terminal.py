"""Escape sequences in answers, notes, reviewer names, run errors and notifications never
reach the terminal raw from the TUI (issue 23 item 4): what Textual would write for the
whole screen is checked for the hostile sequences. Each hostile input is tried on its own
image's Case page, in its own run's row of the runs list and in its own notification."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from textual.pilot import Pilot

from tests.tui.conftest import settle
from vlmrate.runfolder.store import MANIFEST, RATINGS, REVIEW

HOSTILE = {
    "osc-title": "\x1b]0;PWNED\x07",
    "clear": "\x1b[2J\x1b[H",
    "osc52": "\x1b]52;c;cHduZWQ=\x07",
    "c1-csi": "\x9b2J",
    "cr-overwrite": "ok\rPWNED",
    "markup": "[/bold] [red]x[/] [link=http://x]y",
}
# what Textual itself never writes: OSC, a screen clear, BEL, C1, carriage return
LEAKS = ["\x1b]", "\x1b[2J", "\x07", "\x9b", "\r"]


def _screen_bytes(pilot: Pilot) -> str:
    app = pilot.app
    update = app.screen._compositor.render_update(full=True)
    return update.render_segments(app.console)


def _poison(run_dir: Path, hostile_of: dict[str, str]) -> None:
    """Each image of ``hostile_of`` gets its hostile text in every answer's reason and in
    its review note and reviewer name."""
    lines = (run_dir / RATINGS).read_text().splitlines()
    out = []
    for line in lines:
        record = json.loads(line)
        if record["image_id"] in hostile_of:
            hostile = hostile_of[record["image_id"]]
            record["reason"] = record["raw"] = f"reason {hostile} end"
        out.append(json.dumps(record))
    (run_dir / RATINGS).write_text("\n".join(out) + "\n")
    (run_dir / REVIEW).write_text(json.dumps({"version": 1, "cases": {image_id: {
        "relevance": {"category": "other", "note": f"note {hostile}",
                      "reviewer": f"rev {hostile}", "time": "2026-01-01T00:00:00+00:00"}}
        for image_id, hostile in hostile_of.items()}}))


def _assert_no_leak(pilot: Pilot, kind: str) -> str:
    shown = _screen_bytes(pilot)
    for leak in LEAKS:
        assert leak not in shown, (kind, leak)
    return shown


KINDS = sorted(HOSTILE)
#: one image per hostile input: img01 holds the first, img02 the second...
IMAGE_OF = {kind: f"img{n:02d}" for n, kind in enumerate(KINDS, 1)}


async def test_case_page_shows_hostile_text_made_visible(workspace: Path, case_app) -> None:
    from vlmrate.tui.widgets.frame_table import FrameTable

    _poison(workspace / "runs" / "study1", {IMAGE_OF[k]: HOSTILE[k] for k in KINDS})
    async with case_app(IMAGE_OF[KINDS[0]], aspect="relevance") as (pilot, _case):
        for kind in KINDS:
            if kind != KINDS[0]:  # back to Results, and the Case of this input's image
                await pilot.press("escape")
                await settle(pilot)
                results = pilot.app.screen
                table = results.query_one("#results-table", FrameTable)
                table.move_cursor(results.order.index(IMAGE_OF[kind]))
                await pilot.press("enter")
                await settle(pilot)
            assert pilot.app.screen.image_id == IMAGE_OF[kind]
            shown = _assert_no_leak(pilot, kind)
            assert "reason " in shown and "note " in shown, kind


async def test_runs_list_and_notifications(workspace: Path, make_app) -> None:
    study = workspace / "runs" / "study1"
    for kind in KINDS:  # one failed run per hostile input, in its error and its model
        run_dir = workspace / "runs" / f"hostile-{kind}"
        shutil.copytree(study, run_dir)
        manifest = json.loads((run_dir / MANIFEST).read_text())
        manifest["name"] = run_dir.name
        manifest["status"], manifest["error"] = "failed", f"server said {HOSTILE[kind]}"
        manifest["model"] = f"model{HOSTILE[kind]}"
        (run_dir / MANIFEST).write_text(json.dumps(manifest))
    # notifications=True: run_test leaves the screens' toast rack out by default, and a
    # notification would then never be drawn
    async with make_app().run_test(size=(160, 30), notifications=True) as pilot:
        await settle(pilot)
        shown = _assert_no_leak(pilot, "runs list")
        assert all(f"hostile-{kind}" in shown for kind in KINDS)
        assert shown.count("server said") + shown.count("model") >= len(KINDS)
        for kind in KINDS:  # one notification at a time: each is on the screen
            pilot.app.notify(f"boom {HOSTILE[kind]}")
            await pilot.pause()
            assert "boom" in _assert_no_leak(pilot, kind)
            pilot.app.clear_notifications()
            await pilot.pause()
