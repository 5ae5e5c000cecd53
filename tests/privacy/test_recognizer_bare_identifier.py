import pytest
from privacy_test_helpers import found

from privacy.recognizers.bare_identifier import BareIdentifierRecognizer

REC = BareIdentifierRecognizer()


@pytest.mark.parametrize(
    "text, expected",
    [("its 4471823", ["4471823"]), ("XJH4471823", ["XJH4471823"]), ("A1234567", ["A1234567"]), ("00-447-1823", ["00-447-1823"])],
)
def test_finds_unlabelled_ids(text, expected):
    assert found(REC, text) == expected


@pytest.mark.parametrize("text", ["10000mg", "1000 mg", "covid19", "2019", "bp 142/74", "12345", "a1c 6.8", "10,000 steps"])
def test_leaves_doses_years_and_short_numbers(text):
    assert found(REC, text) == []
