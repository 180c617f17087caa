"""One self-contained HTML page of a run (or of a comparison): inline CSS, figures as
inline SVG, images as data: URLs, no script and no request of any kind."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlmrate import __version__

from . import sections
from .html import esc, page, table

if TYPE_CHECKING:
    from vlmrate.figures import Made
    from vlmrate.runfolder.store import LoadedRun
    from vlmrate.stats import StudyStats
    from vlmrate.stats.compare import Comparison


def _nav(titles: list[tuple[str, str]]) -> str:
    return "<nav><ul>" + "".join(f"<li><a href='#{a}'>{esc(t)}</a></li>"
                                  for a, t in titles) + "</ul></nav>"


def run_report(run: LoadedRun, stats: StudyStats, made: list[Made], command: str) -> str:
    from vlmrate.stats.methods import methods_text

    parts = [("summary", "Run", sections.summary(run, stats)),
             ("methods", "Methods", f"<p>{esc(methods_text(stats))}</p>"),
             ("statistics", "Statistics", sections.statistics(stats)),
             ("figures", "Figures", sections.figures(made)),
             ("cases", "Reviewed cases", sections.reviewed_cases(run, stats))]
    body = [f"<h1>vlmrate report: {esc(run.name)}</h1>",
            f"<p class='muted'>Made by <code>{esc(command)}</code> (vlmrate "
            f"{esc(__version__)}).</p>",
            _nav([(a, t) for a, t, _ in parts])]
    for i, (anchor, title, html) in enumerate(parts):
        body.append(f"<h2 id='{anchor}'{' class=first' if i == 0 else ''}>{esc(title)}</h2>"
                    f"{html}")
    return page(f"vlmrate report: {run.name}", "\n".join(body))


def _fact(value: object) -> str:
    """A run fact for the table: numbers rounded, the rest as text."""
    from vlmrate.stats.formatting import compact

    if isinstance(value, float):
        return compact(round(value, 3))
    return sections.short(value)


def compare_report(c: Comparison, made: list[Made], command: str) -> str:
    from vlmrate.stats.compare import disagreements
    from vlmrate.stats.formatting import interval, number, p_value

    names = [r["name"] for r in c.runs]
    facts = sorted({k for r in c.runs for k in r if k != "name"})
    level = f"{100 * c.confidence:g}%"
    body = [f"<h1>vlmrate comparison: {esc(', '.join(names))}</h1>",
            f"<p class='muted'>Made by <code>{esc(command)}</code> (vlmrate "
            f"{esc(__version__)}). Each run on the images every run has (with a human "
            f"mean); intervals at {esc(level)}.</p>",
            "<h2 class=first>Runs</h2>",
            table(["", *names], [[k.replace("_", " "), *(_fact(r.get(k)) for r in c.runs)]
                                 for k in facts], text_columns=(0,))]
    body.append("<h2>Per aspect</h2>")
    for a, s in c.aspects.items():
        body.append(f"<h3>{esc(a)}: {s.n_common} common images</h3>")
        if not s.n_common:
            continue
        body.append(table(
            ["run", "n", "bias", "MAE", f"MAE {level} CI", "r", f"r {level} CI", "ICC(A,1)",
             "CCC", "ICC(1,1)", "TOST equivalent", "Wilcoxon p"],
            [[n, r.n_images, number(r.bias), number(r.mae), interval(r.mae_ci), number(r.r),
              interval(r.r_ci), number(r.icc_a1), number(r.ccc), number(r.icc1),
              "yes" if r.tost_equivalent else "no", p_value(r.wilcoxon_p_two_sided)]
             for n, r in s.runs.items()]))
        body.append(table(
            ["pair (A − B)", "n", "MAE diff", f"{level} CI", "r diff", "Williams t", "p",
             "|d| signed-rank p"],
            [[f"{x} − {y}", p.n, number(p.mae_diff), interval(p.mae_diff_ci),
              number(p.r_diff), number(p.r_diff_t), p_value(p.r_diff_p), p_value(p.abs_d_p)]
             for (x, y), p in s.pairs.items()]))
        top = disagreements(s, 10)
        body.append(table(["image", "human", *names, "spread"],
                          [[row["image_id"], number(row["human"], 2),
                            *(number(row[f"{n}_mean"], 2) for n in names),
                            number(row["spread"], 2)] for row in top.iter_rows(named=True)],
                          caption="where the runs disagree most"))
    body.append("<h2>Figures</h2>" + sections.figures(made))
    return page(f"vlmrate comparison: {', '.join(names)}", "\n".join(body))
