"""What a patient means by "next Tuesday afternoon": time preferences → date ranges and
windows, filtering free slots by them, choosing which to offer, and reading the choice.

Pure functions on plain values (no Rasa, no database); `now` is always passed in, in the
practice's time zone, so the behaviour is testable and reproducible.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, FrozenSet, List, Optional, Sequence, Tuple

import dateparser

DEFAULT_HORIZON_DAYS = 14
MORNING = (time(8, 0), time(12, 0))
AFTERNOON = (time(12, 0), time(17, 0))
LATE_AFTERNOON = (time(15, 0), time(17, 0))
EVENING = (time(16, 0), time(21, 0))

WEEKDAY_NAMES = {
    "monday": 0, "mon": 0, "tuesday": 1, "tue": 1, "tues": 1, "wednesday": 2, "wed": 2,
    "thursday": 3, "thu": 3, "thur": 3, "thurs": 3, "friday": 4, "fri": 4,
    "saturday": 5, "sat": 5, "sunday": 6, "sun": 6,
}
MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8,
    "sep": 9, "sept": 9, "oct": 10, "nov": 11, "dec": 12,
}
NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
# Common SMS spellings and typos, mapped before parsing.
TYPOS = {
    "tmrw": "tomorrow", "tmr": "tomorrow", "tomorow": "tomorrow", "tommorow": "tomorrow",
    "tommorrow": "tomorrow", "nxt": "next", "wk": "week", "wks": "weeks", "afternon": "afternoon",
    "aftrnoon": "afternoon", "arvo": "afternoon", "mornin": "morning", "morn": "morning",
    "tusday": "tuesday", "teusday": "tuesday", "wensday": "wednesday", "wednsday": "wednesday",
    "thursay": "thursday", "thrusday": "thursday", "firday": "friday", "fridy": "friday",
    "mornings": "morning", "afternoons": "afternoon", "evenings": "evening", "pm": "pm",
    "asap": "asap", "2day": "today", "2morrow": "tomorrow", "monady": "monday",
}


@dataclass(frozen=True)
class TimePreference:
    start_date: date
    end_date: date  # inclusive
    earliest_time: Optional[time] = None
    latest_time: Optional[time] = None
    allowed_weekdays: Optional[FrozenSet[int]] = None
    excluded_weekdays: FrozenSet[int] = frozenset()
    asap: bool = False
    in_past: bool = False
    label: str = ""


def _normalise(text: str) -> str:
    text = (text or "").lower().replace("’", "'")
    text = re.sub(r"[^a-z0-9:/.' -]+", " ", text)
    words = [TYPOS.get(w, w) for w in text.split()]
    return " ".join(words)


def _day_label(day: date) -> str:
    return f"{day.strftime('%A')} {day.day} {day.strftime('%B')}"


def _next_weekday(today: date, weekday: int, force_next_week: bool = False) -> date:
    ahead = (weekday - today.weekday()) % 7
    if force_next_week:
        # "next Tuesday": the Tuesday of next week (Mon-Sun weeks).
        start_next_week = today + timedelta(days=7 - today.weekday())
        return start_next_week + timedelta(days=weekday)
    return today + timedelta(days=ahead)


def _parse_clock(hour: str, minute: Optional[str], meridiem: Optional[str]) -> Optional[time]:
    h, m = int(hour), int(minute or 0)
    if meridiem and meridiem.startswith("p") and h < 12:
        h += 12
    elif meridiem and meridiem.startswith("a") and h == 12:
        h = 0
    elif not meridiem and 1 <= h <= 6:
        h += 12  # "after 3" at a clinic means 3 pm
    if not (0 <= h <= 23 and 0 <= m <= 59):
        return None
    return time(h, m)


_CLOCK = r"(\d{1,2})(?:[:.](\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)?"


def _time_window(text: str) -> Tuple[Optional[time], Optional[time], str]:
    """Earliest/latest time of day and a label part."""
    if re.search(r"\blate afternoon\b", text):
        return LATE_AFTERNOON[0], LATE_AFTERNOON[1], "late afternoon"
    if re.search(r"\bafternoon\b", text):
        return AFTERNOON[0], AFTERNOON[1], "afternoon"
    if re.search(r"\bmorning\b", text):
        return MORNING[0], MORNING[1], "morning"
    if re.search(r"\bevening\b|\bafter work\b", text):
        return EVENING[0], EVENING[1], "evening"
    if re.search(r"\b(lunch ?time|midday|noon)\b", text) and not re.search(r"\b(after|before) (noon|lunch)", text):
        return time(11, 30), time(14, 0), "around midday"
    after = re.search(r"\b(?:after|from|later than|not before)\s+" + _CLOCK, text)
    before = re.search(r"\b(?:before|by|earlier than|until|no later than)\s+" + _CLOCK, text)
    after_noon = re.search(r"\bafter (noon|lunch)\b", text)
    before_noon = re.search(r"\bbefore (noon|lunch)\b", text)
    earliest = latest = None
    parts = []
    if after:
        earliest = _parse_clock(*after.groups())
    elif after_noon:
        earliest = time(12, 0)
    if before:
        latest = _parse_clock(*before.groups())
    elif before_noon:
        latest = time(12, 0)
    if earliest:
        parts.append(f"after {_clock_label(earliest)}")
    if latest:
        parts.append(f"before {_clock_label(latest)}")
    if not (earliest or latest):
        at = re.search(r"\bat\s+" + _CLOCK, text)
        if at:
            exact = _parse_clock(*at.groups())
            if exact:
                end = (datetime.combine(date.today(), exact) + timedelta(hours=1)).time()
                return exact, end, f"around {_clock_label(exact)}"
    return earliest, latest, " ".join(parts)


def _clock_label(moment: time) -> str:
    hour = moment.strftime("%I").lstrip("0")
    minutes = "" if moment.minute == 0 else moment.strftime(":%M")
    return f"{hour}{minutes} {moment.strftime('%p').lower()}"


NEGATION = r"\b(?:but not|except|apart from|other than|excluding|but|not)"


def _weekdays(text: str) -> Tuple[Optional[FrozenSet[int]], FrozenSet[int]]:
    excluded = set()
    for match in re.finditer(NEGATION + r"\s+(?:on\s+)?(?:a\s+)?([a-z]+)\b", text):
        word = match.group(1)
        day = WEEKDAY_NAMES.get(word, WEEKDAY_NAMES.get(word[:-1]))
        if day is not None:
            excluded.add(day)
    cleaned = re.sub(NEGATION + r"\s+(?:on\s+)?(?:a\s+)?[a-z]+\b", " ", text)
    allowed = set()
    for word in re.findall(r"[a-z]+", cleaned):
        key = word[:-1] if word not in WEEKDAY_NAMES and word.endswith("s") else word
        if key in WEEKDAY_NAMES:
            allowed.add(WEEKDAY_NAMES[key])
    if re.search(r"\bweekend\b", cleaned):
        allowed |= {5, 6}
    if re.search(r"\bweekday\b", cleaned):
        allowed |= {0, 1, 2, 3, 4}
    return (frozenset(allowed) if allowed else None), frozenset(excluded)


def _explicit_date(text: str, today: date) -> Optional[date]:
    """'12/9', 'Dec 9', '9th of December', 'the 14th' → the next such date (maybe past)."""
    numeric = re.search(r"\b(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?\b", text)
    if numeric:
        month, day, year = int(numeric.group(1)), int(numeric.group(2)), numeric.group(3)
        year_value = int(year) + (2000 if year and len(year) == 2 else 0) if year else today.year
        try:
            found = date(year_value, month, day)
        except ValueError:
            return None
        if not year and found < today - timedelta(days=60):
            found = date(today.year + 1, month, day)
        return found
    month_first = re.search(r"\b(jan|feb|mar|apr|may|jun|jul|aug|sept?|oct|nov|dec)[a-z]*\.?\s+(\d{1,2})(?:st|nd|rd|th)?\b", text)
    day_first = re.search(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?(jan|feb|mar|apr|may|jun|jul|aug|sept?|oct|nov|dec)[a-z]*\b", text)
    if month_first or day_first:
        if month_first:
            month, day = MONTHS[month_first.group(1)[:4] if month_first.group(1).startswith("sept") else month_first.group(1)[:3]], int(month_first.group(2))
        else:
            month, day = MONTHS[day_first.group(2)[:3]], int(day_first.group(1))
        try:
            found = date(today.year, month, day)
        except ValueError:
            return None
        if found < today - timedelta(days=60):
            found = date(today.year + 1, month, day)
        return found
    ordinal = re.search(r"\b(?:the\s+)?(\d{1,2})(st|nd|rd|th)\b", text)
    if ordinal:
        day = int(ordinal.group(1))
        year, month = today.year, today.month
        for _ in range(3):
            try:
                found = date(year, month, day)
                if found >= today:
                    return found
            except ValueError:
                pass
            month += 1
            if month > 12:
                year, month = year + 1, 1
    return None


def parse_time_preference(text: str, now: datetime) -> Optional[TimePreference]:
    """The patient's words as a date range and time window; None when nothing is understood."""
    raw = _normalise(text)
    if not raw or len(raw) > 200:
        return None
    today = now.date()
    earliest, latest, time_label = _time_window(raw)
    allowed, excluded = _weekdays(raw)
    start = end = None
    label = ""
    asap = False
    in_past = False

    relative = re.search(r"\bin\s+(\d+|a|an|one|two|three|four|five|six)\s+(day|week|month)s?\b", raw)
    if re.search(r"\b(asap|as soon as possible|earliest|soonest|first available|next available|any ?time|anytime|whenever|urgent|soon)\b", raw):
        asap = True
        start, end, label = today, today + timedelta(days=DEFAULT_HORIZON_DAYS), "as soon as possible"
    elif re.search(r"\btoday\b", raw):
        start = end = today
        label = "today"
    elif re.search(r"\btomorrow\b", raw):
        start = end = today + timedelta(days=1)
        label = "tomorrow"
    elif relative:
        amount = NUMBER_WORDS.get(relative.group(1)) or int(relative.group(1))
        unit = relative.group(2)
        days = amount * {"day": 1, "week": 7, "month": 30}[unit]
        target = today + timedelta(days=days)
        if unit == "day":
            start = end = target
        else:
            # "in two weeks": that week, Monday to Sunday.
            start = target - timedelta(days=target.weekday())
            end = start + timedelta(days=6)
        label = f"in {relative.group(1)} {unit}s" if amount != 1 else f"in a {unit}"
    elif re.search(r"\bnext week\b", raw):
        start = today + timedelta(days=7 - today.weekday())
        end = start + timedelta(days=6)
        label = "next week"
    elif re.search(r"\bthis week\b", raw):
        start, end = today, today + timedelta(days=6 - today.weekday())
        label = "this week"
    elif re.search(r"\b(this|next) month\b", raw):
        if "next" in raw:
            first = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
        else:
            first = today
        start = first
        end = ((first.replace(day=1) + timedelta(days=32)).replace(day=1)) - timedelta(days=1)
        label = "next month" if "next" in raw else "this month"
    else:
        explicit = _explicit_date(raw, today)
        if explicit is None and re.search(r"\b(last|yesterday)\b", raw):
            parsed = dateparser.parse(raw, settings={"RELATIVE_BASE": now.replace(tzinfo=None), "PREFER_DATES_FROM": "past"})
            explicit = parsed.date() if parsed else None
        if explicit is not None:
            start = end = explicit
            label = _day_label(explicit)
            in_past = explicit < today

    # A single weekday: "next Tuesday", "on friday", "tuesday afternoon".
    if start is None and allowed and len(allowed) == 1:
        day = next(iter(allowed))
        force = bool(re.search(r"\bnext\s+(?:week\s+)?" + r"[a-z]+", raw)) and not re.search(r"\bnext (week|month|available)\b", raw)
        found = _next_weekday(today, day, force_next_week=force)
        start = end = found
        label = _day_label(found)
    elif start is None and (allowed or excluded or earliest or latest):
        start, end = today, today + timedelta(days=DEFAULT_HORIZON_DAYS)
        label = "in the next two weeks"
        if allowed:
            names = sorted(allowed)
            label = " or ".join(_plural(d) for d in names)
    if start is None:
        return None

    pieces = [label]
    if time_label:
        pieces.append(time_label)
    if excluded:
        pieces.append("not " + " or ".join(_plural(d) for d in sorted(excluded)))
    return TimePreference(
        start_date=start,
        end_date=end,
        earliest_time=earliest,
        latest_time=latest,
        allowed_weekdays=allowed,
        excluded_weekdays=excluded,
        asap=asap,
        in_past=in_past,
        label=", ".join(p for p in pieces if p),
    )


def _plural(weekday: int) -> str:
    return ["Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays"][weekday]


def filter_slots(slots: Sequence[Any], pref: TimePreference, tz=None) -> List[Any]:
    """The slots that fall inside the preference, compared in the practice's time zone."""
    kept = []
    for slot in slots:
        local = slot.starts_at.astimezone(tz) if tz else slot.starts_at
        day = local.date()
        if not (pref.start_date <= day <= pref.end_date):
            continue
        if pref.allowed_weekdays is not None and day.weekday() not in pref.allowed_weekdays:
            continue
        if day.weekday() in pref.excluded_weekdays:
            continue
        if pref.earliest_time and local.time() < pref.earliest_time:
            continue
        if pref.latest_time and local.time() >= pref.latest_time:
            continue
        kept.append(slot)
    return kept


def _variety_order(slots: Sequence[Any]) -> List[Any]:
    """Candidates ordered so each page offers a spread: one per provider per hour first,
    across days, then the rest in time order. Every slot appears exactly once."""
    ordered = sorted(slots, key=lambda s: (s.starts_at, getattr(s, "provider_id", 0)))
    first_pass, rest, seen = [], [], set()
    for slot in ordered:
        key = (slot.starts_at.date(), slot.starts_at.hour, getattr(slot, "provider_id", 0))
        day_key = (slot.starts_at.date(), slot.starts_at.hour)
        if key in seen or day_key in seen:
            rest.append(slot)
        else:
            seen.add(key)
            seen.add(day_key)
            first_pass.append(slot)
    return first_pass + rest


def pick_offers(slots: Sequence[Any], skip: int = 0, n: int = 3) -> List[Any]:
    """Up to n slots to offer, `skip` into the variety-ordered candidates ("none of these")."""
    ordered = _variety_order(slots)
    page = ordered[skip:skip + n]
    return sorted(page, key=lambda s: s.starts_at)


def slot_label(slot: Any, tz) -> str:
    local = slot.starts_at.astimezone(tz)
    hour = local.strftime("%I").lstrip("0")
    minutes = "" if local.minute == 0 else local.strftime(":%M")
    return f"{local.strftime('%a')} {local.day} {local.strftime('%b')}, {hour}{minutes} {local.strftime('%p').lower()}"


ORDINALS = {"first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2, "last": -1,
            "one": 0, "two": 1, "three": 2}


def parse_choice(text: str, offered: Sequence[Any]) -> Optional[int]:
    """Which offered option a typed answer picks: '2', 'the second one', '2:30', 'tuesday'."""
    if not offered:
        return None
    typed = _normalise(text).strip(" .")
    number = re.fullmatch(r"(?:option |number |no\.? |#)?(\d{1,2})\.?(?: please| works| is fine| thanks)?", typed)
    if number:
        index = int(number.group(1)) - 1
        return index if 0 <= index < len(offered) else None
    for word, index in ORDINALS.items():
        if re.search(rf"\b{word}\b", typed) and not re.search(r"\d{1,2}[:.]\d{2}", typed):
            index = index if index >= 0 else len(offered) - 1
            return index if index < len(offered) else None
    clock = re.search(r"\b(\d{1,2})(?:[:.](\d{2}))?\s*(am|pm)?\b", typed)
    if clock:
        wanted = _parse_clock(*clock.groups())
        hits = [i for i, s in enumerate(offered) if wanted and s.starts_at.time().replace(second=0, microsecond=0) == wanted]
        if len(hits) == 1:
            return hits[0]
    for word in re.findall(r"[a-z]+", typed):
        if word in WEEKDAY_NAMES:
            hits = [i for i, s in enumerate(offered) if s.starts_at.weekday() == WEEKDAY_NAMES[word]]
            if len(hits) == 1:
                return hits[0]
    return None
