import pytest
from privacy_test_helpers import found

from privacy.recognizers.zip_code import ZipCodeRecognizer

REC = ZipCodeRecognizer()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("austin tx 78701", ["78701"]),
        ("zip 78701", ["78701"]),
        ("78701-1234", ["78701-1234"]),
        ("its 78701", ["78701"]),
        ("78701", ["78701"]),
        ("Texas 78701", ["78701"]),
    ],
)
def test_finds_zip(text, expected):
    assert found(REC, text) == expected


@pytest.mark.parametrize("text", ["i walked 10000 steps today", "took 20000 units", "diagnosed in 2019"])
def test_leaves_look_alikes(text):
    assert found(REC, text) == []
