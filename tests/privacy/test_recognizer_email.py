import pytest
from privacy_test_helpers import found

from privacy.recognizers.email import ChatEmailRecognizer

REC = ChatEmailRecognizer()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("testy.mcfakeface@example.com", ["testy.mcfakeface@example.com"]),
        ("email me at Testy_McFake99@Example.ORG thanks", ["Testy_McFake99@Example.ORG"]),
        ("its testy+clinic@mail.example.co.uk", ["testy+clinic@mail.example.co.uk"]),
        ("testy at example dot com", ["testy at example dot com"]),
    ],
)
def test_finds_emails(text, expected):
    assert found(REC, text) == expected


@pytest.mark.parametrize("text", ["meet me at noon", "@ the clinic", "lisinopril 10mg", "see you at 3.30"])
def test_leaves_look_alikes(text):
    assert found(REC, text) == []
