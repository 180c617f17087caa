"""review.json: the reviewer's flags (with a category) and notes per (image, aspect), and
the Results view (sort, filter, aspect, cursor) to restore when the run is opened again.

Format (version 2)::

    {"version": 2,
     "cases": {"<image_id>": {"<aspect>": {"category": "model wrong" | null,
                                           "note": "...", "reviewer": "ana",
                                           "time": "2026-11-26T14:00:00+00:00"}}},
     "view": {"aspect": "valence", "sort": "valence_d", "descending": true,
              "filter": "|d| >= 1.5", "cursor": "img07"}}

Every entry read back also carries ``flagged`` (category is not null), which is what the
rest of the program asks. Version 1 files (``flagged``/``note``/``updated``) read as a
category "flagged". The reader tolerates anything: a file that is not JSON, of the wrong
shape or with some entries of the wrong shape gives what it can and says what it set
aside. Every change rewrites the file atomically (temp file + rename); a file that could
not be read whole is first copied aside, so nothing already written is lost.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlmrate.runfolder.files import now_iso, refuse_unsafe, write_text_atomic

REVIEW = "review.json"
VERSION = 2
DEFAULT_CATEGORIES = ("model wrong", "human odd", "ambiguous image", "prompt problem")
LEGACY_CATEGORY = "flagged"  # a version 1 flag had no category
VIEW_KEYS = {"aspect": str, "sort": str, "descending": bool, "filter": str, "cursor": str}

_LOCK = threading.Lock()  # one writer of a review.json at a time within the process
_UNSET: Any = object()


@dataclass
class ReviewFile:
    """What review.json holds, as read (``problems``: what was set aside and why)."""

    cases: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    view: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def normalise_entry(entry: Any) -> dict[str, Any] | None:
    """One case's review in the current shape, or None when it cannot be one."""
    if not isinstance(entry, dict):
        return None
    category = entry.get("category")
    if category is not None and not isinstance(category, str):
        return None
    if category is None and entry.get("flagged") is True:
        category = LEGACY_CATEGORY
    note = entry.get("note", "")
    if note is None:
        note = ""
    if not isinstance(note, str):
        return None
    category = category.strip() or None if isinstance(category, str) else None
    return {"category": category, "flagged": category is not None, "note": note,
            "reviewer": _text(entry.get("reviewer")) or "",
            "time": _text(entry.get("time")) or _text(entry.get("updated")) or ""}


def check_view(view: Any) -> dict[str, Any]:
    """The keys of a saved view that have the right type (the others are dropped)."""
    if not isinstance(view, dict):
        return {}
    return {key: view[key] for key, kind in VIEW_KEYS.items()
            if isinstance(view.get(key), kind)}


def parse_review(data: Any) -> ReviewFile:
    """review.json's parsed content -> ReviewFile (never raises)."""
    if not isinstance(data, dict):
        return ReviewFile(problems=[f"{REVIEW} is not an object (ignored)"])
    out = ReviewFile(view=check_view(data.get("view")))
    cases = data.get("cases", {})
    if not isinstance(cases, dict):
        out.problems.append(f"{REVIEW}: cases is not an object (ignored)")
        return out
    broken = 0
    for image_id, aspects in cases.items():
        if not isinstance(aspects, dict):
            broken += 1
            continue
        for aspect, entry in aspects.items():
            clean = normalise_entry(entry)
            if clean is None:
                broken += 1
            else:
                out.cases.setdefault(str(image_id), {})[str(aspect)] = clean
    if broken:
        out.problems.append(f"{REVIEW}: {broken} entries of the wrong shape (ignored)")
    return out


def read_review_file(run_dir: Path) -> ReviewFile:
    path = Path(run_dir) / REVIEW
    if not path.exists():
        return ReviewFile()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not JSON"
        return ReviewFile(problems=[f"{REVIEW}: unreadable ({reason}); flags and notes "
                                    "ignored"])
    return parse_review(data)


def _stored(entry: dict[str, Any]) -> dict[str, Any]:
    return {"category": entry["category"], "note": entry["note"],
            "reviewer": entry["reviewer"], "time": entry["time"]}


def _write(run_dir: Path, review: ReviewFile) -> None:
    path = Path(run_dir) / REVIEW
    if review.problems and path.is_file():
        stamp = now_iso().replace(":", "")
        broken = path.with_name(f"{REVIEW}.broken-{stamp}")
        refuse_unsafe(broken)
        shutil.copy2(path, broken)
    cases = {image_id: {aspect: _stored(e) for aspect, e in aspects.items()}
             for image_id, aspects in review.cases.items() if aspects}
    text = json.dumps({"version": VERSION, "cases": cases, "view": review.view}, indent=2,
                      ensure_ascii=False)
    write_text_atomic(path, text)


def write_cases(run_dir: Path, cases: dict[str, dict[str, dict[str, Any]]]) -> None:
    """Write review.json with these cases (entries as read_review_file gives them) and no
    view; e.g. a run merged from others."""
    with _LOCK:
        _write(run_dir, ReviewFile(cases=cases))


def set_case(run_dir: Path, image_id: str, aspect: str, *, category: Any = _UNSET,
             note: Any = _UNSET, reviewer: str | None = None) -> dict[str, Any]:
    """Change the category (None: not flagged) and/or the note of one case; write the file
    at once. An entry with neither a category nor a note is removed. Returns the entry."""
    with _LOCK:
        review = read_review_file(run_dir)
        entry = review.cases.get(image_id, {}).get(aspect) or normalise_entry({})
        assert entry is not None
        if category is not _UNSET:
            entry["category"] = (category or "").strip() or None
            entry["flagged"] = entry["category"] is not None
        if note is not _UNSET:
            entry["note"] = note or ""
        entry["reviewer"] = reviewer if reviewer is not None else reviewer_name()
        entry["time"] = now_iso()
        aspects = review.cases.setdefault(image_id, {})
        if entry["category"] is None and not entry["note"].strip():
            aspects.pop(aspect, None)
        else:
            aspects[aspect] = entry
        _write(run_dir, review)
        return entry


def save_view(run_dir: Path, view: dict[str, Any]) -> None:
    """Remember the Results view of a run (the cases are kept as they are)."""
    with _LOCK:
        review = read_review_file(run_dir)
        clean = check_view(view)
        if clean == review.view:
            return
        review.view = clean
        _write(run_dir, review)


def review_rows(cases: dict[str, dict[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per reviewed (image, aspect), by image then aspect: for `vlmrate review`."""
    return [{"image_id": image_id, "aspect": aspect, **_stored(entry)}
            for image_id in sorted(cases) for aspect, entry in sorted(cases[image_id].items())]


# --- settings: the reviewer's name and the flag categories ---------------------------------

def config_path() -> Path:
    """The user's config file: $VLMRATE_CONFIG, else $XDG_CONFIG_HOME (~/.config)/vlmrate/
    config.toml."""
    explicit = os.environ.get("VLMRATE_CONFIG")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "vlmrate" / "config.toml"


def user_config() -> dict[str, Any]:
    """The [review] table of the config file ({} when there is none or it is unreadable)."""
    try:
        data = tomllib.loads(config_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    section = data.get("review")
    return section if isinstance(section, dict) else {}


def reviewer_name() -> str:
    """The reviewer: $VLMRATE_REVIEWER, else the config file's review.reviewer, else $USER."""
    for name in (os.environ.get("VLMRATE_REVIEWER"), user_config().get("reviewer")):
        if isinstance(name, str) and name.strip():
            return name.strip()
    try:
        return os.environ.get("USER") or getpass.getuser()
    except Exception:  # no user name at all (a bare container)
        return ""


def clean_categories(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return list(dict.fromkeys(v.strip() for v in value if isinstance(v, str) and v.strip()))


def flag_categories(manifest: dict[str, Any] | None = None) -> list[str]:
    """The flag categories of a run: its study's [review] categories (study.toml, kept in
    the manifest), else the config file's, else DEFAULT_CATEGORIES."""
    study = (manifest or {}).get("study")
    review = study.get("review") if isinstance(study, dict) else None
    for value in ((review or {}).get("categories") if isinstance(review, dict) else None,
                  user_config().get("categories")):
        categories = clean_categories(value)
        if categories:
            return categories
    return list(DEFAULT_CATEGORIES)
