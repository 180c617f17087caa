"""The sections of a run's report, each HTML text: the run's summary (from its
manifest), the tables of ``vlmrate stats`` (the layout the TUI and the workbook use,
``vlmrate.stats.layout``), the figures and the reviewed cases."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from .html import esc, facts, inline_svg, table

if TYPE_CHECKING:
    from vlmrate.figures import Made
    from vlmrate.runfolder.store import LoadedRun
    from vlmrate.stats import StudyStats

THUMB_PX = 320


def short(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return "—" if value is None else str(value)


def summary(run: LoadedRun, stats: StudyStats) -> str:
    """Model, engine, sampling, dataset, human sheet, dates, versions; prompts with sha256."""
    m = run.manifest
    engine = m.get("engine") or {}
    dataset = m.get("dataset") or {}
    human = m.get("human") or {}
    items: list[tuple[str, object]] = [
        ("run", run.name), ("status", run.status), ("model", short(m.get("model"))),
        ("engine", short(engine.get("name") if isinstance(engine, dict) else engine)),
        ("engine options", short({k: v for k, v in engine.items() if k != "name"})
         if isinstance(engine, dict) else "—"),
        ("sampling", short(m.get("sampling"))),
        ("dataset", f"{short(dataset.get('path'))} ({short(dataset.get('n_images'))} images)"),
        ("human sheet", short(human.get("path"))),
        ("created", short(m.get("created"))),
    ]
    for key in ("finished", "updated", "wall_s"):
        if key in m:
            items.append((key, short(m[key])))
    items += [("images analysed", stats.n_images), ("aspects", ", ".join(run.aspects)),
              ("TOST bound", f"±{stats.bound:g}"), ("alpha", f"{stats.alpha:g}"),
              ("seed", stats.seed)]
    versions = m.get("versions") or {}
    if isinstance(versions, dict):
        items += [(f"version: {k}", short(v)) for k, v in sorted(versions.items())]
    study = m.get("study") or {}
    prompts = [(a.get("name", ""), a.get("sha256") or "—", a.get("prompt") or "—")
               for a in (study.get("aspects") or []) if isinstance(a, dict)]
    out = facts(items)
    if prompts:
        out += "<h3>Prompts</h3>" + table(["aspect", "sha256", "prompt"], prompts,
                                           text_columns=(1, 2))
    return out


def statistics(stats: StudyStats) -> str:
    """Every per-aspect statistic (stats.layout.STATISTICS: the TUI's Summary, the
    workbook's sheets), sampled vs expected, the notes, errors by k, between aspects,
    cross r."""
    from vlmrate.stats.formatting import number, p_value
    from vlmrate.stats.layout import (
        EXPECTED_LINES,
        by_k_columns,
        by_k_row,
        cell,
        cross_rows,
        cross_title,
        format_value,
        label,
        study_fields,
        value_at,
        visible_rows,
    )

    aspects = list(stats.aspects)
    study = study_fields(stats.bound, stats.alpha)
    rows: list[list[str]] = []
    sections: list[int] = []
    section = None
    for stat in visible_rows(stats.aspects):
        if stat.section != section:
            section = stat.section
            sections.append(len(rows))
            rows.append([label(section, study)])
        rows.append([label(stat.label, study), *(
            format_value(value_at(stats.aspects[a], stat.path), stat.kind, stat.digits)
            for a in aspects)])
    out = [f"<p class='muted'>Intervals at {esc(study['level'])} unless the row says "
           "otherwise; the TOST interval at "
           f"{esc(study['tost_level'])}; Bland–Altman limits at 95%.</p>",
           table(["statistic", *aspects], rows, sections=sections)]
    for a, s in stats.aspects.items():
        if s.expected is not None:
            out.append(f"<h3>{esc(a)}: sampled vs expected rating (logprobs)</h3>")
            out.append(table(["statistic", "sampled", "expected"],
                             [[label(t, study), cell(s, x), cell(s, y)]
                              for t, x, y in EXPECTED_LINES]))
    notes = [(a, n) for a, s in stats.aspects.items() for n in s.notes]
    if notes:
        out.append("<h3>Notes: why some cells are empty</h3>")
        out.append(table(["aspect", "note"], notes, text_columns=(1,)))
    for a, s in stats.aspects.items():
        if not s.errors_by_k:
            continue
        out.append(f"<h3>{esc(a)}: error by k answers</h3>")
        out.append(table(by_k_columns(study["level"]), [by_k_row(e) for e in s.errors_by_k]))
    if stats.between_aspects:
        out.append("<h3>Between aspects (per-image model means)</h3>")
        out.append(table(["pair", "r", "p", "n"],
                         [[k.replace("~", " – "), number(c.r), p_value(c.p), c.n]
                          for k, c in stats.between_aspects.items()]))
    if stats.cross_by_k:
        k = max(stats.cross_by_k)
        humans = stats.human_aspects
        out.append(f"<h3>{esc(cross_title(k))}</h3>")
        out.append(table(["model \\ human", *humans], cross_rows(stats.cross_by_k[k], humans)))
    return "".join(out)


def figures(made: list[Made]) -> str:
    """Each figure as inline SVG with its caption (ids prefixed per figure)."""
    from vlmrate.figures.style import svg_text

    out = []
    for i, m in enumerate(made, 1):
        svg = inline_svg(svg_text(m.fig), f"f{i}")
        out.append(f"<figure class='{esc(m.width)}' id='figure-{i}'><div class='svg'>{svg}"
                   f"</div><figcaption><b>Figure {i}. {esc(m.title)}.</b> "
                   f"{esc(m.caption)}</figcaption></figure>")
    return "".join(out)


def _image_files(run: LoadedRun) -> dict[str, Path]:
    from vlmrate.inputs.dataset import discover_images, normalise_id

    folder = (run.manifest.get("dataset") or {}).get("path")
    if not folder:
        return {}
    try:
        return {normalise_id(e.image_id): e.path for e in discover_images(Path(folder))}
    except Exception:  # the dataset moved or is unreadable: the cases stay, no thumbnails
        return {}


def _thumbnail(path: Path | None, root: Path | None) -> str:
    """A JPEG data: URL of the image (no file link: the page stays self-contained)."""
    if path is None:
        return ""
    from vlmrate.inputs.images import ImageProblem, load_image

    try:
        image = load_image(path, root)
    except (ImageProblem, OSError, ValueError):
        return ""
    image.thumbnail((THUMB_PX, THUMB_PX))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def reviewed_cases(run: LoadedRun, stats: StudyStats) -> str:
    """Each reviewed case (a flag category or a note): category, note, reviewer, time,
    the model and human means, and every answer with its reason."""
    from vlmrate.inputs.dataset import normalise_id
    from vlmrate.stats.formatting import number

    entries = [(image_id, aspect, entry) for image_id, by_aspect in sorted(run.review.items())
               for aspect, entry in by_aspect.items()
               if entry.get("category") or entry.get("note")]
    if not entries:
        return "<p class='muted'>No case has been reviewed (flag or note) yet.</p>"
    files = _image_files(run)
    folder = (run.manifest.get("dataset") or {}).get("path")
    root = Path(folder) if folder else None
    rows = {r["image_id"]: r for r in stats.per_image.iter_rows(named=True)}
    ratings = run.ratings
    out = []
    for image_id, aspect, entry in entries:
        row = rows.get(image_id, {})
        answers = ratings.filter((pl.col("image_id") == image_id) & (pl.col("aspect") == aspect)
                                 ).sort("repeat")
        src = _thumbnail(files.get(normalise_id(image_id)), root)
        img = f"<img alt='{esc(image_id)}' src='{src}'>" if src else ""
        head = facts([
            ("category", entry.get("category") or "—"), ("note", entry.get("note") or "—"),
            ("reviewer", entry.get("reviewer") or "—"), ("time", entry.get("time") or "—"),
            ("model mean", number(row.get(f"{aspect}_mean"), 2)),
            ("human mean", number(row.get(f"{aspect}_human"), 2)),
            ("d", number(row.get(f"{aspect}_d"), 2))])
        body = table(["repeat", "rating", "reason"], [
            [a.get("repeat"), "—" if a.get("rating") is None else a.get("rating"),
             a.get("reason") or a.get("parse_error") or a.get("engine_error") or ""]
            for a in answers.iter_rows(named=True)], text_columns=(2,))
        out.append(f"<div class='case'>{img}<h3>{esc(image_id)} · {esc(aspect)}</h3>"
                   f"{head}{body}</div>")
    return "".join(out)
