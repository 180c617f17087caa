"""--data-parallel-size, --tensor-parallel-size and --batch-invariant: what the CLI
accepts, what it refuses with one line (nothing written), and what the manifest keeps."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.helpers import PROMPTS, make_dataset, stand_in_torch
from vlmrate.cli import build_parser, main
from vlmrate.commands.run import config_from_args
from vlmrate.engines.base import EngineUnavailable, SamplingConfig
from vlmrate.engines.vllm import VllmEngine, _prepare_environment
from vlmrate.runfolder.store import read_manifest
from vlmrate.running.runner import Runner


def run_args(tmp_path: Path, *extra: str) -> list[str]:
    return ["run", str(tmp_path / "data"), "--run", "p", "--runs-dir", str(tmp_path / "runs"),
            "--prompts", str(PROMPTS / "reference"), "--model", "m", *extra]


def test_data_parallel_above_one_is_refused_with_the_server_recipe(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    make_dataset(tmp_path, 1)
    code = main(run_args(tmp_path, "--data-parallel-size", "4", "--tensor-parallel-size", "2"))
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "vllm serve MODEL --data-parallel-size 4 --tensor-parallel-size 2" in err
    assert "(8 GPUs)" in err and "--engine openai" in err
    assert not (tmp_path / "runs" / "p").exists()  # nothing written


def test_batch_invariant_on_the_openai_engine_says_where_to_set_it(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    make_dataset(tmp_path, 1)
    code = main(run_args(tmp_path, "--engine", "openai", "--base-url", "http://h:1/v1",
                         "--batch-invariant"))
    err = capsys.readouterr().err
    assert code == 2 and "VLLM_BATCH_INVARIANT=1" in err and "Traceback" not in err


def test_manifest_records_the_parallel_options(tmp_path: Path) -> None:
    make_dataset(tmp_path, 1)
    args = build_parser().parse_args(run_args(tmp_path, "--batch-invariant",
                                              "--tensor-parallel-size", "2"))
    runner = Runner(config_from_args(args))
    run_dir = runner.prepare()
    runner._lock.release()  # prepared only; no engine is started
    options = read_manifest(run_dir)["engine"]["options"]
    assert options["batch_invariant"] is True and options["data_parallel_size"] == 1
    assert options["tensor_parallel_size"] == 2


def test_batch_invariant_sets_vllms_switch_on_a_gpu_and_is_refused_on_cpu(
        monkeypatch: pytest.MonkeyPatch) -> None:
    gpu = [False]  # what torch.cuda.is_available() says: `import torch` gives a stand-in
    monkeypatch.setitem(sys.modules, "torch", stand_in_torch(is_available=lambda: gpu[0]))
    environ = {k: v for k, v in os.environ.items() if k != "VLLM_BATCH_INVARIANT"}
    monkeypatch.setattr(os, "environ", environ)  # this process's environment stays as it is
    _prepare_environment(batch_invariant=False)
    assert "VLLM_BATCH_INVARIANT" not in os.environ
    gpu[0] = True
    _prepare_environment(batch_invariant=True)
    assert os.environ["VLLM_BATCH_INVARIANT"] == "1"
    gpu[0] = False
    del os.environ["VLLM_BATCH_INVARIANT"]
    with pytest.raises(EngineUnavailable, match="needs a GPU"):
        _prepare_environment(batch_invariant=True)
    assert "VLLM_BATCH_INVARIANT" not in os.environ
    engine = VllmEngine("m", SamplingConfig(), batch_invariant=True)
    assert engine.info()["batch_invariant"] is True
