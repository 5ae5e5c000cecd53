"""The embedded practice system: `PracticeSystem` over SQLAlchemy's asyncio API.

SQLite (aiosqlite) by default, PostgreSQL (asyncpg) when DATABASE_URL says so; the same
code and the same constraints on both. Double booking is prevented by the schema (see
`models.OccupiedCell`): booking inserts one row per 15-minute cell in the same transaction
as the appointment, and a unique-constraint violation becomes `SlotTaken`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import replace
from datetime import date, datetime, time, timedelta, timezone
from typing import Awaitable, Callable, List, Optional, Sequence, Tuple, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, insert, or_, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import sessionmaker

from actions.practice import models as m
from actions.practice.clinic import practice_timezone
from actions.practice.db import create_engines, default_database_url
from actions.practice.matching import e164_phone, fold_text, name_keys_for_input
from actions.practice.port import (
    APPOINTMENT_BOOKED,
    APPOINTMENT_CANCELLED,
    LOCKOUT_ATTEMPTS,
    LOCKOUT_MINUTES,
    REFILL_KIND_REFILL,
    REFILL_KIND_RENEWAL,
    REFILL_PENDING,
    REFILL_STATUSES,
    AiOptOutRecord,
    Appointment,
    AppointmentNotChangeable,
    Closure,
    HANDOFF_CALLBACK,
    HANDOFF_CLOSED,
    HANDOFF_LIVE,
    HANDOFF_WAITING,
    DateOrDatetime,
    Handoff,
    IdentityCheckResult,
    Location,
    Medication,
    NotFound,
    Patient,
    PatientBusy,
    Pharmacy,
    PracticeError,
    PracticeSystem,
    Provider,
    RefillAlreadyDecided,
    RefillRequest,
    Slot,
    SlotNotOffered,
    SlotTaken,
    VisitType,
    ensure_aware,
)
from privacy.references import new_reference

log = logging.getLogger(__name__)

T = TypeVar("T")
CELL = timedelta(minutes=m.CELL_MINUTES)
_WRITE_ATTEMPTS = 4

# How each unique constraint shows up in a driver error: PostgreSQL names the constraint,
# SQLite lists the columns.
_CELL_CONFLICT = (
    "uq_occupied_cells_provider_cell",
    "occupied_cells.provider_id, occupied_cells.cell_start",
)
_REFERENCE_CONFLICT = (
    "uq_appointments_reference",
    "appointments.reference",
    "uq_refill_requests_reference",
    "refill_requests.reference",
    "uq_handoffs_reference",
    "handoffs.reference",
)
# Two conversations failing against the same record at once both try to create its row.
_IDENTITY_CHECK_CONFLICT = ("pk_identity_checks", "identity_checks.patient_id")
_REFILL_DUPLICATE = (
    "uq_refill_requests_idempotency_key",
    "refill_requests.idempotency_key",
    "uq_refill_requests_one_pending",
    "refill_requests.patient_id, refill_requests.medication_id",
)


def _violates(error: IntegrityError, names: Sequence[str]) -> bool:
    message = str(error.orig)
    return any(name in message for name in names)


def _retryable(error: DBAPIError) -> bool:
    """Lock contention the database asks us to retry (never a constraint violation)."""
    if isinstance(error, IntegrityError):
        return False
    message = str(error.orig).lower()
    return any(
        marker in message
        for marker in ("database is locked", "deadlock detected", "could not serialize")
    )


def cells_of(starts_at: datetime, ends_at: datetime) -> List[datetime]:
    cells, cell = [], starts_at
    while cell < ends_at:
        cells.append(cell)
        cell += CELL
    return cells


def _next_cell(grid_start: datetime, at_or_after: datetime) -> datetime:
    """The first time on the 15-minute grid that starts at grid_start, not before at_or_after."""
    if at_or_after <= grid_start:
        return grid_start
    steps = -((grid_start - at_or_after) // CELL)  # ceiling division
    return grid_start + steps * CELL


class SqlPracticeSystem(PracticeSystem):
    """`PracticeSystem` on the embedded database. Create once per process and share it;
    call `close()` on shutdown."""

    def __init__(
        self,
        database_url: Optional[str] = None,
        *,
        pg_schema: Optional[str] = None,
        clock: Optional[Callable[[], datetime]] = None,
        tz: Optional[ZoneInfo] = None,
        prepare: Optional[str] = None,
    ) -> None:
        """prepare: None (the caller has migrated), "migrate" (upgrade the schema before the
        first query) or "migrate+seed" (also seed the demo clinic into an empty database)."""
        if prepare not in (None, "migrate", "migrate+seed"):
            raise ValueError("prepare must be None, 'migrate' or 'migrate+seed'")
        self._prepare = prepare
        self._prepare_lock = asyncio.Lock()
        self.pg_schema = pg_schema
        self._engines = create_engines(database_url or default_database_url(), pg_schema)
        self.database_url = self._engines.url
        self._read_sessions = sessionmaker(
            self._engines.read, class_=AsyncSession, expire_on_commit=False
        )
        self._write_sessions = sessionmaker(
            self._engines.write, class_=AsyncSession, expire_on_commit=False
        )
        self._clock = clock or m.utcnow
        self.tz = tz or practice_timezone()

    @property
    def engine(self) -> AsyncEngine:
        """The engine reads go through (for health checks and tests)."""
        return self._engines.read

    async def close(self) -> None:
        await self._engines.dispose()

    async def ensure_ready(self, seed_demo: bool = True) -> None:
        """Migrate to the latest schema and (by default) seed the demo clinic if the
        database is empty. Idempotent; cheap when already done."""
        from actions.practice.migrate import ensure_schema_and_seed

        await ensure_schema_and_seed(
            self.database_url, pg_schema=self.pg_schema, seed_demo=seed_demo
        )
        self._prepare = None

    async def _prepared(self) -> None:
        if self._prepare is None:
            return
        async with self._prepare_lock:
            if self._prepare is not None:
                await self.ensure_ready(seed_demo=self._prepare == "migrate+seed")

    async def seeded_week_start(self) -> Optional[date]:
        """The Monday the demo schedule was seeded from (None outside the demo)."""
        async with self._reading() as session:
            value = await session.scalar(
                select(m.PracticeMeta.value).where(m.PracticeMeta.key == "demo_week_start")
            )
        return date.fromisoformat(value) if value else None

    # --- plumbing ---------------------------------------------------------------------

    def _now(self) -> datetime:
        return ensure_aware(self._clock(), "clock()").astimezone(timezone.utc)

    def _local(self, value: datetime) -> datetime:
        return value.astimezone(self.tz)

    def _reading(self):
        return _ReadTransaction(self._read_sessions, self._prepared)

    async def _write(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run `work` in one write transaction, retrying lock contention and (freshly
        generated) reference collisions. Other IntegrityErrors are for the caller."""
        await self._prepared()
        for attempt in range(1, _WRITE_ATTEMPTS + 1):
            try:
                async with self._write_sessions() as session:
                    async with session.begin():
                        return await work(session)
            except IntegrityError as error:
                if attempt < _WRITE_ATTEMPTS and _violates(
                    error, _REFERENCE_CONFLICT + _IDENTITY_CHECK_CONFLICT
                ):
                    continue
                raise
            except DBAPIError as error:
                if attempt < _WRITE_ATTEMPTS and _retryable(error):
                    log.warning("practice db busy, retrying write (attempt %d)", attempt)
                    await asyncio.sleep(0.05 * attempt + random.random() * 0.05)
                    continue
                raise
        raise AssertionError("unreachable")

    def _range(self, start: DateOrDatetime, end: DateOrDatetime) -> Tuple[datetime, datetime]:
        if isinstance(start, datetime):
            start_utc = ensure_aware(start, "start").astimezone(timezone.utc)
        else:
            start_utc = datetime.combine(start, time(0), self.tz).astimezone(timezone.utc)
        if isinstance(end, datetime):
            end_utc = ensure_aware(end, "end").astimezone(timezone.utc)
        else:
            next_day = end + timedelta(days=1)
            end_utc = datetime.combine(next_day, time(0), self.tz).astimezone(timezone.utc)
        return start_utc, end_utc

    # --- record conversion ------------------------------------------------------------

    @staticmethod
    def _patient(row: m.Patient) -> Patient:
        return Patient(
            id=row.id,
            first_name=row.first_name,
            last_name=row.last_name,
            date_of_birth=row.date_of_birth,
            phone=row.phone,
            guardian_id=row.guardian_id,
            preferred_pharmacy_id=row.preferred_pharmacy_id,
        )

    @staticmethod
    def _medication(row: m.Medication) -> Medication:
        return Medication(
            id=row.id,
            patient_id=row.patient_id,
            generic_name=row.generic_name,
            brand_names=tuple(row.brand_names or ()),
            strength=row.strength,
            directions=row.directions,
            controlled_schedule=row.controlled_schedule,
            refills_remaining=row.refills_remaining,
            days_supply=row.days_supply,
            last_filled=row.last_filled,
            prescriber_id=row.prescriber_id,
            active=row.active,
        )

    def _refill(
        self, row: m.RefillRequest, medication_name: str = "", pharmacy_name: str = ""
    ) -> RefillRequest:
        return RefillRequest(
            id=row.id,
            reference=row.reference,
            patient_id=row.patient_id,
            medication_id=row.medication_id,
            pharmacy_id=row.pharmacy_id,
            status=row.status,
            created_at=self._local(row.created_at),
            decided_at=self._local(row.decided_at) if row.decided_at else None,
            decision_note=row.decision_note,
            kind=row.kind or REFILL_KIND_REFILL,
            channel=row.channel or "web",
            medication_name=medication_name,
            pharmacy_name=pharmacy_name,
            patient_notified_at=(
                self._local(row.patient_notified_at) if row.patient_notified_at else None
            ),
            requested_by_id=row.requested_by_id,
        )

    def _refill_query(self):
        """Requests with the medication and pharmacy names patients and staff read."""
        return (
            select(m.RefillRequest, m.Medication.generic_name, m.Medication.strength, m.Pharmacy.name)
            .join(m.Medication, m.Medication.id == m.RefillRequest.medication_id)
            .join(m.Pharmacy, m.Pharmacy.id == m.RefillRequest.pharmacy_id)
        )

    def _refill_row(self, row) -> RefillRequest:
        request, generic_name, strength, pharmacy_name = row
        return self._refill(request, f"{generic_name} {strength}".strip(), pharmacy_name)

    _APPOINTMENT_COLUMNS = (
        m.Appointment,
        m.Patient.first_name,
        m.Provider.display_name,
        m.Location,
        m.VisitType.name,
        m.VisitType.prep_notes,
    )

    def _appointment_query(self):
        return (
            select(*self._APPOINTMENT_COLUMNS)
            .join(m.Patient, m.Patient.id == m.Appointment.patient_id)
            .join(m.Provider, m.Provider.id == m.Appointment.provider_id)
            .join(m.Location, m.Location.id == m.Appointment.location_id)
            .join(m.VisitType, m.VisitType.id == m.Appointment.visit_type_id)
        )

    def _appointment(self, row) -> Appointment:
        appointment, first_name, provider_name, location, visit_name, prep = row
        return Appointment(
            id=appointment.id,
            reference=appointment.reference,
            patient_id=appointment.patient_id,
            patient_first_name=first_name,
            provider_id=appointment.provider_id,
            provider_name=provider_name,
            location_id=location.id,
            location_name=location.name,
            location_address=location.address,
            visit_type_id=appointment.visit_type_id,
            visit_type_name=visit_name,
            prep_notes=prep,
            starts_at=self._local(appointment.starts_at),
            ends_at=self._local(appointment.ends_at),
            status=appointment.status,
        )

    async def _load_appointment(self, session: AsyncSession, appointment_id: int) -> Appointment:
        row = (
            await session.execute(
                self._appointment_query().where(m.Appointment.id == appointment_id)
            )
        ).one()
        return self._appointment(row)

    # --- identity ---------------------------------------------------------------------

    async def verify_patient(self, full_name: str, date_of_birth: date) -> Optional[Patient]:
        keys = name_keys_for_input(full_name or "")
        if not keys or not isinstance(date_of_birth, date):
            return None
        # One query on both fields together: the answer (and its timing) is the same
        # whichever of the two is wrong.
        async with self._reading() as session:
            rows = (
                await session.scalars(
                    select(m.Patient).where(
                        m.Patient.name_key.in_(sorted(keys)),
                        m.Patient.date_of_birth == date_of_birth,
                    )
                )
            ).all()
        return self._patient(rows[0]) if len(rows) == 1 else None

    async def find_patient_by_phone_and_dob(
        self, phone: str, date_of_birth: date
    ) -> Optional[Patient]:
        normalized = e164_phone(phone or "")
        if normalized is None:
            return None
        async with self._reading() as session:
            rows = (
                await session.scalars(
                    select(m.Patient).where(
                        m.Patient.phone == normalized, m.Patient.date_of_birth == date_of_birth
                    )
                )
            ).all()
        return self._patient(rows[0]) if len(rows) == 1 else None

    async def check_identity(
        self,
        date_of_birth: date,
        *,
        full_name: Optional[str] = None,
        phone: Optional[str] = None,
    ) -> IdentityCheckResult:
        if full_name is not None:
            keys = name_keys_for_input(full_name)
            if not keys:
                return IdentityCheckResult(None)
            aimed_at = m.Patient.name_key.in_(sorted(keys))
            factor = "name"
        elif phone is not None:
            normalized = e164_phone(phone)
            if normalized is None:
                return IdentityCheckResult(None)
            aimed_at = m.Patient.phone == normalized
            factor = "phone"
        else:
            raise ValueError("check_identity needs full_name or phone")
        if not isinstance(date_of_birth, date):
            raise ValueError("date_of_birth must be a date")
        now = self._now()
        window = timedelta(minutes=LOCKOUT_MINUTES)

        async def work(session: AsyncSession) -> IdentityCheckResult:
            candidates = (
                await session.scalars(select(m.Patient).where(aimed_at).order_by(m.Patient.id))
            ).all()
            if not candidates:
                return IdentityCheckResult(None)
            ids = [c.id for c in candidates]
            checks = {
                row.patient_id: row
                for row in (
                    await session.scalars(
                        select(m.IdentityCheck)
                        .where(m.IdentityCheck.patient_id.in_(ids), m.IdentityCheck.factor == factor)
                        .with_for_update()
                    )
                ).all()
            }
            # Locked means locked: the right answer is refused too, or the lock would only
            # slow a guesser down.
            if any(c.locked_until and c.locked_until > now for c in checks.values()):
                return IdentityCheckResult(None, locked=True)
            matches = [c for c in candidates if c.date_of_birth == date_of_birth]
            if len(matches) == 1:
                check = checks.get(matches[0].id)
                if check is not None:
                    check.failed_attempts, check.locked_until = 0, None
                return IdentityCheckResult(self._patient(matches[0]))
            if matches:  # two records with the same name and DOB: not a failure, not a match
                return IdentityCheckResult(None)
            locked_now = False
            for candidate in candidates:
                check = checks.get(candidate.id)
                if check is None:
                    check = m.IdentityCheck(patient_id=candidate.id, factor=factor, failed_attempts=0)
                    session.add(check)
                if check.last_failed_at is None or now - check.last_failed_at > window:
                    check.failed_attempts = 0  # old failures have lapsed
                check.failed_attempts += 1
                check.last_failed_at = now
                if check.failed_attempts >= LOCKOUT_ATTEMPTS:
                    check.failed_attempts, check.locked_until = 0, now + window
                    locked_now = True
            await session.flush()
            return IdentityCheckResult(None, locked=locked_now, locked_now=locked_now)

        return await self._write(work)

    async def get_patient(self, patient_id: int) -> Patient:
        async with self._reading() as session:
            row = await session.get(m.Patient, patient_id)
        if row is None:
            raise NotFound("No such patient.")
        return self._patient(row)

    async def dependants(self, guardian_id: int) -> List[Patient]:
        async with self._reading() as session:
            rows = (
                await session.scalars(
                    select(m.Patient)
                    .where(m.Patient.guardian_id == guardian_id)
                    .order_by(m.Patient.first_name, m.Patient.id)
                )
            ).all()
        return [self._patient(row) for row in rows]

    # --- practice facts ---------------------------------------------------------------

    async def providers(self, visit_type_id: Optional[int] = None) -> List[Provider]:
        async with self._reading() as session:
            query = select(m.Provider).order_by(m.Provider.id)
            if visit_type_id is not None:
                query = query.join(
                    m.ProviderVisitType, m.ProviderVisitType.provider_id == m.Provider.id
                ).where(m.ProviderVisitType.visit_type_id == visit_type_id)
            providers = (await session.scalars(query)).all()
            links = (
                await session.execute(
                    select(m.ProviderLocation.provider_id, m.ProviderLocation.location_id)
                    .order_by(m.ProviderLocation.location_id)
                )
            ).all()
        locations_of: dict = {}
        for provider_id, location_id in links:
            locations_of.setdefault(provider_id, []).append(location_id)
        return [
            Provider(
                id=p.id,
                display_name=p.display_name,
                role=p.role,
                location_ids=tuple(locations_of.get(p.id, ())),
            )
            for p in providers
        ]

    async def locations(self) -> List[Location]:
        async with self._reading() as session:
            rows = (await session.scalars(select(m.Location).order_by(m.Location.id))).all()
        return [
            Location(id=r.id, name=r.name, address=r.address, parking=r.parking, phone=r.phone)
            for r in rows
        ]

    async def visit_types(self) -> List[VisitType]:
        async with self._reading() as session:
            rows = (await session.scalars(select(m.VisitType).order_by(m.VisitType.id))).all()
        return [
            VisitType(
                id=r.id,
                code=r.code,
                name=r.name,
                duration_minutes=r.duration_minutes,
                prep_notes=r.prep_notes,
            )
            for r in rows
        ]

    async def closures(self, start_date: date, end_date: date) -> List[Closure]:
        async with self._reading() as session:
            rows = (
                await session.scalars(
                    select(m.Closure)
                    .where(m.Closure.date >= start_date, m.Closure.date <= end_date)
                    .order_by(m.Closure.date, m.Closure.id)
                )
            ).all()
        return [Closure(date=r.date, reason=r.reason, location_id=r.location_id) for r in rows]

    # --- scheduling -------------------------------------------------------------------

    async def free_slots(
        self,
        visit_type_id: int,
        start: DateOrDatetime,
        end: DateOrDatetime,
        provider_id: Optional[int] = None,
        limit: int = 200,
    ) -> List[Slot]:
        start_utc, end_utc = self._range(start, end)
        now = self._now()
        earliest = max(start_utc, now)
        if earliest >= end_utc or limit <= 0:
            return []
        async with self._reading() as session:
            visit = await session.get(m.VisitType, visit_type_id)
            if visit is None:
                raise NotFound("No such visit type.")
            length = timedelta(minutes=visit.duration_minutes)
            offering = select(m.ProviderVisitType.provider_id).where(
                m.ProviderVisitType.visit_type_id == visit_type_id
            )
            if provider_id is not None:
                offering = offering.where(m.ProviderVisitType.provider_id == provider_id)
            blocks = (
                await session.execute(
                    select(m.ScheduleBlock, m.Provider.display_name, m.Location.name)
                    .join(m.Provider, m.Provider.id == m.ScheduleBlock.provider_id)
                    .join(m.Location, m.Location.id == m.ScheduleBlock.location_id)
                    .where(
                        m.ScheduleBlock.provider_id.in_(offering),
                        m.ScheduleBlock.ends_at > earliest,
                        m.ScheduleBlock.starts_at < end_utc,
                    )
                    .order_by(m.ScheduleBlock.starts_at, m.ScheduleBlock.provider_id)
                )
            ).all()
            if not blocks:
                return []
            closures = (
                await session.execute(
                    select(m.Closure.date, m.Closure.location_id).where(
                        m.Closure.date >= self._local(earliest).date(),
                        m.Closure.date <= self._local(end_utc).date(),
                    )
                )
            ).all()
            occupied = (
                await session.execute(
                    select(m.OccupiedCell.provider_id, m.OccupiedCell.cell_start).where(
                        m.OccupiedCell.provider_id.in_(offering),
                        m.OccupiedCell.cell_start >= earliest,
                        m.OccupiedCell.cell_start < end_utc,
                        or_(
                            m.OccupiedCell.hold_expires_at.is_(None),
                            m.OccupiedCell.hold_expires_at > now,
                        ),
                    )
                )
            ).all()

        closed_everywhere = {day for day, location in closures if location is None}
        closed_at = {(day, location) for day, location in closures if location is not None}
        taken = {(provider, cell) for provider, cell in occupied}
        order = lambda s: (s.starts_at, s.provider_id)  # noqa: E731
        slots: List[Slot] = []
        for block, provider_name, location_name in blocks:
            if len(slots) >= limit:
                # Blocks come in start order: once the first `limit` slots all start before
                # this block does, no later block can displace them.
                slots = sorted(slots, key=order)[:limit]
                if slots[-1].starts_at <= block.starts_at:
                    break
            # Closures are per practice-local day; a block never spans midnight.
            day = self._local(block.starts_at).date()
            if day in closed_everywhere or (day, block.location_id) in closed_at:
                continue
            candidate = max(block.starts_at, _next_cell(block.starts_at, earliest))
            while candidate + length <= min(block.ends_at, end_utc):
                finish = candidate + length
                if all((block.provider_id, c) not in taken for c in cells_of(candidate, finish)):
                    slots.append(
                        Slot(
                            provider_id=block.provider_id,
                            provider_name=provider_name,
                            location_id=block.location_id,
                            location_name=location_name,
                            visit_type_id=visit_type_id,
                            starts_at=self._local(candidate),
                            ends_at=self._local(finish),
                        )
                    )
                candidate += CELL
        return sorted(slots, key=order)[:limit]

    async def _check_offered(self, session: AsyncSession, slot: Slot, now: datetime) -> None:
        """Raise SlotNotOffered unless the slot is one free_slots could have offered
        (ignoring whether it is free: the cells' constraint decides that)."""
        starts = ensure_aware(slot.starts_at, "slot.starts_at").astimezone(timezone.utc)
        ends = ensure_aware(slot.ends_at, "slot.ends_at").astimezone(timezone.utc)
        if starts <= now:
            raise SlotNotOffered("That time has already passed.")
        visit = await session.get(m.VisitType, slot.visit_type_id)
        if visit is None or ends - starts != timedelta(minutes=visit.duration_minutes):
            raise SlotNotOffered("The slot's length does not match the visit type.")
        offers = await session.scalar(
            select(func.count()).where(
                m.ProviderVisitType.provider_id == slot.provider_id,
                m.ProviderVisitType.visit_type_id == slot.visit_type_id,
            )
        )
        if not offers:
            raise SlotNotOffered("This provider does not offer that visit type.")
        block_start = await session.scalar(
            select(m.ScheduleBlock.starts_at).where(
                m.ScheduleBlock.provider_id == slot.provider_id,
                m.ScheduleBlock.location_id == slot.location_id,
                m.ScheduleBlock.starts_at <= starts,
                m.ScheduleBlock.ends_at >= ends,
            )
        )
        if block_start is None or (starts - block_start) % CELL:
            raise SlotNotOffered("The provider is not seeing patients at that time.")
        closed = await session.scalar(
            select(func.count()).where(
                m.Closure.date == self._local(starts).date(),
                or_(m.Closure.location_id.is_(None), m.Closure.location_id == slot.location_id),
            )
        )
        if closed:
            raise SlotNotOffered("The practice is closed that day.")

    async def _require_patient(self, session: AsyncSession, patient_id: int) -> m.Patient:
        patient = await session.get(m.Patient, patient_id)
        if patient is None:
            raise NotFound("No such patient.")
        return patient

    @staticmethod
    async def _check_patient_free(
        session: AsyncSession, patient_id: int, starts: datetime, ends: datetime,
        moving: Optional[int] = None, lock: bool = True,
    ) -> None:
        """Refuse a time that overlaps another booked appointment of the same patient, with
        any provider. `lock` takes the patient's row first, so two conversations booking
        for one patient at once are checked one after the other (SQLite writes are serial)."""
        if lock:
            await session.execute(
                select(m.Patient.id).where(m.Patient.id == patient_id).with_for_update()
            )
        overlapping = select(m.Appointment.id).where(
            m.Appointment.patient_id == patient_id,
            m.Appointment.status == APPOINTMENT_BOOKED,
            m.Appointment.starts_at < ends,
            m.Appointment.ends_at > starts,
        )
        if moving is not None:
            overlapping = overlapping.where(m.Appointment.id != moving)
        clash = await session.scalar(overlapping.limit(1))
        if clash is not None:
            raise PatientBusy("The patient already has an appointment at that time.")

    @staticmethod
    async def _free_cells_for(
        session: AsyncSession, patient_id: int, provider_id: int, cells: Sequence[datetime],
        now: datetime,
    ) -> None:
        """Release what may be released on these cells before taking them: expired holds,
        and the same patient's own holds (holding then booking is one person's flow)."""
        own_holds = select(m.Hold.id).where(m.Hold.patient_id == patient_id)
        await session.execute(
            delete(m.OccupiedCell)
            .where(
                m.OccupiedCell.provider_id == provider_id,
                m.OccupiedCell.cell_start.in_(cells),
                m.OccupiedCell.hold_id.is_not(None),
                or_(m.OccupiedCell.hold_expires_at <= now, m.OccupiedCell.hold_id.in_(own_holds)),
            )
            .execution_options(synchronize_session=False)
        )

    @staticmethod
    async def _occupy(
        session: AsyncSession,
        provider_id: int,
        cells: Sequence[datetime],
        *,
        appointment_id: Optional[int] = None,
        hold_id: Optional[int] = None,
        hold_expires_at: Optional[datetime] = None,
    ) -> None:
        # Cells in ascending order, so two transactions never wait on each other in a cycle.
        await session.execute(
            insert(m.OccupiedCell),
            [
                {
                    "provider_id": provider_id,
                    "cell_start": cell,
                    "appointment_id": appointment_id,
                    "hold_id": hold_id,
                    "hold_expires_at": hold_expires_at,
                }
                for cell in sorted(cells)
            ],
        )

    @staticmethod
    async def _drop_orphan_holds(session: AsyncSession, *hold_ids: int) -> None:
        """Delete hold rows whose cells are gone (turned into an appointment or released)."""
        ids = [h for h in hold_ids if h is not None]
        if not ids:
            return
        still_used = select(m.OccupiedCell.hold_id).where(m.OccupiedCell.hold_id.in_(ids))
        await session.execute(
            delete(m.Hold)
            .where(m.Hold.id.in_(ids), m.Hold.id.not_in(still_used))
            .execution_options(synchronize_session=False)
        )

    async def _own_hold_ids(
        self, session: AsyncSession, patient_id: int, provider_id: int,
        cells: Sequence[datetime],
    ) -> List[int]:
        return list(
            (
                await session.scalars(
                    select(m.Hold.id).where(
                        m.Hold.patient_id == patient_id,
                        m.Hold.provider_id == provider_id,
                        m.Hold.starts_at < max(cells) + CELL,
                        m.Hold.ends_at > min(cells),
                    )
                )
            ).all()
        )

    @staticmethod
    def _raise_slot_taken_if_cells_conflict(error: IntegrityError) -> None:
        if _violates(error, _CELL_CONFLICT):
            raise SlotTaken(
                "Someone else has just taken that time; please pick another."
            ) from None

    async def hold_slot(
        self, patient_id: int, slot: Slot, holder_key: str, ttl_seconds: int = 300
    ) -> int:
        if not holder_key:
            raise ValueError("holder_key is required (e.g. the conversation id)")
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        now = self._now()

        async def work(session: AsyncSession) -> int:
            await self._require_patient(session, patient_id)
            await self._check_offered(session, slot, now)
            starts = slot.starts_at.astimezone(timezone.utc)
            ends = slot.ends_at.astimezone(timezone.utc)
            await self._check_patient_free(session, patient_id, starts, ends, lock=False)
            cells = cells_of(starts, ends)
            # One live hold per holder: picking a new time lets go of the previous one.
            previous = list(
                (
                    await session.scalars(select(m.Hold.id).where(m.Hold.holder_key == holder_key))
                ).all()
            )
            if previous:
                await session.execute(
                    delete(m.OccupiedCell)
                    .where(m.OccupiedCell.hold_id.in_(previous))
                    .execution_options(synchronize_session=False)
                )
            own = await self._own_hold_ids(session, patient_id, slot.provider_id, cells)
            await self._free_cells_for(session, patient_id, slot.provider_id, cells, now)
            await self._drop_orphan_holds(session, *previous, *own)
            await self._collect_stale_holds(session, now)
            expires = now + timedelta(seconds=ttl_seconds)
            hold = m.Hold(
                holder_key=holder_key,
                patient_id=patient_id,
                provider_id=slot.provider_id,
                location_id=slot.location_id,
                visit_type_id=slot.visit_type_id,
                starts_at=starts,
                ends_at=ends,
                expires_at=expires,
            )
            session.add(hold)
            await session.flush()
            await self._occupy(
                session, slot.provider_id, cells, hold_id=hold.id, hold_expires_at=expires
            )
            return hold.id

        try:
            return await self._write(work)
        except IntegrityError as error:
            self._raise_slot_taken_if_cells_conflict(error)
            raise

    @staticmethod
    async def _collect_stale_holds(session: AsyncSession, now: datetime) -> None:
        """Garbage-collect holds that expired long ago and nobody's booking has touched."""
        cutoff = now - timedelta(hours=1)
        await session.execute(
            delete(m.OccupiedCell)
            .where(m.OccupiedCell.hold_expires_at < cutoff)
            .execution_options(synchronize_session=False)
        )
        await session.execute(
            delete(m.Hold)
            .where(
                m.Hold.expires_at < cutoff,
                m.Hold.id.not_in(
                    select(m.OccupiedCell.hold_id).where(m.OccupiedCell.hold_id.is_not(None))
                ),
            )
            .execution_options(synchronize_session=False)
        )

    async def book(
        self,
        patient_id: int,
        slot: Slot,
        hold_id: Optional[int] = None,
        booked_by_patient_id: Optional[int] = None,
    ) -> Appointment:
        now = self._now()

        async def work(session: AsyncSession) -> Appointment:
            patient = await self._require_patient(session, patient_id)
            if booked_by_patient_id not in (None, patient_id) and (
                patient.guardian_id != booked_by_patient_id
            ):
                raise NotFound("No such patient for this guardian.")
            await self._check_offered(session, slot, now)
            starts = slot.starts_at.astimezone(timezone.utc)
            ends = slot.ends_at.astimezone(timezone.utc)
            await self._check_patient_free(session, patient_id, starts, ends)
            cells = cells_of(starts, ends)
            own = await self._own_hold_ids(session, patient_id, slot.provider_id, cells)
            await self._free_cells_for(session, patient_id, slot.provider_id, cells, now)
            appointment = m.Appointment(
                reference=new_reference("APT"),
                patient_id=patient_id,
                booked_by_patient_id=booked_by_patient_id or patient_id,
                provider_id=slot.provider_id,
                location_id=slot.location_id,
                visit_type_id=slot.visit_type_id,
                starts_at=starts,
                ends_at=ends,
                status=APPOINTMENT_BOOKED,
                created_at=now,
                updated_at=now,
            )
            session.add(appointment)
            await session.flush()
            await self._occupy(session, slot.provider_id, cells, appointment_id=appointment.id)
            await self._drop_orphan_holds(session, *own, hold_id)
            return await self._load_appointment(session, appointment.id)

        try:
            return await self._write(work)
        except IntegrityError as error:
            self._raise_slot_taken_if_cells_conflict(error)
            raise

    async def _owned_appointment(
        self, session: AsyncSession, appointment_id: int, patient_id: int
    ) -> m.Appointment:
        """The appointment if it is the patient's or their dependant's, locked for update."""
        appointment = await session.scalar(
            select(m.Appointment)
            .join(m.Patient, m.Patient.id == m.Appointment.patient_id)
            .where(
                m.Appointment.id == appointment_id,
                or_(m.Appointment.patient_id == patient_id, m.Patient.guardian_id == patient_id),
            )
            .with_for_update(of=m.Appointment)
        )
        if appointment is None:
            raise NotFound("No such appointment for this patient.")
        return appointment

    async def cancel(self, appointment_id: int, patient_id: int) -> Appointment:
        now = self._now()

        async def work(session: AsyncSession) -> Appointment:
            appointment = await self._owned_appointment(session, appointment_id, patient_id)
            if appointment.status == APPOINTMENT_CANCELLED:
                return await self._load_appointment(session, appointment.id)
            if appointment.starts_at <= now:
                raise AppointmentNotChangeable(
                    "That appointment has already started; please call the practice."
                )
            await session.execute(
                delete(m.OccupiedCell)
                .where(m.OccupiedCell.appointment_id == appointment.id)
                .execution_options(synchronize_session=False)
            )
            appointment.status = APPOINTMENT_CANCELLED
            appointment.updated_at = now
            await session.flush()
            return await self._load_appointment(session, appointment.id)

        return await self._write(work)

    async def reschedule(
        self, appointment_id: int, patient_id: int, new_slot: Slot
    ) -> Appointment:
        now = self._now()

        async def work(session: AsyncSession) -> Appointment:
            appointment = await self._owned_appointment(session, appointment_id, patient_id)
            if appointment.status != APPOINTMENT_BOOKED or appointment.starts_at <= now:
                raise AppointmentNotChangeable(
                    "That appointment can no longer be moved here; please call the practice."
                )
            await self._check_offered(session, new_slot, now)
            starts = new_slot.starts_at.astimezone(timezone.utc)
            ends = new_slot.ends_at.astimezone(timezone.utc)
            await self._check_patient_free(
                session, appointment.patient_id, starts, ends, moving=appointment.id
            )
            cells = cells_of(starts, ends)
            # Free the old time first, so a move that overlaps it (9:00 -> 9:15) works.
            await session.execute(
                delete(m.OccupiedCell)
                .where(m.OccupiedCell.appointment_id == appointment.id)
                .execution_options(synchronize_session=False)
            )
            own = await self._own_hold_ids(
                session, appointment.patient_id, new_slot.provider_id, cells
            )
            await self._free_cells_for(
                session, appointment.patient_id, new_slot.provider_id, cells, now
            )
            await self._occupy(session, new_slot.provider_id, cells, appointment_id=appointment.id)
            await self._drop_orphan_holds(session, *own)
            appointment.provider_id = new_slot.provider_id
            appointment.location_id = new_slot.location_id
            appointment.visit_type_id = new_slot.visit_type_id
            appointment.starts_at = starts
            appointment.ends_at = ends
            appointment.updated_at = now
            await session.flush()
            return await self._load_appointment(session, appointment.id)

        try:
            return await self._write(work)
        except IntegrityError as error:
            self._raise_slot_taken_if_cells_conflict(error)
            raise

    async def upcoming_appointments(self, patient_id: int, now: datetime) -> List[Appointment]:
        now_utc = ensure_aware(now, "now").astimezone(timezone.utc)
        async with self._reading() as session:
            rows = (
                await session.execute(
                    self._appointment_query()
                    .where(
                        m.Appointment.patient_id == patient_id,
                        m.Appointment.status == APPOINTMENT_BOOKED,
                        m.Appointment.starts_at > now_utc,
                    )
                    .order_by(m.Appointment.starts_at, m.Appointment.id)
                )
            ).all()
        return [self._appointment(row) for row in rows]

    # --- prescriptions ----------------------------------------------------------------

    async def active_medications(self, patient_id: int) -> List[Medication]:
        async with self._reading() as session:
            rows = (
                await session.scalars(
                    select(m.Medication)
                    .where(m.Medication.patient_id == patient_id, m.Medication.active.is_(True))
                    .order_by(m.Medication.generic_name, m.Medication.id)
                )
            ).all()
        return [self._medication(row) for row in rows]

    async def pharmacies(self, query: Optional[str] = None) -> List[Pharmacy]:
        statement = select(m.Pharmacy).order_by(m.Pharmacy.name, m.Pharmacy.id)
        words = fold_text(query or "")
        if words:
            if words.replace(" ", "").isdigit():
                statement = statement.where(
                    m.Pharmacy.zip.startswith(words.replace(" ", ""), autoescape=True)
                )
            else:
                statement = statement.where(m.Pharmacy.search_name.contains(words, autoescape=True))
        async with self._reading() as session:
            rows = (await session.scalars(statement)).all()
        return [
            Pharmacy(id=r.id, name=r.name, address=r.address, zip=r.zip, phone=r.phone)
            for r in rows
        ]

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
        if kind not in (REFILL_KIND_REFILL, REFILL_KIND_RENEWAL):
            raise ValueError("kind must be 'refill' or 'renewal'")
        key = (idempotency_key or "").strip()
        if not key:
            raise ValueError("idempotency_key is required (e.g. conversation id + medication id)")
        now = self._now()

        async def existing(session: AsyncSession) -> Optional[m.RefillRequest]:
            by_key = await session.scalar(
                select(m.RefillRequest).where(m.RefillRequest.idempotency_key == key)
            )
            if by_key is not None:
                if by_key.patient_id != patient_id:
                    raise PracticeError("idempotency_key was already used for another patient")
                return by_key
            return await session.scalar(
                select(m.RefillRequest).where(
                    m.RefillRequest.patient_id == patient_id,
                    m.RefillRequest.medication_id == medication_id,
                    m.RefillRequest.status == REFILL_PENDING,
                )
            )

        async def work(session: AsyncSession) -> RefillRequest:
            found = await existing(session)
            if found is not None:
                return await self._named_refill(session, found.id)
            medication = await session.scalar(
                select(m.Medication).where(
                    m.Medication.id == medication_id,
                    m.Medication.patient_id == patient_id,
                    m.Medication.active.is_(True),
                )
            )
            if medication is None:
                raise NotFound("No such active medication for this patient.")
            if requested_by is not None and requested_by != patient_id:
                guardian_id = await session.scalar(
                    select(m.Patient.guardian_id).where(m.Patient.id == patient_id))
                if requested_by != guardian_id:
                    raise NotFound("Only the patient or their guardian can ask for their refill.")
            if await session.get(m.Pharmacy, pharmacy_id) is None:
                raise NotFound("No such pharmacy.")
            request = m.RefillRequest(
                reference=new_reference("RX"),
                idempotency_key=key,
                patient_id=patient_id,
                medication_id=medication_id,
                pharmacy_id=pharmacy_id,
                status=REFILL_PENDING,
                kind=kind,
                channel=channel if channel in ("web", "sms") else "web",
                requested_by_id=requested_by if requested_by is not None else patient_id,
                created_at=now,
            )
            session.add(request)
            await session.flush()
            return replace(await self._named_refill(session, request.id), created=True)

        try:
            return await self._write(work)
        except IntegrityError as error:
            if not _violates(error, _REFILL_DUPLICATE):
                raise
        # A concurrent request with the same key or medication won: answer with that one.
        async with self._reading() as session:
            found = await existing(session)
            if found is None:
                raise PracticeError("Refill request conflicted and then vanished; please retry.")
            return await self._named_refill(session, found.id)

    async def _named_refill(self, session: AsyncSession, request_id: int) -> RefillRequest:
        row = (
            await session.execute(self._refill_query().where(m.RefillRequest.id == request_id))
        ).one()
        return self._refill_row(row)

    async def refill_requests(self, patient_id: int) -> List[RefillRequest]:
        async with self._reading() as session:
            rows = (
                await session.execute(
                    self._refill_query()
                    .where(m.RefillRequest.patient_id == patient_id)
                    .order_by(m.RefillRequest.created_at.desc(), m.RefillRequest.id.desc())
                )
            ).all()
        return [self._refill_row(row) for row in rows]

    async def refill_queue(self, status: Optional[str] = REFILL_PENDING) -> List[RefillRequest]:
        statement = self._refill_query().order_by(
            m.RefillRequest.created_at, m.RefillRequest.id
        )
        if status is not None:
            if status not in REFILL_STATUSES:
                raise ValueError(f"status must be one of {', '.join(REFILL_STATUSES)}")
            statement = statement.where(m.RefillRequest.status == status)
        async with self._reading() as session:
            rows = (await session.execute(statement)).all()
        return [self._refill_row(row) for row in rows]

    # --- AI opt-out ---------------------------------------------------------------------

    async def record_ai_opt_out(self, patient_id: int, disclosure_version: str,
                                reference: Optional[str] = None) -> datetime:
        now = self._now()

        async def work(session: AsyncSession) -> datetime:
            if await session.get(m.Patient, patient_id) is None:
                raise NotFound("No such patient.")
            row = await session.get(m.AiOptOut, patient_id)
            if row is None:
                session.add(m.AiOptOut(patient_id=patient_id,
                                       disclosure_version=str(disclosure_version)[:32],
                                       recorded_at=now, reference=reference))
            else:
                row.disclosure_version, row.recorded_at = str(disclosure_version)[:32], now
                row.reference = reference or row.reference
            await session.flush()
            return self._local(now)

        return await self._write(work)

    async def ai_opt_outs(self) -> List[AiOptOutRecord]:
        async with self._reading() as session:
            rows = (await session.execute(
                select(m.AiOptOut).order_by(m.AiOptOut.recorded_at.desc()))).scalars().all()
        return [AiOptOutRecord(r.reference, r.patient_id, r.disclosure_version, self._local(r.recorded_at))
                for r in rows]

    async def ai_opt_out(self, patient_id: int) -> Optional[Tuple[str, datetime]]:
        async with self._reading() as session:
            row = await session.get(m.AiOptOut, patient_id)
        return (row.disclosure_version, self._local(row.recorded_at)) if row else None

    # --- handoffs -----------------------------------------------------------------------

    def _handoff(self, row: m.Handoff) -> Handoff:
        return Handoff(
            id=row.id, reference=row.reference, conversation_id=row.conversation_id,
            channel=row.channel, kind=row.kind, reason=row.reason, patient_id=row.patient_id,
            callback_phone=row.callback_phone, callback_time=row.callback_time,
            status=row.status, created_at=self._local(row.created_at),
            closed_at=self._local(row.closed_at) if row.closed_at else None,
        )

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
        if kind not in (HANDOFF_LIVE, HANDOFF_CALLBACK):
            raise ValueError("kind must be 'live' or 'callback'")
        if not conversation_id:
            raise ValueError("conversation_id is required")
        now = self._now()

        async def work(session: AsyncSession) -> Handoff:
            waiting = await session.scalar(
                select(m.Handoff).where(
                    m.Handoff.conversation_id == conversation_id,
                    m.Handoff.status == HANDOFF_WAITING,
                )
            )
            if waiting is not None:
                return self._handoff(waiting)
            row = m.Handoff(
                reference=new_reference("HO", 6), conversation_id=conversation_id,
                channel=channel[:16], kind=kind, reason=reason[:32], patient_id=patient_id,
                callback_phone=e164_phone(callback_phone) if callback_phone else None,
                callback_time=(callback_time or None) and callback_time[:120],
                status=HANDOFF_WAITING, created_at=now,
            )
            session.add(row)
            await session.flush()
            return self._handoff(row)

        return await self._write(work)

    async def waiting_handoff(self, conversation_id: str) -> Optional[Handoff]:
        async with self._reading() as session:
            row = await session.scalar(
                select(m.Handoff).where(
                    m.Handoff.conversation_id == conversation_id,
                    m.Handoff.status == HANDOFF_WAITING,
                )
            )
        return self._handoff(row) if row is not None else None

    async def handoff_queue(self) -> List[Handoff]:
        async with self._reading() as session:
            rows = (
                await session.scalars(
                    select(m.Handoff)
                    .where(m.Handoff.status == HANDOFF_WAITING)
                    .order_by(m.Handoff.created_at, m.Handoff.id)
                )
            ).all()
        return [self._handoff(row) for row in rows]

    async def close_handoff(self, reference: str) -> Handoff:
        now = self._now()

        async def work(session: AsyncSession) -> Handoff:
            row = await session.scalar(
                select(m.Handoff).where(m.Handoff.reference == (reference or "").strip().upper())
            )
            if row is None:
                raise NotFound("No handoff with that reference.")
            if row.status != HANDOFF_CLOSED:
                row.status, row.closed_at = HANDOFF_CLOSED, now
            await session.flush()
            return self._handoff(row)

        return await self._write(work)

    async def mark_refill_patient_notified(self, reference: str) -> None:
        now = self._now()

        async def work(session: AsyncSession) -> None:
            request = await session.scalar(
                select(m.RefillRequest).where(
                    m.RefillRequest.reference == (reference or "").strip().upper()
                )
            )
            if request is None:
                raise NotFound("No refill request with that reference.")
            request.patient_notified_at = now

        await self._write(work)

    async def set_refill_status(
        self, reference: str, status: str, note: Optional[str] = None
    ) -> RefillRequest:
        if status not in REFILL_STATUSES:
            raise ValueError(f"status must be one of {', '.join(REFILL_STATUSES)}")
        now = self._now()

        async def work(session: AsyncSession) -> RefillRequest:
            request = await session.scalar(
                select(m.RefillRequest)
                .where(m.RefillRequest.reference == (reference or "").strip().upper())
                .with_for_update()
            )
            if request is None:
                raise NotFound("No refill request with that reference.")
            if request.status != REFILL_PENDING:
                raise RefillAlreadyDecided(
                    f"{request.reference} was already {request.status.replace('_', ' ')}"
                    + (f" on {request.decided_at:%Y-%m-%d}" if request.decided_at else "")
                    + "; not changed.")
            request.status = status
            request.decided_at = None if status == REFILL_PENDING else now
            request.decision_note = note
            request.patient_notified_at = None  # a new decision is news to the patient
            await session.flush()
            return await self._named_refill(session, request.id)

        return await self._write(work)


class _ReadTransaction:
    """`async with` a session inside a read-only transaction (deferred BEGIN on SQLite)."""

    def __init__(self, factory: sessionmaker, before: Callable[[], Awaitable[None]]) -> None:
        self._factory = factory
        self._before = before

    async def __aenter__(self) -> AsyncSession:
        await self._before()
        self._session = self._factory()
        await self._session.begin()
        return self._session

    async def __aexit__(self, *exc) -> None:
        try:
            # Detach first: a rollback would expire the loaded rows the caller converts next.
            self._session.expunge_all()
            await self._session.rollback()
        finally:
            await self._session.close()
