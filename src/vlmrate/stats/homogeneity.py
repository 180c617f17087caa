"""Are the model's per-image means more homogeneous than the humans'?

LLM ratings of affective images have been reported to spread less across images than
human norms. Over the same images, compare SD(m_i) with SD(h_i) with the Pitman-Morgan
test for the variances of paired data, and (when the human sheet has per-image SDs) the
mean per-image SD of the model's repeats beside that of the human raters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .agreement import pearson

NAN = float("nan")


@dataclass(frozen=True)
class Homogeneity:
    n: int
    sd_model: float  # SD (ddof 1) of the model means m_i
    sd_human: float  # SD (ddof 1) of the human means h_i
    ratio: float  # sd_model / sd_human
    p: float  # Pitman-Morgan, two-sided
    image_sd_model: float = NAN  # mean per-image SD of the model's repeats
    image_sd_human: float = NAN  # mean per-image SD of the human raters (from the sheet)


def pitman_morgan(x: np.ndarray, y: np.ndarray) -> float:
    """Two-sided p of the Pitman (1939) - Morgan (1939) test of var(x) = var(y) for
    paired data: var(x) = var(y) iff cov(x + y, x - y) = 0, so it is the t test of the
    Pearson r between x + y and x - y on n - 2 df (Snedecor & Cochran 1989, 9.12).
    NaN under 3 pairs or when x + y or x - y is constant. It is the same test as the
    Bland-Altman slope of (x - y) on (x + y) / 2 (agreement.proportional_bias): the two
    p-values are equal."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return pearson(x + y, x - y).p


def homogeneity(
    m: np.ndarray,
    h: np.ndarray,
    model_sd: np.ndarray | None = None,
    human_sd: np.ndarray | None = None,
) -> Homogeneity:
    """Spread of m_i against h_i over the complete pairs; ``model_sd`` and ``human_sd``
    (per-image SDs over the same images, NaN where unknown) give the mean within-image
    SDs, each over the images where it is known."""
    m = np.asarray(m, dtype=np.float64)
    h = np.asarray(h, dtype=np.float64)
    ok = ~(np.isnan(m) | np.isnan(h))
    m, h = m[ok], h[ok]
    n = int(m.size)
    sd_m = float(m.std(ddof=1)) if n > 1 else NAN
    sd_h = float(h.std(ddof=1)) if n > 1 else NAN
    ratio = sd_m / sd_h if n > 1 and sd_h > 0 else NAN

    def mean_known(v: np.ndarray | None) -> float:
        if v is None:
            return NAN
        v = np.asarray(v, dtype=np.float64)[ok]
        v = v[~np.isnan(v)]
        return float(v.mean()) if v.size else NAN

    return Homogeneity(
        n=n,
        sd_model=sd_m,
        sd_human=sd_h,
        ratio=ratio,
        p=pitman_morgan(m, h),
        image_sd_model=mean_known(model_sd),
        image_sd_human=mean_known(human_sd),
    )
