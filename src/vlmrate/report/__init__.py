"""`vlmrate report`: one self-contained HTML file of a run or a comparison (inline CSS,
inline SVG figures from ``vlmrate.figures``, print stylesheet, every text escaped)."""

from .build import compare_report, run_report
from .html import esc, inline_svg

__all__ = ["compare_report", "esc", "inline_svg", "run_report"]
