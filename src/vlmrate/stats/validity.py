"""The "Validity" sentence of an aspect: its human block (``stats.human_ceiling``) in words
a paper can use. Reads an AspectStats or its ``stats --json`` object (the same paths);
computes nothing, only formats.
"""

from __future__ import annotations

import math
from typing import Any

from .layout import value_at


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v) if math.isfinite(v) else None


def _answers(v: float | None) -> str:
    if v is None:
        return "its answers"
    if abs(v - round(v)) < 1e-9:
        n = round(v)
        return f"{n} answer{'' if n == 1 else 's'}"
    return f"its answers ({v:.1f} on average)"


def _note(data: Any) -> str:
    for note in value_at(data, "notes") or []:
        if str(note).startswith("human: "):
            return str(note)[len("human: "):]
    return "the human sheet has no per-image SDs and rater counts"


def validity_sentence(aspect: str, data: Any, level: str) -> str:
    """One sentence (clauses joined by semicolons) about how close the model's means
    come to the human consensus, given the noise of the human means; ``level`` is the
    confidence level as text ("95%")."""
    hu = value_at(data, "human")
    if hu is None:
        return f"Validity ({aspect}): no human noise ceiling: {_note(data)}."
    get = {key: _num(value_at(hu, key)) for key in (
        "model_answers", "rater_equivalents", "model_mse", "noise_mse", "rater_mae",
        "model_mae", "r", "r_ceiling", "r_disattenuated", "within_human_ci",
        "sd_correlation", "raters_mean")}
    ci = value_at(hu, "rater_equivalents_ci") or [None, None]
    lo, hi = _num(ci[0]), _num(ci[1])
    answers = _answers(get["model_answers"])
    parts = []
    if get["rater_equivalents"] is not None:
        text = (f"the mean of {answers} is as close to the consensus as the mean of "
                f"{get['rater_equivalents']:.1f} raters")
        if lo is not None:
            text += f" ({level} CI {lo:.1f} to {'unbounded' if hi is None else f'{hi:.1f}'})"
        parts.append(text)
    elif get["model_mse"] is not None and get["noise_mse"] is not None:
        parts.append(f"the mean of {answers} is indistinguishable from the human means' own "
                     f"noise (its MSE {get['model_mse']:.3f}, their error variance "
                     f"{get['noise_mse']:.3f})")
    if get["rater_mae"] is not None and get["model_mae"] is not None:
        parts.append(f"one rater would differ from the sheet by {get['rater_mae']:.2f} on "
                     f"average, the model differs by {get['model_mae']:.2f}")
    if get["r"] is not None:
        if get["r_ceiling"] is not None and get["r_disattenuated"] is not None:
            parts.append(f"r = {get['r']:.2f} of a ceiling of {get['r_ceiling']:.2f} "
                         f"(disattenuated {get['r_disattenuated']:.2f})")
        else:
            parts.append(f"r = {get['r']:.2f} (no ceiling: see the notes)")
    if get["within_human_ci"] is not None:
        parts.append(f"{100 * get['within_human_ci']:.0f}% of the model means lie inside "
                     f"the human mean's {level} CI")
    if get["sd_correlation"] is not None:
        parts.append(f"the model's per-image SD correlates r = {get['sd_correlation']:.2f} "
                     "with the raters' SD")
    if not parts:
        return f"Validity ({aspect}): undefined for these data (see the notes)."
    return f"Validity ({aspect}): " + "; ".join(parts) + "."
