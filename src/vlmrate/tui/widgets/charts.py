"""Plotext charts of the Stats screen. They draw numbers computed by vlmrate.stats only."""

from __future__ import annotations

import math
from typing import Any

from textual_plotext import PlotextPlot

BINS = 18


#: Point markers of the series of one chart, in order: told apart without colour.
MARKERS = ("•", "x", "+", "o", "*", "#")


def count_ticks(top: int, most: int = 6) -> list[int]:
    """Whole-number ticks 0..top for an axis of counts (at most about ``most`` of them)."""
    step = max(1, math.ceil(top / most))
    return list(range(0, top + step, step))


def bin_counts(values: list[float], bins: int = BINS) -> list[int]:
    """How many values fall in each of ``bins`` equal bins over their range (as plotext
    bins them), for the count axis."""
    low, high = min(values), max(values)
    width = (high - low) / bins or 1.0
    counts = [0] * bins
    for value in values:
        counts[min(bins - 1, int((value - low) / width))] += 1
    return counts


class Chart(PlotextPlot):
    """A plotext plot that is redrawn from scratch by one of the functions below."""

    def start(self, title: str) -> Any:
        plt = self.plt
        plt.clear_figure()
        plt.title(title)
        return plt

    def empty(self, title: str, why: str) -> None:
        plt = self.start(title)
        plt.text(why, 0.5, 0.5, alignment="center")
        plt.xlim(0, 1)
        plt.ylim(0, 1)
        self.refresh()


def histogram(chart: Chart, values: list[float], title: str, xlabel: str,
              zero_line: bool = False) -> None:
    if not values:
        chart.empty(title, "no values")
        return
    plt = chart.start(title)
    plt.hist(values, bins=BINS)
    plt.xlabel(xlabel)
    plt.ylabel("images")
    top = max(bin_counts(values))
    plt.yticks(count_ticks(top))
    plt.ylim(0, max(1, top))
    if zero_line:
        plt.vline(0)
    chart.refresh()


def bland_altman(chart: Chart, means: list[float], diffs: list[float], bias: Any,
                 lower: Any, upper: Any, title: str) -> None:
    if not means:
        chart.empty(title, "no images with both model and human ratings")
        return
    plt = chart.start(title)
    plt.scatter(means, diffs, marker="dot")
    right = max(means)
    for name, value in (("bias", bias), ("lower limit", lower), ("upper limit", upper)):
        if isinstance(value, int | float) and value == value:
            plt.hline(float(value))
            # the line says what it is, at its right end (not only its colour)
            plt.text(f"{name} {float(value):.2f}", right, float(value), alignment="right")
    plt.xlabel("(model + human) / 2")
    plt.ylabel("model − human")
    chart.refresh()


def scatter_vs_human(chart: Chart, human: list[float], model: list[float], title: str,
                     scale: tuple[int, int] = (1, 9)) -> None:
    if not human:
        chart.empty(title, "no images with both model and human ratings")
        return
    plt = chart.start(title)
    plt.plot([scale[0], scale[1]], [scale[0], scale[1]], marker="braille", label="model = human")
    plt.scatter(human, model, marker="dot")
    plt.xlim(scale[0], scale[1])
    plt.ylim(scale[0], scale[1])
    plt.xlabel("human mean")
    plt.ylabel("model mean")
    chart.refresh()


def errors_by_k(chart: Chart, rows: list[dict], title: str) -> None:
    ks = [row["k"] for row in rows if isinstance(row.get("mae"), int | float)]
    if not ks:
        chart.empty(title, "no errors by k")
        return
    plt = chart.start(title)
    plt.plot(ks, [row["mae"] for row in rows if isinstance(row.get("mae"), int | float)],
             label="MAE (left axis)", marker=MARKERS[0])
    rs = [(row["k"], row["r"]) for row in rows if isinstance(row.get("r"), int | float)]
    if rs:  # another marker: the two lines differ without colour
        plt.plot([k for k, _ in rs], [r for _, r in rs], label="r (right axis)",
                 marker=MARKERS[1], yside="right")
    plt.xlabel("k (first k repeats)")
    plt.xticks(ks)
    chart.refresh()


def mae_by_k_runs(chart: Chart, series: dict[str, list[tuple[int, float | None]]],
                  title: str) -> None:
    """One MAE-by-k line per run (k, MAE of the mean of the first k repeats)."""
    lines = {name: [(k, v) for k, v in points if isinstance(v, int | float) and v == v]
             for name, points in series.items()}
    lines = {name: points for name, points in lines.items() if points}
    if not lines:
        chart.empty(title, "no errors by k")
        return
    plt = chart.start(title)
    for n, (name, points) in enumerate(lines.items()):
        plt.plot([k for k, _ in points], [v for _, v in points], label=name,
                 marker=MARKERS[n % len(MARKERS)])
    ks = sorted({k for points in lines.values() for k, _ in points})
    plt.xticks(ks)
    plt.xlabel("k (first k repeats)")
    plt.ylabel("MAE")
    chart.refresh()
