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
    below: tuple[float, str] | None = None  # (threshold, text shown for a value under it)
    percent: bool = False  # a share, shown as "93.75%" in the text views


NEGATIVE_ICC = (0.0, "< 0 (note)")  # ICC(1,k) far below 0 is no reliability: see its note


def _icc(name: str) -> list[Statistic]:
    rows = ((name, "value", Kind.STAT, 3), ("F", "F", Kind.STAT, 2),
            ("df1", "df1", Kind.STAT, 0), ("df2", "df2", Kind.STAT, 0), ("p", "p", Kind.P, 3),
            ("{level} CI lower", "ci.0", Kind.STAT, 3),
            ("{level} CI upper", "ci.1", Kind.STAT, 3))
    return [Statistic(name, label, f"icc.{name}.{key}", kind, (RELIABILITY,), digits,
                      NEGATIVE_ICC if name == "ICC1k" and key == "value" else None)
            for label, key, kind, digits in rows]


_R, _A = (RELIABILITY,), (AGREEMENT,)
_WILCOXON, _TOST, _TOST_W = "Wilcoxon signed-rank on d", "TOST (paired t)", "TOST (Wilcoxon)"
_HOLM = "p two-sided, Holm across aspects"
_EXP = "expected rating (logprobs)"
_HUM = "human noise ceiling"
_AT_LEAST_ONE = (1.0, "≤ 1")  # Spearman-Brown below one answer: one answer is enough
EXPECTED_PREFIX = "expected."

STATISTICS: tuple[Statistic, ...] = (
    Statistic("images", "n images (model and human)", "n_images", Kind.COUNT, (*_R, *_A)),
    Statistic("stability", "SD of repeats: mean", "stability.sd_mean", Kind.STAT, _R),
    Statistic("stability", "SD of repeats: median", "stability.sd_median", Kind.STAT, _R),
    *_icc("ICC1"),
    *_icc("ICC1k"),
    Statistic("ICC1k", "k = n0 (answers per image, corrected)", "icc.n0", Kind.STAT, _R,
              digits=2),
    Statistic("answers needed", "for reliability 0.8 (Spearman–Brown)", "icc.k_needed.0.8",
              Kind.STAT, _R, 1, _AT_LEAST_ONE),
    Statistic("answers needed", "for reliability 0.9 (Spearman–Brown)", "icc.k_needed.0.9",
              Kind.STAT, _R, 1, _AT_LEAST_ONE),
    Statistic("answers", "parse failures", "parse_failures", Kind.COUNT, _R),
    Statistic("answers", "engine errors", "engine_errors", Kind.COUNT, _R),
    Statistic("reference study's formula", "σ²B/(σ²B+σ²W), grows with K; not an ICC",
              "icc.icc_reference", Kind.STAT, _R),
    Statistic(_WILCOXON, "W+", "wilcoxon.w_plus", Kind.STAT, _A, None),
    Statistic(_WILCOXON, "W−", "wilcoxon.w_minus", Kind.STAT, _A, None),
    Statistic(_WILCOXON, "p (model > human)", "wilcoxon.p_greater", Kind.P, _A),
    Statistic(_WILCOXON, "p (model < human)", "wilcoxon.p_less", Kind.P, _A),
    Statistic(_WILCOXON, "p (two-sided)", "wilcoxon.p_two_sided", Kind.P, _A),
    Statistic(_WILCOXON, "p (two-sided), Holm", "holm.wilcoxon_two_sided", Kind.P, _A),
    Statistic(_WILCOXON, "p (model > human), Holm", "holm.wilcoxon_greater", Kind.P, _A),
    Statistic(_WILCOXON, "p (model < human), Holm", "holm.wilcoxon_less", Kind.P, _A),
    Statistic(_WILCOXON, "method", "wilcoxon.method", Kind.TEXT, _A),
    Statistic(_WILCOXON, "n (non-zero d)", "wilcoxon.n", Kind.COUNT, _A),
    Statistic(_WILCOXON, "zero d dropped", "wilcoxon.n_zero", Kind.COUNT, _A),
    Statistic(_WILCOXON, "rank-biserial r", "wilcoxon.rank_biserial", Kind.STAT, _A),
    Statistic(_WILCOXON, "Hodges–Lehmann", "wilcoxon.hodges_lehmann", Kind.STAT, _A),
    Statistic(_WILCOXON, "HL CI lower", "wilcoxon.hodges_lehmann_ci.0", Kind.STAT, _A),
    Statistic(_WILCOXON, "HL CI upper", "wilcoxon.hodges_lehmann_ci.1", Kind.STAT, _A),
    Statistic(_WILCOXON, "HL CI level reached", "wilcoxon.hodges_lehmann_ci_level",
              Kind.STAT, _A, percent=True),
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
    Statistic("Bland–Altman", "bias: {level} CI lower (t)", "agreement.ba_bias_ci.0",
              Kind.STAT, _A),
    Statistic("Bland–Altman", "bias: {level} CI upper (t)", "agreement.ba_bias_ci.1",
              Kind.STAT, _A),
    Statistic("Bland–Altman", "lower 95% limit", "agreement.ba_lower", Kind.STAT, _A, 2),
    Statistic("Bland–Altman", "lower limit: {level} CI lower", "agreement.ba_lower_ci.0",
              Kind.STAT, _A, 2),
    Statistic("Bland–Altman", "lower limit: {level} CI upper", "agreement.ba_lower_ci.1",
              Kind.STAT, _A, 2),
    Statistic("Bland–Altman", "upper 95% limit", "agreement.ba_upper", Kind.STAT, _A, 2),
    Statistic("Bland–Altman", "upper limit: {level} CI lower", "agreement.ba_upper_ci.0",
              Kind.STAT, _A, 2),
    Statistic("Bland–Altman", "upper limit: {level} CI upper", "agreement.ba_upper_ci.1",
              Kind.STAT, _A, 2),
    Statistic("Bland–Altman", "slope of d on (m+h)/2", "agreement.ba_slope", Kind.STAT, _A),
    Statistic("Bland–Altman", "slope p", "agreement.ba_slope_p", Kind.P, _A),
    Statistic("ICC two-way", "ICC(A,1)", "agreement.icc_a1", Kind.STAT, _A),
    Statistic("ICC two-way", "ICC(A,1) {level} CI lower", "agreement.icc_a1_ci.0", Kind.STAT,
              _A),
    Statistic("ICC two-way", "ICC(A,1) {level} CI upper", "agreement.icc_a1_ci.1", Kind.STAT,
              _A),
    Statistic("ICC two-way", "ICC(C,1)", "agreement.icc_c1", Kind.STAT, _A),
    Statistic("ICC two-way", "ICC(C,1) {level} CI lower", "agreement.icc_c1_ci.0", Kind.STAT,
              _A),
    Statistic("ICC two-way", "ICC(C,1) {level} CI upper", "agreement.icc_c1_ci.1", Kind.STAT,
              _A),
    Statistic("concordance", "Lin's CCC", "agreement.ccc", Kind.STAT, _A),
    Statistic("concordance", "CCC {level} CI lower (z)", "agreement.ccc_ci.0", Kind.STAT, _A),
    Statistic("concordance", "CCC {level} CI upper (z)", "agreement.ccc_ci.1", Kind.STAT, _A),
    Statistic("concordance", "C_b = CCC / r", "agreement.ccc_cb", Kind.STAT, _A),
    Statistic("MAE", "MAE (mean of all repeats)", "agreement.mae", Kind.STAT, _A),
    Statistic("MAE", "MSE (mean of all repeats)", "agreement.mse", Kind.STAT, _A),
    Statistic("MAE", "{level} CI lower", "agreement.mae_ci.0", Kind.STAT, _A),
    Statistic("MAE", "{level} CI upper", "agreement.mae_ci.1", Kind.STAT, _A),
    Statistic("MAE", "CI method", "agreement.mae_ci_method", Kind.TEXT, _A),
    Statistic("MAE", "percentile bootstrap CI lower", "agreement.mae_ci_percentile.0",
              Kind.STAT, _A),
    Statistic("MAE", "percentile bootstrap CI upper", "agreement.mae_ci_percentile.1",
              Kind.STAT, _A),
    Statistic("Pearson vs human", "r", "pearson_vs_human.r", Kind.STAT, _A),
    Statistic("Pearson vs human", "{level} CI lower", "agreement.r_ci.0", Kind.STAT, _A),
    Statistic("Pearson vs human", "{level} CI upper", "agreement.r_ci.1", Kind.STAT, _A),
    Statistic("Pearson vs human", "CI method", "agreement.r_ci_method", Kind.TEXT, _A),
    Statistic("Pearson vs human", "percentile bootstrap CI lower",
              "agreement.r_ci_bootstrap.0", Kind.STAT, _A),
    Statistic("Pearson vs human", "percentile bootstrap CI upper",
              "agreement.r_ci_bootstrap.1", Kind.STAT, _A),
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
    Statistic(_HUM, "n images with human SD and raters", "human.n_images", Kind.COUNT, _A),
    Statistic(_HUM, "raters per image (mean)", "human.raters_mean", Kind.STAT, _A, 1),
    Statistic(_HUM, "rater counts from", "human.raters_from", Kind.TEXT, _A),
    Statistic(_HUM, "model answers per image (mean)", "human.model_answers", Kind.STAT, _A,
              1),
    Statistic(_HUM, "reliability of the human means", "human.reliability", Kind.STAT, _A),
    Statistic(_HUM, "error variance of a human mean", "human.noise_mse", Kind.STAT, _A),
    Statistic(_HUM, "MAE of one rater vs the sheet", "human.rater_mae", Kind.STAT, _A),
    Statistic(_HUM, "MAE of the model (same images)", "human.model_mae", Kind.STAT, _A),
    Statistic(_HUM, "MSE of the model (same images)", "human.model_mse", Kind.STAT, _A),
    Statistic(_HUM, "model MSE to the true consensus", "human.model_mse_true", Kind.STAT, _A),
    Statistic(_HUM, "worth m raters", "human.rater_equivalents", Kind.STAT, _A, 2),
    Statistic(_HUM, "m: {level} CI lower", "human.rater_equivalents_ci.0", Kind.STAT, _A, 2),
    Statistic(_HUM, "m: {level} CI upper", "human.rater_equivalents_ci.1", Kind.STAT, _A, 2),
    Statistic(_HUM, "m: CI method", "human.rater_equivalents_ci_method", Kind.TEXT, _A),
    Statistic(_HUM, "r (same images)", "human.r", Kind.STAT, _A),
    Statistic(_HUM, "reliability of the model means", "human.model_reliability", Kind.STAT,
              _A),
    Statistic(_HUM, "r ceiling", "human.r_ceiling", Kind.STAT, _A),
    Statistic(_HUM, "r disattenuated", "human.r_disattenuated", Kind.STAT, _A),
    Statistic(_HUM, "share inside the human {level} CI", "human.within_human_ci", Kind.STAT,
              _A, percent=True),
    Statistic(_HUM, "r of model and human SDs", "human.sd_correlation", Kind.STAT, _A),
    Statistic(_HUM, "  images with both SDs", "human.sd_correlation_n", Kind.COUNT, _A),
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
    Statistic(_EXP, "digits' probability mass (mean)", "expected.digit_mass_mean", Kind.STAT,
              _A),
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
    ReportLine("ICC(1,k), k = n0 = {icc.n0}", "{icc.ICC1k.value}", "{icc.ICC1k.ci}"),
    ReportLine("  F(df1, df2)", "{icc.ICC1.F}",
               "F({icc.ICC1.df1}, {icc.ICC1.df2}), n0 = {icc.n0}"),
    ReportLine("  answers for 0.8 / 0.9", "{icc.k_needed.0.8} / {icc.k_needed.0.9}",
               "Spearman–Brown from ICC(1,1)"),
    ReportLine("Pearson r vs human, CI {agreement.r_ci_method}", "{pearson_vs_human.r}",
               "{agreement.r_ci}", "{pearson_vs_human.p}"),
    ReportLine("", "", "Holm across aspects", "{holm.pearson_vs_human}"),
    ReportLine("  r: percentile bootstrap CI", "", "{agreement.r_ci_bootstrap}"),
    ReportLine("MAE, CI {agreement.mae_ci_method}", "{agreement.mae}", "{agreement.mae_ci}"),
    ReportLine("ICC(A,1) (CI: F)", "{agreement.icc_a1}", "{agreement.icc_a1_ci}"),
    ReportLine("ICC(C,1) (CI: F)", "{agreement.icc_c1}", "{agreement.icc_c1_ci}"),
    ReportLine("Lin's CCC / C_b (CI: z)", "{agreement.ccc} / {agreement.ccc_cb}",
               "{agreement.ccc_ci}"),
    ReportLine("Bland–Altman bias (CI: t)", "{agreement.ba_bias}", "{agreement.ba_bias_ci}"),
    ReportLine("  95% limits of agreement", "",
               "[{agreement.ba_lower}, {agreement.ba_upper}]"),
    ReportLine("  {level} CI of the lower limit", "", "{agreement.ba_lower_ci}"),
    ReportLine("  {level} CI of the upper limit", "", "{agreement.ba_upper_ci}"),
    ReportLine("  proportional bias (slope)", "{agreement.ba_slope}", "d on (m + h)/2",
               "{agreement.ba_slope_p}"),
    ReportLine("Wilcoxon W+ / W−", "{wilcoxon.w_plus} / {wilcoxon.w_minus}",
               "model > human", "{wilcoxon.p_greater}"),
    ReportLine("", "", "model > human, Holm across aspects", "{holm.wilcoxon_greater}"),
    ReportLine("", "", "model < human", "{wilcoxon.p_less}"),
    ReportLine("", "", "model < human, Holm across aspects", "{holm.wilcoxon_less}"),
    ReportLine("", "", "two-sided", "{wilcoxon.p_two_sided}"),
    ReportLine("", "", "two-sided, Holm across aspects", "{holm.wilcoxon_two_sided}"),
    ReportLine("  method", "{wilcoxon.method}",
               "n = {wilcoxon.n}, {wilcoxon.n_zero} zero d dropped"),
    ReportLine("  rank-biserial r", "{wilcoxon.rank_biserial}"),
    ReportLine("  Hodges–Lehmann", "{wilcoxon.hodges_lehmann}",
               "{wilcoxon.hodges_lehmann_ci} at {wilcoxon.hodges_lehmann_ci_level}"),
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
    ReportLine("Human means: reliability", "{human.reliability}",
               "{human.n_images} images, {human.raters_mean} raters each"),
    ReportLine("  MAE: one rater / the model", "{human.rater_mae} / {human.model_mae}"),
    ReportLine("  model worth m raters", "{human.rater_equivalents}",
               "{human.rater_equivalents_ci}"),
    ReportLine("  r ceiling / disattenuated r", "{human.r_ceiling} / {human.r_disattenuated}",
               "r = {human.r}"),
    ReportLine("  inside the human {level} CI", "{human.within_human_ci}",
               "r of SDs {human.sd_correlation}"),
    ReportLine("Reference study's 'ICC'", "{icc.icc_reference}", "not an ICC: grows with K"),
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
    return format_statistic(value_at(aspect, path), _BY_PATH[path])


def format_statistic(value: Any, stat: Statistic) -> str:
    """One statistic as its row says: its kind and decimals, a share as a percentage,
    a value under the row's ``below`` threshold as that row's text ("≤ 1")."""
    if not formatting.is_missing(value) and isinstance(value, int | float) \
            and not isinstance(value, bool):
        if stat.below is not None and value < stat.below[0]:
            return stat.below[1]
        if stat.percent:
            return f"{100 * value:.4g}%"
    return format_value(value, stat.kind, stat.digits)


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
            out.append(format_statistic(value, stat))
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


# --- the errors-by-k and cross tables: one layout for the report, the TUI and the workbook
# readers (rows are ErrorAtK objects or their JSON dicts; value_at reads both)

def by_k_columns(level: str) -> list[str]:
    """Column headers of the errors-by-k table (``level``: e.g. "95%")."""
    return ["k", "n", "MAE", "MSE", "r", "MAE random k", f"{level} over draws"]


def by_k_row(row: Any) -> list[str]:
    """One k of ``errors_by_k`` as the cells of :func:`by_k_columns`."""
    count = value_at(row, "n")
    return [str(value_at(row, "k")), "—" if count is None else str(count),
            *(formatting.number(value_at(row, key)) for key in ("mae", "mse", "r",
                                                               "mae_subsets")),
            formatting.interval(value_at(row, "mae_subsets_ci"))]


def cross_title(k: object) -> str:
    first = "the first answer" if str(k) == "1" else f"the first {k} answers"
    return f"Cross r: model mean of {first} (rows) vs human mean (columns)"


def cross_rows(matrix: Mapping[str, Mapping[str, Any]], humans: Sequence[str]
               ) -> list[list[str]]:
    """Rows of the cross table: model aspect, then Pearson r with each human aspect."""
    return [[model, *(formatting.number(value_at(row, (h,))) for h in humans)]
            for model, row in matrix.items()]
