"""What the figures of one run are drawn from: the run's frames and its StudyStats."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

    from vlmrate.stats import StudyStats


@dataclass(frozen=True)
class RunInput:
    name: str
    stats: StudyStats
    ratings: pl.DataFrame
    human: pl.DataFrame
    aspects: list[str]  # the aspects to draw (the run's, or --aspect)
    scale: tuple[int, int] = (1, 9)

    @property
    def scale_label(self) -> str:
        return f"{self.scale[0]}–{self.scale[1]}"
