"""The reference study's figures: per-image SD of the answers (Fig. 1), ICC per aspect
(2), correlations of the model's ratings between aspects (3), model − human differences
(4) and the mean of the first k answers against the human mean (5–14, one small-multiples
figure per aspect). Every number drawn is a field of StudyStats or a
``vlmrate.stats.figure_data`` frame."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.ticker import MaxNLocator

from vlmrate.stats.figure_data import aspect_column, correlation_matrix, first_k_vs_human

from .inputs import RunInput
from .made import Made, ci, finite, num, p_text, pct
from .style import BAND, DOUBLE, GREY, PALETTE, SINGLE, dots, new_figure, rating_axis, series


def _panel_grid(n: int, per_row: int = 3) -> tuple[int, int]:
    cols = min(n, per_row)
    return math.ceil(n / cols), cols


def sd_per_image(run: RunInput) -> Made | None:
    """Fig. 1: histogram of the per-image SD of the answers, per aspect, with the mean
    and median SD (stats.stability)."""
    aspects = [a for a in run.aspects if aspect_column(run.stats.per_image, a, "sd").size]
    if not aspects:  # one answer per image: no SD
        return None
    rows, cols = _panel_grid(len(aspects))
    fig, axes = new_figure(DOUBLE, 2.0 * rows + 0.3, rows, cols, sharey=True)
    top = max(0.5, *(float(np.max(aspect_column(run.stats.per_image, a, "sd"), initial=0))
                     for a in aspects))
    edges = np.arange(0.0, top + 0.25, 0.125)
    parts = []
    for i, a in enumerate(aspects):
        ax = axes[i // cols][i % cols]
        values = aspect_column(run.stats.per_image, a, "sd")
        s = run.stats.aspects[a]
        ax.hist(values, bins=edges, color=BAND, edgecolor="black", linewidth=0.4)
        ax.axvline(s.stability.sd_mean, color=PALETTE[0], linestyle="-", linewidth=1,
                   label="mean SD")
        ax.axvline(s.stability.sd_median, color=PALETTE[4], linestyle="--", linewidth=1,
                   label="median SD")
        ax.set_title(f"{a} (n = {values.size}, K = {s.n_repeats})")
        ax.set_xlabel("SD of an image's answers (scale points)")
        parts.append(f"{a}: mean {num(s.stability.sd_mean)}, median "
                     f"{num(s.stability.sd_median)} (n = {values.size})")
    axes[0][0].set_ylabel("images")
    axes[0][0].yaxis.set_major_locator(MaxNLocator(integer=True))  # counts (shared y)
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="outside lower center", ncols=2)
    _hide_unused(axes, len(aspects), cols)
    caption = ("Per-image standard deviation of the model's answers (up to K repeats per "
               "image, SD with n − 1, images with at least two valid answers); solid line "
               "the mean, dashed the median. " + "; ".join(parts) + ".")
    return Made("fig01_sd_per_image", "Stability of the answers", caption, fig)


def icc_per_aspect(run: RunInput) -> Made | None:
    """Fig. 2: ICC(1,1) and ICC(1,k) per aspect with their F-based intervals."""
    aspects = [a for a in run.aspects if finite(run.stats.aspects[a].icc.ICC1.value)]
    if not aspects:  # one answer per image: no ICC
        return None
    fig, axes = new_figure(SINGLE, 2.4)
    ax = axes[0][0]
    conf = pct(run.stats.confidence)
    x = np.arange(len(aspects))
    parts = []
    bottom = 0.0
    for j, (key, label) in enumerate((("ICC1", "ICC(1,1)"), ("ICC1k", "ICC(1,k)"))):
        style = series(j)
        est = [getattr(run.stats.aspects[a].icc, key) for a in aspects]
        values = np.array([e.value for e in est], dtype=float)
        lo = np.array([e.ci[0] for e in est], dtype=float)
        hi = np.array([e.ci[1] for e in est], dtype=float)
        ax.errorbar(x + (j - 0.5) * 0.25, values, yerr=np.vstack([values - lo, hi - values]),
                    fmt=style["marker"], color=style["color"], capsize=2, linewidth=0.8,
                    label=label)
        low = np.concatenate([values, lo])
        low = low[np.isfinite(low)]
        bottom = min(bottom, float(low.min()) if low.size else 0.0)
        for a, e in zip(aspects, est, strict=True):
            parts.append(f"{a} {label} {num(e.value)} {ci(e.ci)}")
    ax.set_xticks(x, aspects)
    ax.set_ylim(bottom - 0.05 if bottom < 0 else 0, 1.02)  # a negative ICC stays in view
    ax.set_ylabel(f"ICC (with {conf} CI)")
    ax.axhline(0, color=GREY, linewidth=0.5)
    ax.legend(loc="best")
    n = ", ".join(f"{a} n = {run.stats.aspects[a].n_images}, K = "
                  f"{run.stats.aspects[a].n_repeats}" for a in aspects)
    caption = (f"Reliability of the repeated answers: one-way random-effects ICC(1,1) (one "
               f"answer) and ICC(1,k) (the mean of k answers) with {conf} F-based "
               f"confidence intervals ({n}). " + "; ".join(parts) + ".")
    return Made("fig02_icc", "ICC per aspect", caption, fig, "single")


def between_aspects(run: RunInput) -> Made | None:
    """Fig. 3: Pearson r between the aspects' per-image model means."""
    aspects = run.aspects
    if len(aspects) < 2:
        return None
    matrix = correlation_matrix(run.stats.between_aspects, aspects)
    fig, axes = new_figure(SINGLE, 2.9)
    ax = axes[0][0]
    image = ax.imshow(matrix, vmin=-1, vmax=1, cmap="PuOr_r")
    for i in range(len(aspects)):
        for j in range(len(aspects)):
            value = matrix[i, j]
            ax.text(j, i, num(value), ha="center", va="center", fontsize=7,
                    color="white" if abs(value) > 0.6 else "black")
    ax.set_xticks(range(len(aspects)), aspects, rotation=30, ha="right")
    ax.set_yticks(range(len(aspects)), aspects)
    ax.spines[:].set_visible(False)
    fig.colorbar(image, ax=ax, shrink=0.8, label="Pearson r")
    parts = [f"{pair.replace('~', '–')} r = {num(c.r)} (n = {c.n})"
             for pair, c in run.stats.between_aspects.items()
             if all(a in aspects for a in pair.split("~"))]
    caption = ("Pearson correlations between the aspects of the model's per-image mean "
               "ratings (images rated on both aspects). " + "; ".join(parts) + ".")
    return Made("fig03_between_aspects", "Correlations between aspects", caption, fig,
                "single")


def differences(run: RunInput) -> Made:
    """Fig. 4: d = model mean − human mean per image, per aspect, with the
    Hodges–Lehmann estimate and its interval and the TOST bounds."""
    aspects = run.aspects
    rows, cols = _panel_grid(len(aspects))
    fig, axes = new_figure(DOUBLE, 2.0 * rows + 0.3, rows, cols, sharex=True, sharey=True)
    values = {a: aspect_column(run.stats.per_image, a, "d") for a in aspects}
    top = max(1.0, *(float(np.max(np.abs(v), initial=0)) for v in values.values()))
    edges = np.arange(-math.ceil(top * 4) / 4, math.ceil(top * 4) / 4 + 0.25, 0.25)
    bound = run.stats.bound
    parts = []
    for i, a in enumerate(aspects):
        ax = axes[i // cols][i % cols]
        w = run.stats.aspects[a].wilcoxon
        ax.hist(values[a], bins=edges, color=BAND, edgecolor="black", linewidth=0.4)
        ax.axvspan(*w.hodges_lehmann_ci, color=PALETTE[2], alpha=0.35, linewidth=0,
                   label=f"{pct(run.stats.confidence)} CI")
        ax.axvline(w.hodges_lehmann, color=PALETTE[0], linewidth=1, label="Hodges–Lehmann")
        ax.axvline(0, color=GREY, linewidth=0.6, linestyle=":")
        ax.axvline(-bound, color=PALETTE[4], linewidth=0.8, linestyle="--",
                   label=f"bounds ±{bound:g}")
        ax.axvline(bound, color=PALETTE[4], linewidth=0.8, linestyle="--")
        ax.set_title(f"{a} (n = {values[a].size})")
        ax.set_xlabel("d (scale points)")
        parts.append(f"{a}: Hodges–Lehmann {num(w.hodges_lehmann)} "
                     f"{ci(w.hodges_lehmann_ci)}, Wilcoxon p {p_text(w.p_two_sided)} "
                     f"(n = {values[a].size})")
    axes[0][0].set_ylabel("images")
    axes[0][0].yaxis.set_major_locator(MaxNLocator(integer=True))  # counts (shared y)
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="outside lower center", ncols=3)
    _hide_unused(axes, len(aspects), cols)
    caption = (f"Per-image difference d = model mean − human mean (histogram); "
               f"solid line: Hodges–Lehmann estimate, shaded: its "
               f"{pct(run.stats.confidence)} confidence interval; dashed: the equivalence "
               f"bounds ±{bound:g}. " + "; ".join(parts) + ".")
    return Made("fig04_differences", "Model − human differences", caption, fig)


def first_k(run: RunInput, aspect: str, index: int) -> Made | None:
    """Figs. 5–14: per k = 1..K, the mean of the first k answers against the human mean,
    with the identity line, r and MAE of that k (stats errors_by_k)."""
    s = run.stats.aspects[aspect]
    rows_k = s.errors_by_k
    if not rows_k:
        return None
    points = first_k_vs_human(run.ratings, run.human, aspect, k_max=len(rows_k))
    n_k = len(rows_k)
    cols = min(5, n_k)
    rows = math.ceil(n_k / cols)
    fig, axes = new_figure(DOUBLE, 1.55 * rows + 0.3, rows, cols, sharex=True, sharey=True)
    lo, hi = run.scale
    for i, e in enumerate(rows_k):
        ax = axes[i // cols][i % cols]
        part = points.filter(points["k"] == e.k)
        ax.plot([lo, hi], [lo, hi], color=GREY, linewidth=0.6, linestyle="--")
        ax.scatter(part["human"].to_numpy(), part["model"].to_numpy(), s=4,
                   color=PALETTE[5], marker="o", linewidths=0, alpha=0.7,
                   **dots(part.height))
        ax.set_title(f"k = {e.k}", pad=2)
        ax.text(0.03, 0.97, f"r = {num(e.r)}\nMAE = {num(e.mae)}", transform=ax.transAxes,
                va="top", ha="left", fontsize=6)
        rating_axis(ax, "x", run.scale, "")
        rating_axis(ax, "y", run.scale, "")
        ax.set_xticks([lo, (lo + hi) // 2, hi])
        ax.set_yticks([lo, (lo + hi) // 2, hi])
        ax.set_aspect("equal")
    _hide_unused(axes, n_k, cols)
    fig.supxlabel(f"human mean ({run.scale_label})", fontsize=8)
    fig.supylabel(f"model mean of the\nfirst k answers ({run.scale_label})", fontsize=8)
    first, last = rows_k[0], rows_k[-1]
    caption = (f"{aspect}: the model's mean of its first k answers against the human mean, "
               f"k = 1..{n_k}, one panel per k (n = {last.n} images at k = {n_k}); dashed: "
               f"identity. Pearson r is {num(first.r)} at k = 1 and {num(last.r)} at "
               f"k = {n_k}; MAE {num(first.mae)} and {num(last.mae)} scale points.") if n_k > 1 else (
               f"{aspect}: the model's answer against the human mean (n = {first.n}); "
               f"r = {num(first.r)}, MAE = {num(first.mae)}.")
    return Made(f"fig05_first_k_{index + 1:02d}_{_slug(aspect)}",
                f"{aspect}: first k answers vs human", caption, fig)


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in text)[:60]


def _hide_unused(axes, used: int, cols: int) -> None:
    flat = [ax for row in axes for ax in row]
    for ax in flat[used:]:
        ax.set_visible(False)
