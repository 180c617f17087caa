"""Why a statistic is null: one note per reason, naming the keys it explains.

Every null leaf of an aspect's ``stats --json`` block gets a reason read off the data
(how many images, repeats, whether ratings are constant); notes read
"<key>, <key>: <reason>", keys as dotted paths (``agreement.r_ci``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .agreement import BOOT_MIN_N

if TYPE_CHECKING:
    from .analysis import AspectStats


def null_paths(obj: Any, prefix: str = "") -> Iterator[str]:
    """Dotted paths of the null leaves of a JSON-like object (list items by index;
    a pair [null, null] counts once, as its key)."""
    if obj is None:
        yield prefix
    elif isinstance(obj, dict):
        for k, v in obj.items():
            if k != "notes":
                yield from null_paths(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, list):
        if obj and all(v is None for v in obj) and all(not isinstance(v, dict) for v in obj):
            yield prefix
        else:
            for i, v in enumerate(obj):
                yield from null_paths(v, f"{prefix}.{i}")


def _const(v: float) -> bool:
    return not (isinstance(v, float) and math.isfinite(v) and v > 0)


def _pair_reason(n: int, sd_x: float, sd_y: float, x: str, y: str) -> str | None:
    if n < 3:
        return f"fewer than 3 images ({n})"
    if _const(sd_x):
        return f"the {x} are all equal"
    if _const(sd_y):
        return f"the {y} are all equal"
    return None


def _reason(path: str, s: AspectStats) -> str:
    n = s.n_images
    hg = s.homogeneity
    sd_m = hg.sd_model if hg else math.nan
    sd_h = hg.sd_human if hg else math.nan
    if n == 0 and not path.startswith("expected"):
        return "no image has both a valid model answer and a human mean"
    head = path.split(".")[0]
    if path.startswith("icc.k_needed"):
        if math.isfinite(s.icc.ICC1.value):
            return "ICC(1,1) <= 0: no number of answers reaches the target"
        return "ICC(1,1) is undefined"
    if head in ("icc", "stability"):
        if s.n_repeats <= 1 or s.icc.n_total - s.icc.n_groups < 1:
            return f"one valid answer per image (K = {s.n_repeats}): no within-image variation"
        if s.icc.n_groups < 2:
            return "fewer than 2 images with a valid answer"
        if s.icc.msb == 0 and s.icc.msw == 0:
            return "every answer is the same rating"
        if head == "stability":
            return "no image has 2 or more valid answers"
        if s.icc.msw == 0:
            return "each image's answers are identical (within mean square 0): F is infinite"
        return "the mean squares make the ratio undefined"
    if head == "wilcoxon" or head == "tost_wilcoxon":
        if s.wilcoxon.n == 0 and head == "wilcoxon":
            return f"every difference d is 0 ({s.wilcoxon.n_zero} dropped)"
        if head == "tost_wilcoxon":
            return "every shifted difference d -+ bound is 0 or tied"
        return "every non-zero d has the same size: the interval has no width to search"
    if head == "tost":
        if n < 2:
            return f"fewer than 2 images ({n})"
        if s.tost.degenerate:
            return "every d is the same (SD 0): the t statistics are undefined"
    if head == "errors_by_k":
        if path.endswith(".r"):
            return "fewer than 3 images, or constant means at this k"
        return "no image has a valid answer in every one of the first k repeats (the curve uses the same complete images at every k)"
    if head == "pearson_vs_human" or path in ("agreement.ccc_cb",):
        why = _pair_reason(n, sd_m, sd_h, "model means", "human means")
        if why:
            return why
    if head == "human":
        return _human_reason(path, s)
    boot = ("agreement.mae_ci", "agreement.r_ci_bootstrap", "agreement.mae_ci_percentile")
    if path in boot and n < BOOT_MIN_N:
        return f"fewer than {BOOT_MIN_N} images ({n}): no bootstrap interval"
    if path in ("agreement.r_ci", "agreement.r_ci_bootstrap", "agreement.ccc_ci"):
        why = _pair_reason(n, sd_m, sd_h, "model means", "human means")
        if why:
            return why
    if path == "agreement.r_ci" and n < 4:
        return f"fewer than 4 images ({n}): no Fisher-z interval"
    if path == "agreement.r_ci" or path == "agreement.r_ci_bootstrap":
        return "r is ±1 in the resamples or undefined"
    if path == "agreement.ccc_ci":
        return "r is 0 or the CCC is ±1: Lin's standard error is undefined"
    if (path in ("agreement.icc_a1", "agreement.icc_a1_ci") and n >= 2
            and not s.tost.degenerate and not (_const(sd_m) and _const(sd_h))):
        return ("MSR + (k-1) MSE + k (MSC - MSE) / n is 0 or less (few images whose model and "
                "human means mirror each other): ICC(A,1) is undefined")
    if path in ("agreement.icc_a1_ci", "agreement.icc_c1_ci") and n >= 2:
        return "d = m - h is constant (residual mean square 0): no F interval"
    if path == "agreement.mae_ci":
        return "the bootstrap MAEs all lie on one side of the estimate: no BCa interval"
    if path == "agreement.ba_slope_p" and math.isfinite(s.agreement.ba_slope):
        return ("d is an exact linear function of (m + h) / 2 (residuals 0, constant d "
                "included): t is undefined")
    if head == "agreement":
        if n < 2:
            return f"fewer than 2 images ({n})"
        if path.startswith("agreement.ba_") and n < 3:
            return f"fewer than 3 images ({n})"
        if path.startswith("agreement.ba_slope"):
            return "the averages (m + h) / 2 are all equal"
        if path.startswith("agreement.icc") or path == "agreement.ccc":
            return "model and human means are constant: no variance to share"
    if head == "homogeneity":
        if path == "homogeneity.image_sd_human":
            return "the human sheet has no per-image SDs"
        if path == "homogeneity.image_sd_model":
            return "no image has 2 or more valid answers"
        if n < 2:
            return f"fewer than 2 images ({n})"
        if path == "homogeneity.ratio":
            return "the human means are all equal (SD 0)"
        if path == "homogeneity.p":
            return "fewer than 3 images, or m + h or m - h constant"
    if head == "holm":
        return "the raw p-value is undefined (see its own note)"
    if head == "expected":
        e = s.expected
        if e is None:
            return "the run has no expected ratings (made without --logprobs)"
        if e.n_images == 0:
            return "no image has both an expected rating and a human mean"
        if path == "expected.digit_mass_mean":
            return ("the digits' probability mass was not stored (a run made before it "
                    "was, or an import)")
        return "undefined for the expected ratings (too few images or constant values)"
    return "undefined for these data"


def _human_reason(path: str, s: AspectStats) -> str:
    c = s.human
    if c is None:
        return s.human_note or "the human sheet has no per-image SDs and rater counts"
    key = path.split(".")[1] if "." in path else ""
    if key == "reliability" or (key in ("r_ceiling", "r_disattenuated")
                                and not (c.reliability > 0)):
        if c.n_images < 2:
            return f"fewer than 2 images with a human SD ({c.n_images})"
        if math.isfinite(c.reliability):
            return (f"the human means' reliability is {c.reliability:.3f} <= 0: their "
                    "noise exceeds their spread")
        return "the human means are all equal"
    if key in ("model_reliability", "r_ceiling", "r_disattenuated"):
        if s.n_repeats <= 1:
            return (f"one answer per image (K = {s.n_repeats}): the reliability of the "
                    "model's means is undefined")
        if math.isfinite(c.model_reliability):
            return f"the model means' reliability ICC(1,k) is {c.model_reliability:.3f} <= 0"
        return "the model means' reliability ICC(1,k) is undefined (see icc)"
    if key in ("rater_equivalents", "rater_equivalents_ci") and not (c.model_mse_true > 0):
        return (f"the model's MSE ({c.model_mse:.3g}) is within the human means' own noise "
                f"({c.noise_mse:.3g}): indistinguishable from it")
    if key == "rater_equivalents_ci":
        if path.endswith(".1"):
            return ("unbounded: in more than alpha/2 of the resamples the model's MSE was "
                    "within the human means' noise")
        if c.n_images < BOOT_MIN_N:
            return f"fewer than {BOOT_MIN_N} images with a human SD ({c.n_images})"
        return "the human SDs are all 0"
    if key == "r":
        return _pair_reason(c.n_images, 1.0, 1.0, "", "") or "the model or human means are constant"
    if key == "sd_correlation":
        return (f"fewer than 3 images with both SDs ({c.sd_correlation_n}), or the model's "
                "or the humans' per-image SDs are constant")
    return "undefined for these data"


def aspect_notes(
    aspect_json: dict[str, Any], s: AspectStats, cross: dict[int, Any], k_cap: int
) -> list[str]:
    """Notes naming the reason for every null of one aspect's JSON block, plus the
    cross_by_k rows left null beyond the aspect's own K."""
    by_reason: dict[str, list[str]] = {}
    for path in null_paths(aspect_json):
        by_reason.setdefault(_reason(path, s), []).append(path)
    notes = [f"{', '.join(paths)}: {why}" for why, paths in by_reason.items()]
    if s.errors_by_k and s.errors_by_k[0].n_excluded:
        k_top, row = len(s.errors_by_k), s.errors_by_k[0]
        notes.append(f"errors_by_k: on the {row.n} images whose first {k_top} answers are "
                     f"all valid, the same images at every k ({row.n_excluded} analysed "
                     "images with a missing or invalid answer among them are left out)")
    if s.human is not None and abs(s.human.r_disattenuated) > 1:
        notes.append(f"human.r_disattenuated: {s.human.r_disattenuated:.3f}, beyond ±1: |r| "
                     "exceeds its estimated ceiling (sampling error in r and the two "
                     "reliabilities); read it as ±1")
    icc1k = s.icc.ICC1k.value
    if math.isfinite(icc1k) and icc1k < 0:
        notes.append(f"icc.ICC1k.value: {icc1k:.3g} < 0 (shown as '< 0'): the images differ "
                     "less than one image's answers do (MSB < MSW); no reliability, read it as 0")
    if k_cap > s.n_repeats and cross:
        notes.append(
            f"cross_by_k {s.n_repeats + 1}..{k_cap}: this aspect has K = {s.n_repeats} repeats"
        )
    return notes
