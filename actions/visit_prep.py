"""Getting ready for a visit: "do I need to fast before my physical", "what should I bring",
"how early should I arrive", "can I bring my kids".

Answered from the practice system, never made up: each visit type's prep notes (VisitType.
prep_notes), and the general bring / arrive / companions text in bot/content/clinic.yml.
Eating and fasting are answered only with what a visit type's notes say; where no note says
anything, the patient is sent to their clinician's instructions or the practice's phone.
"""

from __future__ import annotations

import re
from typing import Any, Optional, Sequence

from rasa_sdk import Tracker

from actions.booking import _GENERIC_VISIT_WORDS, visit_type_named
from actions.common import clinic, norm_text, now_local, when_text
from actions.practice import get_practice_system
from actions.verification import is_sms, verification_lapsed

# A question about eating or drinking beforehand.
_FOOD_QUESTION = re.compile(
    r"\b(fast|fasts|fasting|fasted|eat|eating|ate|food|drink|drinking|breakfast|lunch|coffee|"
    r"water|empty stomach|hungry|snack)\b")
# Who may come along ("can I bring my kids").
_COMPANION_QUESTION = re.compile(
    r"\b(kids?|children|child|baby|toddler|son|daughter|husband|wife|partner|friend|mom|mum|"
    r"dad|someone|somebody|family)\b.*\b(with me|along|come|wait|waiting)\b|"
    r"\bbring (my |a )?(kids?|children|child|baby|toddler|son|daughter|husband|wife|partner|"
    r"friend|mom|mum|dad|someone|somebody|family)\b")
# Which prep notes are about eating or drinking.
_FOOD_NOTE = re.compile(r"\b(eat|eating|fast|fasting|food|drink|drinking|water|meal)\b", re.I)


def _visit_type_meant(text: str, visit_types: Sequence[Any]) -> Optional[Any]:
    """The visit type the message names: booking's matching ("flu shot", "follow up"), or,
    since patients shorten names ("my physical"), the one visit type with a long
    distinctive name word in the message. "patient" is left out: it is the patient's word
    about themselves as often as a visit type's."""
    named = visit_type_named(text, visit_types)
    if named is not None:
        return named
    words = set(norm_text(text).split())
    ignored = _GENERIC_VISIT_WORDS | {"patient", "visit"}
    loose = [v for v in visit_types
             if any(len(w) >= 5 and w not in ignored and w in words for w in norm_text(v.name).split())]
    return loose[0] if len(loose) == 1 else None


async def _next_own_appointment(tracker: Tracker) -> Optional[Any]:
    """The verified patient's own next appointment; None unverified, lapsed, or by SMS
    (a text says as little as possible about a patient's care)."""
    patient_id = tracker.get_slot("verified_patient_id")
    if patient_id is None or verification_lapsed(tracker) or is_sms(tracker):
        return None
    upcoming = await get_practice_system().upcoming_appointments(patient_id, now_local())
    return upcoming[0] if upcoming else None


def _ask_us() -> str:
    return f"follow the instructions your clinician gave you, or call us on {clinic()['phone_display']}"


def _food_answer(visit: Optional[Any], visit_types: Sequence[Any], label: str) -> str:
    if visit is not None:
        if visit.prep_notes and _FOOD_NOTE.search(visit.prep_notes):
            return (f"Before {label}: {visit.prep_notes} If your clinician told you something "
                    f"different, follow their instructions, or call us on {clinic()['phone_display']}.")
        return (f"Our notes for {label} say nothing about eating or drinking beforehand. "
                f"If you're not sure, {_ask_us()}.")
    noted = [v for v in visit_types if v.prep_notes and _FOOD_NOTE.search(v.prep_notes)]
    if not noted:
        return f"Our visit notes don't include instructions about eating or fasting. Please {_ask_us()}."
    lines = "\n".join(f"- {v.name}: {v.prep_notes}" for v in noted)
    return (f"What our visit notes say about eating beforehand:\n{lines}\n"
            f"For any other visit or test, please {_ask_us()}.")


async def visit_prep_answer(text: str, tracker: Tracker) -> str:
    """The reply to a question about getting ready for a visit."""
    prep = clinic().get("visit_prep", {})
    general = " ".join(str(prep.get("general_text", "")).split())
    message = norm_text(text)
    if _COMPANION_QUESTION.search(message) and not _FOOD_QUESTION.search(message):
        return " ".join(str(prep.get("companions_text", "")).split()) or general

    visit_types = await get_practice_system().visit_types()
    visit = _visit_type_meant(text, visit_types)
    label = f"your {visit.name.lower()}" if visit is not None else ""
    if visit is None:
        appointment = await _next_own_appointment(tracker)
        if appointment is not None:
            visit = next((v for v in visit_types if v.id == appointment.visit_type_id), None)
            label = f"your {appointment.visit_type_name.lower()} ({when_text(appointment.starts_at)})"

    if _FOOD_QUESTION.search(message):
        return _food_answer(visit, visit_types, label)
    if visit is not None:
        notes = f"Before {label}: {visit.prep_notes}\n" if visit.prep_notes else ""
        return notes + general
    listed = "\n".join(f"- {v.name}: {v.prep_notes}" for v in visit_types if v.prep_notes)
    return general + (f"\nFor particular visits:\n{listed}" if listed else "")
