import pytest
from privacy_test_helpers import found

from privacy.recognizers.age import AgeRecognizer

REC = AgeRecognizer()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("I'm 92", ["92"]),
        ("my dad is 97 yrs old", ["97"]),
        ("she's 101", ["101"]),
        ("age 95", ["95"]),
        ("a 93yo woman", ["93"]),
        ("ninety-two years old", ["ninety-two"]),
    ],
)
def test_finds_ages_over_89(text, expected):
    assert found(REC, text) == expected


@pytest.mark.parametrize("text", ["I'm 45", "she's 89", "age 30", "I'm 100% sure", "he is 95 lbs", "92 mg", "bp 95/60"])
def test_keeps_ages_under_90_and_look_alikes(text):
    assert found(REC, text) == []
