"""The staff side of the assistant: handbook answers and staff commands, in Slack only.

Messages reach these actions with intents set by bot/channel_roles.py. Each action checks
the channel again itself (defence in depth): on a patient channel the handbook is never
quoted and staff commands do nothing. Nothing posted to Slack carries PHI: handbook text is
the practice's own policy, and the queues show reference numbers only.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import handbook
from actions.common import clinic
from actions.practice import get_practice_system
from actions.practice.port import REFILL_KIND_RENEWAL
from bot.channel_roles import is_staff_message, staff_command

logger = logging.getLogger(__name__)

SLACK = "slack"
IN_CLINIC_EMERGENCY = (
    ":rotating_light: If someone needs help right now, call 911 and follow the in-clinic "
    "emergency procedure first. From the handbook:"
)


def is_staff(tracker: Tracker) -> bool:
    """Slack, marked staff by the Slack connector."""
    return (tracker.get_latest_input_channel() == SLACK
            and is_staff_message((tracker.latest_message or {}).get("metadata")))


def _decline_on_patient_channel(dispatcher: CollectingDispatcher) -> None:
    from actions.conversation import menu_buttons

    dispatcher.utter_message(
        text="Sorry, I can't help with that here. I can book, move or cancel appointments, "
        "take prescription refill requests, or connect you with a person.",
        buttons=menu_buttons(),
    )


def _section_answer(option: Dict[str, str]) -> Optional[handbook.HandbookAnswer]:
    """The handbook section a clarification option names, if it still exists."""
    for section in handbook.get_handbook().sections:
        if section.file == option.get("file") and section.heading == option.get("heading"):
            ranked = handbook.RankedSection(
                title=section.title, file=section.file, score=1.0, text=section.text,
                heading=section.heading, topic=section.topic, owner=section.owner, coverage=1.0,
            )
            return handbook.HandbookAnswer("answer", (ranked,), owner=section.owner, confidence=1.0)
    return None


def _picked(text: str, options: List[Dict[str, str]]) -> Optional[Dict[str, str]]:
    typed = (text or "").strip().lower().rstrip(".!")
    number = re.fullmatch(r"(?:option |number |#)?([12])", typed)
    if number and int(number.group(1)) <= len(options):
        return options[int(number.group(1)) - 1]
    for option in options:
        if typed and (typed in option["heading"].lower() or option["heading"].lower() in typed):
            return option
    return None


class ActionStaffQuestion(Action):
    """A handbook question from staff; declined on patient channels."""

    def name(self) -> Text:
        return "action_staff_question"

    async def run(self, dispatcher, tracker, domain):
        if not is_staff(tracker):
            _decline_on_patient_channel(dispatcher)
            return []
        text = (tracker.latest_message or {}).get("text") or ""
        options = tracker.get_slot("handbook_options") or []
        chosen = _picked(text, options) if options else None
        entities = (tracker.latest_message or {}).get("entities") or []
        urgent = any(e.get("entity") == "emergency_category" for e in entities)
        # The handbook search is CPU work (sentence model): in a thread, off the event loop.
        result = _section_answer(chosen) if chosen else await asyncio.to_thread(handbook.answer, text, urgent)
        reply = handbook.format_answer(result)
        if urgent:
            reply = f"{IN_CLINIC_EMERGENCY}\n{reply}"
        dispatcher.utter_message(text=reply)
        if result.kind == "clarify":
            offered = [{"file": s.file, "heading": s.heading} for s in result.sections[:2]]
            return [SlotSet("handbook_options", offered)]
        return [SlotSet("handbook_options", None)]


class ActionPatientSelfService(Action):
    """A patient flow asked for in Slack: staff use the practice system for those."""

    def name(self) -> Text:
        return "action_patient_self_service"

    async def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(
            text="Booking, refills and the other patient self-service requests aren't handled in "
            "Slack: patients use the website chat or text the clinic, and staff use the practice "
            "system. Here I answer handbook questions, and `pending refills` lists the refill "
            "queue."
        )
        return []


HELP = (
    "Ask me anything the staff handbook covers, in your own words. Commands:\n"
    "• `pending refills`: refill and renewal requests waiting for a decision\n"
    "• `handoffs`: conversations waiting for a person\n"
    "• `resume HO-XXXXXX`: hand a paused conversation back to the assistant"
)


class ActionStaffCommand(Action):
    def name(self) -> Text:
        return "action_staff_command"

    async def run(self, dispatcher, tracker, domain):
        if not is_staff(tracker):
            _decline_on_patient_channel(dispatcher)
            return []
        text = (tracker.latest_message or {}).get("text") or ""
        command = staff_command(text)
        if command == "refills":
            dispatcher.utter_message(text=await refill_queue_text())
        elif command == "handoffs":
            from actions.handoff import handoff_queue_text

            dispatcher.utter_message(text=await handoff_queue_text())
        elif command == "resume":
            from actions.handoff import resume_conversation

            reference = re.search(r"HO-[2-9A-Z]{6}", text.upper()).group(0)
            dispatcher.utter_message(text=await resume_conversation(reference))
        else:
            dispatcher.utter_message(text=HELP)
        return []


async def refill_queue_text() -> str:
    """Pending requests by reference number only: staff open them in the practice system (or
    `make staff-refills`), where the patient's details are."""
    pending = await get_practice_system().refill_queue()
    if not pending:
        return "No refill requests are waiting."
    lines = []
    for request in pending:
        kind = "renewal (prescriber)" if request.kind == REFILL_KIND_RENEWAL else "refill"
        lines.append(f"• `{request.reference}`: {kind}, asked {request.created_at:%a %d %b %H:%M} "
                     f"by {'text' if request.channel == 'sms' else 'web chat'}")
    turnaround = (clinic().get("refills") or {}).get("turnaround_text", "")
    note = f"\n_Patients are told: {turnaround}_" if turnaround else ""
    return f"{len(pending)} refill request(s) waiting:\n" + "\n".join(lines) + note
