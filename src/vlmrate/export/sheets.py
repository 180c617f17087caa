"""The workbook's sheets (docs/design.md, "The workbook"): Summary, Ratings, PerImage, Reliability,
Agreement, ErrorsByK, CrossByK, Cases, Answers.

`write_workbook` lays out what the statistics already computed (the `stats --json` dict
and the per-image frame); the per-aspect statistics of Reliability and Agreement are the
rows of vlmrate.stats.layout. The workbook is built in memory and written atomically.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl
import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from vlmrate.export.tables import answers_order
from vlmrate.export.target import atomic_output, check_target
from vlmrate.export.xlsx_writer import (
    WORKBOOK_OPTIONS,
    Column,
    Formats,
    assemble,
    bulk_sheet,
    excel_text,
    header,
    print_setup,
    put,
    text_height,
)
from vlmrate.runfolder.store import LoadedRun
from vlmrate.stats.layout import (
    AGREEMENT,
    EXPECTED_LINES,
    RELIABILITY,
    Kind,
    digits_of,
    has_expected,
    kind_of,
    sheet_rows,
    study_fields,
    value_at,
)
from vlmrate.stats.layout import label as fill_label
from vlmrate.stats.run_summary import partial_note, run_counts


def statistic_format(fmts: Formats, path: str) -> Format:
    """The cell format of a statistic of stats.layout: its kind's, and for a statistic
    with no fixed decimals (W+, W−) the shortest exact number (48, not 48.000)."""
    kind = kind_of(path)
    if kind is Kind.STAT and digits_of(path) is None:
        return fmts.compact
    return fmts.of(kind)


SHEETS = ("Summary", "Ratings", "PerImage", "Reliability", "Agreement", "ErrorsByK",
          "CrossByK", "Cases", "Answers")
TOP_N = 10


RATINGS_COLUMNS = [
    Column("image_id", "image_id", "text", 16), Column("aspect", "aspect", "text", 11),
    Column("repeat", "repeat", "int", 7), Column("rating", "rating", "int", 7),
    Column("reason", "reason", "wrap", 70), Column("parse_error", "parse_error", "text", 12),
    Column("engine_error", "engine_error", "wrap", 20), Column("seed", "seed", "int", 12),
    Column("prompt_tokens", "prompt_tokens", "int", 9),
    Column("output_tokens", "output_tokens", "int", 9),
    Column("latency_s", "latency_s", "stat", 9),
    Column("expected_rating", "expected_rating", "stat", 9),
]
ANSWERS_COLUMNS = [
    Column("image_id", "image_id", "text", 16), Column("aspect", "aspect", "text", 11),
    Column("repeat", "repeat", "int", 7), Column("raw", "raw", "wrap", 90),
    Column("parse_error", "parse_error", "text", 12),
    Column("finish_reason", "finish_reason", "text", 10),
]


def per_image_table(run: LoadedRun, per_image: pl.DataFrame,
                    repeats: int | None = None) -> tuple[pl.DataFrame, list[Column]]:
    """The PerImage sheet as a frame, one row per rated image: image_id, then per aspect <a>_1..<a>_K (the answers'
    ratings, empty for a failed answer), <a>_mean, <a>_sd, <a>_n, <a>_human, <a>_d."""
    ratings = run.ratings
    k = int(repeats or run.repeats or 0)
    # the images the model rated (per_image may also list human-only images: left out)
    ids = ratings.select(pl.col("image_id").unique()).sort("image_id")
    wide = ratings.filter(pl.col("repeat").is_between(1, k)).select(
        "image_id", (pl.col("aspect") + "_" + pl.col("repeat").cast(pl.String)).alias("key"),
        "rating")
    table = ids
    if wide.height:
        pivot = wide.pivot(on="key", index="image_id", values="rating",
                           aggregate_function="first")
        table = table.join(pivot, on="image_id", how="left")
    if per_image.height:
        table = table.join(per_image, on="image_id", how="left")
    columns = [Column("image_id", "image_id", "text", 16)]
    for aspect in run.aspects:
        for r in range(1, k + 1):
            columns.append(Column(f"{aspect}_{r}", f"{aspect}_{r}", "int", 6))
        for suffix, kind in (("mean", "stat"), ("sd", "stat"), ("n", "int"), ("human", "stat"),
                             ("d", "stat")):
            columns.append(Column(f"{aspect}_{suffix}", f"{aspect}_{suffix}", kind, 9))
    missing = [c for c in columns if c.source not in table.columns]
    if missing:
        table = table.with_columns(
            [pl.lit(None, pl.Int64 if c.kind == "int" else pl.Float64).alias(c.source)
             for c in missing])
    return table.select([c.source for c in columns]), columns


def summary_sheet(wb: Workbook, fmts: Formats, run: LoadedRun, stats: dict,
                  name: str = "Summary") -> None:
    """The Summary sheet of one run (its facts, headline per aspect, prompts)."""
    ws = wb.add_worksheet(name)
    ws.set_column(0, 0, 30)
    ws.set_column(1, 1, 16)
    ws.set_column(2, 24, 12)
    m = run.manifest
    counts = run_counts(run)
    pa = counts["per_aspect"]
    parse_failures = int(pa["parse_failures"].sum()) if pa.height else 0
    engine_errors = int(pa["engine_errors"].sum()) if pa.height else 0
    study = m.get("study", {}) or {}
    engine = dict(m.get("engine", {}) or {})
    dataset = m.get("dataset", {}) or {}
    human = m.get("human", {}) or {}

    def kv(d: dict) -> str:
        return ", ".join(f"{k}={v}" for k, v in d.items() if v is not None)

    facts: list[tuple[str, Any]] = [
        ("run", run.name), ("status", run.status),
        *([("partial run", partial_note(run))] if partial_note(run) else []),
        ("folder", str(run.path)),
        ("model", m.get("model")), ("engine", engine.pop("name", None)),
        ("engine options", kv(engine)), ("sampling", kv(m.get("sampling", {}) or {})),
        ("prompt set", study.get("name")),
        ("scale", "{}..{}".format(*run.scale)),
    ]
    for aspect in study.get("aspects", []) or []:
        facts.append((f"prompt sha256 ({aspect.get('name')})", aspect.get("sha256")))
    fingerprint = dataset.get("fingerprint")
    facts += [
        ("dataset", dataset.get("path")),
        ("dataset fingerprint", fingerprint if fingerprint is None or isinstance(
            fingerprint, str) else json.dumps(fingerprint, ensure_ascii=False)),
        ("human sheet", human.get("path")),
        ("human columns", json.dumps(human.get("column_map"), ensure_ascii=False)
         if human.get("column_map") else None),
        ("created", m.get("created")), ("updated", m.get("updated")),
        ("versions", kv(m.get("versions", {}) or {})),
        ("images", counts["images"]), ("images with human ratings", counts["matched"]),
        ("answers", counts["answers"]), ("valid ratings", counts["valid"]),
        ("parse failures", parse_failures), ("engine errors", engine_errors),
        ("TOST bound", stats.get("bound")), ("alpha", stats.get("alpha")),
    ]
    for warning in (human.get("warnings") or []):
        facts.append(("human sheet note", warning))
    ws.write_string(0, 0, f"vlmrate — {run.name}", fmts.title)
    row = 2
    for key, value in facts:
        ws.write_string(row, 0, key, fmts.key)
        put(ws, row, 1, value, fmts.int if isinstance(value, int) else fmts.text)
        row += 1
    row += 1
    ws.write_string(row, 0, "Headline per aspect (d = model mean − human mean)", fmts.section)
    row += 1
    _headline(ws, fmts, row, run.aspects, stats)
    prompts = [(a.get("name"), a.get("prompt")) for a in study.get("aspects", []) or []
               if a.get("prompt")]
    if prompts:
        row = _headline_end(run.aspects, row) + 2
        ws.write_string(row, 0, "Prompts", fmts.section)
        for name, text in prompts:
            row += 1
            ws.write_string(row, 0, f"prompt ({name})", fmts.key)
            ws.merge_range(row, 1, row, 12, "", fmts.wrap)
            ws.write_string(row, 1, excel_text(str(text)), fmts.wrap)
            ws.set_row(row, text_height([(str(text), 16 + 11 * 12)]))
    row = (row if prompts else _headline_end(run.aspects, row)) + 2
    row = _validity(ws, fmts, row, run.aspects, stats)
    print_setup(ws, row, len(HEADLINE), 30 + 16 + 12 * (len(HEADLINE) - 1), header_rows=0)


def _validity(ws: Worksheet, fmts: Formats, row: int, aspects: list[str], stats: dict) -> int:
    """One Validity sentence per aspect (stats.validity), for a paper to use."""
    from vlmrate.stats.validity import validity_sentence

    level = study_fields(stats.get("bound"), stats.get("alpha"))["level"]
    ws.write_string(row, 0, "Validity (the human noise ceiling)", fmts.section)
    for aspect in aspects:
        row += 1
        text = validity_sentence(aspect, (stats.get("aspects") or {}).get(aspect, {}), level)
        ws.write_string(row, 0, f"validity ({aspect})", fmts.key)
        ws.merge_range(row, 1, row, 12, "", fmts.wrap)
        ws.write_string(row, 1, excel_text(text), fmts.wrap)
        ws.set_row(row, text_height([(text, 16 + 11 * 12)]))
    return row


HEADLINE: list[tuple[str, str]] = [  # (header, path of the statistic in stats.layout)
    ("n images", "n_images"),
    ("mean d", "tost.mean_diff"),
    ("SD d", "tost.sd_diff"),
    ("Wilcoxon W+", "wilcoxon.w_plus"),
    ("Wilcoxon W−", "wilcoxon.w_minus"),
    ("p (model > human)", "wilcoxon.p_greater"),
    ("p (model < human)", "wilcoxon.p_less"),
    ("p (two-sided)", "wilcoxon.p_two_sided"),
    ("TOST p", "tost.p"),
    ("TOST equivalent", "tost.equivalent"),
    ("TOST-Wilcoxon p", "tost_wilcoxon.p"),
    ("TOST-Wilcoxon equivalent", "tost_wilcoxon.equivalent"),
    ("Pearson r", "pearson_vs_human.r"),
    ("Pearson p", "pearson_vs_human.p"),
    ("ICC1", "icc.ICC1.value"),
    ("ICC1k", "icc.ICC1k.value"),
    ("SD mean (stability)", "stability.sd_mean"),
    ("parse failures", "parse_failures"),
    ("engine errors", "engine_errors"),
]


def _headline_end(aspects: list[str], start: int) -> int:
    return start + len(aspects)


def _headline(ws: Worksheet, fmts: Formats, row: int, aspects: list[str], stats: dict) -> None:
    header(ws, row, ["aspect", *[h for h, _ in HEADLINE]], fmts,
           widths=[30, 16, *[12] * (len(HEADLINE) - 1)])
    for i, aspect in enumerate(aspects, start=1):
        data = (stats.get("aspects") or {}).get(aspect, {})
        ws.write_string(row + i, 0, aspect, fmts.key)
        for j, (_, path) in enumerate(HEADLINE, start=1):
            put(ws, row + i, j, value_at(data, path), statistic_format(fmts, path))


def _by_aspect_sheet(wb: Workbook, fmts: Formats, name: str, aspects: list[str],
                     stats: dict) -> tuple[Worksheet, int]:
    """The sheet's rows of stats.layout as rows, aspects as columns; column 'field' names
    the stats --json key."""
    rows = sheet_rows(name)
    ws = wb.add_worksheet(name)
    header(ws, 0, ["section", "statistic", *aspects, "field (stats --json)"], fmts,
           widths=[26, 28, *[13] * len(aspects), 30])
    ws.set_column(0, 0, 26)
    ws.set_column(1, 1, 28)
    ws.set_column(2, 1 + len(aspects), 13)
    ws.set_column(2 + len(aspects), 2 + len(aspects), 30)
    per = stats.get("aspects") or {}
    study = study_fields(stats.get("bound"), stats.get("alpha"))
    for r, stat in enumerate(rows, start=1):
        ws.write_string(r, 0, fill_label(stat.section, study), fmts.text)
        ws.write_string(r, 1, fill_label(stat.label, study), fmts.key)
        for c, aspect in enumerate(aspects, start=2):
            put(ws, r, c, value_at(per.get(aspect, {}), stat.path),
                statistic_format(fmts, stat.path))
        ws.write_string(r, 2 + len(aspects), stat.path, fmts.text)
    ws.freeze_panes(1, 2)
    ws.autofilter(0, 0, len(rows), 2 + len(aspects))
    # on paper: the statistics, without the stats --json field names
    print_setup(ws, len(rows), 1 + len(aspects), 26 + 28 + 13 * len(aspects))
    return ws, len(rows)


def _agreement(wb: Workbook, fmts: Formats, aspects: list[str], stats: dict) -> None:
    """The Agreement rows, then (for runs with expected ratings) the sampled means and the
    expected ratings side by side: two columns per aspect."""
    ws, n = _by_aspect_sheet(wb, fmts, AGREEMENT, aspects, stats)
    per = stats.get("aspects") or {}
    if not has_expected({a: per.get(a) for a in aspects}):
        return
    row = n + 3
    ws.write_string(row, 0, "Sampled ratings vs the logprob expected rating", fmts.section)
    header(ws, row + 1, ["statistic", *[f"{a} {side}" for a in aspects
                                        for side in ("sampled", "expected")]], fmts)
    study = study_fields(stats.get("bound"), stats.get("alpha"))
    for i, (text, sampled, expected) in enumerate(EXPECTED_LINES, start=row + 2):
        ws.write_string(i, 0, fill_label(text, study), fmts.key)
        for j, aspect in enumerate(aspects):
            data = per.get(aspect) or {}
            for k, path in enumerate((sampled, expected)):
                if path:
                    put(ws, i, 1 + 2 * j + k, value_at(data, path),
                        statistic_format(fmts, path))
    last = row + 1 + len(EXPECTED_LINES)
    print_setup(ws, last, max(1 + len(aspects), 2 * len(aspects)),
                26 + 28 + 13 * max(len(aspects), 2 * len(aspects) - 1))


def _reliability(wb: Workbook, fmts: Formats, aspects: list[str], stats: dict) -> None:
    ws, n = _by_aspect_sheet(wb, fmts, RELIABILITY, aspects, stats)
    row = n + 3
    ws.write_string(row, 0, "Between aspects: Pearson r of the per-image model means",
                    fmts.section)
    header(ws, row + 1, ["pair", "r", "p"], fmts)
    between = (stats.get("between_aspects") or {}).items()
    for i, (pair, value) in enumerate(between, start=row + 2):
        ws.write_string(i, 0, pair, fmts.text)
        put(ws, i, 1, value_at(value, "r"), fmts.stat)
        put(ws, i, 2, value_at(value, "p"), fmts.p)
    print_setup(ws, row + 1 + len(between), 1 + len(aspects), 26 + 28 + 13 * len(aspects))


ERRORS_COLUMNS: list[tuple[str, str, str]] = [
    ("k", "k", "int"), ("n images", "n", "int"), ("MAE", "mae", "stat"),
    ("MSE", "mse", "stat"), ("r", "r", "stat"),
    ("MAE random k-subsets", "mae_subsets", "stat"),
    ("subsets {level} lower", "mae_subsets_ci.0", "stat"),
    ("subsets {level} upper", "mae_subsets_ci.1", "stat"),
    ("subsets Monte-Carlo SE", "mae_subsets_se", "stat"),
]


def _errors_by_k(wb: Workbook, fmts: Formats, aspects: list[str], stats: dict) -> None:
    ws = wb.add_worksheet("ErrorsByK")
    study = study_fields(stats.get("bound"), stats.get("alpha"))
    header(ws, 0, ["aspect", *[fill_label(h, study) for h, _, _ in ERRORS_COLUMNS]], fmts,
           widths=[12, *[11] * len(ERRORS_COLUMNS)])
    ws.set_column(0, 0, 12)
    ws.set_column(1, len(ERRORS_COLUMNS), 11)
    per = stats.get("aspects") or {}
    row = 1
    spans: list[tuple[str, int, int]] = []
    for aspect in aspects:
        entries = per.get(aspect, {}).get("errors_by_k") or []
        if not entries:
            continue
        start = row
        for entry in entries:
            ws.write_string(row, 0, aspect, fmts.text)
            for c, (_, key, kind) in enumerate(ERRORS_COLUMNS, start=1):
                put(ws, row, c, value_at(entry, key), fmts.of(kind))
            row += 1
        spans.append((aspect, start, row - 1))
    ws.freeze_panes(1, 1)
    ws.autofilter(0, 0, max(row - 1, 1), len(ERRORS_COLUMNS))
    width = 12 + 11 * len(ERRORS_COLUMNS)
    if not spans:  # an empty run: no chart (xlsxwriter refuses charts without series)
        print_setup(ws, row - 1, len(ERRORS_COLUMNS), width)
        return
    # the charts under the table, each within the printed width, legend below, the x
    # labels under the plot (not at r = 0)
    chart_rows = 18
    first_chart = row + 1
    for n, (title, col, y_title) in enumerate((
        ("MAE of the mean of the first k repeats vs human", 3, "MAE"),
        ("Pearson r of the mean of the first k repeats vs human", 5, "r"),
    )):
        chart = wb.add_chart({"type": "line"})
        for aspect, first, last in spans:
            chart.add_series({
                "name": aspect,
                "categories": ["ErrorsByK", first, 1, last, 1],
                "values": ["ErrorsByK", first, col, last, col],
                "marker": {"type": "circle", "size": 5},
            })
        chart.set_title({"name": title, "name_font": {"size": 11}})
        chart.set_x_axis({"name": "k (repeats averaged)", "label_position": "low"})
        chart.set_y_axis({"name": y_title, "major_gridlines": {"visible": True}})
        chart.set_legend({"position": "bottom"})
        chart.set_size({"width": 640, "height": 320})
        ws.insert_chart(first_chart + n * chart_rows, 0, chart)
    print_setup(ws, first_chart + 2 * chart_rows, len(ERRORS_COLUMNS), width)
    ws.set_h_pagebreaks([first_chart + chart_rows - 1])  # each chart whole on a page


FIGURES_SHEET = "Figures"
FIGURE_WIDTH_PX = 900  # shown width of each figure in the sheet
ROW_PX = 20  # Excel's default row height (15 pt)


def _figures(wb: Workbook, fmts: Formats, figures: Sequence[tuple[str, str, bytes]]) -> None:
    """The figures' PNGs (xlsxwriter insert_image), each under its title and caption."""
    from PIL import Image

    ws = wb.add_worksheet(FIGURES_SHEET)
    ws.set_column(0, 0, 130)
    ws.write_string(0, 0, "Figures (the PDF/SVG files for a paper: vlmrate figures RUN)",
                    fmts.title)
    row = 2
    for i, (title, caption, png) in enumerate(figures, 1):
        ws.write_string(row, 0, f"Figure {i}. {title}", fmts.key)
        ws.write_string(row + 1, 0, excel_text(caption), fmts.wrap)
        ws.set_row(row + 1, 15 * max(2, math.ceil(len(caption) / 150)))
        with Image.open(io.BytesIO(png)) as image:
            width, height = image.size
        scale = min(1.0, FIGURE_WIDTH_PX / width)
        ws.insert_image(row + 2, 0, f"figure{i}.png", {
            "image_data": io.BytesIO(png), "x_scale": scale, "y_scale": scale,
            "object_position": 3})
        row += 3 + math.ceil(height * scale / ROW_PX) + 1


def _cross_by_k(wb: Workbook, fmts: Formats, stats: dict) -> None:
    ws = wb.add_worksheet("CrossByK")
    ws.write_string(0, 0, "Pearson r between the model mean of the first k repeats (rows: "
                    "model aspect) and the human means (columns: human aspect)", fmts.section)
    ws.set_column(0, 0, 24)
    ws.set_column(1, 20, 12)
    ws.freeze_panes(1, 1)
    row = 2
    for k, matrix in (stats.get("cross_by_k") or {}).items():
        human_aspects: list[str] = list(dict.fromkeys(
            h for values in matrix.values() for h in (values or {})))
        ws.write_string(row, 0, f"k = {k}", fmts.section)
        header(ws, row + 1, ["model \\ human", *human_aspects], fmts)
        row += 2
        for model_aspect, values in matrix.items():
            ws.write_string(row, 0, model_aspect, fmts.key)
            for c, human in enumerate(human_aspects, start=1):
                put(ws, row, c, (values or {}).get(human), fmts.stat)
            row += 1
        row += 1
    n_humans = max((len({h for v in m.values() for h in (v or {})})
                    for m in (stats.get("cross_by_k") or {}).values()), default=1)
    print_setup(ws, max(row - 1, 0), n_humans, 24 + 12 * n_humans, header_rows=0)


CASES_HEADER = ["list", "rank", "image_id", "aspect", "model mean", "model SD", "n",
                "human", "d", "flagged", "category", "reviewer", "note",
                "answers (#repeat [rating] reason)"]


def _answers_text(frame: pl.DataFrame) -> str:
    lines = []
    for rec in frame.iter_rows(named=True):
        rating = "—" if rec["rating"] is None else str(rec["rating"])
        text = rec["reason"]
        if not text:
            problem = rec["engine_error"] or rec["parse_error"]
            text = f"({problem}) {rec['raw'] or ''}".strip() if problem else (rec["raw"] or "")
        lines.append(f"#{rec['repeat']} [{rating}] {text}")
    return "\n".join(lines)


def _review_cells(entry: dict) -> dict:
    """The review columns of a Cases row (an entry of vlmrate.runfolder.review's shape, or {})."""
    return {"flagged": bool(entry.get("flagged")), "category": entry.get("category") or "",
            "reviewer": entry.get("reviewer") or "", "note": entry.get("note") or ""}


def case_rows(run: LoadedRun, per_image: pl.DataFrame, top_n: int = TOP_N) -> list[dict]:
    """The Cases sheet's rows: reviewed cases first, then per aspect the top_n images by d
    (both ends) and by SD, as vlmrate.stats.cases ranks them."""
    rows: list[dict] = []
    stats_of: dict[tuple[str, str], dict] = {}
    known = set(per_image.columns)

    def stat(image_id: str, aspect: str) -> dict:
        return stats_of.get((image_id, aspect), {})

    for aspect in run.aspects:
        cols = [f"{aspect}_{s}" for s in ("mean", "sd", "n", "human", "d")]
        if not set(cols) <= known:
            continue
        for rec in per_image.select("image_id", *cols).iter_rows():
            stats_of[(rec[0], aspect)] = dict(zip(("mean", "sd", "n", "human", "d"), rec[1:],
                                                  strict=True))
    for image_id in sorted(run.review):
        for aspect, entry in run.review[image_id].items():
            note = (entry.get("note") or "").strip()
            if entry.get("flagged") or note:
                rows.append({"list": "reviewed (flagged or noted)", "image_id": image_id,
                             "aspect": aspect, **_review_cells(entry)})
    from vlmrate.stats.cases import cases

    for aspect in run.aspects:
        if f"{aspect}_d" not in known or f"{aspect}_sd" not in known:
            continue
        ranked_lists = cases(run.ratings, run.human, aspect, n=top_n, table=per_image)
        lists = (
            ("d highest (model above human)", ranked_lists.most_positive),
            ("d lowest (model below human)", ranked_lists.most_negative),
            ("SD highest (least stable)", ranked_lists.most_variable),
        )
        for label, ranked in lists:
            for rank, image_id in enumerate(ranked["image_id"].to_list(), 1):
                review = run.review.get(image_id, {}).get(aspect, {})
                rows.append({"list": label, "rank": rank, "image_id": image_id,
                             "aspect": aspect, **_review_cells(review)})
    if not rows:
        return rows
    keys = pl.DataFrame({"image_id": [r["image_id"] for r in rows],
                         "aspect": [r["aspect"] for r in rows]}).unique()
    answers = run.ratings.join(keys, on=["image_id", "aspect"], how="semi").sort(
        ["image_id", "aspect", "repeat"])
    texts = {(key[0], key[1]): _answers_text(group)
             for key, group in answers.group_by(["image_id", "aspect"], maintain_order=True)}
    for row in rows:
        row.update({f"model {k}" if k in ("mean", "sd") else k: v
                    for k, v in stat(row["image_id"], row["aspect"]).items()})
        row["answers"] = texts.get((row["image_id"], row["aspect"]), "")
    return rows


def _cases(wb: Workbook, fmts: Formats, run: LoadedRun, per_image: pl.DataFrame,
           top_n: int) -> None:
    ws = wb.add_worksheet("Cases")
    widths = (28, 6, 16, 11, 10, 10, 5, 9, 9, 8, 16, 12, 40, 90)
    header(ws, 0, CASES_HEADER, fmts, widths=widths)
    for col, width in enumerate(widths):
        ws.set_column(col, col, width)
    rows = case_rows(run, per_image, top_n)
    fields = [("list", fmts.text), ("rank", fmts.int), ("image_id", fmts.text),
              ("aspect", fmts.text), ("model mean", fmts.stat), ("model sd", fmts.stat),
              ("n", fmts.int), ("human", fmts.stat), ("d", fmts.stat), ("flagged", fmts.bool),
              ("category", fmts.text), ("reviewer", fmts.text), ("note", fmts.wrap),
              ("answers", fmts.wrap)]
    for r, rec in enumerate(rows, start=1):
        for c, (key, fmt) in enumerate(fields):
            value = rec.get(key)
            if isinstance(value, str):
                if value:
                    ws.write_string(r, c, excel_text(value), fmt)
            else:
                put(ws, r, c, value, fmt)
        # the answers, one per line, wrapped: the row as tall as they need
        ws.set_row(r, text_height([(str(rec.get("note") or ""), widths[12]),
                                   (str(rec.get("answers") or ""), widths[13])]))
    ws.freeze_panes(1, 3)
    ws.autofilter(0, 0, max(len(rows), 1), len(fields) - 1)
    print_setup(ws, len(rows), len(fields) - 1, sum(widths), title_cols=3)


def write_workbook(run: LoadedRun, stats_json: dict, per_image: pl.DataFrame, path: Path,
                   *, top_n: int = TOP_N,
                   figures: Sequence[tuple[str, str, bytes]] = ()) -> Path:
    """Write the run's workbook to path (atomically) and return path.

    stats_json is the `vlmrate stats --json` object (vlmrate.stats.to_json_dict),
    per_image the frame of vlmrate.stats.per_image (image_id, <a>_mean/_sd/_n/_human/_d).
    figures: (title, caption, PNG) of each figure (vlmrate.figures, drawn by the caller)
    for a Figures sheet after Cases; none, no sheet. Raises UserError with one line when path cannot be written.
    """
    path = check_target(Path(path))
    buffer = io.BytesIO()
    wb = xlsxwriter.Workbook(buffer, WORKBOOK_OPTIONS)
    fmts = Formats(wb)
    ordered = answers_order(run)
    summary_sheet(wb, fmts, run, stats_json)
    bulks = bulk_sheet(wb, fmts, "Ratings", ordered, RATINGS_COLUMNS, freeze_cols=2)
    table, columns = per_image_table(run, per_image)
    bulks += bulk_sheet(wb, fmts, "PerImage", table, columns, freeze_cols=1)
    _reliability(wb, fmts, run.aspects, stats_json)
    _agreement(wb, fmts, run.aspects, stats_json)
    _errors_by_k(wb, fmts, run.aspects, stats_json)
    _cross_by_k(wb, fmts, stats_json)
    _cases(wb, fmts, run, per_image, top_n)
    if figures:
        _figures(wb, fmts, figures)
    bulks += bulk_sheet(wb, fmts, "Answers", ordered, ANSWERS_COLUMNS, freeze_cols=2)
    wb.get_worksheet_by_name("Summary").activate()
    wb.close()
    with atomic_output(path) as handle:
        assemble(buffer.getvalue(), bulks, handle)
    return path
