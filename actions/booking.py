"""Appointments: book (also for a dependant), reschedule, cancel and list.

The forms are declared in domain.yml; this module asks their dynamic questions (offers,
confirmations), validates the answers and talks to the practice port. Booking itself
happens when the patient confirms, and is atomic in the database: if someone else took
the time a moment earlier, the patient is told and offered the next free times.
"""

from __future__ import annotations

import logging
import re
from datetime import date, datetime, time, timedelta
from types import SimpleNamespace
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Text, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import (
    OFFERED_TASK,
    as_int,
    best_match,
    button,
    clinic,
    norm_text,
    now_local,
    offer_task,
    practice_tz,
    slot_from_dict,
    slot_to_dict,
    when_text,
)
from actions.practice import get_practice_system
from actions.practice.clinic import opening_hours
from actions.practice.port import AppointmentNotChangeable, NotFound, PatientBusy, SlotUnavailable
from actions.scheduling import (
    AFTERNOON,
    MONTH_WORDS,
    MORNING,
    WEEKDAY_WORDS,
    TimePreference,
    _MONTH_RE,
    clock_label,
    filter_slots,
    parse_choice,
    parse_time_preference,
    pick_offers,
    slot_label,
)
from actions.verification import VerifiedFormValidation, who_for

logger = logging.getLogger(__name__)

OFFERS_PER_PAGE = 3
# How far to look for the nearest alternatives when the asked-for range has nothing.
ALTERNATIVE_HORIZON = timedelta(days=21)
# A per-day bound on free slots far above a real clinic day (3 clinicians on a 15-minute grid
# give about 100), so a range's free-slot query is never cut short.
SLOTS_PER_DAY_BOUND = 2_000
# Nothing is offered sooner than this: "asap" at 3:59 offered 4:00 at the other site.
MIN_LEAD = timedelta(minutes=30)
FORM_SLOTS = (
    "appointment_for", "subject_patient_id", "visit_type", "provider_pref", "time_preference",
    "offered_slots", "offer_page", "slot_choice", "booking_confirmed", "appointment_choice",
    "cancel_confirmed",
)
_CANNOT_CHANGE = (
    "Sorry, that appointment can no longer be changed here (it may have started or already "
    "been cancelled). Please call the clinic and the team will help."
)
WEEKDAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
WEEKDAYS = ["Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays"]


def reset_form_slots() -> List[EventType]:
    return [SlotSet(name, 0 if name == "offer_page" else None) for name in FORM_SLOTS]


def _offer_line(slot) -> str:
    return f"{slot_label(slot, practice_tz())} with {slot.provider_name} at {slot.location_name}"


async def _closed_reasons(pref: TimePreference, now: datetime) -> List[str]:
    """Why the asked-for dates have no times: closures and days the clinic never opens."""
    reasons = []
    practice = get_practice_system()
    closures = await practice.closures(pref.start_date, pref.end_date)
    location_names = {loc.id: loc.name for loc in await practice.locations()} if closures else {}
    for closure in closures:
        day = closure.date
        # A closure of one site is not the whole practice being shut.
        who = f"{location_names.get(closure.location_id, 'one of our locations')} is" if closure.location_id else "we're"
        reasons.append(f"{who} closed on {day.strftime('%A')} {day.day} {day.strftime('%B')} ({closure.reason})")
    hours = opening_hours()
    span = (pref.end_date - pref.start_date).days + 1
    asked = {(pref.start_date + timedelta(days=i)).weekday() for i in range(min(span, 7))}
    if pref.allowed_weekdays:
        asked &= set(pref.allowed_weekdays)
    shut = sorted(d for d in asked if hours[d] is None)
    if shut and len(shut) == len(asked):
        reasons.append("we're closed on " + " and ".join(WEEKDAYS[d] for d in shut))
        return reasons
    # Open on those days, but not at the asked time of day (or no longer today): say the
    # hours rather than "everything is booked".
    days = [pref.start_date + timedelta(days=i) for i in range(min(span, 14))]
    days = [d for d in days if d.weekday() in asked and d.weekday() not in pref.excluded_weekdays
            and hours[d.weekday()] is not None]
    if days and not any(_open_in_window(d, hours[d.weekday()], pref, now) for d in days):
        if days == [now.date()] and now.time().replace(tzinfo=None) >= hours[now.weekday()][1]:
            reasons.append(f"we've closed for today (we're open until {clock_label(hours[now.weekday()][1])})")
        else:
            by_hours: Dict[Tuple[time, time], List[str]] = {}
            for weekday in sorted({d.weekday() for d in days}):
                by_hours.setdefault(hours[weekday], []).append(WEEKDAYS[weekday])
            reasons.append("we aren't open then: we're open " + "; ".join(
                f"{clock_label(opens)} to {clock_label(closes)} on {_and_list(names)}"
                for (opens, closes), names in by_hours.items()))
    return reasons


def _and_list(items: List[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _open_in_window(day: date, hours: Tuple[time, time], pref: TimePreference, now: datetime) -> bool:
    """Whether the clinic is open on `day` at some time the patient asked for (after now)."""
    opens, closes = hours
    start = max(opens, pref.earliest_time or opens)
    if day == now.date():
        start = max(start, now.time().replace(tzinfo=None))
    end = min(closes, pref.latest_time or closes)
    return start < end


async def find_offers(
    text: str,
    visit_type_id: int,
    provider_id: Optional[int],
    page: int,
    patient_id: Optional[int] = None,
    moving: Optional[int] = None,
) -> Tuple[List[Any], Optional[str]]:
    """Up to three free slots for the patient's words, and a note explaining any detour.
    Times that overlap another of the patient's appointments (except the one `moving`) are
    left out: a patient cannot be in two rooms at once.

    Returns ([], message) when the words cannot be understood or nothing is free at all.
    """
    now = now_local()
    pref = parse_time_preference(text, now)
    if pref is None:
        return [], (
            "Sorry, I didn't catch a day or time. You can say things like \"next Tuesday "
            "afternoon\", \"asap\", \"after 3 on Friday\" or \"the 14th\"."
        )
    practice = get_practice_system()
    tz = practice_tz()
    upcoming = await practice.upcoming_appointments(patient_id, now) if patient_id else []
    busy = [(a.starts_at, a.ends_at) for a in upcoming if a.id != moving]

    async def free_slots(start, end):
        # Every free slot of the range, not the port's default first 200 (about two days for
        # three clinicians): the weekday and time-of-day filters run after, and "Thursdays"
        # must not come back empty because Thursday lay past the 200th slot.
        limit = SLOTS_PER_DAY_BOUND * max(1, (end - start).days + 1)
        free = await practice.free_slots(visit_type_id, start, end, provider_id=provider_id, limit=limit)
        return [s for s in free if not any(s.starts_at < b_end and b_start < s.ends_at for b_start, b_end in busy)]

    soonest = now + MIN_LEAD
    note = None
    matching: List[Any] = []
    if pref.in_past:
        note = f"{pref.label} has already passed, so here are the nearest times from today."
    else:
        start = max(datetime.combine(pref.start_date, time.min, tz), soonest)
        end = datetime.combine(pref.end_date + timedelta(days=1), time.min, tz)
        matching = filter_slots(await free_slots(start, end), pref, tz)
        offers = pick_offers(matching, skip=page * OFFERS_PER_PAGE, n=OFFERS_PER_PAGE, tz=tz)
        if offers:
            return offers, None
        if matching:
            note = f"Those were all the free times for {pref.label}. Here are the next ones after that:"
        else:
            reasons = await _closed_reasons(pref, now)
            why = "; ".join(reasons) if reasons else f"everything {pref.label} is booked"
            note = f"Sorry, {why}. The nearest free times are:"
    # Nearest alternatives, same time of day if possible, otherwise any time: from today for
    # a past date, after the range when its times are used up, else from the range's start.
    if pref.in_past:
        base = soonest
    elif matching:
        base = max(soonest, datetime.combine(pref.end_date + timedelta(days=1), time.min, tz))
    else:
        base = max(soonest, datetime.combine(pref.start_date, time.min, tz))
    free = await free_slots(base, base + ALTERNATIVE_HORIZON)
    same_time = [
        s for s in free
        if (pref.earliest_time is None or s.starts_at.astimezone(tz).time() >= pref.earliest_time)
        and (pref.latest_time is None or s.starts_at.astimezone(tz).time() < pref.latest_time)
    ]
    # "None of these" pages on through the alternatives too, after the pages the asked-for
    # range used (each of its free times is shown exactly once, three to a page).
    range_pages = -(-len(matching) // OFFERS_PER_PAGE)
    alternative_page = max(0, page - range_pages)
    offers = pick_offers(same_time or free, skip=alternative_page * OFFERS_PER_PAGE, n=OFFERS_PER_PAGE, tz=tz)
    if not offers:
        if alternative_page:
            return [], (
                "Those were all the free times I can see for now. Please try another day or "
                f"time, or call us on {clinic()['phone_display']} and the team will find you a time."
            )
        return [], (
            "I couldn't find any free times in the next few weeks. Please call us on "
            f"{clinic()['phone_display']} and the team will find you a time."
        )
    return offers, note


def offers_message(offers: Sequence[Any]) -> Tuple[str, List[Dict[str, str]]]:
    lines = [f"{i}. {_offer_line(s)}" for i, s in enumerate(offers, 1)]
    numbers = ", ".join(str(i) for i in range(1, len(offers) + 1))
    text = (
        "Here are the times I can offer:\n" + "\n".join(lines)
        + f"\nReply {numbers}, or say \"none of these\" for other times."
    )
    buttons = [button(f"{i}. {slot_label(s, practice_tz())}, {s.provider_name}", str(i)) for i, s in enumerate(offers, 1)]
    buttons.append(button("None of these", "/none_of_these"))
    return text, buttons


def appointment_summary(appt) -> Dict[str, Any]:
    """What the conversation keeps about an appointment (no clinical detail)."""
    return {
        "id": appt.id,
        "reference": appt.reference,
        "patient_id": appt.patient_id,
        "patient_first_name": appt.patient_first_name,
        "visit_type_id": appt.visit_type_id,
        "visit_type_name": appt.visit_type_name,
        "provider_id": appt.provider_id,
        "provider_name": appt.provider_name,
        "location_name": appt.location_name,
        "location_address": appt.location_address,
        "prep_notes": appt.prep_notes,
        "starts_at": appt.starts_at.isoformat(),
    }


def _within_notice(starts_at: datetime) -> bool:
    hours = clinic().get("cancellation_policy", {}).get("notice_hours", 24)
    return starts_at - now_local() < timedelta(hours=hours)


def _policy_text() -> str:
    return clinic().get("cancellation_policy", {}).get("text", "")


async def _upcoming_for_family(tracker: Tracker) -> List[Any]:
    """Upcoming appointments of the verified patient and their dependants, soonest first."""
    practice = get_practice_system()
    ids = [tracker.get_slot("verified_patient_id")]
    ids += [d["id"] for d in (tracker.get_slot("dependants") or [])]
    appts: List[Any] = []
    for pid in ids:
        appts += await practice.upcoming_appointments(pid, now_local())
    return sorted(appts, key=lambda a: a.starts_at)


def _appointment_line(appt, tracker: Tracker) -> str:
    who = ""
    if appt.patient_id != tracker.get_slot("verified_patient_id"):
        who = f" for {appt.patient_first_name}"
    return f"{appt.visit_type_name}{who} with {appt.provider_name}, {when_text(appt.starts_at)}, {appt.location_name}"


# --- the forms --------------------------------------------------------------------------


_DIFFERENT_DAY = re.compile(r"\b(?:different|another|other|next|later) (?:day|days|date)\b|\blater in the week\b")


class _FirstMessageForm(VerifiedFormValidation):
    """A form that uses what its first message already said ("book a flu shot tomorrow
    morning", "cancel my monday appointment") when it reaches that question, instead of
    asking it again. Only on first reaching a question: asked again (an unusable answer, a
    time taken meanwhile), it is the patient's to answer."""

    async def run(self, dispatcher, tracker, domain):
        asked = tracker.get_slot("requested_slot")
        request = _started_with(tracker, self.form_name())
        events = await super().run(dispatcher, tracker, domain)
        answered = await self._answer_from_request(request, asked, events, dispatcher, tracker, domain)
        if not answered:
            return events
        # Rasa asks the first requested_slot it finds in the events, so the question the
        # request answered is replaced, not followed, by the next one.
        following = await self.next_requested_slot(dispatcher, tracker, domain)
        kept = [e for e in events if not (e.get("event") == "slot" and e.get("name") == "requested_slot")]
        return kept + answered + ([following] if following else [])

    async def _answer_from_request(self, request, asked, events, dispatcher, tracker, domain) -> List[EventType]:
        order = self.domain_slots(domain)
        requested = [e["value"] for e in events if e.get("event") == "slot" and e.get("name") == "requested_slot"]
        reached = requested[0] if requested else None
        # Only on first reaching a question: a question asked again (an unusable answer, a
        # time taken meanwhile) is the patient's to answer.
        if reached not in order or (asked in order and order.index(asked) >= order.index(reached)):
            return []
        added: List[EventType] = []
        # One answer can lead to the next question it also answers ("a flu shot for Tiny
        # with Dr. Lovetest next week": who, what, with whom and when).
        while reached is not None:
            answer = await self._request_answers(reached, request, dispatcher, tracker)
            if not answer:
                break
            tracker.slots.update(answer)
            added += [SlotSet(name, value) for name, value in answer.items()]
            following = await self.next_requested_slot(dispatcher, tracker, domain)
            reached = following["value"] if following else None
        return added

    async def _request_answers(self, question, request, dispatcher, tracker) -> Dict[Text, Any]:
        """The slots the opening request (None for a button) fills for `question`, said back;
        {} if it does not."""
        return {}


class _OfferingForm(_FirstMessageForm):
    """Shared steps of booking and rescheduling: time preference → offers → choice → confirm."""

    def _search_target(self, tracker: Tracker) -> Tuple[int, Optional[int]]:
        raise NotImplementedError

    async def _offer(self, text: str, page: int, tracker: Tracker, dispatcher) -> Dict[Text, Any]:
        visit_type_id, provider_id = self._search_target(tracker)
        patient_id, moving = self._whose_calendar(tracker)
        offers, note = await find_offers(text, visit_type_id, provider_id, page, patient_id, moving)
        if note:
            dispatcher.utter_message(text=note)
        if not offers:
            return {"time_preference": None, "offered_slots": None, "slot_choice": None}
        return {
            "time_preference": text,
            "offered_slots": [slot_to_dict(s) for s in offers],
            "offer_page": page,
            "slot_choice": None,
            "booking_confirmed": None,
        }

    async def validate_time_preference(self, value, dispatcher, tracker, domain):
        return await self._offer(str(value or ""), 0, tracker, dispatcher)

    async def _next_page(self, tracker, dispatcher) -> Dict[Text, Any]:
        page = int(tracker.get_slot("offer_page") or 0) + 1
        return await self._offer(tracker.get_slot("time_preference") or "asap", page, tracker, dispatcher)

    async def validate_slot_choice(self, value, dispatcher, tracker, domain):
        if isinstance(value, dict):  # already validated earlier in this turn
            return {"slot_choice": value}
        if value == "none_of_these" or norm_text(str(value)) in ("none", "none of these", "neither", "other times"):
            return await self._next_page(tracker, dispatcher)
        offered = [slot_from_dict(s) for s in tracker.get_slot("offered_slots") or []]
        index = parse_choice(str(value or ""), offered, tz=practice_tz())
        if index is None and offered:
            # Not one of the offers but another time ("friday instead", "anything after 3:30",
            # "a different day"): search again with it rather than repeat the same list.
            text = str(value or "")
            if _DIFFERENT_DAY.search(norm_text(text)):
                after = max(s.starts_at.astimezone(practice_tz()).date() for s in offered) + timedelta(days=1)
                until = after + timedelta(days=13)
                text = f"from {after:%b} {after.day} to {until:%b} {until.day}"
            if parse_time_preference(text, now_local()) is not None:
                return await self._offer(text, 0, tracker, dispatcher)
        if index is None:
            numbers = ", ".join(str(i) for i in range(1, len(offered) + 1))
            dispatcher.utter_message(text=f"Please reply {numbers}, or say \"none of these\" for other times.")
            return {"slot_choice": None}
        return await self.choose(offered[index], dispatcher, tracker)

    async def choose(self, slot, dispatcher, tracker) -> Dict[Text, Any]:
        return {"slot_choice": {"slot": slot_to_dict(slot), "hold_id": None}}

    def _whose_calendar(self, tracker) -> Tuple[Optional[int], Optional[int]]:
        """(patient whose other appointments rule times out, appointment being moved)."""
        return tracker.get_slot("subject_patient_id") or tracker.get_slot("verified_patient_id"), None

    async def _taken(self, dispatcher, tracker, error: Optional[SlotUnavailable] = None) -> Dict[Text, Any]:
        if isinstance(error, PatientBusy):
            dispatcher.utter_message(text="That time overlaps an appointment that is already booked, so I haven't booked it.")
        else:
            dispatcher.utter_message(text="Sorry, that time is no longer available.")
        return await self._offer(tracker.get_slot("time_preference") or "asap", 0, tracker, dispatcher)


# Words of a visit type's name that do not tell visit types apart.
_GENERIC_VISIT_WORDS = frozenset({"visit", "appointment", "appt"})


def _started_with(tracker: Tracker, form: Text) -> Optional[Text]:
    """What the patient typed to start this run of `form` (None for a button or a "yes")."""
    if tracker.active_loop_name != form:
        text = tracker.latest_message.get("text")  # the form is starting with this message
        return None if not text or text.startswith("/") else text
    return _last_started_with(tracker, form)


def _last_started_with(tracker: Tracker, form: Text) -> Optional[Text]:
    """What the patient typed to start the last run of `form`, still going or finished (the
    verification questions come in between). None for a button or a "yes"."""
    events = list(tracker.events)
    for index in range(len(events) - 1, -1, -1):
        if events[index].get("event") == "active_loop" and events[index].get("name") == form:
            users = [e for e in events[:index] if e.get("event") == "user"]
            text = users[-1].get("text") if users else None
            return None if not text or text.startswith("/") else text
    return None


def _dependants_named(tracker: Tracker, words: set) -> List[Dict[str, Any]]:
    """The dependants the words name by first name ("tiny", "juniors", "junior's")."""
    return [d for d in tracker.get_slot("dependants") or []
            if {norm_text(d["first_name"]), norm_text(d["first_name"]) + "s"} & words]


def _family_member_named(tracker: Tracker, text: Optional[Text]) -> Optional[Dict[str, Any]]:
    """The one dependant the text names by first name ("what does tiny have booked", "when is
    juniors appointment"), else None."""
    named = _dependants_named(tracker, set(norm_text(text or "").split()))
    return named[0] if len(named) == 1 else None


def _surname(display_name: Text) -> Text:
    """"Dr. Ada Lovetest" -> "lovetest"; "Sam Placeholder, NP" -> "placeholder"."""
    words = [w for w in norm_text(display_name.split(",")[0]).split() if w not in ("dr", "doctor", "nurse")]
    return words[-1] if words else ""


# --- which appointment the patient means -----------------------------------------------------

_TITLE_WORDS = frozenset({"dr", "doctor", "nurse", "np", "pa", "md", "the"})
# Weekday words read in a description ("sat", "sun" and "mon" are left out: ordinary words).
_DAY_WORDS = {w: d for w, d in WEEKDAY_WORDS.items() if w not in ("sat", "sun", "mon")}
_ORDINAL_WORDS = {"first": 0, "second": 1, "third": 2, "fourth": 3, "fifth": 4}
# Not a visit type on their own ("my follow up" names one, "up" does not).
_WEAK_VISIT_WORDS = frozenset({"up", "new", "patient", "visit", "appointment", "appt"})
_MOVE_VERB = re.compile(r"\b(?:move|moving|reschedule|rescheduling|change|changing|shift|push|bring|switch|"
                        r"rebook|postpone|put)\b")
_TO_TIME = re.compile(r"\b(?:to|until|till|into|onto)\b")
_FOR_TIME = re.compile(r"\bfor\b")


def _split_new_time(text: Text) -> Tuple[Text, Optional[Text]]:
    """A reschedule request in two: the appointment it names and the new time it asks for
    ("move my tuesday appointment | to thursday afternoon"). (text, None) without a time."""
    typed = text.lower()
    verb = _MOVE_VERB.search(typed)
    start = verb.end() if verb else 0
    for connector in (_TO_TIME, _FOR_TIME):
        for match in connector.finditer(typed, start):
            rest = text[match.end():].strip(" ,.!?")
            if rest and parse_time_preference(rest, now_local()) is not None:
                return text[:match.start()], rest
    return text, None


class _Named(NamedTuple):
    """What a description of an appointment names, and how to say that nothing matches it."""

    matches: List[Any]
    missing: Optional[Text]  # "You don't have an appointment on Tuesday." when none matches


async def _appointments_named(text: Optional[Text], appts: Sequence[Any], tracker: Tracker) -> Optional[_Named]:
    """The appointments of `appts` that the words describe ("the one with dr lovetest", "my
    monday appointment", "my flu shot", "tiny's", "the second one", "the 8 am one"), or None
    when the words describe no appointment at all."""
    typed = norm_text(text or "")
    words = set(typed.split())
    if not words:
        return None
    tz = practice_tz()
    tests: List[Any] = []
    said_when: List[Text] = []
    said_with = said_for = said_what = None

    named = _dependants_named(tracker, words)
    if named:
        patient_ids = {d["id"] for d in named}
        tests.append(lambda a: a.patient_id in patient_ids)
        said_for = " or ".join(d["first_name"] for d in named)

    providers = await get_practice_system().providers()
    with_names = [p for p in providers
                  if {w for w in norm_text(p.display_name.split(",")[0]).split()
                      if len(w) >= 3 and w not in _TITLE_WORDS} & words]
    if with_names:
        provider_ids = {p.id for p in with_names}
        tests.append(lambda a: a.provider_id in provider_ids)
        said_with = " or ".join(p.display_name for p in with_names)

    visit_types = await get_practice_system().visit_types()
    keys = {v.id: set(norm_text(v.name).split()) - _GENERIC_VISIT_WORDS for v in visit_types}
    variants = words | ({"follow"} if {"followup", "followups"} & words else set()) | {w[:-1] for w in words if w.endswith("s")}
    kinds = []
    for v in visit_types:
        own = keys[v.id]
        distinct = {w for w in own - _WEAK_VISIT_WORDS if not any(w in k for i, k in keys.items() if i != v.id)}
        if own and (own <= variants or distinct & variants):
            kinds.append(v)
    if kinds:
        kind_ids = {v.id for v in kinds}
        tests.append(lambda a: a.visit_type_id in kind_ids)
        said_what = " or ".join(with_article(v.name.lower()) for v in kinds)

    days = {d for w, d in _DAY_WORDS.items() if w in words or w + "s" in words}
    if days:
        tests.append(lambda a: a.starts_at.astimezone(tz).weekday() in days)
        said_when.append("on " + " or ".join(WEEKDAY_NAMES[d] for d in sorted(days)))
    today = now_local().date()
    for word, day in (("today", today), ("tomorrow", today + timedelta(days=1))):
        if word in words:
            tests.append(lambda a, day=day: a.starts_at.astimezone(tz).date() == day)
            said_when.append(word)
    on_date = (re.search(r"\b" + _MONTH_RE + r"\s+(\d{1,2})(?:st|nd|rd|th)?\b", typed)
               or re.search(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTH_RE + r"\b", typed))
    if on_date:
        first, second = on_date.groups()
        month, day_number = (MONTH_WORDS[first], int(second)) if first in MONTH_WORDS else (MONTH_WORDS[second], int(first))
        tests.append(lambda a: (a.starts_at.astimezone(tz).month, a.starts_at.astimezone(tz).day) == (month, day_number))
        said_when.append(f"on {day_number} {date(2000, month, 1):%B}")
    for part, (start, end) in (("morning", MORNING), ("afternoon", AFTERNOON)):
        if part in words:
            tests.append(lambda a, s=start, e=end: s <= a.starts_at.astimezone(tz).time().replace(tzinfo=None) < e)
            said_when.append(f"in the {part}")
    clock = re.search(r"\b(\d{1,2})(?: (\d{2}))? ?(am|pm)\b", typed) or re.search(r"\b(\d{1,2}) (\d{2})\b()", typed)
    if clock and not on_date:
        hour, minute, meridiem = int(clock.group(1)), int(clock.group(2) or 0), clock.group(3)
        hours = {hour % 12 + (12 if meridiem == "pm" else 0)} if meridiem else {hour, hour + 12}
        tests.append(lambda a: (a.starts_at.astimezone(tz).hour in hours and a.starts_at.astimezone(tz).minute == minute))
        said_when.append("at " + clock_label(time(min(hours), minute)))

    chosen = [a for a in appts if all(test(a) for test in tests)]
    ordinal = re.search(r"\b(first|second|third|fourth|fifth|last)\b(?! (?:available|free|time|slot|opening|thing))", typed)
    if ordinal:
        index = len(chosen) - 1 if ordinal.group(1) == "last" else _ORDINAL_WORDS[ordinal.group(1)]
        chosen = [chosen[index]] if 0 <= index < len(chosen) else []
    elif not tests:
        return None
    if chosen:
        return _Named(chosen, None)
    if not tests:
        return _Named([], "I can't see that many upcoming appointments.")
    what = f"{said_what} booked" if said_what else "an appointment"
    with_part = f" with {said_with}" if said_with else ""
    when_part = (" " + " ".join(said_when)) if said_when else ""
    who = f"{said_for} doesn't" if said_for else "You don't"
    return _Named([], f"{who} have {what}{with_part}{when_part}.")


def _choice_said_back(appt: Dict[str, Any], tracker: Tracker) -> Text:
    """"That's your flu shot with Dr. Grace Hopperfake on Monday 30 November at 8 am." """
    whose = "your"
    if appt["patient_id"] != tracker.get_slot("verified_patient_id"):
        whose = f"{appt['patient_first_name']}'s"
    starts = datetime.fromisoformat(appt["starts_at"])
    return f"That's {whose} {appt['visit_type_name'].lower()} with {appt['provider_name']} on {when_text(starts)}."


async def _appointments_shown(tracker: Tracker) -> List[Any]:
    """The appointments "Which appointment...?" lists: those the first message described when
    it described several, otherwise all of the family's upcoming ones."""
    appts = await _upcoming_for_family(tracker)
    form = tracker.active_loop_name or ""
    request = _started_with(tracker, form) if form else None
    if form == "reschedule_form" and request:
        request, _ = _split_new_time(request)
    named = await _appointments_named(request, appts, tracker)
    if named is not None and len(named.matches) > 1:
        return named.matches
    return appts


async def bookable_visit_types() -> List[Any]:
    """The visit types offered here. Booking needs a verified patient, who has a record with us,
    so the practice's new-patient visit (clinic.yml `new_patient_visit_code`) is left out."""
    new_patient_code = clinic().get("new_patient_visit_code")
    return [v for v in await get_practice_system().visit_types() if v.code != new_patient_code]


async def _new_patient_visit() -> Optional[Any]:
    code = clinic().get("new_patient_visit_code")
    return next((v for v in await get_practice_system().visit_types() if v.code == code), None)


def visit_type_named(text: Text, visit_types: Sequence[Any]) -> Optional[Any]:
    """The one visit type whose name the text contains ("can I get a flu shot"), else None."""
    words = set(norm_text(text).split())
    named = [
        v for v in visit_types
        if (keys := set(norm_text(v.name).split()) - _GENERIC_VISIT_WORDS) and keys <= words
    ]
    return named[0] if len(named) == 1 else None


class ValidateBookingForm(_OfferingForm):
    """Booking. What the first message already said ("book a flu shot tomorrow morning") is
    used when the form reaches that question, instead of asking it again."""

    def name(self) -> Text:
        return "validate_booking_form"

    async def _request_answers(self, question, request, dispatcher, tracker) -> Dict[Text, Any]:
        """The slots the opening request fills for `question`, said back; {} if it does not."""
        if not request:
            return {}
        words = set(norm_text(request).split())
        if question == "appointment_for":
            dependants = tracker.get_slot("dependants") or []
            named = [d for d in dependants if norm_text(d["first_name"]) in words]
            if len(named) != 1:
                return {}
            dispatcher.utter_message(text=f"That's for {named[0]['first_name']}.")
            return {"appointment_for": str(named[0]["id"]), "subject_patient_id": named[0]["id"]}
        if question == "visit_type":
            visit = visit_type_named(request, await bookable_visit_types())
            if visit is None:
                return {}
            dispatcher.utter_message(text=f"That's {with_article(visit.name.lower())} ({visit.duration_minutes} min).")
            return {"visit_type": str(visit.id)}
        if question == "provider_pref":
            providers = await get_practice_system().providers(as_int(tracker.get_slot("visit_type")))
            named = [p for p in providers if _surname(p.display_name) in words]
            if len(named) != 1:
                return {}
            dispatcher.utter_message(text=f"With {named[0].display_name}.")
            return {"provider_pref": str(named[0].id)}
        if question == "time_preference" and parse_time_preference(request, now_local()) is not None:
            found = await self._offer(request, 0, tracker, dispatcher)
            return found if found.get("offered_slots") else {}
        return {}

    async def slots_after_verification(self, slots, tracker):
        if not tracker.get_slot("dependants"):
            slots = [s for s in slots if s != "appointment_for"]
        return slots

    def _search_target(self, tracker):
        provider = tracker.get_slot("provider_pref")
        return int(tracker.get_slot("visit_type")), (None if provider == "any" else int(provider))

    async def validate_appointment_for(self, value, dispatcher, tracker, domain):
        chosen = who_for(value, tracker)
        if chosen is None:
            # The question comes again with its buttons (action_ask_appointment_for): say why,
            # not the same question twice in a row.
            names = " or ".join(d["first_name"] for d in tracker.get_slot("dependants") or [])
            dispatcher.utter_message(text=f"Sorry, I need to know whether it's for you or for {names}.")
            return {"appointment_for": None}
        if chosen == tracker.get_slot("verified_patient_id"):
            return {"appointment_for": "self", "subject_patient_id": chosen}
        return {"appointment_for": str(chosen), "subject_patient_id": chosen}

    async def validate_visit_type(self, value, dispatcher, tracker, domain):
        visit_types = await bookable_visit_types()
        chosen = best_match(str(value or ""), [(v.name, v.id) for v in visit_types])
        if chosen is None:
            new_patient = await _new_patient_visit()
            if new_patient is not None and visit_type_named(str(value or ""), [new_patient]):
                dispatcher.utter_message(text="You're already registered with us, so you don't need a "
                                              "new patient visit. Please pick one of these by number.")
            else:
                dispatcher.utter_message(text="Please pick one of the visit types by number.")
            return {"visit_type": None}
        return {"visit_type": str(chosen)}

    async def validate_provider_pref(self, value, dispatcher, tracker, domain):
        text = norm_text(str(value or ""))
        if text in ("any", "anyone", "no preference", "none", "dont mind", "don t mind", "doesn t matter", "whoever", "first available", "0"):
            return {"provider_pref": "any"}
        providers = await get_practice_system().providers(int(tracker.get_slot("visit_type")))
        # The list is numbered "0. No preference", "1. <first clinician>", ... (an SMS patient
        # types the number): read a number against that list, not best_match's 1-based one.
        number = re.fullmatch(r"(?:option |number |no |#)?(\d{1,2})", text)
        if number:
            n = int(number.group(1))
            if n == 0:
                return {"provider_pref": "any"}
            if n <= len(providers):
                return {"provider_pref": str(providers[n - 1].id)}
            dispatcher.utter_message(text=f"Please pick a number from 0 to {len(providers)}, or say \"no preference\".")
            return {"provider_pref": None}
        options = [("no preference", "any")] + [(p.display_name, str(p.id)) for p in providers]
        chosen = best_match(re.sub(r"^(dr|doctor|nurse|np)\s+", "", text), options) or best_match(text, options)
        if chosen is None:
            dispatcher.utter_message(text="Please pick a clinician by number, or say \"no preference\".")
            return {"provider_pref": None}
        return {"provider_pref": chosen}

    async def choose(self, slot, dispatcher, tracker):
        patient_id, _ = self._whose_calendar(tracker)
        try:
            hold_id = await get_practice_system().hold_slot(patient_id, slot, holder_key=tracker.sender_id)
        except SlotUnavailable as error:
            return await self._taken(dispatcher, tracker, error)
        return {"slot_choice": {"slot": slot_to_dict(slot), "hold_id": hold_id}}

    async def validate_booking_confirmed(self, value, dispatcher, tracker, domain):
        if value is not True:
            dispatcher.utter_message(text="No problem, I haven't booked that.")
            return await self._next_page(tracker, dispatcher)
        choice = tracker.get_slot("slot_choice") or {}
        patient_id, _ = self._whose_calendar(tracker)
        try:
            appt = await get_practice_system().book(
                patient_id,
                slot_from_dict(choice["slot"]),
                hold_id=choice.get("hold_id"),
                booked_by_patient_id=tracker.get_slot("verified_patient_id"),
            )
        except SlotUnavailable as error:
            return await self._taken(dispatcher, tracker, error)
        return {"booking_confirmed": True, "last_appointment": appointment_summary(appt)}


class ValidateRescheduleForm(_OfferingForm):
    def name(self) -> Text:
        return "validate_reschedule_form"

    async def slots_after_verification(self, slots, tracker):
        if tracker.get_slot("appointment_choice") is None and not await _upcoming_for_family(tracker):
            return []  # nothing to move: the finishing action says so
        return slots

    def _search_target(self, tracker):
        appt = tracker.get_slot("appointment_choice") or {}
        return int(appt["visit_type_id"]), int(appt["provider_id"])

    def _whose_calendar(self, tracker):
        appt = tracker.get_slot("appointment_choice") or {}
        return appt.get("patient_id"), appt.get("id")

    async def validate_appointment_choice(self, value, dispatcher, tracker, domain):
        chosen = await _validate_appointment_choice(value, dispatcher, tracker)
        if chosen.get("appointment_choice") is None and not isinstance(value, dict):
            shown = await _appointments_shown(tracker)
            text = str(value or "")
            if len(shown) == 1 and parse_time_preference(text, now_local()) is not None:
                # One appointment listed and a time for answer ("next friday afternoon"): that
                # one, moved to then. Not "Please reply with the number", the time lost.
                del dispatcher.messages[-1:]
                return await self._take_with_time(appointment_summary(shown[0]), text, dispatcher, tracker)
        return chosen

    async def _take_with_time(self, appt, text, dispatcher, tracker) -> Dict[Text, Any]:
        dispatcher.utter_message(text=_choice_said_back(appt, tracker))
        tracker.slots["appointment_choice"] = appt
        offered = await self._offer(text, 0, tracker, dispatcher)
        return {"appointment_choice": appt, **(offered if offered.get("offered_slots") else {})}

    async def _request_answers(self, question, request, dispatcher, tracker) -> Dict[Text, Any]:
        if question == "appointment_choice":
            described = _split_new_time(request)[0] if request else None
            return await _choice_from_request(described, dispatcher, tracker)
        if question == "time_preference" and request:
            _, new_time = _split_new_time(request)
            if new_time:
                found = await self._offer(new_time, 0, tracker, dispatcher)
                return found if found.get("offered_slots") else {}
        return {}

    async def validate_booking_confirmed(self, value, dispatcher, tracker, domain):
        if value is not True:
            dispatcher.utter_message(text="No problem, I haven't changed anything.")
            return await self._next_page(tracker, dispatcher)
        appt = tracker.get_slot("appointment_choice")
        choice = tracker.get_slot("slot_choice") or {}
        try:
            moved = await get_practice_system().reschedule(
                appt["id"], appt["patient_id"], slot_from_dict(choice["slot"])
            )
        except SlotUnavailable as error:
            return await self._taken(dispatcher, tracker, error)
        except (AppointmentNotChangeable, NotFound):
            dispatcher.utter_message(text=_CANNOT_CHANGE)
            return {"booking_confirmed": False, "requested_slot": None}
        return {"booking_confirmed": True, "last_appointment": appointment_summary(moved)}


class ValidateCancelForm(_FirstMessageForm):
    def name(self) -> Text:
        return "validate_cancel_form"

    async def slots_after_verification(self, slots, tracker):
        if tracker.get_slot("appointment_choice") is None and not await _upcoming_for_family(tracker):
            return []
        return slots

    async def validate_appointment_choice(self, value, dispatcher, tracker, domain):
        return await _validate_appointment_choice(value, dispatcher, tracker)

    async def _request_answers(self, question, request, dispatcher, tracker) -> Dict[Text, Any]:
        if question == "appointment_choice":
            return await _choice_from_request(request, dispatcher, tracker)
        return {}


class ValidateAppointmentsForm(VerifiedFormValidation):
    def name(self) -> Text:
        return "validate_appointments_form"


async def _validate_appointment_choice(value, dispatcher, tracker) -> Dict[Text, Any]:
    """The answer to "Which appointment...?": a number or position of the list shown ("2",
    "the second one"), or words describing one ("the flu shot", "the one on monday", "the one
    with dr hopperfake", "tiny's"), said back when it was words."""
    if isinstance(value, dict):
        return {"appointment_choice": value}
    text = str(value or "")
    shown = await _appointments_shown(tracker)
    offered = [SimpleNamespace(starts_at=a.starts_at, provider_name=a.provider_name) for a in shown]
    index = parse_choice(text, offered, tz=practice_tz())
    if index is None:
        index = best_match(text, [(_appointment_line(a, tracker), i) for i, a in enumerate(shown)])
    if index is not None and re.fullmatch(r"\W*(?:#|no\.?|number|option)?\s*\d{1,2}\W*", text.lower()):
        return {"appointment_choice": appointment_summary(shown[index])}
    picked = shown[index] if index is not None else None
    if picked is None:
        # Words describing one: of the list shown, else of all the family's appointments.
        for pool in (shown, await _upcoming_for_family(tracker)):
            named = await _appointments_named(text, pool, tracker)
            if named is not None and len(named.matches) == 1:
                picked = named.matches[0]
                break
    if picked is None:
        dispatcher.utter_message(text="Please reply with the number of the appointment.")
        return {"appointment_choice": None}
    chosen = appointment_summary(picked)
    dispatcher.utter_message(text=_choice_said_back(chosen, tracker))
    return {"appointment_choice": chosen}


async def _choice_from_request(described, dispatcher, tracker) -> Dict[Text, Any]:
    """The appointment the first message names ("cancel the one with dr lovetest"), or the
    only one there is; {} to ask, with a word when nothing matches what was named."""
    appts = await _upcoming_for_family(tracker)
    if not appts:
        return {}
    named = await _appointments_named(described, appts, tracker)
    if named is None:
        matches = appts  # nothing named: the only one, if there is only one
    elif not named.matches:
        # Never another one in its place: say so, and the question lists what there is.
        dispatcher.utter_message(text=named.missing)
        return {}
    else:
        matches = named.matches
    if len(matches) != 1:
        return {}
    chosen = appointment_summary(matches[0])
    dispatcher.utter_message(text=_choice_said_back(chosen, tracker))
    return {"appointment_choice": chosen}


# --- questions with dynamic content ------------------------------------------------------


class ActionAskAppointmentFor(Action):
    def name(self) -> Text:
        return "action_ask_appointment_for"

    async def run(self, dispatcher, tracker, domain):
        dependants = tracker.get_slot("dependants") or []
        buttons = [button("Myself", "myself")] + [button(d["first_name"], d["first_name"]) for d in dependants]
        dispatcher.utter_message(text="Who is the appointment for?", buttons=buttons)
        return []


class ActionAskVisitType(Action):
    def name(self) -> Text:
        return "action_ask_visit_type"

    async def run(self, dispatcher, tracker, domain):
        visit_types = await bookable_visit_types()
        lines = [f"{i}. {v.name} ({v.duration_minutes} min)" for i, v in enumerate(visit_types, 1)]
        dispatcher.utter_message(
            text="What kind of visit do you need?\n" + "\n".join(lines),
            buttons=[button(f"{v.name} ({v.duration_minutes} min)", str(i)) for i, v in enumerate(visit_types, 1)],
        )
        return []


class ActionAskProviderPref(Action):
    def name(self) -> Text:
        return "action_ask_provider_pref"

    async def run(self, dispatcher, tracker, domain):
        providers = await get_practice_system().providers(as_int(tracker.get_slot("visit_type")))
        lines = ["0. No preference"] + [f"{i}. {p.display_name}" for i, p in enumerate(providers, 1)]
        buttons = [button("No preference", "no preference")] + [
            button(p.display_name, p.display_name) for p in providers
        ]
        dispatcher.utter_message(
            text="Would you like to see a particular clinician?\n" + "\n".join(lines), buttons=buttons
        )
        return []


class ActionAskSlotChoice(Action):
    def name(self) -> Text:
        return "action_ask_slot_choice"

    async def run(self, dispatcher, tracker, domain):
        offers = [slot_from_dict(s) for s in tracker.get_slot("offered_slots") or []]
        text, buttons = offers_message(offers)
        dispatcher.utter_message(text=text, buttons=buttons)
        return []


class ActionAskBookingConfirmed(Action):
    def name(self) -> Text:
        return "action_ask_booking_confirmed"

    async def run(self, dispatcher, tracker, domain):
        slot = slot_from_dict((tracker.get_slot("slot_choice") or {})["slot"])
        visit = await _visit_type_name(tracker)
        moving = tracker.active_loop.get("name") == "reschedule_form"
        # Whose appointment, said every time: a parent who asked "for my daughter" with no child
        # linked to their record would otherwise book for themselves without noticing.
        verb = "Move your appointment to" if moving else f"Book {visit} for {_whose(tracker)} on"
        text = f"{verb} {when_text(slot.starts_at)} with {slot.provider_name} at {slot.location_name}?"
        if moving:
            old = tracker.get_slot("appointment_choice") or {}
            if old.get("starts_at") and _within_notice(datetime.fromisoformat(old["starts_at"])):
                text += f"\nPlease note: your current appointment is less than 24 hours away. {_policy_text()}"
        else:
            text += await _already_booked_note(tracker)
        dispatcher.utter_message(
            text=text + "\nReply yes to confirm, or \"other times\".",
            buttons=[button("Yes, confirm", "/affirm"), button("Other times", "/none_of_these")],
        )
        return []


async def _already_booked_note(tracker: Tracker) -> str:
    """A second appointment of the same kind is usually a mistake (a second flu shot was booked
    without a word): say so at the confirmation, without refusing it."""
    subject = tracker.get_slot("subject_patient_id") or tracker.get_slot("verified_patient_id")
    vt_id = as_int(tracker.get_slot("visit_type"))
    if subject is None or vt_id is None:
        return ""
    upcoming = await get_practice_system().upcoming_appointments(subject, now_local())
    same = sorted((a for a in upcoming if a.visit_type_id == vt_id), key=lambda a: a.starts_at)
    if not same:
        return ""
    whose = _whose(tracker)
    who = "you already have" if whose.startswith("you") else f"{whose} already has"
    return f"\nPlease note: {who} {with_article(same[0].visit_type_name.lower())} booked on {when_text(same[0].starts_at)}."


def with_article(name: str) -> str:
    return ("an " if name[:1].lower() in "aeiou" else "a ") + name


def _whose(tracker: Tracker) -> str:
    subject = tracker.get_slot("subject_patient_id")
    if subject is not None and subject != tracker.get_slot("verified_patient_id"):
        for dependant in tracker.get_slot("dependants") or []:
            if dependant.get("id") == subject:
                return dependant["first_name"]
    first = tracker.get_slot("verified_first_name")
    return f"you ({first})" if first else "you"


async def _visit_type_name(tracker: Tracker) -> str:
    if tracker.active_loop.get("name") == "reschedule_form":
        return (tracker.get_slot("appointment_choice") or {}).get("visit_type_name", "the appointment")
    vt_id = as_int(tracker.get_slot("visit_type"))
    for vt in await get_practice_system().visit_types():
        if vt.id == vt_id:
            return with_article(vt.name.lower())
    return "the appointment"


class ActionAskAppointmentChoice(Action):
    def name(self) -> Text:
        return "action_ask_appointment_choice"

    async def run(self, dispatcher, tracker, domain):
        appts = await _appointments_shown(tracker)
        verb = "move" if tracker.active_loop.get("name") == "reschedule_form" else "cancel"
        lines = [f"{i}. {_appointment_line(a, tracker)}" for i, a in enumerate(appts, 1)]
        dispatcher.utter_message(
            text=f"Which appointment would you like to {verb}?\n" + "\n".join(lines),
            buttons=[button(f"{i}. {when_text(a.starts_at)}", str(i)) for i, a in enumerate(appts, 1)],
        )
        return []


class ActionAskCancelConfirmed(Action):
    def name(self) -> Text:
        return "action_ask_cancel_confirmed"

    async def run(self, dispatcher, tracker, domain):
        appt = tracker.get_slot("appointment_choice") or {}
        starts = datetime.fromisoformat(appt["starts_at"])
        text = f"Cancel your {appt['visit_type_name']} with {appt['provider_name']} on {when_text(starts)}?"
        if _within_notice(starts):
            text += f"\nThis appointment is less than 24 hours away. {_policy_text()}"
        dispatcher.utter_message(
            text=text,
            buttons=[button("Yes, cancel it", "/affirm"), button("No, keep it", "/deny")],
        )
        return []


# --- what happens when a form completes -----------------------------------------------------


def _confirmation_text(appt: Dict[str, Any], moved: bool) -> str:
    starts = datetime.fromisoformat(appt["starts_at"])
    lines = [
        ("Done, your appointment is moved." if moved else "You're booked.")
        + f" {appt['visit_type_name']} for {appt['patient_first_name']} with {appt['provider_name']}",
        f"When: {when_text(starts)}",
        f"Where: {appt['location_name']}, {appt['location_address']}",
        f"Reference: {appt['reference']}",
    ]
    if appt.get("prep_notes"):
        lines.append(f"Before you come: {appt['prep_notes']}")
    lines.append(_policy_text())
    return "\n".join(lines)


def _unverified_reply(tracker: Tracker, dispatcher: CollectingDispatcher) -> bool:
    if tracker.get_slot("verified_patient_id") is None:
        dispatcher.utter_message(
            text=f"I wasn't able to verify your identity, so nothing was changed. You can call us on {clinic()['phone_display']}."
        )
        return True
    return False


class ActionFinishBooking(Action):
    def name(self) -> Text:
        return "action_finish_booking"

    async def run(self, dispatcher, tracker, domain):
        if not _unverified_reply(tracker, dispatcher):
            appt = tracker.get_slot("last_appointment")
            if tracker.get_slot("booking_confirmed") is True and appt:
                dispatcher.utter_message(text=_confirmation_text(appt, moved=False))
        return reset_form_slots()


class ActionFinishReschedule(Action):
    def name(self) -> Text:
        return "action_finish_reschedule"

    async def run(self, dispatcher, tracker, domain):
        offered = None
        if not _unverified_reply(tracker, dispatcher):
            if tracker.get_slot("appointment_choice") is None:
                offered = offer_task(dispatcher, "You don't have any upcoming appointments to move. "
                                     "Would you like to book one?", "book_appointment")
            elif tracker.get_slot("booking_confirmed") is True:
                dispatcher.utter_message(text=_confirmation_text(tracker.get_slot("last_appointment"), moved=True))
        return reset_form_slots() + [SlotSet(OFFERED_TASK, offered)]


class ActionFinishCancel(Action):
    def name(self) -> Text:
        return "action_finish_cancel"

    async def run(self, dispatcher, tracker, domain):
        nothing_offered = [SlotSet(OFFERED_TASK, None)]
        if _unverified_reply(tracker, dispatcher):
            return reset_form_slots() + nothing_offered
        appt = tracker.get_slot("appointment_choice")
        if appt is None:
            dispatcher.utter_message(text="You don't have any upcoming appointments to cancel.")
        elif tracker.get_slot("cancel_confirmed") is True:
            try:
                cancelled = await get_practice_system().cancel(appt["id"], appt["patient_id"])
            except (AppointmentNotChangeable, NotFound):
                dispatcher.utter_message(text=_CANNOT_CHANGE)
                return reset_form_slots() + nothing_offered
            offered = offer_task(
                dispatcher,
                f"Your appointment on {when_text(cancelled.starts_at)} is cancelled "
                f"(reference {cancelled.reference}). Would you like to book another time?",
                "book_appointment",
            )
            return reset_form_slots() + [SlotSet(OFFERED_TASK, offered)]
        else:
            dispatcher.utter_message(text="Okay, I've kept your appointment as it is.")
        return reset_form_slots() + nothing_offered


class ActionListAppointments(Action):
    def name(self) -> Text:
        return "action_list_appointments"

    async def run(self, dispatcher, tracker, domain):
        offered = None
        if _unverified_reply(tracker, dispatcher):
            return reset_form_slots() + [SlotSet(OFFERED_TASK, offered)]
        appts = await _upcoming_for_family(tracker)
        asked_about = _family_member_named(tracker, _last_started_with(tracker, "appointments_form"))
        if asked_about is not None:
            # "what does Tiny have booked": Tiny's, not the whole family's list.
            appts = [a for a in appts if a.patient_id == asked_about["id"]]
            if not appts:
                name = asked_about["first_name"]
                offered = offer_task(dispatcher, f"{name} doesn't have any upcoming appointments. "
                                                 f"Would you like to book one for {name}?", "book_appointment")
                return reset_form_slots() + [SlotSet(OFFERED_TASK, offered)]
            lines = [f"{i}. {_appointment_line(a, tracker)}" for i, a in enumerate(appts, 1)]
            dispatcher.utter_message(text=f"{asked_about['first_name']}'s upcoming appointments:\n" + "\n".join(lines))
        elif not appts:
            offered = offer_task(dispatcher, "You don't have any upcoming appointments. Would you like to book one?",
                                 "book_appointment")
        else:
            lines = [f"{i}. {_appointment_line(a, tracker)}" for i, a in enumerate(appts, 1)]
            dispatcher.utter_message(text="Your upcoming appointments:\n" + "\n".join(lines))
        return reset_form_slots() + [SlotSet(OFFERED_TASK, offered)]
