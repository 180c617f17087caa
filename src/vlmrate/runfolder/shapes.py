"""The shapes of a run folder's JSON files, checked on reading (manifest, records, review).

A run folder may be edited by hand, copied half, or written by an older or newer version:
readers take what has the right shape and name what they set aside, instead of failing
later on a ``None`` where a dict belongs. Nothing here writes.
"""

from __future__ import annotations

import json
from typing import Any

from vlmrate.inputs import limits

DEFAULT_SCALE = {"min": 1, "max": 9}
MAX_REPEATS = limits.MAX_REPEATS  # the most repeats a run may have (also --repeats')
_INT64 = 2**63


def json_kind(value: Any) -> str:
    """How a JSON value is called in a message: 'null', 'a list', 'a string' ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -_INT64 <= value < _INT64


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# --- manifest.json ---------------------------------------------------------------------------

def check_manifest(data: dict) -> tuple[dict, list[str]]:
    """A copy of the manifest in which every field a reader uses has its type, and the list
    of what was set aside. Missing fields stay missing; unknown fields are kept."""
    m = dict(data)
    problems: list[str] = []

    def wrong(key: str, value: Any, expected: str) -> None:
        problems.append(f"{key} is {json_kind(value)}, not {expected} (ignored)")

    for key in ("name", "status", "model", "created", "updated"):
        if key in m and not isinstance(m[key], str):
            wrong(key, m.pop(key), "a string")
    for key in ("study", "sampling", "engine", "dataset"):
        if key in m and not isinstance(m[key], dict):
            wrong(key, m[key], "an object")
            m[key] = {}
    if "human" in m and m["human"] is not None and not isinstance(m["human"], dict):
        wrong("human", m["human"], "an object")
        m["human"] = None
    if "total_jobs" in m and not (m["total_jobs"] is None or is_int(m["total_jobs"])):
        wrong("total_jobs", m.pop("total_jobs"), "a whole number")
    if "study" in m:
        m["study"] = _check_study(m["study"], problems)
    if "sampling" in m:
        sampling = dict(m["sampling"])
        repeats = sampling.get("repeats")
        if "repeats" in sampling and not (repeats is None or
                                          (is_int(repeats) and 1 <= repeats <= MAX_REPEATS)):
            problems.append(f"sampling.repeats {json.dumps(repeats)[:40]} is not a number of "
                            f"repeats 1..{MAX_REPEATS} (ignored)")
            sampling.pop("repeats")
        m["sampling"] = sampling
    for key, sub in (("dataset", "path"), ("human", "path"), ("engine", "name")):
        part = m.get(key)
        if isinstance(part, dict) and sub in part and not (part[sub] is None or
                                                           isinstance(part[sub], str)):
            problems.append(f"{key}.{sub} is {json_kind(part[sub])}, not a string (ignored)")
            m[key] = {k: v for k, v in part.items() if k != sub}
    human = m.get("human")
    if isinstance(human, dict) and "warnings" in human:
        warnings = human["warnings"]
        if not isinstance(warnings, list):
            problems.append(f"human.warnings is {json_kind(warnings)}, not a list (ignored)")
            warnings = []
        m["human"] = {**human, "warnings": [str(w) for w in warnings]}
    return m, problems


def _check_study(study: dict, problems: list[str]) -> dict:
    study = dict(study)
    if "name" in study and not isinstance(study["name"], str):
        problems.append(f"study.name is {json_kind(study['name'])}, not a string (ignored)")
        study.pop("name")
    aspects = study.get("aspects", [])
    if not isinstance(aspects, list):
        problems.append(f"study.aspects is {json_kind(aspects)}, not a list (ignored)")
        aspects = []
    kept, names = [], set()
    for aspect in aspects:
        name = aspect.get("name") if isinstance(aspect, dict) else None
        if not isinstance(name, str) or not name or name in names:
            problems.append(f"study.aspects: {json.dumps(aspect)[:40]} is not an aspect with "
                            f"a new name (ignored)")
            continue
        names.add(name)
        kept.append(aspect)
    if "aspects" in study:
        study["aspects"] = kept
    scale = study.get("scale", DEFAULT_SCALE)
    if not (isinstance(scale, dict) and is_int(scale.get("min", 1)) and
            is_int(scale.get("max", 9)) and scale.get("min", 1) < scale.get("max", 9) and
            scale.get("max", 9) - scale.get("min", 1) <= 100):
        problems.append(f"study.scale {json.dumps(scale)[:40]} is not a rating scale "
                        f"(1..9 used)")
        study["scale"] = dict(DEFAULT_SCALE)
    return study


# --- ratings.jsonl records -------------------------------------------------------------------

_TEXT_FIELDS = ("reason", "raw", "parse_error", "finish_reason", "engine_error", "time")
_INT_FIELDS = ("seed", "rating", "prompt_tokens", "output_tokens")
_FLOAT_FIELDS = ("latency_s", "expected_rating", "digit_mass")


def strict_record(line: bytes) -> dict | None:
    """The record of one ratings.jsonl line when every known field has its type (as the
    runner writes them: NaN allowed in float fields), else None."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(record, dict):
        return None
    image_id, aspect, repeat = record.get("image_id"), record.get("aspect"), record.get("repeat")
    if not (isinstance(image_id, str) and image_id and isinstance(aspect, str) and aspect
            and is_int(repeat) and repeat >= 1):
        return None
    for key in _TEXT_FIELDS:
        if record.get(key) is not None and not isinstance(record[key], str):
            return None
    for key in _INT_FIELDS:
        if record.get(key) is not None and not is_int(record[key]):
            return None
    for key in _FLOAT_FIELDS:
        if record.get(key) is not None and not _is_number(record[key]):
            return None
    probs = record.get("rating_probs")
    if probs is not None and not (isinstance(probs, list) and all(
            _is_number(p) and (not isinstance(p, int) or abs(p) < _INT64) for p in probs)):
        return None
    return record
