"""How long `vlmrate export` takes: a demo-size run and a 20,000-image imported run.

    PYTHONPATH=src python bench/export_speed.py [--images 20000] [--repeats 10]

Builds the runs with vlmrate.runfolder.importer.import_run (long CSV with ~150-character reasons)
in a temp folder, then times write_workbook (and, when vlmrate.stats exists, the whole
export_run including the statistics). Until vlmrate.stats lands, the statistics inputs
are the test suite's fakes, so only the writing is timed.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.export.conftest import fake_per_image, fake_stats  # noqa: E402
from vlmrate.export import export_run, write_workbook  # noqa: E402
from vlmrate.runfolder.importer import import_run  # noqa: E402
from vlmrate.runfolder.store import LoadedRun, load_run  # noqa: E402

ASPECTS = ("relevance", "arousal", "valence")
WORDS = ["the", "image", "shows", "a", "flooded", "street", "with", "people", "wading",
         "through", "brown", "water", "while", "smoke", "rises", "from", "factory", "chimney",
         "under", "grey", "sky", "near", "dry", "cracked", "fields"]


def build(folder: Path, name: str, images: int, repeats: int) -> Path:
    rng = random.Random(0)
    ratings, human = folder / f"{name}.csv", folder / f"{name}-human.csv"
    with open(ratings, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image_id", "aspect", "repeat", "rating", "reason"])
        for i in range(images):
            for aspect in ASPECTS:
                for repeat in range(1, repeats + 1):
                    rating = "" if rng.random() < 0.02 else rng.randint(1, 9)
                    reason = " ".join(rng.choices(WORDS, k=25)).capitalize() + "."
                    if rng.random() < 0.001:
                        reason = '=HYPERLINK("http://x","y") ' + reason
                    writer.writerow([f"img{i:06d}", aspect, repeat, rating, reason])
    with open(human, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", *ASPECTS])
        for i in range(images):
            writer.writerow([f"img{i:06d}", *[round(rng.uniform(1, 9), 2) for _ in ASPECTS]])
    return import_run(ratings, human, name, folder / "runs", model="bench")


def measure(run: LoadedRun, images: int, repeats: int) -> None:
    stats, per_image = (fake_stats(run.aspects, repeats, images, run.name),
                        fake_per_image(run.ratings, run.human, run.aspects))
    target = run.path / f"{run.name}.xlsx"
    start, cpu = time.perf_counter(), time.process_time()
    write_workbook(run, stats, per_image, target)
    written, cpu = time.perf_counter() - start, time.process_time() - cpu
    size = target.stat().st_size / 1e6
    print(f"{run.name}: {run.ratings.height:,} answers, {images:,} images: "
          f"write_workbook {written:.2f} s wall ({cpu:.2f} s CPU), {size:.1f} MB")
    start, cpu = time.perf_counter(), time.process_time()
    paths = export_run(run, csv=True, parquet=True)
    print(f"{run.name}: export_run (statistics + workbook + csv + parquet) "
          f"{time.perf_counter() - start:.2f} s wall ({time.process_time() - cpu:.2f} s CPU)"
          f" -> {', '.join(p.name for p in paths)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, images, repeats in (("demo-size", 12, 3),
                                      ("big", args.images, args.repeats)):
            start = time.perf_counter()
            run_dir = build(folder, name, images, repeats)
            built = time.perf_counter() - start
            start = time.perf_counter()
            run = load_run(run_dir)
            print(f"{name}: import {built:.1f} s, load_run {time.perf_counter() - start:.2f} s")
            measure(run, images, repeats)


if __name__ == "__main__":
    main()
