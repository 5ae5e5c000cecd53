"""What a patient means by "next Tuesday afternoon": time preferences as date ranges and
time-of-day windows, filtering free slots by them, choosing which slots to offer, and
reading which offer the patient picked.

Pure functions on plain values (no Rasa, no database). `now` is always passed in, aware and
in the practice's time zone, so behaviour is reproducible and testable. dateparser resolves
explicit calendar dates ("Dec 9", "9th of December", "12/9"); our own rules handle what it
does not do well (ranges, parts of the day, exclusions, "next Tuesday", SMS spellings) and
decide what a date in the past means.
"""

from __future__ import annotations

import calendar
import difflib
import functools
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Any, Dict, FrozenSet, List, NamedTuple, Optional, Sequence, Set, Tuple

import dateparser

# A time-of-day preference with no dates means "some time in the next two weeks".
DEFAULT_HORIZON_DAYS = 14
# Longer messages are not a time preference; bail out before doing any work on them.
MAX_TEXT_CHARS = 300
# A month/day without a year that fell this recently is "a date that has passed", not next year's.
RECENT_PAST_DAYS = 60

# Parts of the day: start inclusive, end exclusive, practice-local time.
MORNING = (time(8, 0), time(12, 0))
EARLY_MORNING = (time(8, 0), time(10, 0))
LATE_MORNING = (time(10, 0), time(12, 0))
MIDDAY = (time(11, 30), time(13, 30))
AFTERNOON = (time(12, 0), time(17, 0))
EARLY_AFTERNOON = (time(12, 0), time(15, 0))
LATE_AFTERNOON = (time(15, 0), time(17, 0))
# The clinic closes at 17:00. "Evening" is still understood, and starts at 16:00 so that an
# evening asker is offered the last hour of the day (the nearest thing we have) rather than
# an empty list.
EVENING = (time(16, 0), time(21, 0))
DAY_START = time(8, 0)

WEEKDAY_WORDS = {
    "monday": 0, "mon": 0, "tuesday": 1, "tues": 1, "tue": 1, "wednesday": 2, "weds": 2,
    "wed": 2, "thursday": 3, "thurs": 3, "thur": 3, "thu": 3, "friday": 4, "fri": 4,
    "saturday": 5, "sat": 5, "sunday": 6, "sun": 6,
}
WEEKDAY_PLURALS = ["Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays"]
MONTH_WORDS = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4,
    "apr": 4, "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8,
    "september": 9, "sept": 9, "sep": 9, "october": 10, "oct": 10, "november": 11, "nov": 11,
    "december": 12, "dec": 12,
}
NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "couple": 2, "a couple": 2, "a couple of": 2,
    "couple of": 2, "few": 3, "a few": 3,
}

# SMS spellings and abbreviations, whole words only, applied before anything else.
SMS_WORDS = {
    "tmrw": "tomorrow", "tmr": "tomorrow", "tmrow": "tomorrow", "tmro": "tomorrow",
    "tmw": "tomorrow", "tomoz": "tomorrow", "2moro": "tomorrow", "2morrow": "tomorrow",
    "2mrw": "tomorrow", "2mro": "tomorrow", "2day": "today", "tdy": "today",
    "2nite": "tonight", "tonite": "tonight", "nxt": "next", "nex": "next", "wk": "week",
    "wks": "weeks", "wknd": "weekend", "wkend": "weekend", "wkends": "weekends",
    "wknds": "weekends", "aft": "afternoon", "aftn": "afternoon", "arvo": "afternoon",
    "morn": "morning", "mornin": "morning", "mornins": "mornings", "b4": "before",
    "bfr": "before", "aftr": "after", "thru": "through", "asap": "asap", "a.s.a.p": "asap",
    "hr": "hour", "hrs": "hours", "mth": "month", "mnth": "month", "mths": "months",
}
# Words worth correcting when misspelt ("tusday", "afternon"): fuzzy-matched, length >= 5.
FUZZY_VOCAB = [
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
    "january", "february", "april", "june", "july", "august", "september", "october",
    "november", "december", "morning", "afternoon", "evening", "tomorrow", "today", "tonight",
    "weekend", "weekday", "before", "except", "between",
]
# Ordinary words close enough to a vocabulary word to be "corrected" into it (found by running
# every word of the NLU training and test data through the corrector).
NOT_TYPOS = {"eventing", "evenly", "events", "mourn", "morgan", "toddy", "teddy"}


@dataclass(frozen=True)
class TimePreference:
    """A patient's time preference. Dates are practice-local; `end_date` is inclusive; a slot
    matches when it starts at or after `earliest_time` and before `latest_time`."""

    start_date: date
    end_date: date
    earliest_time: Optional[time] = None
    latest_time: Optional[time] = None
    allowed_weekdays: Optional[FrozenSet[int]] = None  # Monday = 0; None = any day
    excluded_weekdays: FrozenSet[int] = frozenset()
    asap: bool = False  # wants the soonest time (or said "any time")
    in_past: bool = False  # asked for a day or time that has already passed
    label: str = ""  # what we understood, to say back: "Tuesday 1 December, afternoon"
    tz: Optional[tzinfo] = field(default=None, compare=False, repr=False)  # `now`'s zone


@functools.lru_cache(maxsize=None)
def _rx(pattern: str) -> "re.Pattern[str]":
    """Our compiled patterns, kept for the life of the process: `re`'s own cache (512 entries)
    is shared with every other library, and some of these take tens of ms to compile."""
    return re.compile(pattern)


# --- normalising what people type -------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _fix_word(word: str) -> str:
    if word in SMS_WORDS:
        return SMS_WORDS[word]
    if len(word) < 5 or not word.isalpha() or word in NOT_TYPOS or word in FUZZY_VOCAB:
        return word
    if word in WEEKDAY_WORDS or word in MONTH_WORDS or word[:-1] in FUZZY_VOCAB:
        return word  # known, or the plural of a known word ("mondays", "mornings")
    # Short words need a closer match: "match" must not become "march".
    cutoff = 0.8 if len(word) >= 7 else 0.84
    close = difflib.get_close_matches(word, FUZZY_VOCAB, n=1, cutoff=cutoff)
    if close:
        return close[0]
    if word.endswith("s") and len(word) >= 6:
        close = difflib.get_close_matches(word[:-1], FUZZY_VOCAB, n=1, cutoff=cutoff)
        if close:
            return close[0] + "s"
    return word


def _normalise(text: str) -> str:
    text = (text or "").lower()
    text = _rx(r"[’‘`´]").sub("'", text)
    text = _rx(r"[–—‐−]").sub("-", text)
    text = text.replace("'", "")  # "can't" -> "cant", "o'clock" -> "oclock"
    text = _rx(r"[^a-z0-9:/.,#&\- ]+").sub(" ", text)
    text = _rx(r"[a-z0-9.]+").sub(lambda m: _fix_word(m.group(0)) if m.group(0) in SMS_WORDS else m.group(0), text)
    text = _rx(r"[a-z0-9]+").sub(lambda m: _fix_word(m.group(0)), text)
    # "2wks" -> "2 weeks"; keep "3pm", "14th", "10a", "2ish" together.
    text = _rx(r"(\d)(?!(?:am|pm|a|p|st|nd|rd|th|ish)\b)([a-z])").sub(r"\1 \2", text)
    text = _rx(r"(\d) (wk|wks|hr|hrs|mth|mths)\b").sub(lambda m: f"{m.group(1)} {SMS_WORDS[m.group(2)]}", text)
    text = _rx(r"\.(?=\s|$)").sub(" ", text)  # sentence full stops, not "2.30" or "a.m"
    return _rx(r"\s+").sub(" ", text).strip()


def _blank(text: str, match: "re.Match[str]") -> str:
    """Remove a matched phrase so later rules do not read its numbers again."""
    return text[: match.start()] + " " * (match.end() - match.start()) + text[match.end():]


# --- times of day --------------------------------------------------------------------------

_UNIT_AHEAD = r"(?!\s*(?:weeks?|days?|months?|hours?|minutes?|years?|st|nd|rd|th)\b)(?![/\-]\d)"
_CLOCK_TEXT = r"(\d{1,2})(?!\d)(?:[:.](\d{2})(?!\d))?(?:\s*(am|pm|a\.m|p\.m)\b\.?|(a|p)\b)?(?:\s*oclock\b)?"
_CLOCK = _CLOCK_TEXT + _UNIT_AHEAD
# The first clock of a range ("1-3pm") is followed by a dash, which _CLOCK refuses (a date).
_RANGE_START = _CLOCK_TEXT + r"(?!\s*(?:weeks?|days?|months?|st|nd|rd|th)\b)(?!/\d)"
_CLOCK_OR_NOON = r"(?:" + _CLOCK + r"|(noon|midday|lunch(?:time)?|midnight))"
_PARTS_OF_DAY = [
    (r"early (?:in the )?morning|first thing|early in the day", EARLY_MORNING, "early morning"),
    (r"late (?:in the )?morning|mid ?morning", LATE_MORNING, "late morning"),
    (r"early afternoon", EARLY_AFTERNOON, "early afternoon"),
    (r"late (?:in the )?afternoon|end of (?:the )?day|late in the day|after school", LATE_AFTERNOON,
     "late afternoon"),
    (r"mornings?", MORNING, "morning"),
    (r"afternoons?|after ?noons?", AFTERNOON, "afternoon"),
    (r"evenings?|tonight|after work|nights?", EVENING, "evening"),
    (r"lunch ?times?|lunch|midday|noon", MIDDAY, "around midday"),
]
_PART_RE = "|".join(f"(?:{pattern})" for pattern, _, _ in _PARTS_OF_DAY)


def _clock(hour: str, minute: Optional[str], meridiem: Optional[str], short: Optional[str],
           noon: Optional[str] = None) -> Optional[time]:
    """A clock time as a patient means it at a clinic: a bare 1-7 is afternoon, 8-11 morning."""
    if noon:
        return time(0, 0) if noon == "midnight" else time(12, 0)
    h, m = int(hour), int(minute or 0)
    mer = (meridiem or short or "")[:1]
    if h > 23 or m > 59 or (mer and not 1 <= h <= 12):
        return None
    if mer == "p" and h < 12:
        h += 12
    elif mer == "a" and h == 12:
        h = 0
    elif not mer and 1 <= h <= 7:
        h += 12
    return time(h, m)


def clock_label(moment: time) -> str:
    if moment == time(12, 0):
        return "noon"
    hour = moment.strftime("%I").lstrip("0")
    minutes = "" if moment.minute == 0 else moment.strftime(":%M")
    return f"{hour}{minutes} {moment.strftime('%p').lower()}"


def _shift(moment: time, minutes: int) -> time:
    total = min(max(moment.hour * 60 + moment.minute + minutes, 0), 23 * 60 + 59)
    return time(total // 60, total % 60)


def _part_of(text: str) -> Tuple[Tuple[time, time], str]:
    for pattern, window, label in _PARTS_OF_DAY:
        if _rx(pattern).fullmatch(text):
            return window, label
    return MORNING, "morning"  # unreachable: callers only pass matches of _PART_RE


class _TimeWindow(NamedTuple):
    earliest: Optional[time]
    latest: Optional[time]
    label: str


def _range_clocks(g: Sequence[Optional[str]]) -> Tuple[Optional[time], Optional[time]]:
    """'1-3pm' -> both pm; '10-2' -> 10 am to 2 pm; '9 to 11am' -> both am."""
    first, second = g[0:4], g[4:8]
    end = _clock(*second)
    start = _clock(*first)
    if start is None or end is None:
        return None, None
    if not (first[2] or first[3]) and (second[2] or second[3]):
        said = "pm" if (second[2] or second[3]).startswith("p") else "am"
        for mer in (said, "am" if said == "pm" else "pm"):
            candidate = _clock(first[0], first[1], mer, None)
            if candidate and candidate < end:
                start = candidate
                break
    return (start, end) if start < end else (None, None)


def _time_window(text: str) -> Tuple[_TimeWindow, str]:
    """The time-of-day window in the text, and the text with it removed."""
    earliest: Optional[time] = None
    latest: Optional[time] = None
    bounds: List[str] = []

    def tighten(low: Optional[time], high: Optional[time]) -> None:
        nonlocal earliest, latest
        if low is not None:
            earliest = low if earliest is None else max(earliest, low)
        if high is not None:
            latest = high if latest is None else min(latest, high)

    # Excluded parts of the day: "not mornings", "can't do afternoons" -> the rest of the day.
    for match in list(_rx(
        r"\b(?:not|no|except|but|excluding|other than|apart from|cant do|cannot do|can not do|avoid)"
        r"(?: (?:in|on|the|any))* (" + _PART_RE + r")\b").finditer(text)):
        (start, end), label = _part_of(match.group(1))
        if start <= DAY_START:
            tighten(end, None)
        else:
            tighten(None, start)
        bounds.append(f"not {label}s" if not label.startswith("around") else "not around midday")
        text = _blank(text, match)

    patterns = [
        ("range", r"\b(?:between|from)\s+" + _RANGE_START + r"\s*(?:and|to|-|till|until)\s*" + _CLOCK),
        ("range", r"(?<![\d/:.])\b" + _RANGE_START + r"\s*(?:-|to|till|until)\s*" + _CLOCK),
        ("after", r"\b(?:not before|no earlier than|not earlier than)\s+" + _CLOCK_OR_NOON),
        ("before", r"\b(?:not after|no later than|not later than)\s+" + _CLOCK_OR_NOON),
        ("after", r"\b(?:after|later than|from|past|starting(?: at| from)?|any ?time after|at or after)\s+"
         + _CLOCK_OR_NOON),
        ("before", r"\b(?:before|by|earlier than|until|till|up to|at or before)\s+" + _CLOCK_OR_NOON),
        ("around", r"\b(?:around|about|approx|approximately|roughly|near|close to)\s+(?:at\s+)?"
         + _CLOCK_OR_NOON),
        ("around", r"\b" + _CLOCK.replace(r"(?:\s*oclock\b)?", "") + r"\s*-?\s*ish\b"),
        ("at", r"\b(?:at|for|@)\s+" + _CLOCK_OR_NOON),
        ("in_part", r"\b" + _CLOCK + r"\s+in the (morning|afternoon|evening)\b"),
        # A bare clock time counts when it has minutes or am/pm: "2:30", "3pm", "10a".
        ("at", r"(?<![\d/:.])\b(\d{1,2})(?:[:.](\d{2}))(?:\s*(am|pm|a\.m|p\.m)\b\.?|(a|p)\b)?"
         + _UNIT_AHEAD),
        ("at", r"(?<![\d/:.])\b(\d{1,2})(?:[:.](\d{2}))?(?:\s*(am|pm|a\.m|p\.m)\b\.?|(a|p)\b)"
         + _UNIT_AHEAD),
    ]
    for kind, pattern in patterns:
        for match in list(_rx(pattern).finditer(text)):
            groups = match.groups()
            if kind == "range":
                start, end = _range_clocks(groups)
                if start is None:
                    continue
                tighten(start, end)
                bounds.append(f"between {clock_label(start)} and {clock_label(end)}")
            elif kind == "in_part":
                mer = "am" if groups[4] == "morning" else "pm"
                moment = _clock(groups[0], groups[1], mer, None)
                if moment is None:
                    continue
                tighten(moment, _shift(moment, 60))
                bounds.append(f"at {clock_label(moment)}")
            else:
                moment = _clock(*groups[:5]) if len(groups) >= 5 else _clock(*groups[:4])
                if moment is None:
                    continue
                if kind == "after":
                    if (groups[4:5] or [None])[0] in ("lunch", "lunchtime"):
                        moment = time(13, 0)  # "after lunch": lunch is 12-1 at most clinics
                    tighten(moment, None)
                    bounds.append(f"after {clock_label(moment)}")
                elif kind == "before":
                    tighten(None, moment)
                    bounds.append(f"before {clock_label(moment)}")
                elif kind == "around":
                    tighten(_shift(moment, -60), _shift(moment, 60))
                    bounds.append(f"around {clock_label(moment)}")
                else:
                    tighten(moment, _shift(moment, 60))
                    bounds.append(f"at {clock_label(moment)}")
            text = _blank(text, match)

    # "tues pm", "fri am": SMS shorthand for afternoon/morning.
    day_words = "|".join(sorted(WEEKDAY_WORDS, key=len, reverse=True)) + "|today|tomorrow"
    text = _rx(r"\b(" + day_words + r")s? am\b").sub(r"\1 morning", text)
    text = _rx(r"(?<![\d:.])\bpm\b").sub("afternoon", text)

    parts: List[Tuple[time, time]] = []
    part_labels: List[str] = []
    for match in list(_rx(r"\b(" + _PART_RE + r")\b").finditer(text)):
        window, label = _part_of(match.group(1))
        if window not in parts:
            parts.append(window)
            part_labels.append(label)
        text = _blank(text, match)
    if parts:
        low, high = min(p[0] for p in parts), max(p[1] for p in parts)
        if earliest is not None or latest is not None:
            # "morning before 10": both apply; if they contradict, the clock time wins.
            new_low = max(low, earliest) if earliest else low
            new_high = min(high, latest) if latest else high
            if new_low < new_high:
                earliest, latest = new_low, new_high
        else:
            earliest, latest = low, high
    label_bits = []
    if part_labels:
        label_bits.append(" or ".join(part_labels))
    label_bits.extend(bounds)
    return _TimeWindow(earliest, latest, ", ".join(label_bits)), text


# --- dates ------------------------------------------------------------------------------------


class _Dates(NamedTuple):
    start: date
    end: date
    label: str
    past: bool = False
    explicit_day: bool = False  # a calendar date or "tomorrow", not a range


_WEEKDAY_RE = (
    r"(monday|tuesday|wednesday|thursday|friday|saturday|sunday|tues|tue|weds|wed|thurs|thur|thu|"
    r"mon|fri|sat|sun)"
)
_MONTH_RE = (
    r"(january|february|march|april|may|june|july|august|september|october|november|december|"
    r"jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)"
)
_NUMBER_RE = (
    r"(\d{1,2}|a couple of|a couple|couple of|couple|a few|few|an|a|one|two|three|four|five|six|seven|"
    r"eight|nine|ten)"
)


def _day_label(day: date) -> str:
    return f"{day.strftime('%A')} {day.day} {day.strftime('%B')}"


def _range_label(start: date, end: date) -> str:
    if start == end:
        return _day_label(start)
    if (start.year, start.month) == (end.year, end.month):
        return f"{start.day}–{end.day} {start.strftime('%B')}"
    return f"{start.day} {start.strftime('%B')} – {end.day} {end.strftime('%B')}"


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _week_part(monday: date, modifier: Optional[str]) -> Tuple[date, date]:
    """A week (Mon-Sun) or part of it: 'early' Mon-Wed, 'mid' Tue-Thu, 'late'/'end' Thu-Sun."""
    if not modifier:
        return monday, monday + timedelta(days=6)
    if modifier in ("early", "start of", "beginning of"):
        return monday, monday + timedelta(days=2)
    if modifier in ("mid", "middle of"):
        return monday + timedelta(days=1), monday + timedelta(days=3)
    return monday + timedelta(days=3), monday + timedelta(days=6)


def _month_part(first: date, modifier: Optional[str]) -> Tuple[date, date]:
    last = _month_end(first)
    if modifier in ("early", "start of", "beginning of"):
        return first, first.replace(day=10)
    if modifier in ("mid", "middle of"):
        return first.replace(day=11), first.replace(day=20)
    if modifier in ("late", "end of"):
        return first.replace(day=21), last
    return first, last


def _weekday_date(today: date, weekday: int, modifier: Optional[str]) -> date:
    if modifier == "next":
        # "next Tuesday" is the Tuesday of next week (weeks run Monday to Sunday).
        return _monday(today) + timedelta(days=7 + weekday)
    if modifier in ("last", "past"):
        return today - timedelta(days=(today.weekday() - weekday) % 7 or 7)
    return today + timedelta(days=(weekday - today.weekday()) % 7)


def _dateparser_settings(now: datetime) -> Dict[str, Any]:
    zone = getattr(now.tzinfo, "key", None) or now.tzname() or "UTC"
    return {
        "PREFER_DATES_FROM": "future",
        # Midnight, not `now`: dateparser keeps caches per distinct settings, so a per-second
        # base would rebuild them on every message and grow its settings registry forever.
        "RELATIVE_BASE": datetime.combine(now.date(), time(0, 0)),
        "TIMEZONE": zone,
        "RETURN_AS_TIMEZONE_AWARE": False,
        "DATE_ORDER": "MDY",  # US practice: 12/9 is 9 December
        "REQUIRE_PARTS": ["day", "month"],
    }


def _calendar_date(phrase: str, now: datetime, has_year: bool) -> Optional[Tuple[date, bool]]:
    """An explicit date via dateparser, and whether it has passed. A month/day without a year
    that fell in the last couple of months is read as that (past) date, not next year's."""
    settings = _dateparser_settings(now)
    try:
        parsed = dateparser.parse(phrase, languages=["en"], settings=settings)
    except Exception:  # e.g. a zone name dateparser does not know; the date does not need it
        settings.pop("TIMEZONE")
        try:
            parsed = dateparser.parse(phrase, languages=["en"], settings=settings)
        except Exception:  # dateparser raises assorted errors on odd input: not a date
            return None
    if parsed is None:
        return None
    found, today = parsed.date(), now.date()
    if not has_year and found.year > today.year:
        try:
            this_year = found.replace(year=today.year)
        except ValueError:  # 29 February
            this_year = None
        if this_year and 0 < (today - this_year).days <= RECENT_PAST_DAYS:
            return this_year, True
    return found, found < today


def _number(word: str) -> int:
    return int(word) if word.isdigit() else NUMBER_WORDS.get(word, 1)


def _find_dates(text: str, now: datetime) -> Tuple[List[_Dates], Set[int], str]:
    """Date ranges and explicit days in the text, weekday sets named along with them
    ("weekends", "weekdays"), and the text with those phrases removed."""
    today = now.date()
    found: List[_Dates] = []
    weekday_sets: Set[int] = set()

    def take(pattern: str, handler) -> None:
        nonlocal text
        for match in list(_rx(pattern).finditer(text)):
            result = handler(match)
            if result is not None:
                found.append(result)
            text = _blank(text, match)

    def weekday_set(days: Set[int]):
        def handler(_match):
            weekday_sets.update(days)
        return handler

    take(r"\b(?:any|every|a|on|all)\s+weekends?\b|\bweekends\b", weekday_set({5, 6}))
    take(r"\b(?:any|every|a|on|all)?\s*weekdays?\b|\b(?:monday|mon) (?:to|through|-) (?:friday|fri)\b",
         weekday_set({0, 1, 2, 3, 4}))
    take(r"\bday after tomorrow\b", lambda m: _Dates(today + timedelta(days=2), today + timedelta(days=2),
                                                     _day_label(today + timedelta(days=2)), explicit_day=True))

    def weekend(match):
        monday = _monday(today) + timedelta(days=7 if match.group(1) in ("next", "following") else 0)
        start, end = monday + timedelta(days=5), monday + timedelta(days=6)
        label = "next weekend" if match.group(1) in ("next", "following") else "this weekend"
        return _Dates(max(start, today), end, label)

    take(r"\b(?:(this|the|next|coming|following)\s+)?weekend\b", weekend)

    def holiday(match):
        said = match.group(0)
        name = next(n for n in ("between christmas and new year", "christmas eve", "boxing day", "new years eve",
                                "thanksgiving", "christmas", "new year") if n in said.replace("xmas", "christmas"))
        start, end = _holiday(name, today)
        label = _range_label(start, end) if start != end else _day_label(start)
        return _Dates(start, end, label, explicit_day=start == end)

    take(r"\bbetween (?:christmas|xmas) and new years?\b|\b(?:christmas|xmas) eve\b|\bboxing day\b|"
         r"\bnew years? eve\b|\bthanksgiving(?: day)?\b|\b(?:christmas|xmas)(?: day)?\b|\bnew years?(?: day)?\b",
         holiday)

    def week_of_month(match):
        which, name, relative_month = match.group(1), match.group(2), match.group(3)
        if name:
            number = MONTH_WORDS[name]
            first = date(today.year if number >= today.month else today.year + 1, number, 1)
        else:
            first = today.replace(day=1) if relative_month == "this" else _add_months(today.replace(day=1), 1)
        index = {"first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2, "fourth": 3, "4th": 3}.get(which)
        last = _month_end(first)
        start = last - timedelta(days=6) if index is None else first + timedelta(days=7 * index)
        end = min(start + timedelta(days=6), last)
        label = f"the {which} week of {first.strftime('%B')}"
        if end < today:
            return _Dates(start, end, label, past=True)
        return _Dates(max(start, today), end, label)

    take(r"\b(?:the\s+)?(first|1st|second|2nd|third|3rd|fourth|4th|last)\s+week\s+(?:of|in)\s+(?:"
         + _MONTH_RE + r"|(this|next) month)\b", week_of_month)

    def weekday_after_next(match):
        day = _monday(today) + timedelta(days=14 + WEEKDAY_WORDS[match.group(1)])
        return _Dates(day, day, _day_label(day), explicit_day=True)

    take(r"\b(?:the\s+)?" + _WEEKDAY_RE + r"s?\s+after\s+next\b", weekday_after_next)
    take(r"\b(?:the\s+)?week after next\b",
         lambda m: _Dates(_monday(today) + timedelta(days=14), _monday(today) + timedelta(days=20),
                          _range_label(_monday(today) + timedelta(days=14), _monday(today) + timedelta(days=20))))

    def within(match):
        amount, unit = _number(match.group(1)), match.group(2)
        days = amount * {"day": 1, "week": 7, "month": 30}[unit]
        end = today + timedelta(days=max(days - 1, 0))
        return _Dates(today, end, f"the next {match.group(1)} {unit}s" if amount != 1 else f"the next {unit}")

    # "next 2 weeks" without "the" is a span from today too, not "in two weeks' time".
    take(r"\b(?:within|in the next|over the next|during the next|sometime in the next|the next|next)\s+"
         + _NUMBER_RE + r"\s+(day|week|month)s?\b", within)

    def relative(match):
        amount = _number(match.group(1) or match.group(3) or "1")
        unit = match.group(2) or match.group(4) or "fortnight"
        if unit == "fortnight":
            amount, unit = 2, "week"
        if unit == "day":
            day = today + timedelta(days=amount)
            return _Dates(day, day, _day_label(day), explicit_day=True)
        target = today + timedelta(days=7 * amount) if unit == "week" else _add_months(today, amount)
        monday = _monday(target)
        return _Dates(max(monday, today), monday + timedelta(days=6),
                      f"the week of {monday.day} {monday.strftime('%B')}")

    take(r"\b(?:in|after)\s+" + _NUMBER_RE + r"\s+(day|week|month)s?(?:\s+time)?\b"
         r"|\b" + _NUMBER_RE + r"\s+(day|week|month)s?\s+(?:from\s+(?:now|today)|away|out)\b"
         r"|\b(?:in\s+)?a\s+fortnight\b", relative)
    # "couple weeks", "2 wks": a bare span of weeks means "in that many weeks".
    take(r"\b()()" + _NUMBER_RE.replace("|an|a|", "|") + r"\s+(week|month)s?\b", relative)

    def week(match):
        # "next week", "early next week", "end of the week", "later this week".
        said = match.group(1) or match.group(3)
        modifier = {"start of": "early", "beginning of": "early", "middle of": "mid", "end of": "late",
                    "later": "late"}.get(said, said)
        this_week = (match.group(2) or "this") in ("this", "coming")
        monday = _monday(today) + timedelta(days=0 if this_week else 7)
        start, end = _week_part(monday, modifier)
        if said == "later" and this_week:
            start = today + timedelta(days=1)
        label = " ".join(p for p in (modifier, "this week" if this_week else "next week") if p)
        if end < today:
            return _Dates(start, end, label, past=True)
        return _Dates(max(start, today), end, label)

    take(r"\b(?:(early|late|later|end of|start of|beginning of|mid|middle of)\s+)?(?:the\s+)?"
         r"(this|next|coming|following)\s+week\b|\b(early|late|later|end of|start of|beginning of|mid|middle of)"
         r"\s+(?:the\s+)?week\b", week)
    take(r"\blast week\b", lambda m: _Dates(_monday(today) - timedelta(days=7), _monday(today) - timedelta(days=1),
                                           "last week", past=True))

    def calendar_day(match, has_year: bool):
        result = _calendar_date(match.group(0).replace("of ", ""), now, has_year)
        if result is None:
            return None
        day, past = result
        return _bounded(day, past, match, today)

    take(r"\b\d{4}-\d{1,2}-\d{1,2}\b", lambda m: calendar_day(m, True))
    take(r"\b\d{1,2}/\d{1,2}/(?:\d{4}|\d{2})\b", lambda m: calendar_day(m, True))
    take(r"\b\d{1,2}/\d{1,2}\b", lambda m: calendar_day(m, False))
    take(r"\b" + _MONTH_RE + r"\.?\s+(?:the\s+)?\d{1,2}(?:st|nd|rd|th)?(?:,?\s+\d{4})?\b",
         lambda m: calendar_day(m, bool(_rx(r"\d{4}").search(m.group(0)))))
    take(r"\b\d{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTH_RE + r"\b(?:,?\s+\d{4})?",
         lambda m: calendar_day(m, bool(_rx(r"\d{4}").search(m.group(0)))))

    def ordinal_day(match):
        # "the 14th": the next 14th that is not in the past.
        wanted = int(match.group(1))
        year, month_number = today.year, today.month
        for _ in range(3):
            if wanted <= calendar.monthrange(year, month_number)[1]:
                day = date(year, month_number, wanted)
                if day >= today:
                    return _bounded(day, False, match, today)
            year, month_number = (year + 1, 1) if month_number == 12 else (year, month_number + 1)
        return None

    take(r"\b(?:the\s+)?(\d{1,2})(?:st|nd|rd|th)\b", ordinal_day)

    def month(match):
        modifier, which, name = match.group(1), match.group(2), match.group(3)
        modifier = {"end of": "late", "later": "late", "start of": "early", "beginning of": "early",
                    "middle of": "mid"}.get(modifier, modifier)
        if name:
            number = MONTH_WORDS[name]
            year = today.year if number >= today.month else today.year + 1
            first = date(year, number, 1)
        else:
            first = today.replace(day=1) if which == "this" else _add_months(today.replace(day=1), 1)
        start, end = _month_part(first, modifier)
        label = first.strftime("%B") if name else f"{which} month"
        if modifier:
            label = f"{modifier} {label}"
        if end < today:
            return _Dates(start, end, label, past=True)
        return _Dates(max(start, today), end, label)

    take(r"\b(?:(early|mid|late|later|end of|start of|beginning of|middle of)\s+)?(?:the\s+)?(this|next)\s+month\b"
         r"()", month)
    # A month name on its own: "in january", "early feb". "May"/"March" only with a cue word.
    take(r"\b(?:(early|mid|late|end of|start of|beginning of|middle of)\s+|in\s+|during\s+)()" + _MONTH_RE
         + r"\b(?!\s*\d)", month)
    take(r"\b()()(january|february|april|june|july|august|september|october|november|december)\b(?!\s*\d)",
         month)

    take(r"\b(?:today|this (?:morning|afternoon|evening)|tonight|later today|this arvo)\b",
         lambda m: _Dates(today, today, "today", explicit_day=True))
    take(r"\btomorrow\b", lambda m: _Dates(today + timedelta(days=1), today + timedelta(days=1), "tomorrow",
                                          explicit_day=True))
    take(r"\byesterday\b", lambda m: _Dates(today - timedelta(days=1), today - timedelta(days=1),
                                           _day_label(today - timedelta(days=1)), past=True, explicit_day=True))
    return found, weekday_sets, text


_RANGE_JOIN = r"\s*(?:-|to|through|thru|until|till|and)\s*"
_ORDINAL = r"(\d{1,2})(?:st|nd|rd|th)"


def _find_date_range(text: str, today: date) -> Tuple[Optional[_Dates], str]:
    """A span between two calendar dates: "dec 14-18", "between 12/14 and 12/18", "the 14th
    to the 18th", "from dec 14 to dec 18". Read before the time of day, which would otherwise
    take "14-18" for 2 pm to 6 pm, and before single dates, which would keep only the ends."""
    patterns = (
        # month day - [month] day
        (r"\b(?:between |from )?" + _MONTH_RE + r"\.? (?:the )?(\d{1,2})(?:st|nd|rd|th)?" + _RANGE_JOIN
         + r"(?:" + _MONTH_RE.replace("(", "(?:", 1) + r"\.? )?(?:the )?(\d{1,2})(?:st|nd|rd|th)?\b(?![:/]|\s*(?:am|pm)\b)",
         lambda g, m: (MONTH_WORDS[g[0]], int(g[1]), MONTH_WORDS.get(_second_month(m) or g[0]), int(g[2]))),
        # m/d - m/d
        (r"\b(?:between |from )?(\d{1,2})/(\d{1,2})" + _RANGE_JOIN + r"(\d{1,2})/(\d{1,2})\b(?!/)",
         lambda g, m: (int(g[0]), int(g[1]), int(g[2]), int(g[3]))),
        # the 14th - the 18th [of month]
        (r"\b(?:between |from )?(?:the )?" + _ORDINAL + _RANGE_JOIN + r"(?:the )?" + _ORDINAL
         + r"(?: (?:of )?" + _MONTH_RE + r")?\b",
         lambda g, m: (MONTH_WORDS[g[2]] if g[2] else None, int(g[0]), MONTH_WORDS[g[2]] if g[2] else None, int(g[1]))),
    )
    for pattern, parts in patterns:
        match = _rx(pattern).search(text)
        if match is None:
            continue
        month1, day1, month2, day2 = parts(match.groups(), match)
        span = _date_span(month1, day1, month2, day2, today)
        if span is not None:
            return span, _blank(text, match)
    return None, text


def _second_month(match: "re.Match[str]") -> Optional[str]:
    """The month named after the join in "dec 28 - jan 3", if any."""
    tail = match.string[match.start():match.end()]
    names = _rx(r"\b" + _MONTH_RE + r"\b").findall(tail)
    return names[1] if len(names) > 1 else None


def _date_span(month1: Optional[int], day1: int, month2: Optional[int], day2: int, today: date) -> Optional[_Dates]:
    """The span from the next such start date (this month's, for bare ordinals) to its end."""
    def make(year: int, month: int, day: int) -> Optional[date]:
        try:
            return date(year, month, day)
        except ValueError:
            return None

    if month1 is None:  # "the 14th to the 18th": this month, or next if it has passed
        month1 = month2 = today.month
        if make(today.year, month1, day2) is not None and date(today.year, month1, day2) < today:
            month1 = month2 = today.month % 12 + 1
    year = today.year
    start = make(year, month1, day1)
    if start is None:
        return None
    end = make(year + (1 if (month2, day2) < (month1, day1) else 0), month2, day2)
    if end is None or end < start or (end - start).days > 62:
        return None
    if end < today:
        if (today - end).days <= RECENT_PAST_DAYS:  # as for one date: that span, which has passed
            return _Dates(start, end, _range_label(start, end), past=True)
        start, end = make(year + 1, month1, day1), make(end.year + 1, month2, day2)
        if start is None or end is None:
            return None
    label = _range_label(max(start, today), end)
    return _Dates(max(start, today), end, label)


def _bounded(day: date, past: bool, match: "re.Match[str]", today: date) -> _Dates:
    """A named day, or the range it bounds: "after the 10th", "from Dec 9", "by the 14th",
    "the week of Dec 7"."""
    said = _rx(r"\b(after|from|starting(?: on| from)?|since|beginning|later than|not before|before|by|"
               r"until|till|no later than|up to|not after|week of)\s+(?:on\s+)?$").search(match.string[:match.start()])
    if said is None:
        return _Dates(day, day, _day_label(day), past=past, explicit_day=True)
    word = said.group(1)
    if word == "week of":
        monday = _monday(day)
        label = f"the week of {monday.day} {monday.strftime('%B')}"
        return _Dates(max(monday, today), monday + timedelta(days=6), label, past=monday + timedelta(days=6) < today)
    if word in ("before", "by", "until", "till", "no later than", "up to", "not after"):
        end = day - timedelta(days=1) if word == "before" else day
        return _Dates(today, end, f"{word} {_day_label(day)}", past=end < today)
    start = day + timedelta(days=1) if word in ("after", "later than") else day
    return _Dates(max(start, today), max(start, today) + timedelta(days=DEFAULT_HORIZON_DAYS - 1),
                  f"{'after' if start > day else 'from'} {_day_label(day)}")


def _holiday(name: str, today: date) -> Tuple[date, date]:
    """The next (or current) date range of a holiday patients name."""
    def nth_thursday_of_november(year: int) -> date:
        first = date(year, 11, 1)
        return first + timedelta(days=(3 - first.weekday()) % 7 + 21)

    for year in (today.year, today.year + 1):
        spans = {
            "christmas eve": (date(year, 12, 24), date(year, 12, 24)),
            "christmas": (date(year, 12, 25), date(year, 12, 25)),
            "boxing day": (date(year, 12, 26), date(year, 12, 26)),
            "between christmas and new year": (date(year, 12, 26), date(year, 12, 31)),
            "new years eve": (date(year, 12, 31), date(year, 12, 31)),
            "new year": (date(year, 1, 1), date(year, 1, 1)),
            "thanksgiving": (nth_thursday_of_november(year), nth_thursday_of_november(year)),
        }
        start, end = spans[name]
        if end >= today:
            return start, end
    return spans[name]


_NEGATION = (
    r"(?:not|except|excluding|besides|but not|but|other than|apart from|anything but|cant do|"
    r"cannot do|can not do|cant make|cannot make|avoid|never|no|i work|working|at work|busy|away|"
    r"unavailable)"
)


def _find_weekdays(text: str) -> Tuple[List[Tuple[int, Optional[str], bool]], Set[int], Set[int], str]:
    """Named weekdays: (weekday, modifier, plural) for each positive mention, weekday sets from
    ranges ("mon-fri"), excluded weekdays, and the text with them removed."""
    excluded: Set[int] = set()
    sets: Set[int] = set()
    item = _WEEKDAY_RE + r"s?"
    listed = item + r"(?:\s*(?:,|/|&|or|and|nor)\s*(?:on\s+|the\s+)?" + item + r")*"
    for match in list(_rx(r"\b" + _NEGATION + r"(?:\s+(?:on|the|a|any|for|free|available|good|in|all))*\s+("
                          + listed + r")\b").finditer(text)):
        for word in _rx(_WEEKDAY_RE).findall(match.group(1)):
            excluded.add(WEEKDAY_WORDS[word])
        text = _blank(text, match)
    for match in list(_rx(
        r"\b(" + listed + r")\s+(?:are|is|r)?\s*(?:out|no good|bad|not good|dont work|doesnt work|wont work|"
        r"not possible|impossible|are no good|is no good)\b").finditer(text)):
        for word in _rx(_WEEKDAY_RE).findall(match.group(1)):
            excluded.add(WEEKDAY_WORDS[word])
        text = _blank(text, match)
    day_range = r"\b" + _WEEKDAY_RE + r"\s*(?:-|to|through|till|until)\s*" + _WEEKDAY_RE + r"\b"
    for match in list(_rx(day_range).finditer(text)):
        first, last = WEEKDAY_WORDS[match.group(1)], WEEKDAY_WORDS[match.group(2)]
        day = first
        while True:
            sets.add(day)
            if day == last:
                break
            day = (day + 1) % 7
        text = _blank(text, match)
    mentions: List[Tuple[int, Optional[str], bool]] = []
    for match in list(_rx(
        r"\b(?:(next|this|coming|last|past|every|any|on|all)\s+)?" + _WEEKDAY_RE + r"(s)?\b").finditer(text)):
        modifier, word, plural_s = match.group(1), match.group(2), match.group(3)
        # "tues"/"thurs"/"weds" end in s without being plural.
        plural = bool(plural_s) and len(word) > 5  # a full name + s
        if modifier in ("every", "any", "all"):
            plural = True
        if modifier == "coming":
            modifier = "this"
        mentions.append((WEEKDAY_WORDS[word], modifier if modifier != "on" else None, plural))
        text = _blank(text, match)
    return mentions, sets, excluded, text


# --- putting it together ------------------------------------------------------------------------

_ASAP_RE = re.compile(
    r"\b(?:asap|as soon as (?:possible|poss|you can|can be)|soonest|earliest|first available|"
    r"next available|first free|next free|first opening|as early as possible|urgent(?:ly)?|soon|"
    r"right away|straight away|quickly|quick as possible)\b"
)
_NO_PREFERENCE_RE = re.compile(
    r"\b(?:any ?time|whenever|any day|any date|anyday|flexible|dont mind|doesnt matter|no preference|"
    r"whatever works|whatever is free|either|all good|free all week|open)\b"
)


def _hours_from_now(now: datetime, hours: int) -> str:
    """'in 2 hours' as words the rest of the parser reads: 'today after 12:15'."""
    later = now + timedelta(hours=hours)
    minutes = -(-later.minute // 15) * 15  # round up to the quarter hour
    later = later.replace(minute=0, second=0, microsecond=0) + timedelta(minutes=minutes)
    if later.date() != now.date():
        return " tomorrow "
    return f" today after {later.hour}:{later.minute:02d} " if later.hour >= 8 else " today "


def parse_time_preference(text: str, now: datetime) -> Optional[TimePreference]:
    """The patient's words as a date range and time window, or None when there is no time
    preference in them (the caller then asks again, with examples)."""
    if now.tzinfo is None:
        raise ValueError("parse_time_preference needs an aware `now` in the practice's time zone")
    if not text or len(text) > MAX_TEXT_CHARS:
        return None
    normal = _normalise(text)
    if not normal:
        return None
    # The part of the day is read (and removed) before the dates: keep "this morning"'s day.
    normal = _rx(r"\b(?:this (?=morning|afternoon|evening)|(?=tonight))").sub("today ", normal)
    normal = _rx(r"\b(?:in|within|after) " + _NUMBER_RE + r" (?:hours?|hrs?)\b").sub(
        lambda m: _hours_from_now(now, _number(m.group(1))), normal)
    today = now.date()

    asap = bool(_ASAP_RE.search(normal))
    no_preference = bool(_NO_PREFERENCE_RE.search(normal))
    span, normal = _find_date_range(normal, today)
    window, rest = _time_window(normal)
    dates, weekday_sets, rest = _find_dates(rest, now)
    if span is not None:
        dates.append(span)
    named_days, range_sets, excluded, rest = _find_weekdays(rest)
    weekday_sets |= range_sets

    # "last Tuesday" is a day in the past; every other named weekday is ahead of us.
    for weekday, modifier, plural in named_days:
        if modifier in ("last", "past"):
            day = _weekday_date(today, weekday, modifier)
            dates.append(_Dates(day, day, _day_label(day), past=True, explicit_day=True))
    singles = [(wd, mod) for wd, mod, plural in named_days if not plural and mod not in ("last", "past")]
    weekday_sets |= {wd for wd, mod, plural in named_days if plural}

    future = [d for d in dates if not d.past]
    past = [d for d in dates if d.past]
    ranges = [d for d in future if d.start != d.end or not d.explicit_day]
    days = [d for d in future if d.start == d.end and d.explicit_day]
    allowed: Set[int] = set(weekday_sets)
    alternatives = bool(_rx(r"\b(?:or|and|either|&)\b|,|/").search(normal))

    if singles:
        single_days = {wd for wd, _ in singles}
        if ranges:
            # "Tuesday next week", "fridays in december": the weekday narrows the range.
            allowed |= single_days
        elif days:
            described = {d.start.weekday() for d in days}
            extra = [(wd, mod) for wd, mod in singles if wd not in described]
            # "Tuesday 1 Dec" names one day twice; "tomorrow or friday" names two days.
            if extra and alternatives:
                for wd, mod in extra:
                    day = _weekday_date(today, wd, mod)
                    days.append(_Dates(day, day, _day_label(day), explicit_day=True))
        elif len(singles) == 1 and not weekday_sets:
            wd, mod = singles[0]
            day = _weekday_date(today, wd, mod)
            days.append(_Dates(day, day, _day_label(day), explicit_day=True))
        else:
            # "monday or wednesday": days that suit, over the horizon (or next week if "next").
            allowed |= single_days
            if any(mod == "next" for _, mod in singles):
                monday = _monday(today) + timedelta(days=7)
                ranges.append(_Dates(monday, monday + timedelta(days=6), "next week"))

    in_past = False
    say_weekdays = True  # False when the date label already names each day
    horizon_end = today + timedelta(days=DEFAULT_HORIZON_DAYS - 1)
    if ranges or days:
        chosen = ranges + days
        start, end = min(d.start for d in chosen), max(d.end for d in chosen)
        if len(chosen) == 1:
            date_label = chosen[0].label
        elif not ranges and (end - start).days < 7:
            allowed |= {d.start.weekday() for d in days}
            date_label = " or ".join(d.label for d in sorted(days, key=lambda d: d.start))
            say_weekdays = False
        else:
            date_label = _range_label(start, end)
        if days and weekday_sets and not ranges:
            # "tomorrow or any weekend": keep both over the usual horizon.
            allowed |= {d.start.weekday() for d in days}
            end = max(end, horizon_end)
            date_label = "the next two weeks"
            say_weekdays = True
        if allowed and ranges:
            matching = [start + timedelta(days=i) for i in range((end - start).days + 1)
                        if (start + timedelta(days=i)).weekday() in allowed]
            if len(matching) == 1:
                start = end = matching[0]
                date_label = _day_label(start)
                allowed = {start.weekday()}
            elif not matching:
                allowed = set()  # the weekday contradicts the range; the range wins
    elif past:
        in_past = True
        start, end = min(d.start for d in past), max(d.end for d in past)
        date_label = past[0].label if len(past) == 1 else _range_label(start, end)
    elif allowed or excluded or window.earliest or window.latest or asap or no_preference:
        start, end = today, horizon_end
        date_label = "the next two weeks"
    else:
        return None

    if start == end and today == start and window.latest and window.latest <= now.time():
        in_past = True  # "this morning" at 2 pm
    if start == end and start < today:
        in_past = True
    if not ranges and not days and not past and no_preference and not (allowed or excluded or window.label):
        asap = True  # "any time": the soonest free time is what suits

    allowed_days = frozenset(allowed) if allowed else None
    if start == end and allowed_days is not None:
        allowed_days = frozenset({start.weekday()}) if start.weekday() in allowed_days else allowed_days
    return TimePreference(
        start_date=start,
        end_date=end,
        earliest_time=window.earliest,
        latest_time=window.latest,
        allowed_weekdays=allowed_days,
        excluded_weekdays=frozenset(excluded),
        asap=asap,
        in_past=in_past,
        label=_label(date_label, allowed_days if start != end and say_weekdays else None, excluded,
                     window.label, asap),
        tz=now.tzinfo,
    )


def _weekday_set_label(days: FrozenSet[int]) -> str:
    if days == frozenset({5, 6}):
        return "weekends"
    if days == frozenset(range(5)):
        return "weekdays"
    return " or ".join(WEEKDAY_PLURALS[d] for d in sorted(days))


def _label(date_label: str, weekdays: Optional[FrozenSet[int]], excluded: Set[int], time_label: str,
           asap: bool) -> str:
    pieces = []
    if asap:
        pieces.append("as soon as possible")
    if not (asap and date_label == "the next two weeks"):
        pieces.append(date_label)
    if weekdays is not None:
        pieces.append(_weekday_set_label(weekdays))
    if time_label:
        pieces.append(time_label)
    if excluded:
        pieces.append("not " + " or ".join(WEEKDAY_PLURALS[d] for d in sorted(excluded)))
    return ", ".join(p for p in pieces if p)


# --- slots -------------------------------------------------------------------------------------


def _local(slot: Any, tz: Optional[tzinfo]) -> datetime:
    return slot.starts_at.astimezone(tz) if tz else slot.starts_at


def filter_slots(slots: Sequence[Any], pref: TimePreference, tz: Optional[tzinfo] = None) -> List[Any]:
    """The slots (anything with an aware `.starts_at`) that fall inside the preference,
    compared in `tz`, else the zone of the `now` the preference was parsed with."""
    zone = tz or pref.tz
    kept = []
    for slot in slots:
        local = _local(slot, zone)
        day, clock = local.date(), local.time().replace(tzinfo=None)
        if not pref.start_date <= day <= pref.end_date:
            continue
        if pref.allowed_weekdays is not None and day.weekday() not in pref.allowed_weekdays:
            continue
        if day.weekday() in pref.excluded_weekdays:
            continue
        if pref.earliest_time is not None and clock < pref.earliest_time:
            continue
        if pref.latest_time is not None and clock >= pref.latest_time:
            continue
        kept.append(slot)
    return kept


def _provider(slot: Any) -> str:
    return str(getattr(slot, "provider_id", ""))


class _Candidate(NamedTuple):
    slot: Any
    day: date
    hour: int
    start: datetime  # local wall-clock time, naive
    provider: str


def _next_pick(remaining: List[_Candidate], page: List[_Candidate], shown: Set[Any]) -> int:
    """Index of the best next slot for a page: the earliest one that adds the most variety.
    Within a page: a new day at a new hour, then a new day, a new hour that day, another
    provider in that hour, then anything (so every slot is offered eventually). Ties go to
    times not shown on earlier pages: after "none of these" the same times with another
    provider are not what the patient wants to see next."""
    days = {c.day for c in page}
    hours = {c.hour for c in page}
    day_hours = {(c.day, c.hour) for c in page}
    day_hour_providers = {(c.day, c.hour, c.provider) for c in page}
    best_index, best_score = 0, 99
    for index, c in enumerate(remaining):
        if not page or (c.day not in days and c.hour not in hours):
            variety = 0
        elif c.day not in days:
            variety = 1
        elif (c.day, c.hour) not in day_hours:
            variety = 2
        elif (c.day, c.hour, c.provider) not in day_hour_providers:
            variety = 3
        else:
            variety = 4
        novelty = 2 if c.start in shown else 1 if (c.day, c.hour) in shown else 0
        score = variety * 3 + novelty
        if score == 0:
            return index
        if score < best_score:
            best_index, best_score = index, score
    return best_index


def pick_offers(slots: Sequence[Any], skip: int = 0, n: int = 3, tz: Optional[tzinfo] = None) -> List[Any]:
    """Up to n slots to offer, in time order. Candidates are ordered page by page for variety
    (not three 15-minute starts with one provider: one per provider per hour, spread across
    days when there are several, new times on later pages); `skip` is an offset into that
    order, so skip=0, n, 2n, ... ("none of these") shows every candidate exactly once.
    Deterministic for the same input. Days and hours are read in `tz` (default: each slot's
    own zone, which is the practice's for slots from the practice port)."""
    if n <= 0 or skip < 0:
        return []
    remaining = []
    for slot in sorted(slots, key=lambda s: (s.starts_at, _provider(s))):
        local = _local(slot, tz)
        remaining.append(_Candidate(slot, local.date(), local.hour, local.replace(tzinfo=None), _provider(slot)))
    ordered: List[_Candidate] = []
    shown: Set[Any] = set()  # (day, hour) pairs and start times offered on earlier pages
    while remaining and len(ordered) < skip + n:
        page: List[_Candidate] = []
        while remaining and len(page) < n:
            page.append(remaining.pop(_next_pick(remaining, page, shown)))
        for c in page:
            shown.update({(c.day, c.hour), c.start})
        ordered.extend(page)
    return [c.slot for c in sorted(ordered[skip:skip + n], key=lambda c: (c.slot.starts_at, c.provider))]


def slot_label(slot: Any, tz: Optional[tzinfo] = None) -> str:
    """'Tue 1 Dec, 2:30 pm' in the practice's time zone ('12 pm' rather than 'noon' in a list)."""
    local = _local(slot, tz)
    clock = clock_label(local.time().replace(tzinfo=None)).replace("noon", "12 pm")
    return f"{local.strftime('%a')} {local.day} {local.strftime('%b')}, {clock}"


# --- reading the patient's choice -------------------------------------------------------------

_ORDINALS = {
    "first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2, "fourth": 3, "4th": 3,
    "fifth": 4, "5th": 4, "top": 0,
}
_CHOICE_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
_FILLER = (
    r"(?:\s+(?:one|please|pls|thanks|thank you|thx|works|is good|is fine|is great|ok|okay|sounds good|for me))*"
)


def parse_choice(text: str, offered: Sequence[Any], tz: Optional[tzinfo] = None) -> Optional[int]:
    """Which of the offered slots a typed answer picks (0-based), or None when the answer is
    unclear or fits more than one: "2", "#2", "option 2", "1.", "the second one", "first",
    "2:30", "the 2.30 one", "tuesday" (when only one offer is on a Tuesday)."""
    if not offered or not text or len(text) > MAX_TEXT_CHARS:
        return None
    typed = _normalise(text).strip(" .,!?)")
    typed = _rx(r"^(?:i(?:ll| will)? (?:take|have|go for|choose|pick)|lets do|let me have|give me|"
                   r"(?:i )?(?:want|prefer)|how about|can i (?:have|get|do))\s+").sub("", typed)
    count = len(offered)
    ordinal_day: Optional[int] = None

    number = _rx(r"(?:the\s+)?(?:option|opt|number|no|num|choice|slot|#)?\s*#?\s*(\d{1,2})(st|nd|rd|th)?[.)]?"
                 + _FILLER).fullmatch(typed)
    if number:
        value = int(number.group(1))
        if number.group(2):
            ordinal_day = value  # "the 3rd": the third option, or the offer on the 3rd?
        elif 1 <= value <= count:
            return value - 1
        # else "9" with three offers: a time of day, read below
    words = _rx(r"(?:the\s+)?(?:option|number|choice)?\s*(one|two|three|four|five)" + _FILLER).fullmatch(typed)
    if words and _CHOICE_NUMBER_WORDS[words.group(1)] <= count:
        return _CHOICE_NUMBER_WORDS[words.group(1)] - 1
    agreed = _rx(r"(?:yes|yeah|yep|ok|okay|sure|that one|that works|sounds good|perfect|great)" + _FILLER)
    if count == 1 and agreed.fullmatch(typed):
        return 0
    if _rx(r"\b(?:none|neither|not|no|nope|other|others|different|dont|another)\b").search(typed):
        return None

    locals_ = [_local(s, tz) for s in offered]
    candidates = set(range(count))
    understood = False

    ordinal = None
    for word, index in _ORDINALS.items():
        if _rx(rf"\b{word}\b").search(typed):
            ordinal = index
    if _rx(r"\blast\b").search(typed):
        ordinal = count - 1
    if _rx(r"\bmiddle\b").search(typed) and count == 3:
        ordinal = 1
    if ordinal_day is not None:
        by_position = ordinal_day - 1 if ordinal_day <= count else None
        by_date = [i for i, moment in enumerate(locals_) if moment.day == ordinal_day]
        options = ({by_position} if by_position is not None else set()) | set(by_date)
        return options.pop() if len(options) == 1 else None
    if _rx(r"\b(?:earliest|earlier|soonest|sooner)\b").search(typed):
        ordinal = min(range(count), key=lambda i: locals_[i])
    if _rx(r"\b(?:latest|later)\b").search(typed):
        ordinal = max(range(count), key=lambda i: locals_[i])

    # A calendar date: "dec 3", "3 dec", "12/3".
    named_date = (_rx(r"\b" + _MONTH_RE + r"\.?\s+(\d{1,2})(?:st|nd|rd|th)?\b").search(typed)
                  or _rx(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTH_RE + r"\b").search(typed)
                  or _rx(r"\b(\d{1,2})/(\d{1,2})\b").search(typed))
    if named_date:
        first, second = named_date.group(1), named_date.group(2)
        if first.isdigit() and second.isdigit():
            month_number, day_number = int(first), int(second)
        elif first.isdigit():
            month_number, day_number = MONTH_WORDS[second], int(first)
        else:
            month_number, day_number = MONTH_WORDS[first], int(second)
        understood = True
        candidates &= {i for i, m in enumerate(locals_) if (m.month, m.day) == (month_number, day_number)}
        typed = typed[: named_date.start()] + " " + typed[named_date.end():]
    clock = _rx(r"(?<![\d/])\b(\d{1,2})(?:[:.](\d{2}))?\s*(am|pm|a\.m|p\.m|oclock)?(?!\s*(?:st|nd|rd|th)\b)\b").search(
        _rx(r"\b(?:the\s+)?(?:option|number|#)\s*\d+").sub(" ", typed))
    if clock:
        hour, minute, meridiem = int(clock.group(1)), clock.group(2), (clock.group(3) or "")
        understood = True
        hours = {hour}
        if meridiem.startswith("p") and hour < 12:
            hours = {hour + 12}
        elif meridiem.startswith("a"):
            hours = {0 if hour == 12 else hour}
        elif hour < 12:
            hours = {hour, hour + 12}
        if minute is not None:
            candidates &= {i for i, m in enumerate(locals_) if m.hour in hours and m.minute == int(minute)}
        else:
            on_the_hour = {i for i, m in enumerate(locals_) if m.hour in hours and m.minute == 0}
            within_hour = {i for i, m in enumerate(locals_) if m.hour in hours}
            candidates &= on_the_hour if len(on_the_hour & candidates) == 1 else within_hour
    weekdays = {WEEKDAY_WORDS[w] for w in _rx(r"\b" + _WEEKDAY_RE + r"s?\b").findall(typed)}
    if weekdays:
        understood = True
        candidates &= {i for i, m in enumerate(locals_) if m.weekday() in weekdays}
    for name, part in (("morning", MORNING), ("afternoon", AFTERNOON)):
        if _rx(rf"\b{name}\b").search(typed):
            understood = True
            candidates &= {i for i, m in enumerate(locals_) if part[0] <= m.time().replace(tzinfo=None) < part[1]}
    names = [str(getattr(s, "provider_name", "") or "").lower() for s in offered]
    name_words = {w for name in names for w in _rx(r"[a-z]{3,}").findall(name) if w not in ("the", "and")}
    mentioned = {w for w in _rx(r"[a-z]{3,}").findall(typed) if w in name_words}
    if mentioned:
        understood = True
        candidates &= {i for i, name in enumerate(names) if mentioned & set(_rx(r"[a-z]{3,}").findall(name))}

    if ordinal is not None:
        if understood:
            return ordinal if candidates == {ordinal} else None
        return ordinal if ordinal < count else None
    if understood and len(candidates) == 1:
        return candidates.pop()
    return None


def warm_up(tz: tzinfo = timezone.utc) -> None:
    """Compile dateparser's and our patterns now (~0.1-0.3 s) rather than during the first
    patient's message. Call once at action-server start with the practice's time zone.
    (The real date matters: dateparser caches per day, see _dateparser_settings.)"""
    now = datetime.now(tz)
    for phrase in ("next tue afternoon after 3", "dec 9", "9th of december", "12/9", "12/09/2026",
                   "2026-12-09", "december 14th", "sept 3, 2027"):
        parse_time_preference(phrase, now)


warm_up()
