"""Leaving a form: answers the form cannot use (asked again at most twice, then the menu and a
person), switching task, "no thanks" and goodbye.

The rules that choose these actions are checked by tests/stories/ and test_dialogue_rules.py;
these tests run the actions the way Rasa calls them and assert what the patient sees.
"""

from __future__ import annotations

import pytest
from rasa_sdk.executor import CollectingDispatcher

import actions.practice as practice_module
from actions.booking import ValidateBookingForm
from actions.conversation import ActionFallback, ActionStopForm, ActionSwitchTask, menu_buttons
from actions.form_retries import MAX_MISSES
from actions.handoff import ValidateHandoffForm
from actions.practice.seed import DEMO_PATIENT
from tests.action_helpers import DOMAIN, slot_events, tracker, validate

GIVE_UP = "Sorry, I'm still not able to use that, so I've stopped here"


def _has(events, kind, name):
    return any(e.get("event") == kind and e.get("name") == name for e in events)


def _ends_the_form_with_the_menu(events, messages):
    assert len(messages) == 1 and messages[0]["text"].startswith(GIVE_UP)
    assert "(555) 010-0100" in messages[0]["text"]
    assert messages[0]["buttons"] == menu_buttons()  # the menu, "Talk to a person" included
    assert _has(events, "active_loop", None)
    # The turn ends there: the form's finishing action must not report on a task never done.
    assert _has(events, "followup", "action_listen")
    slots = slot_events(events)
    assert slots["requested_slot"] is None and slots["form_reasks"] == 0
    assert slots["visit_type"] is None and slots["patient_name"] is None


async def _verified_id():
    return (await practice_module.get_practice_system().verify_patient(*DEMO_PATIENT)).id


async def _run(action, t):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, t, DOMAIN)
    return events, dispatcher.messages


def test_an_unusable_answer_is_asked_again_twice_then_the_menu_and_a_person_are_offered(run):
    async def scenario():
        me = await _verified_id()
        results = []
        for misses in range(MAX_MISSES):
            t = tracker({"verified_patient_id": me, "visit_type": "blah blah", "form_reasks": misses},
                        "visit_type", text="blah blah")
            results.append(await _run(ValidateBookingForm(), t))
        return results

    (first, first_messages), (second, second_messages), (third, third_messages) = run(scenario)
    for events, messages, count in ((first, first_messages, 1), (second, second_messages, 2)):
        assert slot_events(events) == {"visit_type": None, "requested_slot": "visit_type", "form_reasks": count}
        assert [m["text"] for m in messages] == ["Please pick one of the visit types by number."]
    _ends_the_form_with_the_menu(third, third_messages)


def test_a_usable_answer_starts_the_count_again(run):
    async def scenario():
        t = tracker({"verified_patient_id": await _verified_id(), "visit_type": "2", "form_reasks": 2},
                    "visit_type", text="2")
        return await validate(ValidateBookingForm(), t)

    events, messages = run(scenario)
    slots = slot_events(events)
    assert slots["visit_type"] and slots["requested_slot"] == "provider_pref" and slots["form_reasks"] == 0
    assert messages == []


def test_an_unreadable_date_of_birth_counts_but_details_that_match_nobody_have_their_own_limit(run):
    async def scenario():
        unreadable = await validate(ValidateBookingForm(), tracker(
            {"patient_name": DEMO_PATIENT[0], "patient_dob": "thanks", "form_reasks": 2}, "patient_dob",
            text="thanks"))
        mismatch = await validate(ValidateBookingForm(), tracker(
            {"patient_name": DEMO_PATIENT[0], "patient_dob": "01/01/1950", "form_reasks": 2}, "patient_dob"))
        return unreadable, mismatch

    (unreadable, unreadable_messages), (mismatch, mismatch_messages) = run(scenario)
    assert unreadable_messages[0].startswith(GIVE_UP)
    # Readable details that match nobody: the identity check's own limit applies instead.
    assert slot_events(mismatch)["failed_verifications"] == 1 and slot_events(mismatch)["form_reasks"] == 0
    assert mismatch_messages == ["Sorry, we couldn't match those details. Let's try once more."]


def test_paging_through_offered_times_is_not_an_unusable_answer(run):
    async def scenario():
        me = await _verified_id()
        vt = (await practice_module.get_practice_system().visit_types())[1]
        base = {"verified_patient_id": me, "visit_type": str(vt.id), "provider_pref": "any",
                "time_preference": "asap"}
        offered = slot_events((await validate(ValidateBookingForm(), tracker(base, "time_preference")))[0])
        state = {**base, "offered_slots": offered["offered_slots"], "slot_choice": "none_of_these",
                 "form_reasks": 2}
        return await validate(ValidateBookingForm(), tracker(state, "slot_choice", intent="none_of_these"))

    events, _ = run(scenario)
    slots = slot_events(events)
    assert slots["requested_slot"] == "slot_choice" and slots["offer_page"] == 1
    assert slots["form_reasks"] == 0


def test_a_message_that_is_no_answer_adds_nothing_so_rasa_can_hand_it_to_the_rules(run):
    # "actually I need a refill" at the visit-type question: not taken as an answer (domain
    # not_intent), so nothing is validated; any slot event here would keep the form going.
    async def scenario():
        t = tracker({"verified_patient_id": await _verified_id(), "form_reasks": 1}, "visit_type",
                    text="actually i need a refill", intent="request_refill")
        return await validate(ValidateBookingForm(), t)

    events, messages = run(scenario)
    assert slot_events(events) == {"requested_slot": "visit_type"} and messages == []


def test_an_unreadable_callback_number_is_not_asked_for_forever(run):
    async def scenario():
        return await _run(ValidateHandoffForm(), tracker(
            {"callback_phone": "no idea", "form_reasks": MAX_MISSES - 1}, "callback_phone",
            form="handoff_form", text="no idea"))

    events, messages = run(scenario)
    assert messages[0]["text"].startswith(GIVE_UP)
    assert _has(events, "active_loop", None)


def test_a_yes_no_question_given_something_else_says_so_briefly_then_gives_up(run):
    async def scenario():
        state = {"verified_patient_id": await _verified_id(), "appointment_choice": {"id": 1}}
        once = await _run(ActionFallback(), tracker({**state, "form_reasks": 0}, "cancel_confirmed",
                                                    form="cancel_form", text="tuesday"))
        last = await _run(ActionFallback(), tracker({**state, "form_reasks": MAX_MISSES - 1},
                                                    "cancel_confirmed", form="cancel_form", text="tuesday"))
        return once, last

    (once, once_messages), (last, last_messages) = run(scenario)
    # Not the "what would you like to do?" menu while the form is about to ask its question again.
    assert [m["text"] for m in once_messages] == ["Sorry, I didn't catch that."]
    assert slot_events(once) == {"form_reasks": 1}
    assert last_messages[0]["text"].startswith(GIVE_UP)
    assert _has(last, "active_loop", None)


@pytest.mark.parametrize("left,said", [
    ("booking_form", "Sure, let's do that instead. I've stopped the booking, so nothing was booked."),
    ("cancel_form", "Sure, let's do that instead. I've stopped the cancellation, so nothing was cancelled."),
    ("appointments_form", "Sure, let's do that instead."),
])
def test_switching_task_says_what_was_left_and_keeps_the_patient_verified(run, left, said):
    async def scenario():
        t = tracker({"verified_patient_id": 7, "visit_type": "2", "time_preference": "asap", "form_reasks": 1},
                    None, form=None, text="actually i need a refill of my zoloft", intent="request_refill",
                    events_before=[{"event": "active_loop", "name": left},
                                   {"event": "active_loop", "name": None}])
        return await _run(ActionSwitchTask(), t)

    events, messages = run(scenario)
    assert [m["text"] for m in messages] == [said]
    slots = slot_events(events)
    assert slots["visit_type"] is None and slots["time_preference"] is None and slots["form_reasks"] == 0
    assert "verified_patient_id" not in slots


@pytest.mark.parametrize("intent,text,closing", [
    ("goodbye", "ok bye", True),
    ("goodbye", "thanks", True),
    ("deny", "no thanks", False),
    ("stop_form", "never mind", False),
])
def test_leaving_a_form_politely_keeps_nothing_and_says_what_next(run, intent, text, closing):
    async def scenario():
        t = tracker({"patient_name": "Testy McFakeface", "visit_type": "2"}, None, form=None,
                    text=text, intent=intent)
        return await _run(ActionStopForm(), t)

    events, (message,) = run(scenario)
    assert "Nothing has been booked or changed." in message["text"]
    if closing:
        assert message["text"].endswith("just send a message. Take care!") and not message.get("buttons")
    else:
        assert message["text"].endswith("Is there anything else I can help with?")
        assert message["buttons"] == menu_buttons()
    slots = slot_events(events)
    # A name typed but never checked is not kept once the patient has left the form.
    assert slots["patient_name"] is None and slots["visit_type"] is None


def test_a_one_word_answer_to_the_name_question_is_asked_again_and_counted(run):
    async def scenario():
        return await validate(ValidateBookingForm(), tracker({"patient_name": "hmm"}, "patient_name", text="hmm"))

    events, messages = run(scenario)
    assert slot_events(events) == {"patient_name": None, "requested_slot": "patient_name", "form_reasks": 1}
    assert messages == ['Please tell me your first and last name, for example "Testy McFakeface".']



def test_outside_a_form_a_second_miss_offers_the_menu_not_just_a_person(run):
    # Typing a name or a date with no question asked got "still not understanding, talk to a
    # person?" for every message, with no way back to booking (session 14 black-box test).
    earlier = [
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": "testy mcfakeface", "parse_data": {"intent": {"name": "inform"}}},
        {"event": "action", "name": "action_fallback"},
    ]
    events, messages = run(lambda: _run(ActionFallback(), tracker(
        {}, None, text="04/12/1985", form=None, events_before=earlier)))
    assert messages[0]["text"].startswith("Sorry, I'm still not understanding.")
    assert messages[0]["buttons"] == menu_buttons()


def test_a_message_in_spanish_is_told_in_spanish_to_call(run):
    _, messages = run(lambda: _run(ActionFallback(), tracker({}, None, text="hola necesito una cita", form=None)))
    assert messages[0]["text"].startswith("Lo siento, por ahora solo puedo ayudar en inglés.")
    assert "(555) 010-0100" in messages[0]["text"]
    _, english = run(lambda: _run(ActionFallback(), tracker({}, None, text="blah blah", form=None)))
    assert "Lo siento" not in str(english)


def test_help_in_the_middle_of_a_question_says_how_to_go_on_or_leave(run):
    # "help" at the date-of-birth question got "I couldn't read that as a date of birth".
    from actions.conversation import ActionGreet

    _, messages = run(lambda: _run(ActionGreet(), tracker({}, "patient_dob", text="help", intent="greet")))
    assert messages[0]["text"].startswith("I'm waiting for your answer to the question below.")
    assert "stop" in messages[0]["text"] and not messages[0].get("buttons")


@pytest.mark.parametrize("text,spanish", [("mi nombre es maria lopez", True), ("no se", False),
                                          ("maria de la cruz", False)])
def test_inside_a_form_a_sentence_in_spanish_is_told_in_spanish_to_call(run, text, spanish):
    # "Sorry, I didn't catch that" in English told a Spanish speaker nothing.
    events, messages = run(lambda: _run(ActionFallback(), tracker({}, "patient_name", text=text)))
    assert messages[0]["text"].startswith("Lo siento, por ahora solo puedo ayudar en inglés.") == spanish
    assert slot_events(events) == {"form_reasks": 1}  # counted like any unusable answer


def _ended(form):
    """The events of a turn in which rules ended `form` before action_stop_form."""
    return [{"event": "action", "name": "action_listen"},
            {"event": "user", "text": "earlier", "parse_data": {"intent": {"name": "inform"}}},
            {"event": "active_loop", "name": form},
            {"event": "action", "name": "action_listen"},
            {"event": "user", "text": "now", "parse_data": {"intent": {"name": "stop_form"}}},
            {"event": "action", "name": "action_deactivate_loop"},
            {"event": "active_loop", "name": None}]


@pytest.mark.parametrize("text,form,offer", [
    ("cancel it", None, "Do you want to cancel an appointment? Nothing has been cancelled yet."),
    ("can u cancel", None, "Do you want to cancel an appointment? Nothing has been cancelled yet."),
    ("actually just cancel it", "reschedule_form",
     "I've stopped moving your appointment. Do you want to cancel an appointment? Nothing has been cancelled yet."),
    ("cancel", "booking_form", None),  # stopping the booking: nothing to cancel
    ("stop", None, None),
])
def test_cancel_after_a_booking_or_while_moving_one_offers_to_cancel_it(run, text, form, offer):
    # "cancel it" right after "You're booked" got "Okay, I've stopped. Nothing has been booked
    # or changed." and the appointment stayed booked (session 15 black-box test).
    t = tracker({}, None, form=None, text=text, intent="stop_form", events_before=_ended(form) if form else ())
    # tracker() appends this turn's user event; for an ended form the turn is in _ended.
    if form:
        t.events[:] = _ended(form)
    events, (message,) = run(lambda: _run(ActionStopForm(), t))
    if offer:
        assert message["text"] == offer
        assert [b["payload"] for b in message["buttons"]] == ["/cancel_appointment", "/deny"]
        assert slot_events(events)["offered_task"] == "cancel_appointment"
    else:
        assert message["text"].startswith("Okay, I've stopped.")
        assert slot_events(events)["offered_task"] is None


def test_a_slot_cleared_just_before_the_form_starts_is_not_validated_as_an_answer(run):
    # Every handoff outside office hours said "I couldn't read that as a phone number" before
    # "What number should the team call you on?": the handoff action clears the form's slots,
    # and rasa_sdk validated the cleared callback_phone (session 15 black-box test).
    t = tracker({}, None, text="talk to a person", intent="human_handoff", form="handoff_form")
    t.events.append({"event": "slot", "name": "callback_phone", "value": None})
    events, messages = run(lambda: validate(ValidateHandoffForm(), t))
    assert messages == []  # the form goes on to ask the question (action_ask_callback_phone)
    assert slot_events(events).get("callback_phone") is None
