"""Booking form actions against a real seeded SQLite practice database.

Trackers are built the way Rasa sends them; the tests assert the exact slot events and the
messages a patient would see.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

import pytest
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

import actions.practice as practice_module
from actions.booking import (
    ActionAskSlotChoice,
    ActionAskVisitType,
    ActionFinishBooking,
    ValidateBookingForm,
    ValidateCancelForm,
)
from actions.common import slot_from_dict, slot_to_dict
from actions.practice.seed import DEMO_GUARDIAN, DEMO_PATIENT
from tests.action_helpers import DOMAIN, dob_text as _dob, slot_events, tracker, validate

def test_correct_details_verify_and_drop_the_typed_identity(run):
    t = tracker({"patient_name": DEMO_PATIENT[0], "patient_dob": _dob(DEMO_PATIENT[1])}, "patient_dob")
    events, messages = run(lambda: validate(ValidateBookingForm(), t))
    slots = slot_events(events)
    assert isinstance(slots["verified_patient_id"], int)
    assert slots["verified_first_name"] == "Testy"
    assert slots["patient_name"] is None and slots["patient_dob"] is None
    assert slots["requested_slot"] == "visit_type"  # no dependants: straight to the visit type
    assert messages == ["Thanks, Testy, you're verified."]


def test_guardian_is_asked_who_the_appointment_is_for(run):
    t = tracker({"patient_name": DEMO_GUARDIAN[0], "patient_dob": _dob(DEMO_GUARDIAN[1])}, "patient_dob")
    events, _ = run(lambda: validate(ValidateBookingForm(), t))
    slots = slot_events(events)
    assert [d["first_name"] for d in slots["dependants"]] == ["Junior", "Tiny"]
    assert slots["requested_slot"] == "appointment_for"


@pytest.mark.parametrize("name,dob", [(DEMO_PATIENT[0], "01/01/1950"), ("Nobody Atall", _dob(DEMO_PATIENT[1]))])
def test_a_mismatch_never_says_which_field_was_wrong(run, name, dob):
    t = tracker({"patient_name": name, "patient_dob": dob}, "patient_dob")
    events, messages = run(lambda: validate(ValidateBookingForm(), t))
    assert slot_events(events) == {
        "patient_name": None, "patient_dob": None, "failed_verifications": 1, "requested_slot": "patient_name",
    }
    assert messages == ["Sorry, we couldn't match those details. Let's try once more."]


def test_third_failure_ends_the_form_with_a_phone_number(run):
    t = tracker({"patient_name": "Nobody Atall", "patient_dob": "01/01/1950", "failed_verifications": 2}, "patient_dob")
    events, messages = run(lambda: validate(ValidateBookingForm(), t))
    assert slot_events(events)["requested_slot"] is None
    assert "call the clinic" in messages[0]


def test_time_preference_offers_three_free_slots_as_numbered_buttons(run):
    async def scenario():
        system = practice_module.get_practice_system()
        patient = await system.verify_patient(*DEMO_PATIENT)
        vt = (await system.visit_types())[1]
        t = tracker({"verified_patient_id": patient.id, "visit_type": str(vt.id), "provider_pref": "any",
                     "time_preference": "asap"}, "time_preference")
        events, _ = await validate(ValidateBookingForm(), t)
        slots = slot_events(events)
        t2 = tracker({**{k: v for k, v in slots.items()}, "verified_patient_id": patient.id}, "slot_choice")
        dispatcher = CollectingDispatcher()
        await ActionAskSlotChoice().run(dispatcher, t2, DOMAIN)
        return slots, dispatcher.messages

    slots, messages = run(scenario)
    assert len(slots["offered_slots"]) == 3
    assert slots["requested_slot"] == "slot_choice"
    assert [b["payload"] for b in messages[0]["buttons"]] == ["1", "2", "3", "/none_of_these"]
    starts = [datetime.fromisoformat(s["starts_at"]) for s in slots["offered_slots"]]
    assert starts == sorted(starts) and starts[0] > datetime.now(starts[0].tzinfo)


async def _asking_for_asap(identity):
    """A verified patient who has picked a visit type, any provider, and said "asap"."""
    system = practice_module.get_practice_system()
    patient = await system.verify_patient(*identity)
    vt = (await system.visit_types())[1]
    base = {"verified_patient_id": patient.id, "visit_type": str(vt.id), "provider_pref": "any",
            "time_preference": "asap"}
    return system, patient, vt, base


def test_choosing_and_confirming_books_once_and_a_second_patient_is_offered_other_times(run):
    async def scenario():
        system, first, _, base = await _asking_for_asap(DEMO_PATIENT)
        offered = slot_events((await validate(ValidateBookingForm(), tracker(base, "time_preference")))[0])
        state = {**base, "offered_slots": offered["offered_slots"], "slot_choice": "1"}
        chosen = slot_events((await validate(ValidateBookingForm(), tracker(state, "slot_choice")))[0])
        state.update(slot_choice=chosen["slot_choice"], booking_confirmed=True)
        booked_events, _ = await validate(ValidateBookingForm(), tracker(state, "booking_confirmed"))
        booked = slot_events(booked_events)
        finish = CollectingDispatcher()
        finish_events = await ActionFinishBooking().run(
            finish, tracker({**state, **booked}, None, form=None), DOMAIN)

        # Someone else confirms the same slot a moment later (their hold was not taken).
        second = await system.verify_patient(*DEMO_GUARDIAN)
        other = {**state, "verified_patient_id": second.id,
                 "slot_choice": {"slot": chosen["slot_choice"]["slot"], "hold_id": None}}
        taken_events, taken_messages = await validate(ValidateBookingForm(), tracker(other, "booking_confirmed"))
        upcoming = await system.upcoming_appointments(first.id, datetime.now().astimezone() - timedelta(days=1))
        return booked, finish.messages, finish_events, slot_events(taken_events), taken_messages, upcoming

    booked, finish_messages, finish_events, taken, taken_messages, upcoming = run(scenario)
    assert booked["booking_confirmed"] is True
    reference = booked["last_appointment"]["reference"]
    assert reference in [a.reference for a in upcoming]
    text = finish_messages[0]["text"]
    assert text.startswith("You're booked.") and reference in text and "24 hours" in text
    assert " for Testy with " in text  # whose appointment it is, said every time
    assert SlotSet("booking_confirmed", None) in finish_events  # the form is reset afterwards
    assert taken_messages[0] == "Sorry, that time is no longer available."
    assert taken["booking_confirmed"] is None and len(taken["offered_slots"]) == 3
    assert booked["last_appointment"]["starts_at"] not in [s["starts_at"] for s in taken["offered_slots"]
                                                             if s["provider_id"] == booked["last_appointment"]["provider_id"]]


def test_cancel_form_skips_to_the_end_when_there_is_nothing_to_cancel(run):
    async def scenario():
        system = practice_module.get_practice_system()
        guardian = await system.verify_patient(*DEMO_GUARDIAN)
        for appt in await system.upcoming_appointments(guardian.id, datetime.now().astimezone()):
            await system.cancel(appt.id, guardian.id)
        t = tracker({"patient_name": DEMO_GUARDIAN[0], "patient_dob": _dob(DEMO_GUARDIAN[1])}, "patient_dob",
                    form="cancel_form")
        return await validate(ValidateCancelForm(), t)

    events, messages = run(scenario)
    slots = slot_events(events)
    # Junior's flu shot is the only one left: taken without asking "Which appointment...?"
    assert slots["requested_slot"] == "cancel_confirmed"
    assert slots["appointment_choice"]["patient_first_name"] == "Junior"
    assert messages[-1].startswith("That's Junior's flu shot with Sam Placeholder, NP on ")


def test_a_closed_day_is_explained_with_the_nearest_alternatives(run):
    async def scenario():
        system = practice_module.get_practice_system()
        patient = await system.verify_patient(*DEMO_PATIENT)
        vt = (await system.visit_types())[1]
        t = tracker({"verified_patient_id": patient.id, "visit_type": str(vt.id), "provider_pref": "any",
                     "time_preference": "next wednesday"}, "time_preference")
        return await validate(ValidateBookingForm(), t)

    events, messages = run(scenario)
    assert "closed on Wednesdays" in messages[0] and "nearest free times" in messages[0]
    offered = slot_events(events)["offered_slots"]
    assert offered and all(datetime.fromisoformat(s["starts_at"]).weekday() != 2 for s in offered)


def test_a_date_in_the_past_is_explained(run):
    async def scenario():
        system = practice_module.get_practice_system()
        patient = await system.verify_patient(*DEMO_PATIENT)
        vt = (await system.visit_types())[1]
        t = tracker({"verified_patient_id": patient.id, "visit_type": str(vt.id), "provider_pref": "any",
                     "time_preference": "yesterday"}, "time_preference")
        return await validate(ValidateBookingForm(), t)

    events, messages = run(scenario)
    assert "already passed" in messages[0]
    assert len(slot_events(events)["offered_slots"]) == 3


def test_times_that_clash_with_the_patients_own_appointment_are_not_offered_or_booked(run):
    async def scenario():
        system, patient, vt, base = await _asking_for_asap(DEMO_PATIENT)
        before = slot_events((await validate(ValidateBookingForm(), tracker(base, "time_preference")))[0])
        first = before["offered_slots"][0]
        # The patient books the first time offered (with whichever provider had it)...
        booked = await system.book(patient.id, slot_from_dict(first))
        # ...then asks for "asap" again in a new chat: no offer overlaps that appointment.
        after = slot_events((await validate(ValidateBookingForm(), tracker(base, "time_preference")))[0])
        # A stale offer for the same time with another provider is refused with a reason.
        other = next(p for p in await system.providers(vt.id) if p.id != first["provider_id"])
        same_time = await system.free_slots(vt.id, booked.starts_at, booked.ends_at, provider_id=other.id)
        assert same_time, "the demo week should have a second provider free at the same time"
        state = {**base, "offered_slots": after["offered_slots"],
                 "slot_choice": {"slot": slot_to_dict(same_time[0]), "hold_id": None}, "booking_confirmed": True}
        return booked, after, await validate(ValidateBookingForm(), tracker(state, "booking_confirmed"))

    booked, after, (events, messages) = run(scenario)
    for offer in after["offered_slots"]:
        starts, ends = datetime.fromisoformat(offer["starts_at"]), datetime.fromisoformat(offer["ends_at"])
        assert not (starts < booked.ends_at and booked.starts_at < ends), offer
    assert messages[0] == "That time overlaps an appointment that is already booked, so I haven't booked it."
    assert slot_events(events)["booking_confirmed"] is None


# -- found in review (session 12): what a patient would have noticed ----------------------


def test_a_typed_number_picks_the_clinician_of_that_number(run):
    # The list reads "0. No preference, 1. <first clinician>, ..."; SMS patients type the number.
    async def scenario():
        system = practice_module.get_practice_system()
        vt = (await system.visit_types())[1]
        providers = await system.providers(vt.id)
        answers = {}
        for typed in ("0", "1", "2", str(len(providers) + 1)):
            t = tracker({"visit_type": str(vt.id)}, "provider_pref")
            dispatcher = CollectingDispatcher()
            result = await ValidateBookingForm().validate_provider_pref(typed, dispatcher, t, DOMAIN)
            answers[typed] = (result["provider_pref"], [m["text"] for m in dispatcher.messages])
        return providers, answers

    providers, answers = run(scenario)
    assert answers["0"][0] == "any"
    assert answers["1"][0] == str(providers[0].id) and answers["2"][0] == str(providers[1].id)
    too_big = answers[str(len(providers) + 1)]
    assert too_big[0] is None and f"0 to {len(providers)}" in too_big[1][0]


def _offers(run, *texts, page=0, at=None, monkeypatch=None):
    """find_offers for each text with a fresh seeded database; `at` fixes the clock."""
    import actions.booking as booking
    from actions.common import practice_tz

    async def scenario():
        system = practice_module.get_practice_system()
        if at is not None:
            moment = at(practice_tz())
            monkeypatch.setattr(booking, "now_local", lambda: moment)
            system._clock = lambda: moment.astimezone(timezone.utc)
        vt = (await system.visit_types())[1]
        return [await booking.find_offers(text, vt.id, None, page) for text in texts]

    return run(scenario)


def test_a_weekday_two_weeks_out_is_offered_not_called_booked(run):
    # The free-slot query used to stop at 200 slots (about two days), before any Thursday.
    (offers, note), = _offers(run, "thursdays")
    assert note is None and len(offers) == 3
    assert {o.starts_at.astimezone(o.starts_at.tzinfo).weekday() for o in offers} == {3}


def test_none_of_these_moves_on_through_the_alternatives(run):
    first, second = _offers(run, "wednesday"), _offers(run, "wednesday", page=1)
    (offers_0, note_0), = first
    (offers_1, note_1), = second
    assert "closed on Wednesdays" in note_0 and "closed on Wednesdays" in note_1
    assert offers_0 and offers_1
    assert {o.starts_at for o in offers_0}.isdisjoint({o.starts_at for o in offers_1})


def test_asking_for_a_time_the_clinic_is_shut_says_the_hours_not_booked(run):
    results = _offers(run, "saturday afternoon", "after 6pm")
    (sat_offers, sat_note), (late_offers, late_note) = results
    assert "we aren't open then" in sat_note and "on Saturdays" in sat_note and "booked" not in sat_note
    assert "we aren't open then" in late_note and "booked" not in late_note
    assert sat_offers and late_offers  # and the nearest free times follow


def _next_monday_at(hour, minute):
    """A clock for _offers: next Monday at hour:minute, practice time."""
    def at(tz):
        today = datetime.now(tz).date()
        monday = today + timedelta(days=(7 - today.weekday()) % 7 or 7)
        return datetime.combine(monday, time(hour, minute), tz)
    return at


def test_asking_for_today_after_closing_says_we_have_closed(run, monkeypatch):
    next_monday_evening = _next_monday_at(18, 30)

    (offers, note), = _offers(run, "today", at=next_monday_evening, monkeypatch=monkeypatch)
    assert note.startswith("Sorry, we've closed for today (we're open until 5 pm)")
    assert offers and all(o.starts_at > next_monday_evening(o.starts_at.tzinfo) for o in offers)


def test_the_confirmation_question_says_whose_appointment_it_is(run):
    # A parent who asked "for my daughter", with no child linked to their record, was booked
    # for themselves without being told.
    from rasa_sdk.executor import CollectingDispatcher

    from actions.booking import ActionAskBookingConfirmed

    async def scenario():
        system, first, _, base = await _asking_for_asap(DEMO_PATIENT)
        offered = slot_events((await validate(ValidateBookingForm(), tracker(base, "time_preference")))[0])
        state = {**base, "offered_slots": offered["offered_slots"], "slot_choice": "1"}
        chosen = slot_events((await validate(ValidateBookingForm(), tracker(state, "slot_choice")))[0])
        questions = []
        for extra in ({}, {"subject_patient_id": 999, "dependants": [{"id": 999, "first_name": "Junior"}]}):
            dispatcher = CollectingDispatcher()
            await ActionAskBookingConfirmed().run(
                dispatcher, tracker({**state, **chosen, **extra, "verified_first_name": "Testy"},
                                    "booking_confirmed"), DOMAIN)
            questions.append(dispatcher.messages[0]["text"])
        return questions

    own, dependants = run(scenario)
    assert own.startswith("Book a ") and " for you (Testy) on " in own
    assert " for Junior on " in dependants


def test_another_time_instead_of_a_pick_searches_again(run):
    # At the offers, "a different day" or "anything after 3:30" repeated "Please reply 1, 2, 3"
    # with the same list; seven "none of these" only stepped 15 minutes at a time.
    from actions.common import practice_tz

    async def scenario():
        _, _, _, base = await _asking_for_asap(DEMO_PATIENT)
        offered = slot_events((await validate(ValidateBookingForm(), tracker(base, "time_preference")))[0])
        state = {**base, **offered}
        answers = {}
        for said in ("different day pls", "anything after 3:30?"):
            events, messages = await validate(ValidateBookingForm(), tracker({**state, "slot_choice": said}, "slot_choice"))
            answers[said] = (slot_events(events), messages)
        return offered, answers

    offered, answers = run(scenario)
    first_days = {slot_from_dict(s).starts_at.date() for s in offered["offered_slots"]}
    other_day, _ = answers["different day pls"]
    assert other_day["offered_slots"] and all(
        slot_from_dict(s).starts_at.date() > max(first_days) for s in other_day["offered_slots"])
    later, messages = answers["anything after 3:30?"]
    assert later["offered_slots"] and all(
        slot_from_dict(s).starts_at.astimezone(practice_tz()).time() >= time(15, 30) for s in later["offered_slots"])
    assert not any("Please reply" in m for m in messages)


def _started_by(text):
    """Events before the current turn of a booking form that `text` started."""
    return [
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": text, "parse_data": {"intent": {"name": "book_appointment"}}},
        {"event": "action", "name": "booking_form"},
        {"event": "active_loop", "name": "booking_form"},
    ]


def test_a_visit_type_and_time_named_up_front_are_not_asked_for_again(run):
    # "can I get a flu shot next week" used to be followed by "What kind of visit do you need?"
    # and "When would suit you?", as if the patient had said nothing.
    opening = "can i get a flu shot next week"

    async def scenario():
        verified = await validate(ValidateBookingForm(), tracker(
            {"patient_name": DEMO_PATIENT[0], "patient_dob": _dob(DEMO_PATIENT[1])}, "patient_dob",
            events_before=_started_by(opening)))
        state = {k: v for k, v in slot_events(verified[0]).items() if k != "requested_slot"}
        clinician = await validate(ValidateBookingForm(), tracker(
            {**state, "provider_pref": "no preference"}, "provider_pref", events_before=_started_by(opening)))
        flu = [v for v in await practice_module.get_practice_system().visit_types() if v.name == "Flu shot"][0]
        return verified, clinician, flu

    (events, messages), (offered, _), flu = run(scenario)
    slots = slot_events(events)
    assert slots["visit_type"] == str(flu.id)
    assert "That's a flu shot (15 min)." in messages
    assert slots["requested_slot"] == "provider_pref"  # the clinician question comes next
    slots = slot_events(offered)
    assert slots["time_preference"] == opening and len(slots["offered_slots"]) == 3
    assert slots["requested_slot"] == "slot_choice"  # the times, not "When would suit you?"
    days = {slot_from_dict(s).starts_at.date() for s in slots["offered_slots"]}
    assert min(days) > datetime.now().date()


@pytest.mark.parametrize("opening", ["/book_appointment", "i'd like to book an appointment",
                                     "book a physical"])  # a button; nothing named; not a whole name
def test_without_a_visit_type_named_up_front_the_question_is_asked(run, opening):
    t = tracker({"patient_name": DEMO_PATIENT[0], "patient_dob": _dob(DEMO_PATIENT[1])}, "patient_dob",
                events_before=_started_by(opening))
    events, messages = run(lambda: validate(ValidateBookingForm(), t))
    slots = slot_events(events)
    assert slots["requested_slot"] == "visit_type" and "visit_type" not in slots
    assert messages == ["Thanks, Testy, you're verified."]


def test_a_time_named_up_front_is_used_once_not_when_the_question_is_asked_again(run):
    # After "Sorry, that time is no longer available" with nothing else free, the time question
    # is the patient's to answer: the opening words are not searched again.
    async def scenario():
        _, _, _, base = await _asking_for_asap(DEMO_PATIENT)
        state = {**base, "time_preference": "blah"}
        return await validate(ValidateBookingForm(), tracker(
            state, "time_preference", text="blah", events_before=_started_by("anything tomorrow?")))

    events, messages = run(scenario)
    slots = slot_events(events)
    assert slots["time_preference"] is None and slots.get("offered_slots") is None
    assert slots["requested_slot"] == "time_preference"


def test_nothing_is_offered_sooner_than_half_an_hour_away(run, monkeypatch):
    # "asap" at 3:59 pm offered 4:00 pm at the other site: no one gets there in a minute.
    next_monday_1559 = _next_monday_at(15, 59)

    (offers, _), = _offers(run, "asap", at=next_monday_1559, monkeypatch=monkeypatch)
    soonest = next_monday_1559(offers[0].starts_at.tzinfo) + timedelta(minutes=30)
    assert offers and all(o.starts_at >= soonest for o in offers)


def test_who_what_with_whom_and_when_named_up_front_go_straight_to_the_times(run):
    # "book a flu shot for tiny with dr lovetest next week" asked "Who is the appointment
    # for?" and "Would you like to see a particular clinician?" (session 14 black-box test).
    opening = "book a flu shot for tiny with dr lovetest next week"
    t = tracker({"patient_name": DEMO_GUARDIAN[0], "patient_dob": _dob(DEMO_GUARDIAN[1])}, "patient_dob",
                events_before=_started_by(opening))
    events, messages = run(lambda: validate(ValidateBookingForm(), t))
    slots = slot_events(events)
    tiny = [d for d in slots["dependants"] if d["first_name"] == "Tiny"][0]
    assert slots["appointment_for"] == str(tiny["id"]) and slots["subject_patient_id"] == tiny["id"]
    assert "That's for Tiny." in messages and "That's a flu shot (15 min)." in messages
    assert "With Dr. Ada Lovetest." in messages
    assert slots["requested_slot"] == "slot_choice" and len(slots["offered_slots"]) == 3
    assert {s["provider_name"] for s in slots["offered_slots"]} == {"Dr. Ada Lovetest"}
    assert [e["name"] for e in events if e["event"] == "slot"].count("requested_slot") == 1


def test_an_unclear_who_for_answer_says_why_rather_than_asking_twice(run):
    async def scenario():
        who = slot_events((await validate(ValidateBookingForm(), tracker(
            {"patient_name": DEMO_GUARDIAN[0], "patient_dob": _dob(DEMO_GUARDIAN[1])}, "patient_dob")))[0])
        state = {k: v for k, v in who.items() if k != "requested_slot"}
        return await validate(ValidateBookingForm(), tracker({**state, "appointment_for": "for my son"}, "appointment_for"))

    events, messages = run(scenario)
    assert slot_events(events)["appointment_for"] is None
    assert messages == ["Sorry, I need to know whether it's for you or for Junior or Tiny."]


def test_a_second_appointment_of_the_same_kind_is_pointed_out_at_the_confirmation(run):
    # A second flu shot was offered and booked without a word (session 14 black-box test).
    from actions.booking import ActionAskBookingConfirmed

    async def confirmation_question(state):
        offered = slot_events((await validate(ValidateBookingForm(), tracker(state, "time_preference")))[0])
        state = {**state, "offered_slots": offered["offered_slots"], "slot_choice": "1"}
        chosen = slot_events((await validate(ValidateBookingForm(), tracker(state, "slot_choice")))[0])
        state = {**state, **chosen, "verified_first_name": "Testy"}
        dispatcher = CollectingDispatcher()
        await ActionAskBookingConfirmed().run(dispatcher, tracker(state, "booking_confirmed"), DOMAIN)
        return state, dispatcher.messages[0]["text"]

    async def scenario():
        system, _, _, base = await _asking_for_asap(DEMO_PATIENT)
        flu = [v for v in await system.visit_types() if v.name == "Flu shot"][0]
        base = {**base, "visit_type": str(flu.id)}
        state, first = await confirmation_question(base)
        booked = slot_events((await validate(ValidateBookingForm(), tracker(
            {**state, "booking_confirmed": True}, "booking_confirmed")))[0])
        _, second = await confirmation_question(base)
        return first, booked, second

    first, booked, second = run(scenario)
    assert "already" not in first
    assert booked["booking_confirmed"] is True
    assert "Please note: you already have a flu shot booked on " in second


def test_a_verified_patient_is_not_offered_a_new_patient_visit(run):
    # Booking needs a record with us, so "New patient visit (45 min)" in the list only led a
    # registered patient to book the wrong, longer visit.
    async def scenario():
        system = practice_module.get_practice_system()
        patient = await system.verify_patient(*DEMO_PATIENT)
        dispatcher = CollectingDispatcher()
        await ActionAskVisitType().run(dispatcher, tracker({"verified_patient_id": patient.id}, "visit_type"), DOMAIN)
        asked_for = []
        for answer in ("new patient visit", "3"):
            asked_for.append(await validate(ValidateBookingForm(), tracker(
                {"verified_patient_id": patient.id, "visit_type": answer}, "visit_type", text=answer)))
        physical = [v for v in await system.visit_types() if v.name == "Annual physical"][0]
        return dispatcher.messages[0], asked_for, physical

    question, ((new_events, new_messages), (three_events, _)), physical = run(scenario)
    assert question["text"].splitlines()[1:] == [
        "1. Flu shot (15 min)", "2. Follow-up visit (30 min)", "3. Annual physical (60 min)"]
    assert "New patient" not in " ".join(b["title"] for b in question["buttons"])
    assert slot_events(new_events)["visit_type"] is None
    assert new_messages == ["You're already registered with us, so you don't need a new patient visit. "
                            "Please pick one of these by number."]
    assert slot_events(three_events)["visit_type"] == str(physical.id)


@pytest.mark.parametrize("joiner", [" ", ", dob ", " born "])
def test_name_and_date_of_birth_in_one_message_verify_together(run, joiner):
    # "Synthia Generata 12/12/1998" at the name question got "Please tell me your first and
    # last name" (session 15 black-box test).
    text = f"{DEMO_PATIENT[0]}{joiner}{_dob(DEMO_PATIENT[1])}"
    events, messages = run(lambda: validate(ValidateBookingForm(), tracker({"patient_name": text}, "patient_name", text=text)))
    slots = slot_events(events)
    assert isinstance(slots["verified_patient_id"], int)
    assert slots["patient_name"] is None and slots["patient_dob"] is None  # nothing typed is kept
    assert slots["requested_slot"] == "visit_type"
    assert messages == ["Thanks, Testy, you're verified."]


def test_a_name_with_a_wrong_date_of_birth_in_one_message_is_a_mismatch(run):
    text = f"{DEMO_PATIENT[0]} 01/01/1950"
    events, messages = run(lambda: validate(ValidateBookingForm(), tracker({"patient_name": text}, "patient_name", text=text)))
    assert slot_events(events) == {
        "patient_name": None, "patient_dob": None, "failed_verifications": 1, "requested_slot": "patient_name",
    }
    assert messages == ["Sorry, we couldn't match those details. Let's try once more."]
