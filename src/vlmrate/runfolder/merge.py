"""Join disjoint runs of one study (e.g. the shards of a Slurm array) into one run.

The runs must agree on everything that makes answers comparable: prompts (names and
sha256), model, sampling (temperature, top_p, max_tokens, seed, repeats, structured,
logprobs) and the rating scale. Their (image, aspect, repeat) keys must not overlap: a key
answered twice would make the merged run depend on which answer is kept. Every record is
copied as it is (seeds, server, times); human ratings, flags and notes come along.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from vlmrate.errors import UserError
from vlmrate.inputs.dataset import HUMAN_SCHEMA, normalise_id
from vlmrate.runfolder.importer import check_free, write_new_run
from vlmrate.runfolder.review import read_review_file
from vlmrate.runfolder.settings import run_dir_for
from vlmrate.runfolder.store import (
    MANIFEST,
    RATINGS,
    is_locked,
    load_manifest,
    now_iso,
    read_human,
    read_ratings_counted,
    resolve_run,
)
from vlmrate.versions import package_versions

KEY = ["image_id", "aspect", "repeat"]


def study_settings(manifest: dict) -> dict:
    """What must be equal for two runs to be parts of one study."""
    study = manifest.get("study") or {}
    return {
        "prompts": [(a.get("name"), a.get("sha256")) for a in study.get("aspects") or []],
        "scale": study.get("scale"),
        "model": manifest.get("model"),
        "sampling": manifest.get("sampling"),
    }


def merge_runs(runs: list[str | Path], run_name: str, runs_dir: Path = Path("runs"),
               problems: list[str] | None = None) -> Path:
    """Write runs_dir/run_name from the given runs; UserError (nothing written) when they
    differ in settings, share a key, or one is still running. What the readers set aside
    (lines that are no record, an unreadable human.parquet) goes to ``problems``."""
    if len(runs) < 2:
        raise UserError("merge needs two runs or more")
    target = run_dir_for(runs_dir, run_name)  # the run-name rule: a folder inside runs_dir
    check_free(target)
    run_dirs = [resolve_run(r, runs_dir) for r in runs]
    if len({d.resolve() for d in run_dirs}) != len(run_dirs):
        raise UserError("merge: the same run is given twice")
    if target.resolve() in {d.resolve() for d in run_dirs}:
        raise UserError(f"merge: --run {run_name} is one of the runs to merge")
    manifests = [_checked_manifest(d) for d in run_dirs]
    for run_dir in run_dirs:
        if is_locked(run_dir):
            raise UserError(f"run {run_dir.name} is still running; merge it once it has stopped")
    first = study_settings(manifests[0])
    for run_dir, manifest in zip(run_dirs[1:], manifests[1:], strict=True):
        settings = study_settings(manifest)
        differ = [k for k in first if settings[k] != first[k]]
        if differ:
            raise UserError(f"runs {run_dirs[0].name} and {run_dir.name} differ in "
                            f"{', '.join(differ)}: they are not parts of one study")
    missing = _missing_shards(run_dirs, manifests)
    frames = []
    found: list[str] = []
    for run_dir in run_dirs:
        frame, broken = read_ratings_counted(run_dir)
        frames.append(frame)
        if broken:
            found.append(f"run {run_dir.name}: {RATINGS}: {broken} line"
                         f"{'s' if broken > 1 else ''} that {'are' if broken > 1 else 'is'} "
                         f"not a rating record left out")
    _refuse_overlaps(run_dirs, frames)
    ratings = pl.concat(frames)
    human = _merged_human(run_dirs, set(ratings["image_id"].to_list()), found)
    if problems is not None:
        problems.extend(found)
    reviews: dict[str, dict] = {}
    for run_dir in run_dirs:
        reviews.update(read_review_file(run_dir).cases)
    manifest = {
        **manifests[0],
        "name": run_name,
        "status": "done" if all(m.get("status") == "done" for m in manifests)
        and not missing else "failed",
        "dataset": {
            "path": None,
            "n_images": ratings["image_id"].n_unique(),
            "parts": [m.get("dataset") for m in manifests],
        },
        "total_jobs": _planned_jobs(manifests, missing),
        "merged_from": [{"name": m.get("name", d.name), "path": str(d.resolve()),
                         "status": m.get("status"), "records": f.height}
                        for d, m, f in zip(run_dirs, manifests, frames, strict=True)],
        "versions": package_versions(),
        "created": now_iso(),
    }
    manifest.pop("resumed", None)
    manifest.pop("error", None)
    if missing:  # said in the Runs list and by `vlmrate merge`
        manifest["error"] = (f"incomplete: shard{'s' if len(missing) > 1 else ''} "
                             f"{', '.join(missing)} not merged")
    humans = [m.get("human") for m in manifests]
    if all(isinstance(h, dict) for h in humans):  # a warning of one shard alone is not one
        manifest["human"] = {**humans[0], "warnings": [
            w for w in humans[0].get("warnings") or []
            if all(w in (h.get("warnings") or []) for h in humans[1:])]}
    # a temp folder inside runs_dir, moved in at the end; on an error only what this
    # command made is removed (never the target or anything already there)
    write_new_run(target, ratings, human, manifest, reviews)
    return target


def _missing_shards(run_dirs: list[Path], manifests: list[dict]) -> list[str]:
    """The shards (``K/N``) of the runs' set that are not among them; UserError when the
    runs are shards of different datasets or of different splits. Runs without a shard
    (parts made by hand, e.g. copied folders) are not checked."""
    shards = [(m.get("dataset") or {}).get("shard") for m in manifests]
    if not all(isinstance(s, list) and len(s) == 2 for s in shards):
        return []
    counts = {s[1] for s in shards}
    if len(counts) > 1:
        raise UserError(f"runs {run_dirs[0].name} and others are shards of different splits "
                        f"({', '.join(f'{k}/{n}' for k, n in shards)}): not parts of one "
                        f"study")
    prints = {(m.get("dataset") or {}).get("all_fingerprint") for m in manifests}
    paths = {(m.get("dataset") or {}).get("path") for m in manifests}
    if len(prints) > 1 or (prints == {None} and len(paths) > 1):
        raise UserError(f"runs {', '.join(d.name for d in run_dirs)} are shards of different "
                        f"datasets (other images or another folder): not parts of one study")
    n = counts.pop()
    have = {s[0] for s in shards}
    return [f"{k}/{n}" for k in range(n) if k not in have]


def _planned_jobs(manifests: list[dict], missing: list[str]) -> int:
    """The parts' planned answers; for a shard set with shards missing, the whole set's
    (so that the merged run reads as partial: "partial: 120 of 240 answers")."""
    parts = sum(int(m.get("total_jobs") or 0) for m in manifests)
    every = {(m.get("dataset") or {}).get("n_all_images") for m in manifests}
    first = manifests[0]
    aspects = len((first.get("study") or {}).get("aspects") or [])
    repeats = (first.get("sampling") or {}).get("repeats")
    if not missing or len(every) != 1 or not isinstance(repeats, int):
        return parts
    n_all = every.pop()
    return max(parts, n_all * aspects * repeats) if isinstance(n_all, int) else parts


def _checked_manifest(run_dir: Path) -> dict:
    """The run's manifest; UserError naming the field when one merge relies on has the
    wrong type (stats sets such a field aside; a merged run would inherit the damage)."""
    manifest, problems = load_manifest(run_dir)
    if problems:
        raise UserError(f"run {run_dir.name}: {MANIFEST}: {problems[0]}; merge needs an "
                        f"intact manifest (fix the field or leave this run out)")
    return manifest


def _refuse_overlaps(run_dirs: list[Path], frames: list[pl.DataFrame]) -> None:
    tagged = pl.concat([f.select(KEY).with_columns(pl.lit(d.name).alias("run"))
                        for d, f in zip(run_dirs, frames, strict=True)])
    shared = (tagged.group_by(KEY, maintain_order=True)
              .agg(pl.col("run").unique(maintain_order=True))
              .filter(pl.col("run").list.len() > 1))
    if shared.height:
        row = shared.row(0, named=True)
        example = f"{row['image_id']} {row['aspect']} #{row['repeat']} in {', '.join(row['run'])}"
        raise UserError(f"the runs overlap: {shared.height} (image, aspect, repeat) keys are "
                        f"in more than one run (e.g. {example}); merge joins disjoint runs only")


def _merged_human(run_dirs: list[Path], rated: set[str], problems: list[str]
                  ) -> pl.DataFrame:
    """Every run's human ratings, one row per (image, aspect). A shard keeps the sheet's
    own id for the rows whose image it did not rate (``pic6``) and the image's id for
    those it did (``pic006``): the same image, so the rated id wins."""
    parts = []
    for run_dir in run_dirs:
        found: list[str] = []
        parts.append(read_human(run_dir, found))
        problems += [f"run {run_dir.name}: {p}" for p in found]
    parts = [p for p in parts if p.height]
    if not parts:
        return pl.DataFrame(schema=HUMAN_SCHEMA)
    frame = pl.concat(parts).with_columns(
        pl.col("image_id").map_elements(normalise_id, return_dtype=pl.String).alias("_same"),
        pl.col("image_id").is_in(list(rated)).alias("_rated"),
    )
    return (frame.sort("_rated", descending=True, maintain_order=True)
            .unique(subset=["_same", "aspect"], keep="first", maintain_order=True)
            .drop("_same", "_rated"))
