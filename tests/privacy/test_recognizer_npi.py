import pytest
from privacy_test_helpers import found

from privacy.recognizers.npi import NpiRecognizer, npi_checksum_ok

REC = NpiRecognizer()


def test_luhn_known_valid_and_invalid():
    assert npi_checksum_ok("1234567893")  # the CMS example NPI
    assert not npi_checksum_ok("1234567890")


@pytest.mark.parametrize("text, expected", [("npi 1234567893", ["1234567893"]), ("1234567893", ["1234567893"])])
def test_finds_valid_npi(text, expected):
    assert found(REC, text) == expected


@pytest.mark.parametrize("text", ["npi 1234567890", "3234567893", "12345678931"])
def test_rejects_bad_checksum_and_shape(text):
    assert found(REC, text) == []
