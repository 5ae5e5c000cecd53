import pytest
from privacy_test_helpers import found

from privacy.recognizers.drivers_license import DriversLicenseRecognizer

REC = DriversLicenseRecognizer()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("DL D1234567", ["D1234567"]),
        ("drivers license 12345678", ["12345678"]),
        ("license number S530-460-72-341", ["S530-460-72-341"]),
    ],
)
def test_finds_licence_after_cue(text, expected):
    assert found(REC, text) == expected


@pytest.mark.parametrize("text", ["D1234567", "my license expired", "license renewed in 2019"])
def test_leaves_look_alikes(text):
    assert found(REC, text) == []
