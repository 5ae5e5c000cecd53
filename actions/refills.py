"""Prescription refill requests and their status, behind identity verification.

The conversation: verify (actions/verification.py) → whose prescription (a guardian may act
for a linked dependant) → which medicine, named any way the patient likes → the rules →
which pharmacy → confirm → a pending request in the practice system with a reference.

The rules, each explained to the patient, are plain functions (`refill_rule`) so they can be
tested without a conversation:
- a controlled substance (DEA schedule II–V) cannot be requested here: contact the clinic;
- too early (less than `min_supply_used` of the last supply used): the earliest date;
- no refills left: a renewal request goes to the prescriber, who may want a visit;
- not on the patient's list: a new prescription needs a visit (offer booking).
"""

from __future__ import annotations

import difflib
import hashlib
import logging
import math
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Dict, List, Optional, Sequence, Text, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import OFFERED_TASK, best_match, button, clinic, load_content, norm_text, now_local, offer_task
from actions.notifications import notify_staff
from actions.practice import get_practice_system
from actions.practice.matching import fold_text
from actions.practice.port import (
    CONTROLLED_SCHEDULES,
    REFILL_APPROVED,
    REFILL_DENIED,
    REFILL_KIND_REFILL,
    REFILL_KIND_RENEWAL,
    REFILL_NEEDS_APPOINTMENT,
    REFILL_PENDING,
    Medication,
    NotFound,
    Pharmacy,
    RefillRequest,
)
from actions.verification import VerifiedFormValidation, is_sms, who_for

logger = logging.getLogger(__name__)

FORM_SLOTS = (
    "refill_for", "subject_patient_id", "refill_medication", "refill_medication_id",
    "refill_med_options", "refill_outcome", "refill_earliest", "refill_pharmacy", "refill_pharmacy_id",
    "refill_pharmacy_options", "refill_confirmed",
)
SOMETHING_ELSE = "something else"
OTHER_PHARMACY = "another pharmacy"
# Outcomes that end the form before a request is made; the finishing action explains them.
CONTROLLED, TOO_EARLY, NEW_PRESCRIPTION, ALREADY_PENDING, NO_PRESCRIPTIONS = (
    "controlled", "too_early", "new_prescription", "already_pending", "no_prescriptions",
)
# Words that say nothing about which medicine: never matched against names or purposes.
_FILLER = {
    "my", "the", "a", "an", "for", "of", "refill", "refills", "renew", "repeat", "please",
    "pill", "pills", "tablet", "tablets", "medication", "medications", "medicine", "meds",
    "med", "prescription", "rx", "script", "i", "need", "want", "more", "some", "new", "on",
    "it", "its", "is", "mg", "mcg", "and", "to", "get", "can", "you", "me", "one",
}
_YES = {"yes", "y", "yeah", "yep", "yup", "sure", "ok", "okay", "same", "usual", "same one",
        "the usual", "that one", "correct", "please do", "yes please", "fine", "send it there"}


# --- the rules -------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleResult:
    outcome: str  # REFILL_KIND_REFILL, REFILL_KIND_RENEWAL, CONTROLLED or TOO_EARLY
    earliest: Optional[date] = None  # for TOO_EARLY


def min_supply_used() -> float:
    return float((clinic().get("refills") or {}).get("min_supply_used", 0.75))


def earliest_refill_date(medication: Medication, share: Optional[float] = None) -> date:
    """The first day on which `share` of the last supply has been used."""
    share = min_supply_used() if share is None else share
    return medication.last_filled + timedelta(days=math.ceil(medication.days_supply * share))


def refill_rule(medication: Medication, today: date, share: Optional[float] = None) -> RuleResult:
    """Which rule applies, in the order a pharmacist would check them."""
    if medication.controlled_schedule in CONTROLLED_SCHEDULES:
        return RuleResult(CONTROLLED)
    earliest = earliest_refill_date(medication, share)
    if today < earliest:
        return RuleResult(TOO_EARLY, earliest)
    if medication.refills_remaining <= 0:
        return RuleResult(REFILL_KIND_RENEWAL)
    return RuleResult(REFILL_KIND_REFILL)


# --- the medication matcher ------------------------------------------------------------


@dataclass
class MedicationMatch:
    """The patient's active medications the words point at (several: ask which), and,
    when none do, a medicine the words name that is not on the patient's list."""

    matches: List[Medication] = field(default_factory=list)
    not_on_list: Optional[str] = None


def _lexicon() -> Dict[str, Dict[str, Any]]:
    entries = load_content("medications.yml").get("medications") or {}
    return {fold_text(name): value or {} for name, value in entries.items()}


def _names(generic: str, brands: Sequence[str]) -> List[str]:
    entry = _lexicon().get(fold_text(generic), {})
    names = [generic, *brands, *entry.get("brands", [])]
    return sorted({fold_text(n) for n in names if fold_text(n)})


def _purposes(generic: str) -> List[str]:
    return [fold_text(p) for p in _lexicon().get(fold_text(generic), {}).get("for", [])]


def _contains_phrase(words: List[str], phrase: str) -> bool:
    target = phrase.split()
    return any(words[i:i + len(target)] == target for i in range(len(words) - len(target) + 1))


def _close(word: str, name: str) -> bool:
    """A misspelling of a name: "metforman" ~ "metformin", "lipiter" ~ "lipitor"."""
    if len(word) < 5 or len(name) < 5:
        return False
    return difflib.SequenceMatcher(None, word, name).ratio() >= 0.8


def _names_hit(words: List[str], names: Sequence[str]) -> bool:
    content = [w for w in words if w not in _FILLER]
    for name in names:
        if _contains_phrase(words, name):
            return True
        first = name.split()[0]
        if any(_close(word, first) for word in content):
            return True
    return False


def match_medication(text: str, active: Sequence[Medication]) -> MedicationMatch:
    words = fold_text(text).split()
    if not [w for w in words if w not in _FILLER]:
        return MedicationMatch()
    by_name = [m for m in active if _names_hit(words, _names(m.generic_name, m.brand_names))]
    if by_name:
        return MedicationMatch(by_name)
    by_purpose = [m for m in active if any(_contains_phrase(words, p) for p in _purposes(m.generic_name))]
    if by_purpose:
        return MedicationMatch(by_purpose)
    for generic, entry in _lexicon().items():
        if _names_hit(words, _names(generic, entry.get("brands", []))):
            return MedicationMatch(not_on_list=generic)
    return MedicationMatch()


def medication_label(medication: Medication) -> str:
    return f"{medication.generic_name} {medication.strength}".strip()


# --- the form --------------------------------------------------------------------------


def reset_refill_slots() -> List[EventType]:
    return [SlotSet(name, None) for name in FORM_SLOTS]


async def _nothing_to_refill(patient_id: int) -> Dict[Text, Any]:
    """With no prescriptions on file the medicine question is not asked (it offered only
    "Something else"): the finishing action says so and offers a visit."""
    if await get_practice_system().active_medications(patient_id):
        return {}
    return {"refill_medication": "none", "refill_outcome": NO_PRESCRIPTIONS}


def _subject_id(tracker: Tracker) -> Optional[int]:
    return tracker.get_slot("subject_patient_id") or tracker.get_slot("verified_patient_id")


async def _medication(tracker: Tracker) -> Optional[Medication]:
    wanted = tracker.get_slot("refill_medication_id")
    subject = _subject_id(tracker)
    if wanted is None or subject is None:
        return None
    for medication in await get_practice_system().active_medications(subject):
        if medication.id == int(wanted):
            return medication
    return None


def _pending_for(requests: Sequence[RefillRequest], medication_id: int) -> Optional[RefillRequest]:
    return next(
        (r for r in requests if r.medication_id == medication_id and r.status == REFILL_PENDING),
        None,
    )


class ValidateRefillForm(VerifiedFormValidation):
    def name(self) -> Text:
        return "validate_refill_form"

    async def slots_after_verification(self, slots, tracker):
        if tracker.get_slot("refill_outcome") in (
            CONTROLLED, TOO_EARLY, NEW_PRESCRIPTION, ALREADY_PENDING, NO_PRESCRIPTIONS
        ):
            return []  # the finishing action explains why nothing more is asked
        if not tracker.get_slot("dependants"):
            slots = [s for s in slots if s != "refill_for"]
        return slots

    async def validate_refill_for(self, value, dispatcher, tracker, domain):
        chosen = who_for(value, tracker)
        if chosen is None:
            names = ["yours"] + [f"{d['first_name']}'s" for d in tracker.get_slot("dependants") or []]
            dispatcher.utter_message(text=f"Whose prescription is it: {', '.join(names[:-1])} or {names[-1]}?")
            return {"refill_for": None}
        return {"refill_for": str(chosen), "subject_patient_id": chosen, **await _nothing_to_refill(chosen)}

    async def validate_patient_dob(self, value, dispatcher, tracker, domain):
        slots = await super().validate_patient_dob(value, dispatcher, tracker, domain)
        if slots.get("verified_patient_id") is None or slots.get("dependants"):
            return slots  # a guardian is asked whose prescription it is first
        nothing = await _nothing_to_refill(slots["verified_patient_id"])
        if nothing:
            return {**slots, **nothing}
        # "Refill my zoloft": the medicine named when asking is not asked for again.
        trigger = _trigger_text(tracker)
        if trigger:
            verified = tracker.copy()
            verified.slots.update(slots)
            named = await self._named_in_trigger(trigger, verified)
            slots.update(named)
        return slots

    async def extract_refill_medication(self, dispatcher, tracker, domain):
        # Already verified when the form starts: offer the medicine named in the request as
        # the answer (validate_refill_medication judges it). Only this slot may be returned
        # here: rasa_sdk drops other extracted slots that are not required by the form.
        if (tracker.get_slot("requested_slot") is None
                and tracker.get_slot("verified_patient_id") is not None
                and not tracker.get_slot("dependants")
                and tracker.get_slot("refill_medication") is None):
            trigger = _trigger_text(tracker)
            active = await get_practice_system().active_medications(_subject_id(tracker))
            if trigger and _names_something(trigger, active):
                return {"refill_medication": trigger}
        return {}

    async def _named_in_trigger(self, text: str, tracker: Tracker) -> Dict[Text, Any]:
        active = await get_practice_system().active_medications(_subject_id(tracker))
        if not _names_something(text, active):
            return {}
        quiet = CollectingDispatcher()
        return await self.validate_refill_medication(text, quiet, tracker, {})

    async def validate_refill_medication(self, value, dispatcher, tracker, domain):
        practice = get_practice_system()
        subject = _subject_id(tracker)
        active = await practice.active_medications(subject)
        if not active:
            return {"refill_medication": "none", "refill_outcome": NO_PRESCRIPTIONS}
        text = str(value or "")
        if norm_text(text) in (SOMETHING_ELSE, "other", "none of these", "something different"):
            return {"refill_medication": text, "refill_outcome": NEW_PRESCRIPTION}
        offered = [m for m in active if m.id in (tracker.get_slot("refill_med_options") or [])]
        chosen = best_match(text, [(medication_label(m), m) for m in offered]) if offered else None
        found = MedicationMatch([chosen]) if chosen else match_medication(text, active)
        if found.not_on_list:
            return {"refill_medication": found.not_on_list, "refill_outcome": NEW_PRESCRIPTION}
        if not found.matches:
            dispatcher.utter_message(
                text="I couldn't find that among the current prescriptions on file."
            )
            return {"refill_medication": None, "refill_med_options": None}
        if len(found.matches) > 1:
            return {"refill_medication": None, "refill_med_options": [m.id for m in found.matches]}
        medication = found.matches[0]
        slots: Dict[Text, Any] = {
            "refill_medication": medication_label(medication),
            "refill_medication_id": medication.id,
            "refill_med_options": None,
        }
        pending = _pending_for(await practice.refill_requests(subject), medication.id)
        if pending is not None:
            return {**slots, "refill_outcome": ALREADY_PENDING}
        rule = refill_rule(medication, now_local().date())
        if rule.outcome in (CONTROLLED, TOO_EARLY):
            slots["refill_outcome"] = rule.outcome
            slots["refill_earliest"] = rule.earliest.isoformat() if rule.earliest else None
        return slots

    async def validate_refill_pharmacy(self, value, dispatcher, tracker, domain):
        practice = get_practice_system()
        text = norm_text(str(value or ""))
        usual = await _usual_pharmacy(tracker)
        options = tracker.get_slot("refill_pharmacy_options")
        if options is None and usual is not None and (text in _YES or text.startswith("yes")):
            return {"refill_pharmacy": usual.name, "refill_pharmacy_id": usual.id}
        if text in (OTHER_PHARMACY, "no", "another", "different", "a different one", "other"):
            return {"refill_pharmacy": None, "refill_pharmacy_options": []}
        if options:
            listed = [p for p in await practice.pharmacies() if p.id in options]
            chosen = best_match(text, [(p.name, p) for p in listed])
            if chosen is not None:
                return {"refill_pharmacy": chosen.name, "refill_pharmacy_id": chosen.id,
                        "refill_pharmacy_options": None}
        query = re.sub(r"^(the |at |to )", "", text)
        query = re.sub(r"\b(pharmacy|drugstore|chemist|zip|code|near|in)\b", " ", query).strip()
        found = await practice.pharmacies(query) if query else []
        if len(found) == 1:
            return {"refill_pharmacy": found[0].name, "refill_pharmacy_id": found[0].id,
                    "refill_pharmacy_options": None}
        if not found:
            dispatcher.utter_message(
                text="I couldn't find a pharmacy matching that in our directory. Please try "
                "its name (for example \"Corner\") or its ZIP code."
            )
            return {"refill_pharmacy": None, "refill_pharmacy_options": []}
        return {"refill_pharmacy": None, "refill_pharmacy_options": [p.id for p in found[:5]]}

    async def validate_refill_confirmed(self, value, dispatcher, tracker, domain):
        if value is not True:
            return {"refill_confirmed": False}
        medication = await _medication(tracker)
        if medication is None:  # gone from the list since it was chosen
            return {"refill_confirmed": False}
        kind = refill_rule(medication, now_local().date()).outcome
        kind = REFILL_KIND_RENEWAL if kind == REFILL_KIND_RENEWAL else REFILL_KIND_REFILL
        practice = get_practice_system()
        # A repeated "yes" finds the request it already made: staff hear of it once.
        already = _pending_for(await practice.refill_requests(_subject_id(tracker)), medication.id)
        try:
            request = already or await practice.create_refill_request(
                _subject_id(tracker),
                medication.id,
                int(tracker.get_slot("refill_pharmacy_id")),
                idempotency_key=_idempotency_key(tracker, medication.id),
                kind=kind,
                channel="sms" if is_sms(tracker) else "web",
                requested_by=tracker.get_slot("verified_patient_id"),
            )
        except NotFound:
            return {"refill_confirmed": False}
        # Only the call that made the request tells staff: a second conversation racing this
        # one (same patient, same medicine) gets the same request back with created False.
        if request.created:
            await notify_staff(
                "New prescription renewal request" if kind == REFILL_KIND_RENEWAL
                else "New refill request",
                request.reference,
            )
        return {"refill_confirmed": True, "last_refill": {
            "reference": request.reference, "kind": request.kind,
            "medication": request.medication_name, "pharmacy": request.pharmacy_name,
        }}


def _names_something(text: str, active: Sequence[Medication]) -> bool:
    found = match_medication(text, active)
    return bool(found.matches or found.not_on_list)


def _trigger_text(tracker: Tracker) -> Optional[str]:
    """What the patient typed when asking for the refill (this session only)."""
    for event in reversed(tracker.events):
        if event.get("event") == "session_started":
            return None
        if event.get("event") == "user":
            intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
            if intent == "request_refill":
                return event.get("text") or None
    return None


def _idempotency_key(tracker: Tracker, medication_id: int) -> str:
    """One request per medication per run of the refill form, however often the patient says
    yes. Per form run, not per session: asking again after staff decided the first request
    must make a new request, not bring back the decided one as if it were just made."""
    form_start = next(
        (e.get("timestamp") for e in reversed(tracker.events)
         if e.get("event") == "active_loop" and e.get("name") == "refill_form"),
        None,
    )
    if form_start is None:  # no form event to go by: the session, as before
        form_start = next(
            (e.get("timestamp") for e in reversed(tracker.events) if e.get("event") == "session_started"),
            0,
        )
    raw = f"{tracker.sender_id}|{form_start}|{medication_id}"
    return "conv-" + hashlib.sha256(raw.encode("utf-8")).hexdigest()[:40]


async def _usual_pharmacy(tracker: Tracker) -> Optional[Pharmacy]:
    practice = get_practice_system()
    subject = _subject_id(tracker)
    if subject is None:
        return None
    patient = await practice.get_patient(subject)
    if patient.preferred_pharmacy_id is None and patient.guardian_id is not None:
        patient = await practice.get_patient(patient.guardian_id)
    if patient.preferred_pharmacy_id is None:
        return None
    return next((p for p in await practice.pharmacies() if p.id == patient.preferred_pharmacy_id), None)


class ActionAskRefillFor(Action):
    def name(self) -> Text:
        return "action_ask_refill_for"

    async def run(self, dispatcher, tracker, domain):
        dependants = tracker.get_slot("dependants") or []
        buttons = [button("Mine", "myself")] + [button(d["first_name"], d["first_name"]) for d in dependants]
        dispatcher.utter_message(text="Whose prescription is it?", buttons=buttons)
        return []


class ActionAskRefillMedication(Action):
    def name(self) -> Text:
        return "action_ask_refill_medication"

    async def run(self, dispatcher, tracker, domain):
        active = await get_practice_system().active_medications(_subject_id(tracker))
        options = tracker.get_slot("refill_med_options")
        if options:
            listed = [m for m in active if m.id in options]
            text = "Which of these do you mean?"
        else:
            listed = active
            text = "Which medication would you like refilled? You can type its name or pick one."
        buttons = [button(medication_label(m), medication_label(m)) for m in listed]
        buttons.append(button("Something else", SOMETHING_ELSE))
        dispatcher.utter_message(text=text, buttons=buttons)
        return []


class ActionAskRefillPharmacy(Action):
    def name(self) -> Text:
        return "action_ask_refill_pharmacy"

    async def run(self, dispatcher, tracker, domain):
        options = tracker.get_slot("refill_pharmacy_options")
        if options:
            listed = [p for p in await get_practice_system().pharmacies() if p.id in options]
            dispatcher.utter_message(
                text="Which pharmacy?",
                buttons=[button(f"{p.name} ({p.zip})", p.name) for p in listed],
            )
            return []
        usual = await _usual_pharmacy(tracker)
        if usual is None or options == []:
            dispatcher.utter_message(
                text="Which pharmacy should it go to? Type its name or ZIP code."
            )
            return []
        dispatcher.utter_message(
            text=f"Should it go to your usual pharmacy, {usual.name}, {usual.address}?",
            buttons=[button("Yes, my usual pharmacy", "yes"),
                     button("Another pharmacy", OTHER_PHARMACY)],
        )
        return []


class ActionAskRefillConfirmed(Action):
    def name(self) -> Text:
        return "action_ask_refill_confirmed"

    async def run(self, dispatcher, tracker, domain):
        medication = await _medication(tracker)
        pharmacy = tracker.get_slot("refill_pharmacy")
        if medication is None:
            dispatcher.utter_message(text="Shall I go ahead?", buttons=_yes_no())
            return []
        if medication.refills_remaining <= 0:
            prescriber = await _prescriber_name(medication)
            text = (
                f"There are no refills left on {medication_label(medication)}, so this will be a "
                f"renewal request for {prescriber} to review (they may want to see you first). "
                f"If approved it goes to {pharmacy}. Send the renewal request?"
            )
        else:
            text = f"Request a refill of {medication_label(medication)}, sent to {pharmacy}?"
        dispatcher.utter_message(text=text, buttons=_yes_no())
        return []


def _yes_no() -> List[Dict[str, str]]:
    return [button("Yes, send it", "/affirm"), button("No", "/deny")]


async def _prescriber_name(medication: Medication) -> str:
    for provider in await get_practice_system().providers():
        if provider.id == medication.prescriber_id:
            return provider.display_name
    return "the prescriber"


class ActionFinishRefill(Action):
    def name(self) -> Text:
        return "action_finish_refill"

    async def run(self, dispatcher, tracker, domain):
        return reset_refill_slots() + [SlotSet(OFFERED_TASK, await self._finish(dispatcher, tracker))]

    async def _finish(self, dispatcher, tracker) -> Optional[str]:
        """Tell the patient how it went; returns the task offered next, if any."""
        phone = clinic()["phone_display"]
        if tracker.get_slot("verified_patient_id") is None:
            dispatcher.utter_message(
                text=f"I wasn't able to verify your identity, so no request was made. You can call us on {phone}."
            )
            return None
        outcome = tracker.get_slot("refill_outcome")
        medication = tracker.get_slot("refill_medication")
        if outcome == NO_PRESCRIPTIONS:
            return offer_task(dispatcher, "There are no current prescriptions on file that I can "
                              "request. A new prescription needs a visit. Would you like to book one?",
                              "book_appointment")
        elif outcome == NEW_PRESCRIPTION:
            named = f"{medication} isn't" if medication and medication != SOMETHING_ELSE else "That isn't"
            return offer_task(dispatcher, f"{named} on the current prescription list, so it needs a "
                              "new prescription, and that needs a visit. Would you like to book one?",
                              "book_appointment")
        elif outcome == CONTROLLED:
            dispatcher.utter_message(
                text=f"{medication} is a controlled medicine, so I can't take a request for it "
                f"here. Please call the clinic on {phone} and the team will help you."
            )
        elif outcome == TOO_EARLY:
            earliest = date.fromisoformat(tracker.get_slot("refill_earliest"))
            dispatcher.utter_message(
                text=f"It's a little early to refill {medication}: you can request it from "
                f"{earliest.strftime('%A')} {earliest.day} {earliest.strftime('%B')}. If you're "
                f"running out sooner than expected, please call us on {phone}."
            )
        elif outcome == ALREADY_PENDING:
            requests = await get_practice_system().refill_requests(_subject_id(tracker))
            pending = _pending_for(requests, int(tracker.get_slot("refill_medication_id")))
            reference = f" (reference {pending.reference})" if pending else ""
            dispatcher.utter_message(
                text=f"There's already a request for {medication} waiting for the care team"
                f"{reference}, so I haven't sent another. {_turnaround()}"
            )
        elif tracker.get_slot("refill_confirmed") is True and tracker.get_slot("last_refill"):
            done = tracker.get_slot("last_refill")
            what = "renewal request" if done["kind"] == REFILL_KIND_RENEWAL else "refill request"
            text = (
                f"Done: your {what} for {done['medication']} is in, reference "
                f"{done['reference']}. If approved it goes to {done['pharmacy']}. {_turnaround()} "
                "You can ask me \"refill status\" any time."
            )
            if done["kind"] == REFILL_KIND_RENEWAL:
                return offer_task(dispatcher, text + " If you'd like to see the prescriber about "
                                  "it, would you like to book an appointment?", "book_appointment")
            also = await _also_named(tracker)
            if also:
                # "refills on atorvastatin and amlodipine": the second was silently dropped.
                return offer_task(dispatcher, f"{text}\n\nYou also asked about {also}. Would you like "
                                              "to request that too?", "request_refill")
            dispatcher.utter_message(text=text)
        else:
            dispatcher.utter_message(text="Okay, I haven't sent a request.")
        return None


async def _also_named(tracker: Tracker) -> Optional[str]:
    """Other medicines on the list that the refill request named, besides the one just done."""
    trigger = _trigger_text(tracker)
    if not trigger:
        return None
    done = tracker.get_slot("refill_medication_id")
    words = fold_text(trigger).split()
    others = [m.generic_name for m in await get_practice_system().active_medications(_subject_id(tracker))
              if str(m.id) != str(done) and _names_hit(words, _names(m.generic_name, m.brand_names))]
    return " and ".join(others) or None


def _turnaround() -> str:
    return (clinic().get("refills") or {}).get(
        "turnaround_text", "The care team will decide soon and let you know."
    )


# --- refill status ---------------------------------------------------------------------


class ValidateRefillStatusForm(VerifiedFormValidation):
    def name(self) -> Text:
        return "validate_refill_status_form"


def status_line(request: RefillRequest) -> str:
    asked = request.created_at
    when = f"asked {asked.strftime('%a')} {asked.day} {asked.strftime('%b')}"
    what = f"{request.reference}: {request.medication_name} ({when})"
    if request.status == REFILL_PENDING:
        return f"{what}: waiting for the care team."
    if request.status == REFILL_APPROVED:
        return f"{what}: approved and sent to {request.pharmacy_name}."
    if request.status == REFILL_DENIED:
        return f"{what}: not approved. Please call us on {clinic()['phone_display']} to talk it through."
    if request.status == REFILL_NEEDS_APPOINTMENT:
        return f"{what}: the prescriber would like to see you first, so please book an appointment."
    return f"{what}: {request.status}."


class ActionRefillStatus(Action):
    def name(self) -> Text:
        return "action_refill_status"

    async def run(self, dispatcher, tracker, domain):
        return reset_refill_slots() + [SlotSet(OFFERED_TASK, await self._status(dispatcher, tracker))]

    async def _status(self, dispatcher, tracker) -> Optional[str]:
        """Show the requests; returns the task offered next, if any."""
        me = tracker.get_slot("verified_patient_id")
        if me is None:
            dispatcher.utter_message(
                text=f"I wasn't able to verify your identity, so I can't show any requests. You can call us on {clinic()['phone_display']}."
            )
            return None
        practice = get_practice_system()
        family = [(me, None)] + [(d["id"], d["first_name"]) for d in tracker.get_slot("dependants") or []]
        lines: List[Tuple[Any, str]] = []
        for patient_id, first_name in family:
            requests = await practice.refill_requests(patient_id)  # newest first
            # Every request still waiting, however old, then the latest decided ones.
            waiting = [r for r in requests if r.status == REFILL_PENDING]
            shown = waiting + [r for r in requests if r.status != REFILL_PENDING][:max(0, 5 - len(waiting))]
            for request in shown:
                prefix = f"For {first_name}: " if first_name else ""
                lines.append((request, prefix + status_line(request)))
        if not lines:
            return offer_task(dispatcher, "I can't find any refill requests. Would you like to request a refill?",
                              "request_refill")
        text = "Your refill requests:\n" + "\n".join(f"- {line}" for _, line in lines)
        if any(r.status == REFILL_NEEDS_APPOINTMENT for r, _ in lines):
            return offer_task(dispatcher, text + "\nWould you like to book an appointment?", "book_appointment")
        dispatcher.utter_message(text=text)
        return None
