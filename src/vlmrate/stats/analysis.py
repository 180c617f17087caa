"""Every analysis of a run in one call (:func:`analyse`) and its JSON form
(:func:`to_json_dict`, the ``vlmrate stats --json`` object of docs/design.md).

Per aspect, the analysis set is the images with at least one valid model answer and a
human mean for that aspect; ``n_images`` counts them (top level: their union over the
aspects). Between-aspect correlations use the images in the analysis sets of both
aspects; parse failures and engine errors count every answer of the aspect.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import polars as pl

from .agreement import (
    Agreement,
    Correlation,
    TostResult,
    TostWilcoxonResult,
    WilcoxonResult,
    agreement,
    between_aspects,
    pearson,
    tost_paired,
    tost_wilcoxon,
    wilcoxon_signed_rank,
)
from .cases import Cases, cases
from .errors_by_k import ErrorAtK, cross_by_k, errors_by_k
from .expected import ExpectedStats, expected_stats
from .frames import (
    digit_mass_vector,
    error_counts,
    expected_vector,
    human_long,
    human_n_vector,
    human_sd_vector,
    image_index,
    max_repeat,
    per_image,
    valid_ratings,
)
from .homogeneity import Homogeneity, homogeneity
from .human_ceiling import HumanCeiling, human_ceiling, unavailable_reason
from .multiplicity import holm
from .notes import aspect_notes
from .reliability import OneWayICC, Stability, icc_oneway, k_needed, per_image_sd, stability

N_BOOT = 2000
N_DRAWS = 200
N_CASES = 10
K_TARGETS = (0.8, 0.9)  # reliabilities for icc.k_needed
HOLM_FAMILIES = {  # holm key -> (block, p key) of each aspect; one family per test
    "wilcoxon_two_sided": ("wilcoxon", "p_two_sided"),
    "wilcoxon_greater": ("wilcoxon", "p_greater"),
    "wilcoxon_less": ("wilcoxon", "p_less"),
    "tost": ("tost", "p"),
    "pearson_vs_human": ("pearson_vs_human", "p"),
}
_BOOT, _DRAWS, _HUMAN = 1, 2, 3  # stream tags for the seeded generators


@dataclass(frozen=True)
class AspectStats:
    aspect: str
    n_images: int
    n_repeats: int  # K: highest repeat number of the aspect
    stability: Stability
    icc: OneWayICC
    wilcoxon: WilcoxonResult
    tost: TostResult
    tost_wilcoxon: TostWilcoxonResult
    errors_by_k: list[ErrorAtK]
    pearson_vs_human: Correlation
    agreement: Agreement
    parse_failures: int
    engine_errors: int
    cases: Cases
    homogeneity: Homogeneity | None = None
    expected: ExpectedStats | None = None
    holm: dict[str, float] = field(default_factory=dict)  # family -> this aspect's Holm p
    notes: list[str] = field(default_factory=list)
    human: HumanCeiling | None = None  # the human noise ceiling (sheet with SDs)
    human_note: str = ""  # why ``human`` is None


@dataclass(frozen=True)
class StudyStats:
    run: str
    n_images: int
    bound: float
    alpha: float
    seed: int
    aspects: dict[str, AspectStats]
    human_aspects: list[str]
    between_aspects: dict[str, Correlation]
    cross_by_k: dict[int, dict[str, dict[str, float]]]
    per_image: pl.DataFrame = field(repr=False)
    holm: dict[str, dict[str, float]] = field(default_factory=dict)
    n_boot: int = N_BOOT
    n_draws: int = N_DRAWS

    @property
    def confidence(self) -> float:
        return 1.0 - self.alpha


def _seed(seed: int, aspect: str, tag: int) -> np.random.SeedSequence:
    """The generator of one resampling of one aspect: from the base seed and the
    aspect's name (never its position, so row order and aspect order do not matter)."""
    name = int.from_bytes(hashlib.sha256(aspect.encode("utf-8")).digest()[:16], "little")
    return np.random.SeedSequence([seed, name, tag])


def analyse(
    ratings: pl.DataFrame,
    human: pl.DataFrame,
    aspects: Sequence[str],
    *,
    bound: float = 0.5,
    alpha: float = 0.05,
    k_max: int | None = None,
    seed: int = 0,
    run_name: str = "",
    raters: int | None = None,
) -> StudyStats:
    """Compute every analysis of docs/statistics.md for a run.

    ``ratings``: one row per answer (image_id, aspect, repeat, rating nullable, reason,
    raw, parse_error, engine_error); ``human``: image_id, aspect, human_mean (+ sd, n);
    ``aspects`` in study order. ``k_max`` caps k in the errors-by-k and cross tables;
    ``seed`` seeds the bootstrap and the Monte-Carlo draws (same seed, same numbers).
    ``raters``: the number of raters behind each human mean where the sheet has no
    ``A_n`` count (the human block needs SDs and counts).
    Every interval is at ``1 - alpha`` except the TOST interval (1 - 2 alpha); the
    Bland-Altman limits are the conventional 95% limits (their CIs follow alpha).
    """
    aspects = list(aspects)
    valid = valid_ratings(ratings)
    hum = human_long(human)
    human_aspects = [a for a in aspects if a in set(hum.get_column("aspect").to_list())]
    human_aspects += sorted(set(hum.get_column("aspect").to_list()) - set(aspects))
    ids = image_index(ratings, human)
    index = pl.DataFrame({"image_id": ids}).with_row_index("_row")
    n_all = ids.len()

    k_global = max((max_repeat(ratings, a) for a in aspects), default=0)
    k_cap = k_global if k_max is None else min(k_max, k_global)

    # Repeat matrices (all images x K) and human vectors, aligned on ``ids``.
    joined = valid.filter(pl.col("repeat") <= k_global).join(index, on="image_id")
    mats: dict[str, np.ndarray] = {}
    for a in aspects:
        part = joined.filter(pl.col("aspect") == a)
        x = np.full((n_all, k_global), np.nan)
        x[part.get_column("_row").to_numpy(), part.get_column("repeat").to_numpy() - 1] = (
            part.get_column("rating").to_numpy()
        )
        mats[a] = x
    hj = hum.join(index, on="image_id")
    hvec: dict[str, np.ndarray] = {}
    for b in human_aspects:
        part = hj.filter(pl.col("aspect") == b)
        v = np.full(n_all, np.nan)
        v[part.get_column("_row").to_numpy()] = part.get_column("human_mean").to_numpy()
        hvec[b] = v

    table = per_image(ratings, human, aspects, valid=valid)
    in_set: dict[str, np.ndarray] = {}
    means: dict[str, np.ndarray] = {}
    results: dict[str, AspectStats] = {}
    confidence = 1.0 - alpha
    for a in aspects:
        k_a = max_repeat(ratings, a)
        x_all = mats[a][:, :k_a]
        n_valid = (~np.isnan(x_all)).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            m_all = np.where(n_valid > 0, np.nansum(x_all, axis=1) / n_valid, np.nan)
        h_all = hvec.get(a, np.full(n_all, np.nan))
        mask = (n_valid > 0) & ~np.isnan(h_all)
        in_set[a] = mask
        means[a] = np.where(mask, m_all, np.nan)
        x, m, h = x_all[mask], m_all[mask], h_all[mask]
        d = m - h
        parse_failures, engine_errors = error_counts(ratings, a)
        icc = icc_oneway(x, alpha=alpha)
        icc = replace(icc, k_needed={f"{t:g}": k_needed(icc.ICC1.value, t) for t in K_TARGETS})
        e_all = expected_vector(ratings, a, ids)
        sd_h = human_sd_vector(human, a, ids)[mask]
        n_h = human_n_vector(human, a, ids)[mask]
        ceiling = human_ceiling(x, h, sd_h, n_h, raters=raters, n_boot=N_BOOT,
                                seed=_seed(seed, a, _HUMAN), confidence=confidence)
        stats_a = AspectStats(
            aspect=a,
            n_images=int(mask.sum()),
            n_repeats=k_a,
            stability=stability(x),
            icc=icc,
            wilcoxon=wilcoxon_signed_rank(d, confidence),
            tost=tost_paired(d, bound=bound, alpha=alpha),
            tost_wilcoxon=tost_wilcoxon(d, bound=bound, alpha=alpha),
            errors_by_k=errors_by_k(
                x,
                h,
                k_max=k_max,
                n_draws=N_DRAWS,
                seed=_seed(seed, a, _DRAWS),
                confidence=confidence,
            ),
            pearson_vs_human=pearson(m, h),
            agreement=agreement(
                m, h, n_boot=N_BOOT, seed=_seed(seed, a, _BOOT), confidence=confidence
            ),
            parse_failures=parse_failures,
            engine_errors=engine_errors,
            cases=cases(ratings, human, a, n=N_CASES, table=table),
            homogeneity=homogeneity(m, h, per_image_sd(x), sd_h),
            expected=expected_stats(
                np.where(~np.isnan(h_all), e_all, np.nan), h_all, m_all, bound=bound, alpha=alpha,
                digit_mass=digit_mass_vector(ratings, a, ids),
            ),
            human=ceiling,
            human_note="" if ceiling is not None else unavailable_reason(sd_h, n_h, raters, a),
        )
        results[a] = stats_a

    union = np.zeros(n_all, dtype=bool)
    for mask in in_set.values():
        union |= mask
    model_in_set = {a: np.where(in_set[a][:, None], mats[a], np.nan) for a in aspects}
    holm_p = {
        family: holm({a: getattr(getattr(results[a], block), key) for a in aspects})
        for family, (block, key) in HOLM_FAMILIES.items()
    }
    repeats = {a: results[a].n_repeats for a in aspects}
    cross = cross_by_k(model_in_set, hvec, aspects, human_aspects, k_cap, repeats)
    for a in aspects:
        s_a = replace(results[a], holm={family: holm_p[family][a] for family in HOLM_FAMILIES})
        results[a] = replace(s_a, notes=aspect_notes(_aspect_json(s_a, bound), s_a, cross, k_cap))
    return StudyStats(
        run=run_name,
        n_images=int(union.sum()),
        bound=bound,
        alpha=alpha,
        seed=seed,
        aspects=results,
        human_aspects=human_aspects,
        between_aspects=between_aspects(means, aspects),
        cross_by_k=cross,
        per_image=table,
        holm=holm_p,
    )


def _num(v: Any) -> float | int | None:
    """A JSON-safe number: numpy scalars to Python, NaN and infinities to None."""
    if v is None:
        return None
    if isinstance(v, bool | np.bool_):
        return bool(v)  # type: ignore[return-value]
    if isinstance(v, int | np.integer):
        return int(v)
    v = float(v)
    return v if math.isfinite(v) else None


def _pair(v: tuple[float, float]) -> list[float | int | None]:
    return [_num(v[0]), _num(v[1])]


def _icc_est(e: Any) -> dict[str, Any]:
    return {
        "value": _num(e.value),
        "F": _num(e.F),
        "df1": _num(e.df1),
        "df2": _num(e.df2),
        "p": _num(e.p),
        "ci": _pair(e.ci),
    }


def _opt_bool(v: bool | None) -> bool | None:
    return None if v is None else bool(v)


def wilcoxon_json(w: WilcoxonResult) -> dict[str, Any]:
    return {
        "w_plus": _num(w.w_plus),
        "w_minus": _num(w.w_minus),
        "p_greater": _num(w.p_greater),
        "p_less": _num(w.p_less),
        "p_two_sided": _num(w.p_two_sided),
        "method": w.method if w.method != "none" else None,
        "n": int(w.n),
        "n_zero": int(w.n_zero),
        "rank_biserial": _num(w.rank_biserial),
        "hodges_lehmann": _num(w.hodges_lehmann),
        "hodges_lehmann_ci": _pair(w.hodges_lehmann_ci),
        "hodges_lehmann_ci_level": _num(w.hodges_lehmann_ci_level),
    }


def tost_json(t: TostResult, bound: float) -> dict[str, Any]:
    return {
        "bound": _num(bound),
        "mean_diff": _num(t.mean_diff),
        "sd_diff": _num(t.sd_diff),
        "t_lower": _num(t.t_lower),
        "p_lower": _num(t.p_lower),
        "t_upper": _num(t.t_upper),
        "p_upper": _num(t.p_upper),
        "p": _num(t.p),
        "equivalent": _opt_bool(t.equivalent),
        "dz": _num(t.dz),
        "ci": _pair(t.ci),
    }


def _corr(c: Correlation) -> dict[str, Any]:
    return {"r": _num(c.r), "p": _num(c.p)}


def _expected_json(e: ExpectedStats | None, bound: float) -> dict[str, Any] | None:
    if e is None:
        return None
    return {
        "n_images": int(e.n_images),
        "pearson_vs_human": _corr(e.pearson_vs_human),
        "mae": _num(e.mae),
        "mse": _num(e.mse),
        "bias": _num(e.bias),
        "ccc": _num(e.ccc),
        "wilcoxon": wilcoxon_json(e.wilcoxon),
        "tost": tost_json(e.tost, bound),
        "vs_sampled": {"r": _num(e.vs_sampled.r), "mae": _num(e.vs_sampled.mae)},
        "digit_mass_mean": _num(e.digit_mass_mean),
    }


def _homogeneity_json(hg: Homogeneity | None) -> dict[str, Any]:
    if hg is None:
        return dict.fromkeys(
            ("sd_model", "sd_human", "ratio", "p", "image_sd_model", "image_sd_human")
        )
    return {
        "sd_model": _num(hg.sd_model),
        "sd_human": _num(hg.sd_human),
        "ratio": _num(hg.ratio),
        "p": _num(hg.p),
        "image_sd_model": _num(hg.image_sd_model),
        "image_sd_human": _num(hg.image_sd_human),
    }


def human_json(c: HumanCeiling | None) -> dict[str, Any] | None:
    """The ``human`` block (the noise ceiling); None without SDs and rater counts."""
    if c is None:
        return None
    return {
        "n_images": int(c.n_images),
        "raters_from": c.raters_from,
        "raters_mean": _num(c.raters_mean),
        "model_answers": _num(c.model_answers),
        "noise_mse": _num(c.noise_mse),
        "reliability": _num(c.reliability),
        "rater_mae": _num(c.rater_mae),
        "model_mae": _num(c.model_mae),
        "model_mse": _num(c.model_mse),
        "model_mse_true": _num(c.model_mse_true),
        "rater_equivalents": _num(c.rater_equivalents),
        "rater_equivalents_ci": _pair(c.rater_equivalents_ci),
        "rater_equivalents_ci_method": c.rater_equivalents_ci_method,
        "r": _num(c.r),
        "model_reliability": _num(c.model_reliability),
        "r_ceiling": _num(c.r_ceiling),
        "r_disattenuated": _num(c.r_disattenuated),
        "within_human_ci": _num(c.within_human_ci),
        "sd_correlation": _num(c.sd_correlation),
        "sd_correlation_n": int(c.sd_correlation_n),
        "rater_mean_mae": [{"m": p.m, "mae": _num(p.mae)} for p in c.rater_mean_mae],
    }


def _aspect_json(s: AspectStats, bound: float) -> dict[str, Any]:
    tw, ag = s.tost_wilcoxon, s.agreement
    return {
        "n_images": s.n_images,
        "n_repeats": s.n_repeats,
        "notes": list(s.notes),
        "stability": {
            "sd_mean": _num(s.stability.sd_mean),
            "sd_median": _num(s.stability.sd_median),
        },
        "icc": {
            "ICC1": _icc_est(s.icc.ICC1),
            "ICC1k": _icc_est(s.icc.ICC1k),
            "icc_reference": _num(s.icc.icc_reference),
            "n0": _num(s.icc.n0),
            "k_needed": {t: _num(k) for t, k in s.icc.k_needed.items()},
        },
        "wilcoxon": wilcoxon_json(s.wilcoxon),
        "tost": tost_json(s.tost, bound),
        "tost_wilcoxon": {
            "p_lower": _num(tw.p_lower),
            "p_upper": _num(tw.p_upper),
            "p": _num(tw.p),
            "equivalent": _opt_bool(tw.equivalent),
        },
        "errors_by_k": [
            {
                "k": e.k,
                "n": e.n,
                "n_images": e.n,
                "mae": _num(e.mae),
                "mse": _num(e.mse),
                "r": _num(e.r),
                "mae_subsets": _num(e.mae_subsets),
                "mae_subsets_ci": _pair(e.mae_subsets_ci),
                "mae_subsets_se": _num(e.mae_subsets_se),
            }
            for e in s.errors_by_k
        ],
        "pearson_vs_human": _corr(s.pearson_vs_human),
        "agreement": {
            "mae": _num(ag.mae),
            "mse": _num(ag.mse),
            "icc_a1": _num(ag.icc_a1),
            "icc_c1": _num(ag.icc_c1),
            "ccc": _num(ag.ccc),
            "ccc_cb": _num(ag.ccc_cb),
            "ba_bias": _num(ag.ba_bias),
            "ba_lower": _num(ag.ba_lower),
            "ba_upper": _num(ag.ba_upper),
            "ba_lower_ci": _pair(ag.ba_lower_ci),
            "ba_upper_ci": _pair(ag.ba_upper_ci),
            "ba_slope": _num(ag.ba_slope),
            "ba_slope_p": _num(ag.ba_slope_p),
            "mae_ci": _pair(ag.mae_ci),
            "mae_ci_method": ag.mae_ci_method,
            "mae_ci_percentile": _pair(ag.mae_ci_percentile),
            "r_ci": _pair(ag.r_ci),
            "r_ci_method": ag.r_ci_method,
            "r_ci_bootstrap": _pair(ag.r_ci_bootstrap),
            "ccc_ci": _pair(ag.ccc_ci),
            "icc_a1_ci": _pair(ag.icc_a1_ci),
            "icc_c1_ci": _pair(ag.icc_c1_ci),
            "ba_bias_ci": _pair(ag.ba_bias_ci),
        },
        "human": human_json(s.human),
        "homogeneity": _homogeneity_json(s.homogeneity),
        "expected": _expected_json(s.expected, bound),
        "holm": {family: _num(p) for family, p in s.holm.items()},
        "parse_failures": int(s.parse_failures),
        "engine_errors": int(s.engine_errors),
    }


def to_json_dict(stats: StudyStats) -> dict[str, Any]:
    """The ``vlmrate stats --json`` object, the keys docs/design.md lists; every number a
    Python int/float, NaN and infinities as None (``json.dumps(..., allow_nan=False)``
    works)."""
    return {
        "run": stats.run,
        "n_images": int(stats.n_images),
        "bound": _num(stats.bound),
        "alpha": _num(stats.alpha),
        "confidence": _num(stats.confidence),
        "seed": int(stats.seed),
        "n_boot": int(stats.n_boot),
        "n_draws": int(stats.n_draws),
        "aspects": {a: _aspect_json(s, stats.bound) for a, s in stats.aspects.items()},
        "holm": {
            family: {a: _num(p) for a, p in by_aspect.items()}
            for family, by_aspect in stats.holm.items()
        },
        "between_aspects": {k: _corr(c) for k, c in stats.between_aspects.items()},
        "cross_by_k": {
            str(k): {a: {b: _num(r) for b, r in row.items()} for a, row in rows.items()}
            for k, rows in stats.cross_by_k.items()
        },
    }
