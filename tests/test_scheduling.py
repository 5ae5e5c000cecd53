"""Time preferences as patients type them, and choosing and reading offers.

Fixed "now": Wednesday 25 November 2026, 10:00 in America/Chicago. Weeks run Monday to
Sunday, so "next week" is Mon 30 Nov - Sun 6 Dec; the default horizon is 14 days
(25 Nov - 8 Dec).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Optional
from zoneinfo import ZoneInfo

import pytest

from actions.scheduling import (
    TimePreference,
    filter_slots,
    parse_choice,
    parse_time_preference,
    pick_offers,
    slot_label,
)

TZ = ZoneInfo("America/Chicago")
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=TZ)  # a Wednesday
TODAY = NOW.date()
HORIZON = (TODAY, date(2026, 12, 8))
NEXT_WEEK = (date(2026, 11, 30), date(2026, 12, 6))
MORNING = (time(8), time(12))
AFTERNOON = (time(12), time(17))
ANY_TIME = (None, None)
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


def d(month: int, day: int, year: int = 2026) -> date:
    return date(year, month, day)


def one_day(month: int, day: int, year: int = 2026):
    return (d(month, day, year), d(month, day, year))


# (typed, (start, end), (earliest, latest), allowed weekdays, excluded weekdays)
PREFERENCES = [
    # the examples
    ("next Tuesday afternoon", one_day(12, 1), AFTERNOON, None, set()),
    ("after 3 on Friday", one_day(11, 27), (time(15), None), None, set()),
    ("before 10am", HORIZON, (None, time(10)), None, set()),
    ("the 14th", one_day(12, 14), ANY_TIME, None, set()),
    ("in two weeks", (d(12, 7), d(12, 13)), ANY_TIME, None, set()),
    ("in 2 wks", (d(12, 7), d(12, 13)), ANY_TIME, None, set()),
    # "next 2 weeks" is a span from today, like "the next 2 weeks" (not "in 2 weeks")
    ("any time next 2 weeks", (TODAY, d(12, 8)), ANY_TIME, None, set()),
    ("sometime next 2 weeks", (TODAY, d(12, 8)), ANY_TIME, None, set()),
    # a span between two dates, not its two ends and not "2 pm to 6 pm"
    ("dec 14-18", (d(12, 14), d(12, 18)), ANY_TIME, None, set()),
    ("between 12/14 and 12/18", (d(12, 14), d(12, 18)), ANY_TIME, None, set()),
    ("the 14th to the 18th", (d(12, 14), d(12, 18)), ANY_TIME, None, set()),
    ("from dec 14 to dec 18", (d(12, 14), d(12, 18)), ANY_TIME, None, set()),
    ("dec 14-18 in the morning", (d(12, 14), d(12, 18)), MORNING, None, set()),
    ("dec 28 - jan 3", (d(12, 28), d(1, 3, 2027)), ANY_TIME, None, set()),
    ("any morning but Monday", HORIZON, MORNING, None, {MON}),
    ("tomorrow", one_day(11, 26), ANY_TIME, None, set()),
    ("this week", (TODAY, d(11, 29)), ANY_TIME, None, set()),
    ("next week", NEXT_WEEK, ANY_TIME, None, set()),
    ("Dec 9", one_day(12, 9), ANY_TIME, None, set()),
    ("12/9", one_day(12, 9), ANY_TIME, None, set()),
    ("9th of December", one_day(12, 9), ANY_TIME, None, set()),
    ("monday or wednesday", HORIZON, ANY_TIME, {MON, WED}, set()),
    ("mornings", HORIZON, MORNING, None, set()),
    ("late afternoon", HORIZON, (time(15), time(17)), None, set()),
    ("evening", HORIZON, (time(16), time(21)), None, set()),
    ("weekend", (d(11, 28), d(11, 29)), ANY_TIME, None, set()),
    # SMS style and typos
    ("tusday", one_day(12, 1), ANY_TIME, None, set()),
    ("tmrw", one_day(11, 26), ANY_TIME, None, set()),
    ("nxt week", NEXT_WEEK, ANY_TIME, None, set()),
    ("afternon", HORIZON, AFTERNOON, None, set()),
    ("NXT WK AFTERNON", NEXT_WEEK, AFTERNOON, None, set()),
    ("thrusday mornin", one_day(11, 26), MORNING, None, set()),
    ("wensday", one_day(11, 25), ANY_TIME, None, set()),
    ("tommorow 2pm", one_day(11, 26), (time(14), time(15)), None, set()),
    ("tues pm", one_day(12, 1), AFTERNOON, None, set()),
    ("fri am", one_day(11, 27), MORNING, None, set()),
    ("2moro after 1", one_day(11, 26), (time(13), None), None, set()),
    # single days
    ("friday", one_day(11, 27), ANY_TIME, None, set()),
    ("this friday", one_day(11, 27), ANY_TIME, None, set()),
    ("next friday", one_day(12, 4), ANY_TIME, None, set()),
    ("wednesday", one_day(11, 25), ANY_TIME, None, set()),  # today is Wednesday
    ("tuesday next week", one_day(12, 1), ANY_TIME, {TUE}, set()),
    ("tuesday after next", one_day(12, 8), ANY_TIME, None, set()),
    ("day after tomorrow", one_day(11, 27), ANY_TIME, None, set()),
    ("in 3 days", one_day(11, 28), ANY_TIME, None, set()),
    ("today", one_day(11, 25), ANY_TIME, None, set()),
    ("this afternoon", one_day(11, 25), AFTERNOON, None, set()),
    ("december 14", one_day(12, 14), ANY_TIME, None, set()),
    ("14 dec", one_day(12, 14), ANY_TIME, None, set()),
    ("on the 3rd", one_day(12, 3), ANY_TIME, None, set()),
    ("the 25th", one_day(11, 25), ANY_TIME, None, set()),  # today is the 25th
    ("31st", one_day(12, 31), ANY_TIME, None, set()),  # November has no 31st
    ("jan 5th", one_day(1, 5, 2027), ANY_TIME, None, set()),
    ("2026-12-09", one_day(12, 9), ANY_TIME, None, set()),
    ("12/09/2026", one_day(12, 9), ANY_TIME, None, set()),
    ("friday the 4th", one_day(12, 4), ANY_TIME, None, set()),
    ("dec 9th at 2:30pm", one_day(12, 9), (time(14, 30), time(15, 30)), None, set()),
    ("Tues at 3:30", one_day(12, 1), (time(15, 30), time(16, 30)), None, set()),
    ("monday at 9", one_day(11, 30), (time(9), time(10)), None, set()),
    ("3 in the afternoon on thursday", one_day(11, 26), (time(15), time(16)), None, set()),
    ("thursday 10-11", one_day(11, 26), (time(10), time(11)), None, set()),
    ("christmas eve", one_day(12, 24), ANY_TIME, None, set()),
    # several days
    ("tomorrow or friday", (d(11, 26), d(11, 27)), ANY_TIME, {THU, FRI}, set()),
    ("tues or thurs afternoon", HORIZON, AFTERNOON, {TUE, THU}, set()),
    ("mon wed or fri", HORIZON, ANY_TIME, {MON, WED, FRI}, set()),
    ("next mon or tue", NEXT_WEEK, ANY_TIME, {MON, TUE}, set()),
    ("tuesday or thursday next week", NEXT_WEEK, ANY_TIME, {TUE, THU}, set()),
    ("fridays", HORIZON, ANY_TIME, {FRI}, set()),
    ("every friday", HORIZON, ANY_TIME, {FRI}, set()),
    ("weekdays", HORIZON, ANY_TIME, {MON, TUE, WED, THU, FRI}, set()),
    ("weekends", HORIZON, ANY_TIME, {SAT, SUN}, set()),
    ("any weekday morning", HORIZON, MORNING, {MON, TUE, WED, THU, FRI}, set()),
    ("mon-fri after 2", HORIZON, (time(14), None), {MON, TUE, WED, THU, FRI}, set()),
    ("tuesdays in december", (d(12, 1), d(12, 31)), ANY_TIME, {TUE}, set()),
    # ranges
    ("this weekend", (d(11, 28), d(11, 29)), ANY_TIME, None, set()),
    ("next weekend", (d(12, 5), d(12, 6)), ANY_TIME, None, set()),
    ("sometime next week in the morning", NEXT_WEEK, MORNING, None, set()),
    ("early next week", (d(11, 30), d(12, 2)), ANY_TIME, None, set()),
    ("late next week", (d(12, 3), d(12, 6)), ANY_TIME, None, set()),
    ("later this week", (d(11, 26), d(11, 29)), ANY_TIME, None, set()),
    ("end of the week", (d(11, 26), d(11, 29)), ANY_TIME, None, set()),
    ("the week after next", (d(12, 7), d(12, 13)), ANY_TIME, None, set()),
    ("in a week", NEXT_WEEK, ANY_TIME, None, set()),
    ("2 weeks from now", (d(12, 7), d(12, 13)), ANY_TIME, None, set()),
    ("in a couple of weeks", (d(12, 7), d(12, 13)), ANY_TIME, None, set()),
    ("a fortnight", (d(12, 7), d(12, 13)), ANY_TIME, None, set()),
    ("within 2 weeks", HORIZON, ANY_TIME, None, set()),
    ("in the next few days", (TODAY, d(11, 27)), ANY_TIME, None, set()),
    ("next month", (d(12, 1), d(12, 31)), ANY_TIME, None, set()),
    ("sometime in december", (d(12, 1), d(12, 31)), ANY_TIME, None, set()),
    ("early january", (d(1, 1, 2027), d(1, 10, 2027)), ANY_TIME, None, set()),
    ("the 2nd week of december", (d(12, 8), d(12, 14)), ANY_TIME, None, set()),
    ("sometime after the 10th", (d(12, 11), d(12, 24)), ANY_TIME, None, set()),
    ("from dec 9", (d(12, 9), d(12, 22)), ANY_TIME, None, set()),
    ("between christmas and new year", (d(12, 26), d(12, 31)), ANY_TIME, None, set()),
    ("the week of dec 7", (d(12, 7), d(12, 13)), ANY_TIME, None, set()),
    ("by the 3rd", (TODAY, d(12, 3)), ANY_TIME, None, set()),
    ("before dec 1", (TODAY, d(11, 30)), ANY_TIME, None, set()),
    # time windows
    ("2pm", HORIZON, (time(14), time(15)), None, set()),
    ("at 8:30", HORIZON, (time(8, 30), time(9, 30)), None, set()),
    ("10 a.m. tomorrow", one_day(11, 26), (time(10), time(11)), None, set()),
    ("around 2", HORIZON, (time(13), time(15)), None, set()),
    ("between 1 and 3", HORIZON, (time(13), time(15)), None, set()),
    ("from 9 to 11", HORIZON, (time(9), time(11)), None, set()),
    ("1-3pm", HORIZON, (time(13), time(15)), None, set()),
    ("9-11am", HORIZON, (time(9), time(11)), None, set()),
    ("anything after 4", HORIZON, (time(16), None), None, set()),
    ("after lunch", HORIZON, (time(13), None), None, set()),
    ("before noon", HORIZON, (None, time(12)), None, set()),
    ("before lunch", HORIZON, (None, time(12)), None, set()),
    ("friday at noon", one_day(11, 27), (time(12), time(13)), None, set()),
    ("early morning", HORIZON, (time(8), time(10)), None, set()),
    ("first thing", HORIZON, (time(8), time(10)), None, set()),
    ("lunchtime", HORIZON, (time(11, 30), time(13, 30)), None, set()),
    ("morning before 10", HORIZON, (time(8), time(10)), None, set()),
    ("not mornings", HORIZON, (time(12), None), None, set()),
    ("not before 10", HORIZON, (time(10), None), None, set()),
    ("tonight", one_day(11, 25), (time(16), time(21)), None, set()),
    ("in 2 hours", one_day(11, 25), (time(12), None), None, set()),
    # exclusions
    ("not monday", HORIZON, ANY_TIME, None, {MON}),
    ("any day except friday", HORIZON, ANY_TIME, None, {FRI}),
    ("next week but not friday", NEXT_WEEK, ANY_TIME, None, {FRI}),
    ("no mondays", HORIZON, ANY_TIME, None, {MON}),
    ("mondays are out", HORIZON, ANY_TIME, None, {MON}),
    ("can't do mondays or fridays, mornings are best", HORIZON, MORNING, None, {MON, FRI}),
    ("I work mondays", HORIZON, ANY_TIME, None, {MON}),
    ("whenever works for me but not friday", HORIZON, ANY_TIME, None, {FRI}),
]


@pytest.mark.parametrize("typed,dates,window,allowed,excluded", PREFERENCES)
def test_preference_is_understood(typed, dates, window, allowed, excluded):
    pref = parse_time_preference(typed, NOW)
    assert pref is not None, typed
    assert (pref.start_date, pref.end_date) == dates
    assert (pref.earliest_time, pref.latest_time) == window
    assert (set(pref.allowed_weekdays) if pref.allowed_weekdays is not None else None) == allowed
    assert set(pref.excluded_weekdays) == excluded
    assert not pref.in_past
    assert pref.label


@pytest.mark.parametrize(
    "typed", ["asap", "ASAP!!", "as soon as possible", "earliest", "earliest available", "anytime",
              "any time", "whenever", "first available", "soonest pls"],
)
def test_asap_means_the_next_two_weeks_at_any_time(typed):
    pref = parse_time_preference(typed, NOW)
    assert pref.asap
    assert (pref.start_date, pref.end_date) == HORIZON
    assert (pref.earliest_time, pref.latest_time, pref.allowed_weekdays) == (None, None, None)
    assert pref.label == "as soon as possible"


def test_asap_within_a_range_keeps_the_range():
    pref = parse_time_preference("asap next week", NOW)
    assert pref.asap and (pref.start_date, pref.end_date) == NEXT_WEEK


def test_any_time_with_a_range_is_not_asap():
    pref = parse_time_preference("any time next week", NOW)
    assert not pref.asap and (pref.start_date, pref.end_date) == NEXT_WEEK


@pytest.mark.parametrize(
    "typed,day",
    [
        ("yesterday", d(11, 24)),
        ("last tuesday", d(11, 24)),
        ("nov 3", d(11, 3)),  # a date of the last two months is "passed", not next year's
        ("11/3", d(11, 3)),
        ("dec 9 2025", d(12, 9, 2025)),
        ("12/09/2025", d(12, 9, 2025)),
    ],
)
def test_a_date_that_has_passed_is_flagged(typed, day):
    pref = parse_time_preference(typed, NOW)
    assert pref.in_past
    assert pref.start_date == pref.end_date == day
    assert f"{day.day} " in pref.label


def test_a_part_of_today_that_is_over_is_flagged():
    afternoon = NOW.replace(hour=14)
    assert parse_time_preference("this morning", afternoon).in_past
    assert not parse_time_preference("this afternoon", afternoon).in_past


def test_a_month_day_well_in_the_past_means_next_year():
    pref = parse_time_preference("march 3", NOW)
    assert pref.start_date == d(3, 3, 2027) and not pref.in_past


def test_dates_roll_over_the_new_year():
    new_years_week = datetime(2026, 12, 28, 9, 0, tzinfo=TZ)  # a Monday
    assert parse_time_preference("jan 5", new_years_week).start_date == d(1, 5, 2027)
    assert parse_time_preference("the 2nd", new_years_week).start_date == d(1, 2, 2027)
    week = parse_time_preference("next week", new_years_week)
    assert (week.start_date, week.end_date) == (d(1, 4, 2027), d(1, 10, 2027))
    assert parse_time_preference("dec 9", new_years_week).in_past


def test_next_weekday_is_in_next_week_even_early_in_the_week():
    monday = datetime(2026, 11, 30, 9, 0, tzinfo=TZ)
    assert parse_time_preference("next tuesday", monday).start_date == d(12, 8)
    assert parse_time_preference("tuesday", monday).start_date == d(12, 1)


@pytest.mark.parametrize(
    "typed,label",
    [
        ("next Tuesday afternoon", "Tuesday 1 December, afternoon"),
        ("after 3 on Friday", "Friday 27 November, after 3 pm"),
        ("any morning but Monday", "the next two weeks, morning, not Mondays"),
        ("in two weeks", "the week of 7 December"),
        ("tomorrow or friday", "tomorrow or Friday 27 November"),
        ("monday or wednesday", "the next two weeks, Mondays or Wednesdays"),
        ("between 1 and 3", "the next two weeks, between 1 pm and 3 pm"),
    ],
)
def test_label_says_back_what_was_understood(typed, label):
    assert parse_time_preference(typed, NOW).label == label


@pytest.mark.parametrize(
    "typed",
    ["", "   ", "blah", "purple", "hmm", "ok", "no", "yes", "not sure", "hello",
     "I'd like to book a checkup", "I need to see Dr Testy McFakeface", "what times do you have?",
     "😀😀😀", "mañana por la tarde", "a\x00\x01b\x7f", "feb 30", "13/40",
     "x" * 500, "tuesday " * 2000],
)
def test_no_time_preference_gives_none(typed):
    assert parse_time_preference(typed, NOW) is None


def test_now_must_be_timezone_aware():
    with pytest.raises(ValueError):
        parse_time_preference("tomorrow", datetime(2026, 11, 25, 10, 0))


def test_result_does_not_depend_on_the_wall_clock():
    later_now = datetime(2027, 3, 1, 9, 0, tzinfo=TZ)
    assert parse_time_preference("tomorrow", later_now).start_date == d(3, 2, 2027)
    assert parse_time_preference("tomorrow", NOW).start_date == d(11, 26)


# --- slots ---------------------------------------------------------------------------------


@dataclass
class FakeSlot:
    starts_at: datetime
    provider_id: int = 1
    provider_name: str = "Dr Testy McFakeface"


def quarter_hours(day: date, hours, provider_id: int = 1, name: str = "Dr Testy McFakeface"):
    return [FakeSlot(datetime.combine(day, time(h, m), TZ), provider_id, name) for h in hours for m in (0, 15, 30, 45)]


def clinic_fortnight():
    """Two weeks of 15-minute slots, 8-12 and 13-17, three providers, weekdays only."""
    slots = []
    for offset in range(14):
        day = TODAY + timedelta(days=offset)
        if day.weekday() < 5:
            for provider in (1, 2, 3):
                slots += quarter_hours(day, [8, 9, 10, 11, 13, 14, 15, 16], provider)
    return slots


def test_filter_keeps_only_the_asked_for_day_and_window():
    pref = parse_time_preference("next Tuesday afternoon", NOW)
    kept = filter_slots(clinic_fortnight(), pref, TZ)
    assert kept
    assert {s.starts_at.date() for s in kept} == {d(12, 1)}
    assert min(s.starts_at.time() for s in kept) == time(13, 0)
    assert max(s.starts_at.time() for s in kept) == time(16, 45)


def test_filter_applies_excluded_and_allowed_weekdays():
    slots = clinic_fortnight()
    no_mondays = filter_slots(slots, parse_time_preference("any morning but Monday", NOW))
    assert no_mondays and all(s.starts_at.weekday() != MON and s.starts_at.hour < 12 for s in no_mondays)
    tue_thu = filter_slots(slots, parse_time_preference("tues or thurs", NOW))
    assert {s.starts_at.weekday() for s in tue_thu} == {TUE, THU}


def test_filter_latest_time_is_exclusive_and_earliest_inclusive():
    slots = quarter_hours(d(11, 27), [9, 10, 15])
    before_ten = filter_slots(slots, parse_time_preference("friday before 10am", NOW))
    assert max(s.starts_at.time() for s in before_ten) == time(9, 45)
    after_three = filter_slots(slots, parse_time_preference("after 3 on friday", NOW))
    assert min(s.starts_at.time() for s in after_three) == time(15, 0)


def test_filter_compares_in_the_practice_time_zone():
    # 8:30 am in Chicago is 14:30 UTC: a UTC-stored slot must count as a morning slot,
    # also when the caller passes no zone (the preference remembers `now`'s).
    utc_slot = FakeSlot(datetime(2026, 11, 27, 14, 30, tzinfo=timezone.utc))
    pref = parse_time_preference("friday morning", NOW)
    assert filter_slots([utc_slot], pref) == [utc_slot]
    assert filter_slots([utc_slot], pref, TZ) == [utc_slot]
    late_utc = FakeSlot(datetime(2026, 11, 28, 2, 0, tzinfo=timezone.utc))  # Fri 8 pm Chicago
    assert filter_slots([late_utc], parse_time_preference("friday", NOW)) == [late_utc]


def test_offers_are_varied_within_one_afternoon():
    slots = []
    for provider in (1, 2):
        slots += quarter_hours(d(12, 1), [13, 14, 15, 16], provider)
    offers = pick_offers(slots, 0, 3)
    assert len(offers) == 3
    assert len({s.starts_at.hour for s in offers}) == 3  # not three starts in one hour
    assert offers == sorted(offers, key=lambda s: s.starts_at)


def test_offers_spread_across_days_when_the_range_spans_days():
    offers = pick_offers(filter_slots(clinic_fortnight(), parse_time_preference("next week", NOW)), 0, 3)
    assert len({s.starts_at.date() for s in offers}) == 3


def test_none_of_these_shows_new_times_not_the_same_times_with_another_provider():
    slots = []
    for provider in (1, 2, 3):
        slots += quarter_hours(d(12, 1), [13, 14, 15], provider)
    first, second = pick_offers(slots, 0, 3), pick_offers(slots, 3, 3)
    assert not {s.starts_at for s in first} & {s.starts_at for s in second}


def test_repeated_none_of_these_shows_every_candidate_exactly_once():
    slots = []
    for provider in (1, 2):
        slots += quarter_hours(d(12, 1), [9, 10, 13], provider) + quarter_hours(d(12, 3), [9, 14], provider)
    seen = []
    skip = 0
    while True:
        page = pick_offers(slots, skip, 3)
        if not page:
            break
        assert len(page) <= 3
        seen += page
        skip += 3
    assert len(seen) == len(slots)
    assert {id(s) for s in seen} == {id(s) for s in slots}


def test_offers_are_deterministic_whatever_the_input_order():
    slots = clinic_fortnight()[:120]
    shuffled = slots[:]
    random.Random(7).shuffle(shuffled)
    for skip in (0, 3, 6):
        assert pick_offers(slots, skip, 3) == pick_offers(shuffled, skip, 3)


def test_fewer_candidates_than_a_page():
    slots = quarter_hours(d(12, 1), [9])[:2]
    assert pick_offers(slots, 0, 3) == slots
    assert pick_offers(slots, 3, 3) == []
    assert pick_offers([], 0, 3) == []


def test_slot_label_reads_in_the_practice_time_zone():
    slot = FakeSlot(datetime(2026, 12, 1, 20, 30, tzinfo=timezone.utc))
    assert slot_label(slot, TZ) == "Tue 1 Dec, 2:30 pm"
    assert slot_label(FakeSlot(datetime(2026, 12, 2, 9, 0, tzinfo=TZ)), TZ) == "Wed 2 Dec, 9 am"
    assert slot_label(FakeSlot(datetime(2026, 12, 2, 12, 0, tzinfo=TZ)), TZ) == "Wed 2 Dec, 12 pm"


OFFERED = [
    FakeSlot(datetime(2026, 12, 1, 9, 0, tzinfo=TZ)),  # Tue 9 am
    FakeSlot(datetime(2026, 12, 3, 14, 30, tzinfo=TZ), 2, "Dr Placeholder Person"),  # Thu 2:30 pm
    FakeSlot(datetime(2026, 12, 4, 11, 0, tzinfo=TZ)),  # Fri 11 am
]


@pytest.mark.parametrize(
    "typed,index",
    [
        ("2", 1), ("#2", 1), ("option 2", 1), ("Option 3", 2), ("1.", 0), ("3)", 2), ("2 please", 1),
        ("number 3", 2), ("no. 2", 1), ("two", 1), ("the second one", 1), ("first", 0), ("1st", 0),
        ("the last one", 2), ("middle", 1), ("I'll take the second", 1), ("lets do 1", 0),
        ("2:30", 1), ("the 2.30 one", 1), ("2:30pm", 1), ("14:30", 1), ("2pm", 1), ("9am", 0),
        ("11", 2), ("the 11 o'clock", 2), ("tuesday", 0), ("Thursday", 1), ("thurs", 1),
        ("tusday", 0), ("fri", 2), ("friday at 11", 2), ("tuesday 9am", 0), ("dec 3", 1),
        ("12/3", 1), ("the 4th", 2), ("with placeholder", 1), ("the afternoon one", 1),
        ("the earliest", 0),
    ],
)
def test_choice_is_read(typed, index):
    assert parse_choice(typed, OFFERED) == index


@pytest.mark.parametrize(
    "typed",
    [
        "4",  # there is no fourth option (and nothing at 4)
        "the 3rd",  # third option, or the one on 3 December?
        "morning",  # two morning offers
        "testy",  # two offers with that provider
        "tuesday 11",  # nothing matches both
        "monday",
        "none of these",
        "not the first",
        "whenever",
        "",
        "yes",  # more than one offer
    ],
)
def test_unclear_choice_gives_none(typed):
    assert parse_choice(typed, OFFERED) is None


def test_choice_with_one_offer_accepts_yes_and_no_offers_gives_none():
    assert parse_choice("yes", OFFERED[:1]) == 0
    assert parse_choice("2", OFFERED[:1]) is None
    assert parse_choice("1", []) is None


def test_choice_reads_times_in_the_given_zone():
    utc_offer = [FakeSlot(datetime(2026, 12, 1, 20, 30, tzinfo=timezone.utc)),
                 FakeSlot(datetime(2026, 12, 1, 15, 0, tzinfo=timezone.utc))]
    assert parse_choice("2:30", utc_offer, TZ) == 0
    assert parse_choice("9am", utc_offer, TZ) == 1


def test_time_preference_is_a_plain_frozen_value():
    pref = parse_time_preference("next week", NOW)
    assert isinstance(pref, TimePreference)
    with pytest.raises(Exception):
        pref.asap = True  # type: ignore[misc]
    assert pref == parse_time_preference("nxt wk", NOW)
