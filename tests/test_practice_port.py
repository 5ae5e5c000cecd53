"""The practice port on the embedded database: every test runs on SQLite and PostgreSQL.

Run: .venv/bin/python -m pytest -q tests/test_practice_port.py
(PostgreSQL: 127.0.0.1:5432 database `test`, or TEST_POSTGRES_URL; skipped if unreachable,
a failure when CI is set.)
"""

from __future__ import annotations

import asyncio
import re
import time as wallclock
from datetime import date, timedelta, timezone

import pytest
from sqlalchemy import func, select, text

from actions.practice import models as m
from actions.practice.clinic import load_clinic
from actions.practice.matching import name_key
from actions.practice.migrate import ensure_schema_and_seed
from actions.practice.port import (
    RefillAlreadyDecided,
    APPOINTMENT_BOOKED,
    APPOINTMENT_CANCELLED,
    NotFound,
    PatientBusy,
    PracticeError,
    Slot,
    SlotNotOffered,
    SlotTaken,
)
from actions.practice.seed import (
    DEMO_ACCENTED_PATIENT,
    DEMO_CONTROLLED_PATIENT,
    DEMO_DEPENDANTS,
    DEMO_GUARDIAN,
    DEMO_PATIENT,
    DEMO_PATIENT_PHONE,
    DEMO_RECENT_FILL_PATIENT,
    PROVIDER_ADA,
    PROVIDER_GRACE,
    PROVIDER_SAM,
)
from actions.practice.sql import SqlPracticeSystem
from tests.practice_fixtures import (  # noqa: F401  (fixtures must be in this namespace)
    TZ,
    local,
    practice,
    practice_database,
    seeded_postgres_schemas,
    seeded_sqlite_template,
)

pytestmark = pytest.mark.asyncio


async def _ids(system):
    providers = {p.display_name: p for p in await system.providers()}
    visits = {v.code: v for v in await system.visit_types()}
    locations = await system.locations()
    return providers, visits, locations


async def _patient(system, identity):
    patient = await system.verify_patient(*identity)
    assert patient is not None, identity
    return patient


def _overlaps(slot, start, end) -> bool:
    return slot.starts_at < end and start < slot.ends_at


# --- identity -------------------------------------------------------------------------


async def test_verify_accepts_the_right_name_and_dob_in_any_common_form(practice):
    system = practice.system
    name, dob = DEMO_PATIENT
    for typed in (
        "Testy McFakeface",
        "  tESTY    mcfakeface ",
        "McFakeface, Testy",
        "mcfakeface,testy",
        "Testy Q. McFakeface",  # a middle initial does not stop a match
    ):
        patient = await system.verify_patient(typed, dob)
        assert patient is not None, typed
        assert (patient.first_name, patient.last_name, patient.date_of_birth) == (
            "Testy",
            "McFakeface",
            dob,
        )
    assert patient.phone == DEMO_PATIENT_PHONE

    zoe = await system.verify_patient("zoe example", DEMO_ACCENTED_PATIENT[1])
    assert zoe is not None and zoe.first_name == "Zoë"
    assert await system.verify_patient("EXAMPLE, ZOË", DEMO_ACCENTED_PATIENT[1]) == zoe
    patty = await system.verify_patient("Patty O\u2019Placeholder", date(1983, 8, 18))
    assert patty is not None and patty.last_name == "O'Placeholder"
    assert await system.verify_patient("demo van der testen", date(1969, 6, 30)) is not None


async def test_names_in_any_script_verify(practice):
    # A name in Cyrillic used to fold to an empty key and could never verify; "ø" and "ł"
    # lost their letter. Synthetic patients, added for this test.
    system = practice.system
    people = [("Анна", "Тестова", date(1990, 2, 3)), ("Søren", "Prøvesen-Łąk", date(1977, 5, 6))]
    async with system.engine.begin() as connection:
        for first, last, dob in people:
            await connection.execute(m.Patient.__table__.insert().values(
                first_name=first, last_name=last, name_key=name_key(first, last), date_of_birth=dob))
    anna = await system.verify_patient("анна тестова", date(1990, 2, 3))
    assert anna is not None and anna.last_name == "Тестова"
    assert await system.verify_patient("ТЕСТОВА, Анна", date(1990, 2, 3)) == anna
    assert await system.verify_patient("Анна Петрова", date(1990, 2, 3)) is None
    soren = await system.verify_patient("Soren Provesen-Lak", date(1977, 5, 6))
    assert soren is not None and soren.first_name == "Søren"
    assert await system.verify_patient("Søren Prøvesen Łąk", date(1977, 5, 6)) == soren


def test_migration_0003_recomputes_keys_made_by_the_old_fold(tmp_path):
    from alembic import command
    from sqlalchemy import create_engine

    from actions.practice.migrate import alembic_config

    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
        # As the old fold stored them: a-z and digits only.
        connection.execute(text(
            "INSERT INTO patients (first_name, last_name, name_key, date_of_birth) VALUES "
            "('Анна', 'Тестова', '', '1990-02-03'), ('Søren', 'Prøvesen', 's ren pr vesen', '1977-05-06'), "
            "('Testy', 'McFakeface', 'testy mcfakeface', '1985-04-23')"))
        command.upgrade(config, "head")
        keys = connection.execute(text("SELECT name_key FROM patients ORDER BY id")).scalars().all()
    engine.dispose()
    assert keys == ["анна тестова", "soren provesen", "testy mcfakeface"]


async def test_verify_rejects_a_wrong_name_or_dob_without_saying_which(practice):
    system = practice.system
    name, dob = DEMO_PATIENT
    wrong_name = await system.verify_patient("Testy McFakefaces", dob)
    wrong_dob = await system.verify_patient(name, dob + timedelta(days=1))
    swapped = await system.verify_patient("McFakeface Testy", dob)  # no comma: not reversed
    other_patient_dob = await system.verify_patient(name, DEMO_GUARDIAN[1])
    assert wrong_name is None and wrong_dob is None and swapped is None
    assert other_patient_dob is None
    assert await system.verify_patient("", dob) is None
    assert await system.verify_patient("Testy", dob) is None


async def test_find_patient_by_phone_and_dob(practice):
    system = practice.system
    dob = DEMO_PATIENT[1]
    for typed in ("(312) 555-0101", "312.555.0101", "+1 312 555 0101", "3125550101"):
        patient = await system.find_patient_by_phone_and_dob(typed, dob)
        assert patient is not None and patient.last_name == "McFakeface", typed
    assert await system.find_patient_by_phone_and_dob("(312) 555-0101", date(1985, 4, 13)) is None
    assert await system.find_patient_by_phone_and_dob("555-0101", dob) is None
    assert await system.find_patient_by_phone_and_dob("not a phone", dob) is None


async def test_guardian_sees_dependants_and_get_patient(practice):
    system = practice.system
    guardian = await _patient(system, DEMO_GUARDIAN)
    dependants = await system.dependants(guardian.id)
    assert [(d.first_name, d.date_of_birth) for d in dependants] == [
        ("Junior", DEMO_DEPENDANTS[0][1]),
        ("Tiny", DEMO_DEPENDANTS[1][1]),
    ]
    assert all(d.guardian_id == guardian.id and d.phone is None for d in dependants)
    patient = await _patient(system, DEMO_PATIENT)
    assert await system.dependants(patient.id) == []
    assert await system.get_patient(dependants[0].id) == dependants[0]
    with pytest.raises(NotFound):
        await system.get_patient(999_999)


# --- practice facts -------------------------------------------------------------------


async def test_providers_locations_visit_types_and_closures(practice):
    system = practice.system
    providers, visits, locations = await _ids(system)
    assert set(providers) == {PROVIDER_ADA, PROVIDER_GRACE, PROVIDER_SAM}
    assert {v.code: v.duration_minutes for v in visits.values()} == {
        "FLU_SHOT": 15,
        "FOLLOW_UP": 30,
        "NEW_PATIENT": 45,
        "ANNUAL_PHYSICAL": 60,
    }
    assert all(v.prep_notes for v in visits.values())
    new_patient_providers = await system.providers(visits["NEW_PATIENT"].id)
    assert {p.display_name for p in new_patient_providers} == {PROVIDER_ADA, PROVIDER_GRACE}
    assert PROVIDER_SAM in {p.display_name for p in await system.providers(visits["FLU_SHOT"].id)}
    assert providers[PROVIDER_ADA].location_ids == tuple(loc.id for loc in locations)

    clinic_locations = load_clinic()["locations"]
    assert [(loc.name, loc.parking) for loc in locations] == [
        (c["name"], c["parking"]) for c in clinic_locations
    ]
    cal = practice.calendar
    closures = await system.closures(cal.week_start, cal.week_start + timedelta(weeks=8))
    assert [(c.date, c.location_id) for c in closures] == [
        (cal.northside_closed_day, locations[1].id),
        (cal.holiday, None),
    ]
    assert closures[1].reason == cal.holiday_reason
    assert await system.closures(cal.week_start, cal.week_start + timedelta(days=6)) == []


# --- free slots -----------------------------------------------------------------------


async def test_free_slots_stay_inside_opening_hours_and_never_over_lunch(practice):
    system = practice.system
    _, visits, _ = await _ids(system)
    cal = practice.calendar
    hours = load_clinic()["hours"]
    for code in ("FLU_SHOT", "ANNUAL_PHYSICAL"):
        slots = await system.free_slots(
            visits[code].id, cal.week_start, cal.week_start + timedelta(days=13), limit=10_000
        )
        assert len(slots) > 50
        for slot in slots:
            start, end = slot.starts_at, slot.ends_at
            assert str(start.tzinfo) == load_clinic()["timezone"]
            assert end - start == timedelta(minutes=visits[code].duration_minutes)
            day = hours[start.strftime("%A").lower()]
            assert day != "closed", slot  # no Wednesdays, no Sundays
            assert day["open"] <= start.strftime("%H:%M") and end.strftime("%H:%M") <= day["close"]
            lunch_start = local(start.date(), 12)
            assert not _overlaps(slot, lunch_start, lunch_start + timedelta(hours=1)), slot
            assert start.minute % 15 == 0
    # The hour-long physical cannot start at 11:15 (it would run into lunch) but can at 11:00.
    physical_starts = {s.starts_at.strftime("%H:%M") for s in slots}
    assert "11:00" in physical_starts and "11:15" not in physical_starts
    assert slots == sorted(slots, key=lambda s: (s.starts_at, s.provider_id))


async def test_free_slots_skip_the_past_closures_and_booked_time(practice):
    system = practice.system
    providers, visits, locations = await _ids(system)
    cal = practice.calendar
    follow_up = visits["FOLLOW_UP"].id

    # Past: "now" is Thursday 10:07, so nothing earlier than 10:15 that day is offered.
    slots = await system.free_slots(follow_up, cal.week_start, cal.week_start + timedelta(days=3))
    thursday = cal.week_start + timedelta(days=3)
    assert slots and min(s.starts_at for s in slots) == local(thursday, 10, 15)

    # Holiday: nothing anywhere. Location closure: nothing at Northside, the main clinic open.
    assert await system.free_slots(follow_up, cal.holiday, cal.holiday) == []
    northside_day = await system.free_slots(
        follow_up, cal.northside_closed_day, cal.northside_closed_day
    )
    assert northside_day and {s.location_id for s in northside_day} == {locations[0].id}

    # A fully booked provider-day offers nothing for that provider; others are unaffected.
    ada = providers[PROVIDER_ADA].id
    full_day = cal.fully_booked_day
    assert await system.free_slots(follow_up, full_day, full_day, provider_id=ada) == []
    others = await system.free_slots(follow_up, full_day, full_day)
    assert others and ada not in {s.provider_id for s in others}

    # Around an existing 10:00-10:30 booking: 9:30 and 10:30 are free, 9:45 and 10:00 are not.
    grace = providers[PROVIDER_GRACE].id
    booked_day = cal.demo_patient_appointment.date()
    starts = {
        s.starts_at.strftime("%H:%M")
        for s in await system.free_slots(follow_up, booked_day, booked_day, provider_id=grace)
    }
    assert {"09:30", "10:30"} <= starts and not {"09:45", "10:00", "10:15"} & starts
    assert {
        s.provider_id
        for s in await system.free_slots(follow_up, booked_day, booked_day + timedelta(days=7),
                                         provider_id=grace)
    } == {grace}


async def test_free_slots_range_limit_and_unknown_visit_type(practice):
    system = practice.system
    _, visits, _ = await _ids(system)
    day = practice.calendar.week_start + timedelta(days=7)  # next Monday
    window = await system.free_slots(
        visits["FLU_SHOT"].id, local(day, 9), local(day, 10), limit=3
    )
    assert len(window) == 3
    assert all(local(day, 9) <= s.starts_at and s.ends_at <= local(day, 10) for s in window)
    with pytest.raises(NotFound):
        await system.free_slots(999, day, day)


# --- booking --------------------------------------------------------------------------


async def _first_slot(system, code, day, provider=None):
    providers, visits, _ = await _ids(system)
    provider_id = providers[provider].id if provider else None
    slots = await system.free_slots(visits[code].id, day, day, provider_id=provider_id)
    assert slots, (code, day, provider)
    return slots[0]


async def test_book_then_slot_is_gone_and_listed_as_upcoming(practice):
    system = practice.system
    patient = await _patient(system, DEMO_PATIENT)
    day = practice.calendar.week_start + timedelta(days=14)
    slot = await _first_slot(system, "NEW_PATIENT", day, PROVIDER_ADA)

    appointment = await system.book(patient.id, slot)
    assert re.fullmatch(r"APT-[2-9A-HJ-NP-Z]{5}", appointment.reference)
    assert appointment.status == APPOINTMENT_BOOKED
    assert (appointment.starts_at, appointment.ends_at) == (slot.starts_at, slot.ends_at)
    assert appointment.starts_at.tzinfo is not None
    assert appointment.starts_at.utcoffset() == slot.starts_at.astimezone(TZ).utcoffset()
    assert appointment.patient_first_name == "Testy"
    assert appointment.provider_name == PROVIDER_ADA
    assert appointment.visit_type_name == "New patient visit"
    assert "photo ID" in appointment.prep_notes
    assert appointment.location_address.startswith("100 Example Avenue")

    after = await system.free_slots(slot.visit_type_id, day, day, provider_id=slot.provider_id)
    assert not any(_overlaps(s, slot.starts_at, slot.ends_at) for s in after)
    upcoming = await system.upcoming_appointments(patient.id, practice.clock())
    assert appointment in upcoming
    assert [a.starts_at for a in upcoming] == sorted(a.starts_at for a in upcoming)
    assert appointment not in await system.upcoming_appointments(
        patient.id, appointment.starts_at + timedelta(minutes=1)
    )

    other = await _patient(system, DEMO_GUARDIAN)
    with pytest.raises(SlotTaken):
        await system.book(other.id, slot)
    overlapping = Slot(**{**slot.__dict__, "starts_at": slot.starts_at + timedelta(minutes=15),
                          "ends_at": slot.ends_at + timedelta(minutes=15)})
    with pytest.raises(SlotTaken):
        await system.book(other.id, overlapping)


async def test_book_refuses_times_that_are_not_offered(practice):
    system = practice.system
    patient = await _patient(system, DEMO_PATIENT)
    cal = practice.calendar
    slot = await _first_slot(system, "FOLLOW_UP", cal.week_start + timedelta(days=7), PROVIDER_ADA)

    def moved(**changes):
        return Slot(**{**slot.__dict__, **changes})

    past = moved(starts_at=local(cal.week_start + timedelta(days=3), 9),
                 ends_at=local(cal.week_start + timedelta(days=3), 9, 30))
    lunch = moved(starts_at=local(slot.starts_at.date(), 12),
                  ends_at=local(slot.starts_at.date(), 12, 30))
    misaligned = moved(starts_at=slot.starts_at + timedelta(minutes=5),
                       ends_at=slot.ends_at + timedelta(minutes=5))
    wrong_length = moved(ends_at=slot.ends_at + timedelta(minutes=15))
    holiday = moved(starts_at=local(cal.holiday, 9), ends_at=local(cal.holiday, 9, 30))
    for bad in (past, lunch, misaligned, wrong_length, holiday):
        with pytest.raises(SlotNotOffered):
            await system.book(patient.id, bad)
    with pytest.raises(NotFound):
        await system.book(999_999, slot)
    # Nothing was booked by the refused attempts: only the seeded demo appointment is there.
    upcoming = await system.upcoming_appointments(patient.id, practice.clock())
    assert [a.starts_at for a in upcoming] == [cal.demo_patient_appointment]


async def test_cancel_frees_the_time_and_only_the_patient_or_guardian_may(practice):
    system = practice.system
    patient = await _patient(system, DEMO_PATIENT)
    guardian = await _patient(system, DEMO_GUARDIAN)
    junior = (await system.dependants(guardian.id))[0]
    day = practice.calendar.week_start + timedelta(days=15)
    slot = await _first_slot(system, "FOLLOW_UP", day, PROVIDER_SAM)
    appointment = await system.book(patient.id, slot)

    with pytest.raises(NotFound):
        await system.cancel(appointment.id, guardian.id)
    cancelled = await system.cancel(appointment.id, patient.id)
    assert cancelled.status == APPOINTMENT_CANCELLED
    assert cancelled.reference == appointment.reference
    assert (await system.cancel(appointment.id, patient.id)).status == APPOINTMENT_CANCELLED
    assert appointment.id not in {
        a.id for a in await system.upcoming_appointments(patient.id, practice.clock())
    }
    again = await system.free_slots(slot.visit_type_id, day, day, provider_id=slot.provider_id)
    assert slot in again
    # The freed time can be booked by someone else; a guardian books and cancels for a child.
    child_booking = await system.book(junior.id, slot, booked_by_patient_id=guardian.id)
    assert child_booking.patient_id == junior.id
    with pytest.raises(NotFound):
        await system.book(junior.id, slot, booked_by_patient_id=patient.id)
    assert (await system.cancel(child_booking.id, guardian.id)).status == APPOINTMENT_CANCELLED


async def test_reschedule_moves_atomically(practice):
    system = practice.system
    patient = await _patient(system, DEMO_PATIENT)
    other = await _patient(system, DEMO_GUARDIAN)
    providers, visits, _ = await _ids(system)
    day = practice.calendar.week_start + timedelta(days=17)  # a Thursday
    slots = await system.free_slots(
        visits["FOLLOW_UP"].id, day, day, provider_id=providers[PROVIDER_GRACE].id
    )
    first, second, third = slots[0], slots[4], slots[8]
    original = await system.book(patient.id, first)
    blocker = await system.book(other.id, third)

    # Onto a taken time: SlotTaken, and nothing changed.
    with pytest.raises(SlotTaken):
        await system.reschedule(original.id, patient.id, third)
    unchanged = await system.upcoming_appointments(patient.id, practice.clock())
    assert original in unchanged
    with pytest.raises(SlotTaken):
        await system.book(other.id, first)  # the old time is still held by the original

    moved = await system.reschedule(original.id, patient.id, second)
    assert moved.id == original.id and moved.reference == original.reference
    assert (moved.starts_at, moved.status) == (second.starts_at, APPOINTMENT_BOOKED)
    free = await system.free_slots(first.visit_type_id, day, day, provider_id=first.provider_id)
    assert first in free and second not in free and blocker.starts_at not in {
        s.starts_at for s in free
    }
    # A move that overlaps its own current time (shift by 15 minutes) is allowed.
    shifted = Slot(**{**second.__dict__, "starts_at": second.starts_at + timedelta(minutes=15),
                      "ends_at": second.ends_at + timedelta(minutes=15)})
    shifted_result = await system.reschedule(original.id, patient.id, shifted)
    assert shifted_result.starts_at == shifted.starts_at
    with pytest.raises(NotFound):
        await system.reschedule(original.id, other.id, second)


async def test_holds_keep_a_slot_until_they_expire(practice):
    system, clock = practice.system, practice.clock
    patient = await _patient(system, DEMO_PATIENT)
    other = await _patient(system, DEMO_GUARDIAN)
    _, visits, _ = await _ids(system)
    day = practice.calendar.week_start + timedelta(days=19)  # a Saturday
    slot, later = (await system.free_slots(visits["FLU_SHOT"].id, day, day))[:2]

    hold = await system.hold_slot(patient.id, slot, holder_key="conv-1", ttl_seconds=300)
    assert slot not in await system.free_slots(slot.visit_type_id, day, day)
    with pytest.raises(SlotTaken):
        await system.hold_slot(other.id, slot, holder_key="conv-2")
    with pytest.raises(SlotTaken):
        await system.book(other.id, slot)

    # A new hold by the same conversation lets go of the previous one.
    await system.hold_slot(patient.id, later, holder_key="conv-1")
    assert slot in await system.free_slots(slot.visit_type_id, day, day)
    await system.hold_slot(patient.id, slot, holder_key="conv-1")
    assert later in await system.free_slots(slot.visit_type_id, day, day)

    clock.advance(seconds=301)
    assert slot in await system.free_slots(slot.visit_type_id, day, day)
    booked = await system.book(other.id, slot)  # expired hold does not block
    assert booked.patient_id == other.id

    # The holder's own hold turns into the appointment.
    hold = await system.hold_slot(patient.id, later, holder_key="conv-1")
    mine = await system.book(patient.id, later, hold_id=hold)
    assert mine.starts_at == later.starts_at
    async with system.engine.connect() as connection:
        holds_left = (await connection.execute(select(func.count()).select_from(m.Hold))).scalar()
    assert holds_left <= 1  # only the expired, unreferenced hold may remain until GC


# --- medications and refills ----------------------------------------------------------


async def test_active_medications(practice):
    system = practice.system
    today = date.today()
    patient = await _patient(system, DEMO_PATIENT)
    meds = {m_.generic_name: m_ for m_ in await system.active_medications(patient.id)}
    assert set(meds) == {"amlodipine", "atorvastatin", "lisinopril"}  # amoxicillin ended
    assert meds["lisinopril"].refills_remaining == 0
    assert meds["lisinopril"].brand_names == ("Zestril", "Prinivil")
    assert meds["atorvastatin"].strength == "20 mg"
    assert meds["atorvastatin"].controlled_schedule is None

    controlled = await _patient(system, DEMO_CONTROLLED_PATIENT)
    controlled_meds = await system.active_medications(controlled.id)
    schedules = {x.generic_name: x.controlled_schedule for x in controlled_meds}
    assert schedules == {"methylphenidate": "II", "zolpidem": "IV"}
    recent = await _patient(system, DEMO_RECENT_FILL_PATIENT)
    (sertraline,) = await system.active_medications(recent.id)
    assert abs((today - sertraline.last_filled).days - 3) <= 1


async def test_pharmacy_search(practice):
    system = practice.system
    assert len(await system.pharmacies()) == 5
    assert {p.zip for p in await system.pharmacies("60010")} == {"60010"}
    assert len(await system.pharmacies("60010")) == 2
    found = await system.pharmacies("MOCKINGBIRD")
    assert [p.name for p in found] == ["Mockingbird Apothecary (demo)"]
    assert [p.zip for p in await system.pharmacies("nandu")] == ["60020"]
    assert await system.pharmacies("no such pharmacy") == []
    assert await system.pharmacies("100%") == []


async def test_refill_requests_are_idempotent(practice):
    system = practice.system
    patient = await _patient(system, DEMO_PATIENT)
    other = await _patient(system, DEMO_GUARDIAN)
    meds = {x.generic_name: x for x in await system.active_medications(patient.id)}
    pharmacy = (await system.pharmacies())[0]
    statin = meds["atorvastatin"].id

    first = await system.create_refill_request(patient.id, statin, pharmacy.id, "conv-1:statin")
    assert re.fullmatch(r"RX-[2-9A-HJ-NP-Z]{5}", first.reference) and first.status == "pending"
    async def ask(key):
        return await system.create_refill_request(patient.id, statin, pharmacy.id, key)

    assert await ask("conv-1:statin") == first
    # Asking again in another conversation while it is pending: still the same request.
    assert await ask("conv-2:statin") == first
    # Many retries at once (e.g. a double-tapped button on two replicas): still one request.
    results = await asyncio.gather(*(
        system.create_refill_request(patient.id, meds["lisinopril"].id, pharmacy.id, f"k{i % 3}")
        for i in range(9)
    ))
    assert len({r.id for r in results}) == 1
    # ... and exactly one caller is told it made the request (that one, and only it, tells staff).
    assert [r.created for r in results].count(True) == 1
    assert first.created and not (await ask("conv-1:statin")).created
    assert len(await system.refill_requests(patient.id)) == 2

    decided = await system.set_refill_status(
        first.reference.lower(), "approved", "Sent to pharmacy"
    )
    assert decided.status == "approved" and decided.decided_at is not None
    assert decided.decision_note == "Sent to pharmacy"
    newer = await system.create_refill_request(patient.id, statin, pharmacy.id, "conv-3:statin")
    assert newer.id != first.id and newer.status == "pending"
    listed = await system.refill_requests(patient.id)
    assert {r.id for r in listed} == {first.id, newer.id, results[0].id}
    assert await system.refill_requests(other.id) == []

    with pytest.raises(NotFound):  # someone else's medication
        await system.create_refill_request(other.id, statin, pharmacy.id, "conv-4")
    with pytest.raises(PracticeError):  # a key already used by another patient
        await system.create_refill_request(other.id, statin, pharmacy.id, "conv-1:statin")
    with pytest.raises(NotFound):
        await system.set_refill_status("RX-NOPE2", "denied")
    with pytest.raises(ValueError):
        await system.set_refill_status(first.reference, "maybe")
    # Found in review: a decided request could be decided again (an approved one denied by a
    # typo'd reference), and the patient was texted both decisions.
    with pytest.raises(RefillAlreadyDecided, match="already approved"):
        await system.set_refill_status(first.reference, "denied")
    assert [r.status for r in await system.refill_requests(patient.id) if r.id == first.id] == ["approved"]


async def test_refill_queue_lists_every_patients_requests_with_names(practice):
    system = practice.system
    patient = await _patient(system, DEMO_PATIENT)
    meds = {x.generic_name: x for x in await system.active_medications(patient.id)}
    pharmacy = (await system.pharmacies())[0]
    renewal = await system.create_refill_request(
        patient.id, meds["lisinopril"].id, pharmacy.id, "q-1", kind="renewal", channel="sms")
    refill = await system.create_refill_request(
        patient.id, meds["atorvastatin"].id, pharmacy.id, "q-2")
    assert (renewal.kind, renewal.channel) == ("renewal", "sms")
    assert (refill.kind, refill.channel) == ("refill", "web")
    assert renewal.medication_name == "lisinopril 10 mg" and renewal.pharmacy_name == pharmacy.name
    queue = await system.refill_queue()
    assert [r.reference for r in queue] == [renewal.reference, refill.reference]  # oldest first
    decided = await system.set_refill_status(refill.reference, "needs_appointment")
    assert decided.patient_notified_at is None
    await system.mark_refill_patient_notified(refill.reference)
    (after,) = await system.refill_queue("needs_appointment")
    assert after.reference == refill.reference and after.patient_notified_at is not None
    assert [r.reference for r in await system.refill_queue()] == [renewal.reference]
    assert len(await system.refill_queue(None)) == 2
    with pytest.raises(ValueError):
        await system.create_refill_request(patient.id, meds["amlodipine"].id, pharmacy.id,
                                           "q-3", kind="urgent")


async def test_handoffs_queue_once_per_conversation_and_close_by_reference(practice):
    system = practice.system
    live = await system.create_handoff("conv-a", "rest", "live", "asked")
    assert re.fullmatch(r"HO-[2-9A-HJ-NP-Z]{6}", live.reference) and live.status == "waiting"
    assert await system.create_handoff("conv-a", "rest", "live", "asked") == live  # asked twice
    callback = await system.create_handoff(
        "conv-b", "sms", "callback", "misunderstood", callback_phone="(312) 555-0177",
        callback_time="tomorrow after 3")
    assert callback.callback_phone == "+13125550177" and callback.kind == "callback"
    assert [h.reference for h in await system.handoff_queue()] == [live.reference, callback.reference]
    assert (await system.waiting_handoff("conv-a")) == live
    closed = await system.close_handoff(live.reference.lower())
    assert closed.status == "closed" and closed.closed_at is not None
    assert await system.waiting_handoff("conv-a") is None
    assert [h.reference for h in await system.handoff_queue()] == [callback.reference]
    again = await system.create_handoff("conv-a", "rest", "live", "asked")
    assert again.reference != live.reference
    with pytest.raises(NotFound):
        await system.close_handoff("HO-NOPE22")
    with pytest.raises(ValueError):
        await system.create_handoff("conv-c", "rest", "urgent", "asked")


async def test_ai_opt_out_is_recorded_with_the_disclosure_version(practice):
    system = practice.system
    patient = await _patient(system, DEMO_PATIENT)
    assert await system.ai_opt_out(patient.id) is None
    first = await system.record_ai_opt_out(patient.id, "2")
    assert await system.ai_opt_out(patient.id) == ("2", first)
    practice.clock.advance(minutes=5)
    second = await system.record_ai_opt_out(patient.id, "3")  # again, after a new disclosure
    assert await system.ai_opt_out(patient.id) == ("3", second) and second > first
    with pytest.raises(NotFound):
        await system.record_ai_opt_out(999_999, "2")


# --- lockout --------------------------------------------------------------------------


async def test_three_wrong_dates_of_birth_lock_the_record_across_conversations(practice):
    system = practice.system
    name, dob = DEMO_PATIENT
    wrong = date(1999, 1, 1)
    # Two conversations fail once each (a fresh system object per "conversation").
    assert (await system.check_identity(wrong, full_name=name)).patient is None
    second = practice.new_system()
    result = await second.check_identity(wrong, full_name=name.upper())
    assert result.patient is None and not result.locked
    # A failure by SMS is counted against the phone, not the name.
    assert not (await practice.new_system().check_identity(wrong, phone=DEMO_PATIENT_PHONE)).locked
    # The third failure with the name locks the record for name checks: once.
    third = await practice.new_system().check_identity(wrong, full_name=name)
    assert third.locked and third.locked_now
    # Now even the right name and date are refused until the lock lapses...
    again = await system.check_identity(dob, full_name=name)
    assert again.locked and not again.locked_now and again.patient is None
    # ...but the patient still gets in by SMS from their own phone: someone who knows a name
    # cannot lock the patient out of texting the practice.
    by_phone = await system.check_identity(dob, phone=DEMO_PATIENT_PHONE)
    assert by_phone.patient is not None and not by_phone.locked
    practice.clock.advance(minutes=14)
    assert (await system.check_identity(dob, full_name=name)).locked
    practice.clock.advance(minutes=2)
    ok = await system.check_identity(dob, full_name=name)
    assert ok.patient is not None and ok.patient.first_name == "Testy" and not ok.locked
    # Other patients were never affected.
    guardian = await system.check_identity(DEMO_GUARDIAN[1], full_name=DEMO_GUARDIAN[0])
    assert guardian.patient is not None


async def test_three_wrong_dates_by_sms_lock_the_phone_not_the_name(practice):
    system = practice.system
    name, dob = DEMO_PATIENT
    results = [await system.check_identity(date(1999, 1, 1), phone=DEMO_PATIENT_PHONE) for _ in range(3)]
    assert [r.locked_now for r in results] == [False, False, True]
    assert (await system.check_identity(dob, phone=DEMO_PATIENT_PHONE)).locked
    assert (await system.check_identity(dob, full_name=name)).patient is not None


async def test_failures_lapse_and_a_success_clears_them(practice):
    system = practice.system
    name, dob = DEMO_PATIENT
    wrong = date(1999, 1, 1)
    for _ in range(2):
        await system.check_identity(wrong, full_name=name)
    practice.clock.advance(minutes=16)  # old failures lapse
    assert not (await system.check_identity(wrong, full_name=name)).locked
    assert (await system.check_identity(dob, full_name=name)).patient is not None
    for _ in range(2):  # the success reset the count
        assert not (await system.check_identity(wrong, full_name=name)).locked
    # A name that matches nobody counts against nobody, and says nothing.
    nobody = await system.check_identity(dob, full_name="Nobody Atall")
    assert nobody.patient is None and not nobody.locked
    assert (await system.check_identity(dob, phone="+13125550199")).patient is None
    assert (await system.check_identity(dob, phone="not a phone")).patient is None


async def test_concurrent_failures_are_all_counted(practice):
    system = practice.system
    name, _ = DEMO_PATIENT
    results = await asyncio.gather(*(
        practice.new_system().check_identity(date(1999, 1, 1), full_name=name) for _ in range(3)
    ))
    assert sum(r.locked_now for r in results) == 1
    assert (await system.check_identity(DEMO_PATIENT[1], full_name=name)).locked


# --- concurrency ----------------------------------------------------------------------


async def test_twenty_five_concurrent_bookings_of_one_slot_give_exactly_one_appointment(practice):
    # Three "replicas" (own engines and pools), every call in its own session/transaction.
    systems = [practice.system, practice.new_system(), practice.new_system()]
    try:
        async with practice.system.engine.connect() as connection:
            patient_ids = (
                await connection.execute(select(m.Patient.id).order_by(m.Patient.id).limit(25))
            ).scalars().all()
        assert len(patient_ids) == 25
        day = practice.calendar.week_start + timedelta(days=22)
        slot = await _first_slot(practice.system, "ANNUAL_PHYSICAL", day, PROVIDER_ADA)

        results = await asyncio.gather(
            *(systems[i % 3].book(pid, slot) for i, pid in enumerate(patient_ids)),
            return_exceptions=True,
        )
        booked = [r for r in results if not isinstance(r, BaseException)]
        taken = [r for r in results if isinstance(r, SlotTaken)]
        assert len(booked) == 1, [type(r).__name__ for r in results]
        assert len(taken) == 24, [repr(r) for r in results if not isinstance(r, SlotTaken)]

        utc_start = slot.starts_at.astimezone(timezone.utc)
        async with practice.system.engine.connect() as connection:
            rows = (await connection.execute(
                select(func.count()).select_from(m.Appointment).where(
                    m.Appointment.provider_id == slot.provider_id,
                    m.Appointment.starts_at == utc_start,
                )
            )).scalar()
            cells = (await connection.execute(
                select(func.count()).select_from(m.OccupiedCell).where(
                    m.OccupiedCell.appointment_id == booked[0].id
                )
            )).scalar()
        assert rows == 1 and cells == 4  # 60 minutes = four 15-minute cells
    finally:
        for extra in systems[1:]:
            await extra.close()


async def _same_time_with_two_providers(system, code, day):
    """A slot with one provider and an overlapping one with another provider, same day."""
    providers, visits, _ = await _ids(system)
    by_provider = {}
    for name in (PROVIDER_ADA, PROVIDER_GRACE, PROVIDER_SAM):
        by_provider[name] = await system.free_slots(visits[code].id, day, day, provider_id=providers[name].id)
    names = [n for n in by_provider if by_provider[n]]
    for a in names:
        for b in names:
            if a == b:
                continue
            for first in by_provider[a]:
                for second in by_provider[b]:
                    if _overlaps(second, first.starts_at, first.ends_at):
                        return first, second
    raise AssertionError(f"no overlapping slots with two providers on {day}")


async def test_a_patient_cannot_be_booked_twice_at_the_same_time(practice):
    system = practice.system
    patient = await _patient(system, DEMO_PATIENT)
    day = practice.calendar.week_start + timedelta(days=15)
    first, second = await _same_time_with_two_providers(system, "FOLLOW_UP", day)
    await system.book(patient.id, first)
    with pytest.raises(PatientBusy):
        await system.hold_slot(patient.id, second, holder_key="conversation-2")
    with pytest.raises(PatientBusy):
        await system.book(patient.id, second)
    # Someone else can still have the other provider's time.
    other = await _patient(system, DEMO_GUARDIAN)
    assert (await system.book(other.id, second)).provider_id == second.provider_id
    # Moving an appointment onto (part of) its own time is not a clash.
    later = await _first_slot(system, "FOLLOW_UP", day + timedelta(days=7), first.provider_name)
    moved = await system.reschedule(
        (await system.book(patient.id, later)).id, patient.id,
        Slot(**{**later.__dict__, "starts_at": later.starts_at + timedelta(minutes=15),
                "ends_at": later.ends_at + timedelta(minutes=15)}))
    assert moved.starts_at == later.starts_at + timedelta(minutes=15)
    # ...but moving it onto another of the patient's appointments is.
    with pytest.raises(PatientBusy):
        await system.reschedule(moved.id, patient.id, Slot(**{**first.__dict__}))


async def test_two_conversations_booking_one_patient_at_the_same_time_give_one_appointment(
    practice, monkeypatch
):
    # A guardian and the patient in two chats, each picking a different provider at 9:00.
    # A pause after the clash check holds the race window open: without the patient-row lock
    # both transactions would pass the check and both would book.
    check = SqlPracticeSystem._check_patient_free

    async def slow_check(*args, **kwargs):
        await check(*args, **kwargs)
        await asyncio.sleep(0.3)

    monkeypatch.setattr(SqlPracticeSystem, "_check_patient_free", staticmethod(slow_check))
    systems = [practice.system, practice.new_system()]
    try:
        patient = await _patient(practice.system, DEMO_PATIENT)
        day = practice.calendar.week_start + timedelta(days=22)
        first, second = await _same_time_with_two_providers(practice.system, "FOLLOW_UP", day)
        results = await asyncio.gather(
            systems[0].book(patient.id, first), systems[1].book(patient.id, second),
            return_exceptions=True,
        )
        assert sorted(type(r).__name__ for r in results) == ["Appointment", "PatientBusy"], results
    finally:
        await systems[1].close()


async def test_a_slow_query_does_not_block_the_event_loop(practice):
    system = practice.system
    if practice.backend == "sqlite":
        slow = text(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 6000000)"
            " SELECT count(*) FROM c"
        )
    else:
        slow = text("SELECT pg_sleep(0.4)")
    ticks, gaps, done = 0, [], asyncio.Event()

    async def ticker():
        nonlocal ticks
        last = wallclock.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.01)
            now = wallclock.perf_counter()
            gaps.append(now - last)
            last = now
            ticks += 1

    async def query():
        started = wallclock.perf_counter()
        async with system.engine.connect() as connection:
            await connection.execute(slow)
        done.set()
        return wallclock.perf_counter() - started

    ticking = asyncio.create_task(ticker())
    took = await query()
    await ticking
    assert took > 0.2, f"the query should take a while to prove anything (took {took:.2f}s)"
    # A blocked loop ticks once or twice, with one gap as long as the query; a free one ticks
    # every ~10 ms. Compared with the query's own time, so a busy machine does not fail it.
    assert ticks >= 5, (ticks, took)
    assert max(gaps) < took / 2, (max(gaps), took)


# --- migrations and seed --------------------------------------------------------------


async def test_ensure_schema_and_seed_is_idempotent_and_keeps_the_calendar_ahead(practice):
    system = practice.system
    url, schema = system.database_url, system.pg_schema

    async def counts():
        async with system.engine.connect() as connection:
            patients = (await connection.execute(select(func.count()).select_from(m.Patient)))
            last_block = await connection.execute(select(func.max(m.ScheduleBlock.starts_at)))
            return patients.scalar(), last_block.scalar()

    before = await counts()
    started = wallclock.perf_counter()
    assert await ensure_schema_and_seed(url, pg_schema=schema) is False  # already seeded
    assert wallclock.perf_counter() - started < 2
    assert await counts() == before

    # Two weeks later the demo schedule is extended, once, to stay 8 weeks ahead.
    later = practice.calendar.week_start + timedelta(days=14)
    await ensure_schema_and_seed(url, pg_schema=schema, today=later)
    patients, last_block = await counts()
    assert patients == before[0]
    assert last_block.astimezone(TZ).date() - before[1].astimezone(TZ).date() == timedelta(days=14)
    await ensure_schema_and_seed(url, pg_schema=schema, today=later)
    assert await counts() == (patients, last_block)
