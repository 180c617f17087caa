"""The Results filter line: each form keeps exactly the rows a plain-Python reading of the
per-image frame keeps; errors say what is wrong."""

from __future__ import annotations

import math
import random
import re

import polars as pl
import pytest

from vlmrate.tui.filter_expr import (
    LANGUAGE,
    All,
    Comparison,
    Either,
    FilterError,
    Not,
    Text,
    TextMatch,
    Word,
    apply_filter,
    category_column,
    failures_column,
    note_column,
    note_text_column,
    parse_filter,
    text_column,
)

ASPECTS = ["relevance", "arousal", "valence"]


def frame() -> pl.DataFrame:
    rng = random.Random(5)
    rows = []
    for i in range(60):
        row: dict = {"image_id": f"img{i:02d}"}
        for a in ASPECTS:
            mean = None if i % 17 == 0 else round(rng.uniform(1, 9), 2)
            human = None if i % 13 == 0 else round(rng.uniform(1, 9), 2)
            row |= {f"{a}_mean": mean, f"{a}_sd": round(rng.uniform(0, 4), 2),
                    f"{a}_n": rng.randint(0, 10), f"{a}_human": human,
                    f"{a}_d": None if mean is None or human is None else mean - human,
                    text_column(a): f"img{i:02d} {rng.choice(['glacier', 'beach', 'smoke'])} "
                                    f"({a})",
                    failures_column(a): rng.choice([0, 0, 0, 1, 2]),
                    category_column(a): rng.choice([None, None, None, "model wrong",
                                                    "Human odd"]),
                    note_text_column(a): rng.choice(["", "", "", "blurry photo",
                                                     "odd crop"])}
        for a in ASPECTS:
            row[note_column(a)] = bool(row[note_text_column(a)])
        rows.append(row)
    return pl.DataFrame(rows)


def kept(text: str, aspect: str | None) -> list[str]:
    return apply_filter(frame(), text, ASPECTS, aspect).get_column("image_id").to_list()


def expected(test, aspect: str | None) -> list[str]:
    out = []
    for row in frame().iter_rows(named=True):
        aspects = [aspect] if aspect else ASPECTS
        if any(test(row, a) for a in aspects):
            out.append(row["image_id"])
    return out


def gt(value, bound) -> bool:
    return value is not None and not math.isnan(value) and value > bound


CASES = [
    ("d > 2", lambda r, a: gt(r[f"{a}_d"], 2)),
    ("|d| >= 1.5", lambda r, a: r[f"{a}_d"] is not None and abs(r[f"{a}_d"]) >= 1.5),
    ("sd > 3", lambda r, a: r[f"{a}_sd"] > 3),
    ("h < 3 and m > 6", lambda r, a: r[f"{a}_human"] is not None and r[f"{a}_human"] < 3
     and gt(r[f"{a}_mean"], 6)),
    ("flagged", lambda r, a: r[category_column(a)] is not None),
    ("failures", lambda r, a: r[failures_column(a)] > 0),
    ("note", lambda r, a: r[note_column(a)]),
    ("not flagged and n <= 4", lambda r, a: r[category_column(a)] is None
     and r[f"{a}_n"] <= 4),
    ("GLACIER", lambda r, a: "glacier" in r[text_column(a)]),
    ("glacier and d < 0", lambda r, a: "glacier" in r[text_column(a)]
     and r[f"{a}_d"] is not None and r[f"{a}_d"] < 0),
    ("(valence)", lambda r, a: "(valence)" in r[text_column(a)]),
    ('"(valence)"', lambda r, a: "(valence)" in r[text_column(a)]),
    ("d > 2 or d < -2", lambda r, a: gt(r[f"{a}_d"], 2)
     or (r[f"{a}_d"] is not None and r[f"{a}_d"] < -2)),
    ("sd > 3 or n < 2 and h > 5", lambda r, a: r[f"{a}_sd"] > 3
     or (r[f"{a}_n"] < 2 and r[f"{a}_human"] is not None and r[f"{a}_human"] > 5)),
    ("(sd > 3 or n < 2) and h > 5", lambda r, a: (r[f"{a}_sd"] > 3 or r[f"{a}_n"] < 2)
     and r[f"{a}_human"] is not None and r[f"{a}_human"] > 5),
    ("not (flagged or note)", lambda r, a: r[category_column(a)] is None
     and not r[note_column(a)]),
    ('flag = "model wrong"', lambda r, a: r[category_column(a)] == "model wrong"),
    ('FLAG = "human ODD"', lambda r, a: r[category_column(a)] == "Human odd"),
    ("flag != 'x' and flag ~ odd".replace("'x'", '"model wrong"'),
     lambda r, a: r[category_column(a)] != "model wrong"
     and "odd" in (r[category_column(a)] or "").lower()),
    ('note ~ "blurry"', lambda r, a: "blurry" in r[note_text_column(a)]),
    ('note = "odd crop" or glacier', lambda r, a: r[note_text_column(a)] == "odd crop"
     or "glacier" in r[text_column(a)]),
]


@pytest.mark.parametrize("aspect", ["valence", None])
@pytest.mark.parametrize(("text", "test"), CASES, ids=[c[0] for c in CASES])
def test_each_form_keeps_the_right_rows(text: str, test, aspect: str | None) -> None:
    want = expected(test, aspect)
    assert kept(text, aspect) == want
    assert 0 < len(want) < 60 or "(valence)" in text


def test_plain_text_is_about_the_aspect_shown_only() -> None:
    assert kept("(valence)", "arousal") == []
    assert len(kept("(valence)", "valence")) == 60


def test_a_named_aspect_and_prefixes() -> None:
    want = expected(lambda r, a: gt(r["valence_d"], 1), "arousal")
    assert kept("valence.d > 1", "arousal") == want
    assert kept("val.d > 1", None) == want  # the same for every aspect
    assert kept("VAL.D>1", "relevance") == want


def test_parse_terms() -> None:
    assert parse_filter("  ", ASPECTS) is None
    assert parse_filter("|d| >= 1.5 AND not note and Beach", ASPECTS) == All((
        Comparison("d", True, ">=", 1.5, None), Word("note", True), Text("beach")))
    assert parse_filter("m = 5", ASPECTS) == Comparison("mean", False, "==", 5.0, None)
    assert parse_filter("d > 2 or d < -2", ASPECTS) == Either((
        Comparison("d", False, ">", 2.0, None), Comparison("d", False, "<", -2.0, None)))
    assert parse_filter("a or b and c", ASPECTS) == Either((
        Text("a"), All((Text("b"), Text("c")))))
    assert parse_filter("not (flagged or failures)", ASPECTS) == Not(Either((
        Word("flagged"), Word("failures"))))
    assert parse_filter('flag = "Model wrong"', ASPECTS) == TextMatch("flag", "==",
                                                                     "model wrong")
    assert parse_filter("glacier beach", ASPECTS) == Text("glacier beach")
    assert parse_filter("note to self", ASPECTS) == Text("note to self")


def test_the_language_help_shows_forms_that_parse() -> None:
    """Each example of the help (before the spacing that starts its description) parses."""
    examples = [e.strip() for line in LANGUAGE.splitlines()[:-1]
                for e in re.split(r"\s{2,}", line)[0].split(" · ")]
    assert len(examples) >= 15
    for example in examples:
        parse_filter(example.replace("A", "d > 1").replace("B", "flagged")
                     .replace("C", "note"), ASPECTS)


@pytest.mark.parametrize(("text", "message"), [
    ("sd >", "a number is missing after >"),
    ("d > two", "'two' is not a number"),
    ("x > 2", "unknown field 'x'"),
    ("|sd| > 2", "only |d| is allowed"),
    ("zz.d > 1", "no aspect 'zz'"),
    ("d >> 2", "expected a field, an operator and a number"),
    ("d >>> 2", "expected a field, an operator and a number"),
    ("sd > x", "'x' is not a number"),
    ("d > 2 or", "“or” needs a term on each side"),
    ("(d > 2", "a “(” without its “)”"),
    ("d > 2)", "a “)” without its “(”"),
    ("()", "needs a term inside"),
    ("> 2", "a field is missing before >"),
    ('d > "2"', "is not a number"),
    ("flag > 2", "flag takes =, != or ~"),
    ("d ~ 2", "~ (contains) is for flag and note"),
    ("d > 2 d < 1", "expected and, or or the end"),
    ("flag =", "a text is missing after ="),
    ("d > 1 and", "needs a term on each side"),
    ("and d > 1", "needs a term on each side"),
])
def test_errors_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(FilterError, match=re.escape(message)):
        apply_filter(frame(), text, ASPECTS, "valence")

