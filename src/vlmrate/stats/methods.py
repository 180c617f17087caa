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
        f"({'; '.join(parts)}). Effect sizes, over the same non-zero differences: the "
        "matched-pairs rank-biserial correlation (W+ - W-)/(W+ + W-) and the Hodges-Lehmann "
        "estimate (median of the Walsh averages) with its interval as R computes it, asked "
        f"at {_pct(stats.confidence)}; R's interval reaches a lower level with few or tied "
        f"differences, and the level reached is given ({_hl_levels(stats)})."
    )


def _hl_levels(stats: StudyStats) -> str:
    parts = []
    for a, s in stats.aspects.items():
        level = s.wilcoxon.hodges_lehmann_ci_level
        parts.append(f"{a}: {100 * level:.4g}%" if math.isfinite(level) else f"{a}: none")
    return "; ".join(parts)


def _digit_mass_text(stats: StudyStats) -> str:
    parts = [f"{a}: {100 * s.expected.digit_mass_mean:.1f}%"
             for a, s in stats.aspects.items()
             if s.expected is not None and math.isfinite(s.expected.digit_mass_mean)]
    if not parts:
        return ""
    return ("; before renormalising, the digits had on average this share of the "
            f"probability at the rating position: {'; '.join(parts)}")


def _curve_images(stats: StudyStats) -> str:
    parts = []
    for a, s in stats.aspects.items():
        if s.errors_by_k:
            row = s.errors_by_k[0]
            parts.append(f"{a}: {row.n} of {row.n + row.n_excluded} images")
    return "; ".join(parts) or "no curve"


def _human_sentence(stats: StudyStats) -> str:
    with_block = [a for a, s in stats.aspects.items() if s.human is not None]
    if not with_block:
        return ("The human noise ceiling needs the sheet's per-image SDs and rater counts "
                "(A_sd, A_n or --raters N); this sheet has none.")
    return (
        f"Human noise ceiling ({_list(with_block)}), from the sheet's per-image SD s_i and "
        "rater count n_i, assuming normal ratings and independent raters: the reliability "
        "of the human means 1 - mean(s_i^2/n_i)/var(h) (classical test theory); the MAE a "
        "single rater would score against the mean of the others, mean sqrt(2/pi) s_i "
        "sqrt(1 + 1/(n_i - 1)); the model's MSE to the true consensus, MSE(m, h) - "
        "mean(s_i^2/n_i), and the number of raters whose mean would be as close, "
        f"mean(s_i^2) / that MSE, with a {_pct(stats.confidence)} BCa bootstrap interval "
        "over images (of its inverse, level expanded as for the MAE); the ceiling of r, sqrt(reliability of h x ICC(1,k) of the "
        "model), and r corrected for attenuation (Spearman, 1904); the share of model "
        f"means inside the human mean's {_pct(stats.confidence)} t interval; and the "
        "Pearson r of the model's and the raters' per-image SDs."
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
        "(Shrout & Fleiss, 1979; unequal numbers of valid answers through n0, so that "
        "ICC(1,k) is the reliability of a mean of n0 answers), with F-based "
        f"{conf} confidence intervals; the number of answers that reaches a "
        "reliability of 0.8 or 0.9 follows from ICC(1,1) by the Spearman-Brown formula "
        "(below one answer: one is enough). The \"reference study's ICC\" is that study's "
        "formula, sigma_B^2/(sigma_B^2 + sigma_W^2) with sigma_B^2 = SSB/(number of "
        "images): not an intraclass correlation (it cannot be negative and grows with K), "
        "reported only to reproduce its figure.",
        _wilcoxon_sentence(stats),
        f"Equivalence: two one-sided paired t tests (TOST; Schuirmann, 1987) against "
        f"bounds of ±{stats.bound:g} scale points at alpha = {stats.alpha:g}, reported with "
        f"the {_pct(1 - 2 * stats.alpha)} confidence interval of the mean difference and "
        "Cohen's d_z, and the same with Wilcoxon signed-rank tests on d ± bound. TOST tests "
        "the mean bias, not the agreement of single images; a bound of half a scale point "
        "is the difference that rounding a rating to the scale already makes.",
        "Agreement: two-way ICC(A,1) and ICC(C,1) (McGraw & Wong, 1996) with their F-based "
        f"{conf} intervals, Lin's (1989) concordance correlation with its {conf} interval "
        "on the z scale (Lin, 2000), Bland-Altman bias with its t interval and the "
        f"conventional 95% limits of agreement with their {conf} confidence intervals and "
        "the regression of d on (m + h)/2 for proportional bias (Bland & Altman, 1999); "
        "the spread of m_i against h_i by the Pitman-Morgan test (the same test as that "
        "slope's: both ask whether m - h varies with m + h, so their p-values are equal).",
        f"Pearson r with its Fisher-z {conf} interval (as R's cor.test); the MAE with a "
        f"BCa bootstrap {conf} interval (Efron, 1987) from B = {stats.n_boot} resamples of "
        f"images (seed {stats.seed}, one stream per aspect derived from its name; none "
        "under 5 images), its level expanded for small n as Hesterberg (2015) proposes "
        "(1 - 2 Phi(-sqrt(n/(n-1)) t_{1-alpha/2, n-1})) so that it keeps its coverage; "
        "plain percentile intervals of the MAE and of r are given too.",
        f"Error by number of repeats k: the first k repeats, and the mean over "
        f"{stats.n_draws} random k-subsets of an image's valid answers (Monte Carlo, same "
        f"seed){se_text}; the curve uses the same images at every k, those whose answers "
        f"to the first k repeats shown are all valid ({_curve_images(stats)}).",
        f"p-values are Holm-adjusted across the {len(aspects)} aspects (Holm, 1979), one "
        "family per test: the two-sided Wilcoxon p, each one-sided Wilcoxon p, the TOST p "
        "and the Pearson p.",
        _human_sentence(stats),
    ]
    if has_expected:
        sentences.append(
            "The logprob expected rating (the probability-weighted mean of the rating "
            "digits at the rating position, renormalised over the digits of the scale: "
            "probability on other tokens is dropped), averaged per image, is analysed as a "
            f"second rater in the same way{_digit_mass_text(stats)}. "
            "Its probabilities are vLLM's raw log-probabilities at the rating digit "
            "(temperature 1, not the sampling temperature; after the structured-output "
            "mask when answers are constrained)."
        )
    return "Methods. " + " ".join(sentences)
