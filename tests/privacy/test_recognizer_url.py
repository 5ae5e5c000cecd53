import pytest
from privacy_test_helpers import found

from privacy.recognizers.url import ChatUrlRecognizer

REC = ChatUrlRecognizer(practice_website="https://www.sunrise-clinic.example.com")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("https://portal.example.com/u/testy42", ["https://portal.example.com/u/testy42"]),
        ("see www.example.org/profile/4471.", ["www.example.org/profile/4471"]),
        ("facebook.com/testy.mcfakeface", ["facebook.com/testy.mcfakeface"]),
    ],
)
def test_finds_urls(text, expected):
    assert found(REC, text) == expected


@pytest.mark.parametrize(
    "text", ["testy@example.com", "sunrise-clinic.example.com/hours", "take 2.5 mg", "e.g. tylenol"]
)
def test_leaves_emails_practice_site_and_look_alikes(text):
    assert found(REC, text) == []
