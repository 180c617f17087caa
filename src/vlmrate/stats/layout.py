"""Where each per-aspect statistic is shown: one table for the CLI report
(``stats/report.py``), the TUI's Summary tab and the workbook's Reliability and
Agreement sheets.

``STATISTICS`` has one row per number: section, label, path, kind, the workbook sheets
that list it and the decimals of the text views (None: no trailing zeros). The path is a key path in ``stats --json``'s ``aspects[<aspect>]``
object and, the same path, an attribute path on :class:`AspectStats` (``"icc.ICC1.ci95.0"``:
a digit indexes a list or tuple); rows with no sheet are numbers ``stats --json`` does not
carry (they exist on AspectStats only). The TUI shows every row, the workbook the rows of
each sheet, in this order.

``REPORT_LINES`` lays the same statistics out as the CLI report's lines (statistic,
estimate, 95% CI / test, p). Their cells are templates: ``{path}`` is formatted as that
statistic's row in ``STATISTICS`` says (a path to a pair, ``{icc.ICC1.ci95}``, as an
interval of its two rows); ``{bound}`` and ``{alpha}`` are the study's. Every path a
template names must be a row of ``STATISTICS`` (checked on import), so each number has
one kind and one format everywhere.

A new statistic: add it to ``stats --json`` / AspectStats, then one row here (and a
report line, or a placeholder in one, if the CLI report should show it).
"""

from __future__ import annotations

import dataclasses
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
            ("95% CI lower", "ci95.0", Kind.STAT, 3), ("95% CI upper", "ci95.1", Kind.STAT, 3))
    return [Statistic(name, label, f"icc.{name}.{key}", kind, (RELIABILITY,), digits)
            for label, key, kind, digits in rows]


_R, _A = (RELIABILITY,), (AGREEMENT,)
_WILCOXON, _TOST, _TOST_W = "Wilcoxon signed-rank on d", "TOST (paired t)", "TOST (Wilcoxon)"

STATISTICS: tuple[Statistic, ...] = (
    Statistic("images", "n images (model and human)", "n_images", Kind.COUNT, (*_R, *_A)),
    Statistic("stability", "SD of repeats: mean", "stability.sd_mean", Kind.STAT, _R),
    Statistic("stability", "SD of repeats: median", "stability.sd_median", Kind.STAT, _R),
    *_icc("ICC1"),
    *_icc("ICC1k"),
    Statistic("ICC1k", "n0 (repeats per image, corrected)", "icc.n0", Kind.STAT, digits=2),
    Statistic("icc_reference", "ICC as in the reference study", "icc.icc_reference",
              Kind.STAT, _R),
    Statistic("answers", "parse failures", "parse_failures", Kind.COUNT, _R),
    Statistic("answers", "engine errors", "engine_errors", Kind.COUNT, _R),
    Statistic(_WILCOXON, "W+", "wilcoxon.w_plus", Kind.STAT, _A, None),
    Statistic(_WILCOXON, "W−", "wilcoxon.w_minus", Kind.STAT, _A, None),
    Statistic(_WILCOXON, "p (model > human)", "wilcoxon.p_greater", Kind.P, _A),
    Statistic(_WILCOXON, "p (model < human)", "wilcoxon.p_less", Kind.P, _A),
    Statistic(_WILCOXON, "p (two-sided)", "wilcoxon.p_two_sided", Kind.P, _A),
    Statistic(_TOST, "bound", "tost.bound", Kind.STAT, _A),
    Statistic(_TOST, "mean d", "tost.mean_diff", Kind.STAT, _A),
    Statistic(_TOST, "SD d", "tost.sd_diff", Kind.STAT, _A),
    Statistic(_TOST, "t lower", "tost.t_lower", Kind.STAT, _A, 2),
    Statistic(_TOST, "p lower", "tost.p_lower", Kind.P, _A),
    Statistic(_TOST, "t upper", "tost.t_upper", Kind.STAT, _A, 2),
    Statistic(_TOST, "p upper", "tost.p_upper", Kind.P, _A),
    Statistic(_TOST, "p", "tost.p", Kind.P, _A),
    Statistic(_TOST, "equivalent", "tost.equivalent", Kind.BOOL, _A),
    Statistic(_TOST_W, "p lower", "tost_wilcoxon.p_lower", Kind.P, _A),
    Statistic(_TOST_W, "p upper", "tost_wilcoxon.p_upper", Kind.P, _A),
    Statistic(_TOST_W, "p", "tost_wilcoxon.p", Kind.P, _A),
    Statistic(_TOST_W, "equivalent", "tost_wilcoxon.equivalent", Kind.BOOL, _A),
    Statistic("Bland–Altman", "bias", "agreement.ba_bias", Kind.STAT, _A),
    Statistic("Bland–Altman", "lower limit", "agreement.ba_lower", Kind.STAT, _A, 2),
    Statistic("Bland–Altman", "upper limit", "agreement.ba_upper", Kind.STAT, _A, 2),
    Statistic("ICC two-way", "ICC(A,1)", "agreement.icc_a1", Kind.STAT, _A),
    Statistic("ICC two-way", "ICC(C,1)", "agreement.icc_c1", Kind.STAT, _A),
    Statistic("MAE", "MAE (mean of all repeats)", "agreement.mae", Kind.STAT),
    Statistic("bootstrap 95% CI", "MAE lower", "agreement.mae_ci95.0", Kind.STAT, _A),
    Statistic("bootstrap 95% CI", "MAE upper", "agreement.mae_ci95.1", Kind.STAT, _A),
    Statistic("bootstrap 95% CI", "r lower", "agreement.r_ci95.0", Kind.STAT, _A),
    Statistic("bootstrap 95% CI", "r upper", "agreement.r_ci95.1", Kind.STAT, _A),
    Statistic("Pearson vs human", "r", "pearson_vs_human.r", Kind.STAT, _A),
    Statistic("Pearson vs human", "p", "pearson_vs_human.p", Kind.P, _A),
)


@dataclass(frozen=True)
class ReportLine:
    statistic: str
    estimate: str = ""
    test: str = ""  # the "95% CI / test" column
    p: str = ""


REPORT_LINES: tuple[ReportLine, ...] = (
    ReportLine("Stability: SD mean / median", "{stability.sd_mean} / {stability.sd_median}"),
    ReportLine("ICC(1,1)", "{icc.ICC1.value}", "{icc.ICC1.ci95}", "{icc.ICC1.p}"),
    ReportLine("ICC(1,k)", "{icc.ICC1k.value}", "{icc.ICC1k.ci95}"),
    ReportLine("  F(df1, df2)", "{icc.ICC1.F}",
               "F({icc.ICC1.df1}, {icc.ICC1.df2}), n0 = {icc.n0}"),
    ReportLine("ICC, reference formula", "{icc.icc_reference}"),
    ReportLine("Pearson r model vs human", "{pearson_vs_human.r}", "{agreement.r_ci95}",
               "{pearson_vs_human.p}"),
    ReportLine("MAE (mean of all repeats)", "{agreement.mae}", "{agreement.mae_ci95}"),
    ReportLine("ICC(A,1) / ICC(C,1)", "{agreement.icc_a1} / {agreement.icc_c1}"),
    ReportLine("Bland–Altman bias", "{agreement.ba_bias}",
               "limits [{agreement.ba_lower}, {agreement.ba_upper}]"),
    ReportLine("Wilcoxon W+ / W−", "{wilcoxon.w_plus} / {wilcoxon.w_minus}",
               "model > human", "{wilcoxon.p_greater}"),
    ReportLine("", "", "model < human", "{wilcoxon.p_less}"),
    ReportLine("", "", "two-sided", "{wilcoxon.p_two_sided}"),
    ReportLine("TOST t (±{bound}): mean d", "{tost.mean_diff}",
               "t = {tost.t_lower}, {tost.t_upper}", "{tost.p}"),
    ReportLine("  equivalent", "{tost.equivalent}", "SD d = {tost.sd_diff}, α = {alpha}"),
    ReportLine("TOST Wilcoxon (±{bound})", "{tost_wilcoxon.equivalent}",
               "p = {tost_wilcoxon.p_lower}, {tost_wilcoxon.p_upper}", "{tost_wilcoxon.p}"),
)

STUDY_FIELDS = ("bound", "alpha")  # template fields that are the study's, not a path

_BY_PATH = {s.path: s for s in STATISTICS}


def sheet_rows(sheet: str) -> list[Statistic]:
    """The rows of one workbook sheet, in order."""
    return [s for s in STATISTICS if sheet in s.sheets]


def kind_of(path: str) -> Kind:
    """The kind of the statistic at path; KeyError for a path not in STATISTICS."""
    return _BY_PATH[path].kind


def value_at(data: Any, path: str | Sequence[str]) -> Any:
    """data["a"]["b"]... for the path "a.b" (or the keys ("a", "b")): keys of mappings,
    digits as indices of lists and tuples, attributes of dataclasses; None when absent."""
    for key in path.split(".") if isinstance(path, str) else path:
        if isinstance(data, Mapping):
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
            out.append(formatting.compact(study.get(field)))
            continue
        stat, value = _template_statistic(field), value_at(aspect, field)
        if isinstance(value, list | tuple):
            out.append(formatting.interval(value, 3 if stat.digits is None else stat.digits))
        else:
            out.append(format_value(value, stat.kind, stat.digits))
    return "".join(out)


def _check_report_lines() -> None:
    for line in REPORT_LINES:
        for template in (line.statistic, line.estimate, line.test, line.p):
            for _, field, spec in _fields(template):
                if field and field not in STUDY_FIELDS:
                    _template_statistic(field)
                if spec:
                    raise ValueError(f"{template!r}: no format specs; decimals are the row's")


_check_report_lines()
