"""vlmrate: make a vision-language model rate images the way people rated them.

The packages follow a rating from the image to the workbook; each imports only the
packages before it in this list (the top-level modules ``errors``, ``versions``,
``redact`` and ``safe_text`` are shared by all, ``cli`` dispatches to ``commands``):

1. ``inputs``    — what comes in: the dataset folder, its images, the human sheet, the
                   study (prompt set, scale, repeats, sampling), the demo's synthetic data.
2. ``engines``   — how a model answers: vLLM in-process or OpenAI-compatible servers, what
                   is known of a model without loading it, the tiny test model.
3. ``runfolder`` — the run folder on disk: the run's settings, manifest.json,
                   ratings.jsonl, human.parquet, review.json, merge and import of runs.
4. ``running``   — running a study: plan the (image, aspect, repeat) jobs, stream them
                   through an engine, parse each answer, append it to the run folder,
                   report progress; watch a run of another process.
5. ``preflight`` — ``vlmrate check``: will the model fit, how many tokens, how long.
6. ``stats``     — every statistic, plain functions over the run's Polars frames.
7. ``export``    — the workbook (xlsx) and CSV / Parquet of a run or a comparison.
8. ``figures``   — publication figures (matplotlib, imported only when drawing).
9. ``report``    — one self-contained HTML report with the figures inline.
10. ``tui``      — the terminal UI: runs, jobs, results, cases, stats, compare.
11. ``commands`` — one module per ``vlmrate`` sub-command.

docs/design.md describes the data flow, the run-folder contract and the screens.
"""

__version__ = "0.1.0"
