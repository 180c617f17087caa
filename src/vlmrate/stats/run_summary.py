"""The one-screen summary of a run: images, aspects, repeats, missing, human matches."""

from __future__ import annotations

import polars as pl
from rich.console import Group
from rich.table import Table
from rich.text import Text

from vlmrate.runfolder.parse_health import unparsed_warning
from vlmrate.runfolder.store import LoadedRun
from vlmrate.stats.frames import error_counts


def run_counts(run: LoadedRun) -> dict:
    ratings = run.ratings
    model_ids = set(ratings["image_id"].unique().to_list())
    human_ids = set(run.human["image_id"].unique().to_list())
    per_aspect = (
        ratings.group_by("aspect", maintain_order=True)
        .agg(
            pl.len().alias("answers"),
            pl.col("rating").is_not_null().sum().alias("valid"),
            pl.col("rating").mean().alias("mean_rating"),
        )
        .sort(pl.col("aspect").replace_strict(
            {a: i for i, a in enumerate(run.aspects)}, default=len(run.aspects)))
    )
    # parse failures and engine errors as the statistics define them (one definition)
    failures = [error_counts(ratings, aspect) for aspect in per_aspect["aspect"]]
    per_aspect = per_aspect.with_columns(
        pl.Series("parse_failures", [f[0] for f in failures], dtype=pl.Int64),
        pl.Series("engine_errors", [f[1] for f in failures], dtype=pl.Int64),
    )
    return {
        "images": len(model_ids),
        "aspects": run.aspects,
        "repeats": int(ratings["repeat"].max() or 0),
        "answers": ratings.height,
        "valid": int(ratings["rating"].is_not_null().sum()),
        "human_rows": len(human_ids),
        "matched": len(model_ids & human_ids),
        "per_aspect": per_aspect,
    }


def partial_note(run: LoadedRun) -> str:
    """"partial: 1,026 of 3,600 answers" for a run with fewer answers than planned."""
    if run.partial is None:
        return ""
    answers, total = run.partial
    return f"partial: {answers:,} of {total:,} answers"


def parse_note(run: LoadedRun) -> str:
    """"294 of 298 answers could not be parsed: <the likely fix>" for a run whose answers
    mostly failed to parse (runfolder.parse_health), else ""."""
    ratings = run.ratings
    if ratings.is_empty() or "parse_error" not in ratings.columns or \
            run.manifest.get("status") == "imported":  # empty cells of a sheet: missing
        return ""
    sampling = run.manifest.get("sampling")
    return unparsed_warning(ratings.height, int(ratings["parse_error"].is_not_null().sum()),
                            sampling if isinstance(sampling, dict) else None)


def render_summary(run: LoadedRun) -> Group:
    counts = run_counts(run)
    head = Text.assemble(
        (f"{run.name}", "bold"), f"  [{run.status}]  model {run.manifest.get('model', '?')}\n",
        f"{counts['images']} images × {len(counts['aspects'])} aspects × up to "
        f"{counts['repeats']} repeats = {counts['answers']} answers, "
        f"{counts['answers'] - counts['valid']} without a rating\n",
        f"human sheet: {counts['human_rows']} images, {counts['matched']} matched to model "
        f"ratings\n" if run.manifest.get("human") or counts["human_rows"] else
        "human sheet: none (statistics against people need one: --human SHEET)\n",
        f"folder: {run.path}",
    )
    table = Table(box=None, header_style="bold")
    for col in ("aspect", "answers", "valid", "parse fail", "engine err", "mean"):
        table.add_column(col, justify="left" if col == "aspect" else "right")
    for row in counts["per_aspect"].iter_rows(named=True):
        mean = row["mean_rating"]
        table.add_row(row["aspect"], str(row["answers"]), str(row["valid"]),
                      str(row["parse_failures"]), str(row["engine_errors"]),
                      "—" if mean is None else f"{mean:.2f}")
    warnings = (run.manifest.get("human") or {}).get("warnings") or []  # None: no sheet
    parts: list = [head, table]
    if partial_note(run):
        parts.insert(0, Text(partial_note(run), style="bold yellow"))
    parts += [Text(f"note: {w}", style="yellow") for w in warnings]
    if parse_note(run):
        parts.append(Text(parse_note(run), style="bold yellow"))
    return Group(*parts)
