"""Publication figures (matplotlib, Agg): the reference study's set and what vlmrate adds,
for one run or a comparison. Imported only by the commands that draw (``vlmrate
figures``, ``vlmrate report``, the TUI's figure key): matplotlib costs ~0.5 s to import.

Every number a figure shows is a field of ``vlmrate.stats.StudyStats`` /
``Comparison`` or a frame of ``vlmrate.stats.figure_data``; nothing is computed here.
"""

from .build import (
    DEFAULT_FORMATS,
    FORMATS,
    compare_figures,
    figures_md,
    run_figures,
    write_figures,
)
from .inputs import RunInput
from .made import Made

__all__ = ["DEFAULT_FORMATS", "FORMATS", "Made", "RunInput", "compare_figures",
           "figures_md", "run_figures", "write_figures"]
