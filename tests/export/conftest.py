"""A small run folder written record by record, and a fake of the statistics' output.

The fake has the shape of `vlmrate stats --json` (DESIGN.md, "Statistics"); its numbers
are arbitrary where computing them would mean re-implementing the statistics. The
exporter only lays numbers out, so the tests check that each number lands where it
belongs, unchanged.
"""

from __future__ import annotations

import random
from pathlib import Path

import polars as pl
import pytest

from vlmrate.runfolder.store import (
    LoadedRun,
    RatingsWriter,
    load_run,
    repeat_seed,
    save_review,
    write_human,
    write_manifest,
)

ASPECTS = ["relevance", "arousal", "valence"]
N_IMAGES = 12
REPEATS = 4
NASTY = ['=HYPERLINK("http://x","y")', "+1", "-2", "@x", "=1+1", "  padded  ",
         "a & <b> \"q\"", "bell\x07char", "_x0041_ literal", "http://example.com/a"]


def make_run(root: Path, name: str = "demo", n_images: int = N_IMAGES,
             repeats: int = REPEATS, seed: int = 1) -> Path:
    rng = random.Random(seed)
    run_dir = root / name
    run_dir.mkdir(parents=True)
    nasty = iter(NASTY)
    records = []
    for i in range(1, n_images + 1):
        image_id = f"img{i:03d}"
        for aspect in ASPECTS:
            for repeat in range(1, repeats + 1):
                rating: int | None = rng.randint(1, 9)
                special = next(nasty, None)
                reason = special or f"reason {image_id} {aspect} {repeat}"
                raw = special or f"Rating: {rating}. Reason: {reason}"
                parse_error = engine_error = None
                if special:
                    pass
                elif rng.random() < 0.05:
                    rating, reason, parse_error, raw = None, None, "no_rating", "-oops " + raw
                elif rng.random() < 0.02:
                    rating, reason, engine_error, raw = None, None, "timeout", ""
                records.append({
                    "image_id": image_id, "aspect": aspect, "repeat": repeat,
                    "seed": repeat_seed(0, image_id, aspect, repeat), "rating": rating,
                    "reason": reason, "raw": raw, "parse_error": parse_error,
                    "finish_reason": "stop", "prompt_tokens": 600 + i,
                    "output_tokens": 20 + repeat, "latency_s": 0.25 + i / 100,
                    "expected_rating": None if rating is None else rating + 0.125,
                    "rating_probs": None, "engine_error": engine_error, "time": "t"})
    rng.shuffle(records)  # completion order, as a real run writes them
    with RatingsWriter(run_dir) as writer:
        writer.append_many(records)
    human_rows = [{"image_id": f"img{i:03d}", "aspect": a, "human_mean": round(
        rng.uniform(1, 9), 2), "human_sd": 1.5, "human_n": 30}
        for i in range(1, n_images + 1) for a in ASPECTS]
    write_human(run_dir, pl.DataFrame(human_rows))
    write_manifest(run_dir, {
        "name": name, "status": "done",
        "study": {"name": "reference", "scale": {"min": 1, "max": 9},
                  "aspects": [{"name": a, "prompt": f"=Rate {a} of this image from 1 to 9.",
                               "sha256": f"{i:064x}"} for i, a in enumerate(ASPECTS)]},
        "model": "tiny/llava", "engine": {"name": "vllm", "dtype": "auto",
                                          "tensor_parallel_size": 1},
        "sampling": {"temperature": 0.3, "top_p": 1.0, "max_tokens": 64, "seed": 0,
                     "repeats": repeats},
        "dataset": {"path": "data/synthetic", "fingerprint": "abc123", "n_images": n_images},
        "human": {"path": "data/synthetic/human.csv", "column_map": {"relevance": "Rel"},
                  "warnings": []},
        "versions": {"vlmrate": "0.1.0"}, "created": "2026-01-01T00:00:00+00:00",
        "total_jobs": n_images * len(ASPECTS) * repeats,
    })
    save_review(run_dir, "img003", "arousal", flagged=True,
                note='=HYPERLINK("http://x","y")')
    save_review(run_dir, "img005", "valence", note="odd: sees a forest fire")
    return run_dir


def fake_per_image(ratings: pl.DataFrame, human: pl.DataFrame,
                   aspects: list[str]) -> pl.DataFrame:
    """Same columns as vlmrate.stats.per_image: <a>_mean, _sd, _n, _human, _d."""
    stats = (ratings.filter(pl.col("rating").is_not_null())
             .group_by("image_id", "aspect")
             .agg(pl.col("rating").mean().alias("mean"), pl.col("rating").std().alias("sd"),
                  pl.len().alias("n"))
             .join(human.select("image_id", "aspect", pl.col("human_mean").alias("human")),
                   on=["image_id", "aspect"], how="left")
             .with_columns((pl.col("mean") - pl.col("human")).alias("d")))
    out = ratings.select("image_id").unique().sort("image_id")
    for aspect in aspects:
        part = stats.filter(aspect=aspect).select(
            "image_id", *[pl.col(c).alias(f"{aspect}_{c}")
                          for c in ("mean", "sd", "n", "human", "d")])
        out = out.join(part, on="image_id", how="left")
    return out


def fake_stats(aspects: list[str], k: int, n_images: int, run: str = "demo") -> dict:
    """The `stats --json` shape with distinct numbers, a tiny p, a null and booleans."""
    rng = random.Random(7)

    def num() -> float:
        return round(rng.uniform(-1, 1), 6)

    def icc() -> dict:
        return {"value": num(), "F": abs(num()) * 10, "df1": n_images - 1,
                "df2": n_images * (k - 1), "p": 3.2e-12, "ci": [num(), num()]}

    per = {}
    for i, aspect in enumerate(aspects):
        per[aspect] = {
            "n_images": n_images,
            "stability": {"sd_mean": num(), "sd_median": num()},
            "icc": {"ICC1": icc(), "ICC1k": icc(), "icc_reference": num()},
            "wilcoxon": {"w_plus": 40.5 + i, "w_minus": 37.5, "p_greater": 0.4321,
                         "p_less": 0.5679, "p_two_sided": 0.8642},
            "tost": {"bound": 0.5, "mean_diff": num(), "sd_diff": abs(num()),
                     "t_lower": num(), "p_lower": 0.01, "t_upper": num(), "p_upper": 2e-9,
                     "p": 0.01, "equivalent": i % 2 == 0},
            "tost_wilcoxon": {"p_lower": 0.02, "p_upper": 0.03, "p": 0.03,
                              "equivalent": i % 2 == 1},
            "errors_by_k": [{"k": j, "n": n_images, "mae": 2 - j / 10, "mse": 5 - j / 5,
                             "r": 0.1 * j, "mae_subsets": 2.05 - j / 10,
                             "mae_subsets_ci": [1.9 - j / 10, 2.2 - j / 10]}
                            for j in range(1, k + 1)],
            "pearson_vs_human": {"r": num(), "p": 1e-30 if i == 0 else None},
            "agreement": {"icc_a1": num(), "icc_c1": num(), "ba_bias": num(),
                          "ba_lower": -2.5, "ba_upper": 2.25, "mae_ci": [1.5, 2.5],
                          "r_ci": [None, 0.5]},
            "parse_failures": 3 + i, "engine_errors": i,
        }
    between = {f"{a}~{b}": {"r": num(), "p": 0.001}
               for n, a in enumerate(aspects) for b in aspects[n + 1:]}
    cross = {str(j): {m: {h: num() for h in aspects} for m in aspects} for j in range(1, k + 1)}
    return {"run": run, "n_images": n_images, "bound": 0.5, "alpha": 0.05, "aspects": per,
            "between_aspects": between, "cross_by_k": cross}


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return make_run(tmp_path / "runs")


@pytest.fixture
def loaded(run_dir: Path) -> LoadedRun:
    return load_run(run_dir)


@pytest.fixture
def stats_json(loaded: LoadedRun) -> dict:
    return fake_stats(loaded.aspects, REPEATS, N_IMAGES)


@pytest.fixture
def per_image(loaded: LoadedRun) -> pl.DataFrame:
    return fake_per_image(loaded.ratings, loaded.human, loaded.aspects)


def two_comparable_runs(root: Path, n_images: int, repeats: int, other_seed: int) -> Path:
    """runs/demo and runs/other: two runs of one study (the same human sheet), with real
    record times (make_run writes a placeholder that compare reads). Returns demo's folder."""
    import re
    import shutil

    demo = make_run(root, "demo", n_images=n_images, repeats=repeats)
    make_run(root, "other", n_images=n_images, repeats=repeats, seed=other_seed)
    shutil.copy(root / "demo" / "human.parquet", root / "other" / "human.parquet")
    for name in ("demo", "other"):
        path = root / name / "ratings.jsonl"
        path.write_text(re.sub(r'"time": ?"t"', '"time": "2026-01-01T00:00:00+00:00"',
                               path.read_text()))
    return demo

