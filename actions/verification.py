"""Identity verification shared by every form that touches a patient's data.

Name + date of birth are checked against the practice system before anything about a
patient is shown or changed. A failure never says which field was wrong.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from datetime import date
from typing import Any, Dict, List, Optional, Text

import dateparser
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from actions.common import clinic, now_local
from actions.practice import get_practice_system

MAX_ATTEMPTS = 3
IDENTITY_SLOTS = ("patient_name", "patient_dob")

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


class VerifiedFormValidation(FormValidationAction, ABC):
    """Base for forms about a patient's own data.

    Domain setup it needs: slots `patient_name`, `patient_dob` (from_text while requested),
    `verified_patient_id`, `verified_first_name`, `dependants`, `failed_verifications`
    (custom); the form's required_slots start with patient_name, patient_dob.
    Until verified, the form asks only for those two; after MAX_ATTEMPTS failures it asks
    for nothing more, and the form's finishing action sees no verified patient.
    """

    @abstractmethod
    def name(self) -> Text:
        """validate_<form name>"""

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
            dispatcher.utter_message(
                text="Please tell me your first and last name, for example \"Testy McFakeface\"."
            )
        return {"patient_name": name}

    async def validate_patient_dob(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        dob = parse_dob(str(value or ""))
        if dob is None:
            dispatcher.utter_message(
                text="I couldn't read that as a date of birth. Please type it like 04/23/1985."
            )
            return {"patient_dob": None}
        practice = get_practice_system()
        patient = await practice.verify_patient(tracker.get_slot("patient_name") or "", dob)
        if patient is None:
            failures = int(tracker.get_slot("failed_verifications") or 0) + 1
            if failures >= MAX_ATTEMPTS:
                dispatcher.utter_message(
                    text=(
                        "Sorry, we couldn't match those details, so I can't go further in this "
                        f"chat. Please call the clinic on {clinic()['phone_display']} and the "
                        "team will help you."
                    )
                )
            else:
                dispatcher.utter_message(
                    text="Sorry, we couldn't match those details. Let's try once more."
                )
            return {"patient_name": None, "patient_dob": None, "failed_verifications": failures}
        dependants = await practice.dependants(patient.id)
        dispatcher.utter_message(text=f"Thanks, {patient.first_name}, you're verified.")
        # The typed name and date of birth are dropped as soon as they have been checked.
        return {
            "patient_name": None,
            "patient_dob": None,
            "failed_verifications": 0,
            "verified_patient_id": patient.id,
            "verified_first_name": patient.first_name,
            "dependants": [{"id": d.id, "first_name": d.first_name} for d in dependants],
        }
