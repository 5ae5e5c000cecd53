"""Parsing what patients type as their name and date of birth before the identity check."""

from datetime import date

import pytest

from actions.verification import parse_dob, plausible_name


@pytest.mark.parametrize(
    "typed,expected",
    [
        ("04/23/1985", date(1985, 4, 23)),
        ("4/23/85", date(1985, 4, 23)),
        ("04-23-1985", date(1985, 4, 23)),
        ("04.23.1985", date(1985, 4, 23)),
        ("1985-04-23", date(1985, 4, 23)),
        ("04231985", date(1985, 4, 23)),
        ("April 23 1985", date(1985, 4, 23)),
        ("april 23rd, 1985", date(1985, 4, 23)),
        ("23 April 1985", date(1985, 4, 23)),
        ("its 04/23/1985", date(1985, 4, 23)),
        ("dob: 4/23/1985", date(1985, 4, 23)),
        ("1/2/03", date(2003, 1, 2)),
    ],
)
def test_dates_of_birth_in_common_formats(typed, expected):
    assert parse_dob(typed) == expected


@pytest.mark.parametrize(
    "typed",
    ["april 23", "next tuesday", "13/45/1985", "02/30/1990", "01/01/2999", "", "yes", "x" * 500],
)
def test_not_a_date_of_birth(typed):
    assert parse_dob(typed) is None


@pytest.mark.parametrize(
    "typed,expected",
    [
        ("Testy McFakeface", "Testy McFakeface"),
        ("my name is testy mcfakeface", "testy mcfakeface"),
        ("  Testy   McFakeface. ", "Testy McFakeface"),
        ("Mary Jo Fakerson-Test", "Mary Jo Fakerson-Test"),
    ],
)
def test_plausible_names(typed, expected):
    assert plausible_name(typed) == expected


@pytest.mark.parametrize("typed", ["Testy", "04/23/1985", "me@example.com", "a b c d e f g"])
def test_implausible_names_are_asked_again(typed):
    assert plausible_name(typed) is None
