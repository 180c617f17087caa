"""A run whose answers mostly failed to parse says so, with the likely fix, wherever its
status is shown: the Runs list (row and info line), Results and the CLI summary."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.helpers import ScriptedEngine, make_dataset, runner_for
from vlmrate.runfolder.parse_health import likely_fix, mostly_unparsed, unparsed_warning
from vlmrate.runfolder.store import list_runs, load_run


def test_the_rule_and_the_fix() -> None:
    assert not mostly_unparsed(9, 9)  # too few answers for a verdict
    assert mostly_unparsed(10, 5) and not mostly_unparsed(10, 4)
    assert unparsed_warning(298, 294, {"structured": False, "max_tokens": 64}).startswith(
        "294 of 298 answers could not be parsed: start it again with structured outputs")
    assert "max tokens (now 64" in likely_fix({"structured": True, "max_tokens": 64})
    assert "--structured" not in likely_fix({"structured": True})
    assert unparsed_warning(298, 10, None) == ""


def test_a_mostly_unparsed_run_says_so_where_its_status_is_shown(tmp_path: Path) -> None:
    from rich.console import Console

    from vlmrate.stats.run_summary import parse_note, render_summary
    from vlmrate.tui.screens.runs import run_detail, run_row

    make_dataset(tmp_path)
    final = asyncio.run(runner_for(tmp_path, ScriptedEngine(fail_every=1)).run())
    assert final.status == "done" and final.parse_failures == final.total
    [run] = list_runs(tmp_path / "runs")
    n = final.total
    assert run["unparsed"] == n and run["done"] == n
    assert run["warning"] == f"{n} of {n} answers could not be parsed: " + likely_fix(
        {"structured": False, "max_tokens": load_run(run["path"]).manifest["sampling"]
         ["max_tokens"]})
    assert run_row(run)[1] == "done ⚠"
    assert run_detail(run) == f"r: done ⚠ {run['warning']}"
    loaded = load_run(run["path"])
    assert parse_note(loaded) == run["warning"]
    console = Console(width=200, record=True, color_system=None)
    console.print(render_summary(loaded))
    assert run["warning"] in " ".join(console.export_text().split())


def test_a_run_that_parsed_says_nothing(tmp_path: Path) -> None:
    from vlmrate.stats.run_summary import parse_note

    make_dataset(tmp_path)
    asyncio.run(runner_for(tmp_path, ScriptedEngine(fail_every=4)).run())
    [run] = list_runs(tmp_path / "runs")
    assert run["unparsed"] > 0 and run["warning"] == ""
    assert parse_note(load_run(run["path"])) == ""


def test_an_imported_sheet_with_empty_ratings_is_not_a_model_that_failed(
        tmp_path: Path) -> None:
    from vlmrate.runfolder.importer import import_run
    from vlmrate.stats.run_summary import parse_note

    rows = ["image_id,aspect,repeat,rating"] + [
        f"pic{i},relevance,{r}," for i in range(1, 7) for r in (1, 2)]
    (tmp_path / "r.csv").write_text("\n".join(rows) + "\npic1,relevance,3,5\n")
    (tmp_path / "h.csv").write_text("image,relevance\n" + "".join(
        f"pic{i},{i}\n" for i in range(1, 7)))
    run_dir = import_run(tmp_path / "r.csv", tmp_path / "h.csv", "imp", tmp_path / "runs")
    [run] = list_runs(tmp_path / "runs")
    assert run["unparsed"] == 12 and run["warning"] == ""
    assert parse_note(load_run(run_dir)) == ""
