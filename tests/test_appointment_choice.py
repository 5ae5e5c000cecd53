"""Which appointment to cancel or move: named in the first message, answered in words at
"Which appointment...?", or the only one there is (black-box test, session 16: every one of
these got the whole list back).

Betty Betatest (synthetic) gets a flu shot on a Monday with Dr. Grace Hopperfake and a
follow-up on the Tuesday after with Dr. Ada Lovetest, as in the black-box test.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from rasa_sdk.executor import CollectingDispatcher

import actions.practice as practice_module
from actions.booking import (
    ActionAskAppointmentChoice,
    ValidateCancelForm,
    ValidateRescheduleForm,
    appointment_summary,
)
from actions.common import now_local, practice_tz, slot_from_dict
from actions.practice.seed import DEMO_PATIENT, PROVIDER_ADA, PROVIDER_GRACE, week_start_for
from tests.action_helpers import DOMAIN, dob_text, slot_events, tracker, validate

BETTY = ("Betty Betatest", date(1975, 12, 24))
FORMS = {"cancel_form": ValidateCancelForm, "reschedule_form": ValidateRescheduleForm}


def _started_by(text, form):
    intent = "cancel_appointment" if form == "cancel_form" else "reschedule_appointment"
    return [
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": text, "parse_data": {"intent": {"name": intent}}},
        {"event": "action", "name": form},
        {"event": "active_loop", "name": form},
    ]


async def _book(system, patient, provider_name, visit_name, day, at=time(10)):
    vt = [v for v in await system.visit_types() if v.name == visit_name][0]
    provider = [p for p in await system.providers(vt.id) if p.display_name == provider_name][0]
    tz = practice_tz()
    free = await system.free_slots(vt.id, datetime.combine(day, at, tz), datetime.combine(day, time(17), tz),
                                   provider_id=provider.id)
    return await system.book(patient.id, free[0])


async def _betty(with_thursday=False):
    """Betty verified, with her seeded Tuesday follow-up (next week, Dr. Lovetest) and a flu
    shot booked on the Monday before with Dr. Hopperfake (and a Thursday follow-up with Dr.
    Hopperfake when asked). Returns (patient, {weekday: appointment})."""
    system = practice_module.get_practice_system()
    betty = await system.verify_patient(*BETTY)
    (tuesday,) = await system.upcoming_appointments(betty.id, now_local())
    monday = week_start_for(now_local().date()) + timedelta(days=7)
    assert tuesday.starts_at.date() == monday + timedelta(days=1)
    appts = {"monday": await _book(system, betty, PROVIDER_GRACE, "Flu shot", monday, time(8)), "tuesday": tuesday}
    if with_thursday:
        appts["thursday"] = await _book(system, betty, PROVIDER_GRACE, "Follow-up visit",
                                        monday + timedelta(days=3), time(8))
    return betty, appts


async def _verify_in(form, opening, identity=BETTY):
    """The turn the patient verifies in, in a form that `opening` started."""
    return await validate(FORMS[form](), tracker(
        {"patient_name": identity[0], "patient_dob": dob_text(identity[1])}, "patient_dob",
        form=form, events_before=_started_by(opening, form)))


async def _question(form, opening, slots):
    dispatcher = CollectingDispatcher()
    await ActionAskAppointmentChoice().run(
        dispatcher, tracker(slots, "appointment_choice", form=form, events_before=_started_by(opening, form)), DOMAIN)
    return dispatcher.messages[0]["text"]


def _when(appt):
    from actions.common import when_text
    return when_text(appt.starts_at)


@pytest.mark.parametrize("form,opening,which,next_question", [
    ("cancel_form", "cancel the one with dr lovetest", "tuesday", "cancel_confirmed"),
    ("cancel_form", "cancel my monday appointment", "monday", "cancel_confirmed"),
    ("reschedule_form", "I need to move my flu shot", "monday", "time_preference"),
    # After "Your upcoming appointments:" (the same list, soonest first).
    ("cancel_form", "cancel the second one", "tuesday", "cancel_confirmed"),
])
def test_the_appointment_named_in_the_first_message_is_taken_and_said_back(run, form, opening, which, next_question):
    async def scenario():
        _, appts = await _betty()
        return appts, await _verify_in(form, opening)

    appts, (events, messages) = run(scenario)
    slots = slot_events(events)
    appt = appts[which]
    assert slots["appointment_choice"]["id"] == appt.id
    assert slots["requested_slot"] == next_question  # not "Which appointment...?"
    visit = "flu shot" if which == "monday" else "follow-up visit"
    assert messages == ["Thanks, Betty, you're verified.",
                        f"That's your {visit} with {appt.provider_name} on {_when(appt)}."]


def test_a_new_time_in_the_first_message_goes_straight_to_the_offers(run):
    # "move my tuesday appointment to thursday afternoon" listed both appointments, and then
    # asked "When would suit you?" as if "thursday afternoon" had not been said.
    async def scenario():
        _, appts = await _betty()
        return appts, await _verify_in("reschedule_form", "move my tuesday appointment to thursday afternoon")

    appts, (events, messages) = run(scenario)
    slots = slot_events(events)
    assert slots["appointment_choice"]["id"] == appts["tuesday"].id
    assert messages[1] == f"That's your follow-up visit with Dr. Ada Lovetest on {_when(appts['tuesday'])}."
    assert slots["time_preference"] == "thursday afternoon"
    assert slots["requested_slot"] == "slot_choice" and slots["offered_slots"]
    for offer in slots["offered_slots"]:
        local = slot_from_dict(offer).starts_at.astimezone(practice_tz())
        assert local.weekday() == 3 and local.hour >= 12
    assert [e["name"] for e in events if e["event"] == "slot"].count("requested_slot") == 1


def test_nothing_matching_is_said_and_the_whole_list_asked_never_another_one_picked(run):
    async def scenario():
        betty, appts = await _betty()
        opening = "can I move my friday appointment"
        events, messages = await _verify_in("reschedule_form", opening)
        slots = {k: v for k, v in slot_events(events).items() if k != "requested_slot"}
        return appts, events, messages, await _question("reschedule_form", opening, slots)

    appts, events, messages, question = run(scenario)
    slots = slot_events(events)
    assert slots["appointment_choice"] is None and slots["requested_slot"] == "appointment_choice"
    assert messages == ["Thanks, Betty, you're verified.", "You don't have an appointment on Friday."]
    assert question.splitlines()[0] == "Which appointment would you like to move?"
    assert len(question.splitlines()) == 3  # both of them


def test_when_several_match_only_those_are_listed_and_picked_from(run):
    opening = "cancel the one with dr hopperfake"

    async def scenario():
        betty, appts = await _betty(with_thursday=True)
        events, messages = await _verify_in("cancel_form", opening)
        slots = {k: v for k, v in slot_events(events).items() if k != "requested_slot"}
        question = await _question("cancel_form", opening, slots)
        answered = await validate(ValidateCancelForm(), tracker(
            {**slots, "appointment_choice": "the second one"}, "appointment_choice", text="the second one",
            form="cancel_form", events_before=_started_by(opening, "cancel_form")))
        return appts, slot_events(events), question, answered

    appts, slots, question, (events, messages) = run(scenario)
    assert slots["requested_slot"] == "appointment_choice"
    lines = question.splitlines()
    assert len(lines) == 3 and "Dr. Ada Lovetest" not in question
    assert slot_events(events)["appointment_choice"]["id"] == appts["thursday"].id
    assert slot_events(events)["requested_slot"] == "cancel_confirmed"


@pytest.mark.parametrize("answer,which", [
    ("the second one", "tuesday"),
    ("cancel the second one", "tuesday"),
    ("the flu shot", "monday"),
    ("the one on monday", "monday"),
    ("the one with dr hopperfake", "monday"),
    ("2", "tuesday"),
])
def test_an_answer_in_words_picks_the_appointment(run, answer, which):
    async def scenario():
        betty, appts = await _betty()
        slots = {"verified_patient_id": betty.id, "verified_first_name": "Betty", "dependants": [],
                 "appointment_choice": answer}
        return appts, await validate(ValidateCancelForm(), tracker(
            slots, "appointment_choice", text=answer, intent="cancel_appointment", form="cancel_form",
            events_before=_started_by("/cancel_appointment", "cancel_form")))

    appts, (events, messages) = run(scenario)
    slots = slot_events(events)
    assert slots["appointment_choice"]["id"] == appts[which].id
    assert slots["requested_slot"] == "cancel_confirmed"
    assert "Please reply with the number of the appointment." not in messages
    if answer != "2":
        assert messages[0].startswith("That's your ")


@pytest.mark.parametrize("form,opening,next_question", [
    ("reschedule_form", "I want to reschedule my appointment", "time_preference"),
    ("reschedule_form", "/reschedule_appointment", "time_preference"),
    ("cancel_form", "I need to cancel my appointment", "cancel_confirmed"),
])
def test_the_only_appointment_is_taken_without_asking(run, form, opening, next_question):
    async def scenario():
        system = practice_module.get_practice_system()
        testy = await system.verify_patient(*DEMO_PATIENT)
        (appt,) = await system.upcoming_appointments(testy.id, now_local())
        return appt, await _verify_in(form, opening, DEMO_PATIENT)

    appt, (events, messages) = run(scenario)
    slots = slot_events(events)
    assert slots["appointment_choice"]["id"] == appt.id
    assert slots["requested_slot"] == next_question
    assert messages[-1] == f"That's your follow-up visit with Dr. Grace Hopperfake on {_when(appt)}."


def test_with_one_appointment_a_time_in_the_first_message_goes_to_the_offers(run):
    async def scenario():
        system = practice_module.get_practice_system()
        testy = await system.verify_patient(*DEMO_PATIENT)
        (appt,) = await system.upcoming_appointments(testy.id, now_local())
        return appt, await _verify_in("reschedule_form", "move my appointment to next friday afternoon", DEMO_PATIENT)

    appt, (events, _) = run(scenario)
    slots = slot_events(events)
    assert slots["appointment_choice"]["id"] == appt.id
    assert slots["requested_slot"] == "slot_choice" and slots["offered_slots"]
    assert all(slot_from_dict(o).starts_at.astimezone(practice_tz()).weekday() == 4 for o in slots["offered_slots"])


def test_a_time_given_for_answer_with_one_appointment_listed_moves_that_one(run):
    # "next friday afternoon" got "Please reply with the number of the appointment." and the
    # time was lost.
    async def scenario():
        system = practice_module.get_practice_system()
        testy = await system.verify_patient(*DEMO_PATIENT)
        (appt,) = await system.upcoming_appointments(testy.id, now_local())
        slots = {"verified_patient_id": testy.id, "verified_first_name": "Testy", "dependants": [],
                 "appointment_choice": "next friday afternoon"}
        return appt, await validate(ValidateRescheduleForm(), tracker(
            slots, "appointment_choice", text="next friday afternoon", form="reschedule_form",
            events_before=_started_by("move my monday appointment", "reschedule_form")))

    appt, (events, messages) = run(scenario)
    slots = slot_events(events)
    assert slots["appointment_choice"]["id"] == appt.id
    assert slots["time_preference"] == "next friday afternoon"
    assert slots["requested_slot"] == "slot_choice" and slots["offered_slots"]
    assert messages[0] == f"That's your follow-up visit with Dr. Grace Hopperfake on {_when(appt)}."
    assert "Please reply with the number of the appointment." not in messages


def test_a_time_in_the_first_message_is_used_once_the_appointment_is_picked(run):
    opening = "can I move my appointment to thursday afternoon"

    async def scenario():
        betty, appts = await _betty()
        events, messages = await _verify_in("reschedule_form", opening)
        first = slot_events(events)
        slots = {k: v for k, v in first.items() if k != "requested_slot"}
        picked = await validate(ValidateRescheduleForm(), tracker(
            {**slots, "appointment_choice": "1"}, "appointment_choice", text="1", form="reschedule_form",
            events_before=_started_by(opening, "reschedule_form")))
        return appts, first, picked

    appts, first, (events, _) = run(scenario)
    assert first["requested_slot"] == "appointment_choice"  # two, nothing named: asked
    slots = slot_events(events)
    assert slots["appointment_choice"]["id"] == appts["monday"].id
    assert slots["time_preference"] == "thursday afternoon" and slots["requested_slot"] == "slot_choice"



def test_a_dependant_and_a_visit_type_named_together_find_that_childs_appointment(run):
    # "cancel junior's flu shot" answered "Junior doesn't have a flu shot booked." (each
    # condition checked the last one's ids).
    from actions.practice.seed import DEMO_GUARDIAN

    async def scenario():
        system = practice_module.get_practice_system()
        guardian = await system.verify_patient(*DEMO_GUARDIAN)
        junior = [d for d in await system.dependants(guardian.id) if d.first_name == "Junior"][0]
        (appt,) = await system.upcoming_appointments(junior.id, now_local())
        return appt, await _verify_in("cancel_form", "cancel junior's flu shot", DEMO_GUARDIAN)

    appt, (events, messages) = run(scenario)
    slots = slot_events(events)
    assert slots["appointment_choice"]["id"] == appt.id and slots["requested_slot"] == "cancel_confirmed"
    assert messages[-1] == f"That's Junior's flu shot with Sam Placeholder, NP on {_when(appt)}."
