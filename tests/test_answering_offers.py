"""Offers a plain "yes" or "no" answers: the actions that end with "Would you like to book one?"
(or "... to request a refill?") record the offer in `offered_task`, and record None when they
offered nothing, so the rules in nlu_data/rules.yml read the next "yes" as the answer only then.
"""

from __future__ import annotations

from datetime import datetime

from rasa_sdk.executor import CollectingDispatcher

import actions.practice as practice_module
from actions.booking import ActionFinishCancel, ActionListAppointments, appointment_summary
from actions.conversation import ActionGreet, menu_buttons
from actions.practice.seed import DEMO_GUARDIAN, DEMO_PATIENT
from actions.refills import ActionRefillStatus
from tests.action_helpers import DOMAIN, slot_events, tracker


async def _run(action, t):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, t, DOMAIN)
    return events, dispatcher.messages


def test_after_a_cancellation_the_offer_to_book_is_recorded_for_a_plain_yes(run):
    async def scenario():
        system = practice_module.get_practice_system()
        me = await system.verify_patient(*DEMO_PATIENT)
        appt = (await system.upcoming_appointments(me.id, datetime.now().astimezone()))[0]
        state = {"verified_patient_id": me.id, "appointment_choice": appointment_summary(appt)}
        cancelled = await _run(ActionFinishCancel(), tracker({**state, "cancel_confirmed": True}, None, form=None))
        kept = await _run(ActionFinishCancel(), tracker({**state, "cancel_confirmed": False}, None, form=None))
        for other in await system.upcoming_appointments(me.id, datetime.now().astimezone()):
            await system.cancel(other.id, me.id)
        none_left = await _run(ActionListAppointments(), tracker({"verified_patient_id": me.id}, None, form=None))
        return cancelled, kept, none_left

    (cancelled, cancelled_messages), (kept, kept_messages), (none_left, none_messages) = run(scenario)
    assert cancelled_messages[0]["text"].endswith("Would you like to book another time?")
    assert [b["payload"] for b in cancelled_messages[0]["buttons"]] == ["/book_appointment", "/deny"]
    assert slot_events(cancelled)["offered_task"] == "book_appointment"
    # "ok" after "I've kept your appointment" must not start a booking.
    assert kept_messages[0]["text"] == "Okay, I've kept your appointment as it is."
    assert slot_events(kept)["offered_task"] is None
    assert none_messages[0]["text"] == "You don't have any upcoming appointments. Would you like to book one?"
    assert slot_events(none_left)["offered_task"] == "book_appointment"


def test_no_refill_requests_offers_a_refill_request(run):
    async def scenario():
        me = await practice_module.get_practice_system().verify_patient(*DEMO_PATIENT)
        return await _run(ActionRefillStatus(), tracker({"verified_patient_id": me.id}, None, form=None))

    events, (message,) = run(scenario)
    assert message["text"] == "I can't find any refill requests. Would you like to request a refill?"
    assert [b["payload"] for b in message["buttons"]] == ["/request_refill", "/deny"]
    assert slot_events(events)["offered_task"] == "request_refill"


def test_yes_to_anything_else_shows_the_menu_without_a_second_hello(run):
    async def scenario():
        return await _run(ActionGreet(), tracker({}, None, form=None, text="yes", intent="affirm"))

    _, (message,) = run(scenario)
    assert message["text"] == "Sure, what can I help you with?" and message["buttons"] == menu_buttons()


def _asked(question):
    """A finished appointments_form that `question` started (verification came in between)."""
    return [
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": question, "parse_data": {"intent": {"name": "list_appointments"}}},
        {"event": "action", "name": "appointments_form"},
        {"event": "active_loop", "name": "appointments_form"},
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": "a date of birth"},
        {"event": "active_loop", "name": None},
    ]


def test_asking_about_one_child_lists_only_theirs_and_says_when_they_have_none(run):
    # "what appointments does tiny have" listed the whole family's appointments and never said
    # that Tiny has none.
    async def scenario():
        system = practice_module.get_practice_system()
        guardian = await system.verify_patient(*DEMO_GUARDIAN)
        dependants = [{"id": d.id, "first_name": d.first_name} for d in await system.dependants(guardian.id)]
        family = [a for p in [guardian.id] + [d["id"] for d in dependants]
                  for a in await system.upcoming_appointments(p, datetime.now().astimezone())]
        state = {"verified_patient_id": guardian.id, "dependants": dependants}
        replies = {}
        for name in ("Junior", "Tiny"):
            replies[name] = await _run(ActionListAppointments(), tracker(
                state, None, form=None, events_before=_asked(f"what appointments does {name.lower()} have")))
        replies["possessive"] = await _run(ActionListAppointments(), tracker(
            state, None, form=None, events_before=_asked("when is juniors appointment")))
        replies["all"] = await _run(ActionListAppointments(), tracker(
            state, None, form=None, events_before=_asked("what appointments do we have")))
        return {d["first_name"]: d["id"] for d in dependants}, family, replies

    ids, family, replies = run(scenario)
    have = {name: [a for a in family if a.patient_id == ids[name]] for name in ids}
    assert have["Junior"] and not have["Tiny"], "the demo seed gives Junior an appointment and Tiny none"
    events, (message,) = replies["Tiny"]
    assert message["text"] == "Tiny doesn't have any upcoming appointments. Would you like to book one for Tiny?"
    assert slot_events(events)["offered_task"] == "book_appointment"
    _, (message,) = replies["Junior"]
    assert message["text"].startswith("Junior's upcoming appointments:\n1. ")
    assert len(message["text"].splitlines()) == 1 + len(have["Junior"])
    assert replies["possessive"][1] == replies["Junior"][1]
    _, (message,) = replies["all"]
    assert message["text"].startswith("Your upcoming appointments:")
    assert len(message["text"].splitlines()) == 1 + len(family)
