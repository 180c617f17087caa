"""Escape sequences in answers, notes, reviewer names, run errors and notifications never
reach the terminal raw from the TUI (issue 23 item 4): what Textual would write for the
whole screen is checked for the hostile sequences. Each parametrized case is one hostile
input tried."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.pilot import Pilot

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


def _poison(run_dir: Path, hostile: str) -> None:
    lines = (run_dir / RATINGS).read_text().splitlines()
    out = []
    for line in lines:
        record = json.loads(line)
        if record["image_id"] == "img01":
            record["reason"] = record["raw"] = f"reason {hostile} end"
        out.append(json.dumps(record))
    (run_dir / RATINGS).write_text("\n".join(out) + "\n")
    (run_dir / REVIEW).write_text(json.dumps({"version": 1, "cases": {"img01": {
        "relevance": {"category": "other", "note": f"note {hostile}",
                      "reviewer": f"rev {hostile}", "time": "2026-01-01T00:00:00+00:00"}}}}))


@pytest.mark.parametrize("kind", sorted(HOSTILE))
async def test_case_page_shows_hostile_text_made_visible(workspace: Path, case_app,
                                                         kind: str) -> None:
    _poison(workspace / "runs" / "study1", HOSTILE[kind])
    async with case_app("img01", aspect="relevance") as (pilot, _case):
        shown = _screen_bytes(pilot)
        assert "reason " in shown and "note " in shown
        for leak in LEAKS:
            assert leak not in shown, (kind, leak)


@pytest.mark.parametrize("kind", sorted(HOSTILE))
async def test_runs_list_and_notifications(workspace: Path, make_app, kind: str) -> None:
    run_dir = workspace / "runs" / "study1"
    manifest = json.loads((run_dir / MANIFEST).read_text())
    manifest["status"], manifest["error"] = "failed", f"server said {HOSTILE[kind]}"
    manifest["model"] = f"model{HOSTILE[kind]}"
    (run_dir / MANIFEST).write_text(json.dumps(manifest))
    async with make_app().run_test(size=(160, 30)) as pilot:
        await pilot.pause()
        pilot.app.notify(f"boom {HOSTILE[kind]}")
        await pilot.pause()
        shown = _screen_bytes(pilot)
        assert "server said" in shown or "model" in shown
        for leak in LEAKS:
            assert leak not in shown, (kind, leak)
