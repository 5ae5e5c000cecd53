"""Tables of the embedded practice database (SQLite by default, PostgreSQL when scaled).

The rules that must hold under concurrency live here as constraints, not in code that
checks first: a provider's 15-minute cell can be occupied by one appointment or live hold
only (`uq_occupied_cells_provider_cell`), and a medication can have one pending refill
request at a time (`uq_refill_requests_one_pending`).

Datetimes are stored as naive UTC on both databases (`UtcDateTime`), so the same values and
comparisons behave identically on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import declarative_base
from sqlalchemy.types import TypeDecorator

# Named constraints: Alembic needs names, and errors are told apart by them.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Base = declarative_base(metadata=MetaData(naming_convention=NAMING))

# One cell is the unit of the schedule: every slot start and every visit length is a
# multiple of it.
CELL_MINUTES = 15


class UtcDateTime(TypeDecorator):
    """Aware datetime in, aware UTC datetime out; naive UTC in the column."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("refusing to store a naive datetime; pass an aware one")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Location(Base):
    __tablename__ = "locations"
    id = Column(Integer, primary_key=True)
    name = Column(String(120), nullable=False, unique=True)
    address = Column(String(255), nullable=False)
    parking = Column(Text, nullable=False, default="")
    phone = Column(String(32), nullable=False)


class Provider(Base):
    __tablename__ = "providers"
    id = Column(Integer, primary_key=True)
    display_name = Column(String(120), nullable=False)
    role = Column(String(60), nullable=False)


class ProviderLocation(Base):
    __tablename__ = "provider_locations"
    provider_id = Column(Integer, ForeignKey("providers.id"), primary_key=True)
    location_id = Column(Integer, ForeignKey("locations.id"), primary_key=True)


class VisitType(Base):
    __tablename__ = "visit_types"
    id = Column(Integer, primary_key=True)
    code = Column(String(40), nullable=False, unique=True)
    name = Column(String(120), nullable=False)
    duration_minutes = Column(Integer, nullable=False)
    prep_notes = Column(Text, nullable=False, default="")
    __table_args__ = (
        CheckConstraint(
            f"duration_minutes > 0 AND duration_minutes % {CELL_MINUTES} = 0",
            name="whole_cells",
        ),
    )


class ProviderVisitType(Base):
    """Which provider offers which visit type."""

    __tablename__ = "provider_visit_types"
    provider_id = Column(Integer, ForeignKey("providers.id"), primary_key=True)
    visit_type_id = Column(Integer, ForeignKey("visit_types.id"), primary_key=True)


class ScheduleBlock(Base):
    """A stretch of time a provider sees patients at one location (lunch falls between
    two blocks, so it is never offered)."""

    __tablename__ = "schedule_blocks"
    id = Column(Integer, primary_key=True)
    provider_id = Column(Integer, ForeignKey("providers.id"), nullable=False)
    location_id = Column(Integer, ForeignKey("locations.id"), nullable=False)
    starts_at = Column(UtcDateTime, nullable=False)
    ends_at = Column(UtcDateTime, nullable=False)
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="positive_length"),
        Index("ix_schedule_blocks_provider_start", "provider_id", "starts_at"),
        Index("ix_schedule_blocks_starts_at", "starts_at"),
    )


class Closure(Base):
    __tablename__ = "closures"
    id = Column(Integer, primary_key=True)
    date = Column(Date, nullable=False, index=True)  # practice-local date
    reason = Column(String(255), nullable=False)
    location_id = Column(Integer, ForeignKey("locations.id"), nullable=True)


class Pharmacy(Base):
    __tablename__ = "pharmacies"
    id = Column(Integer, primary_key=True)
    name = Column(String(120), nullable=False)
    # Lower-case, accent-free name for searching the same way on both databases.
    search_name = Column(String(120), nullable=False)
    address = Column(String(255), nullable=False)
    zip = Column(String(10), nullable=False, index=True)
    phone = Column(String(32), nullable=False)


class Patient(Base):
    __tablename__ = "patients"
    id = Column(Integer, primary_key=True)
    first_name = Column(String(80), nullable=False)
    last_name = Column(String(80), nullable=False)
    # "first last", lower-case, accent- and punctuation-free: what verification matches.
    name_key = Column(String(170), nullable=False)
    date_of_birth = Column(Date, nullable=False)
    phone = Column(String(20), nullable=True, index=True)  # E.164
    guardian_id = Column(Integer, ForeignKey("patients.id"), nullable=True, index=True)
    preferred_pharmacy_id = Column(Integer, ForeignKey("pharmacies.id"), nullable=True)
    __table_args__ = (Index("ix_patients_name_key_dob", "name_key", "date_of_birth"),)


class Appointment(Base):
    __tablename__ = "appointments"
    id = Column(Integer, primary_key=True)
    reference = Column(String(16), nullable=False, unique=True)
    patient_id = Column(Integer, ForeignKey("patients.id"), nullable=False, index=True)
    booked_by_patient_id = Column(Integer, ForeignKey("patients.id"), nullable=True)
    provider_id = Column(Integer, ForeignKey("providers.id"), nullable=False)
    location_id = Column(Integer, ForeignKey("locations.id"), nullable=False)
    visit_type_id = Column(Integer, ForeignKey("visit_types.id"), nullable=False)
    starts_at = Column(UtcDateTime, nullable=False)
    ends_at = Column(UtcDateTime, nullable=False)
    status = Column(String(20), nullable=False, default="booked")
    created_at = Column(UtcDateTime, nullable=False, default=utcnow)
    updated_at = Column(UtcDateTime, nullable=False, default=utcnow)
    __table_args__ = (
        CheckConstraint("status IN ('booked', 'cancelled')", name="known_status"),
        CheckConstraint("ends_at > starts_at", name="positive_length"),
    )


class Hold(Base):
    """A slot kept for a patient while they confirm; its cells are released on expiry."""

    __tablename__ = "holds"
    id = Column(Integer, primary_key=True)
    holder_key = Column(String(128), nullable=False, index=True)
    patient_id = Column(Integer, ForeignKey("patients.id"), nullable=False)
    provider_id = Column(Integer, ForeignKey("providers.id"), nullable=False)
    location_id = Column(Integer, ForeignKey("locations.id"), nullable=False)
    visit_type_id = Column(Integer, ForeignKey("visit_types.id"), nullable=False)
    starts_at = Column(UtcDateTime, nullable=False)
    ends_at = Column(UtcDateTime, nullable=False)
    expires_at = Column(UtcDateTime, nullable=False, index=True)


class OccupiedCell(Base):
    """One row per provider per 15-minute cell covered by an appointment or a live hold.

    The unique constraint is what makes double booking impossible: two transactions that
    try to take the same cell cannot both commit, on SQLite or PostgreSQL."""

    __tablename__ = "occupied_cells"
    id = Column(Integer, primary_key=True)
    provider_id = Column(Integer, ForeignKey("providers.id"), nullable=False)
    cell_start = Column(UtcDateTime, nullable=False)
    appointment_id = Column(Integer, ForeignKey("appointments.id"), nullable=True, index=True)
    hold_id = Column(Integer, ForeignKey("holds.id"), nullable=True, index=True)
    # Copied from the hold so expired cells can be released without a join.
    hold_expires_at = Column(UtcDateTime, nullable=True, index=True)
    __table_args__ = (
        UniqueConstraint("provider_id", "cell_start", name="uq_occupied_cells_provider_cell"),
        CheckConstraint(
            "(appointment_id IS NULL) <> (hold_id IS NULL)", name="appointment_xor_hold"
        ),
    )


class Medication(Base):
    __tablename__ = "medications"
    id = Column(Integer, primary_key=True)
    patient_id = Column(Integer, ForeignKey("patients.id"), nullable=False, index=True)
    generic_name = Column(String(120), nullable=False)
    brand_names = Column(JSON, nullable=False, default=list)
    strength = Column(String(40), nullable=False)
    directions = Column(Text, nullable=False)
    controlled_schedule = Column(String(3), nullable=True)
    refills_remaining = Column(Integer, nullable=False, default=0)
    days_supply = Column(Integer, nullable=False)
    last_filled = Column(Date, nullable=False)
    prescriber_id = Column(Integer, ForeignKey("providers.id"), nullable=False)
    active = Column(Boolean, nullable=False, default=True)
    __table_args__ = (
        CheckConstraint(
            "controlled_schedule IS NULL OR controlled_schedule IN ('II', 'III', 'IV', 'V')",
            name="dea_schedule",
        ),
    )


class RefillRequest(Base):
    __tablename__ = "refill_requests"
    id = Column(Integer, primary_key=True)
    reference = Column(String(16), nullable=False, unique=True)
    idempotency_key = Column(String(128), nullable=False, unique=True)
    patient_id = Column(Integer, ForeignKey("patients.id"), nullable=False, index=True)
    medication_id = Column(Integer, ForeignKey("medications.id"), nullable=False)
    pharmacy_id = Column(Integer, ForeignKey("pharmacies.id"), nullable=False)
    status = Column(String(20), nullable=False, default="pending", index=True)
    kind = Column(String(10), nullable=False, default="refill", server_default="refill")
    channel = Column(String(10), nullable=False, default="web", server_default="web")
    created_at = Column(UtcDateTime, nullable=False, default=utcnow)
    decided_at = Column(UtcDateTime, nullable=True)
    decision_note = Column(Text, nullable=True)
    patient_notified_at = Column(UtcDateTime, nullable=True)
    # Who asked: the patient, or a guardian for a dependant. A decision is texted to them.
    requested_by_id = Column(Integer, ForeignKey("patients.id"), nullable=True)
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'approved', 'denied', 'needs_appointment')",
            name="known_status",
        ),
        # A second request for a medication already waiting on staff is the same request.
        Index(
            "uq_refill_requests_one_pending",
            "patient_id",
            "medication_id",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )


class IdentityCheck(Base):
    """Failed identity checks against one patient record by one second factor, from any
    conversation: `name` (web chat: full name + date of birth) or `phone` (SMS: the phone on
    file + date of birth). Counted apart, so guessing on the web with a patient's name does
    not lock the patient out of SMS, where their own phone is the factor, nor the reverse."""

    __tablename__ = "identity_checks"
    patient_id = Column(Integer, ForeignKey("patients.id"), primary_key=True)
    factor = Column(String(8), primary_key=True)  # 'name' | 'phone'
    failed_attempts = Column(Integer, nullable=False, default=0, server_default="0")
    last_failed_at = Column(UtcDateTime, nullable=True)
    locked_until = Column(UtcDateTime, nullable=True)


class Handoff(Base):
    """A patient asked for a person: a live handoff (office hours) or a callback request."""

    __tablename__ = "handoffs"
    id = Column(Integer, primary_key=True)
    reference = Column(String(16), nullable=False, unique=True)
    conversation_id = Column(String(128), nullable=False, index=True)
    channel = Column(String(16), nullable=False)
    kind = Column(String(10), nullable=False)  # 'live' | 'callback'
    reason = Column(String(32), nullable=False)  # 'asked' | 'misunderstood' | 'opt_out' ...
    patient_id = Column(Integer, ForeignKey("patients.id"), nullable=True)
    callback_phone = Column(String(20), nullable=True)  # E.164; the practice calls it
    callback_time = Column(String(120), nullable=True)  # the patient's words, e.g. "after 3"
    status = Column(String(10), nullable=False, default="waiting", index=True)
    created_at = Column(UtcDateTime, nullable=False, default=utcnow)
    closed_at = Column(UtcDateTime, nullable=True)
    __table_args__ = (
        CheckConstraint("kind IN ('live', 'callback')", name="kind"),
        CheckConstraint("status IN ('waiting', 'closed')", name="status"),
    )


class AiOptOut(Base):
    """The patient does not want AI involved in their care (one row per patient: the latest)."""

    __tablename__ = "ai_opt_outs"
    patient_id = Column(Integer, ForeignKey("patients.id"), primary_key=True)
    disclosure_version = Column(String(32), nullable=False)
    recorded_at = Column(UtcDateTime, nullable=False, default=utcnow)
    # The AO-... reference staff were sent in Slack (no PHI there): resolves to the patient
    # on a staff workstation (`make staff-refills ARGS=opt-outs`).
    reference = Column(String(16), nullable=True, unique=True)


class PracticeMeta(Base):
    """Small key/value facts about this database (e.g. which week the demo was seeded)."""

    __tablename__ = "practice_meta"
    key = Column(String(64), primary_key=True)
    value = Column(String(255), nullable=False)
