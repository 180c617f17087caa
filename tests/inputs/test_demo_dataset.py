"""Where `vlmrate demo` puts its synthetic dataset: data/demo, rebuilt only when needed."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from vlmrate.commands.demo import DEMO_DATASET, ensure_demo_dataset
from vlmrate.errors import UserError


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=200), out


def test_demo_dataset_goes_to_data_demo_and_follows_images(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    console, out = _console()
    assert ensure_demo_dataset(3, console) == DEMO_DATASET == Path("data") / "demo"
    pngs = sorted(p.name for p in (tmp_path / "data" / "demo" / "images").iterdir())
    assert pngs == ["pic001.png", "pic002.png", "pic003.png"]
    assert "building 3 synthetic images in data/demo" in out.getvalue()
    first = (tmp_path / "data" / "demo" / "human.csv").read_bytes()

    console, out = _console()
    ensure_demo_dataset(3, console)  # already there: kept as it is
    assert out.getvalue() == ""
    assert (tmp_path / "data" / "demo" / "human.csv").read_bytes() == first

    ensure_demo_dataset(2, _console()[0])  # fewer images: rebuilt, no stale pic003
    assert sorted(p.name for p in (tmp_path / "data" / "demo" / "images").iterdir()) == [
        "pic001.png", "pic002.png"]
    assert len((tmp_path / "data" / "demo" / "human.csv").read_text().splitlines()) == 3


def test_demo_never_touches_a_data_demo_it_did_not_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    mine = tmp_path / "data" / "demo" / "human.csv"
    mine.parent.mkdir(parents=True)
    mine.write_text("image,relevance\nx,5\n")
    with pytest.raises(UserError, match="data/demo exists and is not the demo's synthetic"):
        ensure_demo_dataset(3, _console()[0])
    assert mine.read_text() == "image,relevance\nx,5\n"
