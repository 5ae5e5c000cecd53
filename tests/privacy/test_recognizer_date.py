import pytest
from privacy_test_helpers import found

from privacy.recognizers.date import ChatDateRecognizer

REC = ChatDateRecognizer()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("dob 03/14/1961", ["03/14/1961"]),
        ("3/14/61", ["3/14/61"]),
        ("born 1961-03-14", ["1961-03-14"]),
        ("14.03.1961", ["14.03.1961"]),
        ("March 14, 1961", ["March 14, 1961"]),
        ("mar 14th 1961", ["mar 14th 1961"]),
        ("14 march 1961", ["14 march 1961"]),
        ("the 14th of March", ["14th of March"]),
        ("appt on 3/14", ["3/14"]),
        ("dob 03141961", ["03141961"]),
        ("can i come in june 30", ["june 30"]),
        ("since march 2019", ["march 2019"]),
    ],
)
def test_finds_dates(text, expected):
    assert found(REC, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "diagnosed in 2019",
        "next tuesday works",
        "bp 142/74",
        "my pain is 7/10",
        "take 1/2 tab",
        "03141961",  # unseparated without a date cue: the id recognizer's job
        "i may 2x the dose",
        "10mg twice a day",
    ],
)
def test_leaves_look_alikes(text):
    assert found(REC, text) == []
