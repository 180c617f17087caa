"""`vlmrate check` counts the study's system text in every prompt (issue 22), with the
model's tokenizer when the checkpoint is local: here LLaMA's real one."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from vlmrate.preflight.report import CheckRequest, build_report

PROMPTS = Path(__file__).resolve().parents[2] / "prompts"


def test_system_text_is_counted_with_the_real_tokenizer(
        tmp_path: Path, llama_tokenizer_dir: Path, llama_tokenizer: Any) -> None:
    model = llama_tokenizer_dir  # a local llava-hf checkpoint's tokenizer files
    bare = tmp_path / "prompts" / "bare"
    shutil.copytree(PROMPTS / "reference", bare)
    toml = bare / "study.toml"
    toml.write_text("".join(line for line in toml.read_text().splitlines(keepends=True)
                            if not line.startswith("system")))
    with_system = build_report(CheckRequest(model=str(model), prompts="reference",
                                            prompts_dir=PROMPTS, probe_torch=False))
    without = build_report(CheckRequest(model=str(model), prompts=str(bare),
                                        probe_torch=False))
    assert with_system["prompt_text_tokens_source"] == "the model's tokenizer"
    tok = llama_tokenizer
    system = (PROMPTS / "reference" / "study.toml").read_text().split('system = "')[1].split('"')[0]
    for aspect, n in with_system["prompt_text_tokens"].items():
        prompt = (PROMPTS / "reference" / f"{aspect}.txt").read_text(encoding="utf-8")
        assert without["prompt_text_tokens"][aspect] == len(
            tok(prompt, add_special_tokens=False)["input_ids"])
        assert n == len(tok(system + " " + prompt, add_special_tokens=False)["input_ids"])
        assert n >= without["prompt_text_tokens"][aspect] + 30  # the line is 30 tokens
