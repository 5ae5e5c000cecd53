import pytest
from privacy_test_helpers import found

from privacy.recognizers.dea import DeaRecognizer, dea_checksum_ok

REC = DeaRecognizer()


def test_check_digit():
    assert dea_checksum_ok("AB1234563")
    assert not dea_checksum_ok("AB1234567")


@pytest.mark.parametrize("text, expected", [("dea AB1234563", ["AB1234563"]), ("prescriber ab1234563", ["ab1234563"])])
def test_finds_dea(text, expected):
    assert found(REC, text) == expected


@pytest.mark.parametrize("text", ["AB1234567", "IB1234563", "XYZ1234563", "AB12345630"])
def test_rejects_look_alikes(text):
    assert found(REC, text) == []
