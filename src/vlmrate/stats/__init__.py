"""Statistics of a run: every analysis of docs/statistics.md.

Input contract (plain Polars frames, as store.py loads them):

- ``ratings``: one row per answer: image_id (str), aspect (str), repeat (int, 1-based),
  rating (Int64, null = parse failure or engine error), reason, raw, parse_error,
  engine_error (str or null); other columns are ignored.
- ``human``: long: image_id, aspect, human_mean (f64), human_sd, human_n (optional).
- ``aspects``: the study's aspects in study order.

``analyse(ratings, human, aspects)`` returns a :class:`StudyStats` (plain dataclasses);
``to_json_dict`` turns it into the documented ``stats --json`` object and
``render_report`` into rich tables.
"""

from .analysis import AspectStats, StudyStats, analyse, to_json_dict
from .frames import per_image, repeat_matrix, valid_ratings
from .report import render_report

__all__ = [
    "AspectStats",
    "StudyStats",
    "analyse",
    "per_image",
    "render_report",
    "repeat_matrix",
    "to_json_dict",
    "valid_ratings",
]
