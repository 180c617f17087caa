"""A study: aspects with their prompt texts, the rating scale, repeats and sampling.

A prompt set is a folder ``prompts/<set>/`` holding ``study.toml`` and one text file
per aspect. Prompt texts are used byte for byte; their sha256 goes into the manifest so
a resumed run can tell that they did not change.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from vlmrate.errors import UserError
from vlmrate.inputs import limits

PACKAGE_ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True, slots=True)
class Aspect:
    name: str
    prompt: str
    low: str = ""
    high: str = ""
    #: The prompt presents the scale the other way round (scale_min = most ``high``);
    #: answers are mapped back to the study's direction (see :meth:`Study.to_study_scale`).
    reverse: bool = False

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.prompt.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Study:
    name: str
    aspects: tuple[Aspect, ...]
    scale_min: int = 1
    scale_max: int = 9
    repeats: int = 10
    temperature: float = 0.3
    top_p: float = 1.0
    max_tokens: int = 320
    description: str = ""
    path: Path | None = field(default=None, compare=False)
    review_categories: tuple[str, ...] = ()  # [review] categories: the flag categories
    #: ``system = "..."`` of study.toml: a system message before every prompt, rendered by
    #: the model's chat template (None: no system message).
    system: str | None = None

    @property
    def aspect_names(self) -> list[str]:
        return [a.name for a in self.aspects]

    def aspect(self, name: str) -> Aspect:
        for aspect in self.aspects:
            if aspect.name == name:
                return aspect
        raise UserError(f"unknown aspect {name!r}; this study has {', '.join(self.aspect_names)}")

    def to_study_scale(self, aspect: str, answer: int | None,
                       probs: list[float] | None) -> tuple[int | None, list[float] | None]:
        """An answer as the prompt of ``aspect`` asked for it, in the study's direction.

        For a reversed aspect the rating is ``scale_min + scale_max - answer`` and the
        probabilities of the scale points (lowest first) are read backwards; otherwise
        both pass through unchanged.
        """
        if not self.aspect(aspect).reverse:
            return answer, probs
        rating = None if answer is None else self.scale_min + self.scale_max - answer
        return rating, None if probs is None else list(reversed(probs))

    def to_manifest(self) -> dict:
        return {
            "name": self.name,
            "path": str(self.path) if self.path else None,
            "scale": {"min": self.scale_min, "max": self.scale_max},
            "system": self.system,
            "aspects": [
                {"name": a.name, "prompt": a.prompt, "sha256": a.sha256, "low": a.low,
                 "high": a.high, "reverse": a.reverse}
                for a in self.aspects
            ],
            **({"review": {"categories": list(self.review_categories)}}
               if self.review_categories else {}),
        }


def prompt_sets(prompts_dir: Path) -> list[str]:
    """Names of the prompt sets under prompts_dir (folders with a study.toml)."""
    if not prompts_dir.is_dir():
        return []
    return sorted(p.parent.name for p in prompts_dir.glob("*/study.toml"))


def resolve_prompt_set(name_or_path: str, prompts_dir: Path = Path("prompts")) -> Path:
    """Find a prompt set: a folder path, prompts_dir/<name>, or the bundled sets."""
    candidates = [Path(name_or_path), prompts_dir / name_or_path,
                  PACKAGE_ROOT / "prompts" / name_or_path]
    for candidate in candidates:
        if (candidate / "study.toml").is_file():
            return candidate
    known = sorted(set(prompt_sets(prompts_dir)) | set(prompt_sets(PACKAGE_ROOT / "prompts")))
    hint = f" (known sets: {', '.join(known)})" if known else ""
    raise UserError(f"prompt set {name_or_path!r} not found: no study.toml there{hint}")


def load_study(name_or_path: str = "reference", prompts_dir: Path = Path("prompts")) -> Study:
    folder = resolve_prompt_set(name_or_path, prompts_dir)
    toml_path = folder / "study.toml"
    try:
        config = tomllib.loads(toml_path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{toml_path}: not valid TOML ({exc})") from None
    except OSError as exc:
        raise UserError(f"{toml_path}: cannot read ({exc.strerror or exc})") from None
    entries = config.get("aspects", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise UserError(f"{toml_path}: aspects must be [[aspects]] tables (name, "
                        f"prompt_file, ...)")
    aspects = []
    for entry in entries:
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise UserError(f"{toml_path}: an [[aspects]] entry has no name (a text)")
        prompt_file = _prompt_file(folder, toml_path, name, entry.get("prompt_file",
                                                                      f"{name}.txt"))
        try:
            prompt = prompt_file.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UserError(f"{toml_path}: prompt file {prompt_file.name} for {name!r} is "
                            f"not UTF-8 text (byte {exc.start})") from None
        except OSError as exc:
            raise UserError(f"{toml_path}: prompt file {prompt_file.name} for {name!r}: "
                            f"{exc.strerror or exc}") from None
        for key in ("low", "high"):
            if not isinstance(entry.get(key, ""), str):
                raise UserError(f"{toml_path}: {key} for {name!r} must be a text")
        reverse = entry.get("reverse", False)
        if not isinstance(reverse, bool):
            raise UserError(f"{toml_path}: reverse for {name!r} must be true or false")
        aspects.append(Aspect(name, prompt, entry.get("low", ""), entry.get("high", ""),
                              reverse))
    if not aspects:
        raise UserError(f"{toml_path}: no [[aspects]] defined")
    if len({a.name for a in aspects}) != len(aspects):
        raise UserError(f"{toml_path}: aspect names must be unique")
    scale = config.get("scale", {})
    if not isinstance(scale, dict):
        raise UserError(f"{toml_path}: scale must be a table, e.g. scale = {{min = 1, max = 9}}")
    for key in ("name", "description"):
        if key in config and not isinstance(config[key], str):
            raise UserError(f"{toml_path}: {key} must be a text")
    try:  # the same checks as the command line's options and the New-run form
        low, high = limits.scale(scale.get("min", 1), scale.get("max", 9))
        study = Study(
            name=config.get("name", folder.name),
            aspects=tuple(aspects),
            scale_min=low,
            scale_max=high,
            repeats=limits.repeats(config.get("repeats", 10)),
            temperature=limits.temperature(config.get("temperature", 0.3)),
            top_p=limits.top_p(config.get("top_p", 1.0), "top_p"),
            max_tokens=limits.max_tokens(config.get("max_tokens", 320), "max_tokens"),
            description=config.get("description", ""),
            path=folder,
            review_categories=tuple(_categories(config.get("review"), toml_path)),
            system=_system(config.get("system"), toml_path),
        )
    except UserError as exc:
        raise UserError(f"{toml_path}: {exc}") from None
    return study


def _prompt_file(folder: Path, toml_path: Path, name: str, value: object) -> Path:
    """An aspect's prompt file: a file inside the prompt set's folder (never an absolute
    path or one that leaves it: its text is sent to servers and stored in the run)."""
    if not isinstance(value, str) or not value.strip():
        raise UserError(f"{toml_path}: prompt_file for {name!r} must be a file name")
    path = folder / value
    inside = folder.resolve()
    if Path(value).is_absolute() or not path.resolve().is_relative_to(inside):
        raise UserError(f"{toml_path}: prompt_file {value!r} for {name!r} is not inside "
                        f"{folder} (a prompt set keeps its prompt files in its folder)")
    if not path.is_file():
        raise UserError(f"{toml_path}: prompt file {path.name} for {name!r} is missing")
    return path


def _system(value: object, toml_path: Path) -> str | None:
    """``system = "..."`` of a study.toml: one line of text, or absent/empty for none."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise UserError(f"{toml_path}: system must be a text (or left out for none)")
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in value):
        raise UserError(f"{toml_path}: system must be one line of text, without control "
                        "characters")
    return value.strip() or None


def _categories(section: object, toml_path: Path) -> list[str]:
    """[review] categories = ["model wrong", ...] of a study.toml (optional)."""
    if section is None:
        return []
    value = section.get("categories") if isinstance(section, dict) else None
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise UserError(f"{toml_path}: [review] categories must be a list of names")
    return list(dict.fromkeys(v.strip() for v in value))
