"""Conversation-level actions: session start with the AI disclosure, greeting and the menu,
clinic information, leaving a form or switching task, fallbacks, emergencies and reaching a
person."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.booking import reset_form_slots as reset_booking_slots
from actions.refills import reset_refill_slots
from actions.common import OFFERED_TASK, clinic, load_content, offer_task
from actions.handoff import (
    handoff_still_open,
    pause,
    rejoin_wait,
    still_waiting_after_emergency_text,
)
from actions.form_retries import MAX_MISSES, REASKS_SLOT, give_up, misses_so_far
from actions.verification import IDENTITY_SLOTS
from actions.notifications import notify_staff
from actions.practice.port import HANDOFF_LIVE
from bot.channel_roles import is_staff_message
from bot.safety import emergency_reply, load_lexicon
from privacy.references import new_reference

logger = logging.getLogger(__name__)


def menu_buttons() -> List[Dict[str, str]]:
    return [
        {"title": "Book an appointment", "payload": "/book_appointment"},
        {"title": "Change an appointment", "payload": "/reschedule_appointment"},
        {"title": "Cancel an appointment", "payload": "/cancel_appointment"},
        {"title": "My appointments", "payload": "/list_appointments"},
        {"title": "Prescription refill", "payload": "/request_refill"},
        {"title": "Talk to a person", "payload": "/human_handoff"},
    ]


class ActionSessionStart(Action):
    """Every session's first reply says this is an automated assistant (content file); a
    patient still waiting for a person starts the new session in the wait."""

    def name(self) -> Text:
        return "action_session_start"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        disclosure = load_content("disclosure.yml")
        # Rasa puts the metadata of the message that started the session in this slot.
        if is_staff_message(tracker.get_slot("session_started_metadata")):
            # Staff in Slack: the patient disclosure (book, refill, "talk to a person") is not theirs.
            dispatcher.utter_message(text="I'm the practice's automated assistant. I answer from the staff "
                                     "handbook and never guess; say `help` for the commands.")
        else:
            dispatcher.utter_message(text=" ".join(disclosure["text"].split()))
        events = [SessionStarted(), SlotSet("disclosure_version", disclosure.get("version"))]
        if not is_staff_message(tracker.get_slot("session_started_metadata")):
            # A new session (after 30 idle minutes) does not end a wait for a person.
            waiting = await handoff_still_open(tracker.sender_id)
            if waiting is not None and waiting.kind == HANDOFF_LIVE:
                events += rejoin_wait(waiting.reference)
        return events + [ActionExecuted("action_listen")]


_GREETING = re.compile(r"\s*(hi|hello|hey|hiya|heya|hallo|helo|hel+o+|hi+|howdy|yo|sup|wassup|greetings|good (morning|afternoon|evening|day)|morning|afternoon|evening|gm|oh hi)\b", re.I)


class ActionGreet(Action):
    """The menu: after a greeting, and (without the hello) after "yes" to "anything else?"."""

    def name(self) -> Text:
        return "action_greet"

    async def run(self, dispatcher, tracker, domain):
        from actions.staff import HELP, is_staff  # here: actions.staff imports this module

        if is_staff(tracker):  # staff get their commands, not the patient menu
            dispatcher.utter_message(text=f"Hello! {HELP}")
            return []
        if tracker.active_loop_name:
            # "help" or "menu" in the middle of a question: say how to go on or leave; the
            # question comes again after this. (Menu buttons here would start another task.)
            dispatcher.utter_message(text=(
                "I'm waiting for your answer to the question below. To do something else, say "
                "\"stop\" and choose from the menu, or say \"talk to a person\"."))
        elif tracker.latest_message.get("intent", {}).get("name") == "affirm":
            dispatcher.utter_message(text="Sure, what can I help you with?", buttons=menu_buttons())
        elif not _GREETING.match(tracker.latest_message.get("text") or ""):
            # "help", "what can you do", "menu": no hello back, just the choices.
            dispatcher.utter_message(
                text="Here's what I can do for you. Choose below, or type what you need.",
                buttons=menu_buttons(),
            )
        else:
            dispatcher.utter_message(text="Hello! What can I help you with today?", buttons=menu_buttons())
        return []


# Words that show which clinic-info topics a message asks about ("what are your hours and
# where do I park"): each one asked about is answered, the classified one first. "phone" is
# not an intent of its own (ask_parking covers "how do I reach you").
INFO_TOPICS = {
    "ask_hours": re.compile(r"\b(hours?|opening|open(?! to)|close[sd]?|closing|weekends?)\b"),
    "ask_parking": re.compile(r"\b(park(ing)?|address|directions|located|location|where are you)\b"),
    "phone": re.compile(r"\b(phone|number to call|number do i call|call you)\b"),
    # "do I need my insurance card" is about getting ready, not about which plans we take.
    "ask_insurance": re.compile(
        r"\b(insurances?(?! cards?)|medicaid|medicare|copays?|in[- ]?network|self[- ]pay|uninsured|cash price|"
        r"bcbs|blue cross|aetna|cigna|humana|tricare|kaiser|anthem|ambetter|united ?healthcare)\b"),
    "ask_new_patient": re.compile(r"\bnew (patient|pt)s?\b|\bregister\b"),
    "ask_visit_prep": re.compile(
        r"\b(bring|fast|fasting|prepare|prep|arrive|arrival|how early|empty stomach|insurance cards?)\b"),
}


class ActionClinicInfo(Action):
    """Hours, parking, phone, insurance, how to become a patient and getting ready for a
    visit, from bot/content/clinic.yml (editable without retraining) and, for the visit, the
    practice system's prep notes (actions/visit_prep.py)."""

    def name(self) -> Text:
        return "action_clinic_info"

    async def run(self, dispatcher, tracker, domain):
        intent = tracker.latest_message.get("intent", {}).get("name")
        text = (tracker.latest_message.get("text") or "").lower()
        asked = [topic for topic, words in INFO_TOPICS.items() if words.search(text)]
        classified = intent if intent in INFO_TOPICS else "ask_hours"
        if classified in asked or not asked:
            asked = [classified] + [topic for topic in asked if topic != classified]
        if "ask_new_patient" in asked and "ask_visit_prep" in asked:
            asked.remove("ask_visit_prep")  # the new-patient answer already says what to bring
        for topic in asked:
            await self._answer(topic, dispatcher, tracker)
        return []

    @staticmethod
    async def _answer(topic: str, dispatcher, tracker) -> None:
        info = clinic()
        if topic == "ask_parking":
            dispatcher.utter_message(text=" ".join(info["parking_text"].split()))
        elif topic == "phone":
            dispatcher.utter_message(text=f"You can call us on {info['phone_display']}.")
        elif topic == "ask_insurance":
            dispatcher.utter_message(text=" ".join(info["insurance_text"].split()))
        elif topic == "ask_visit_prep":
            from actions.visit_prep import visit_prep_answer

            dispatcher.utter_message(text=await visit_prep_answer(tracker.latest_message.get("text") or "", tracker))
        elif topic == "ask_new_patient":
            # Not a form question: in the middle of a form the button would end the form.
            buttons = [] if tracker.active_loop_name else [{"title": "Talk to a person", "payload": "/human_handoff"}]
            dispatcher.utter_message(text=" ".join(info["new_patient_text"].split()), buttons=buttons)
        else:
            dispatcher.utter_message(text=f"Our hours: {info['hours_text']}" + await _coming_closures())


CLOSURES_AHEAD_DAYS = 60
MAX_CLOSURES_LISTED = 3


async def _coming_closures() -> str:
    """" Closed: Mon 14 Dec (holiday)." for closures in the next weeks, so "are you open on
    the 14th" is not answered with the usual hours alone. Empty when there are none."""
    from datetime import timedelta

    from actions.common import now_local
    from actions.practice import get_practice_system

    practice = get_practice_system()
    today = now_local().date()
    closures = await practice.closures(today, today + timedelta(days=CLOSURES_AHEAD_DAYS))
    if not closures:
        return ""
    names = {location.id: location.name for location in await practice.locations()}
    listed = []
    for closure in sorted(closures, key=lambda c: c.date)[:MAX_CLOSURES_LISTED]:
        what = closure.reason
        site = names.get(closure.location_id, "one site") if closure.location_id is not None else None
        if site and site.lower() not in what.lower():
            what = f"{site}: {what}"
        listed.append(f"{closure.date:%a} {closure.date.day} {closure.date:%b}, {what}")
    more = "; and more" if len(closures) > MAX_CLOSURES_LISTED else ""
    return " Coming closures: " + "; ".join(listed) + more + "."


class ActionStopForm(Action):
    """Leave a form on "stop", "no thanks" or goodbye (rules in nlu_data/), keeping nothing."""

    def name(self) -> Text:
        return "action_stop_form"

    async def run(self, dispatcher, tracker, domain):
        offered = None
        left = _form_left_this_turn(tracker)
        if tracker.latest_message.get("intent", {}).get("name") == "goodbye":
            dispatcher.utter_message(
                text="Okay, I've stopped there. Nothing has been booked or changed. If you need "
                "us again, just send a message. Take care!"
            )
        elif left in (None, "reschedule_form") and _CANCEL_WORDS.search(tracker.latest_message.get("text") or ""):
            # "cancel it" after a booking, or while moving one, is about the appointment: it got
            # "Nothing has been booked or changed" and the appointment stayed booked.
            stopped = "I've stopped moving your appointment. " if left else ""
            offered = offer_task(dispatcher, f"{stopped}Do you want to cancel an appointment? Nothing has been "
                                             "cancelled yet.", "cancel_appointment")
        else:
            dispatcher.utter_message(
                text="Okay, I've stopped. Nothing has been booked or changed. Is there anything else I can help with?",
                buttons=menu_buttons(),
            )
        return leave_form_events() + [SlotSet(OFFERED_TASK, offered)]


_CANCEL_WORDS = re.compile(r"\bcancel", re.I)


def _form_left_this_turn(tracker: Tracker) -> Optional[str]:
    """The form this message ended (rules deactivate it before action_stop_form), else None."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return None
        if event.get("event") == "active_loop" and event.get("name") is None:
            return _form_just_left(tracker) or None
    return None


# What stopping each form means, said when the patient switches to another task.
_LEFT_BEHIND = {
    "booking_form": "I've stopped the booking, so nothing was booked.",
    "reschedule_form": "I've stopped moving your appointment, so nothing was changed.",
    "cancel_form": "I've stopped the cancellation, so nothing was cancelled.",
    "refill_form": "I've stopped the refill request, so nothing was sent.",
    "ai_opt_out_form": "I haven't recorded an AI opt-out; you can ask for it again any time.",
    "handoff_form": "I haven't asked the team to call you.",
}


class ActionSwitchTask(Action):
    """Leave the current form for the task the patient asked for instead (rules in
    nlu_data/form_switching.yml start that task's form next). Identity stays verified."""

    def name(self) -> Text:
        return "action_switch_task"

    async def run(self, dispatcher, tracker, domain):
        left = _form_just_left(tracker)
        dispatcher.utter_message(text=" ".join(["Sure, let's do that instead.", _LEFT_BEHIND.get(left, "")]).strip())
        return reset_form_slots()


def _form_just_left(tracker: Tracker) -> str:
    for event in reversed(tracker.events):
        if event.get("event") == "active_loop" and event.get("name"):
            return event["name"]
    return ""


class ActionFallback(Action):
    """Ask to rephrase; after two misunderstandings in a row, offer a person.

    Inside a form (a yes/no question gets a message that is neither): a short "didn't catch
    that" before the form asks again, counted like an unusable answer (actions/form_retries.py).
    """

    def name(self) -> Text:
        return "action_fallback"

    async def run(self, dispatcher, tracker, domain):
        lexicon = load_lexicon()
        phone = clinic()["phone_display"]
        # No Spanish dialogue yet: say so in Spanish rather than "didn't understand".
        in_spanish = (
            "Lo siento, por ahora solo puedo ayudar en inglés. Para hablar con alguien en "
            f"español, llame al {phone}. Si es una emergencia, llame al {lexicon.emergency_number}.\n\n"
            "Sorry, I can only help in English for now.")
        text = tracker.latest_message.get("text")
        if tracker.active_loop.get("name"):
            misses = misses_so_far(tracker) + 1
            if misses >= MAX_MISSES:
                return give_up(dispatcher)
            spanish = lexicon.is_spanish_sentence(text)
            dispatcher.utter_message(text=in_spanish if spanish else "Sorry, I didn't catch that.")
            return [SlotSet(REASKS_SLOT, misses)]
        if lexicon.reads_as_spanish(text):
            dispatcher.utter_message(text=in_spanish, buttons=menu_buttons())
        elif _previous_turn_was_fallback(tracker):
            # The menu as well as a person: a patient typing answers with no question asked
            # (a name, a date) got this same sentence for every message, with no way on.
            dispatcher.utter_message(
                text=(
                    "Sorry, I'm still not understanding. Choose what you'd like to do below, "
                    f"including \"Talk to a person\", or call us on {phone}."
                ),
                buttons=menu_buttons(),
            )
        else:
            dispatcher.utter_message(response="utter_default", buttons=menu_buttons())
        return []


def _previous_turn_was_fallback(tracker: Tracker) -> bool:
    """Whether the bot's last action before this user message was also a fallback."""
    user_turns = 0
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            user_turns += 1
        elif event.get("event") == "action" and user_turns >= 1:
            name = event.get("name")
            if name in ("action_listen", "action_session_start", None):
                continue
            return name == "action_fallback"
    return False


class ActionEmergency(Action):
    """Fixed wording from bot/content/emergency.yml; never offers booking instead."""

    def name(self) -> Text:
        return "action_emergency"

    async def run(self, dispatcher, tracker, domain):
        category = None
        for entity in tracker.latest_message.get("entities", []):
            if entity.get("entity") == "emergency_category":
                category = entity.get("value")
        dispatcher.utter_message(text=emergency_reply(category, tracker.latest_message.get("text")))
        waiting = await handoff_still_open(tracker.sender_id)
        summary = f"category {category or 'unknown'}, channel {_channel(tracker)}; the patient was told to call for help"
        if waiting is not None:
            summary += ("; they are waiting for a person, " if waiting.kind == HANDOFF_LIVE
                        else "; they asked for a callback, ") + waiting.reference
        await notify_staff("Emergency interrupt", new_reference("EM"), summary)
        if waiting is None or waiting.kind != HANDOFF_LIVE:
            return reset_form_slots()
        # The emergency took the conversation out of the wait form; staff still have it.
        dispatcher.utter_message(text=still_waiting_after_emergency_text(waiting.reference))
        return reset_form_slots() + pause(waiting.reference, waiting.kind)


def _channel(tracker: Tracker) -> str:
    return str(tracker.get_latest_input_channel() or "web")


class ActionAiUse(Action):
    """AI-use questions, "what do you know about me" and "forget me"."""

    def name(self) -> Text:
        return "action_ai_use"

    async def run(self, dispatcher, tracker, domain):
        intent = tracker.latest_message.get("intent", {}).get("name")
        if intent == "forget_me":
            return await _forget(dispatcher, tracker)
        if intent == "ask_what_you_know":
            dispatcher.utter_message(text=_what_we_hold(tracker))
            return []
        if intent == "ai_opt_out":
            from rasa_sdk.events import FollowupAction

            dispatcher.utter_message(text="Understood. I'll record that you don't want AI involved in your care.")
            return [FollowupAction("ai_opt_out_form")]
        # The answer to the question asked (bot/content/ai_use.yml), with an offer to say more.
        from actions.ai_use import answer_ai_question

        # In a thread: the sentence model is CPU work, and the event loop serves every other
        # conversation meanwhile.
        answer = await asyncio.to_thread(answer_ai_question, tracker.latest_message.get("text") or "")
        dispatcher.utter_message(
            text=answer.text, buttons=[{"title": t, "payload": p} for t, p in answer.follow_up]
        )
        return []


def _what_we_hold(tracker: Tracker) -> str:
    held = []
    if tracker.get_slot("verified_patient_id") is not None:
        held.append("that you verified your identity (I keep your first name and patient record number, not your date of birth)")
    if tracker.active_loop.get("name"):
        held.append("the answers for the request we're working on")
    if not held:
        held.append("only the messages of this conversation")
    idle = 30
    return (
        "In this conversation I hold " + "; ".join(held) + ". "
        f"This is kept in memory and cleared after {idle} minutes without a message. "
        "A copy of the conversation with personal details removed is kept in our records "
        "for quality and safety. Say \"forget me\" to clear it all now."
    )


async def _forget(dispatcher: CollectingDispatcher, tracker: Tracker) -> List[EventType]:
    import asyncio
    import os
    from pathlib import Path

    from connectors.sms_state import load_or_create_secret
    from privacy.archive import conversation_key, forget_conversation

    secret = load_or_create_secret(Path(os.environ.get("VAR_DIR", "var")).resolve(), os.environ.get("SENDER_ID_SECRET"))
    key = conversation_key(secret, tracker.sender_id)
    try:
        # Give the archive's background writer a moment to store this turn first.
        await asyncio.sleep(0.5)
        await forget_conversation(key)
    except Exception as error:  # noqa: BLE001
        logger.error("Could not delete an archived conversation (%s)", type(error).__name__)
        dispatcher.utter_message(
            text=f"Sorry, I couldn't delete your records just now. Please call us on {clinic()['phone_display']} and we'll do it for you."
        )
        return []
    dispatcher.utter_message(
        text=("Done. I've deleted this conversation: what you told me here and its transcript in our "
              "records. Your medical record, and any appointment or request you made, are not changed; "
              f"for those, call us on {clinic()['phone_display']}.")
    )
    from rasa_sdk.events import AllSlotsReset

    return [AllSlotsReset()]


def reset_form_slots():
    """Every form's working slots: leaving any form leaves nothing half-filled behind."""
    from actions.handoff import HANDOFF_SLOTS

    return (reset_booking_slots() + reset_refill_slots() + [SlotSet(n, None) for n in HANDOFF_SLOTS]
            + [SlotSet(REASKS_SLOT, 0)])


def leave_form_events():
    """Leaving a form for good: its slots, and a name or date of birth typed but never checked."""
    return reset_form_slots() + [SlotSet(n, None) for n in IDENTITY_SLOTS]
