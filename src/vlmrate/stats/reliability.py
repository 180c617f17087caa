"""Reliability of the repeats: stability (per-image SD) and the one-way random ICCs.

Input everywhere is a repeat matrix ``x`` (images x K, NaN for a missing or invalid
answer; see :func:`vlmrate.stats.frames.repeat_matrix`). Images with no valid answer are
ignored.

One-way random effects ANOVA (Shrout & Fleiss 1979, case 1; psych::ICC and pingouin's
ICC1/ICC1k), with a groups (images), n_i valid answers in group i, N = sum n_i, group
means m_i and grand mean m = (sum of all valid answers) / N::

    SSB = sum_i n_i (m_i - m)^2            MSB = SSB / (a - 1)
    SSW = sum_i sum_j (x_ij - m_i)^2       MSW = SSW / (N - a)
    n0  = (N - sum_i n_i^2 / N) / (a - 1)  (= K when every image has K answers)

    ICC1  = (MSB - MSW) / (MSB + (n0 - 1) MSW)
    ICC1k = (MSB - MSW) / MSB
    F = MSB / MSW on df1 = a - 1, df2 = N - a;  p = P(F(df1, df2) > F)

Confidence intervals at 1 - alpha, psych::ICC's F-based formulas with n0 for the number of
judges: FL = F / F_{1-alpha/2}(df1, df2), FU = F * F_{1-alpha/2}(df2, df1);
ICC1 in [(FL - 1) / (FL + n0 - 1), (FU - 1) / (FU + n0 - 1)],
ICC1k in [1 - 1/FL, 1 - 1/FU].
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vlmrate.stats import distributions as dist

NAN = float("nan")


@dataclass(frozen=True)
class Stability:
    """Per-image SD (ddof 1) over images with at least two valid answers."""

    sd_mean: float
    sd_median: float
    n: int  # images with >= 2 valid answers


@dataclass(frozen=True)
class ICCEstimate:
    value: float
    F: float
    df1: float
    df2: float
    p: float
    ci: tuple[float, float]  # at 1 - alpha


@dataclass(frozen=True)
class OneWayICC:
    ICC1: ICCEstimate
    ICC1k: ICCEstimate
    icc_reference: float
    n_groups: int  # images with >= 1 valid answer
    n_total: int  # valid answers
    n0: float
    msb: float
    msw: float
    k_needed: dict[str, float] = field(default_factory=dict)  # "0.8" -> answers per image


def per_image_sd(x: np.ndarray) -> np.ndarray:
    """Sample SD (ddof 1) of each row's valid answers; NaN under two valid answers."""
    valid = ~np.isnan(x)
    n = valid.sum(axis=1)
    total = np.where(valid, x, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / n
        ss = np.where(valid, (x - mean[:, None]) ** 2, 0.0).sum(axis=1)
        sd = np.sqrt(ss / (n - 1))
    return np.where(n >= 2, sd, np.nan)


def stability(x: np.ndarray) -> Stability:
    """Mean and median per-image SD over the images with >= 2 valid answers."""
    sd = per_image_sd(x)
    sd = sd[~np.isnan(sd)]
    if sd.size == 0:
        return Stability(NAN, NAN, 0)
    return Stability(float(sd.mean()), float(np.median(sd)), int(sd.size))


def icc_oneway(x: np.ndarray, alpha: float = 0.05) -> OneWayICC:
    """ICC1, ICC1k (with F test and CIs) and ``icc_reference`` of a repeat matrix.

    ``icc_reference`` is the variant the reference study wrote,
    sigma_B^2 / (sigma_B^2 + sigma_W^2) with sigma_B^2 = (1/k) sum_i n_i (m_i - m)^2 and
    sigma_W^2 = MSW. We read k as the number of groups (images, ``a`` above) and m as
    the grand mean of all valid answers, i.e. sigma_B^2 = SSB / a. It is not an unbiased
    variance-component estimate (it grows with the number of repeats), which is why it
    differs from ICC1; it is reported only so the reference figure can be reproduced.
    """
    valid = ~np.isnan(x)
    n_i = valid.sum(axis=1)
    keep = n_i > 0
    x, valid, n_i = x[keep], valid[keep], n_i[keep].astype(np.float64)
    a = int(x.shape[0])
    big_n = float(n_i.sum())
    if a < 2 or big_n - a < 1:
        df1 = float(a - 1) if a >= 2 else NAN  # no images, or one: no between-image df
        df2 = float(big_n - a) if a >= 2 else NAN
        nan_est = ICCEstimate(NAN, NAN, df1, df2, NAN, (NAN, NAN))
        return OneWayICC(nan_est, nan_est, NAN, a, int(big_n), NAN, NAN, NAN)
    xs = np.where(valid, x, 0.0)
    m_i = xs.sum(axis=1) / n_i
    grand = xs.sum() / big_n
    ssb = float((n_i * (m_i - grand) ** 2).sum())
    ssw = float(np.where(valid, (x - m_i[:, None]) ** 2, 0.0).sum())
    df1, df2 = a - 1.0, big_n - a
    msb, msw = ssb / df1, ssw / df2
    n0 = (big_n - float((n_i**2).sum()) / big_n) / df1
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.float64(msb) / np.float64(msw)
        icc1 = (msb - msw) / (msb + (n0 - 1.0) * msw) if (msb + (n0 - 1) * msw) else NAN
        icc1k = (msb - msw) / msb if msb else NAN
        p = dist.f_sf(f, df1, df2)
        fl = f / dist.f_ppf(1 - alpha / 2, df1, df2)
        fu = f * dist.f_ppf(1 - alpha / 2, df2, df1)
        ci1 = (float((fl - 1) / (fl + n0 - 1)), float((fu - 1) / (fu + n0 - 1)))
        ci1k = (float(1 - 1 / fl), float(1 - 1 / fu))
        if np.isposinf(f):  # no within-image variation at all: both ICCs are 1
            ci1 = ci1k = (1.0, 1.0)
        sigma_b = ssb / a
        ref = sigma_b / (sigma_b + msw) if (sigma_b + msw) else NAN
    f = float(f)
    return OneWayICC(
        ICC1=ICCEstimate(float(icc1), f, df1, df2, p, ci1),
        ICC1k=ICCEstimate(float(icc1k), f, df1, df2, p, ci1k),
        icc_reference=float(ref),
        n_groups=a,
        n_total=int(big_n),
        n0=float(n0),
        msb=msb,
        msw=msw,
    )


def k_needed(icc1: float, target: float) -> float:
    """Answers per image whose mean reaches reliability ``target``, by the
    Spearman-Brown prophecy from ICC(1,1) (Spearman 1910; Brown 1910; Shrout & Fleiss
    1979, eq. 4 solved for k): k = target (1 - ICC) / (ICC (1 - target)).
    A real number (round up for a count); NaN when ICC <= 0 or undefined."""
    if not np.isfinite(icc1) or icc1 <= 0:
        return NAN
    return float(target * (1 - icc1) / (icc1 * (1 - target)))
