"""``vlmrate check``: what a study will need before a model is loaded.

hardware.py finds the GPUs and the installed vLLM; projection.py does the arithmetic
(image tokens, KV-cache memory, projected time); report.py puts it together for a dataset
and a model (the CLI and the New-run form show it).
Imports ``inputs``, ``engines`` and ``runfolder``.
"""
