"""The port between the assistant's actions and a practice's systems.

Actions depend only on this module: the records they show (frozen dataclasses) and the
async `PracticeSystem` interface. The embedded SQL implementation lives in `sql.py`; a FHIR
implementation can follow without touching an action.

Conventions every implementation keeps:
- Every datetime passed in must be timezone-aware; every datetime returned is aware and in
  the practice time zone (bot/content/clinic.yml `timezone`).
- Nothing PHI-bearing is returned before `verify_patient` (or the phone + DOB lookup) has
  identified the patient; methods that take a `patient_id` act only on that patient's
  records (or their dependants', where stated) and answer NotFound otherwise, so a wrong id
  cannot be used to learn that a record exists.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import List, Optional, Sequence, Tuple, Union

APPOINTMENT_BOOKED = "booked"
APPOINTMENT_CANCELLED = "cancelled"

REFILL_PENDING = "pending"
REFILL_APPROVED = "approved"
REFILL_DENIED = "denied"
REFILL_NEEDS_APPOINTMENT = "needs_appointment"
REFILL_STATUSES = (REFILL_PENDING, REFILL_APPROVED, REFILL_DENIED, REFILL_NEEDS_APPOINTMENT)

CONTROLLED_SCHEDULES = ("II", "III", "IV", "V")

REFILL_KIND_REFILL = "refill"  # a repeat of a prescription that has refills left
REFILL_KIND_RENEWAL = "renewal"  # no refills left: the prescriber decides (may want a visit)

# Wrong identity answers against one record, from any conversation or channel, before the
# record is locked, and for how long.
LOCKOUT_ATTEMPTS = 3
LOCKOUT_MINUTES = 15


@dataclass(frozen=True)
class Patient:
    id: int
    first_name: str
    last_name: str
    date_of_birth: date
    phone: Optional[str]  # E.164, e.g. "+13125550101"; None for young dependants
    guardian_id: Optional[int]
    preferred_pharmacy_id: Optional[int]


@dataclass(frozen=True)
class Provider:
    id: int
    display_name: str  # "Dr. Ada Lovetest"
    role: str  # "physician", "nurse practitioner"
    location_ids: Tuple[int, ...]


@dataclass(frozen=True)
class Location:
    id: int
    name: str
    address: str
    parking: str
    phone: str


@dataclass(frozen=True)
class VisitType:
    id: int
    code: str  # stable code actions can refer to, e.g. "FOLLOW_UP"
    name: str
    duration_minutes: int
    prep_notes: str


@dataclass(frozen=True)
class Closure:
    date: date  # practice-local date
    reason: str
    location_id: Optional[int]  # None: every location is closed


@dataclass(frozen=True)
class Slot:
    provider_id: int
    provider_name: str
    location_id: int
    location_name: str
    visit_type_id: int
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class Appointment:
    id: int
    reference: str  # "APT-7K3Q9": safe to read out to the patient
    patient_id: int
    patient_first_name: str
    provider_id: int
    provider_name: str
    location_id: int
    location_name: str
    location_address: str
    visit_type_id: int
    visit_type_name: str
    prep_notes: str
    starts_at: datetime
    ends_at: datetime
    status: str  # APPOINTMENT_BOOKED | APPOINTMENT_CANCELLED


@dataclass(frozen=True)
class Medication:
    id: int
    patient_id: int
    generic_name: str
    brand_names: Tuple[str, ...]
    strength: str  # "10 mg"
    directions: str
    controlled_schedule: Optional[str]  # None or "II".."V" (US DEA schedule)
    refills_remaining: int
    days_supply: int
    last_filled: date
    prescriber_id: int
    active: bool


@dataclass(frozen=True)
class Pharmacy:
    id: int
    name: str
    address: str
    zip: str
    phone: str


@dataclass(frozen=True)
class RefillRequest:
    id: int
    reference: str  # "RX-4M8TQ"
    patient_id: int
    medication_id: int
    pharmacy_id: int
    status: str  # one of REFILL_STATUSES
    created_at: datetime
    decided_at: Optional[datetime]
    decision_note: Optional[str]
    kind: str = REFILL_KIND_REFILL
    channel: str = "web"  # where the patient asked: "web" or "sms"
    medication_name: str = ""  # "atorvastatin 20 mg"
    pharmacy_name: str = ""
    patient_notified_at: Optional[datetime] = None
    requested_by_id: Optional[int] = None  # who asked: the patient, or their guardian
    # True only in the answer to the create_refill_request call that made this request, so the
    # caller that made it (and no other) tells staff. Not part of equality: it is not the request.
    created: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class AiOptOutRecord:
    reference: Optional[str]  # "AO-4M8TQ" (None for opt-outs recorded before references were kept)
    patient_id: int
    disclosure_version: str
    recorded_at: datetime


HANDOFF_LIVE = "live"  # office hours: the conversation waits for staff
HANDOFF_CALLBACK = "callback"  # outside hours: staff call back at the patient's preferred time
HANDOFF_WAITING = "waiting"
HANDOFF_CLOSED = "closed"


@dataclass(frozen=True)
class Handoff:
    id: int
    reference: str  # "HO-7K3Q9M"
    conversation_id: str
    channel: str
    kind: str  # HANDOFF_LIVE | HANDOFF_CALLBACK
    reason: str
    patient_id: Optional[int]
    callback_phone: Optional[str]
    callback_time: Optional[str]
    status: str  # HANDOFF_WAITING | HANDOFF_CLOSED
    created_at: datetime
    closed_at: Optional[datetime]


@dataclass(frozen=True)
class IdentityCheckResult:
    """What one identity check found. `patient` is set only on a match of an unlocked
    record; `locked` means the record the answer was aimed at is locked (refuse, and say to
    call); `locked_now` is true only for the attempt that caused the lock (notify staff)."""

    patient: Optional[Patient]
    locked: bool = False
    locked_now: bool = False


class PracticeError(Exception):
    """Base of every error the port raises; the message is safe to log (no PHI)."""


class NotFound(PracticeError):
    """No such record for this patient (also used when it exists but belongs to someone else)."""


class SlotUnavailable(PracticeError):
    """The slot cannot be booked or held now: offer the patient other times."""


class SlotTaken(SlotUnavailable):
    """Someone else booked or is holding (part of) this time first."""


class PatientBusy(SlotUnavailable):
    """The patient already has an appointment (with anyone) that overlaps this time."""


class SlotNotOffered(SlotUnavailable):
    """The time is not bookable at all: in the past, outside the provider's schedule, on a
    closure, misaligned, or its length does not match the visit type."""


class RefillAlreadyDecided(PracticeError):
    """A refill request that is no longer pending cannot be decided again (the patient has
    been told, and the pharmacy may have it)."""


class AppointmentNotChangeable(PracticeError):
    """The appointment is cancelled or has already started, so it cannot be moved or
    cancelled here; the patient should call the practice."""


DateOrDatetime = Union[date, datetime]


class PracticeSystem(abc.ABC):
    """What the assistant's actions may ask of a practice. Every method is a coroutine and
    never blocks the event loop."""

    # --- identity ---------------------------------------------------------------------

    @abc.abstractmethod
    async def verify_patient(self, full_name: str, date_of_birth: date) -> Optional[Patient]:
        """The patient with this name and date of birth, or None.

        The name may be "First Last" or "Last, First"; case, spacing and accents do not
        matter. None never says which of the two did not match (and is also the answer when
        the pair is ambiguous)."""

    @abc.abstractmethod
    async def find_patient_by_phone_and_dob(
        self, phone: str, date_of_birth: date
    ) -> Optional[Patient]:
        """The patient whose phone (any common US format or E.164) and DOB match, or None."""

    @abc.abstractmethod
    async def check_identity(
        self,
        date_of_birth: date,
        *,
        full_name: Optional[str] = None,
        phone: Optional[str] = None,
    ) -> IdentityCheckResult:
        """Verify a patient by name + DOB (web) or phone on file + DOB (SMS), counting
        failures against the record(s) the name or phone points at.

        LOCKOUT_ATTEMPTS failures within LOCKOUT_MINUTES lock those records for
        LOCKOUT_MINUTES; while locked even the right answer is refused. A success clears the
        count. Name and phone are counted and locked apart: a guesser who has a patient's name
        does not lock the patient out of SMS from their own phone. A name or phone that matches
        nobody counts against nobody (the conversation's own limit still applies), and the
        answer never says which field was wrong."""

    @abc.abstractmethod
    async def get_patient(self, patient_id: int) -> Patient:
        """Raises NotFound."""

    @abc.abstractmethod
    async def dependants(self, guardian_id: int) -> List[Patient]:
        """Patients this guardian may act for, by first name."""

    # --- practice facts (no PHI) ------------------------------------------------------

    @abc.abstractmethod
    async def providers(self, visit_type_id: Optional[int] = None) -> List[Provider]:
        """All providers, or those who offer this visit type."""

    @abc.abstractmethod
    async def locations(self) -> List[Location]:
        ...

    @abc.abstractmethod
    async def visit_types(self) -> List[VisitType]:
        ...

    @abc.abstractmethod
    async def closures(self, start_date: date, end_date: date) -> List[Closure]:
        """One-off closures (holidays, repairs) between the dates, both inclusive. Regular
        days off are in clinic.yml `hours`, not here."""

    # --- scheduling -------------------------------------------------------------------

    @abc.abstractmethod
    async def free_slots(
        self,
        visit_type_id: int,
        start: DateOrDatetime,
        end: DateOrDatetime,
        provider_id: Optional[int] = None,
        limit: int = 200,
    ) -> List[Slot]:
        """Bookable slots for the visit type that start at or after `start` (and after now)
        and end by `end`, ordered by start time then provider.

        A date means that practice-local day: `start` from its midnight, `end` to the end
        of it (inclusive). Slots lie inside a provider's schedule (never over lunch), off
        closures, and clear of booked appointments and unexpired holds."""

    @abc.abstractmethod
    async def hold_slot(
        self, patient_id: int, slot: Slot, holder_key: str, ttl_seconds: int = 300
    ) -> int:
        """Keep the slot for this patient while they confirm; returns the hold id.

        One live hold per holder_key (e.g. the conversation): a new hold replaces the
        holder's previous one. Raises SlotTaken or SlotNotOffered."""

    @abc.abstractmethod
    async def book(
        self,
        patient_id: int,
        slot: Slot,
        hold_id: Optional[int] = None,
        booked_by_patient_id: Optional[int] = None,
    ) -> Appointment:
        """Book the slot. The patient's own hold on it (with or without hold_id) turns into
        the appointment; anyone else's live booking or hold raises SlotTaken.
        booked_by_patient_id: the guardian booking for a dependant (must be their guardian)."""

    @abc.abstractmethod
    async def cancel(self, appointment_id: int, patient_id: int) -> Appointment:
        """Cancel the patient's (or their dependant's) appointment; cancelling twice is a
        no-op. Raises NotFound or AppointmentNotChangeable (already started)."""

    @abc.abstractmethod
    async def reschedule(
        self, appointment_id: int, patient_id: int, new_slot: Slot
    ) -> Appointment:
        """Move the appointment to new_slot, keeping its reference. Atomic: either the new
        time is booked and the old one freed, or nothing changes (SlotTaken /
        SlotNotOffered / NotFound / AppointmentNotChangeable)."""

    @abc.abstractmethod
    async def upcoming_appointments(self, patient_id: int, now: datetime) -> List[Appointment]:
        """The patient's booked appointments that have not started by `now`, soonest first."""

    # --- prescriptions ----------------------------------------------------------------

    @abc.abstractmethod
    async def active_medications(self, patient_id: int) -> List[Medication]:
        ...

    @abc.abstractmethod
    async def pharmacies(self, query: Optional[str] = None) -> List[Pharmacy]:
        """All pharmacies, or those whose name contains the query (case- and
        accent-insensitive) or whose ZIP starts with it."""

    @abc.abstractmethod
    async def create_refill_request(
        self,
        patient_id: int,
        medication_id: int,
        pharmacy_id: int,
        idempotency_key: str,
        *,
        kind: str = REFILL_KIND_REFILL,
        channel: str = "web",
        requested_by: Optional[int] = None,
    ) -> RefillRequest:
        """A pending refill request for staff to decide on. `requested_by` is the verified
        person who asked (a guardian for a dependant; default: the patient).

        Idempotent: the same idempotency_key, or a request already pending for the same
        medication, returns that request instead of creating a second one; `created` is True
        only on the call that made it (concurrent callers included). Raises NotFound
        for a medication that is not this patient's active one, or an unknown pharmacy."""

    @abc.abstractmethod
    async def refill_requests(self, patient_id: int) -> List[RefillRequest]:
        """The patient's refill requests, newest first."""

    @abc.abstractmethod
    async def set_refill_status(
        self, reference: str, status: str, note: Optional[str] = None
    ) -> RefillRequest:
        """Staff decision on a request (status one of REFILL_STATUSES). Raises NotFound."""

    # --- AI opt-out ---------------------------------------------------------------------

    @abc.abstractmethod
    async def record_ai_opt_out(self, patient_id: int, disclosure_version: str,
                                reference: Optional[str] = None) -> datetime:
        """Record (or refresh) that this patient does not want AI involved in their care,
        with the disclosure version they were shown and the reference staff were given;
        returns when it was recorded."""

    @abc.abstractmethod
    async def ai_opt_outs(self) -> List["AiOptOutRecord"]:
        """Every recorded opt-out, newest first, for staff to flag in the care record."""

    @abc.abstractmethod
    async def ai_opt_out(self, patient_id: int) -> Optional[Tuple[str, datetime]]:
        """(disclosure version, recorded at) when the patient has opted out, else None."""

    # --- handoffs to staff ------------------------------------------------------------

    @abc.abstractmethod
    async def create_handoff(
        self,
        conversation_id: str,
        channel: str,
        kind: str,
        reason: str,
        *,
        patient_id: Optional[int] = None,
        callback_phone: Optional[str] = None,
        callback_time: Optional[str] = None,
    ) -> Handoff:
        """A waiting handoff with a new reference. A conversation that already has one
        waiting gets that one back (asking twice does not queue twice)."""

    @abc.abstractmethod
    async def waiting_handoff(self, conversation_id: str) -> Optional[Handoff]:
        """The conversation's handoff still waiting for staff, if any."""

    @abc.abstractmethod
    async def handoff_queue(self) -> List[Handoff]:
        """Every waiting handoff, oldest first."""

    @abc.abstractmethod
    async def close_handoff(self, reference: str) -> Handoff:
        """Staff are done: the conversation goes back to the assistant. Raises NotFound."""

    # --- staff side (not for patient-facing actions) ----------------------------------

    @abc.abstractmethod
    async def refill_queue(self, status: Optional[str] = REFILL_PENDING) -> List[RefillRequest]:
        """Every patient's requests with this status (None: all), oldest first."""

    @abc.abstractmethod
    async def mark_refill_patient_notified(self, reference: str) -> None:
        """Record that the patient was told of the decision (e.g. by text)."""


def ensure_aware(value: datetime, what: str) -> datetime:
    """Reject naive datetimes: a naive time is ambiguous across the practice's DST change."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"{what} must be timezone-aware (got a naive datetime)")
    return value


__all__: Sequence[str] = (
    "Appointment",
    "AppointmentNotChangeable",
    "Closure",
    "Location",
    "Handoff",
    "IdentityCheckResult",
    "Medication",
    "NotFound",
    "Patient",
    "Pharmacy",
    "PracticeError",
    "PracticeSystem",
    "Provider",
    "RefillRequest",
    "Slot",
    "SlotNotOffered",
    "SlotTaken",
    "SlotUnavailable",
    "VisitType",
)
