"""The study's system text (issue 22): `system = ...` in study.toml, LLaVA's llava_v1 line in
the reference set, carried by every request, recorded in the manifest, a changed one refused
on resume; and how the openai engine sends it."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from tests.helpers import PROMPTS, ScriptedEngine, make_dataset, runner_for
from vlmrate.errors import UserError
from vlmrate.inputs.study import load_study
from vlmrate.runfolder.store import read_manifest

# haotian-liu/LLaVA llava/conversation.py, conv_llava_v1.system
LLAVA_V1 = ("A chat between a curious human and an artificial intelligence assistant. "
            "The assistant gives helpful, detailed, and polite answers to the human's questions.")


def _prompt_set(tmp_path: Path, system_line: str | None) -> Path:
    folder = tmp_path / "prompts" / "mine"
    shutil.copytree(PROMPTS / "reference", folder, dirs_exist_ok=True)
    toml = folder / "study.toml"
    lines = [line for line in toml.read_text().splitlines() if not line.startswith("system")]
    if system_line is not None:
        lines.insert(1, system_line)
    toml.write_text("\n".join(lines) + "\n")
    return folder


def test_reference_sets_send_llavas_system_line() -> None:
    assert load_study("reference", PROMPTS).system == LLAVA_V1
    assert load_study("reference-reversed", PROMPTS).system == LLAVA_V1


@pytest.mark.parametrize(("line", "expected"), [
    (None, None), ('system = ""', None), ('system = "  Be brief.  "', "Be brief."),
])
def test_system_is_optional(tmp_path: Path, line: str | None, expected: str | None) -> None:
    assert load_study(str(_prompt_set(tmp_path, line))).system == expected


@pytest.mark.parametrize("line", ['system = 3', 'system = "two\\nlines"', 'system = "a\\u001bb"'])
def test_bad_system_is_one_line_error(tmp_path: Path, line: str) -> None:
    with pytest.raises(UserError, match="system must be") as caught:
        load_study(str(_prompt_set(tmp_path, line)))
    assert "\n" not in str(caught.value)


class _Seen(ScriptedEngine):
    def __init__(self) -> None:
        super().__init__()
        self.systems: set[str | None] = set()

    async def rate(self, requests):  # type: ignore[no-untyped-def,override]
        async def spy():  # type: ignore[no-untyped-def]
            async for request in requests:
                self.systems.add(request.system)
                yield request
        async for result in super().rate(spy()):
            yield result

    def rendered_prompts(self, prompts: dict[str, str], system: str | None) -> dict:
        return {a: {"text": f"{system} USER: <image>\n{p} ASSISTANT:", "tokens": 7}
                for a, p in prompts.items()}


def test_requests_carry_it_and_the_manifest_records_it(tmp_path: Path) -> None:
    make_dataset(tmp_path, 2)
    engine = _Seen()
    final = asyncio.run(runner_for(tmp_path, engine, prompts="reference").run())
    assert final.status == "done"
    assert engine.systems == {LLAVA_V1}
    manifest = read_manifest(tmp_path / "runs/r")
    assert manifest["study"]["system"] == LLAVA_V1
    assert manifest["engine_info"] == {"name": "scripted"}
    shown = manifest["rendered_prompts"]
    assert set(shown) == {"relevance", "arousal", "valence"}
    assert shown["valence"]["text"].startswith(LLAVA_V1 + " USER: <image>\n")


def test_changed_system_text_is_a_changed_setting_for_resume(tmp_path: Path) -> None:
    make_dataset(tmp_path, 2)
    folder = _prompt_set(tmp_path, 'system = "Be brief."')
    asyncio.run(runner_for(tmp_path, ScriptedEngine(), prompts=str(folder), limit=1).run())
    _prompt_set(tmp_path, 'system = "Be verbose."')
    with pytest.raises(UserError, match=r"system text: was 'Be brief\.', now 'Be verbose\.'"):
        runner_for(tmp_path, ScriptedEngine(), prompts=str(folder), limit=1).prepare()
    _prompt_set(tmp_path, None)
    with pytest.raises(UserError, match=r"system text: was 'Be brief\.', now null"):
        runner_for(tmp_path, ScriptedEngine(), prompts=str(folder), limit=1).prepare()
    _prompt_set(tmp_path, 'system = "Be brief."')  # the same again: resumes
    final = asyncio.run(runner_for(tmp_path, ScriptedEngine(), prompts=str(folder), limit=1).run())
    assert final.status == "done"
