import pytest
from privacy_test_helpers import found

from privacy.recognizers.street_address import StreetAddressRecognizer

REC = StreetAddressRecognizer()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("i live at 123 main st", ["123 main st"]),
        ("123 Main Street Apt 4B, Austin, TX 78701", ["123 Main Street Apt 4B, Austin, TX 78701"]),
        ("4471 N Oak Ave", ["4471 N Oak Ave"]),
        ("send to 12 5th ave unit 3", ["12 5th ave unit 3"]),
        ("PO Box 4471", ["PO Box 4471"]),
        ("9 martin luther king jr blvd", ["9 martin luther king jr blvd"]),
    ],
)
def test_finds_addresses(text, expected):
    assert found(REC, text) == expected


@pytest.mark.parametrize(
    "text",
    ["i take 2 tabs on my way", "2 kids in the park", "10 mg every day", "bp 142/74", "walk 3 laps round the court"],
)
def test_leaves_look_alikes(text):
    assert found(REC, text) == []
