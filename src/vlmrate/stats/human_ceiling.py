"""How good could the model be, given how noisy the human means are? The human noise
ceiling and "worth m raters" (``stats --json``: ``aspects.<A>.human``).

Needs, per image i, the human mean h_i, its SD s_i (the sheet's ``A_sd``) and its number
of raters n_i (``A_n``, or ``--raters N`` for every image without one), besides the
model's mean m_i of its valid answers. Over the analysed images with s_i and n_i >= 2:

- ``noise_mse`` = mean(s_i^2 / n_i): the error variance of a human mean (the squared
  standard error of the mean, averaged over images).
- ``reliability`` = 1 - noise_mse / var(h) (var with n - 1): the reliability of the human
  means, true-score variance over observed variance (classical test theory; Lord &
  Novick 1968, ch. 3).
- ``rater_mae`` = mean_i sqrt(2/pi) s_i sqrt(1 + 1/(n_i - 1)): the expected absolute
  difference between one rater and the mean of the other n_i - 1 under normality
  (one rating minus the others' mean has SD s_i sqrt(1 + 1/(n_i - 1)); E|N(0, v)| =
  sqrt(2 v / pi)): the MAE one person would score against the sheet.
- ``model_mse_true`` = MSE(m, h) - noise_mse: the model's squared distance to the true
  consensus (E (m - h)^2 = E (m - mu)^2 + E (h - mu)^2 with independent errors);
  ``rater_equivalents`` = mean(s_i^2) / model_mse_true: the number of raters whose mean
  is as close to the true consensus as the model's mean (the mean of k raters has error
  variance sigma^2 / k). Null when model_mse_true <= 0: the model is indistinguishable
  from the human means' own noise. ``rater_equivalents_ci``: BCa bootstrap over images
  (Efron 1987; its level expanded for small n, Hesterberg 2015, see
  ``agreement.expanded_confidence``) of q = model_mse_true / mean(s^2) =
  1 / rater_equivalents, turned into [1 / q_upper, 1 / q_lower] (BCa intervals are
  transformation-respecting); the upper end is unbounded (null) when q_lower <= 0.
- ``r_ceiling`` = sqrt(reliability * ICC(1,k)), ICC(1,k) the reliability of the model's
  means (one-way, over the same images), and ``r_disattenuated`` = r / r_ceiling
  (Spearman 1904, correction for attenuation); null when either reliability <= 0.
- ``within_human_ci`` = share of images with |m_i - h_i| <= t(1 - alpha/2, n_i - 1)
  s_i / sqrt(n_i): model means inside the human mean's t interval.
- ``sd_correlation`` = Pearson r of the model's per-image SD of its answers (ddof 1) and
  s_i over the images with both: does the model waver where people disagree?

Assumptions: ratings are normal around each image's true mean, raters independent,
the model's errors independent of the raters'.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vlmrate.stats import distributions as dist

from .agreement import (
    BOOT_CHUNK_ELEMENTS,
    BOOT_MIN_N,
    SeedLike,
    bca_interval,
    expanded_confidence,
    pearson,
)
from .reliability import icc_oneway, per_image_sd

NAN = float("nan")
CI_METHOD = "BCa bootstrap of 1/m, expanded"
SHEET, OPTION, BOTH = "sheet", "--raters", "sheet and --raters"


@dataclass(frozen=True)
class RaterMeanMae:
    m: int  # raters averaged
    mae: float  # expected MAE of their mean against the sheet (mean_of_m_raters_mae)


@dataclass(frozen=True)
class HumanCeiling:
    n_images: int  # analysed images with a human SD and >= 2 raters
    raters_from: str  # where n_i came from: "sheet", "--raters", "sheet and --raters"
    raters_mean: float  # mean n_i
    model_answers: float  # mean number of valid model answers per image
    noise_mse: float  # mean s_i^2 / n_i
    reliability: float
    rater_mae: float
    model_mae: float  # MAE of m vs h over the same images
    model_mse: float
    model_mse_true: float
    rater_equivalents: float
    rater_equivalents_ci: tuple[float, float]
    r: float  # Pearson r of m and h over the same images
    model_reliability: float  # ICC(1,k) of the model's answers over the same images
    r_ceiling: float
    r_disattenuated: float
    within_human_ci: float
    sd_correlation: float
    sd_correlation_n: int
    confidence: float = 0.95
    #: (m, expected MAE of the mean of m raters against the sheet) for m = 1..M over all
    #: the block's images (:func:`mean_of_m_raters_mae`; M = min(MAX_M, min_i n_i - 1), so
    #: every point of the curve averages the same images)
    rater_mean_mae: tuple[RaterMeanMae, ...] = ()
    rater_equivalents_ci_method: str = CI_METHOD
    n_boot: int = 0


def _q_replicates(d2: np.ndarray, noise: np.ndarray, s2: np.ndarray, n_boot: int,
                  seed: SeedLike) -> np.ndarray:
    """q = (mean d^2 - mean s^2/n) / mean s^2 for n_boot resamples of the images."""
    n = d2.size
    rng = np.random.default_rng(seed)
    feats = np.stack([d2 - noise, s2])
    out = np.empty((n_boot, 2))
    block = max(1, min(n_boot, BOOT_CHUNK_ELEMENTS // n))
    for start in range(0, n_boot, block):
        b = min(block, n_boot - start)
        idx = rng.integers(0, n, size=(b, n)) + (np.arange(b) * n)[:, None]
        counts = np.bincount(idx.ravel(), minlength=b * n).reshape(b, n).astype(np.float64)
        for j in range(2):
            out[start : start + b, j] = (counts * feats[j]).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return out[:, 0] / out[:, 1]


def _equivalents_ci(q_lo: float, q_hi: float) -> tuple[float, float]:
    if not (np.isfinite(q_lo) and np.isfinite(q_hi)) or q_hi <= 0:
        return NAN, NAN
    return 1.0 / q_hi, (1.0 / q_lo if q_lo > 0 else float("inf"))


MAX_M = 20  # the longest "mean of m raters" curve reported


def mean_of_m_raters_mae(s: np.ndarray, n: np.ndarray, m: int) -> float:
    """The MAE the mean of m raters would score against the sheet, under normality:

        MAE_m = mean_i  sqrt(2/pi) * s_i * sqrt(1/m + 1/(n_i - m))   over images with n_i > m

    — the expected absolute difference between the mean of m raters and the mean of the
    other n_i - m raters of image i (independent raters, ratings normal with SD s_i:
    the difference is normal with SD s_i * sqrt(1/m + 1/(n_i - m)), and E|N(0, v)| =
    sqrt(2 v / pi)). m = 1 is ``rater_mae``. NaN when no image has more than m raters.
    The curve beside the model's MAE says how many raters the model's mean matches in
    MAE terms (``rater_equivalents`` answers the same question in MSE terms, against the
    true consensus)."""
    s = np.asarray(s, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    ok = np.isfinite(s) & (n > m)
    if not ok.any():
        return NAN
    return float((np.sqrt(2 / np.pi) * s[ok] * np.sqrt(1 / m + 1 / (n[ok] - m))).mean())


def unavailable_reason(s: np.ndarray, n: np.ndarray, raters: int | None, aspect: str) -> str:
    """Why an aspect has no human block: said in the user's terms (columns, option)."""
    if not np.isfinite(s).any():
        return (f"the human sheet has no per-image SDs (column {aspect}_sd): no noise "
                "ceiling")
    if not np.isfinite(n).any() and raters is None:
        return (f"the human sheet has SDs but no rater counts (column {aspect}_n; "
                "`vlmrate stats --raters N` supplies them)")
    return "no analysed image has a human SD and 2 or more raters"


def human_ceiling(
    x: np.ndarray,
    h: np.ndarray,
    s: np.ndarray,
    n_raters: np.ndarray,
    *,
    raters: int | None = None,
    n_boot: int = 2000,
    seed: SeedLike = 0,
    confidence: float = 0.95,
) -> HumanCeiling | None:
    """The human block of one aspect from its repeat matrix ``x`` (images x K, NaN =
    no valid answer), human means ``h``, SDs ``s`` and rater counts ``n_raters`` (NaN =
    unknown; ``raters`` fills those), all over the analysed images. None when no image
    has an SD and at least 2 raters (:func:`unavailable_reason` says why)."""
    x = np.asarray(x, dtype=np.float64)
    h = np.asarray(h, dtype=np.float64)
    s = np.asarray(s, dtype=np.float64)
    n_sheet = np.asarray(n_raters, dtype=np.float64)
    n_all = n_sheet if raters is None else np.where(np.isnan(n_sheet), float(raters), n_sheet)
    answers = (~np.isnan(x)).sum(axis=1)
    keep = np.isfinite(s) & (n_all >= 2) & np.isfinite(h) & (answers > 0)
    if not keep.any():
        return None
    from_sheet = bool(np.isfinite(n_sheet[keep]).any())
    from_option = bool(np.isnan(n_sheet[keep]).any())
    raters_from = BOTH if from_sheet and from_option else SHEET if from_sheet else OPTION
    x, h, s, n = x[keep], h[keep], s[keep], n_all[keep]
    k = int(keep.sum())
    m = np.nansum(x, axis=1) / answers[keep]
    d = m - h
    s2 = s * s
    noise = s2 / n
    noise_mse = float(noise.mean())
    var_h = float(h.var(ddof=1)) if k > 1 else NAN
    reliability = 1.0 - noise_mse / var_h if k > 1 and var_h > 0 else NAN
    model_mse = float((d * d).mean())
    mse_true = model_mse - noise_mse
    equivalents = float(s2.mean()) / mse_true if mse_true > 0 else NAN
    ci = (NAN, NAN)
    if k >= BOOT_MIN_N and n_boot > 0 and float(s2.mean()) > 0:
        q = _q_replicates(d * d, noise, s2, n_boot, seed)
        excess = d * d - noise
        with np.errstate(divide="ignore", invalid="ignore"):
            jack = (excess.sum() - excess) / (s2.sum() - s2)  # leave one image out
        ci = _equivalents_ci(*bca_interval(mse_true / float(s2.mean()), q, jack,
                                           expanded_confidence(k, confidence)))
    r = pearson(m, h).r
    model_rel = icc_oneway(x).ICC1k.value
    ceiling = NAN
    if np.isfinite(reliability) and np.isfinite(model_rel) and reliability > 0 and model_rel > 0:
        ceiling = float(np.sqrt(reliability * model_rel))
    half = dist.t_ppf_many(1 - (1 - confidence) / 2, n - 1) * s / np.sqrt(n)
    model_sd = per_image_sd(x)
    both = np.isfinite(model_sd)
    sd_corr = pearson(model_sd[both], s[both])
    return HumanCeiling(
        n_images=k,
        raters_from=raters_from,
        raters_mean=float(n.mean()),
        model_answers=float(answers[keep].mean()),
        noise_mse=noise_mse,
        reliability=reliability,
        rater_mae=float((np.sqrt(2 / np.pi) * s * np.sqrt(1 + 1 / (n - 1))).mean()),
        model_mae=float(np.abs(d).mean()),
        model_mse=model_mse,
        model_mse_true=mse_true,
        rater_equivalents=equivalents,
        rater_equivalents_ci=ci,
        r=r,
        model_reliability=model_rel,
        r_ceiling=ceiling,
        r_disattenuated=r / ceiling if np.isfinite(ceiling) and np.isfinite(r) else NAN,
        within_human_ci=float((np.abs(d) <= half).mean()),
        sd_correlation=sd_corr.r,
        sd_correlation_n=sd_corr.n,
        confidence=confidence,
        # one image set along the curve: m up to the fewest raters an image has, minus one
        rater_mean_mae=tuple(RaterMeanMae(m_, mean_of_m_raters_mae(s, n, m_))
                             for m_ in range(1, int(min(MAX_M, n.min() - 1)) + 1)),
        n_boot=n_boot,
    )
