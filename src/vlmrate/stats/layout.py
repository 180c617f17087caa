"""Where each per-aspect statistic is shown: one table for the CLI report
(``stats/report.py``), the TUI's Summary tab and the workbook's Reliability and
Agreement sheets.

``STATISTICS`` has one row per number: section, label, path, kind, the workbook sheets
that list it and the decimals of the text views (None: no trailing zeros). The path is a key path in ``stats --json``'s ``aspects[<aspect>]``
object and, the same path, an attribute path on :class:`AspectStats` (``"icc.ICC1.ci.0"``:
a digit indexes a list or tuple; a key with a dot, ``"icc.k_needed.0.8"``, is found
too); rows with no sheet are numbers ``stats --json`` does not carry (they exist on
AspectStats only). The TUI shows every row (the expected-rating rows only when some
aspect has expected ratings), the workbook the rows of each sheet, in this order.
Sections and labels may name the study's fields: ``{level}`` (the confidence level of
the intervals, "95%"), ``{tost_level}`` (1 - 2 alpha), ``{bound}``, ``{alpha}``.

``REPORT_LINES`` lays the same statistics out as the CLI report's lines (statistic,
estimate, CI / test, p). Their cells are templates: ``{path}`` is formatted as that
statistic's row in ``STATISTICS`` says (a path to a pair, ``{icc.ICC1.ci}``, as an
interval of its two rows); ``{bound}``, ``{alpha}``, ``{level}`` and ``{tost_level}`` are
the study's. ``EXPECTED_LINES`` are the rows of the report's sampled-vs-expected table
(statistic, sampled template, expected template). Every path a
template names must be a row of ``STATISTICS`` (checked on import), so each number has
one kind and one format everywhere.

A new statistic: add it to ``stats --json`` / AspectStats, then one row here (and a
report line, or a placeholder in one, if the CLI report should show it).
"""

from __future__ import annotations

import dataclasses
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from . import formatting


class Kind(StrEnum):
    COUNT = "int"
    STAT = "stat"
    P = "p"
    BOOL = "bool"
    TEXT = "text"


RELIABILITY = "Reliability"
AGREEMENT = "Agreement"


@dataclass(frozen=True)
class Statistic:
    section: str
    label: str
    path: str
    kind: Kind
    sheets: tuple[str, ...] = ()  # workbook sheets listing it; () = not in stats --json
    digits: int | None = 3  # decimals in the report and the TUI; None: as short as exact


def _icc(name: str) -> list[Statistic]:
    rows = ((name, "value", Kind.STAT, 3), ("F", "F", Kind.STAT, 2),
            ("df1", "df1", Kind.STAT, 0), ("df2", "df2", Kind.STAT, 0), ("p", "p", Kind.P, 3),
            ("{level} CI lower", "ci.0", Kind.STAT, 3),
            ("{level} CI upper", "ci.1", Kind.STAT, 3))
    return [Statistic(name, label, f"icc.{name}.{key}", kind, (RELIABILITY,), digits)
            for label, key, kind, digits in rows]


_R, _A = (RELIABILITY,), (AGREEMENT,)
_WILCOXON, _TOST, _TOST_W = "Wilcoxon signed-rank on d", "TOST (paired t)", "TOST (Wilcoxon)"
_HOLM = "p two-sided, Holm across aspects"
_EXP = "expected rating (logprobs)"
EXPECTED_PREFIX = "expected."

STATISTICS: tuple[Statistic, ...] = (
    Statistic("images", "n images (model and human)", "n_images", Kind.COUNT, (*_R, *_A)),
    Statistic("stability", "SD of repeats: mean", "stability.sd_mean", Kind.STAT, _R),
    Statistic("stability", "SD of repeats: median", "stability.sd_median", Kind.STAT, _R),
    *_icc("ICC1"),
    *_icc("ICC1k"),
    Statistic("ICC1k", "n0 (repeats per image, corrected)", "icc.n0", Kind.STAT, digits=2),
    Statistic("ICC, reference formula", "ICC as in the reference study", "icc.icc_reference",
              Kind.STAT, _R),
    Statistic("answers needed", "for reliability 0.8 (Spearman–Brown)", "icc.k_needed.0.8",
              Kind.STAT, _R, 1),
    Statistic("answers needed", "for reliability 0.9 (Spearman–Brown)", "icc.k_needed.0.9",
              Kind.STAT, _R, 1),
    Statistic("answers", "parse failures", "parse_failures", Kind.COUNT, _R),
    Statistic("answers", "engine errors", "engine_errors", Kind.COUNT, _R),
    Statistic(_WILCOXON, "W+", "wilcoxon.w_plus", Kind.STAT, _A, None),
    Statistic(_WILCOXON, "W−", "wilcoxon.w_minus", Kind.STAT, _A, None),
    Statistic(_WILCOXON, "p (model > human)", "wilcoxon.p_greater", Kind.P, _A),
    Statistic(_WILCOXON, "p (model < human)", "wilcoxon.p_less", Kind.P, _A),
    Statistic(_WILCOXON, "p (two-sided)", "wilcoxon.p_two_sided", Kind.P, _A),
    Statistic(_WILCOXON, "p (two-sided), Holm", "holm.wilcoxon_two_sided", Kind.P, _A),
    Statistic(_WILCOXON, "method", "wilcoxon.method", Kind.TEXT, _A),
    Statistic(_WILCOXON, "n (non-zero d)", "wilcoxon.n", Kind.COUNT, _A),
    Statistic(_WILCOXON, "zero d dropped", "wilcoxon.n_zero", Kind.COUNT, _A),
    Statistic(_WILCOXON, "rank-biserial r", "wilcoxon.rank_biserial", Kind.STAT, _A),
    Statistic(_WILCOXON, "Hodges–Lehmann", "wilcoxon.hodges_lehmann", Kind.STAT, _A),
    Statistic(_WILCOXON, "HL CI lower", "wilcoxon.hodges_lehmann_ci.0", Kind.STAT, _A),
    Statistic(_WILCOXON, "HL CI upper", "wilcoxon.hodges_lehmann_ci.1", Kind.STAT, _A),
    Statistic(_WILCOXON, "HL CI level reached", "wilcoxon.hodges_lehmann_ci_level",
              Kind.STAT, _A),
    Statistic(_TOST, "bound", "tost.bound", Kind.STAT, _A),
    Statistic(_TOST, "mean d", "tost.mean_diff", Kind.STAT, _A),
    Statistic(_TOST, "SD d", "tost.sd_diff", Kind.STAT, _A),
    Statistic(_TOST, "d_z (mean d / SD d)", "tost.dz", Kind.STAT, _A),
    Statistic(_TOST, "{tost_level} CI of mean d: lower", "tost.ci.0", Kind.STAT, _A),
    Statistic(_TOST, "{tost_level} CI of mean d: upper", "tost.ci.1", Kind.STAT, _A),
    Statistic(_TOST, "t lower", "tost.t_lower", Kind.STAT, _A, 2),
    Statistic(_TOST, "p lower", "tost.p_lower", Kind.P, _A),
    Statistic(_TOST, "t upper", "tost.t_upper", Kind.STAT, _A, 2),
    Statistic(_TOST, "p upper", "tost.p_upper", Kind.P, _A),
    Statistic(_TOST, "p", "tost.p", Kind.P, _A),
    Statistic(_TOST, "p, Holm", "holm.tost", Kind.P, _A),
    Statistic(_TOST, "equivalent", "tost.equivalent", Kind.BOOL, _A),
    Statistic(_TOST_W, "p lower", "tost_wilcoxon.p_lower", Kind.P, _A),
    Statistic(_TOST_W, "p upper", "tost_wilcoxon.p_upper", Kind.P, _A),
    Statistic(_TOST_W, "p", "tost_wilcoxon.p", Kind.P, _A),
    Statistic(_TOST_W, "equivalent", "tost_wilcoxon.equivalent", Kind.BOOL, _A),
    Statistic("Bland–Altman", "bias", "agreement.ba_bias", Kind.STAT, _A),
    Statistic("Bland–Altman", "lower limit", "agreement.ba_lower", Kind.STAT, _A, 2),
    Statistic("Bland–Altman", "lower limit: 95% CI lower", "agreement.ba_lower_ci.0",
              Kind.STAT, _A, 2),
    Statistic("Bland–Altman", "lower limit: 95% CI upper", "agreement.ba_lower_ci.1",
              Kind.STAT, _A, 2),
    Statistic("Bland–Altman", "upper limit", "agreement.ba_upper", Kind.STAT, _A, 2),
    Statistic("Bland–Altman", "upper limit: 95% CI lower", "agreement.ba_upper_ci.0",
              Kind.STAT, _A, 2),
    Statistic("Bland–Altman", "upper limit: 95% CI upper", "agreement.ba_upper_ci.1",
              Kind.STAT, _A, 2),
    Statistic("Bland–Altman", "slope of d on (m+h)/2", "agreement.ba_slope", Kind.STAT, _A),
    Statistic("Bland–Altman", "slope p", "agreement.ba_slope_p", Kind.P, _A),
    Statistic("ICC two-way", "ICC(A,1)", "agreement.icc_a1", Kind.STAT, _A),
    Statistic("ICC two-way", "ICC(C,1)", "agreement.icc_c1", Kind.STAT, _A),
    Statistic("concordance", "Lin's CCC", "agreement.ccc", Kind.STAT, _A),
    Statistic("concordance", "C_b = CCC / r", "agreement.ccc_cb", Kind.STAT, _A),
    Statistic("MAE", "MAE (mean of all repeats)", "agreement.mae", Kind.STAT, _A),
    Statistic("MAE", "MSE (mean of all repeats)", "agreement.mse", Kind.STAT, _A),
    Statistic("bootstrap {level} CI", "MAE lower", "agreement.mae_ci.0", Kind.STAT, _A),
    Statistic("bootstrap {level} CI", "MAE upper", "agreement.mae_ci.1", Kind.STAT, _A),
    Statistic("bootstrap {level} CI", "r lower", "agreement.r_ci.0", Kind.STAT, _A),
    Statistic("bootstrap {level} CI", "r upper", "agreement.r_ci.1", Kind.STAT, _A),
    Statistic("Pearson vs human", "r", "pearson_vs_human.r", Kind.STAT, _A),
    Statistic("Pearson vs human", "p", "pearson_vs_human.p", Kind.P, _A),
    Statistic("Pearson vs human", "p, Holm", "holm.pearson_vs_human", Kind.P, _A),
    Statistic("homogeneity", "SD of model means", "homogeneity.sd_model", Kind.STAT, _A),
    Statistic("homogeneity", "SD of human means", "homogeneity.sd_human", Kind.STAT, _A),
    Statistic("homogeneity", "ratio model / human", "homogeneity.ratio", Kind.STAT, _A),
    Statistic("homogeneity", "Pitman–Morgan p", "homogeneity.p", Kind.P, _A),
    Statistic("homogeneity", "mean per-image SD: model", "homogeneity.image_sd_model",
              Kind.STAT, _A),
    Statistic("homogeneity", "mean per-image SD: humans", "homogeneity.image_sd_human",
              Kind.STAT, _A),
    Statistic(_EXP, "n images", "expected.n_images", Kind.COUNT, _A),
    Statistic(_EXP, "Pearson r", "expected.pearson_vs_human.r", Kind.STAT, _A),
    Statistic(_EXP, "Pearson p", "expected.pearson_vs_human.p", Kind.P, _A),
    Statistic(_EXP, "MAE", "expected.mae", Kind.STAT, _A),
    Statistic(_EXP, "MSE", "expected.mse", Kind.STAT, _A),
    Statistic(_EXP, "bias (mean e − h)", "expected.bias", Kind.STAT, _A),
    Statistic(_EXP, "Lin's CCC", "expected.ccc", Kind.STAT, _A),
    Statistic(_EXP, "Wilcoxon p (two-sided)", "expected.wilcoxon.p_two_sided", Kind.P, _A),
    Statistic(_EXP, "Wilcoxon method", "expected.wilcoxon.method", Kind.TEXT, _A),
    Statistic(_EXP, "rank-biserial r", "expected.wilcoxon.rank_biserial", Kind.STAT, _A),
    Statistic(_EXP, "Hodges–Lehmann", "expected.wilcoxon.hodges_lehmann", Kind.STAT, _A),
    Statistic(_EXP, "TOST p", "expected.tost.p", Kind.P, _A),
    Statistic(_EXP, "TOST equivalent", "expected.tost.equivalent", Kind.BOOL, _A),
    Statistic(_EXP, "d_z", "expected.tost.dz", Kind.STAT, _A),
    Statistic(_EXP, "r with the sampled means", "expected.vs_sampled.r", Kind.STAT, _A),
    Statistic(_EXP, "MAE to the sampled means", "expected.vs_sampled.mae", Kind.STAT, _A),
)


@dataclass(frozen=True)
class ReportLine:
    statistic: str
    estimate: str = ""
    test: str = ""  # the "CI / test" column
    p: str = ""


REPORT_LINES: tuple[ReportLine, ...] = (
    ReportLine("Stability: SD mean / median", "{stability.sd_mean} / {stability.sd_median}"),
    ReportLine("ICC(1,1)", "{icc.ICC1.value}", "{icc.ICC1.ci}", "{icc.ICC1.p}"),
    ReportLine("ICC(1,k)", "{icc.ICC1k.value}", "{icc.ICC1k.ci}"),
    ReportLine("  F(df1, df2)", "{icc.ICC1.F}",
               "F({icc.ICC1.df1}, {icc.ICC1.df2}), n0 = {icc.n0}"),
    ReportLine("  answers for 0.8 / 0.9", "{icc.k_needed.0.8} / {icc.k_needed.0.9}",
               "Spearman–Brown from ICC(1,1)"),
    ReportLine("ICC, reference formula", "{icc.icc_reference}"),
    ReportLine("Pearson r model vs human", "{pearson_vs_human.r}", "{agreement.r_ci}",
               "{pearson_vs_human.p}"),
    ReportLine("", "", "Holm across aspects", "{holm.pearson_vs_human}"),
    ReportLine("MAE (mean of all repeats)", "{agreement.mae}", "{agreement.mae_ci}"),
    ReportLine("ICC(A,1) / ICC(C,1)", "{agreement.icc_a1} / {agreement.icc_c1}"),
    ReportLine("Lin's CCC / C_b", "{agreement.ccc} / {agreement.ccc_cb}"),
    ReportLine("Bland–Altman bias", "{agreement.ba_bias}",
               "limits [{agreement.ba_lower}, {agreement.ba_upper}]"),
    ReportLine("  95% CIs of the limits", "",
               "{agreement.ba_lower_ci} {agreement.ba_upper_ci}"),
    ReportLine("  proportional bias (slope)", "{agreement.ba_slope}", "d on (m + h)/2",
               "{agreement.ba_slope_p}"),
    ReportLine("Wilcoxon W+ / W−", "{wilcoxon.w_plus} / {wilcoxon.w_minus}",
               "model > human", "{wilcoxon.p_greater}"),
    ReportLine("", "", "model < human", "{wilcoxon.p_less}"),
    ReportLine("", "", "two-sided", "{wilcoxon.p_two_sided}"),
    ReportLine("", "", "two-sided, Holm across aspects", "{holm.wilcoxon_two_sided}"),
    ReportLine("  method", "{wilcoxon.method}",
               "n = {wilcoxon.n}, {wilcoxon.n_zero} zero d dropped"),
    ReportLine("  rank-biserial r", "{wilcoxon.rank_biserial}"),
    ReportLine("  Hodges–Lehmann", "{wilcoxon.hodges_lehmann}", "{wilcoxon.hodges_lehmann_ci}"),
    ReportLine("TOST t (±{bound}): mean d", "{tost.mean_diff}",
               "t = {tost.t_lower}, {tost.t_upper}", "{tost.p}"),
    ReportLine("", "", "Holm across aspects", "{holm.tost}"),
    ReportLine("  equivalent", "{tost.equivalent}", "SD d = {tost.sd_diff}, α = {alpha}"),
    ReportLine("  d_z; {tost_level} CI of mean d", "{tost.dz}", "{tost.ci}"),
    ReportLine("TOST Wilcoxon (±{bound})", "{tost_wilcoxon.equivalent}",
               "p = {tost_wilcoxon.p_lower}, {tost_wilcoxon.p_upper}", "{tost_wilcoxon.p}"),
    ReportLine("SD of means: model / human", "{homogeneity.sd_model} / {homogeneity.sd_human}",
               "ratio {homogeneity.ratio}, Pitman–Morgan", "{homogeneity.p}"),
    ReportLine("  mean per-image SD", "{homogeneity.image_sd_model}",
               "humans: {homogeneity.image_sd_human}"),
)

# Sampled and expected side by side (the report, the TUI, the Agreement sheet):
# (label, path of the sampled statistic or "", path of the expected one); both rows of
# STATISTICS, formatted as the row says.
EXPECTED_LINES: tuple[tuple[str, str, str], ...] = (
    ("n images", "n_images", "expected.n_images"),
    ("Pearson r vs human", "pearson_vs_human.r", "expected.pearson_vs_human.r"),
    ("  p", "pearson_vs_human.p", "expected.pearson_vs_human.p"),
    ("MAE", "agreement.mae", "expected.mae"),
    ("MSE", "agreement.mse", "expected.mse"),
    ("bias (mean − human)", "tost.mean_diff", "expected.bias"),
    ("Lin's CCC", "agreement.ccc", "expected.ccc"),
    ("Wilcoxon p two-sided", "wilcoxon.p_two_sided", "expected.wilcoxon.p_two_sided"),
    ("  method", "wilcoxon.method", "expected.wilcoxon.method"),
    ("  rank-biserial r", "wilcoxon.rank_biserial", "expected.wilcoxon.rank_biserial"),
    ("  Hodges–Lehmann", "wilcoxon.hodges_lehmann", "expected.wilcoxon.hodges_lehmann"),
    ("TOST p (±{bound})", "tost.p", "expected.tost.p"),
    ("  equivalent", "tost.equivalent", "expected.tost.equivalent"),
    ("  d_z", "tost.dz", "expected.tost.dz"),
    ("r with the sampled means", "", "expected.vs_sampled.r"),
    ("MAE to the sampled means", "", "expected.vs_sampled.mae"),
)

STUDY_FIELDS = ("bound", "alpha", "level", "tost_level")  # the study's, not a path


def study_fields(bound: Any, alpha: Any) -> dict[str, Any]:
    """The study's template fields: bound, alpha, and the interval levels as text
    ("95%" at alpha 0.05; tost_level "90%")."""
    out: dict[str, Any] = {"bound": bound, "alpha": alpha, "level": "—", "tost_level": "—"}
    if isinstance(alpha, int | float) and not isinstance(alpha, bool):
        out["level"] = f"{100 * (1 - alpha):.10g}%"
        out["tost_level"] = f"{100 * (1 - 2 * alpha):.10g}%"
    return out


def cell(aspect: Any, path: str) -> str:
    """One statistic of an aspect as text, formatted as its row says ("" for no path)."""
    if not path:
        return ""
    stat = _BY_PATH[path]
    return format_value(value_at(aspect, path), stat.kind, stat.digits)


def label(text: str, study: Mapping[str, Any]) -> str:
    """A section or label with the study's fields filled in ({level} -> "95%")."""
    return render(text, {}, study)


def has_expected(per_aspect: Mapping[str, Any]) -> bool:
    """Whether any aspect (AspectStats or its JSON object) has an expected block."""
    return any(value_at(s, "expected") is not None for s in per_aspect.values())


def visible_rows(per_aspect: Mapping[str, Any]) -> list[Statistic]:
    """The rows a screen shows: all, less the expected-rating rows when no aspect has
    expected ratings."""
    show_expected = has_expected(per_aspect)
    return [s for s in STATISTICS if show_expected or not s.path.startswith(EXPECTED_PREFIX)]

_BY_PATH = {s.path: s for s in STATISTICS}


def sheet_rows(sheet: str) -> list[Statistic]:
    """The rows of one workbook sheet, in order."""
    return [s for s in STATISTICS if sheet in s.sheets]


def kind_of(path: str) -> Kind:
    """The kind of the statistic at path; KeyError for a path not in STATISTICS."""
    return _BY_PATH[path].kind


def readable_note(note: str) -> str:
    """A note of ``notes`` ("icc.k_needed.0.8, icc.k_needed.0.9: why") with the paths
    named as the views label them ("answers needed: for reliability 0.8 …: why")."""
    head, sep, why = note.partition(": ")
    if not sep:
        return note
    names = []
    for path in head.split(", "):
        stat = _BY_PATH.get(path.strip())
        if stat is None:
            return note  # not a list of statistics (e.g. "cross_by_k 4..10"): as it is
        section = re.sub(r"\{\w+\}\s*", "", stat.section).strip()
        text = re.sub(r"\{\w+\}\s*", "", stat.label).strip()
        names.append(text if text.lower().startswith(section.lower()) else f"{section} {text}")
    return f"{', '.join(names)}: {why}"


def digits_of(path: str) -> int | None:
    """The decimals of the statistic at path (None: as short as exact, e.g. W+ 48)."""
    return _BY_PATH[path].digits


def value_at(data: Any, path: str | Sequence[str]) -> Any:
    """data["a"]["b"]... for the path "a.b" (or the keys ("a", "b")): keys of mappings,
    digits as indices of lists and tuples, attributes of dataclasses; None when absent."""
    keys = path.split(".") if isinstance(path, str) else list(path)
    i = 0
    while i < len(keys):
        key = keys[i]
        i += 1
        if isinstance(data, Mapping):
            if key not in data and i < len(keys) and f"{key}.{keys[i]}" in data:
                key = f"{key}.{keys[i]}"  # a key with a dot: k_needed's "0.8"
                i += 1
            data = data.get(key)
        elif isinstance(data, list | tuple):
            if not (key.isdigit() and int(key) < len(data)):
                return None
            data = data[int(key)]
        elif dataclasses.is_dataclass(data) and not isinstance(data, type):
            data = getattr(data, key, None)
        else:
            return None
    return data


def format_value(value: Any, kind: Kind, digits: int | None = 3) -> str:
    """One statistic as text, by its kind (and decimals)."""
    if kind is Kind.P:
        return formatting.p_value(value)
    if kind is Kind.BOOL:
        return formatting.yes_no(value)
    if kind is Kind.COUNT:
        return formatting.count(value)
    if kind is Kind.TEXT:
        return formatting.MISSING if value is None or value == "none" else str(value)
    return formatting.compact(value) if digits is None else formatting.number(value, digits)


def _fields(template: str) -> list[tuple[str, str, str]]:
    """(literal text, field, format spec) of a template."""
    return [(literal, field or "", spec or "")
            for literal, field, spec, _ in string.Formatter().parse(template)]


def _template_statistic(path: str) -> Statistic:
    """The row a template's path names: a statistic, or the first of an interval's two."""
    if path not in _BY_PATH and f"{path}.0" in _BY_PATH and f"{path}.1" in _BY_PATH:
        return _BY_PATH[f"{path}.0"]
    return _BY_PATH[path]  # KeyError: not a row of STATISTICS


def render(template: str, aspect: Any, study: Mapping[str, Any]) -> str:
    """A report cell: the template with each {path} of aspect (AspectStats or its
    stats --json object) formatted as its row says, and {bound}/{alpha} from study."""
    out = []
    for literal, field, _ in _fields(template):
        out.append(literal)
        if not field:
            continue
        if field in STUDY_FIELDS:
            value = study.get(field)
            out.append(value if isinstance(value, str) else formatting.compact(value))
            continue
        stat, value = _template_statistic(field), value_at(aspect, field)
        if isinstance(value, list | tuple):
            out.append(formatting.interval(value, 3 if stat.digits is None else stat.digits))
        else:
            out.append(format_value(value, stat.kind, stat.digits))
    return "".join(out)


def _check_report_lines() -> None:
    templates = [t for line in REPORT_LINES for t in (line.statistic, line.estimate, line.test,
                                                       line.p)]
    templates += [line[0] for line in EXPECTED_LINES]
    for _, *paths in EXPECTED_LINES:
        for path in paths:
            if path:
                kind_of(path)  # KeyError: not a row of STATISTICS
    templates += [t for s in STATISTICS for t in (s.section, s.label)]
    for template in templates:
        for _, field, spec in _fields(template):
            if field and field not in STUDY_FIELDS:
                _template_statistic(field)
            if spec:
                raise ValueError(f"{template!r}: no format specs; decimals are the row's")


_check_report_lines()
