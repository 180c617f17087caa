"""The case images (the reference study's Figs. 15–18): per aspect, the images where the
model is furthest above and below the humans (``StudyStats`` cases), each with its model
mean, human mean and d. Only when the run's dataset images are there."""

from __future__ import annotations

import numpy as np

from vlmrate.inputs.dataset import normalise_id

from .inputs import RunInput
from .made import Made, num
from .style import DOUBLE, new_figure

PER_SIDE = 2  # images above and below per aspect
THUMB_PX = 360


def _thumbnail(run: RunInput, image_id: str) -> np.ndarray | None:
    from vlmrate.inputs.images import ImageProblem, load_image

    path = run.images.get(normalise_id(image_id))
    if path is None:
        return None
    try:
        image = load_image(path, run.images_root)
    except (ImageProblem, OSError, ValueError):
        return None
    image.thumbnail((THUMB_PX, THUMB_PX))
    return np.asarray(image)


def case_images(run: RunInput) -> Made | None:
    if not run.images:
        return None
    rows = []
    for a in run.aspects:
        c = run.stats.aspects[a].cases
        picks = [*c.most_positive.head(PER_SIDE).iter_rows(named=True),
                 *c.most_negative.head(PER_SIDE).iter_rows(named=True)]
        rows.append((a, [p for p in picks if p["d"] is not None]))
    cols = 2 * PER_SIDE
    fig, axes = new_figure(DOUBLE, 2.0 * len(rows) + 0.2, len(rows), cols)
    parts, shown = [], 0
    for i, (a, picks) in enumerate(rows):
        for j in range(cols):
            ax = axes[i][j]
            ax.set_axis_off()  # an image, no axes (the title stays)
            if j >= len(picks):
                ax.set_visible(False)
                continue
            p = picks[j]
            pixels = _thumbnail(run, p["image_id"])
            if pixels is not None:
                ax.imshow(pixels)
                shown += 1
            else:
                ax.text(0.5, 0.5, "image not found", ha="center", va="center",
                        transform=ax.transAxes, fontsize=6)
            ax.set_title(f"{a}: {p['image_id']}\nmodel {num(p['mean'])}, human "
                         f"{num(p['human'])}, d {num(p['d'])}", fontsize=6.5)
            parts.append(f"{a} {p['image_id']} d = {num(p['d'])}")
    if not shown:
        return None
    caption = (f"Case images: per aspect the {PER_SIDE} images where the model's mean rating "
               f"is furthest above the human mean (left) and the {PER_SIDE} furthest below "
               "(right), with both means and d = model − human. " + "; ".join(parts) + ".")
    return Made("fig09_case_images", "Case images", caption, fig)
