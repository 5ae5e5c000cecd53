"""Handing a conversation to a person.

Asked for at any time ("talk to a person"), after two misunderstandings in a row, or on clear
frustration (both offer the handoff; the patient chooses), and after an AI opt-out.

- In office hours (bot/content/clinic.yml `hours`, minus lunch and closures): staff are told
  in Slack with a summary that carries no PHI (what the patient was doing, not what they
  typed) and a reference number, and the conversation pauses: until staff close the
  handoff (`resume HO-XXXXXX` in Slack), every message gets a short "a person will be with
  you" reply. An emergency still interrupts the pause.
- Outside office hours: a callback request with the patient's preferred time, and the
  patient is told when to expect the call (the next opening).
On the web the patient is asked for a number to call; by SMS the number they text from is
used (it reaches the action server only encrypted, see actions/verification.py).
"""

from __future__ import annotations

import logging
import re
import time
from datetime import date, datetime, timedelta
from typing import Any, Dict, List, Optional, Set, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.forms import FormValidationAction

from actions.common import clinic, now_local, when_text
from actions.form_retries import RetryLimitedFormValidation
from actions.notifications import notify_staff
from actions.practice import get_practice_system
from actions.practice.clinic import lunch_break, opening_hours
from actions.practice.matching import e164_phone, phone_in
from actions.practice.port import HANDOFF_CALLBACK, HANDOFF_LIVE, Handoff, NotFound
from actions.verification import VerifiedFormValidation, is_sms, sms_sender_number
from privacy.references import new_reference

logger = logging.getLogger(__name__)

HANDOFF_SLOTS = ("callback_phone", "callback_time", "handoff_reason", "handoff_reference",
                 "handoff_resumed")
# What each form is, in words staff can read (no PHI: the kind of task, not its content).
FORM_TOPICS = {
    "booking_form": "booking an appointment",
    "reschedule_form": "moving an appointment",
    "cancel_form": "cancelling an appointment",
    "appointments_form": "checking appointments",
    "refill_form": "a prescription refill",
    "refill_status_form": "a refill status",
}


# --- office hours ---------------------------------------------------------------------


def open_by_the_week(moment: datetime) -> bool:
    """Within the regular weekly hours and not over lunch (closures are not checked here)."""
    hours = opening_hours().get(moment.weekday())
    if hours is None:
        return False
    local = moment.time()
    if not (hours[0] <= local < hours[1]):
        return False
    lunch = lunch_break()
    return not (lunch and lunch[0] <= local < lunch[1])


async def practice_closed_days(first: date, last: date) -> Set[date]:
    """Days (both ends included) the whole practice is closed: holidays and the like."""
    closures = await get_practice_system().closures(first, last)
    # One location closed (location_id set) still leaves the team at work elsewhere.
    return {closure.date for closure in closures if closure.location_id is None}


async def in_office_hours(moment: datetime) -> bool:
    """Whether a person can answer now: weekly hours, lunch and the practice's closures."""
    if not open_by_the_week(moment):
        return False
    return moment.date() not in await practice_closed_days(moment.date(), moment.date())


# How far ahead to look for the next opening; past it the patient is told one day on.
NEXT_OPENING_HORIZON_DAYS = 60


async def next_opening(moment: datetime) -> datetime:
    """The next time the office is open, from `moment` (itself if open now)."""
    closed = await practice_closed_days(
        moment.date(), moment.date() + timedelta(days=NEXT_OPENING_HORIZON_DAYS))
    if open_by_the_week(moment) and moment.date() not in closed:
        return moment
    day = moment
    for _ in range(NEXT_OPENING_HORIZON_DAYS):
        hours = opening_hours().get(day.weekday())
        if hours is not None and day.date() not in closed:
            candidates = [datetime.combine(day.date(), hours[0], moment.tzinfo)]
            lunch = lunch_break()
            if lunch:
                candidates.append(datetime.combine(day.date(), lunch[1], moment.tzinfo))
            for start in sorted(candidates):
                if start > moment and open_by_the_week(start):
                    return start
        day = (day + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return moment + timedelta(days=1)


# --- starting a handoff -----------------------------------------------------------------


KNOWN_CHANNELS = frozenset({"rest", "widget", "socketio", "sms", "slack", "cmdline"})


def known_channel(tracker: Tracker) -> str:
    """The channel, as staff may be shown it. The REST channel takes its name from the
    request body, so anything but a channel we know is "web"."""
    said = str(tracker.get_latest_input_channel() or "")
    return said if said in KNOWN_CHANNELS else "web"


def handoff_summary(tracker: Tracker, reason: str) -> str:
    """For staff: channel, verified or not, what the patient was doing. Never their words."""
    channel = known_channel(tracker)
    verified = "verified patient" if tracker.get_slot("verified_patient_id") else "not verified"
    doing = None
    for event in reversed(tracker.events):
        if event.get("event") == "active_loop" and event.get("name") in FORM_TOPICS:
            doing = FORM_TOPICS[event["name"]]
            break
    parts = [f"channel {channel}", verified, f"reason: {reason}"]
    if doing:
        parts.append(f"was {doing}")
    return "; ".join(parts)


def handoff_reason(tracker: Tracker) -> str:
    intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
    if intent == "ai_opt_out":
        return "AI opt-out"
    text = ((tracker.latest_message or {}).get("text") or "").lower()
    if re.search(r"useless|frustrat|not helping|stupid|ridiculous|waste of time|annoy", text):
        return "frustrated"
    if any(e.get("event") == "action" and e.get("name") == "action_fallback"
           for e in tracker.events[-6:]):
        return "misunderstood"
    return "asked"


class ActionHumanHandoff(Action):
    """Start the handoff: ask how to reach the patient (and when, outside hours). A number
    given with the request ("call me back at 312-555-0188") is not asked for again."""

    def name(self) -> Text:
        return "action_human_handoff"

    async def run(self, dispatcher, tracker, domain):
        from actions.conversation import reset_form_slots

        waiting = await get_practice_system().waiting_handoff(tracker.sender_id)
        if waiting is not None:
            dispatcher.utter_message(text=_waiting_text(waiting.reference, waiting.kind))
            return reset_form_slots() + pause(waiting.reference, waiting.kind)
        reason = tracker.get_slot("handoff_reason") or handoff_reason(tracker)
        open_now = await in_office_hours(now_local())
        if open_now:
            dispatcher.utter_message(text="Of course, I'll get a member of our team for you.")
        else:
            opens = await next_opening(now_local())
            dispatcher.utter_message(
                text=f"Of course. The office is closed right now, so I'll ask the team to call "
                f"you back. We open again {when_text(opens)}."
            )
        number = None if is_sms(tracker) else phone_in(tracker.latest_message.get("text") or "")
        given = [SlotSet("callback_phone", number)] if number else []
        return reset_form_slots() + given + [
            SlotSet("handoff_reason", reason),
            FollowupAction("handoff_form"),
        ]


class ValidateHandoffForm(RetryLimitedFormValidation):
    def name(self) -> Text:
        return "validate_handoff_form"

    async def required_slots(self, domain_slots, dispatcher, tracker, domain):
        slots = []
        if not is_sms(tracker):
            slots.append("callback_phone")
        if not await in_office_hours(now_local()):
            slots.append("callback_time")
        return slots

    async def validate_callback_phone(self, value, dispatcher, tracker, domain):
        number = e164_phone(str(value or ""))
        if number is None:
            dispatcher.utter_message(
                text="I couldn't read that as a phone number. Please type it with the area code, "
                "for example 312-555-0100."
            )
        return {"callback_phone": number}

    async def validate_callback_time(self, value, dispatcher, tracker, domain):
        text = " ".join(str(value or "").split())[:120]
        return {"callback_time": text or None}


class ActionAskCallbackPhone(Action):
    def name(self) -> Text:
        return "action_ask_callback_phone"

    async def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(text="What number should the team call you on?")
        return []


class ActionAskCallbackTime(Action):
    def name(self) -> Text:
        return "action_ask_callback_time"

    async def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(
            text="When is a good time for the call? For example \"tomorrow morning\" or \"after 3\".",
            buttons=[{"title": "Any time", "payload": "any time"}],
        )
        return []


class ActionFinishHandoff(Action):
    """Record the handoff, tell staff, tell the patient, and pause for a live handoff."""

    def name(self) -> Text:
        return "action_finish_handoff"

    async def run(self, dispatcher, tracker, domain):
        open_now = await in_office_hours(now_local())
        phone = sms_sender_number(tracker) if is_sms(tracker) else tracker.get_slot("callback_phone")
        kind = HANDOFF_LIVE if open_now else HANDOFF_CALLBACK
        reason = tracker.get_slot("handoff_reason") or "asked"
        handoff = await get_practice_system().create_handoff(
            tracker.sender_id, known_channel(tracker), kind, reason,
            patient_id=tracker.get_slot("verified_patient_id"),
            callback_phone=phone, callback_time=tracker.get_slot("callback_time"),
        )
        await notify_staff(
            "Patient waiting for a person" if open_now else "Callback requested",
            handoff.reference,
            handoff_summary(tracker, reason),
        )
        info = clinic()
        if open_now:
            dispatcher.utter_message(
                text=f"I've asked our team to call you shortly (reference {handoff.reference}). "
                f"If you'd rather call us, it's {info['phone_display']}. I'll wait here until "
                "they've helped you. If this is an emergency, call 911."
            )
            return [SlotSet("callback_phone", None), SlotSet("callback_time", None)] + pause(
                handoff.reference, kind)
        opens = await next_opening(now_local())
        preferred = tracker.get_slot("callback_time")
        when = f"from {when_text(opens)}" + (f", aiming for \"{preferred}\"" if preferred and preferred != "any time" else "")
        dispatcher.utter_message(
            text=f"Thanks. Your callback request is in (reference {handoff.reference}). The team "
            f"will call you {when}. If this is an emergency, call 911."
        )
        return [SlotSet(name, None) for name in HANDOFF_SLOTS]


def pause(reference: str, kind: str) -> List[EventType]:
    """For a live handoff, the wait form next: holding replies until staff close it."""
    if kind != HANDOFF_LIVE:
        return []
    return [SlotSet("handoff_reference", reference), FollowupAction("handoff_wait_form")]


def _waiting_text(reference: str, kind: str) -> str:
    if kind == HANDOFF_LIVE:
        return (f"A member of our team will be with you shortly (reference {reference}). If "
                "this is an emergency, call 911.")
    return (f"Your callback request is already in (reference {reference}); the team will call "
            "you. If this is an emergency, call 911.")


# Staff see a handoff as waiting until they close it. Whatever else happens meanwhile (an
# emergency, a new session after 30 idle minutes), the patient is told the same and kept in
# the pause, or they would be talking to the bot while listed as waiting for a person.


async def handoff_still_open(conversation_id: str) -> Optional[Handoff]:
    """The conversation's waiting handoff, or None; None too when the practice database
    cannot be read, because the callers' own replies (an emergency reply, a session's
    disclosure) must go out regardless."""
    try:
        return await get_practice_system().waiting_handoff(conversation_id)
    except Exception as error:  # noqa: BLE001
        logger.error("Could not check for a waiting handoff (%s)", type(error).__name__)
        return None


def still_waiting_after_emergency_text(reference: str) -> str:
    # The emergency replies say "do not wait for a reply here": this must not contradict them.
    return (f"Please follow that advice first; don't wait for us. Your request to talk to a "
            f"member of our team is still open (reference {reference}), and I've told them "
            "about this message.")


def rejoin_wait(reference: str) -> List[EventType]:
    """Events that start a new session already in the pause. Not a FollowupAction: the
    message that started the session comes next, and it must reach the wait form (which
    answers with the holding reply) rather than the normal dialogue."""
    return [SlotSet("handoff_reference", reference), ActiveLoop("handoff_wait_form"),
            SlotSet("requested_slot", "handoff_resumed")]


class ValidateHandoffWaitForm(FormValidationAction):
    """The pause: every message gets a holding reply until staff close the handoff."""

    def name(self) -> Text:
        return "validate_handoff_wait_form"

    async def validate_handoff_resumed(self, value, dispatcher, tracker, domain):
        if value is None:
            # Not a message: the slot was only cleared on the way in (the form validates
            # that too when an action, e.g. the emergency reply, puts the patient back).
            return {"handoff_resumed": None}
        if await get_practice_system().waiting_handoff(tracker.sender_id) is None:
            return {"handoff_resumed": True}
        reference = tracker.get_slot("handoff_reference") or ""
        dispatcher.utter_message(text=_waiting_text(reference, HANDOFF_LIVE))
        return {"handoff_resumed": None}


class ActionAskHandoffResumed(Action):
    """Silent: the holding reply comes from the validation."""

    def name(self) -> Text:
        return "action_ask_handoff_resumed"

    async def run(self, dispatcher, tracker, domain):
        return []


# Requests worth answering straight away when they are the first message after staff close
# a handoff; anything else ("hello?", "thanks") gets the menu instead.
HANDED_ON_INTENTS = frozenset({
    "book_appointment", "reschedule_appointment", "cancel_appointment", "list_appointments",
    "request_refill", "refill_status", "ask_ai_use", "ai_opt_out", "ask_what_you_know",
    "forget_me", "human_handoff", "ask_hours", "ask_parking", "ask_insurance", "ask_new_patient",
    "ask_visit_prep",
})


class ActionHandoffResumed(Action):
    """Staff closed the handoff. The message that found out was read by the wait form; if
    it was a request, it is handed on to the normal dialogue rather than asked for again."""

    def name(self) -> Text:
        return "action_handoff_resumed"

    async def run(self, dispatcher, tracker, domain):
        from actions.conversation import menu_buttons

        events = [SlotSet(name, None) for name in HANDOFF_SLOTS]
        request = _latest_user_event(tracker)
        intent = (((request or {}).get("parse_data") or {}).get("intent") or {}).get("name")
        if request is None or intent not in HANDED_ON_INTENTS:
            dispatcher.utter_message(
                text="Our team has finished helping you, so you're back with the automated "
                "assistant. What can I help you with?",
                buttons=menu_buttons(),
            )
            return events
        dispatcher.utter_message(
            text="Our team has finished helping you, so you're back with the automated assistant.")
        # The same message again, after a listen: the policies then handle it as if it had
        # just arrived (Rasa's two-stage fallback re-enters a message the same way).
        return events + [ActionExecuted("action_listen"), {**request, "timestamp": time.time()}]


def _latest_user_event(tracker: Tracker) -> Optional[Dict[str, Any]]:
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return event
    return None


# --- "I don't want AI involved in my care" ---------------------------------------------


class ValidateAiOptOutForm(VerifiedFormValidation):
    """Verify first, so the opt-out is recorded against the right patient record."""

    def name(self) -> Text:
        return "validate_ai_opt_out_form"


class ActionRecordAiOptOut(Action):
    """Record the opt-out (patient id, disclosure version, time: no PHI), tell the care team,
    then hand over to a person."""

    def name(self) -> Text:
        return "action_record_ai_opt_out"

    async def run(self, dispatcher, tracker, domain):
        from actions.common import load_content

        patient_id = tracker.get_slot("verified_patient_id")
        version = str(tracker.get_slot("disclosure_version") or load_content("disclosure.yml").get("version"))
        if patient_id is None:
            dispatcher.utter_message(
                text="I couldn't confirm who you are, so I haven't recorded it here. I'll pass "
                "you to a person, who can record it for you."
            )
        else:
            reference = new_reference("AO")
            await get_practice_system().record_ai_opt_out(int(patient_id), version, reference)
            await notify_staff("AI opt-out recorded", reference,
                               f"disclosure version {version}; please flag the patient's care record "
                               "(`make staff-refills ARGS=opt-outs` shows who)")
            dispatcher.utter_message(
                text="I've recorded that you don't want AI involved in your care, and told the "
                "care team. Next, I'll put you in touch with a person."
            )
        return [SlotSet("handoff_reason", "AI opt-out"), FollowupAction("action_human_handoff")]


# --- staff side -------------------------------------------------------------------------


async def handoff_queue_text() -> str:
    waiting = await get_practice_system().handoff_queue()
    if not waiting:
        return "No patients are waiting for a person."
    lines = []
    for handoff in waiting:
        what = "waiting now" if handoff.kind == HANDOFF_LIVE else "callback"
        lines.append(f"• `{handoff.reference}`: {what} since {handoff.created_at:%a %d %b %H:%M}, "
                     f"{handoff.channel}, reason: {handoff.reason}")
    return (f"{len(waiting)} waiting:\n" + "\n".join(lines)
            + "\n_The number to call is in the practice system under the reference. "
            "`resume HO-XXXXXX` when done._")


async def resume_conversation(reference: str) -> str:
    try:
        handoff = await get_practice_system().close_handoff(reference)
    except NotFound:
        return f"There is no handoff `{reference}`. `handoffs` lists the waiting ones."
    return (f"`{handoff.reference}` is closed: the assistant answers that conversation again "
            "from the patient's next message.")
