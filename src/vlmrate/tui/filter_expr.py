"""The Results filter line: a few words and comparisons, joined by ``and``, as a Polars
expression over the per-image frame.

Terms (case-insensitive)::

    d > 2   |d| >= 1.5   sd > 3   h < 3   m > 6   n < 10    fields of the aspect shown
    valence.d < -1   val.h >= 7                               a field of a named aspect
    flagged   failures   note                                 words (per aspect)
    not flagged                                               any term negated
    glacier                                                   id or reason contains it

Fields: ``m``/``mean`` (model mean), ``sd``, ``n`` (valid answers), ``h``/``human`` (human
mean), ``d`` (m - h) and ``|d|``. Operators: ``> >= < <= = == !=``. ``failures`` keeps the
images with any parse failure or engine error, ``flagged`` those with a flag category,
``note`` those with a note. Plain text searches the id and the reasons of the aspect
shown. With one aspect shown every term is about it; with all aspects shown an image is
kept when the whole filter holds for one of them (``h < 3 and m > 6``: one aspect where
both hold). Missing values never pass a comparison.

The frame needs, per aspect ``a``: per_image's ``a_mean, a_sd, a_n, a_human, a_d`` and the
columns named by text_column/failures_column/category_column/note_column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

FIELDS = {"m": "mean", "mean": "mean", "sd": "sd", "n": "n", "h": "human", "human": "human",
          "d": "d"}
WORDS = ("flagged", "failures", "note")
OPERATORS = (">=", "<=", "==", "!=", ">", "<", "=")
_OPERATOR_CHARS = set("<>=!|")
_COMPARISON = re.compile(
    r"^(?P<field>\|\s*[\w.]+\s*\||[\w.]+)\s*(?P<op>>=|<=|==|!=|>|<|=)\s*(?P<value>\S+)$")
_AND = re.compile(r"\s+and\s+", re.IGNORECASE)


def text_column(aspect: str) -> str:
    """Lower-case image id + the reasons of one aspect."""
    return f"_text_{aspect}"


def failures_column(aspect: str) -> str:
    """Parse failures + engine errors of one aspect (an integer)."""
    return f"_failures_{aspect}"


def category_column(aspect: str) -> str:
    """The flag category of one aspect (null: not flagged)."""
    return f"_category_{aspect}"


def note_column(aspect: str) -> str:
    """Whether one aspect has a note (a boolean)."""
    return f"_note_{aspect}"


class FilterError(ValueError):
    """A filter the parser cannot read; the message says what is wrong, for the user."""


@dataclass(frozen=True)
class Comparison:
    field: str  # mean | sd | n | human | d
    absolute: bool  # |d|
    op: str
    value: float
    aspect: str | None  # None: the aspect shown
    negate: bool = False


@dataclass(frozen=True)
class Word:
    word: str  # flagged | failures | note
    negate: bool = False


@dataclass(frozen=True)
class Text:
    text: str  # lower case
    negate: bool = False


Term = Comparison | Word | Text


def _aspect_named(name: str, aspects: list[str]) -> str:
    """An aspect from its name or a unique prefix of it."""
    lower = name.lower()
    exact = [a for a in aspects if a.lower() == lower]
    if exact:
        return exact[0]
    matches = [a for a in aspects if a.lower().startswith(lower)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise FilterError(f"no aspect {name!r} (aspects: {', '.join(aspects)})")
    raise FilterError(f"{name!r} could be {' or '.join(matches)}")


def _comparison(term: str, aspects: list[str], negate: bool) -> Comparison:
    match = _COMPARISON.match(term)
    if match is None:
        op = next((o for o in OPERATORS if o in term), None)
        if op is not None and term.rstrip().endswith(op):
            raise FilterError(f"“{term}”: a number is missing after {op}")
        raise FilterError(f"“{term}”: expected a field, an operator and a number, "
                          "e.g. d > 2 or |d| >= 1.5")
    raw_field, op, raw_value = match["field"], match["op"], match["value"]
    absolute = raw_field.startswith("|")
    name = raw_field.strip("|").strip().lower()
    aspect = None
    if "." in name:
        aspect_name, name = name.rsplit(".", 1)
        aspect = _aspect_named(aspect_name, aspects)
    if name not in FIELDS:
        raise FilterError(f"unknown field {name!r} (fields: m, sd, n, h, d, |d|)")
    field = FIELDS[name]
    if absolute and field != "d":
        raise FilterError(f"|{name}|: only |d| is allowed")
    try:
        value = float(raw_value)
    except ValueError:
        raise FilterError(f"“{term}”: {raw_value!r} is not a number") from None
    return Comparison(field, absolute, "==" if op == "=" else op, value, aspect, negate)


def parse_filter(text: str, aspects: list[str]) -> list[Term]:
    """The terms of a filter line (empty: no filter). Raises FilterError."""
    terms: list[Term] = []
    stripped = text.strip()
    if not stripped:
        return terms
    for part in _AND.split(stripped):
        term = part.strip()
        negate = False
        if term.lower().startswith("not "):
            negate, term = True, term[4:].strip()
        if not term or term.lower() == "and" or term.lower().startswith("and ") \
                or term.lower().endswith(" and"):
            raise FilterError("“and” needs a term on each side")
        lower = term.lower()
        if lower in WORDS:
            terms.append(Word(lower, negate))
        elif any(c in _OPERATOR_CHARS for c in term):
            terms.append(_comparison(term, aspects, negate))
        else:
            terms.append(Text(lower, negate))
    return terms


def _term_expr(term: Term, aspect: str) -> pl.Expr:
    import polars as pl

    if isinstance(term, Comparison):
        column = pl.col(f"{term.aspect or aspect}_{term.field}")
        value = column.abs() if term.absolute else column
        expr = {">": value > term.value, ">=": value >= term.value, "<": value < term.value,
                "<=": value <= term.value, "==": value == term.value,
                "!=": value != term.value}[term.op]
        expr = expr.fill_null(False)
    elif isinstance(term, Word):
        if term.word == "flagged":
            expr = pl.col(category_column(aspect)).is_not_null()
        elif term.word == "failures":
            expr = pl.col(failures_column(aspect)).fill_null(0) > 0
        else:
            expr = pl.col(note_column(aspect)).fill_null(False)
    else:
        expr = pl.col(text_column(aspect)).str.contains(term.text, literal=True)
        expr = expr.fill_null(False)
    return ~expr if term.negate else expr


def filter_expr(terms: list[Term], aspects: list[str], aspect: str | None) -> pl.Expr | None:
    """The terms as one expression: for ``aspect``, or (None) for any one of ``aspects``."""
    import polars as pl

    if not terms:
        return None

    def for_aspect(a: str) -> pl.Expr:
        return pl.all_horizontal([_term_expr(t, a) for t in terms])

    if aspect is not None:
        return for_aspect(aspect)
    return pl.any_horizontal([for_aspect(a) for a in aspects])


def apply_filter(frame: pl.DataFrame, text: str, aspects: list[str],
                 aspect: str | None) -> pl.DataFrame:
    """The rows of ``frame`` the filter line keeps. Raises FilterError."""
    expr = filter_expr(parse_filter(text, aspects), aspects, aspect)
    return frame if expr is None else frame.filter(expr)
