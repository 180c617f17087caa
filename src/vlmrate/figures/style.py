"""One look for every figure: journal widths, fonts, a colour-blind-safe palette that
also reads in greyscale (each series has its own marker and line style), and the
deterministic savers (no dates, no random ids, so a rerun writes the same bytes).

matplotlib is imported here, and this module only by ``vlmrate.figures`` (the figures
and report commands and the TUI's figure key import it when they run).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display, the same output everywhere

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

SINGLE = 3.5  # inches: one journal column
DOUBLE = 7.2  # inches: the full page width
DPI = 300  # PNG resolution
SALT = "vlmrate"  # svg.hashsalt: ids in SVGs depend on the content only

# Okabe & Ito (2008) "Color Universal Design": distinguishable with every common colour
# vision deficiency; with the markers and line styles below a series is found in
# greyscale too. Black first.
PALETTE = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#D55E00", "#0072B2", "#CC79A7",
           "#F0E442")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINESTYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)), (0, (8, 2)),
              (0, (3, 1, 1, 1)))
GREY = "#777777"
BAND = "#BBBBBB"

RC: dict[str, Any] = {
    "font.family": "DejaVu Sans",  # ships with matplotlib: the same glyphs everywhere
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.6,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "lines.linewidth": 1.0,
    "lines.markersize": 3.5,
    "axes.grid": False,
    "pdf.fonttype": 42,  # TrueType (Type 42) fonts embedded: editable, accepted by journals
    "ps.fonttype": 42,
    "svg.fonttype": "path",  # glyphs as paths: the same look without the font installed
    "svg.hashsalt": SALT,
    "figure.dpi": 100,
    "savefig.dpi": DPI,
    "path.simplify": False,
    "axes.prop_cycle": matplotlib.cycler(color=list(PALETTE)),
}

# What matplotlib would otherwise stamp into the files (dates, its version).
METADATA = {
    "pdf": {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": "vlmrate"},
    "svg": {"Date": None, "Creator": "vlmrate"},
    "png": {"Software": "vlmrate"},
}


def house_style() -> Any:
    """The rc context every figure is drawn and saved in: matplotlib's defaults with RC
    on top, whatever the process set before (another library's style, a matplotlibrc):
    the same layout, to the last bit, in every process."""
    return plt.style.context(["default", RC])


RASTER_ABOVE = 3000  # points: beyond this a scatter is embedded as an image in PDF/SVG


def dots(n: int) -> dict[str, Any]:
    """Scatter keywords for n points: vector up to RASTER_ABOVE, rasterized beyond (the
    axes, text and lines stay vector), so a 20,000-image study gives PDFs and an HTML
    report of megabytes, not hundreds."""
    return {"rasterized": n > RASTER_ABOVE}


def series(i: int) -> dict[str, Any]:
    """Colour, marker and line style of the i-th series (runs, aspects)."""
    return {"color": PALETTE[i % len(PALETTE)], "marker": MARKERS[i % len(MARKERS)],
            "linestyle": LINESTYLES[i % len(LINESTYLES)]}


def new_figure(width: float, height: float, nrows: int = 1, ncols: int = 1,
               **kwargs: Any) -> tuple[Figure, Any]:
    """A figure of width x height inches with the house style (constrained layout)."""
    with house_style():
        fig = Figure(figsize=(width, height), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    return fig, axes


def rating_axis(ax: Any, which: str, scale: tuple[int, int], label: str) -> None:
    """An axis on the rating scale: limits half a point beyond it, a tick per point."""
    lo, hi = scale
    ticks = list(range(lo, hi + 1))
    if which == "x":
        ax.set_xlim(lo - 0.5, hi + 0.5)
        ax.set_xticks(ticks)
        ax.set_xlabel(label)
    else:
        ax.set_ylim(lo - 0.5, hi + 0.5)
        ax.set_yticks(ticks)
        ax.set_ylabel(label)


def freeze(fig: Figure) -> None:
    """Lay the figure out once (constrained layout) and keep those positions: otherwise
    each save lays it out again from where the previous one left it, and an SVG saved
    after a PNG differs in the last bits from one saved first."""
    if fig.get_layout_engine() is None:
        return
    with house_style():
        fig.get_layout_engine().execute(fig)  # the layout alone: no draw before the saves
        # None, not "none": "none" leaves a placeholder engine, and savefig draws a figure
        # that has any engine once more before it prints (a sixth of `vlmrate figures`)
        fig.set_layout_engine(None)


# What a figure has been rendered to, by (format, dpi): the `f` key writes the files, the
# report inlines the same SVG, so a figure is drawn once per format, not once per use.
_rendered: WeakKeyDictionary[Figure, dict[tuple[str, int], bytes]] = WeakKeyDictionary()


def rendered(fig: Figure, fmt: str, dpi: int = DPI) -> bytes:
    """The figure as a fmt file's bytes (laid out once, fixed metadata; kept for reuse)."""
    done = _rendered.setdefault(fig, {})
    if (fmt, dpi) not in done:
        freeze(fig)
        buffer = io.BytesIO()
        with house_style():
            fig.savefig(buffer, format=fmt, dpi=dpi, metadata=METADATA[fmt])
        done[(fmt, dpi)] = buffer.getvalue()
    return done[(fmt, dpi)]


def save(fig: Figure, stem: Path, formats: list[str]) -> list[Path]:
    """stem.<fmt> for each format, written with fixed metadata (byte-identical reruns)."""
    out = []
    for fmt in formats:
        path = stem.with_suffix(f".{fmt}")
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(rendered(fig, fmt))
        tmp.replace(path)
        out.append(path)
    return out


def svg_text(fig: Figure) -> str:
    """The figure as SVG text (for the HTML report), with the same fixed metadata."""
    return rendered(fig, "svg").decode("utf-8")


def png_bytes(fig: Figure, dpi: int = 150) -> bytes:
    return rendered(fig, "png", dpi)
