"""Time preferences as patients type them, with a fixed 'now' (Wed 25 Nov 2026, 10:00 Chicago)."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from actions.scheduling import filter_slots, parse_choice, parse_time_preference, pick_offers

TZ = ZoneInfo("America/Chicago")
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=TZ)


@pytest.mark.parametrize(
    "text,start,end,earliest,latest,weekdays,excluded",
    [
        ("next Tuesday afternoon", date(2026, 12, 1), date(2026, 12, 1), time(12), time(17), {1}, set()),
        ("asap", date(2026, 11, 25), date(2026, 12, 9), None, None, None, set()),
        ("after 3 on Friday", date(2026, 11, 27), date(2026, 11, 27), time(15), None, {4}, set()),
        ("the 14th", date(2026, 12, 14), date(2026, 12, 14), None, None, None, set()),
        ("in two weeks", date(2026, 12, 7), date(2026, 12, 13), None, None, None, set()),
        ("in 2 wks", date(2026, 12, 7), date(2026, 12, 13), None, None, None, set()),
        ("any morning but Monday", date(2026, 11, 25), date(2026, 12, 9), time(8), time(12), None, {0}),
        ("tmrw", date(2026, 11, 26), date(2026, 11, 26), None, None, None, set()),
        ("nxt week afternon", date(2026, 11, 30), date(2026, 12, 6), time(12), time(17), None, set()),
        ("next week but not friday", date(2026, 11, 30), date(2026, 12, 6), None, None, None, {4}),
        ("Dec 9", date(2026, 12, 9), date(2026, 12, 9), None, None, None, set()),
        ("12/9", date(2026, 12, 9), date(2026, 12, 9), None, None, None, set()),
        ("9th of December", date(2026, 12, 9), date(2026, 12, 9), None, None, None, set()),
        ("monday or wednesday", date(2026, 11, 25), date(2026, 12, 9), None, None, {0, 2}, set()),
        ("before 10am", date(2026, 11, 25), date(2026, 12, 9), None, time(10), None, set()),
        ("tusday", date(2026, 12, 1), date(2026, 12, 1), None, None, {1}, set()),
        ("at 2pm tomorrow", date(2026, 11, 26), date(2026, 11, 26), time(14), time(15), None, set()),
    ],
)
def test_preferences(text, start, end, earliest, latest, weekdays, excluded):
    pref = parse_time_preference(text, NOW)
    assert (pref.start_date, pref.end_date) == (start, end)
    assert (pref.earliest_time, pref.latest_time) == (earliest, latest)
    assert (set(pref.allowed_weekdays) if pref.allowed_weekdays else None) == weekdays
    assert set(pref.excluded_weekdays) == excluded
    assert not pref.in_past


def test_asap_is_flagged_and_a_past_date_is_noticed():
    assert parse_time_preference("as soon as possible", NOW).asap
    past = parse_time_preference("11/3", NOW)
    assert past.in_past and past.start_date == date(2026, 11, 3)


@pytest.mark.parametrize("text", ["blah", "", "purple", "x" * 500])
def test_nonsense_is_not_a_preference(text):
    assert parse_time_preference(text, NOW) is None


@dataclass
class FakeSlot:
    starts_at: datetime
    provider_id: int = 1


def _slots(day: date, hours, provider_id=1):
    return [FakeSlot(datetime.combine(day, time(h, m), TZ), provider_id) for h in hours for m in (0, 15, 30, 45)]


def test_filter_keeps_only_the_asked_for_window():
    pref = parse_time_preference("next Tuesday afternoon", NOW)
    slots = _slots(date(2026, 12, 1), range(8, 17)) + _slots(date(2026, 12, 2), range(8, 17))
    kept = filter_slots(slots, pref, TZ)
    assert kept and all(s.starts_at.date() == date(2026, 12, 1) and s.starts_at.hour >= 12 for s in kept)


def test_offers_are_varied_and_paging_shows_every_candidate_once():
    slots = _slots(date(2026, 12, 1), range(8, 12)) + _slots(date(2026, 12, 1), range(8, 12), provider_id=2)
    first = pick_offers(slots, 0, 3)
    assert len({(s.starts_at, s.provider_id) for s in first}) == 3
    assert len({s.starts_at.hour for s in first}) == 3  # not three starts in the same hour
    seen = []
    for skip in range(0, len(slots) + 3, 3):
        seen += [(s.starts_at, s.provider_id) for s in pick_offers(slots, skip, 3)]
    assert sorted(seen) == sorted((s.starts_at, s.provider_id) for s in slots)


@pytest.mark.parametrize(
    "typed,index",
    [("2", 1), ("#3", 2), ("option 1", 0), ("the second one", 1), ("first", 0), ("2:30", 1),
     ("the 2.30 one", 1), ("1.", 0), ("thursday", 2), ("4", None), ("whenever", None)],
)
def test_choices(typed, index):
    offered = [
        FakeSlot(datetime(2026, 12, 1, 9, 0, tzinfo=TZ)),
        FakeSlot(datetime(2026, 12, 2, 14, 30, tzinfo=TZ)),
        FakeSlot(datetime(2026, 12, 3, 11, 0, tzinfo=TZ)),
    ]
    assert parse_choice(typed, offered) == index
