"""A "Methods" paragraph that says what `vlmrate stats` computed, for a paper to adapt.

Everything in it is read off a :class:`StudyStats` (the variant of each test actually
used, the zeros dropped, the bound, alpha, bootstrap size and seed, the Monte-Carlo
error of the subset draws); nothing is computed here.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .analysis import StudyStats


def _pct(level: float) -> str:
    return f"{100 * level:g}%"


def _list(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _wilcoxon_sentence(stats: StudyStats) -> str:
    parts = []
    for a, s in stats.aspects.items():
        w = s.wilcoxon
        if w.method == "none":
            parts.append(f"{a}: all {w.n_zero} differences were zero, no test")
            continue
        if w.method == "exact":
            how = "exact"
        elif w.n >= 50:
            how = "normal approximation"
        else:
            how = "normal approximation (zeros)" if w.n_zero else "normal approximation (ties)"
        parts.append(f"{a}: {how}, n = {w.n}, {w.n_zero} zero differences dropped")
    return (
        "Direction: Wilcoxon signed-rank test on d_i = m_i - h_i (model mean minus human "
        "mean), differences rounded to 1e-10, zero differences dropped, average ranks for "
        "ties; the exact null distribution when fewer than 50 non-zero differences remain "
        "with no ties and no zeros, otherwise the normal approximation with the tie "
        "correction and no continuity correction, as R's wilcox.test(correct = FALSE) "
        f"({'; '.join(parts)}). Effect sizes: the matched-pairs rank-biserial correlation "
        "(W+ - W-)/(W+ + W-) and the Hodges-Lehmann estimate (median of the Walsh "
        f"averages) with its {_pct(stats.confidence)} interval as R computes it."
    )


def methods_text(stats: StudyStats) -> str:
    """One paragraph, plain text."""
    conf = _pct(stats.confidence)
    aspects = list(stats.aspects)
    ks = sorted({s.n_repeats for s in stats.aspects.values()})
    k_text = f"K = {ks[0]}" if len(ks) == 1 else f"K = {ks[0]}..{ks[-1]}"
    ses = [
        e.mae_subsets_se
        for s in stats.aspects.values()
        for e in s.errors_by_k
        if e.k < s.n_repeats and math.isfinite(e.mae_subsets_se)
    ]
    se_text = f"; their Monte-Carlo SE is at most {max(ses):.3f}" if ses else ""
    has_expected = any(s.expected is not None for s in stats.aspects.values())
    sentences = [
        f"Per aspect ({_list(aspects)}), the analyses use the images with at least one "
        "valid model answer and a human mean; m_i is the mean of an image's valid answers "
        f"({k_text} repeats), h_i the human mean.",
        "Reliability of the repeats: one-way random-effects ICC(1,1) and ICC(1,k) "
        "(Shrout & Fleiss, 1979; unequal numbers of valid answers through n0), with "
        f"F-based {conf} confidence intervals; the number of answers that reaches a "
        "reliability of 0.8 or 0.9 follows from ICC(1,1) by the Spearman-Brown formula.",
        _wilcoxon_sentence(stats),
        f"Equivalence: two one-sided paired t tests (TOST; Schuirmann, 1987) against "
        f"bounds of ±{stats.bound:g} scale points at alpha = {stats.alpha:g}, reported with "
        f"the {_pct(1 - 2 * stats.alpha)} confidence interval of the mean difference and "
        "Cohen's d_z, and the same with Wilcoxon signed-rank tests on d ± bound.",
        "Agreement: two-way ICC(A,1) and ICC(C,1) (McGraw & Wong, 1996), Lin's (1989) "
        "concordance correlation, Bland-Altman bias and 95% limits of agreement with their "
        "95% confidence intervals and the regression of d on (m + h)/2 for proportional "
        "bias (Bland & Altman, 1999); the spread of m_i against h_i by the Pitman-Morgan "
        "test (the same test as that slope's: both ask whether m - h varies with m + h, "
        "so their p-values are equal).",
        f"Percentile bootstrap {conf} intervals of the MAE and of Pearson r from "
        f"B = {stats.n_boot} resamples of images (seed {stats.seed}, one stream per aspect "
        "derived from its name; none under 5 images).",
        f"Error by number of repeats k: the first k repeats, and the mean over "
        f"{stats.n_draws} random k-subsets per image (Monte Carlo, same seed){se_text}.",
        f"p-values of the Wilcoxon, TOST and Pearson tests are Holm-adjusted across the "
        f"{len(aspects)} aspects (Holm, 1979).",
    ]
    if has_expected:
        sentences.append(
            "The logprob expected rating (the probability-weighted mean of the rating "
            "digits), averaged per image, is analysed as a second rater in the same way. "
            "Its probabilities are vLLM's raw log-probabilities at the rating digit "
            "(temperature 1, not the sampling temperature; after the structured-output "
            "mask when answers are constrained), renormalised over the digits; the mass "
            "the digits had before renormalising is reported per aspect."
        )
    return "Methods. " + " ".join(sentences)
