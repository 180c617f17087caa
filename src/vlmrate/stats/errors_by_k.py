"""Error of the model mean against the human mean as a function of k repeats.

The curve for k = 1..k_top uses one set of images at every k: those whose first k_top
repeats are all valid answers (images with a missing or invalid answer among them are
left out, ``n_excluded``), so that the curve compares the same images and each image's
mean at k is the mean of exactly k answers. For each k the reference study's "group k"
takes, per image, the mean of repeats 1..k and compares it with the human mean: MAE,
MSE, Pearson r. Because the first k repeats are only one of the C(K, k) possible
k-subsets, the expected MAE over random k-subsets of an image's valid answers is
estimated too: each Monte-Carlo draw gives every image an independent uniformly random
order of its valid answers (so the subsets are nested in k), and ``mae_subsets`` is the
mean MAE over draws,
``mae_subsets_se`` its Monte-Carlo standard error (SD over draws / sqrt(draws)) and
``mae_subsets_ci`` the central ``confidence`` range of the draws (percentiles).

The random orders come from sorting packed integer keys (random high bits, the rating
code in the low bits) along the repeat axis, in blocks of draws: no Python loop over
images or draws, only over blocks and k.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

NAN = float("nan")
MC_CHUNK_ELEMENTS = 4_000_000

SeedLike = int | np.random.SeedSequence | np.random.Generator | None


@dataclass(frozen=True)
class ErrorAtK:
    k: int
    n: int  # images with a valid answer in every repeat 1..k_top (the same at every k)
    mae: float
    mse: float
    r: float
    mae_subsets: float
    mae_subsets_ci: tuple[float, float]  # central ``confidence`` range over draws
    mae_subsets_se: float = NAN  # Monte-Carlo SE of mae_subsets
    n_excluded: int = 0  # images with a human mean left out: an invalid answer in 1..k_top

    @property
    def n_images(self) -> int:
        """The images of the curve (the same at every k)."""
        return self.n


def first_k_means(x: np.ndarray, k_max: int | None = None) -> np.ndarray:
    """(images x K) array: column k-1 is the mean of the valid answers among repeats
    1..k (NaN where there is none)."""
    k_top = x.shape[1] if k_max is None else min(k_max, x.shape[1])
    valid = ~np.isnan(x[:, :k_top])
    sums = np.cumsum(np.where(valid, x[:, :k_top], 0.0), axis=1)
    counts = np.cumsum(valid, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, np.nan)


def _r(x: np.ndarray, y: np.ndarray) -> float:
    ok = ~(np.isnan(x) | np.isnan(y))
    if ok.sum() < 3:
        return NAN
    xc = x[ok] - x[ok].mean()
    yc = y[ok] - y[ok].mean()
    den = np.sqrt((xc * xc).sum() * (yc * yc).sum())  # no BLAS: see agreement.pearson
    return float(np.clip((xc * yc).sum() / den, -1, 1)) if den > 0 else NAN


def _codes(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """Encode x as small non-negative integer codes (0 = missing), a lookup table, the
    code width in bits and whether codes equal the values.

    Integer ratings 1..15 are their own codes (table = identity), so the sorted keys
    give the values with a mask and no lookup.
    """
    valid = ~np.isnan(x)
    vals = x[valid]
    if vals.size == 0 or (np.all(vals == np.round(vals)) and vals.min() >= 1 and vals.max() <= 15):
        codes = np.where(valid, x, 0).astype(np.uint64)
        table = np.concatenate([[np.nan], np.arange(1, 16, dtype=np.float64)])
        return codes, table, 4, True
    uniq, inv = np.unique(vals, return_inverse=True)
    codes = np.zeros(x.shape, dtype=np.uint64)
    codes[valid] = inv.astype(np.uint64) + 1
    table = np.concatenate([[np.nan], uniq])
    bits = max(1, int(np.ceil(np.log2(uniq.size + 1))))
    return codes, table, bits, False


def subset_maes(
    x: np.ndarray, h: np.ndarray, k_top: int, n_draws: int = 200, seed: SeedLike = 0
) -> np.ndarray:
    """(n_draws x k_top) MAE of random k-subset means vs h, per draw and k: each draw
    orders every image's valid answers at random (invalid ones last), the k-subset is
    the first k; an image with fewer than k valid answers averages the ones it has."""
    n, k_all = x.shape
    out = np.full((n_draws, k_top), np.nan)
    if n == 0 or k_all == 0 or n_draws <= 0:
        return out
    rng = np.random.default_rng(seed)
    codes, table, bits, identity = _codes(x)
    all_valid = not np.isnan(x).any()
    if bits <= 4:
        dtype, rand_bits = np.uint32, 32 - bits
        codes = codes.astype(np.uint32)
    else:
        dtype, rand_bits = np.uint64, 64 - bits
    mask = dtype((1 << bits) - 1)
    block = max(1, min(n_draws, MC_CHUNK_ELEMENTS // (n * k_all)))
    for start in range(0, n_draws, block):
        b = min(block, n_draws - start)
        keys = rng.integers(0, (1 << rand_bits) - 1, size=(b, n, k_all), dtype=dtype)
        keys <<= dtype(bits)
        keys |= codes[None]
        if not all_valid:  # invalid answers (code 0) sort after every valid one
            keys[:, codes == 0] = dtype(~dtype(0) ^ mask)
        keys.sort(axis=2)
        keys &= mask
        sums = np.zeros((b, n))
        counts = np.zeros((b, n))
        err = np.empty((b, n))
        for k in range(1, k_top + 1):
            col = keys[:, :, k - 1]
            if identity:
                sums += col
            else:
                sums += np.nan_to_num(table[col], nan=0.0)
            if all_valid:
                np.divide(sums, k, out=err)
            else:
                counts += col > 0
                with np.errstate(invalid="ignore", divide="ignore"):
                    np.divide(sums, counts, out=err)
            err -= h
            np.abs(err, out=err)
            if all_valid:
                out[start : start + b, k - 1] = err.mean(axis=1)
            else:
                has = counts > 0
                err[~has] = 0.0
                with np.errstate(invalid="ignore", divide="ignore"):
                    out[start : start + b, k - 1] = err.sum(axis=1) / has.sum(axis=1)
    return out


def errors_by_k(
    x: np.ndarray,
    h: np.ndarray,
    *,
    k_max: int | None = None,
    n_draws: int = 200,
    seed: SeedLike = 0,
    confidence: float = 0.95,
) -> list[ErrorAtK]:
    """Errors by k for a repeat matrix ``x`` (images x K, NaN = invalid) and human
    means ``h`` (rows with a NaN human mean are ignored). k runs 1..min(K, k_max)."""
    x = np.asarray(x, dtype=np.float64)
    h = np.asarray(h, dtype=np.float64)
    keep = ~np.isnan(h)
    x, h = x[keep], h[keep]
    k_top = x.shape[1] if k_max is None else min(k_max, x.shape[1])
    if k_top <= 0:
        return []
    complete = ~np.isnan(x[:, :k_top]).any(axis=1)
    n_excluded = int((~complete).sum())
    x, h = x[complete], h[complete]
    means = first_k_means(x, k_top)
    sub = subset_maes(x, h, k_top, n_draws=n_draws, seed=seed)
    tails = [50 * (1 - confidence), 100 - 50 * (1 - confidence)]
    rows = []
    for k in range(1, k_top + 1):
        mk = means[:, k - 1]
        ok = ~np.isnan(mk)
        dk = mk[ok] - h[ok]
        n = int(ok.sum())
        draws = sub[:, k - 1]
        draws = draws[~np.isnan(draws)]
        rows.append(
            ErrorAtK(
                k=k,
                n=n,
                mae=float(np.abs(dk).mean()) if n else NAN,
                mse=float((dk**2).mean()) if n else NAN,
                r=_r(mk, h),
                mae_subsets=float(draws.mean()) if draws.size else NAN,
                mae_subsets_ci=(
                    tuple(float(v) for v in np.percentile(draws, tails))  # type: ignore[arg-type]
                    if draws.size
                    else (NAN, NAN)
                ),
                mae_subsets_se=(
                    float(draws.std(ddof=1) / np.sqrt(draws.size)) if draws.size > 1 else NAN
                ),
                n_excluded=n_excluded,
            )
        )
    return rows


def cross_by_k(
    model: dict[str, np.ndarray],
    human: dict[str, np.ndarray],
    model_aspects: Sequence[str],
    human_aspects: Sequence[str],
    k_max: int,
    repeats: dict[str, int] | None = None,
) -> dict[int, dict[str, dict[str, float]]]:
    """Pearson r between each model aspect's first-k mean (rows) and each human aspect
    (columns), for k = 1..k_max, over the images that have both. ``model`` holds repeat
    matrices and ``human`` human-mean vectors, all aligned over the same images.
    ``repeats`` gives each model aspect's own K: beyond it the row is NaN (there is no
    k-th repeat), never the K-repeat values again."""
    firsts = {a: first_k_means(model[a], k_max) for a in model_aspects}
    out: dict[int, dict[str, dict[str, float]]] = {}
    for k in range(1, k_max + 1):
        out[k] = {}
        for a in model_aspects:
            f = firsts[a]
            k_a = f.shape[1] if repeats is None else min(repeats.get(a, 0), f.shape[1])
            if k > k_a:
                out[k][a] = {b: NAN for b in human_aspects}
                continue
            out[k][a] = {b: _r(f[:, k - 1], human[b]) for b in human_aspects}
    return out
