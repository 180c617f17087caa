"""vlmrate.runfolder.settings: the run-name rule (every command, export file names), RunConfig's
checks, and the manifest round trip that resuming relies on."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from tests.export.conftest import make_run
from tests.helpers import PROMPTS, ScriptedEngine, make_dataset, runner_for
from tests.runfolder.test_import import write_human, write_long
from vlmrate.cli import main
from vlmrate.errors import UserError
from vlmrate.runfolder.settings import (
    RUN_NAME_MAX,
    RunConfig,
    check_run_name,
    default_run_name,
    is_run_name,
    run_dir_for,
)
from vlmrate.runfolder.store import load_run, read_manifest
from vlmrate.running.runner import Runner

VALID_TODAY = ["demo", "a-b_c.1", "Run.2026-01-01", ".hidden", "...", "x" * RUN_NAME_MAX,
               "Bäume_über", "répétitions"]
INVALID = ["", ".", "..", "a/b", "../x", "a b", "a\nb", "x" * (RUN_NAME_MAX + 1), "x" * 300,
           "a\\b", "run:1", "日" * 70]  # the last: 210 bytes in UTF-8


@pytest.mark.parametrize("name", VALID_TODAY)
def test_names_valid_today_stay_valid(name: str, tmp_path: Path) -> None:
    assert is_run_name(name)
    assert run_dir_for(tmp_path / "runs", name) == tmp_path / "runs" / name


@pytest.mark.parametrize("name", INVALID)
def test_names_that_are_not_one_folder_are_refused(name: str, tmp_path: Path) -> None:
    assert not is_run_name(name)
    with pytest.raises(UserError) as caught:
        run_dir_for(tmp_path / "runs", name)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 160


def test_the_error_says_why() -> None:
    for name, why in [("..", "not '.' or '..'"), (".", "not '.' or '..'"),
                      ("x" * 300, "too long (300 characters, at most 100)"),
                      ("a/b", "use letters, digits")]:
        with pytest.raises(UserError, match=why.replace("(", r"\(").replace(")", r"\)")):
            check_run_name(name)


def test_default_run_name_follows_the_rule(tmp_path: Path) -> None:
    plain = tmp_path / "climate"
    name = default_run_name(plain, "llava-hf/llava-v1.6-vicuna-13b-hf", when=0)
    assert name.startswith("climate-llava-v1.6-vicuna-13b-hf-19") and is_run_name(name)
    for dataset, model in [(tmp_path / "my data (2)", "org/model name"),
                           (tmp_path / ("d" * 200), "m" * 300),
                           (tmp_path / "d", "/")]:
        name = default_run_name(dataset, model)
        assert is_run_name(name), name
    long = default_run_name(tmp_path / ("d" * 200), "m" * 300, when=0)
    assert len(long) == RUN_NAME_MAX and "d-m" in long  # both parts kept, and the date


# --- the CLI: exit 2, one line, nothing written --------------------------------------------

def _cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


@pytest.mark.parametrize("name", ["..", ".", "x" * 300, "a/../../b"])
def test_run_refuses_bad_names(name: str, tmp_path: Path, capsys: pytest.CaptureFixture
                               ) -> None:
    make_dataset(tmp_path)
    runs = tmp_path / "area" / "runs"
    runs.mkdir(parents=True)
    code, err = _cli(capsys, "run", str(tmp_path / "data"), "--run", name,
                     "--runs-dir", str(runs), "--engine", "openai",
                     "--base-url", "http://127.0.0.1:9/v1")
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("vlmrate: error: run name")
    assert sorted(p.name for p in (tmp_path / "area").iterdir()) == ["runs"]
    assert list(runs.iterdir()) == []


@pytest.mark.parametrize("name", ["..", ".", "x" * 300])
def test_import_refuses_bad_names(name: str, tmp_path: Path, capsys: pytest.CaptureFixture
                                  ) -> None:
    write_long(tmp_path / "long.csv", n_images=5)
    write_human(tmp_path / "human.csv", n_images=5)
    runs = tmp_path / "area" / "runs"
    runs.mkdir(parents=True)
    (tmp_path / "area" / "keep.txt").write_text("mine")
    code, err = _cli(capsys, "import", str(tmp_path / "long.csv"), "--human",
                     str(tmp_path / "human.csv"), "--run", name, "--runs-dir", str(runs))
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("vlmrate: error: run name")
    assert sorted(p.name for p in (tmp_path / "area").iterdir()) == ["keep.txt", "runs"]
    assert list(runs.iterdir()) == []


def test_stats_with_an_overlong_name_is_one_line(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    code, err = _cli(capsys, "stats", "x" * 300, "--runs-dir", str(tmp_path))
    assert code == 2 and err.count("\n") == 1 and "not found" in err and len(err) < 400


def test_export_names_files_by_the_folder_when_the_manifest_name_escapes(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run_dir = make_run(tmp_path / "runs", "good")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    (run_dir / "manifest.json").write_text(json.dumps({**manifest, "name": "../../escape"}))
    assert load_run(run_dir).name == "good"
    assert main(["export", str(run_dir), "--csv"]) == 0
    assert (run_dir / "good.xlsx").is_file() and (run_dir / "good.ratings.csv").is_file()
    assert not list(tmp_path.rglob("escape*"))
    assert capsys.readouterr().out.split()[0] == str(run_dir / "good.xlsx")


# --- RunConfig.validate -----------------------------------------------------------------------

@pytest.mark.parametrize(("change", "message"), [
    ({"engine": "tgi"}, "unknown engine 'tgi' (use vllm or openai)"),
    ({"engine": "openai"}, "needs a base URL"),
    ({"engine": "openai", "base_url": "localhost:8000/v1"}, "must start with http://"),
    ({"repeats": 0}, "repeats 0"), ({"max_tokens": 0}, "max tokens 0"),
    ({"limit": -1}, "limit -1"), ({"temperature": -1.0}, "between 0 and 2"),
    ({"temperature": float("nan")}, "must be a finite number"), ({"top_p": 0.0}, "top-p"),
    ({"engine_options": {"concurrency": 0}}, "concurrency 0"),
    ({"engine_options": {"gpu_memory_utilization": 1.5}}, "gpu memory utilization"),
    ({"run_name": ".."}, "not '.' or '..'"), ({"model": " "}, "model"),
])
def test_validate_names_the_problem(change: dict, message: str, tmp_path: Path) -> None:
    config = RunConfig(dataset=tmp_path, **change)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        config.validate()


def test_validate_accepts_the_defaults_and_a_full_openai_config(tmp_path: Path) -> None:
    RunConfig(dataset=tmp_path).validate()
    RunConfig(dataset=tmp_path, engine="openai", base_url="https://h:8000/v1", repeats=3,
              temperature=2.0, top_p=1.0, max_tokens=1, limit=1, run_name="a",
              engine_options={"concurrency": 1}).validate()


def test_cli_checks_options_before_anything_is_written(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    make_dataset(tmp_path)
    code, err = _cli(capsys, "run", str(tmp_path / "data"), "--run", "r", "--repeats", "0",
                     "--runs-dir", str(tmp_path / "runs"))
    # checked when the options are read (issue 17 item 9), before RunConfig.validate
    assert code == 2 and err == ("vlmrate: error: run: argument --repeats: 0 must be a whole "
                                 "number from 1 to 1000 (see vlmrate run --help)\n")
    assert not (tmp_path / "runs").exists()


# --- the manifest round trip -----------------------------------------------------------------

def test_from_manifest_gives_back_the_settings_that_resume(tmp_path: Path) -> None:
    make_dataset(tmp_path)
    runner = runner_for(tmp_path, ScriptedEngine(), seed=5, max_tokens=64, top_p=0.9,
                        temperature=0.7, structured=True, limit=2, id_column="image",
                        engine_options={"max_model_len": 2048, "api_key_env": "K"})
    asyncio.run(runner.run())
    manifest = read_manifest(tmp_path / "runs" / "r")
    back = RunConfig.from_manifest(manifest, runs_dir=tmp_path / "runs", prompts_dir=PROMPTS)
    original = runner.config
    same = {f.name for f in fields(RunConfig)} - {"dataset", "human", "prompts",
                                                  "engine_options"}
    assert {k: getattr(back, k) for k in same} == {k: getattr(original, k) for k in same}
    assert back.dataset == original.dataset.resolve()
    assert back.human == (tmp_path / "data" / "human.csv").resolve()
    assert back.engine_options == {"max_model_len": 2048}  # no option naming a key
    assert back.limit == 2  # the selection is the run's (issue 23 item 6)
    # and it resumes: the same prompts, model and sampling, so prepare accepts it
    engine = ScriptedEngine()
    resumed = Runner(back, engine_factory=lambda c, s, log: engine)
    final = asyncio.run(resumed.run())
    assert final.status == "done" and final.done == final.total == 2 * 3 * 2
    assert engine.order == []  # the same two images: nothing left to rate


def test_to_manifest_holds_what_prepare_wrote(tmp_path: Path) -> None:
    make_dataset(tmp_path)
    runner = runner_for(tmp_path, ScriptedEngine(), seed=3)
    runner.prepare()
    assert runner.run_dir is not None and runner.sampling is not None
    manifest = read_manifest(runner.run_dir)
    part = runner.config.to_manifest(runner.sampling, runner.repeats)
    assert {k: manifest[k] for k in part} == part
    assert list(manifest)[:6] == ["name", "status", "study", "model", "engine", "sampling"]


@pytest.mark.parametrize("manifest", [
    {"name": "r", "status": "imported", "dataset": {"path": None}},
    {"name": "r", "status": "done", "dataset": None},
    [],
])
def test_from_manifest_refuses_what_cannot_resume(manifest: object) -> None:
    with pytest.raises(UserError):
        RunConfig.from_manifest(manifest)  # type: ignore[arg-type]


def test_from_manifest_survives_odd_shapes(tmp_path: Path) -> None:
    config = RunConfig.from_manifest(
        {"name": "../../x", "dataset": {"path": "/d"}, "study": None, "engine": "vllm",
         "sampling": {"repeats": "ten", "temperature": True, "seed": 2.5, "max_tokens": 64.0},
         "human": {"path": 5, "column_map": []}, "model": None},
        run_dir=tmp_path / "runs" / "folder")
    assert config.run_name == "folder" and config.dataset == Path("/d")
    assert config.prompts == "reference" and config.engine == "vllm"
    assert config.repeats is None and config.temperature is None and config.seed == 0
    assert config.max_tokens == 64 and config.human is None and config.id_column is None


def test_settings_import_nothing_heavy() -> None:
    code = ("import sys, vlmrate.runfolder.settings, vlmrate.running.progress, vlmrate.cli; "
            "print(sorted(m for m in ('polars', 'torch', 'vllm', 'textual', 'PIL') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_from_manifest_finds_the_prompt_set_from_another_folder(tmp_path: Path) -> None:
    """The recorded path is relative to where the run started; when it is not there, the
    set's name is used (resume still compares the prompt texts)."""
    base = {"name": "r", "dataset": {"path": str(tmp_path)}}
    moved = RunConfig.from_manifest({**base, "study": {"name": "mine", "path": "no/such/set"}})
    assert moved.prompts == "mine"
    here = RunConfig.from_manifest(
        {**base, "study": {"name": "x", "path": str(PROMPTS / "reference")}})
    assert here.prompts == str(PROMPTS / "reference")


def test_several_servers_go_into_the_manifest_and_come_back(tmp_path: Path) -> None:
    from vlmrate.engines.base import SamplingConfig

    urls = ["http://user:secret@gpu1:8000/v1", "http://gpu2:8000/v1"]
    config = RunConfig(dataset=tmp_path, engine="openai", base_url=urls)
    config.validate()
    manifest = {"name": "r", "dataset": {"path": str(tmp_path)},
                **config.to_manifest(SamplingConfig(), 2)}
    assert manifest["engine"]["base_urls"] == ["http://gpu1:8000/v1", "http://gpu2:8000/v1"]
    assert manifest["engine"]["base_url"] == "http://gpu1:8000/v1"
    assert "secret" not in json.dumps(manifest)
    back = RunConfig.from_manifest(manifest)
    assert back.base_urls == ["http://gpu1:8000/v1", "http://gpu2:8000/v1"]
    one = RunConfig.from_manifest({**manifest, "engine": {"name": "openai",
                                                          "base_url": "http://h:1/v1"}})
    assert one.base_url == "http://h:1/v1"  # a manifest from before several servers
