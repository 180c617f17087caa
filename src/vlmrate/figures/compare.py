"""`vlmrate figures --compare`: several runs on their common images, from
``vlmrate.stats.compare`` (per-run MAE and r with their intervals, the MAE of
the first k answers, the images where the runs disagree most)."""

from __future__ import annotations

import numpy as np

from vlmrate.stats.compare import Comparison, disagreements

from .made import Made, ci, finite, num, pct
from .style import DOUBLE, GREY, new_figure, rating_axis, series

N_DISAGREE = 12


def _aspects(c: Comparison) -> list[str]:
    return [a for a, s in c.aspects.items() if s.n_common]


def _names(c: Comparison) -> list[str]:
    return [r["name"] for r in c.runs]


def mae_r(c: Comparison) -> Made | None:
    aspects, names = _aspects(c), _names(c)
    if not aspects:
        return None
    fig, axes = new_figure(DOUBLE, 2.7, 1, 2)
    x = np.arange(len(aspects))
    width = 0.7 / max(1, len(names))
    parts = []
    for j, name in enumerate(names):
        style = series(j)
        offset = (j - (len(names) - 1) / 2) * width
        for ax, key in ((axes[0][0], "mae"), (axes[0][1], "r")):
            values = np.array([getattr(c.aspects[a].runs[name], key) for a in aspects],
                              dtype=float)
            bands = np.array([getattr(c.aspects[a].runs[name], f"{key}_ci") for a in aspects],
                             dtype=float)
            ax.errorbar(x + offset, values, yerr=np.vstack([values - bands[:, 0], bands[:, 1] - values]),
                        fmt=style["marker"], color=style["color"], capsize=2, linewidth=0.8,
                        label=name)
        for a in aspects:
            s = c.aspects[a].runs[name]
            parts.append(f"{name} {a}: MAE {num(s.mae)} {ci(s.mae_ci)}, r {num(s.r)} "
                         f"{ci(s.r_ci)}")
    for ax, label in ((axes[0][0], "MAE vs human mean (scale points)"),
                      (axes[0][1], "Pearson r vs human mean")):
        ax.set_xticks(x, aspects)
        ax.set_ylabel(label)
    axes[0][0].set_ylim(bottom=0)
    _legend(fig, axes[0][0])
    n = ", ".join(f"{a} n = {c.aspects[a].n_common}" for a in aspects)
    caption = (f"The runs on their common images ({n}): MAE and Pearson r of each run's "
               f"per-image mean against the human mean with {pct(c.confidence)} intervals (MAE: "
               "BCa bootstrap over images; r: Fisher z). " + "; ".join(parts) + ".")
    return Made("cmp01_mae_r", "MAE and r per run", caption, fig)


def mae_by_k(c: Comparison) -> Made | None:
    aspects, names = _aspects(c), _names(c)
    if not aspects:
        return None
    fig, axes = new_figure(DOUBLE, 2.6, 1, len(aspects), sharey=True)
    parts = []
    for i, a in enumerate(aspects):
        ax = axes[0][i]
        for j, name in enumerate(names):
            rows = c.aspects[a].runs[name].mae_by_k
            if not rows:
                continue
            style = series(j)
            ax.plot([k for k, _ in rows], [v for _, v in rows], color=style["color"],
                    marker=style["marker"], linestyle=style["linestyle"], markersize=3,
                    label=name)
            parts.append(f"{name} {a}: {num(rows[0][1])} (k = 1) to {num(rows[-1][1])} "
                         f"(k = {rows[-1][0]})")
        ax.set_title(f"{a} (n = {c.aspects[a].n_common})")
        ax.set_xlabel("k (first k answers averaged)")
    axes[0][0].set_ylabel("MAE vs human mean (scale points)")
    _legend(fig, axes[0][0])
    caption = ("MAE of each run's mean of its first k answers against the human mean, on "
               "the common images. " + "; ".join(parts) + ".")
    return Made("cmp02_mae_by_k", "MAE by k per run", caption, fig)


def disagreement(c: Comparison, scale: tuple[int, int]) -> Made | None:
    aspects, names = _aspects(c), _names(c)
    if not aspects:
        return None
    fig, axes = new_figure(DOUBLE, 1.2 + 0.16 * N_DISAGREE, 1, len(aspects))
    parts = []
    for i, a in enumerate(aspects):
        ax = axes[0][i]
        top = disagreements(c.aspects[a], N_DISAGREE)
        y = np.arange(top.height)[::-1]
        for j, name in enumerate(names):
            style = series(j)
            ax.plot(top[f"{name}_mean"].to_numpy(), y, linestyle="none",
                    marker=style["marker"], color=style["color"], markersize=3.5, label=name)
        ax.plot(top["human"].to_numpy(), y, linestyle="none", marker="|", color=GREY,
                markersize=7, label="human mean")
        ax.set_yticks(y, top["image_id"].to_list(), fontsize=5.5)
        rating_axis(ax, "x", scale, f"mean rating ({scale[0]}–{scale[1]})")
        ax.set_title(a)
        if top.height and finite(top["spread"][0]):
            parts.append(f"{a}: largest spread {num(top['spread'][0])} ({top['image_id'][0]})")
    _legend(fig, axes[0][0])
    caption = (f"The {N_DISAGREE} common images per aspect where the runs' mean ratings "
               "differ most (spread = largest − smallest run mean), with each run's mean "
               "(markers) and the human mean (bar). " + "; ".join(parts) + ".")
    return Made("cmp03_disagreements", "Where the runs disagree", caption, fig)


def _legend(fig, ax) -> None:
    """One legend below the panels (never over the data)."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(4, len(labels)))
