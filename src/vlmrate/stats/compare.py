"""Several runs side by side on the images they have in common.

A comparison takes two or more runs (different models, prompt sets, sampling, engines,
or imports; a run's logprob expected rating can stand in as a run of its own, see
:func:`expected_as_run`) and, per aspect:

- restricts every run to the *common images*: those in every run's analysis set of the
  aspect (at least one valid model answer and a human mean), see :func:`common_images`;
- describes each run on them with the single-run analysis itself
  (:func:`vlmrate.stats.analyse` on the restricted frames), so a run's numbers here equal
  ``vlmrate stats`` of that run restricted to the common images;
- tests each pair of runs (A, B) on the same images against the same human means h_i:
  the MAE difference with a paired bootstrap interval, the difference of the two
  correlations with the human means (Williams' t for dependent correlations) and a
  signed-rank test of |d_A| - |d_B|; each test's p-values are Holm-adjusted within the
  comparison (one family per test: every pair of every aspect compared).

Notation: m_Ai, m_Bi the per-image model means of runs A and B, h_i the human mean,
d_Ai = m_Ai - h_i, n the number of common images.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import combinations
from typing import Any

import numpy as np
import polars as pl

from vlmrate.stats import AspectStats, analyse
from vlmrate.stats import distributions as dist

from .agreement import BOOT_MIN_N, pearson, wilcoxon_signed_rank
from .frames import error_counts, human_long, valid_ratings
from .multiplicity import holm

NAN = float("nan")
N_BOOT = 2000
BOOT_CHUNK_ROWS = 500
EXPECTED_SUFFIX = ":expected"


@dataclass(frozen=True)
class RunFrames:
    """One run as the comparison reads it (frames as :mod:`vlmrate.stats` documents them)."""

    name: str
    ratings: pl.DataFrame
    human: pl.DataFrame
    aspects: list[str]
    manifest: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RunOnCommon:
    """One run's numbers on the common images of one aspect."""

    n_images: int
    bias: float
    mae: float
    mae_ci: tuple[float, float]
    r: float
    r_ci: tuple[float, float]
    icc_a1: float
    ccc: float
    icc1: float
    tost_equivalent: bool | None  # None: TOST undefined (e.g. every d the same)
    wilcoxon_p_two_sided: float
    mae_by_k: list[tuple[int, float]]  # (k, MAE of the mean of the first k repeats)


@dataclass(frozen=True)
class PairTest:
    """Run A against run B on the same images (differences are A - B)."""

    n: int
    mae_diff: float
    mae_diff_ci: tuple[float, float]
    r_diff: float
    r_diff_t: float
    r_diff_p: float
    abs_d_p: float
    r_diff_p_holm: float = NAN  # Holm across every pair and aspect of the comparison
    abs_d_p_holm: float = NAN


@dataclass(frozen=True)
class AspectComparison:
    aspect: str
    n_common: int
    common_images: list[str]
    runs: dict[str, RunOnCommon]
    pairs: dict[tuple[str, str], PairTest]
    per_image: pl.DataFrame  # image_id, human, then <run>_mean per run (common images)


@dataclass(frozen=True)
class Comparison:
    runs: list[dict[str, Any]]  # run facts (see run_facts)
    alpha: float
    bound: float
    aspects: dict[str, AspectComparison]

    @property
    def confidence(self) -> float:
        return 1.0 - self.alpha


# --- the pieces -------------------------------------------------------------------------

def williams_t(r12: float, r13: float, r23: float, n: int) -> tuple[float, float]:
    """Williams' t for the difference of two dependent correlations sharing variable 1.

    Tests H0: rho_12 = rho_13 given r_23 (Williams 1959; Steiger 1980, Psychological
    Bulletin 87:245-251, eq. 7), as psych::r.test(n, r12, r13, r23)::

        |R| = 1 - r12^2 - r13^2 - r23^2 + 2 r12 r13 r23
        rbar = (r12 + r13) / 2
        t = (r12 - r13) sqrt((n - 1)(1 + r23)
              / (2 |R| (n - 1)/(n - 3) + rbar^2 (1 - r23)^3)),   df = n - 3

    Returns (t, two-sided p). Here variable 1 is the human mean, 2 and 3 the two runs'
    model means. NaN when n < 4, any r is NaN, or |r23| = 1 (the two runs' means are one
    linear function of the other: t is 0/0).
    """
    if n < 4 or any(math.isnan(v) for v in (r12, r13, r23)) or 1 - abs(r23) < 1e-12:
        return NAN, NAN
    det = 1 - r12 * r12 - r13 * r13 - r23 * r23 + 2 * r12 * r13 * r23
    rbar = (r12 + r13) / 2
    den = 2 * det * (n - 1) / (n - 3) + rbar * rbar * (1 - r23) ** 3
    if den <= 0:
        return NAN, NAN
    t = (r12 - r13) * math.sqrt((n - 1) * (1 + r23) / den)
    return t, min(1.0, 2 * dist.t_sf(abs(t), n - 3))


def paired_bootstrap_mae_diff(
    m_a: np.ndarray, m_b: np.ndarray, h: np.ndarray, *, n_boot: int = N_BOOT,
    confidence: float = 0.95, seed: int | np.random.SeedSequence = 0,
) -> tuple[float, tuple[float, float]]:
    """MAE(A) - MAE(B) and its paired percentile bootstrap interval.

    Each resample draws n images with replacement (the same images for both runs, so the
    pairing is kept) and takes mean |d_A| - mean |d_B| over them; the interval is the
    (1 - confidence)/2 and (1 + confidence)/2 percentiles of the n_boot resamples
    (Efron & Tibshirani 1993, ch. 13). Draws come from ``np.random.default_rng(seed)``
    as ``integers(0, n, size=(rows, n))`` blocks, in order. Incomplete triples are dropped;
    no interval under ``BOOT_MIN_N`` images (as the single-run bootstrap).
    """
    a, b, hh = (np.asarray(v, dtype=np.float64) for v in (m_a, m_b, h))
    ok = ~(np.isnan(a) | np.isnan(b) | np.isnan(hh))
    e = np.abs(a[ok] - hh[ok]) - np.abs(b[ok] - hh[ok])
    n = int(e.size)
    if n == 0:
        return NAN, (NAN, NAN)
    diff = float(e.mean())
    if n_boot <= 0 or n < BOOT_MIN_N:
        return diff, (NAN, NAN)
    rng = np.random.default_rng(seed)
    stats = np.empty(n_boot)
    for start in range(0, n_boot, BOOT_CHUNK_ROWS):
        rows = min(BOOT_CHUNK_ROWS, n_boot - start)
        idx = rng.integers(0, n, size=(rows, n))
        stats[start:start + rows] = e[idx].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(stats, [tail, 100 - tail])
    return diff, (float(lo), float(hi))


def analysis_set(ratings: pl.DataFrame, human: pl.DataFrame, aspect: str) -> set[str]:
    """Images of ``aspect`` with at least one valid model answer and a human mean."""
    model = valid_ratings(ratings).filter(pl.col("aspect") == aspect)["image_id"]
    hum = human_long(human).filter(pl.col("aspect") == aspect)["image_id"]
    return set(model.to_list()) & set(hum.to_list())


def common_images(runs: Sequence[RunFrames], aspect: str) -> list[str]:
    """Sorted ids in the analysis set of ``aspect`` of every run."""
    sets = [analysis_set(r.ratings, r.human, aspect) for r in runs]
    return sorted(set.intersection(*sets)) if sets else []


def restrict(ratings: pl.DataFrame, human: pl.DataFrame, keep: dict[str, Sequence[str]]
             ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The rows of each aspect in ``keep`` whose image is in its list; the rows of
    other aspects unchanged."""
    def _filter(frame: pl.DataFrame) -> pl.DataFrame:
        cond = ~pl.col("aspect").is_in(list(keep))
        for aspect, ids in keep.items():
            cond = cond | ((pl.col("aspect") == aspect) & pl.col("image_id").is_in(list(ids)))
        return frame.filter(cond)

    return _filter(ratings), _filter(human)


def expected_as_run(run: RunFrames) -> RunFrames:
    """The run's logprob expected ratings as a run of their own, ``<name>:expected``: each
    answer's rating is its expected rating, so m_i is the mean expected rating of image i.
    Answers without an expected rating count as invalid."""
    if "expected_rating" not in run.ratings.columns or (
            run.ratings["expected_rating"].null_count() == run.ratings.height):
        raise ValueError(f"run {run.name} has no expected ratings (run it with --logprobs)")
    ratings = run.ratings.with_columns(pl.col("expected_rating").alias("rating"))
    return RunFrames(f"{run.name}{EXPECTED_SUFFIX}", ratings, run.human, run.aspects,
                     run.manifest)


def _wall_s(manifest: dict, ratings: pl.DataFrame) -> float | None:
    if manifest.get("wall_s") is not None:
        return float(manifest["wall_s"])
    if "time" not in ratings.columns or ratings.height == 0 or manifest.get(
            "status") == "imported":
        return None
    times = [datetime.fromisoformat(t) for t in ratings["time"].drop_nulls().to_list()]
    return (max(times) - min(times)).total_seconds() if times else None


def run_facts(run: RunFrames) -> dict[str, Any]:
    """What a run is (model, prompt set, engine, sampling) and what it cost: answers,
    the share of answers that could not be parsed, mean output tokens per answer and
    wall time (the manifest's ``wall_s``, else the span of the record times)."""
    m = run.manifest
    sampling = m.get("sampling") or {}
    engine = m.get("engine")
    n = run.ratings.height
    parse_failures = sum(error_counts(run.ratings, a)[0] for a in run.aspects)
    tokens = run.ratings["output_tokens"] if "output_tokens" in run.ratings.columns else None
    mean_tokens = tokens.mean() if tokens is not None and tokens.null_count() < n else None
    return {
        "name": run.name,
        "model": m.get("model"),
        "prompts": (m.get("study") or {}).get("name"),
        "engine": engine.get("name") if isinstance(engine, dict) else engine or (
            "import" if m.get("status") == "imported" else None),
        "temperature": sampling.get("temperature"),
        "repeats": sampling.get("repeats"),
        "rating_only": bool(sampling.get("rating_only", False)),
        "n_answers": n,
        "parse_failure_rate": parse_failures / n if n else None,
        "output_tokens_mean": float(mean_tokens) if mean_tokens is not None else None,
        "wall_s": _wall_s(m, run.ratings),
    }


def _run_on_common(s: AspectStats) -> RunOnCommon:
    ag = s.agreement
    return RunOnCommon(
        n_images=s.n_images, bias=ag.ba_bias, mae=ag.mae, mae_ci=ag.mae_ci,
        r=s.pearson_vs_human.r, r_ci=ag.r_ci, icc_a1=ag.icc_a1, ccc=ag.ccc,
        icc1=s.icc.ICC1.value, tost_equivalent=(None if s.tost.equivalent is None
                         else bool(s.tost.equivalent)),
        wilcoxon_p_two_sided=s.wilcoxon.p_two_sided,
        mae_by_k=[(e.k, e.mae) for e in s.errors_by_k],
    )


def _pair_seed(seed: int, aspect: str, a: str, b: str) -> np.random.SeedSequence:
    return np.random.SeedSequence([seed, zlib.crc32(aspect.encode()),
                                   zlib.crc32(f"{a}|{b}".encode())])


def pair_test(m_a: np.ndarray, m_b: np.ndarray, h: np.ndarray, *, confidence: float = 0.95,
              n_boot: int = N_BOOT, seed: int | np.random.SeedSequence = 0) -> PairTest:
    """Run A against run B over the same images (arrays aligned, NaN triples dropped):
    ``mae_diff`` = MAE_A - MAE_B with :func:`paired_bootstrap_mae_diff`; ``r_diff`` =
    r(A, h) - r(B, h) with :func:`williams_t` (r12 = r(h, A), r13 = r(h, B),
    r23 = r(A, B)); ``abs_d_p`` the two-sided Wilcoxon signed-rank p of |d_A| - |d_B|
    (zeros dropped, as :func:`vlmrate.stats.agreement.wilcoxon_signed_rank`)."""
    a, b, hh = (np.asarray(v, dtype=np.float64) for v in (m_a, m_b, h))
    ok = ~(np.isnan(a) | np.isnan(b) | np.isnan(hh))
    a, b, hh = a[ok], b[ok], hh[ok]
    n = int(a.size)
    diff, ci = paired_bootstrap_mae_diff(a, b, hh, n_boot=n_boot, confidence=confidence,
                                         seed=seed)
    r_a, r_b, r_ab = pearson(a, hh).r, pearson(b, hh).r, pearson(a, b).r
    t, p = williams_t(r_a, r_b, r_ab, n)
    abs_d = wilcoxon_signed_rank(np.abs(a - hh) - np.abs(b - hh))
    return PairTest(n=n, mae_diff=diff, mae_diff_ci=ci, r_diff=r_a - r_b, r_diff_t=t,
                    r_diff_p=p, abs_d_p=abs_d.p_two_sided)


# --- the comparison ---------------------------------------------------------------------

def shared_aspects(runs: Sequence[RunFrames]) -> list[str]:
    """Aspects every run has, in the first run's order."""
    others = [set(r.aspects) for r in runs[1:]]
    return [a for a in runs[0].aspects if all(a in s for s in others)]


def compare(runs: Sequence[RunFrames], *, aspects: Sequence[str] | None = None,
            bound: float = 0.5, alpha: float = 0.05, seed: int = 0,
            n_boot: int = N_BOOT) -> Comparison:
    """Compare ``runs`` (two or more, names unique) per aspect on their common images.

    ``aspects`` defaults to :func:`shared_aspects`. Each run is analysed with
    :func:`vlmrate.stats.analyse` (its own aspect list and ``seed``, so its numbers equal
    ``vlmrate stats`` of the run restricted to the common images); pairs (A, B) follow
    the order of ``runs`` and use the human means of the first run (the runs must agree
    on them for the common images). Raises ValueError on input that cannot be compared.
    """
    if len(runs) < 2:
        raise ValueError("compare needs at least two runs")
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise ValueError(f"a run is named twice: {', '.join(names)}")
    wanted = list(aspects) if aspects else shared_aspects(runs)
    for aspect in wanted:
        missing = [r.name for r in runs if aspect not in r.aspects]
        if missing:
            raise ValueError(f"aspect {aspect!r} is not in run {missing[0]}")
    if not wanted:
        raise ValueError("the runs have no aspect in common")
    keep = {a: common_images(runs, a) for a in wanted}
    if not any(keep.values()):
        raise ValueError("the runs have no image in common (with human ratings)")
    for a, ids in keep.items():
        _check_same_human(runs, a, ids)
    analysed = {a: ids for a, ids in keep.items() if ids}
    analyses = {}
    for run in runs:
        ratings, human = restrict(run.ratings, run.human, analysed)
        analyses[run.name] = analyse(ratings, human, run.aspects, bound=bound, alpha=alpha,
                                     seed=seed, run_name=run.name)
    result = {}
    for a, ids in keep.items():
        if not ids:  # reported, with nothing to compare
            result[a] = AspectComparison(a, 0, [], {}, {}, pl.DataFrame(
                {"image_id": [], "human": []}, schema={"image_id": pl.String,
                                                       "human": pl.Float64}))
            continue
        h = _human_means(runs[0], a, ids)
        means = {r.name: _model_means(analyses[r.name].per_image, a, ids) for r in runs}
        per_run = {name: _run_on_common(analyses[name].aspects[a]) for name in names}
        pairs = {
            (x, y): pair_test(means[x], means[y], h, confidence=1 - alpha, n_boot=n_boot,
                              seed=_pair_seed(seed, a, x, y))
            for x, y in combinations(names, 2)
        }
        table = pl.DataFrame({"image_id": ids, "human": h,
                              **{f"{n}_mean": means[n] for n in names}})
        result[a] = AspectComparison(a, len(ids), ids, per_run, pairs, table)
    return Comparison([run_facts(r) for r in runs], alpha, bound, _holm_pairs(result))


def _holm_pairs(result: dict[str, AspectComparison]) -> dict[str, AspectComparison]:
    """Holm-adjust each pair test's p-values across every pair and aspect (one family
    per test: r_diff_p, abs_d_p)."""
    keys = [(a, pair) for a, s in result.items() for pair in s.pairs]
    adjusted = {
        name: holm({f"{a}|{x}|{y}": getattr(result[a].pairs[(x, y)], name)
                    for a, (x, y) in keys})
        for name in ("r_diff_p", "abs_d_p")
    }
    out = {}
    for a, s in result.items():
        pairs = {(x, y): replace(p, r_diff_p_holm=adjusted["r_diff_p"][f"{a}|{x}|{y}"],
                                 abs_d_p_holm=adjusted["abs_d_p"][f"{a}|{x}|{y}"])
                 for (x, y), p in s.pairs.items()}
        out[a] = replace(s, pairs=pairs)
    return out


def _human_means(run: RunFrames, aspect: str, ids: list[str]) -> np.ndarray:
    hum = human_long(run.human).filter(pl.col("aspect") == aspect)
    lookup = dict(zip(hum["image_id"].to_list(), hum["human_mean"].to_list(), strict=True))
    return np.array([lookup[i] for i in ids], dtype=np.float64)


def _model_means(per_image: pl.DataFrame, aspect: str, ids: list[str]) -> np.ndarray:
    rows = per_image.select("image_id", f"{aspect}_mean")
    lookup = dict(zip(rows["image_id"].to_list(), rows[f"{aspect}_mean"].to_list(),
                      strict=True))
    return np.array([lookup[i] for i in ids], dtype=np.float64)


def _check_same_human(runs: Sequence[RunFrames], aspect: str, ids: list[str]) -> None:
    first = _human_means(runs[0], aspect, ids)
    for run in runs[1:]:
        other = _human_means(run, aspect, ids)
        differ = int((np.abs(first - other) > 1e-9).sum())
        if differ:
            raise ValueError(f"runs {runs[0].name} and {run.name} have different human "
                             f"means for {differ} {aspect} images: compare runs of one "
                             f"human sheet")


# --- reading the result -----------------------------------------------------------------

#: Per-run columns and how the best value is chosen: "min", "max", "min_abs" or None.
RUN_COLUMNS: dict[str, str | None] = {
    "n_images": None, "bias": "min_abs", "mae": "min", "r": "max", "icc_a1": "max",
    "ccc": "max", "icc1": "max", "tost_equivalent": None, "wilcoxon_p_two_sided": None,
}


def best_runs(aspect: AspectComparison) -> dict[str, set[str]]:
    """Per column of :data:`RUN_COLUMNS` with a rule, the run(s) with the best value."""
    best: dict[str, set[str]] = {}
    for column, rule in RUN_COLUMNS.items():
        if rule is None:
            continue
        values = {name: getattr(r, column) for name, r in aspect.runs.items()}
        values = {k: v for k, v in values.items() if v is not None and math.isfinite(v)}
        if column == "icc1":  # an expected rating barely varies over repeats: its ICC1
            # is not stability in the same sense, so it is never the "best" one
            values = {k: v for k, v in values.items() if not k.endswith(EXPECTED_SUFFIX)}
        if not values:
            best[column] = set()
            continue
        key = {"min": lambda v: v, "max": lambda v: -v, "min_abs": abs}[rule]
        top = min(key(v) for v in values.values())
        best[column] = {k for k, v in values.items() if math.isclose(key(v), top,
                                                                     abs_tol=1e-12)}
    return best


def disagreements(aspect: AspectComparison, n: int = 20) -> pl.DataFrame:
    """Common images ordered by how much the runs disagree: ``spread`` = max - min of
    the runs' means (ties by id); with the human mean and every run's mean."""
    means = [c for c in aspect.per_image.columns if c.endswith("_mean")]
    if not means:
        return aspect.per_image.with_columns(pl.lit(None, pl.Float64).alias("spread"))
    return (aspect.per_image
            .with_columns(pl.max_horizontal(means).sub(pl.min_horizontal(means))
                          .alias("spread"))
            .sort(["spread", "image_id"], descending=[True, False])
            .head(n))


def _num(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, int | np.integer):
        return int(v)
    v = float(v)
    return v if math.isfinite(v) else None


def to_json_dict(c: Comparison) -> dict[str, Any]:
    """The ``vlmrate compare --json`` object (NaN as null)."""
    def run_json(r: RunOnCommon) -> dict[str, Any]:
        return {
            "n_images": r.n_images, "bias": _num(r.bias), "mae": _num(r.mae),
            "mae_ci": [_num(v) for v in r.mae_ci], "r": _num(r.r),
            "r_ci": [_num(v) for v in r.r_ci], "icc_a1": _num(r.icc_a1),
            "ccc": _num(r.ccc), "icc1": _num(r.icc1), "tost_equivalent": r.tost_equivalent,
            "wilcoxon_p_two_sided": _num(r.wilcoxon_p_two_sided),
            "mae_by_k": [{"k": k, "mae": _num(v)} for k, v in r.mae_by_k],
        }

    def pair_json(p: PairTest) -> dict[str, Any]:
        return {"n": p.n, "mae_diff": _num(p.mae_diff),
                "mae_diff_ci": [_num(v) for v in p.mae_diff_ci], "r_diff": _num(p.r_diff),
                "r_diff_t": _num(p.r_diff_t), "r_diff_p": _num(p.r_diff_p),
                "abs_d_p": _num(p.abs_d_p), "r_diff_p_holm": _num(p.r_diff_p_holm),
                "abs_d_p_holm": _num(p.abs_d_p_holm)}

    return {
        "runs": [{k: _num(v) if isinstance(v, float) else v for k, v in r.items()}
                 for r in c.runs],
        "confidence": _num(c.confidence),
        "bound": _num(c.bound),
        "aspects": {
            a: {"n_common": s.n_common,
                "runs": {name: run_json(r) for name, r in s.runs.items()},
                "pairs": {f"{x}|{y}": pair_json(p) for (x, y), p in s.pairs.items()}}
            for a, s in c.aspects.items()
        },
    }
