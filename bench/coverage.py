"""How often each interval vlmrate prints covers the true value (issue 25): simulated
studies with known parameters at n = 8, 12, 20, 50 images.

Model (continuous ratings, so that every parameter is known exactly): per image a true
score mu_i ~ N(5, 1.5^2); the model gives K = 5 answers mu_i + a + N(0, 1.2^2) (bias
a = 0.3); R = 10 raters give mu_i + N(0, s_r^2) with s_r^2 = 2.88, so the error variance
of a model mean (1.44/5) equals that of a human mean (2.88/10) and the two-way ICC model
holds. The human sheet has the raters' mean h_i, SD s_i and n_i = 10. True values:
d = m - h ~ N(a, v) with v = 0.288 + 0.288; r = var(mu) / (var(mu) + 0.288); MAE =
E|d| (folded normal); the Hodges-Lehmann location = a (d is symmetric); CCC = 2 var(mu)
/ (2 var(mu) + 0.576 + a^2); ICC(C,1) = var(mu) / (var(mu) + 0.288), ICC(A,1) =
var(mu) / (var(mu) + a^2/2 + 0.288) (McGraw & Wong's fixed-rater parameter); one-way
ICC(1,1) of the answers = var(mu) / (var(mu) + 1.44), ICC(1,k) = var(mu) / (var(mu) +
1.44/5); Bland-Altman bias a and limits a -+ 1.96 sqrt(v); worth m raters = 2.88 /
(a^2 + 0.288).

Every interval is computed by the plain function vlmrate's analysis calls
(``stats.agreement``, ``stats.reliability``, ``stats.human_ceiling``) with its default
B = 2000 resamples where it bootstraps. Run alone; ``--write-readme`` puts the table into
bench/README.md between its markers. At 1000 replications the Monte-Carlo SE of a
coverage near 95% is 0.7 points.

    PYTHONPATH=src:. python bench/coverage.py --reps 1000 --write-readme
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy import stats as sps

REPO = Path(__file__).resolve().parents[1]
README = REPO / "bench" / "README.md"
BEGIN, END = "<!-- coverage:begin -->", "<!-- coverage:end -->"
SIZES = (8, 12, 20, 50)
K, RATERS, BIAS, SD_MU, SD_W = 5, 10, 0.3, 1.5, 1.2
VAR_RATER = SD_W**2 / K * RATERS  # 2.88: equal error variances of m and h


def truths() -> dict[str, float]:
    var_mu, e = SD_MU**2, SD_W**2 / K
    v = 2 * e
    sd = math.sqrt(v)
    mae = sd * math.sqrt(2 / math.pi) * math.exp(-BIAS**2 / (2 * v)) + BIAS * (
        1 - 2 * sps.norm.cdf(-BIAS / sd))
    return {
        "r": var_mu / (var_mu + e),
        "mae": mae,
        "hl": BIAS,
        "ccc": 2 * var_mu / (2 * var_mu + v + BIAS**2),
        "icc_c1": var_mu / (var_mu + e),
        "icc_a1": var_mu / (var_mu + BIAS**2 / 2 + e),
        "icc1": var_mu / (var_mu + SD_W**2),
        "icc1k": var_mu / (var_mu + SD_W**2 / K),
        "ba_bias": BIAS,
        "ba_lower": BIAS - 1.96 * sd,
        "ba_upper": BIAS + 1.96 * sd,
        "rater_equivalents": VAR_RATER / (BIAS**2 + e),
    }


# (key, what is printed, method) in table order; the baseline rows are the methods
# vlmrate printed before issue 25.
ROWS: tuple[tuple[str, str, str], ...] = (
    ("r", "Pearson r", "Fisher z (`r_ci`)"),
    ("r_boot", "Pearson r", "percentile bootstrap (`r_ci_bootstrap`, before: `r_ci`)"),
    ("mae", "MAE", "BCa bootstrap, level expanded (`mae_ci`)"),
    ("mae_pct", "MAE", "percentile bootstrap (`mae_ci_percentile`, before: `mae_ci`)"),
    ("hl", "Hodges–Lehmann", "R's wilcox.test interval (level reached: see column)"),
    ("icc1", "ICC(1,1) of the answers", "F (Shrout & Fleiss)"),
    ("icc1k", "ICC(1,k) of the answers", "F (Shrout & Fleiss)"),
    ("icc_a1", "ICC(A,1) model vs human", "F, Satterthwaite (McGraw & Wong)"),
    ("icc_c1", "ICC(C,1) model vs human", "F (McGraw & Wong)"),
    ("ccc", "Lin's CCC", "z-transform (Lin)"),
    ("ba_bias", "Bland–Altman bias", "t"),
    ("ba_lower", "Bland–Altman lower 95% limit", "t, sqrt(3 s²/n) (Bland & Altman)"),
    ("ba_upper", "Bland–Altman upper 95% limit", "t, sqrt(3 s²/n) (Bland & Altman)"),
    ("rater_equivalents", "worth m raters", "BCa bootstrap of 1/m, level expanded"),
)


def simulate(n: int, rng: np.random.Generator) -> dict[str, tuple[float, float]]:
    """One study of n images: every interval as vlmrate computes it."""
    from vlmrate.stats.agreement import agreement, wilcoxon_signed_rank
    from vlmrate.stats.human_ceiling import human_ceiling
    from vlmrate.stats.reliability import icc_oneway

    mu = rng.normal(5, SD_MU, n)
    x = mu[:, None] + BIAS + rng.normal(0, SD_W, (n, K))
    raters = mu[:, None] + rng.normal(0, math.sqrt(VAR_RATER), (n, RATERS))
    m, h, s = x.mean(axis=1), raters.mean(axis=1), raters.std(axis=1, ddof=1)
    seed = int(rng.integers(2**32))
    ag = agreement(m, h, seed=seed)
    w = wilcoxon_signed_rank(m - h)
    icc = icc_oneway(x)
    hc = human_ceiling(x, h, s, np.full(n, float(RATERS)), seed=seed + 1)
    return {
        "r": ag.r_ci, "r_boot": ag.r_ci_bootstrap, "mae": ag.mae_ci,
        "mae_pct": ag.mae_ci_percentile, "hl": w.hodges_lehmann_ci,
        "hl_level": (w.hodges_lehmann_ci_level, w.hodges_lehmann_ci_level),
        "icc1": icc.ICC1.ci, "icc1k": icc.ICC1k.ci, "icc_a1": ag.icc_a1_ci,
        "icc_c1": ag.icc_c1_ci, "ccc": ag.ccc_ci, "ba_bias": ag.ba_bias_ci,
        "ba_lower": ag.ba_lower_ci, "ba_upper": ag.ba_upper_ci,
        "rater_equivalents": hc.rater_equivalents_ci if hc else (math.nan, math.nan),
    }


def _covers(ci: tuple[float, float], truth: float) -> float | None:
    lo, hi = ci
    if math.isnan(lo):
        return None
    hi = math.inf if math.isnan(hi) or math.isinf(hi) else hi  # an unbounded upper end
    return float(lo <= truth <= hi)


def coverage(reps: int, seed: int, sizes: tuple[int, ...],
             progress: Callable[[str], None] = lambda s: None) -> dict[int, dict[str, tuple]]:
    """{n: {key: (coverage, share of studies with an interval, mean level reached)}}."""
    truth = truths()
    out: dict[int, dict[str, tuple]] = {}
    for n in sizes:
        rng = np.random.default_rng([seed, n])
        hits: dict[str, list[float]] = {key: [] for key, _, _ in ROWS}
        levels: list[float] = []
        t0 = time.perf_counter()
        for _ in range(reps):
            cis = simulate(n, rng)
            levels.append(cis["hl_level"][0])
            for key, _, _ in ROWS:
                target = truth["r" if key == "r_boot" else "mae" if key == "mae_pct" else key]
                hit = _covers(cis[key], target)
                if hit is not None:
                    hits[key].append(hit)
        out[n] = {key: (float(np.mean(v)) if v else math.nan, len(v) / reps)
                  for key, v in hits.items()}
        out[n]["hl_level"] = (float(np.nanmean(levels)), 1.0)
        progress(f"n = {n}: {reps} studies in {time.perf_counter() - t0:.1f} s")
    return out


def table(result: dict[int, dict[str, tuple]], reps: int, seed: int) -> str:
    sizes = list(result)
    head = ("| interval | method | " + " | ".join(f"n = {n}" for n in sizes) + " |\n"
            "| --- | --- | " + " | ".join("---" for _ in sizes) + " |")
    lines = [head]
    for key, what, method in ROWS:
        cells = []
        for n in sizes:
            cov, share = result[n][key]
            cell = "—" if math.isnan(cov) else f"{100 * cov:.1f}%"
            if key == "hl":
                cell += f" (reached {100 * result[n]['hl_level'][0]:.1f}%)"
            if share < 0.999:
                cell += f" ({100 * share:.0f}% of studies have one)"
            cells.append(cell)
        lines.append(f"| {what} | {method} | " + " | ".join(cells) + " |")
    return (f"Coverage of the nominal 95% intervals, {reps} simulated studies per n "
            f"(seed {seed}; Monte-Carlo SE about "
            f"{100 * math.sqrt(0.95 * 0.05 / reps):.1f} points):\n\n" + "\n".join(lines))


def write_readme(text: str) -> None:
    readme = README.read_text(encoding="utf-8")
    block = f"{BEGIN}\n{text}\n{END}"
    if BEGIN in readme and END in readme:
        before, rest = readme.split(BEGIN, 1)
        readme = before + block + rest.split(END, 1)[1]
    else:
        readme = readme.rstrip("\n") + "\n\n## Coverage of the intervals\n\n" + block + "\n"
    README.write_text(readme, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=1000, help="studies per n (default 1000)")
    parser.add_argument("--seed", type=int, default=25)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--write-readme", action="store_true",
                        help="put the table into bench/README.md")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    result = coverage(args.reps, args.seed, tuple(args.sizes),
                      progress=lambda s: print(s, file=sys.stderr, flush=True))
    text = table(result, args.reps, args.seed)
    print(text)
    print(f"\n{time.perf_counter() - t0:.0f} s in all", file=sys.stderr)
    if args.write_readme:
        write_readme(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
