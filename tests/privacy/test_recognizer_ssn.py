import pytest
from privacy_test_helpers import found

from privacy.recognizers.ssn import SsnRecognizer

REC = SsnRecognizer()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("ssn 912-45-6789", ["912-45-6789"]),
        ("912 45 6789", ["912 45 6789"]),
        ("my social is 912456789", ["912456789"]),
        ("last 4 of my social 6789", ["6789"]),
    ],
)
def test_finds_ssn(text, expected):
    assert found(REC, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "000-12-3456",  # never issued
        "666-12-3456",
        "123-00-4567",
        "912456789",  # nine digits with no cue: left to the id recognizer
        "pick up 6789",
        "call 512-555-0143",
    ],
)
def test_leaves_look_alikes(text):
    assert found(REC, text) == []
