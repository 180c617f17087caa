"""The Results filter line: terms joined by ``and`` / ``or``, negated by ``not`` and
grouped by parentheses, as a Polars expression over the per-image frame. ``LANGUAGE`` is
the text the Results screen's help lists.

Fields: ``m``/``mean`` (model mean), ``sd``, ``n`` (valid answers), ``h``/``human`` (human
mean), ``d`` (m - h) and ``|d|``; ``aspect.field`` for a named aspect (a unique prefix
will do). Operators: ``> >= < <= = == !=``. ``flag`` and ``note`` compare text: ``=`` /
``!=`` the whole flag category or note, ``~`` a part of it (case-insensitive; quote text
with spaces). The words ``flagged``, ``failures`` and ``note`` keep the images with a flag
category, any parse failure or engine error, or a note. Other words, or "quoted text",
search the id and the reasons of the aspect shown. ``and`` binds tighter than ``or``.
With one aspect shown every term is about it; with all aspects shown an image is kept
when the whole filter holds for one of them (``h < 3 and m > 6``: one aspect where both
hold). Missing values never pass a comparison.

The frame needs, per aspect ``a``: per_image's ``a_mean, a_sd, a_n, a_human, a_d`` and the
columns named by text_column/failures_column/category_column/note_column/
note_text_column.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

FIELDS = {"m": "mean", "mean": "mean", "sd": "sd", "n": "n", "h": "human", "human": "human",
          "d": "d"}
TEXT_FIELDS = ("flag", "note")  # compared as text: = != ~
WORDS = ("flagged", "failures", "note")
OPERATORS = (">=", "<=", "==", "!=", ">", "<", "=", "~")
KEYWORDS = ("and", "or", "not")

LANGUAGE = """\
d > 2 · |d| >= 1.5 · sd < 1 · n < 10   m model mean, sd, n answers
h < 3 · m > 6 · valence.d < -1         h human mean, d = m − h
flag = "model wrong" · flag ~ wrong    the flag category
note ~ "blurry" · note = "ok"          the note's text
flagged · failures · note              has a flag, a failure, a note
glacier · "two words"                  the id or reasons contain it
not A · A and B · (A or B) and C       combined; and before or
enter applies the line (one with an error stays open); escape clears"""

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<open>\()
  | (?P<close>\))
  | (?P<quoted>"[^"]*"?)
  | (?P<abs>\|\s*[\w.]+\s*\|)
  | (?P<op>>=|<=|==|!=|>|<|=|~)
  | (?P<word>[^\s()"<>=!~|]+)
  | (?P<other>.)
""", re.VERBOSE)


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


def note_text_column(aspect: str) -> str:
    """The note of one aspect in lower case ("" for none)."""
    return f"_note_text_{aspect}"


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


@dataclass(frozen=True)
class TextMatch:
    field: str  # flag | note
    op: str  # == | != | ~
    value: str  # lower case
    negate: bool = False


@dataclass(frozen=True)
class Not:
    node: Node


@dataclass(frozen=True)
class All:
    """Every part holds (``and``)."""
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Either:
    """One part holds (``or``)."""
    parts: tuple[Node, ...]


Term = Comparison | Word | Text | TextMatch
Node = Term | Not | All | Either


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


@dataclass(frozen=True)
class _Token:
    kind: str  # open close quoted abs op word other
    text: str
    start: int
    end: int


def _tokens(text: str) -> list[_Token]:
    out = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup or "other"
        if kind != "space":
            out.append(_Token(kind, match.group(), match.start(), match.end()))
    return out


class _Parser:
    """Recursive descent: or_expr := and_expr (or and_expr)*; and_expr := unary (and
    unary)*; unary := not unary | ( or_expr ) | term."""

    def __init__(self, text: str, aspects: list[str]) -> None:
        self.text, self.aspects = text, aspects
        self.tokens = _tokens(text)
        self.i = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def keyword(self, word: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "word" and token.text.lower() == word

    def parse(self) -> Node:
        node = self.or_expr()
        token = self.peek()
        if token is not None:
            if token.kind == "close":
                raise FilterError("a “)” without its “(”")
            raise FilterError(f"“{self.text[token.start:].strip()}”: expected and, or or "
                              "the end after a term")
        return node

    def or_expr(self) -> Node:
        parts = [self.and_expr()]
        while self.keyword("or"):
            self.i += 1
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else Either(tuple(parts))

    def and_expr(self) -> Node:
        parts = [self.unary()]
        while self.keyword("and"):
            self.i += 1
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else All(tuple(parts))

    def unary(self) -> Node:
        token = self.peek()
        if token is None or (token.kind == "word" and token.text.lower() in ("and", "or")):
            word = "“and”" if token is None or token.text.lower() == "and" else "“or”"
            if token is None and self.tokens:
                last = self.tokens[-1]
                word = f"“{last.text.lower()}”" if last.text.lower() in KEYWORDS else word
                if last.kind == "open":
                    raise FilterError("“(” needs a term inside")
            raise FilterError(f"{word} needs a term on each side")
        if self.keyword("not"):
            self.i += 1
            node = self.unary()
            if isinstance(node, Comparison | Word | Text | TextMatch):
                return dataclasses.replace(node, negate=not node.negate)
            return Not(node)
        if token.kind == "open":
            self.i += 1
            if self.peek() is not None and self.peek().kind == "close":
                raise FilterError("“()” needs a term inside")
            node = self.or_expr()
            close = self.peek()
            if close is None or close.kind != "close":
                raise FilterError("a “(” without its “)”")
            self.i += 1
            return node
        if token.kind == "close":
            raise FilterError("a “)” without its “(”")
        return self.term()

    def term(self) -> Term:
        token = self.tokens[self.i]
        following = self.tokens[self.i + 1] if self.i + 1 < len(self.tokens) else None
        if following is not None and following.kind == "op" and token.kind in ("word", "abs"):
            return self.comparison()
        if token.kind == "abs":
            raise FilterError(f"“{token.text}”: an operator and a number are missing, "
                              "e.g. |d| >= 1.5")
        if token.kind == "op":
            raise FilterError(f"“{self.text[token.start:].strip()}”: a field is missing "
                              f"before {token.text}, e.g. d > 2")
        if token.kind == "quoted":
            self.i += 1
            return Text(_unquote(token.text).lower())
        if token.kind == "other":
            raise FilterError(f"“{token.text}” is not part of the filter language")
        if token.text.lower() in WORDS and not self._more_words():
            self.i += 1
            return Word(token.text.lower())
        words = []
        while self.peek() is not None and self.peek().kind == "word" \
                and self.peek().text.lower() not in KEYWORDS:
            following = self.tokens[self.i + 1] if self.i + 1 < len(self.tokens) else None
            if words and following is not None and following.kind == "op":
                break  # "glacier d > 2": the next word starts a comparison
            words.append(self.peek().text)
            self.i += 1
        return Text(" ".join(words).lower())

    def _more_words(self) -> bool:
        """Whether a plain word follows (then a word like "note" is part of a text)."""
        token = self.tokens[self.i + 1] if self.i + 1 < len(self.tokens) else None
        return token is not None and token.kind == "word" and \
            token.text.lower() not in KEYWORDS

    def comparison(self) -> Term:
        field_token, op_token = self.tokens[self.i], self.tokens[self.i + 1]
        self.i += 2
        value = self.peek()
        start = field_token.start
        if value is None or value.kind not in ("word", "quoted") or \
                value.text.lower() in KEYWORDS:
            if value is None or value.text.lower() in KEYWORDS:
                what = "a text" if field_token.text.lower() in TEXT_FIELDS else "a number"
                raise FilterError(f"“{self.text[start:op_token.end]}”: {what} is missing "
                                  f"after {op_token.text}")
            raise FilterError(f"“{self.text[start:].strip()}”: expected a field, an "
                              "operator and a number, e.g. d > 2 or |d| >= 1.5")
        self.i += 1
        term = self.text[start:value.end]
        op = "==" if op_token.text == "=" else op_token.text
        name = field_token.text.strip("|").strip().lower()
        if field_token.kind == "word" and name in TEXT_FIELDS:
            if op not in ("==", "!=", "~"):
                raise FilterError(f"“{term}”: {name} takes =, != or ~ (contains)")
            return TextMatch(name, op, _unquote(value.text).lower())
        if value.kind == "quoted":
            raise FilterError(f"“{term}”: {value.text} is not a number")
        if op == "~":
            raise FilterError(f"“{term}”: ~ (contains) is for flag and note")
        return _comparison(field_token.kind == "abs", name, op, value.text, term,
                           self.aspects)


def _unquote(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text.endswith('"') else text[1:]


def _comparison(absolute: bool, name: str, op: str, raw_value: str, term: str,
                aspects: list[str]) -> Comparison:
    aspect = None
    if "." in name:
        aspect_name, name = name.rsplit(".", 1)
        aspect = _aspect_named(aspect_name, aspects)
    if name not in FIELDS:
        raise FilterError(f"unknown field {name!r} (fields: m, sd, n, h, d, |d|, flag, note)")
    field = FIELDS[name]
    if absolute and field != "d":
        raise FilterError(f"|{name}|: only |d| is allowed")
    try:
        value = float(raw_value)
    except ValueError:
        raise FilterError(f"“{term}”: {raw_value!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise FilterError(f"“{term}”: {raw_value!r} is not a finite number")
    return Comparison(field, absolute, op, value, aspect)


def parse_filter(text: str, aspects: list[str]) -> Node | None:
    """The filter line as a tree of terms (None: no filter). Raises FilterError; a line
    that does not parse whole is an error, never a part of it."""
    if not text.strip():
        return None
    return _Parser(text, aspects).parse()


def _term_expr(term: Term, aspect: str) -> pl.Expr:
    import polars as pl

    if isinstance(term, Comparison):
        column = pl.col(f"{term.aspect or aspect}_{term.field}")
        value = column.abs() if term.absolute else column
        expr = {">": value > term.value, ">=": value >= term.value, "<": value < term.value,
                "<=": value <= term.value, "==": value == term.value,
                "!=": value != term.value}[term.op]
        expr = expr.fill_null(False)
    elif isinstance(term, TextMatch):
        column = (pl.col(category_column(aspect)).fill_null("").str.to_lowercase()
                  if term.field == "flag" else pl.col(note_text_column(aspect)).fill_null(""))
        if term.op == "~":
            expr = column.str.contains(term.value, literal=True)
        else:
            expr = column.str.strip_chars() == term.value.strip()
            expr = ~expr if term.op == "!=" else expr
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


def _node_expr(node: Node, aspect: str) -> pl.Expr:
    import polars as pl

    if isinstance(node, All):
        return pl.all_horizontal([_node_expr(p, aspect) for p in node.parts])
    if isinstance(node, Either):
        return pl.any_horizontal([_node_expr(p, aspect) for p in node.parts])
    if isinstance(node, Not):
        return ~_node_expr(node.node, aspect)
    return _term_expr(node, aspect)


def filter_expr(node: Node | None, aspects: list[str], aspect: str | None) -> pl.Expr | None:
    """The filter as one expression: for ``aspect``, or (None) for any one of ``aspects``."""
    import polars as pl

    if node is None:
        return None
    if aspect is not None:
        return _node_expr(node, aspect)
    return pl.any_horizontal([_node_expr(node, a) for a in aspects])


def apply_filter(frame: pl.DataFrame, text: str, aspects: list[str],
                 aspect: str | None) -> pl.DataFrame:
    """The rows of ``frame`` the filter line keeps. Raises FilterError."""
    expr = filter_expr(parse_filter(text, aspects), aspects, aspect)
    return frame if expr is None else frame.filter(expr)
