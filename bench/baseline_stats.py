"""The baseline of bench_stats.py: every analysis of `vlmrate stats`, written the way a
notebook does it (pandas + pingouin + scipy, Python loops over the k-subset draws and the
bootstrap resamples). Run as a whole process on the sheets the run was imported from:
``python bench/baseline_stats.py RATINGS.csv HUMAN.csv``;
prints one JSON object (a few headline numbers, to check it did the work).

It is a fair, straightforward implementation, not a deliberately slow one: pivots and
groupbys are vectorised; only the resampling loops are Python loops, as in a notebook.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pingouin as pg
from scipy import stats

N_SUBSETS = 200
N_BOOT = 2000
BOUND = 0.5
ALPHA = 0.05


def icc_reference(wide: pd.DataFrame) -> float:
    """The reference study's variant: sigma_B^2 from group means, sigma_W^2 = MSW."""
    counts = wide.notna().sum(axis=1)
    means = wide.mean(axis=1)
    grand = wide.stack().mean()
    k = counts.mean()
    sigma_b = (counts * (means - grand) ** 2).sum() / k / (len(wide) - 1)
    ss_w = ((wide.sub(means, axis=0)) ** 2).sum().sum()
    ms_w = ss_w / (counts.sum() - len(wide))
    return float(sigma_b / (sigma_b + ms_w))


def analyse_aspect(ratings: pd.DataFrame, human: pd.Series, aspect: str,
                   rng: np.random.Generator) -> tuple[dict, pd.DataFrame]:
    sub = ratings[(ratings["aspect"] == aspect)]
    valid = sub.dropna(subset=["rating"])
    valid = valid[valid["image_id"].isin(human.index)]
    wide = valid.pivot_table(index="image_id", columns="repeat", values="rating")
    k_max = int(wide.columns.max())
    out: dict = {"n_images": len(wide),
                 "parse_failures": int(sub["rating"].isna().sum())}

    # stability
    sd = valid.groupby("image_id")["rating"].std(ddof=1)
    out["stability"] = {"sd_mean": float(sd.mean()), "sd_median": float(sd.median())}

    # ICC of the repeats (one-way); pingouin needs complete targets
    icc = pg.intraclass_corr(data=valid, targets="image_id", raters="repeat",
                             ratings="rating", nan_policy="omit").set_index("Type")
    out["icc"] = {name: {"value": float(icc.loc[row, "ICC"]), "F": float(icc.loc[row, "F"]),
                         "p": float(icc.loc[row, "pval"]),
                         "ci": [float(v) for v in icc.loc[row, "CI95"]]}
                  for name, row in (("ICC1", "ICC(1,1)"), ("ICC1k", "ICC(1,k)"))}
    out["icc"]["icc_reference"] = icc_reference(wide)

    m = wide.mean(axis=1)
    h = human.reindex(m.index)
    d = m - h

    # direction: Wilcoxon signed-rank on d
    w_two = pg.wilcoxon(m, h, alternative="two-sided")
    w_greater = stats.wilcoxon(d[d != 0], alternative="greater", method="approx",
                               correction=False)
    w_less = stats.wilcoxon(d[d != 0], alternative="less", method="approx", correction=False)
    ranks = stats.rankdata(d[d != 0].abs())
    out["wilcoxon"] = {"w_plus": float(ranks[(d[d != 0] > 0).to_numpy()].sum()),
                       "w_minus": float(ranks[(d[d != 0] < 0).to_numpy()].sum()),
                       "p_greater": float(w_greater.pvalue), "p_less": float(w_less.pvalue),
                       "p_two_sided": float(w_two["p_val"].iloc[0])}

    # equivalence: TOST (paired t) and the Wilcoxon version
    tost = pg.tost(m, h, bound=BOUND, paired=True)
    out["tost"] = {"p": float(tost["pval"].iloc[0]),
                   "equivalent": bool(tost["pval"].iloc[0] < ALPHA),
                   "mean_diff": float(d.mean()), "sd_diff": float(d.std(ddof=1))}
    p_lo = stats.wilcoxon(d + BOUND, alternative="greater").pvalue
    p_hi = stats.wilcoxon(d - BOUND, alternative="less").pvalue
    out["tost_wilcoxon"] = {"p_lower": float(p_lo), "p_upper": float(p_hi),
                            "p": float(max(p_lo, p_hi)), "equivalent": max(p_lo, p_hi) < ALPHA}

    # errors by k: first k repeats, plus 200 random k-subsets per k
    rows = []
    for k in range(1, k_max + 1):
        mk = wide[list(range(1, k + 1))].mean(axis=1).dropna()
        hk = human.reindex(mk.index)
        maes = []
        for _ in range(N_SUBSETS):
            cols = rng.choice(wide.columns, size=k, replace=False)
            ms = wide[cols].mean(axis=1).dropna()
            maes.append((ms - human.reindex(ms.index)).abs().mean())
        rows.append({"k": k, "n": len(mk), "mae": float((mk - hk).abs().mean()),
                     "mse": float(((mk - hk) ** 2).mean()),
                     "r": float(stats.pearsonr(mk, hk)[0]),
                     "mae_subsets": float(np.mean(maes)),
                     "mae_subsets_ci": [float(np.percentile(maes, 2.5)),
                                          float(np.percentile(maes, 97.5))]})
    out["errors_by_k"] = rows
    r, p = stats.pearsonr(m, h)
    out["pearson_vs_human"] = {"r": float(r), "p": float(p)}

    # agreement: two-way ICCs on (model, human), Bland–Altman, bootstrap CIs
    pair = pd.DataFrame({"image_id": m.index, "model": m.to_numpy(), "human": h.to_numpy()})
    long = pair.melt(id_vars="image_id", var_name="rater", value_name="score")
    icc2 = pg.intraclass_corr(data=long, targets="image_id", raters="rater",
                              ratings="score").set_index("Type")
    bias, sd_d = d.mean(), d.std(ddof=1)
    maes, rs = [], []
    for _ in range(N_BOOT):
        sample = pair.sample(n=len(pair), replace=True, random_state=rng.integers(1 << 31))
        maes.append((sample["model"] - sample["human"]).abs().mean())
        rs.append(sample["model"].corr(sample["human"]))
    out["agreement"] = {"icc_a1": float(icc2.loc["ICC(A,1)", "ICC"]),
                        "icc_c1": float(icc2.loc["ICC(C,1)", "ICC"]),
                        "ba_bias": float(bias), "ba_lower": float(bias - 1.96 * sd_d),
                        "ba_upper": float(bias + 1.96 * sd_d),
                        "mae_ci": [float(v) for v in np.percentile(maes, [2.5, 97.5])],
                        "r_ci": [float(v) for v in np.percentile(rs, [2.5, 97.5])]}
    return out, wide


def main(ratings_csv: Path, human_csv: Path) -> dict:
    ratings = pd.read_csv(ratings_csv)
    human = pd.read_csv(human_csv).set_index("image")
    aspects = list(dict.fromkeys(ratings["aspect"]))
    rng = np.random.default_rng(0)
    result: dict = {"run": ratings_csv.stem, "aspects": {}}
    wides = {}
    for aspect in aspects:
        result["aspects"][aspect], wides[aspect] = analyse_aspect(
            ratings, human[aspect].dropna(), aspect, rng)

    # between aspects: Pearson of the per-image model means
    means = pd.DataFrame({a: w.mean(axis=1) for a, w in wides.items()})
    result["between_aspects"] = {}
    for a, b in itertools.combinations(aspects, 2):
        both = means[[a, b]].dropna()
        r, p = stats.pearsonr(both[a], both[b])
        result["between_aspects"][f"{a}~{b}"] = {"r": float(r), "p": float(p)}

    # cross matrix by k: model aspect (rows) x human aspect (columns)
    cross: dict = {}
    k_max = max(int(w.columns.max()) for w in wides.values())
    for k in range(1, k_max + 1):
        cross[str(k)] = {}
        for a in aspects:
            mk = wides[a][list(range(1, k + 1))].mean(axis=1).dropna()
            cross[str(k)][a] = {}
            for b in aspects:
                hb = human[b].reindex(mk.index).dropna()
                cross[str(k)][a][b] = float(stats.pearsonr(mk.reindex(hb.index), hb)[0])
    result["cross_by_k"] = cross
    result["n_images"] = int(ratings["image_id"].nunique())
    return result


if __name__ == "__main__":
    res = main(Path(sys.argv[1]), Path(sys.argv[2]))
    head = {a: {"icc1": v["icc"]["ICC1"]["value"], "mae_k10": v["errors_by_k"][-1]["mae"]}
            for a, v in res["aspects"].items()}
    print(json.dumps({"n_images": res["n_images"], "aspects": head}))
