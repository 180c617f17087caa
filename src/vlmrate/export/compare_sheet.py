"""The comparison workbook (`vlmrate export --compare RUN RUN... -o FILE.xlsx`).

Sheet Compare: the runs (what each is and what it cost), then per aspect the runs on
the common images (best value per column in bold) and the pairs, then the MAE by k of
every run with one native line chart per aspect (a line per run). One Summary sheet per
run follows (the run's own Summary, on all of its images). Everything comes from
vlmrate.stats.compare.compare and vlmrate.stats.analyse; nothing is computed here.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import xlsxwriter
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from vlmrate.export.sheets import summary_sheet
from vlmrate.export.target import atomic_output, check_target
from vlmrate.export.xlsx_writer import WORKBOOK_OPTIONS, Formats, header, print_setup, put
from vlmrate.runfolder.store import LoadedRun
from vlmrate.stats.compare import RUN_COLUMNS, Comparison, best_runs

SHEET = "Compare"
RUN_FACTS: list[tuple[str, str, str]] = [  # header, key of run_facts, format kind
    ("run", "name", "key"), ("model", "model", "text"), ("prompts", "prompts", "text"),
    ("engine", "engine", "text"), ("temperature", "temperature", "stat"),
    ("repeats", "repeats", "int"), ("rating-only", "rating_only", "bool"),
    ("answers", "n_answers", "int"), ("parse failure rate", "parse_failure_rate", "percent"),
    ("output tokens (mean)", "output_tokens_mean", "stat"), ("wall s", "wall_s", "stat"),
]
PAIR_COLUMNS: list[tuple[str, str, str]] = [
    ("n", "n", "int"), ("MAE diff (A − B)", "mae_diff", "stat"),
    ("CI lower", "mae_diff_ci.0", "stat"), ("CI upper", "mae_diff_ci.1", "stat"),
    ("r diff (A − B)", "r_diff", "stat"), ("Williams t", "r_diff_t", "stat"),
    ("Williams p", "r_diff_p", "p"), ("Wilcoxon |d| p", "abs_d_p", "p"),
]


def _value(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = obj[int(part)] if part.isdigit() else getattr(obj, part)
    return obj


def summary_name(run_name: str, taken: set[str]) -> str:
    """'Summary <run>' as an Excel sheet name: at most 31 characters, none of []:*?/\\,
    unique among ``taken`` (a number is appended if needed)."""
    base = "Summary " + re.sub(r"[\[\]:*?/\\]", "_", run_name)
    name, n = base[:31], 2
    while name.lower() in {t.lower() for t in taken}:
        suffix = f" {n}"
        name, n = base[: 31 - len(suffix)] + suffix, n + 1
    return name


def _widths(n: int) -> list[float]:
    """The Compare sheet's column widths (set in write_compare_workbook), for header rows
    as tall as their wrapped names."""
    return [26, *[11] * (n - 1)]


def _runs_block(ws: Worksheet, fmts: Formats, c: Comparison, row: int) -> int:
    ws.write_string(row, 0, "Runs", fmts.section)
    names = [h for h, _, _ in RUN_FACTS]
    header(ws, row + 1, names, fmts, widths=_widths(len(names)))
    for i, facts in enumerate(c.runs, start=row + 2):
        for j, (_, key, kind) in enumerate(RUN_FACTS):
            put(ws, i, j, facts.get(key), fmts.of(kind))
    return row + 2 + len(c.runs) + 1


def _aspect_block(ws: Worksheet, fmts: Formats, bold: dict[str, Any], c: Comparison,
                  aspect: str, row: int) -> int:
    a = c.aspects[aspect]
    level = f"{c.confidence:.0%}"
    ws.write_string(row, 0, f"{aspect}: {a.n_common} common images (bold: best)",
                    fmts.section)
    columns: list[tuple[str, str, str]] = [
        ("run", "", "key"), ("images", "n_images", "int"), ("bias", "bias", "stat"),
        ("MAE", "mae", "stat"), (f"MAE {level} lower", "mae_ci.0", "stat"),
        (f"MAE {level} upper", "mae_ci.1", "stat"), ("r", "r", "stat"),
        (f"r {level} lower", "r_ci.0", "stat"), (f"r {level} upper", "r_ci.1", "stat"),
        ("ICC(A,1)", "icc_a1", "stat"), ("CCC", "ccc", "stat"), ("ICC1", "icc1", "stat"),
        ("TOST equivalent", "tost_equivalent", "bool"),
        ("Wilcoxon p", "wilcoxon_p_two_sided", "p"),
    ]
    header(ws, row + 1, [h for h, _, _ in columns], fmts, widths=_widths(len(columns)))
    best = best_runs(a)
    r = row + 2
    for name, values in a.runs.items():
        ws.write_string(r, 0, name, fmts.key)
        for j, (_, path, kind) in enumerate(columns[1:], start=1):
            marked = path in RUN_COLUMNS and name in best.get(path, ())
            put(ws, r, j, _value(values, path), bold[kind] if marked else fmts.of(kind))
        r += 1
    if a.pairs:
        r += 1
        header(ws, r, ["A − B", *[h for h, _, _ in PAIR_COLUMNS]], fmts,
               widths=_widths(1 + len(PAIR_COLUMNS)))
        r += 1
        for (x, y), pair in a.pairs.items():
            ws.write_string(r, 0, f"{x} − {y}", fmts.key)
            for j, (_, path, kind) in enumerate(PAIR_COLUMNS, start=1):
                put(ws, r, j, _value(pair, path), fmts.of(kind))
            r += 1
    return r + 1


def _mae_by_k_block(wb: Workbook, ws: Worksheet, fmts: Formats, c: Comparison, row: int,
                    chart_col: int) -> int:
    """Per aspect: k down, one MAE column per run, and a line chart beside it."""
    for aspect, a in c.aspects.items():
        if not a.runs:
            continue
        names = list(a.runs)
        ks = sorted({k for r in a.runs.values() for k, _ in r.mae_by_k})
        if not ks:
            continue
        ws.write_string(row, 0, f"{aspect}: MAE of the mean of the first k repeats "
                        f"(common images)", fmts.section)
        header(ws, row + 1, ["k", *names], fmts, widths=_widths(1 + len(names)))
        first = row + 2
        for i, k in enumerate(ks):
            ws.write_number(first + i, 0, k, fmts.int)
            for j, name in enumerate(names, start=1):
                put(ws, first + i, j, dict(a.runs[name].mae_by_k).get(k), fmts.stat)
        last = first + len(ks) - 1
        chart = wb.add_chart({"type": "line"})
        for j in range(1, len(names) + 1):
            chart.add_series({"name": [SHEET, row + 1, j],
                              "categories": [SHEET, first, 0, last, 0],
                              "values": [SHEET, first, j, last, j],
                              "marker": {"type": "circle", "size": 5}})
        chart.set_title({"name": f"{aspect}: MAE by k", "name_font": {"size": 11}})
        chart.set_x_axis({"name": "k (repeats averaged)", "label_position": "low"})
        chart.set_y_axis({"name": "MAE", "major_gridlines": {"visible": True}})
        chart.set_legend({"position": "bottom"})
        chart.set_size({"width": 560, "height": 300})
        ws.insert_chart(row, chart_col, chart)
        row = max(last + 2, row + 16)
    return row


def write_compare_workbook(c: Comparison, summaries: list[tuple[LoadedRun, dict]],
                           path: Path) -> Path:
    """Write the comparison workbook to ``path`` (atomically) and return it.

    ``summaries``: each compared run (once, also when it is compared with its own
    expected rating) with its `stats --json` dict, for its Summary sheet.
    """
    path = check_target(Path(path))
    buffer = io.BytesIO()
    wb = xlsxwriter.Workbook(buffer, WORKBOOK_OPTIONS)
    fmts = Formats(wb)
    bold = {kind: wb.add_format({"font_size": 10, "valign": "top", "bold": True,
                                 "num_format": fmts.of(kind).num_format})
            for kind in ("int", "stat", "p", "bool")}
    ws = wb.add_worksheet(SHEET)
    ws.set_column(0, 0, 26)
    ws.set_column(1, 14, 11)
    ws.write_string(0, 0, "vlmrate — runs compared on their common images", fmts.title)
    ws.write_string(1, 0, f"intervals at {c.confidence:.0%}; TOST bound ±{c.bound:g}; pairs: "
                    f"MAE difference with a paired bootstrap interval, Williams' t for "
                    f"r(A,h) − r(B,h), Wilcoxon signed-rank on |d_A| − |d_B|", fmts.text)
    row = _runs_block(ws, fmts, c, 3)
    for aspect in c.aspects:
        row = _aspect_block(ws, fmts, bold, c, aspect, row)
    chart_col = len(c.runs) + 3
    last = _mae_by_k_block(wb, ws, fmts, c, row + 1, chart_col=chart_col)
    # on paper: fitted to the width, the charts (about 7 columns wide) inside the area
    last_col = max(14, chart_col + 7)
    print_setup(ws, last, last_col, 26 + 11 * last_col, header_rows=0)
    taken = {SHEET}
    for run, stats in summaries:
        name = summary_name(run.name, taken)
        taken.add(name)
        summary_sheet(wb, fmts, run, stats, name=name)
    ws.activate()
    wb.close()
    with atomic_output(path) as handle:
        handle.write(buffer.getvalue())
    return path
