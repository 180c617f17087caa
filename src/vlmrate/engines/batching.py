"""The batch sizes vlmrate gives vLLM's engine, shared by the engine and `vlmrate check`.

``LLMEngine.from_engine_args`` runs with ``UsageContext.ENGINE_CONTEXT``, which gets none of
the hardware defaults vLLM's ``LLM`` class gets (vLLM 0.32 ``EngineArgs._set_default_args``:
``max_num_seqs`` 128 and ``max_num_batched_tokens`` 2,048 there, 1,024 and 16,384 for
``LLM_CLASS`` on an H100). At 2,048 tokens a step every LLaVA-NeXT image prefill (~2,460
tokens for an 800x600 image) is split over two steps, and at 128 sequences half of the
Runner's 256 answers in flight wait. So the engine is told:

- ``max_num_seqs`` = the Runner's window (``max_in_flight``): every answer it sends runs;
- ``max_num_batched_tokens`` = :data:`STEP_CONTEXTS` x the context length (16,384 at
  llava-v1.6-vicuna-13b's 4,096): several whole image prefills per step. On vLLM's CPU
  build this budget also sizes the encoder cache, which must hold more than one image.
"""

from __future__ import annotations

__all__ = ["STEP_CONTEXTS", "engine_batch_sizes"]

#: Whole contexts (prompt + answer at max_model_len) one engine step may prefill.
STEP_CONTEXTS = 4


def engine_batch_sizes(max_in_flight: int, context: int | None) -> dict[str, int]:
    """``max_num_seqs`` and (when the context length is known) ``max_num_batched_tokens``."""
    if max_in_flight < 1:
        raise ValueError("max_in_flight must be at least 1")
    sizes = {"max_num_seqs": int(max_in_flight)}
    if context:
        sizes["max_num_batched_tokens"] = STEP_CONTEXTS * int(context)
    return sizes
