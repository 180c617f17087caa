"""What vlmrate adds to the reference figures: Bland–Altman per aspect (bias, limits
and their intervals), MAE and r by k with the random-subset expectation and its band,
and the sampled against the expected (logprob) rating."""

from __future__ import annotations

import math

import numpy as np

from vlmrate.stats.figure_data import bias_ci, bland_altman_points, sampled_vs_expected

from .inputs import RunInput
from .made import Made, ci, finite, num, pct
from .style import BAND, DOUBLE, GREY, PALETTE, dots, new_figure, rating_axis, series


def _grid(n: int, per_row: int = 3) -> tuple[int, int]:
    cols = min(n, per_row)
    return math.ceil(n / cols), cols


def bland_altman(run: RunInput) -> Made:
    aspects = run.aspects
    rows, cols = _grid(len(aspects))
    fig, axes = new_figure(DOUBLE, 2.2 * rows, rows, cols, sharey=True)
    conf = run.stats.confidence
    parts = []
    for i, a in enumerate(aspects):
        ax = axes[i // cols][i % cols]
        ag = run.stats.aspects[a].agreement
        points = bland_altman_points(run.stats.per_image, a)
        d = points["d"].to_numpy()
        b_ci = bias_ci(d, conf)
        ax.scatter(points["average"].to_numpy(), d, s=5, color=PALETTE[5], marker="o",
                   linewidths=0, alpha=0.7, **dots(len(d)))
        ax.axhline(0, color=GREY, linewidth=0.5, linestyle=":")
        if finite(ag.ba_bias):
            ax.axhspan(*b_ci, color=PALETTE[2], alpha=0.35, linewidth=0, zorder=0)
            ax.axhline(ag.ba_bias, color=PALETTE[0], linewidth=1, label="bias")
        for value, band in ((ag.ba_lower, ag.ba_lower_ci), (ag.ba_upper, ag.ba_upper_ci)):
            if finite(value):
                ax.axhspan(*band, color=BAND, alpha=0.6, linewidth=0, zorder=0)
                ax.axhline(value, color=PALETTE[4], linewidth=1, linestyle="--")
        rating_axis(ax, "x", run.scale, f"(model + human) / 2 ({run.scale_label})")
        ax.set_title(f"{a} (n = {len(d)})")
        parts.append(f"{a}: bias {num(ag.ba_bias)} {ci(b_ci)}, limits {num(ag.ba_lower)} "
                     f"{ci(ag.ba_lower_ci)} and {num(ag.ba_upper)} {ci(ag.ba_upper_ci)} "
                     f"(n = {len(d)})")
    axes[0][0].set_ylabel("d = model − human (scale points)")
    _hide(axes, len(aspects))
    caption = ("Bland–Altman plots of the model's per-image mean rating against the human "
               f"mean. Solid line: bias (mean d) with its {pct(conf)} confidence interval "
               "(shaded); dashed: the 95% limits of agreement with their 95% confidence "
               "intervals (grey bands). " + "; ".join(parts) + ".")
    return Made("fig06_bland_altman", "Bland–Altman", caption, fig)


def errors_by_k(run: RunInput) -> Made | None:
    aspects = [a for a in run.aspects if run.stats.aspects[a].errors_by_k]
    if not aspects:
        return None
    cols = len(aspects)
    fig, axes = new_figure(DOUBLE, 3.8, 2, cols, sharex=True, sharey="row")
    conf = pct(run.stats.confidence)
    parts = []
    for i, a in enumerate(aspects):
        rows = run.stats.aspects[a].errors_by_k
        k = np.array([e.k for e in rows])
        mae = np.array([e.mae for e in rows], dtype=float)
        sub = np.array([e.mae_subsets for e in rows], dtype=float)
        lo = np.array([e.mae_subsets_ci[0] for e in rows], dtype=float)
        hi = np.array([e.mae_subsets_ci[1] for e in rows], dtype=float)
        r = np.array([e.r for e in rows], dtype=float)
        top, bottom = axes[0][i], axes[1][i]
        first, rand = series(0), series(1)
        top.fill_between(k, lo, hi, color=BAND, alpha=0.6, linewidth=0,
                         label=f"random k answers ({conf} of draws)")
        top.plot(k, sub, color=rand["color"], linestyle="--", marker=rand["marker"],
                 markersize=3, label="random k answers (mean)")
        top.plot(k, mae, color=first["color"], linestyle="-", marker=first["marker"],
                 markersize=3, label="first k answers")
        top.set_title(a)
        bottom.plot(k, r, color=first["color"], linestyle="-", marker=first["marker"],
                    markersize=3)
        bottom.set_xlabel("k (answers averaged)")
        bottom.set_xticks(k if len(k) <= 10 else k[:: math.ceil(len(k) / 10)])
        parts.append(f"{a}: MAE {num(rows[0].mae)} at k = 1 and {num(rows[-1].mae)} at "
                     f"k = {rows[-1].k} (random subsets {num(rows[0].mae_subsets)} "
                     f"{ci(rows[0].mae_subsets_ci)} at k = 1), r {num(rows[0].r)} to "
                     f"{num(rows[-1].r)}, n = {rows[-1].n}")
    axes[0][0].set_ylabel("MAE (scale points)")
    axes[1][0].set_ylabel("Pearson r")
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="outside lower center", ncols=3)
    caption = ("Error of the model's mean of k answers against the human mean, k = 1..K. "
               "Top: MAE of the first k answers (solid) and the expected MAE over random "
               f"k-subsets of the answers (dashed; band: the central {conf} of "
               f"{run.stats.n_draws} Monte-Carlo draws); bottom: Pearson r of the first k "
               "answers' mean. " + "; ".join(parts) + ".")
    return Made("fig07_errors_by_k", "MAE and r by k", caption, fig)


def sampled_expected(run: RunInput) -> Made | None:
    aspects = [a for a in run.aspects if run.stats.aspects[a].expected is not None]
    frames = {a: sampled_vs_expected(run.ratings, run.human, a) for a in aspects}
    aspects = [a for a in aspects if frames[a].height]
    if not aspects:
        return None
    rows, cols = _grid(len(aspects))
    fig, axes = new_figure(DOUBLE, 2.4 * rows, rows, cols)
    lo, hi = run.scale
    parts = []
    for i, a in enumerate(aspects):
        ax = axes[i // cols][i % cols]
        e = run.stats.aspects[a].expected
        frame = frames[a]
        ax.plot([lo, hi], [lo, hi], color=GREY, linewidth=0.6, linestyle="--")
        ax.scatter(frame["sampled"].to_numpy(), frame["expected"].to_numpy(), s=5,
                   color=PALETTE[5], linewidths=0, alpha=0.7, **dots(frame.height))
        rating_axis(ax, "x", run.scale, f"sampled mean rating ({run.scale_label})")
        rating_axis(ax, "y", run.scale, f"expected rating ({run.scale_label})")
        ax.set_aspect("equal")
        ax.set_title(a)
        ax.text(0.03, 0.97, f"r = {num(e.vs_sampled.r)}\nMAE = {num(e.vs_sampled.mae)}",
                transform=ax.transAxes, va="top", fontsize=6)
        parts.append(f"{a}: r = {num(e.vs_sampled.r)}, mean |m − e| = "
                     f"{num(e.vs_sampled.mae)} (n = {frame.height}); against the human mean "
                     f"the expected rating has MAE {num(e.mae)}, the sampled mean "
                     f"{num(run.stats.aspects[a].agreement.mae)}")
    _hide(axes, len(aspects))
    caption = ("Sampled against expected rating: per image, the mean of the sampled "
               "ratings m against the mean expected rating e = Σ r·P(r) from the "
               "probabilities of the scale's digits (--logprobs); dashed: identity. "
               + "; ".join(parts) + ".")
    return Made("fig08_sampled_vs_expected", "Sampled vs expected rating", caption, fig)


def human_ceiling(run: RunInput) -> Made | None:
    """The model's MAE beside the MAE of the mean of m raters (the sheet's SDs and rater
    counts; stats.human_ceiling.mean_of_m_raters_mae), per aspect with a human block."""
    aspects = [a for a in run.aspects
               if run.stats.aspects[a].human is not None
               and run.stats.aspects[a].human.rater_mean_mae]
    if not aspects:
        return None
    rows, cols = _grid(len(aspects))
    fig, axes = new_figure(DOUBLE, 2.3 * rows, rows, cols, sharey=True)
    raters, model = series(1), series(0)
    parts = []
    for i, a in enumerate(aspects):
        ax = axes[i // cols][i % cols]
        h = run.stats.aspects[a].human
        m = np.array([p.m for p in h.rater_mean_mae])
        ax.plot(m, [p.mae for p in h.rater_mean_mae], color=raters["color"],
                linestyle="--", marker=raters["marker"], markersize=3,
                label="mean of m raters (expected)")
        ax.axhline(h.model_mae, color=model["color"], linewidth=1,
                   label=f"model: mean of its answers ({num(h.model_answers, 1)} a image)")
        ax.set_xlabel("m (raters averaged)")
        ax.set_xticks(m if len(m) <= 10 else m[:: math.ceil(len(m) / 10)])
        top = max([h.model_mae, *(p.mae for p in h.rater_mean_mae)])
        ax.set_ylim(0, 1.12 * top if math.isfinite(top) and top > 0 else 1)
        ax.set_title(f"{a} (n = {h.n_images})")
        parts.append(f"{a}: model MAE {num(h.model_mae)}, one rater {num(h.rater_mae)}; in "
                     f"MSE against the true consensus the model's mean is worth "
                     f"{num(h.rater_equivalents, 1)} raters {ci(h.rater_equivalents_ci, 1)} "
                     f"(n = {h.n_images} images, {num(h.raters_mean, 1)} raters a mean)")
    axes[0][0].set_ylabel("MAE (scale points)")
    _hide(axes, len(aspects))
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="outside lower center", ncols=2)
    caption = ("The human noise ceiling: the MAE the mean of m raters would score against "
               "the mean of the sheet's other n_i - m raters (dashed; sqrt(2/pi) s_i sqrt(1/m + 1/(n_i - m)) averaged over "
               "the same images for every m, up to the fewest raters an image has minus one; "
               "normal ratings and independent raters assumed) and the model's MAE (solid "
               "line). " + "; ".join(parts) + ".")
    return Made("fig10_human_ceiling", "Human noise ceiling", caption, fig)


def _hide(axes, used: int) -> None:
    for ax in [ax for row in axes for ax in row][used:]:
        ax.set_visible(False)
