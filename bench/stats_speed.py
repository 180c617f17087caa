"""Time vlmrate.stats.analyse on a synthetic study (not a test; run by hand).

    PYTHONPATH=src python bench/stats_speed.py [N_IMAGES] [REPEATS]

Default: 20,000 images x 3 aspects x 10 repeats, ~1% invalid answers.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import polars as pl

from vlmrate.stats import analyse, render_report, to_json_dict

ASPECTS = ["relevance", "arousal", "valence"]


def synthetic(n_images: int, repeats: int, seed: int = 1) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = np.array([f"img{i:06d}" for i in range(n_images)])
    ratings, human = [], []
    for a in ASPECTS:
        truth = rng.uniform(2, 8, n_images)
        noisy = truth[:, None] + rng.normal(0.3, 1.2, (n_images, repeats))
        r = np.clip(np.rint(noisy), 1, 9).astype(np.int64)
        bad = rng.random((n_images, repeats)) < 0.01
        ratings.append(
            pl.DataFrame(
                {
                    "image_id": np.repeat(ids, repeats),
                    "aspect": a,
                    "repeat": np.tile(np.arange(1, repeats + 1), n_images),
                    "rating": pl.Series(np.where(bad, 0, r).ravel()).replace(0, None),
                    "reason": "synthetic",
                    "raw": None,
                    "parse_error": pl.Series(np.where(bad.ravel(), "no_rating", "")).replace(
                        "", None
                    ),
                    "engine_error": None,
                },
                schema_overrides={"raw": pl.String, "engine_error": pl.String},
            )
        )
        human.append(
            pl.DataFrame(
                {
                    "image_id": ids,
                    "aspect": a,
                    "human_mean": np.clip(truth + rng.normal(0, 0.5, n_images), 1, 9),
                    "human_sd": 1.5,
                    "human_n": 30,
                }
            )
        )
    return pl.concat(ratings), pl.concat(human)


def main() -> None:
    n_images = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    ratings, human = synthetic(n_images, repeats)
    print(f"{ratings.height:,} answers ({n_images:,} images x {len(ASPECTS)} aspects x {repeats})")
    times, cpu = [], []
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        stats = analyse(ratings, human, ASPECTS, run_name="bench")
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    print(f"analyse wall: best {min(times):.2f} s, runs " + ", ".join(f"{t:.2f}" for t in times))
    print("analyse CPU (all threads): " + ", ".join(f"{t:.2f}" for t in cpu))
    t0 = time.perf_counter()
    to_json_dict(stats)
    render_report(stats)
    print(f"to_json_dict + render_report: {time.perf_counter() - t0:.3f} s")


if __name__ == "__main__":
    main()
