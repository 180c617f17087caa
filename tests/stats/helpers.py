"""Build the Polars frames of the stats input contract from plain arrays."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl


def ratings_frame(
    matrices: dict[str, np.ndarray],
    ids: Sequence[str] | None = None,
    *,
    engine_error_at: Sequence[tuple[str, str, int]] = (),
) -> pl.DataFrame:
    """Long ratings from {aspect: images x K matrix}; NaN -> null rating with a
    parse_error (or an engine_error for the (image, aspect, repeat) keys listed)."""
    rows = []
    engine = set(engine_error_at)
    for aspect, x in matrices.items():
        names = ids if ids is not None else [f"img{i:03d}" for i in range(x.shape[0])]
        for i, image in enumerate(names):
            for j in range(x.shape[1]):
                v = x[i, j]
                is_engine = (image, aspect, j + 1) in engine
                rows.append(
                    {
                        "image_id": image,
                        "aspect": aspect,
                        "repeat": j + 1,
                        "rating": None if np.isnan(v) else int(v),
                        "reason": None if np.isnan(v) else f"reason {image} {aspect} {j + 1}",
                        "raw": "raw",
                        "parse_error": "no_rating" if np.isnan(v) and not is_engine else None,
                        "engine_error": "boom" if is_engine else None,
                    }
                )
    return pl.DataFrame(
        rows,
        schema={
            "image_id": pl.String,
            "aspect": pl.String,
            "repeat": pl.Int64,
            "rating": pl.Int64,
            "reason": pl.String,
            "raw": pl.String,
            "parse_error": pl.String,
            "engine_error": pl.String,
        },
    )


def human_frame(means: dict[str, np.ndarray], ids: Sequence[str] | None = None) -> pl.DataFrame:
    rows = []
    for aspect, h in means.items():
        names = ids if ids is not None else [f"img{i:03d}" for i in range(h.shape[0])]
        for image, v in zip(names, h, strict=True):
            if not np.isnan(v):
                rows.append(
                    {
                        "image_id": image,
                        "aspect": aspect,
                        "human_mean": float(v),
                        "human_sd": 1.0,
                        "human_n": 20,
                    }
                )
    return pl.DataFrame(
        rows,
        schema={
            "image_id": pl.String,
            "aspect": pl.String,
            "human_mean": pl.Float64,
            "human_sd": pl.Float64,
            "human_n": pl.Int64,
        },
    )
