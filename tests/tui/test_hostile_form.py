"""Hostile values typed into the New-run form (issue 23 items 5, 9): each is one line (the
form's notification), never a traceback, and the form refuses what the command line and
study.toml refuse. Pure logic (config_from_form), no app started. Each parametrized case
is one hostile input tried."""

from __future__ import annotations

from pathlib import Path

import pytest

from vlmrate.errors import UserError
from vlmrate.runfolder.settings import RunConfig
from vlmrate.tui.screens.new_run import config_from_form

OPENAI = {"engine": "openai", "base_url": "http://127.0.0.1:8000/v1"}
CASES = [
    ({"temperature": "nan"}, "finite number"),
    ({"temperature": "inf"}, "finite number"),
    ({"temperature": "9"}, "between 0 and 2"),
    ({"top_p": "inf"}, "finite number"),
    ({"top_p": "0"}, "above 0"),
    ({"repeats": "²"}, "whole number"),
    ({"repeats": "0"}, "repeats"),
    ({"max_tokens": "0"}, "max tokens"),
    ({"max_tokens": "²"}, "whole number"),
    ({"limit": "²"}, "whole number"),
    ({"seed": "²"}, "whole number"),
    ({"tensor_parallel_size": "³"}, "whole number"),
    ({"gpu_memory_utilization": "nan"}, "gpu memory utilization"),
    ({**OPENAI, "base_url": "http://[::1/v1"}, "not a valid URL"),
    ({**OPENAI, "base_url": "http://127.0.0.1:99999/v1"}, "not a valid URL"),
    ({**OPENAI, "base_url": "http://"}, "names no host"),
    ({**OPENAI, "base_url": "http://h:1/v1 http://h:1/v1/"}, "given twice"),
    ({"base_url": "http://h:1/v1"}, "is for the openai engine"),
    ({"run_name": "../x"}, "run name"),
    ({"run_name": "\x1b]0;x\x07"}, "run name"),
]


@pytest.mark.parametrize(("change", "said"), CASES)
def test_the_form_refuses_in_one_line(tmp_path: Path, change: dict, said: str) -> None:
    defaults = RunConfig(dataset=Path(), runs_dir=tmp_path / "runs")
    with pytest.raises(UserError) as caught:
        config_from_form({"dataset": str(tmp_path), "engine": "vllm", **change}, defaults)
    message = str(caught.value)
    assert said in message and "\n" not in message, message
