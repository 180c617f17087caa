"""Multiplicity across a study's aspects."""

from __future__ import annotations

import math
from collections.abc import Mapping


def holm(p: Mapping[str, float]) -> dict[str, float]:
    """Holm (1979) step-down adjusted p-values, keys in the order given.

    With the m defined p-values sorted ascending p_(1) <= ... <= p_(m):
    p~_(i) = max_{j <= i} min(1, (m - j + 1) p_(j)). Undefined p (NaN, None) stay NaN
    and do not count in m (R's ``p.adjust(p, "holm")`` with NA).
    """
    keys = list(p)
    defined = [
        (float(v), k) for k, v in p.items() if v is not None and not math.isnan(float(v))
    ]
    defined.sort(key=lambda pair: pair[0])
    m = len(defined)
    out = {k: math.nan for k in keys}
    running = 0.0
    for j, (value, key) in enumerate(defined):
        running = max(running, min(1.0, (m - j) * value))
        out[key] = running
    return out
