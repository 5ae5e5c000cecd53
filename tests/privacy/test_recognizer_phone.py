import pytest
from privacy_test_helpers import found

from privacy.recognizers.phone import ChatPhoneRecognizer

REC = ChatPhoneRecognizer(practice_phone="(512) 555-0100")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("call me 5125550143", ["5125550143"]),
        ("its 512.555.0143", ["512.555.0143"]),
        ("+1 (512) 555-0143 x12", ["+1 (512) 555-0143 x12"]),
        ("1-512-555-0143", ["1-512-555-0143"]),
        ("cell 512 555 0143 pls", ["512 555 0143"]),
        ("(512)555-0143", ["(512)555-0143"]),
        ("512-555-0143 ext 204", ["512-555-0143 ext 204"]),
        ("555-0143", ["555-0143"]),
        ("phone 555 0143", ["555 0143"]),
        ("desk: +41 (0)96 471 07 95", ["+41 (0)96 471 07 95"]),
    ],
)
def test_finds_phone_formats(text, expected):
    assert found(REC, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "bp 142/74",
        "diagnosed in 2019",
        "take 1000 mg",
        "ssn 912-45-6789",
        "dob 1961-03-14",
        "the clinic number is (512) 555-0100",  # the practice's own phone stays
        "call 512.555.0100",
        "i walked 5000 steps",
    ],
)
def test_leaves_look_alikes(text):
    assert found(REC, text) == []
