"""The answer parser against a corpus of realistic model answers."""

from __future__ import annotations

import pytest

from vlmrate.running.parse import (
    CONFLICTING,
    EMPTY,
    NO_RATING,
    NOT_INTEGER,
    OUT_OF_SCALE,
    WRONG_SCALE,
    parse_answer,
)

# (answer, expected rating, expected start of reason or None)
GOOD: list[tuple[str, int, str | None]] = [
    # the reference study's braced form (as printed in its report)
    ("{Rating: 9. Reason: The image shows a flooded town, a direct consequence of climate change.}",
     9, "The image shows a flooded town"),
    ("{Rating: 2. Reason: The image shows a cat sleeping on a sofa, which is unrelated to climate change.}",
     2, "The image shows a cat"),
    ("{Rating: 7. Reason: The melting glacier evokes a strong sense of urgency.}", 7,
     "The melting glacier"),
    ("{Rating: 3. Reason: The calm forest scene feels peaceful and positive.}", 3,
     "The calm forest"),
    # the template as asked
    ("Rating: 7. Reason: The image shows smoke from a factory.", 7, "The image shows smoke"),
    ("Rating: 1. Reason: A bowl of fruit.", 1, "A bowl of fruit"),
    ("Rating: 9\nReason: Wildfire destroying homes.", 9, "Wildfire destroying homes"),
    ("Rating: 5\n\nReason: Neutral street scene.", 5, "Neutral street scene"),
    ("Rating:\n\n6\n\nReason:\n\nDry cracked soil suggests drought.", 6, "Dry cracked soil"),
    ("rating: 4. reason: some clouds", 4, "some clouds"),
    ("RATING: 8. REASON: Polar bear on a small ice floe.", 8, "Polar bear"),
    ("Rating - 3. Reason - a quiet lake", 3, "a quiet lake"),
    ("Rating = 6; Reason: traffic jam", 6, "traffic jam"),
    # markdown
    ("**Rating:** 7\n**Reason:** The image shows a flooded road.", 7, "The image shows a flooded"),
    ("**Rating: 8**\n\n**Reason:** Industrial smokestacks.", 8, "Industrial smokestacks"),
    ("### Rating: 2\n### Reason: A birthday cake.", 2, "A birthday cake"),
    ("`Rating: 5` `Reason: ambiguous`", 5, "ambiguous"),
    ("__Rating__: 4\n__Reason__: mildly relevant", 4, "mildly relevant"),
    # fractions and "out of"
    ("Rating: 7/9. Reason: Deforestation.", 7, "Deforestation"),
    ("Rating: 7 out of 9. Reason: Coal power plant.", 7, "Coal power plant"),
    ("7/9 - the picture shows a hurricane.", 7, None),
    ("I'd give it a 6 out of 9 because the scene is tense.", 6, None),
    ("Rating: 3 / 9\nReason: calm meadow", 3, "calm meadow"),
    # reason before the rating
    ("Reason: The image shows an oil spill on a beach. Rating: 8.", 8,
     "The image shows an oil spill"),
    ("Reason: Children playing in a park.\nRating: 2", 2, "Children playing"),
    # leading prose
    ("Sure! Here is my answer.\nRating: 6. Reason: Traffic congestion.", 6, "Traffic congestion"),
    ("After carefully analyzing the image, Rating: 4. Reason: Somewhat related.", 4,
     "Somewhat related"),
    ("Based on the image, I would rate this image a 7. The flooded streets are alarming.", 7,
     None),
    ("I rate it 3 because it is calm.", 3, None),
    ("My rating for this image is 5. It is neither calm nor exciting.", 5, None),
    ("The rating is 8. Reason: The storm looks dangerous.", 8, "The storm"),
    # bare number first
    ("7. Reason: Heat wave in a city.", 7, "Heat wave"),
    ("6", 6, None),
    ("8\nThe image depicts wildfire smoke.", 8, None),
    # template echo plus answer
    ("Rating: an integer on a scale to 1 to 9.\nRating: 6. Reason: A drought.", 6, "A drought"),
    # same rating twice is consistent, not a conflict
    ("Rating: 7. Reason: I give it a rating of 7 because of the flood.", 7, "I give it"),
    # trailing whitespace / windows newlines
    ("Rating: 2.\r\nReason: Snowy mountain, pristine.\r\n", 2, "Snowy mountain"),
    ("  Rating: 9.  Reason:   Burning forest.  ", 9, "Burning forest"),
    # reason with numbers inside
    ("Rating: 4. Reason: The image shows 2 cars and 3 trees.", 4, "The image shows 2 cars"),
    ("Rating: 6. Reason: About 100 people protesting.", 6, "About 100 people"),
    ("{Rating: 1. Reason: A plate of pasta}", 1, "A plate of pasta"),
]

BAD: list[tuple[str | None, str]] = [
    ("", EMPTY),
    ("   \n ", EMPTY),
    (None, EMPTY),
    ("Rating: 0. Reason: nothing.", OUT_OF_SCALE),
    ("Rating: 10. Reason: extreme.", OUT_OF_SCALE),
    ("Rating: 7.5. Reason: between.", NOT_INTEGER),
    ("Rating: 6,5. Reason: between.", NOT_INTEGER),
    ("Rating: 7. Reason: ... actually Rating: 8.", CONFLICTING),
    ("Rating: 3\nRating: 5", CONFLICTING),
    ("Rating: 7/10. Reason: another scale.", WRONG_SCALE),
    ("The image shows a polar bear on the ice.", NO_RATING),
    ("Bewertung: sieben. Begründung: Eisbär.", NO_RATING),
    ("Rating: an integer on a scale to 1 to 9.", NO_RATING),
    ("Rating: -3. Reason: negative", OUT_OF_SCALE),
]


@pytest.mark.parametrize(("answer", "rating", "reason"), GOOD)
def test_good_answers(answer: str, rating: int, reason: str | None) -> None:
    parsed = parse_answer(answer)
    assert parsed.error is None, parsed
    assert parsed.rating == rating
    if reason is not None:
        assert parsed.reason is not None and parsed.reason.startswith(reason), parsed.reason
        assert "Rating" not in parsed.reason.split(".")[0]


@pytest.mark.parametrize(("answer", "code"), BAD)
def test_bad_answers(answer: str | None, code: str) -> None:
    parsed = parse_answer(answer)
    assert parsed.rating is None
    assert parsed.error == code


def test_corpus_is_large_enough() -> None:
    assert len(GOOD) + len(BAD) >= 40


def test_other_scale() -> None:
    assert parse_answer("Rating: 5 out of 5", 1, 5).rating == 5
    assert parse_answer("Rating: 7", 1, 5).error == OUT_OF_SCALE
