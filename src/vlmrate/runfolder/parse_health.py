"""Whether a run's answers mostly failed to parse, and the likely fix: one rule for every
place a run's status is shown (the Runs list, Results, the Job panel, the CLI summary
and `stats`). Imports nothing heavy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: A run is flagged when at least this share of its answers could not be parsed ...
MOSTLY = 0.5
#: ... and it has at least this many answers (a few early failures are not a verdict).
MIN_ANSWERS = 10


def likely_fix(sampling: Mapping[str, Any] | None) -> str:
    """What to change, from the run's sampling settings (None: not known)."""
    sampling = sampling or {}
    max_tokens = sampling.get("max_tokens")
    tokens = f"a larger max tokens (now {max_tokens}: answers may be cut off)" if \
        isinstance(max_tokens, int) else "a larger max tokens (answers may be cut off)"
    if sampling.get("structured") is True:
        return f"try {tokens}, or check the prompt set's answer template"
    if sampling.get("structured") is False:
        return ("start it again with structured outputs (--structured; \"structured\" in "
                f"the New run form), or try {tokens}, or check the prompt set")
    return f"try structured outputs (--structured), {tokens}, or check the prompt set"


def mostly_unparsed(answers: int, unparsed: int) -> bool:
    return answers >= MIN_ANSWERS and unparsed >= MOSTLY * answers


def unparsed_warning(answers: int, unparsed: int,
                     sampling: Mapping[str, Any] | None = None) -> str:
    """"294 of 298 answers could not be parsed: start it again with structured …", or ""
    when the run's answers mostly parsed."""
    if not mostly_unparsed(answers, unparsed):
        return ""
    return f"{unparsed} of {answers} answers could not be parsed: {likely_fix(sampling)}"
