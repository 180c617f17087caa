"""The structured-output regex compiled by xgrammar (vLLM 0.32's backend, set up as vLLM's
XgrammarBackend does: TokenizerInfo.from_huggingface) against LLaMA's real tokenizer: the
token the model naturally starts with ("▁R") is allowed, and the five answers
llava-v1.6-vicuna-13b gave in the reference study, tokenised as the model writes them,
pass the grammar token by token and may end there."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import LazyModule
from vlmrate.engines.base import SamplingConfig, structured_regex

xgr = LazyModule("xgrammar", skip_missing=True)

EXAMPLE_ANSWERS = Path(__file__).resolve().parents[1] / "fixtures" / "data" / "example_answers.jsonl"
VOCAB = 32002  # LLaMA's 32,000 + <image> + <pad>: the model's vocab_size


@pytest.fixture(scope="module")
def tokenizer(llama_tokenizer):  # type: ignore[no-untyped-def]
    return llama_tokenizer


@pytest.fixture(scope="module")
def compiler(tokenizer):  # type: ignore[no-untyped-def]
    info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=VOCAB)
    return xgr.GrammarCompiler(info, max_threads=1)


def _allowed(matcher, tokenizer) -> set[str]:  # type: ignore[no-untyped-def]
    bitmask = xgr.allocate_token_bitmask(1, VOCAB)
    matcher.fill_next_token_bitmask(bitmask)
    words = bitmask[0].tolist()
    ids = [i for i in range(VOCAB) if (words[i // 32] >> (i % 32)) & 1]
    return set(tokenizer.convert_ids_to_tokens(ids))


def _answers() -> list[str]:
    return [json.loads(line)["answer"] for line in EXAMPLE_ANSWERS.read_text().splitlines()]


@pytest.mark.parametrize("rating_only", [False, True])
def test_first_step_allows_the_models_own_first_token(compiler, tokenizer,
                                                      rating_only: bool) -> None:
    grammar = compiler.compile_regex(
        structured_regex(SamplingConfig(structured=True, rating_only=rating_only)))
    first = _allowed(xgr.GrammarMatcher(grammar), tokenizer)
    assert "\u2581R" in first  # " R": what follows "ASSISTANT:" in LLaMA's pieces
    assert "\u2581Rating" not in tokenizer.get_vocab() or "\u2581Rating" in first
    assert "R" in first
    assert "\u2581The" not in first


def test_published_answers_pass_the_grammar_token_by_token(compiler, tokenizer) -> None:
    answers = _answers()
    assert len(answers) == 5 and [len(a) for a in answers] == [378, 604, 298, 249, 290]
    cfg = SamplingConfig(structured=True)
    grammar = compiler.compile_regex(structured_regex(cfg))
    for answer in answers:
        # as the model writes it after "ASSISTANT:": "▁Rating" ... (the leading metaspace)
        ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
        assert tokenizer.convert_ids_to_tokens(ids[:1]) == ["\u2581R"]
        assert len(ids) + 1 <= cfg.max_tokens  # + </s>: room at the default max_tokens
        matcher = xgr.GrammarMatcher(grammar)
        for i, token_id in enumerate(ids):
            assert matcher.accept_token(token_id), (answer[:30], i, tokenizer.decode(ids[: i + 1]))
        assert matcher.accept_token(tokenizer.eos_token_id)  # the answer may end here
        assert matcher.is_terminated()


def test_digit_follows_the_metaspace_under_the_grammar(compiler, tokenizer) -> None:
    """After "▁R" "ating" ":" the grammar lets the model write "▁" then the digit token, the
    position rating_probs are read at."""
    grammar = compiler.compile_regex(structured_regex(SamplingConfig(structured=True)))
    matcher = xgr.GrammarMatcher(grammar)
    for piece in ("\u2581R", "ating", ":"):
        assert matcher.accept_token(tokenizer.convert_tokens_to_ids(piece))
    assert "\u2581" in _allowed(matcher, tokenizer)
    assert matcher.accept_token(tokenizer.convert_tokens_to_ids("\u2581"))
    digits = {d for d in _allowed(matcher, tokenizer) if d.isdigit()}
    assert digits == set("123456789")
