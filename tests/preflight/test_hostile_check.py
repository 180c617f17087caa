"""Hostile inputs to `vlmrate check` and the CLI without a terminal (issue 23 items 10,
13, 14): a GPU name that only holds a known one, a dataset of images over the
decompression-bomb limit, the TUI started without a terminal. Each parametrized case is
one hostile input tried."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import PROMPTS, make_dataset, write_png_bomb
from vlmrate.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _check(tmp_path: Path, *extra: str) -> int:
    return main(["check", str(tmp_path / "data"), "--prompts", str(PROMPTS / "reference"),
                 *extra])


@pytest.mark.parametrize("gpu", ["A100-40G", "H100,A100", "H100 A100", "", "A100x",
                                 "NVIDIA", "\x1b]0;x\x07"])
def test_a_gpu_name_that_is_no_card_of_the_table(tmp_path: Path, gpu: str,
                                                 capsys: pytest.CaptureFixture) -> None:
    make_dataset(tmp_path, 1)
    code = _check(tmp_path, "--gpu", gpu)
    err = capsys.readouterr().err
    assert code == 2 and "unknown GPU" in err and err.count("\n") == 1, err
    assert "\x1b" not in err and "\x07" not in err


@pytest.mark.parametrize("gpu", ["a100", "H100", "rtx-4090", "RTX_4090", "h200"])
def test_a_card_of_the_table_by_its_name(tmp_path: Path, gpu: str,
                                         capsys: pytest.CaptureFixture) -> None:
    make_dataset(tmp_path, 1)
    assert _check(tmp_path, "--gpu", gpu, "--json") == 0
    assert '"source": "--gpu"' in capsys.readouterr().out


def test_check_names_the_decompression_bomb_limit(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    images = tmp_path / "data" / "images"
    images.mkdir(parents=True)
    write_png_bomb(images / "huge.png")  # 20000 x 20000 pixels: over Pillow's bomb limit
    assert _check(tmp_path) == 2
    err = capsys.readouterr().err
    assert "none of its images could be read" in err and "huge.png: too large" in err
    assert "decompression bomb" in err.lower()


@pytest.mark.parametrize("argv", [[], ["tui"], ["tui", "--runs-dir", "elsewhere"]])
def test_the_tui_without_a_terminal_says_so_and_exits_2(tmp_path: Path,
                                                        argv: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    with open(os.devnull, "rb") as nothing, open(tmp_path / "log", "wb") as log:
        done = subprocess.run([sys.executable, "-m", "vlmrate.cli", *argv], stdin=nothing,
                              stdout=log, stderr=subprocess.PIPE, cwd=tmp_path, env=env,
                              timeout=60, check=False)
    err = done.stderr.decode()
    assert done.returncode == 2 and err.count("\n") == 1, err
    assert "needs a terminal" in err
    assert not (tmp_path / "runs").exists()
