import pytest
from privacy_test_helpers import found

from privacy.recognizers.member_id import MemberIdRecognizer

REC = MemberIdRecognizer()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("member id XYZ123456789", ["XYZ123456789"]),
        ("W123456789", ["W123456789"]),
        ("policy number 123456789-01", ["123456789-01"]),
        ("medicare 1EG4-TE5-MK73", ["1EG4-TE5-MK73"]),
        ("insurance id 98765432101", ["98765432101"]),
    ],
)
def test_finds_member_ids(text, expected):
    assert found(REC, text) == expected


@pytest.mark.parametrize("text", ["my insurance changed", "policy says 2 visits", "lisinopril 10mg", "123456789-01"])
def test_leaves_look_alikes(text):
    assert found(REC, text) == []
