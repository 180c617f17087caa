"""How long the publication figures of a 320-image study take, against drawing one figure
in the same run (the baseline a notebook pays per figure).

    PYTHONPATH=src:. python bench/figures_speed.py [--images 320] [--rounds 3]

An imported synthetic study (3 aspects x 10 repeats, bench/_common.imported_run), then,
in this process with the statistics computed once: one figure (the ICC figure) written as
PDF, PNG and SVG; every figure of `vlmrate figures` in the three formats plus figures.md;
the HTML report (figures as inline SVG). Median of --rounds. Last, `vlmrate figures RUN`
as a whole process (imports, statistics, figures).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Row, finish, fmt_ratio, fmt_s, imported_run, parse_args, run_timed, vlmrate_cmd

TARGET_S = 8.0  # "figures for a 320-image run in a few seconds" (2-core VM, shared)
FORMATS = ["pdf", "png", "svg"]


def _median(values: list[float]) -> float:
    values = sorted(values)
    return values[len(values) // 2]


def main(argv: list[str] | None = None) -> list[Row]:
    args = parse_args(argv, __doc__, lambda p: (
        p.add_argument("--images", type=int, default=320),
        p.add_argument("--rounds", type=int, default=3)))
    from vlmrate.figures import RunInput, run_figures, write_figures
    from vlmrate.figures.reference import icc_per_aspect
    from vlmrate.figures.style import house_style, save
    from vlmrate.report import run_report
    from vlmrate.runfolder.store import load_run
    from vlmrate.stats import analyse

    run_dir = imported_run(args.work, args.images)
    run = load_run(run_dir)
    t0 = time.perf_counter()
    stats = analyse(run.ratings, run.human, run.aspects, run_name=run.name)
    stats_s = time.perf_counter() - t0
    source = RunInput(run.name, stats, run.ratings, run.human, list(run.aspects), run.scale)
    one, every, report = [], [], []
    n_figures = 0
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for i in range(args.rounds):
            t0 = time.perf_counter()
            with house_style():
                made = icc_per_aspect(source)
            save(made.fig, out / f"one{i}", FORMATS)
            one.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            made_all = run_figures(source)
            write_figures(made_all, out / f"all{i}", FORMATS, "bench", run.name)
            every.append(time.perf_counter() - t0)
            n_figures = len(made_all)
            t0 = time.perf_counter()
            (out / f"report{i}.html").write_text(run_report(run, stats, run_figures(source),
                                                            "bench"))
            report.append(time.perf_counter() - t0)
        whole, proc = run_timed(vlmrate_cmd("figures", str(run_dir), "-o", str(out / "cli")))
        if proc.returncode != 0:
            print(proc.stderr[-2000:])
    shutil.rmtree(run_dir / "figures", ignore_errors=True)
    base, total, html = _median(one), _median(every), _median(report)
    print(f"{args.images} images x 3 aspects x 10 repeats; statistics {fmt_s(stats_s)}")
    print(f"one figure (ICC, pdf+png+svg): {fmt_s(base)}  (rounds: "
          + ", ".join(fmt_s(t) for t in one) + ")")
    print(f"all {n_figures} figures (pdf+png+svg) + figures.md: {fmt_s(total)}  (rounds: "
          + ", ".join(fmt_s(t) for t in every) + f"); {total / base:.1f}x one figure")
    print(f"HTML report (figures drawn again, inline SVG): {fmt_s(html)}")
    print(f"`vlmrate figures RUN` whole process: {fmt_s(whole)}")
    rows = [
        Row("figures", f"{n_figures} figures x 3 formats, {args.images} images",
            fmt_s(total), f"one figure {fmt_s(base)}", fmt_ratio(total / base),
            f"<= {TARGET_S:g} s", "yes" if total <= TARGET_S else "no"),
        Row("figures", "HTML report (figures + tables)", fmt_s(html)),
        Row("figures", "`vlmrate figures RUN` (process)", fmt_s(whole)),
    ]
    return finish(rows, args.json_out)


if __name__ == "__main__":
    main()
