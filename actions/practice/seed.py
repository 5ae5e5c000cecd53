"""The demo clinic: obviously synthetic providers, patients, medicines and bookings.

Dates are relative to the Monday of the current week in the practice time zone, so the
demo always has a usable calendar: 8 weeks of schedule from that Monday, a holiday, a
location closure and one fully booked provider-day, all in the future after week one.
Opening hours, lunch and locations come from bot/content/clinic.yml.

The identities tests and conversation scripts use are the constants below (DEMO_*).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Dict, List, Optional, Tuple
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from actions.practice import models as m
from actions.practice.clinic import load_clinic, lunch_break, opening_hours, practice_timezone
from actions.practice.matching import fold_text, name_key

SCHEDULE_WEEKS = 8

# (full name as a patient would type it, date of birth)
DEMO_PATIENT = ("Testy McFakeface", date(1985, 4, 12))
DEMO_PATIENT_PHONE = "+13125550101"
DEMO_GUARDIAN = ("Mocky Guardianson", date(1979, 11, 3))
DEMO_GUARDIAN_PHONE = "+13125550102"
DEMO_DEPENDANTS = (
    ("Junior Guardianson", date(2015, 6, 21)),
    ("Tiny Guardianson", date(2019, 9, 9)),
)
DEMO_CONTROLLED_PATIENT = ("Sample Patientson", date(1972, 1, 30))  # methylphenidate, Sch. II
DEMO_RECENT_FILL_PATIENT = ("Dummy Recordsworth", date(1990, 7, 4))  # sertraline filled 3 days ago
DEMO_ACCENTED_PATIENT = ("Zoë Exámple", date(1988, 12, 1))  # matches "zoe example" too
# Testy McFakeface's lisinopril has no refills left; his atorvastatin has 3. Lisinopril and
# amlodipine are both for blood pressure ("my blood pressure pill" is ambiguous).
DEMO_NO_REFILLS_MEDICATION = "lisinopril"

PROVIDER_ADA = "Dr. Ada Lovetest"
PROVIDER_GRACE = "Dr. Grace Hopperfake"
PROVIDER_SAM = "Sam Placeholder, NP"

VISIT_TYPES = (
    # code, name, minutes, prep notes
    ("FLU_SHOT", "Flu shot", 15,
     "Wear a short-sleeved or loose top so the nurse can reach your upper arm."),
    ("FOLLOW_UP", "Follow-up visit", 30,
     "Bring a list of the medicines you take, including vitamins and supplements."),
    ("NEW_PATIENT", "New patient visit", 45,
     "Please arrive 15 minutes early with a photo ID and your insurance card."),
    ("ANNUAL_PHYSICAL", "Annual physical", 60,
     "If blood work is planned, do not eat for 8 hours beforehand; water is fine."),
)

# Provider -> (role, visit type codes, weekday (Mon=0) -> index into clinic.yml locations).
# Days the clinic is closed in clinic.yml `hours` get no schedule whatever the rota says.
ROTA: Dict[str, Tuple[str, Tuple[str, ...], Dict[int, int]]] = {
    PROVIDER_ADA: ("physician", ("FLU_SHOT", "FOLLOW_UP", "NEW_PATIENT", "ANNUAL_PHYSICAL"),
                   {0: 0, 1: 0, 3: 0, 4: 1, 5: 1}),
    PROVIDER_GRACE: ("physician", ("FLU_SHOT", "FOLLOW_UP", "NEW_PATIENT", "ANNUAL_PHYSICAL"),
                     {0: 1, 1: 1, 3: 0, 4: 0, 5: 0}),
    PROVIDER_SAM: ("nurse practitioner", ("FLU_SHOT", "FOLLOW_UP"),
                   {0: 0, 1: 0, 3: 1, 4: 0}),
}

PHARMACIES = (
    ("Testville Corner Pharmacy (demo)", "12 Example Avenue, Testville, IL 60000", "60000",
     "+13125550150"),
    ("Placeholder Drug Co. (demo)", "300 Placeholder Road, Testville, IL 60004", "60004",
     "+13125550151"),
    ("Mockingbird Apothecary (demo)", "8 Sample Street, Fakeburg, IL 60010", "60010",
     "+13125550152"),
    ("Fakewell 24h Pharmacy (demo)", "900 Route Zero, Fakeburg, IL 60010", "60010",
     "+13125550153"),
    ("Ñandú Community Pharmacy (demo)", "5 Dummy Lane, Mocktown, IL 60020", "60020",
     "+13125550154"),
)

# first, last, DOB, guardian (full name) or None. Phones are +1 312 555 01xx by position.
PATIENTS = (
    ("Testy", "McFakeface", DEMO_PATIENT[1], None),
    ("Mocky", "Guardianson", DEMO_GUARDIAN[1], None),
    ("Junior", "Guardianson", DEMO_DEPENDANTS[0][1], "Mocky Guardianson"),
    ("Tiny", "Guardianson", DEMO_DEPENDANTS[1][1], "Mocky Guardianson"),
    ("Sample", "Patientson", DEMO_CONTROLLED_PATIENT[1], None),
    ("Dummy", "Recordsworth", DEMO_RECENT_FILL_PATIENT[1], None),
    ("Zoë", "Exámple", DEMO_ACCENTED_PATIENT[1], None),
    ("Fakey", "McTestface", date(1964, 3, 15), None),
    ("Mock", "Datapoint", date(1995, 10, 10), None),
    ("Stubby", "Fixtureman", date(1958, 5, 5), None),
    ("Patty", "O'Placeholder", date(1983, 8, 18), None),
    ("Example", "Personson", date(1977, 2, 14), None),
    ("Nulla", "Nobodyton", date(2001, 11, 11), None),
    ("Demo", "Van der Testen", date(1969, 6, 30), None),
    ("Sandy", "Sandboxer", date(1992, 4, 1), None),
    ("Lorem", "Ipsumdottir", date(1986, 9, 23), None),
    ("Betty", "Betatest", date(1975, 12, 24), None),
    ("Alpha", "Releasington", date(1999, 1, 1), None),
    ("Gamma", "Staging", date(1960, 7, 20), None),
    ("Mary-Jane", "Mockingbird", date(1981, 3, 3), None),
    ("Little", "Mockingbird", date(2017, 2, 2), "Mary-Jane Mockingbird"),
    ("Jest", "Mockerson", date(1997, 5, 17), None),
    ("Unit", "Testerman", date(1955, 10, 31), None),
    ("Cypress", "Runner", date(1989, 8, 8), None),
    ("Fixture", "Loadwell", date(1971, 4, 4), None),
    ("Stub", "Returnsnull", date(1994, 2, 2), None),
    ("Assert", "Trueman", date(1966, 6, 6), None),
    ("Faux", "Patientova", date(1980, 10, 20), None),
    ("Dummy", "Datason", date(1973, 3, 13), None),
    ("Synthia", "Generata", date(1998, 12, 12), None),
    ("Bogus", "Entryfield", date(1968, 8, 28), None),
)


@dataclass(frozen=True)
class DemoCalendar:
    """The dated parts of the demo, for a given seeding week."""

    week_start: date  # Monday, practice-local
    fully_booked_day: date  # Tuesday of next week: PROVIDER_ADA has no free time
    fully_booked_provider: str
    holiday: date  # every location closed
    holiday_reason: str
    northside_closed_day: date  # only the second location closed
    northside_closed_reason: str
    demo_patient_appointment: datetime  # Testy's follow-up with Grace, local time
    dependant_appointment: datetime  # Junior's flu shot with Sam, local time


def week_start_for(today: date) -> date:
    return today - timedelta(days=today.weekday())


def demo_calendar(week_start: date, tz: Optional[ZoneInfo] = None) -> DemoCalendar:
    tz = tz or practice_timezone()
    return DemoCalendar(
        week_start=week_start,
        fully_booked_day=week_start + timedelta(days=8),
        fully_booked_provider=PROVIDER_ADA,
        holiday=week_start + timedelta(days=21),
        holiday_reason="Clinic holiday (demo)",
        northside_closed_day=week_start + timedelta(days=18),
        northside_closed_reason="Northside closed for flooring repairs (demo)",
        demo_patient_appointment=datetime.combine(week_start + timedelta(days=10), time(10), tz),
        dependant_appointment=datetime.combine(week_start + timedelta(days=7), time(9), tz),
    )


def _local(day: date, at: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tz).astimezone(timezone.utc)


def _blocks_for_day(day: date, tz: ZoneInfo) -> List[Tuple[datetime, datetime]]:
    """Open hours of the day minus lunch, as UTC (start, end) pairs."""
    hours = opening_hours()[day.weekday()]
    if hours is None:
        return []
    opens, closes = hours
    lunch = lunch_break()
    if lunch and opens < lunch[0] and lunch[1] < closes:
        pieces = [(opens, lunch[0]), (lunch[1], closes)]
    elif lunch and opens < lunch[0] < closes:
        pieces = [(opens, lunch[0])]
    elif lunch and opens < lunch[1] < closes and lunch[0] <= opens:
        pieces = [(lunch[1], closes)]
    else:
        pieces = [(opens, closes)]
    return [(_local(day, a, tz), _local(day, b, tz)) for a, b in pieces]


async def extend_schedule(session: AsyncSession, today: date) -> int:
    """Add schedule blocks so the calendar reaches SCHEDULE_WEEKS from this week's Monday.

    Only days after the last scheduled one are added, so this is idempotent and cheap (one
    MAX query) when nothing is missing. Returns how many blocks were added."""
    tz = practice_timezone()
    target_end = week_start_for(today) + timedelta(weeks=SCHEDULE_WEEKS)  # exclusive
    last_start = await session.scalar(select(func.max(m.ScheduleBlock.starts_at)))
    first_day = (
        last_start.astimezone(tz).date() + timedelta(days=1)
        if last_start
        else week_start_for(today)
    )
    if first_day >= target_end:
        return 0
    providers = {
        p.display_name: p.id for p in (await session.scalars(select(m.Provider))).all()
    }
    locations = [
        loc.id for loc in (await session.scalars(select(m.Location).order_by(m.Location.id))).all()
    ]
    added = 0
    day = first_day
    while day < target_end:
        for provider_name, (_, _, days) in ROTA.items():
            if provider_name not in providers or day.weekday() not in days:
                continue
            for starts, ends in _blocks_for_day(day, tz):
                session.add(
                    m.ScheduleBlock(
                        provider_id=providers[provider_name],
                        location_id=locations[days[day.weekday()]],
                        starts_at=starts,
                        ends_at=ends,
                    )
                )
                added += 1
        day += timedelta(days=1)
    await session.flush()
    return added


def _phone(position: int) -> str:
    return f"+1312555{position:04d}"


async def seed_demo_clinic(session: AsyncSession, today: date) -> DemoCalendar:
    """Insert the whole demo clinic into an empty database (the caller commits)."""
    tz = practice_timezone()
    clinic = load_clinic()
    calendar = demo_calendar(week_start_for(today), tz)

    locations = [
        m.Location(
            name=loc["name"], address=loc["address"], parking=loc.get("parking", ""),
            phone=loc.get("phone", clinic.get("phone", "")),
        )
        for loc in clinic["locations"]
    ]
    session.add_all(locations)
    visit_types = {
        code: m.VisitType(code=code, name=name, duration_minutes=minutes, prep_notes=prep)
        for code, name, minutes, prep in VISIT_TYPES
    }
    session.add_all(visit_types.values())
    providers = {
        name: m.Provider(display_name=name, role=role) for name, (role, _, _) in ROTA.items()
    }
    session.add_all(providers.values())
    pharmacies = [
        m.Pharmacy(name=name, search_name=fold_text(name), address=address, zip=zip_code,
                   phone=phone)
        for name, address, zip_code, phone in PHARMACIES
    ]
    session.add_all(pharmacies)
    await session.flush()

    for name, (_, codes, days) in ROTA.items():
        for code in codes:
            session.add(m.ProviderVisitType(provider_id=providers[name].id,
                                            visit_type_id=visit_types[code].id))
        for index in sorted(set(days.values())):
            session.add(m.ProviderLocation(provider_id=providers[name].id,
                                           location_id=locations[index].id))

    patients: Dict[str, m.Patient] = {}
    for position, (first, last, dob, guardian) in enumerate(PATIENTS, start=1):
        patient = m.Patient(
            first_name=first,
            last_name=last,
            name_key=name_key(first, last),
            date_of_birth=dob,
            phone=None if guardian else _phone(100 + position),
            guardian_id=patients[guardian].id if guardian else None,
            preferred_pharmacy_id=pharmacies[position % len(pharmacies)].id,
        )
        session.add(patient)
        await session.flush()  # dependants need their guardian's id
        patients[f"{first} {last}"] = patient

    def medication(patient: str, generic: str, brands: Tuple[str, ...], strength: str,
                   directions: str, refills: int, filled_days_ago: int, *,
                   schedule: Optional[str] = None, supply: int = 30,
                   prescriber: str = PROVIDER_ADA, active: bool = True) -> m.Medication:
        return m.Medication(
            patient_id=patients[patient].id, generic_name=generic, brand_names=list(brands),
            strength=strength, directions=directions, controlled_schedule=schedule,
            refills_remaining=refills, days_supply=supply,
            last_filled=today - timedelta(days=filled_days_ago),
            prescriber_id=providers[prescriber].id, active=active,
        )

    session.add_all([
        medication("Testy McFakeface", "atorvastatin", ("Lipitor",), "20 mg",
                   "Take 1 tablet by mouth every evening.", 3, 24),
        medication("Testy McFakeface", "lisinopril", ("Zestril", "Prinivil"), "10 mg",
                   "Take 1 tablet by mouth once a day.", 0, 27),
        medication("Testy McFakeface", "amlodipine", ("Norvasc",), "5 mg",
                   "Take 1 tablet by mouth once a day.", 2, 26),
        medication("Testy McFakeface", "amoxicillin", ("Amoxil",), "500 mg",
                   "Take 1 capsule by mouth 3 times a day for 7 days.", 0, 200, supply=7,
                   active=False),
        medication("Junior Guardianson", "albuterol", ("ProAir HFA", "Ventolin HFA"),
                   "90 mcg per puff", "Inhale 2 puffs every 4 to 6 hours as needed for wheezing.",
                   2, 40, prescriber=PROVIDER_GRACE),
        medication("Sample Patientson", "methylphenidate", ("Ritalin",), "10 mg",
                   "Take 1 tablet by mouth twice a day, morning and noon.", 0, 26,
                   schedule="II"),
        medication("Sample Patientson", "zolpidem", ("Ambien",), "5 mg",
                   "Take 1 tablet by mouth at bedtime as needed for sleep.", 2, 20,
                   schedule="IV", prescriber=PROVIDER_GRACE),
        medication("Dummy Recordsworth", "sertraline", ("Zoloft",), "50 mg",
                   "Take 1 tablet by mouth once a day.", 5, 3),
        medication("Mary-Jane Mockingbird", "levothyroxine", ("Synthroid",), "50 mcg",
                   "Take 1 tablet by mouth every morning on an empty stomach.", 4, 80,
                   supply=90, prescriber=PROVIDER_GRACE),
        medication("Fakey McTestface", "metformin", ("Glucophage",), "500 mg",
                   "Take 1 tablet by mouth twice a day with meals.", 1, 29),
    ])

    session.add_all([
        m.Closure(date=calendar.holiday, reason=calendar.holiday_reason, location_id=None),
        m.Closure(date=calendar.northside_closed_day, reason=calendar.northside_closed_reason,
                  location_id=locations[1].id),
    ])
    session.add(m.PracticeMeta(key="demo_week_start", value=calendar.week_start.isoformat()))
    await session.flush()
    await extend_schedule(session, today)

    follow_up = visit_types["FOLLOW_UP"]
    flu = visit_types["FLU_SHOT"]
    bookings = []  # (patient, provider, location, visit type, local start)
    # Fill Ada's whole day at the main clinic with follow-ups: a day with no free time.
    fillers = [p for key, p in patients.items() if p.guardian_id is None][7:]
    opens, closes = opening_hours()[calendar.fully_booked_day.weekday()]
    cursor = datetime.combine(calendar.fully_booked_day, opens, tz)
    index = 0
    while cursor + timedelta(minutes=follow_up.duration_minutes) <= datetime.combine(
        calendar.fully_booked_day, closes, tz
    ):
        lunch = lunch_break()
        if lunch and lunch[0] <= cursor.time() < lunch[1]:
            cursor = datetime.combine(calendar.fully_booked_day, lunch[1], tz)
            continue
        bookings.append((fillers[index % len(fillers)], providers[PROVIDER_ADA], locations[0],
                         follow_up, cursor, None))
        cursor += timedelta(minutes=follow_up.duration_minutes)
        index += 1
    bookings.append((patients["Testy McFakeface"], providers[PROVIDER_GRACE], locations[0],
                     follow_up, calendar.demo_patient_appointment, None))
    bookings.append((patients["Junior Guardianson"], providers[PROVIDER_SAM], locations[0],
                     flu, calendar.dependant_appointment, patients["Mocky Guardianson"]))

    now = datetime.now(timezone.utc)
    for number, (patient, provider, location, visit, starts, booked_by) in enumerate(
        bookings, start=1
    ):
        starts_utc = starts.astimezone(timezone.utc)
        ends_utc = starts_utc + timedelta(minutes=visit.duration_minutes)
        appointment = m.Appointment(
            # Fixed references so demo scripts can mention them; random ones are APT-XXXXX.
            reference=f"APT-DEMO{number:02d}",
            patient_id=patient.id,
            booked_by_patient_id=(booked_by or patient).id,
            provider_id=provider.id,
            location_id=location.id,
            visit_type_id=visit.id,
            starts_at=starts_utc,
            ends_at=ends_utc,
            status="booked",
            created_at=now,
            updated_at=now,
        )
        session.add(appointment)
        await session.flush()
        cell = starts_utc
        while cell < ends_utc:
            session.add(m.OccupiedCell(provider_id=provider.id, cell_start=cell,
                                       appointment_id=appointment.id))
            cell += timedelta(minutes=m.CELL_MINUTES)
    await session.flush()
    return calendar
