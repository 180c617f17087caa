"""What the figures of one run are drawn from: the run's frames and its StudyStats."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
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
    images: dict[str, Path] = field(default_factory=dict)  # normalised id -> image file
    images_root: Path | None = None  # the dataset folder (images outside it are refused)

    @property
    def scale_label(self) -> str:
        return f"{self.scale[0]}–{self.scale[1]}"


def dataset_images(manifest: dict) -> tuple[dict[str, Path], Path | None]:
    """(normalised image id -> file, dataset folder) of a run's dataset, when its folder
    is still there; ({}, None) for an import or a moved dataset."""
    from vlmrate.errors import UserError
    from vlmrate.inputs.dataset import discover_images, normalise_id

    folder = (manifest.get("dataset") or {}).get("path")
    if not folder or not Path(folder).is_dir():
        return {}, None
    try:
        entries = discover_images(Path(folder))
    except (UserError, OSError):
        return {}, None
    return {normalise_id(e.image_id): e.path for e in entries}, Path(folder)
