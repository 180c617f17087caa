"""LLaVA-NeXT's anyres image-token count, written out from the paper's description for
the tests (independently of vlmrate.preflight.projection and of vLLM's code).

1. Pick the grid resolution (H, W) among the pinpoints that keeps the most of the image's
   pixels when the image is scaled to fit inside it (ties: the least unused area).
2. The grid is (H/336) x (W/336) tiles of 24 x 24 features: a (24 H/336) x (24 W/336)
   feature map; the image was scaled to fit and centred, so the rows (or columns) that
   are only padding are removed: with s = map width / image width (or height), the image
   covers round(image height x s) rows, and floor((map rows - covered) / 2) rows go on each
   side.
3. One newline token after every remaining row; the downscaled base tile adds 24 x 24.
"""

from __future__ import annotations

TILE, FEATURES = 336, 24  # pixels per tile, features per tile side (336 / 14)
PINPOINTS = [(336, 672), (672, 336), (672, 672), (1008, 336), (336, 1008)]  # (H, W)


def anyres_image_tokens(width: int, height: int) -> int:
    candidates = []
    for grid_h, grid_w in PINPOINTS:
        scale = min(grid_w / width, grid_h / height)
        covered = min(int(width * scale) * int(height * scale), width * height)
        candidates.append((-covered, grid_w * grid_h - covered, grid_h, grid_w))
    _, _, grid_h, grid_w = min(candidates)
    rows, cols = FEATURES * grid_h // TILE, FEATURES * grid_w // TILE
    if width * rows > height * cols:  # relatively wider than the map: trim rows
        covered_rows = round(height * cols / width)
        rows -= 2 * ((rows - covered_rows) // 2)
    else:
        covered_cols = round(width * rows / height)
        cols -= 2 * ((cols - covered_cols) // 2)
    return rows * cols + rows + FEATURES * FEATURES
