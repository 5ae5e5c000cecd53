"""Identity verification shared by every form that touches a patient's data.

Web chat: full name + date of birth. SMS: the sender's number must be the phone on file,
plus date of birth (the number reaches the action server only as an encrypted token in the
message metadata). Nothing about a patient is shown or changed before this succeeds, and a
failure never says which field was wrong.

Failures count twice: per conversation (MAX_ATTEMPTS ends the attempt) and per patient
record in the practice system (three wrong answers from any mix of conversations and
channels lock the record for 15 minutes; staff are told, by reference number only).
Verification lasts for the session only, and lapses after VERIFICATION_IDLE_MINUTES
(default 30) without a message.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import re
import time
from abc import ABC, abstractmethod
from datetime import date
from pathlib import Path
from typing import Any, Dict, List, Optional, Text, Tuple

import dateparser
from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import best_match, clinic, norm_text, now_local
from actions.form_retries import RetryLimitedFormValidation
from actions.notifications import notify_staff
from actions.practice import get_practice_system
from actions.practice.port import LOCKOUT_MINUTES
from privacy.references import new_reference

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
IDENTITY_SLOTS = ("patient_name", "patient_dob")
VERIFIED_SLOTS = ("verified_patient_id", "verified_first_name", "dependants", "verified_at")
# What a form worked out about the verified patient (whose record, which of their medicines or
# appointments). Cleared whenever someone verifies, or verification lapses: the next person to
# verify must not inherit the last one's dependant or prescriptions.
PER_PATIENT_SLOTS = ("subject_patient_id", "refill_for", "appointment_for", "refill_medication_id",
                     "refill_med_options", "last_appointment", "appointment_choice")


def idle_limit_seconds() -> float:
    raw = os.environ.get("VERIFICATION_IDLE_MINUTES", "30")
    try:
        minutes = float(raw)
    except ValueError:
        minutes = math.nan
    if not (math.isfinite(minutes) and minutes > 0):
        raise ValueError(
            f"VERIFICATION_IDLE_MINUTES must be a number of minutes greater than 0, such as 15 "
            f"(it is {raw!r}). Correct it, or unset it for the default of 30, and start the "
            "action server again."
        )
    return minutes * 60


def check_idle_limit() -> None:
    """At start-up: otherwise a bad value would first fail the turn of a patient verifying."""
    try:
        idle_limit_seconds()
    except ValueError as error:
        raise SystemExit(str(error))


def verification_lapsed(tracker: Tracker) -> bool:
    """True when the patient was verified but the previous message of this session came
    longer ago than the idle limit (Rasa's own session expiry in domain.yml is the upper
    bound; this lets a practice choose a shorter one without retraining)."""
    if tracker.get_slot("verified_patient_id") is None:
        return False
    user_times = [e.get("timestamp") for e in tracker.events if e.get("event") == "user"]
    if len(user_times) < 2 or user_times[-2] is None:
        return False
    return (user_times[-1] or time.time()) - user_times[-2] > idle_limit_seconds()


def forget_verification() -> List[EventType]:
    return [SlotSet(name, None) for name in VERIFIED_SLOTS + PER_PATIENT_SLOTS]


def is_sms(tracker: Tracker) -> bool:
    return tracker.get_latest_input_channel() == "sms"


@functools.lru_cache(maxsize=1)
def _sms_secret() -> bytes:
    from connectors.sms_state import load_or_create_secret

    var_dir = Path(os.environ.get("VAR_DIR", "var")).resolve()
    return load_or_create_secret(var_dir, os.environ.get("SENDER_ID_SECRET"))


def sms_sender_number(tracker: Tracker) -> Optional[str]:
    """The number this SMS came from, decrypted from the channel's metadata token."""
    from connectors.sms_state import read_sender_token

    token = ((tracker.latest_message or {}).get("metadata") or {}).get("sms_sender_token")
    if not token or not is_sms(tracker):
        return None
    return read_sender_token(_sms_secret(), str(token))


def who_for(value: Any, tracker: Tracker) -> Optional[int]:
    """The verified patient's own id for "me", or a linked dependant's id chosen by name or
    number; None when the answer matches neither."""
    text = norm_text(str(value or ""))
    me = tracker.get_slot("verified_patient_id")
    if text in ("me", "myself", "i", "self", "for me", "just me", "mine", "my own"):
        return me
    dependants = tracker.get_slot("dependants") or []
    options = [("myself", me)] + [(d["first_name"], d["id"]) for d in dependants]
    text = re.sub(r"^(for )?(my )?(son|daughter|child|kid|ward) ?", "", text) or text
    return best_match(text, options)

_NUMERIC_DATE = re.compile(r"^\s*(\d{1,4})\s*[/\-. ]\s*(\d{1,2})\s*[/\-. ]\s*(\d{2,4})\s*$")
_COMPACT_DATE = re.compile(r"^\s*(\d{2})(\d{2})(\d{4})\s*$")


def _full_year(year: int) -> int:
    if year >= 100:
        return year
    # Two-digit years: a date of birth is in the past.
    this_year = now_local().year % 100
    return 2000 + year if year <= this_year else 1900 + year


def parse_dob(text: str) -> Optional[date]:
    """A date of birth typed any common US way; None unless day, month and year are all there."""
    text = (text or "").strip().lower()
    text = re.sub(r"^(it'?s|its|my dob is|dob|born( on)?|date of birth( is)?)[:\s]+", "", text)
    if not text or len(text) > 40:
        return None
    candidate: Optional[date] = None
    match = _NUMERIC_DATE.match(text) or _COMPACT_DATE.match(text)
    if match:
        a, b, c = (int(g) for g in match.groups())
        try:
            if a > 31:  # 1985-03-04
                candidate = date(a, b, c)
            else:  # US order: month/day/year
                candidate = date(_full_year(c), a, b)
        except ValueError:
            return None
    else:
        if not re.search(r"\d{2,4}\s*$", text):
            return None  # no year: "march 4" is not a date of birth
        parsed = dateparser.parse(
            text,
            languages=["en"],
            settings={
                "DATE_ORDER": "MDY",
                "REQUIRE_PARTS": ["day", "month", "year"],
                "PREFER_DATES_FROM": "past",
            },
        )
        candidate = parsed.date() if parsed else None
    if candidate is None or not (1900 <= candidate.year and candidate <= now_local().date()):
        return None
    return candidate


def plausible_name(text: str) -> Optional[str]:
    name = re.sub(r"^(my name is|i am|i'm|im|it'?s|its|name:?)\s+", "", (text or "").strip(), flags=re.I)
    name = re.sub(r"\s+", " ", name).strip(" .,!")
    words = name.split(" ")
    if not (2 <= len(words) <= 5) or len(name) > 80 or re.search(r"[\d@/#]", name):
        return None
    return name


# A date of birth typed after the name in one message ("Testy McFakeface 04/12/1985",
# "testy mcfakeface, dob april 12 1985").
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_TRAILING_DOB = re.compile(
    r"^(?P<name>.*?)[\s,;]+(?:(?:my )?(?:dob|date of birth|born(?: on)?|birthday)(?: is)?[:\s]+)?"
    r"(?P<dob>\d{1,4}[/.-]\d{1,2}[/.-]\d{2,4}|\d{8}"
    rf"|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{2,4}}|\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH},?\s+\d{{2,4}})"
    r"[\s.!]*$",
    re.I,
)


def name_and_dob(text: str) -> Optional[Tuple[str, str]]:
    """(name, date of birth text) when one message holds both, else None."""
    match = _TRAILING_DOB.match((text or "").strip())
    if not match:
        return None
    name = plausible_name(match.group("name"))
    if name is None or parse_dob(match.group("dob")) is None:
        return None
    return name, match.group("dob")


class VerifiedFormValidation(RetryLimitedFormValidation, ABC):
    """Base for forms about a patient's own data (each question asked again at most twice,
    actions/form_retries.py).

    Domain setup it needs: slots `patient_name`, `patient_dob` (from_text while requested),
    `verified_patient_id`, `verified_first_name`, `dependants`, `failed_verifications`
    (custom); the form's required_slots start with patient_name, patient_dob.
    Until verified, the form asks only for those two; after MAX_ATTEMPTS failures it asks
    for nothing more, and the form's finishing action sees no verified patient.
    """

    @abstractmethod
    def name(self) -> Text:
        """validate_<form name>"""

    async def run(self, dispatcher, tracker, domain):
        if not verification_lapsed(tracker):
            return await super().run(dispatcher, tracker, domain)
        # Idle too long: ask again, as if this session had never verified.
        dispatcher.utter_message(
            text="It's been a while, so for your security I need to check who you are again."
        )
        lapsed = tracker.copy()
        for name in VERIFIED_SLOTS + PER_PATIENT_SLOTS:
            lapsed.slots[name] = None
        return forget_verification() + await super().run(dispatcher, lapsed, domain)

    async def required_slots(
        self,
        domain_slots: List[Text],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> List[Text]:
        if tracker.get_slot("verified_patient_id") is None:
            if (tracker.get_slot("failed_verifications") or 0) >= MAX_ATTEMPTS:
                return []
            if is_sms(tracker):
                return ["patient_dob"]  # the phone on file stands in for the name
            return [s for s in domain_slots if s in IDENTITY_SLOTS]
        return await self.slots_after_verification(
            [s for s in domain_slots if s not in IDENTITY_SLOTS], tracker
        )

    async def slots_after_verification(self, slots: List[Text], tracker: Tracker) -> List[Text]:
        """Forms override this to drop questions that do not apply to this patient."""
        return slots

    async def validate_patient_name(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        name = plausible_name(str(value or ""))
        if name is None:
            both = name_and_dob(str(value or ""))
            if both is not None:
                # Name and date of birth in one message: check them together, not "that's not
                # a name" followed by the date-of-birth question.
                return {"patient_name": both[0], **await self._check_identity(both[1], both[0], dispatcher, tracker)}
            dispatcher.utter_message(
                text="Please tell me your first and last name, for example \"Testy McFakeface\"."
            )
        return {"patient_name": name}

    async def validate_patient_dob(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        return await self._check_identity(value, tracker.get_slot("patient_name"), dispatcher, tracker)

    async def _check_identity(self, value: Any, full_name: Optional[str], dispatcher: CollectingDispatcher,
                              tracker: Tracker) -> Dict[Text, Any]:
        dob = parse_dob(str(value or ""))
        if dob is None:
            dispatcher.utter_message(
                text="I couldn't read that as a date of birth. Please type it like 04/23/1985."
            )
            return {"patient_dob": None}
        practice = get_practice_system()
        if is_sms(tracker):
            number = sms_sender_number(tracker)
            result = await practice.check_identity(dob, phone=number or "")
        else:
            result = await practice.check_identity(dob, full_name=full_name or "")
        if result.locked_now:
            reference = new_reference("LO")
            logger.warning("identity checks locked a patient record (%s)", reference)
            await notify_staff(
                "Patient record locked after repeated failed identity checks",
                reference,
                f"locked for {LOCKOUT_MINUTES} minutes",
            )
        # "Locked" would tell whoever typed a name that it belongs to a patient. Only by SMS,
        # where the number on file already names the record, is the lock said; in a web chat
        # a locked record answers exactly like details that match nobody (staff are notified).
        if result.locked and is_sms(tracker):
            dispatcher.utter_message(
                text=(
                    "For your security this record is locked for a short while after several "
                    "unsuccessful checks. Please try again in "
                    f"{LOCKOUT_MINUTES} minutes, or call the clinic on "
                    f"{clinic()['phone_display']} and the team will help you."
                )
            )
            return {"patient_name": None, "patient_dob": None, "failed_verifications": MAX_ATTEMPTS}
        patient = None if result.locked else result.patient
        if patient is None:
            failures = int(tracker.get_slot("failed_verifications") or 0) + 1
            # Which two things are checked, never which one failed: by SMS the number texted
            # from is half of the check, and a patient texting from another phone cannot know.
            checked = (" (your date of birth, and the number you're texting from must be the one "
                       "on your record)" if is_sms(tracker) else "")
            if failures >= MAX_ATTEMPTS:
                dispatcher.utter_message(
                    text=(
                        f"Sorry, we couldn't match those details{checked}, so I can't go further in "
                        f"this chat. Please call the clinic on {clinic()['phone_display']} and the "
                        "team will help you; if you're new to the practice, they can register you."
                    )
                )
            else:
                dispatcher.utter_message(
                    text=f"Sorry, we couldn't match those details{checked}. Let's try once more."
                )
            return {"patient_name": None, "patient_dob": None, "failed_verifications": failures}
        dependants = await practice.dependants(patient.id)
        dispatcher.utter_message(text=f"Thanks, {patient.first_name}, you're verified.")
        # The typed name and date of birth are dropped as soon as they have been checked.
        return {
            **{name: None for name in PER_PATIENT_SLOTS},
            "patient_name": None,
            "patient_dob": None,
            "failed_verifications": 0,
            "verified_patient_id": patient.id,
            "verified_first_name": patient.first_name,
            "dependants": [{"id": d.id, "first_name": d.first_name} for d in dependants],
            "verified_at": time.time(),
        }
