"""Fixtures of the TUI tests: deterministic runs made with `vlmrate import`."""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Static

from vlmrate.runfolder.importer import import_run
from vlmrate.tui.app import VlmrateApp

ASPECTS = ["relevance", "arousal", "valence"]
REASONS = ["melting glacier and open water", "a crowded beach in summer",
           "smoke over a dry forest", "a flooded street after rain", "wind turbines on a hill",
           "a quiet office with plants"]
N_IMAGES = 12
REPEATS = 3
SIZE = (100, 30)


@pytest.fixture(autouse=True)
def _no_local_models(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The New run form offers the models found on this machine first: the tests see an
    empty vlmrate cache and Hugging Face cache, whatever the machine has."""
    monkeypatch.setenv("VLMRATE_CACHE", str(tmp_path / "vlmrate-cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))


def write_ratings(path: Path, n_images: int = N_IMAGES, repeats: int = REPEATS,
                  seed: int = 7) -> None:
    """Long ratings: a fixed bias per aspect, a reason per image, one missing answer."""
    rng = random.Random(seed)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image_id", "aspect", "repeat", "rating", "reason"])
        for i in range(1, n_images + 1):
            for a, aspect in enumerate(ASPECTS):
                centre = 2 + (i * 3 + a * 2) % 7
                for repeat in range(1, repeats + 1):
                    rating: object = max(1, min(9, centre + rng.choice([-1, 0, 0, 1])))
                    if (i, a, repeat) == (3, 0, 2):
                        rating = ""
                    reason = f"{REASONS[(i + a) % len(REASONS)]} ({aspect} {repeat})"
                    writer.writerow([f"img{i:02d}", aspect, repeat, rating, reason])


def write_human_sheet(path: Path, n_images: int = N_IMAGES, seed: int = 3) -> None:
    rng = random.Random(seed)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "Relevance_mean", "Relevance_sd", "Arousal_mean",
                         "Arousal_sd", "Valence_mean", "Valence_sd"])
        for i in range(1, n_images + 1):
            row = [f"img{i:02d}"]
            for _ in ASPECTS:
                row += [round(rng.uniform(1.5, 8.5), 2), round(rng.uniform(0.5, 2.5), 2)]
            writer.writerow(row)


def make_run(root: Path, name: str = "study1") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    write_ratings(root / f"{name}-ratings.csv")
    write_human_sheet(root / f"{name}-human.csv")
    return import_run(root / f"{name}-ratings.csv", root / f"{name}-human.csv", name,
                      root / "runs", model="test/tiny-vlm")


def add_logprobs(run_dir: Path, seed: int = 11) -> None:
    """Give an imported run what a --logprobs run records: per answer the probabilities of
    1..9 (peaked at the rating), their expected rating, and a finish reason (every fifth
    answer stopped at the token limit)."""
    rng = random.Random(seed)
    path = run_dir / "ratings.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for n, rec in enumerate(records):
        rating = rec.get("rating")
        weights = [rng.random() * 0.2 + (3.0 if rating == v else 0.0) for v in range(1, 10)]
        total = sum(weights)
        probs = [round(w / total, 4) for w in weights]
        rec["rating_probs"] = probs
        rec["expected_rating"] = round(sum(p * v for p, v in zip(probs, range(1, 10),
                                                                   strict=True)), 4)
        rec["finish_reason"] = "length" if n % 5 == 4 else "stop"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    for cached in run_dir.glob("*.parquet"):
        if cached.name != "human.parquet":
            cached.unlink()


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A folder like the one `vlmrate` opens on: runs/ with one imported run, data/."""
    make_run(tmp_path)
    (tmp_path / "data").mkdir()
    return tmp_path


@pytest.fixture
def make_app(workspace: Path) -> Callable[..., VlmrateApp]:
    def factory(**kwargs: object) -> VlmrateApp:
        return VlmrateApp(runs_dir=workspace / "runs", prompts_dir=workspace / "prompts",
                          data_dir=workspace / "data", **kwargs)  # type: ignore[arg-type]

    return factory


# --- driving the app ---------------------------------------------------------------------

async def settle(pilot: Pilot) -> None:
    """Let every worker finish and the screen catch up."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    for screen in pilot.app.screen_stack:
        await screen.workers.wait_for_complete()
    await pilot.pause()


def text_of(widget: Static) -> str:
    """What a Static shows, as plain text (its Rich renderable rendered wide)."""
    content = widget.content
    if isinstance(content, str):
        return content
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(content)
    return console.export_text()


async def open_results(pilot: Pilot) -> Any:
    """From the Runs screen, enter on the (only) run: its ResultsScreen."""
    from vlmrate.tui.screens.results import ResultsScreen
    from vlmrate.tui.screens.runs import RunsScreen

    await settle(pilot)
    assert isinstance(pilot.app.screen, RunsScreen)
    await pilot.press("enter")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, ResultsScreen)
    return screen


OpenedApp = Callable[..., AbstractAsyncContextManager[tuple[Pilot, Any]]]


@pytest.fixture
def results_app(make_app: Callable[..., VlmrateApp]) -> OpenedApp:
    """``async with results_app(size=..., **app_kwargs) as (pilot, results):`` the app
    started on the workspace with the Results of study1 open."""

    @asynccontextmanager
    async def opened(size: tuple[int, int] = SIZE, **kwargs: Any
                     ) -> AsyncIterator[tuple[Pilot, Any]]:
        async with make_app(**kwargs).run_test(size=size) as pilot:
            yield pilot, await open_results(pilot)

    return opened


@pytest.fixture
def stats_app(make_app: Callable[..., VlmrateApp]) -> OpenedApp:
    """``async with stats_app(size=..., **app_kwargs) as (pilot, stats):`` the app started
    on the workspace with s pressed on Runs: the Stats of study1, its statistics loaded."""
    from vlmrate.tui.screens.stats import StatsScreen

    @asynccontextmanager
    async def opened(size: tuple[int, int] = SIZE, **kwargs: Any
                     ) -> AsyncIterator[tuple[Pilot, Any]]:
        async with make_app(**kwargs).run_test(size=size) as pilot:
            await settle(pilot)
            await pilot.press("s")
            await settle(pilot)
            screen = pilot.app.screen
            assert isinstance(screen, StatsScreen) and screen.data is not None
            yield pilot, screen

    return opened


@pytest.fixture
def case_app(results_app: OpenedApp) -> OpenedApp:
    """``async with case_app(image_id, aspect=None, size=...) as (pilot, case):`` the Case
    of one image opened from Results (in id order; with aspect, that aspect shown)."""

    @asynccontextmanager
    async def opened(image_id: str = "img01", *, aspect: str | None = None,
                     size: tuple[int, int] = SIZE, **kwargs: Any
                     ) -> AsyncIterator[tuple[Pilot, Any]]:
        from vlmrate.tui.screens.case import CaseScreen
        from vlmrate.tui.widgets.frame_table import FrameTable

        async with results_app(size=size, **kwargs) as (pilot, results):
            if aspect is not None:
                while results.focus_aspect != aspect:
                    await pilot.press("a")
            table = results.query_one("#results-table", FrameTable)
            table.move_cursor(results.order.index(image_id))
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(pilot.app.screen, CaseScreen)
            yield pilot, pilot.app.screen

    return opened
