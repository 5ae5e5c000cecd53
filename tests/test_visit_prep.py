"""Getting ready for a visit (actions/visit_prep.py, through action_clinic_info): the answer
comes from the visit types' prep notes in the practice system and clinic.yml, and says
nothing about eating that no note says. Against the seeded demo practice database."""

from __future__ import annotations

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.conversation import ActionClinicInfo
from actions.practice.port import VisitType
from actions.practice.seed import DEMO_PATIENT
from tests.action_helpers import tracker

PHONE = "(555) 010-0100"
FLU_NOTE = "Wear a short-sleeved or loose top"
PHYSICAL_NOTE = "If blood work is planned, do not eat for 8 hours beforehand"
FOLLOW_UP_NOTE = "Bring a list of the medicines you take"
GENERAL = "Please bring a photo ID, your insurance card and a list of the medicines"


def ask(run, text, intent="ask_visit_prep", form=None, slots=None, channel="rest", verified=False):
    """The messages action_clinic_info sends for `text`; verified=True as the demo patient."""

    async def scenario():
        from actions.practice import get_practice_system

        given = dict(slots or {})
        if verified:
            patient = await get_practice_system().verify_patient(*DEMO_PATIENT)
            given.update(verified_patient_id=patient.id, verified_first_name=patient.first_name)
        dispatcher = CollectingDispatcher()
        t = tracker(given, "patient_name" if form else None, text=text, intent=intent, form=form,
                    channel=channel)
        await ActionClinicInfo().run(dispatcher, t, {})
        return dispatcher.messages

    return run(scenario)


def only_text(messages):
    assert len(messages) == 1, [m.get("text") for m in messages]
    return messages[0]["text"]


def test_a_named_visit_type_gets_its_own_prep_notes_and_what_to_bring(run):
    text = only_text(ask(run, "anything i need to do before my flu shot"))
    assert text.startswith(f"Before your flu shot: {FLU_NOTE}"), text
    assert GENERAL in text and "arrive 10 to 15 minutes early" in text
    assert PHYSICAL_NOTE not in text  # not another visit type's notes


def test_fasting_before_a_physical_is_answered_from_its_prep_notes(run):
    # "my physical" names the annual physical even without "annual".
    text = only_text(ask(run, "do i need to fast before my physical"))
    assert text.startswith(f"Before your annual physical: {PHYSICAL_NOTE}"), text
    assert PHONE in text


def test_fasting_before_a_visit_whose_notes_say_nothing_is_not_answered_yes_or_no(run):
    text = only_text(ask(run, "can i eat before my flu shot"))
    assert "say nothing about eating or drinking" in text
    assert "clinician" in text and PHONE in text
    assert "do not eat" not in text and "water is fine" not in text


def test_fasting_without_a_visit_type_lists_only_what_the_notes_say(run):
    text = only_text(ask(run, "can i eat before my blood test"))
    assert f"- Annual physical: {PHYSICAL_NOTE}" in text
    assert FLU_NOTE not in text and FOLLOW_UP_NOTE not in text
    assert "For any other visit or test" in text and PHONE in text


def test_fasting_when_no_visit_type_mentions_food_sends_them_to_the_clinician(run, monkeypatch):
    import actions.visit_prep as visit_prep

    class NoFoodNotes:
        async def visit_types(self):
            return [VisitType(1, "FLU_SHOT", "Flu shot", 15, "Wear a loose top.")]

    monkeypatch.setattr(visit_prep, "get_practice_system", lambda: NoFoodNotes())
    text = only_text(ask(run, "do i need to fast before my appointment"))
    assert text == ("Our visit notes don't include instructions about eating or fasting. Please "
                    f"follow the instructions your clinician gave you, or call us on {PHONE}.")


def test_what_to_bring_without_a_visit_type_gives_the_general_text_and_each_visit_types_notes(run):
    text = only_text(ask(run, "what should i bring to my appointment"))
    assert text.startswith(GENERAL), text
    for line in (f"- Flu shot: {FLU_NOTE}", f"- Follow-up visit: {FOLLOW_UP_NOTE}",
                 "- New patient visit: Please arrive 15 minutes early", f"- Annual physical: {PHYSICAL_NOTE}"):
        assert line in text


def test_a_verified_patient_gets_the_notes_for_their_next_appointment(run):
    # The demo patient has a follow-up visit booked (seed.py).
    text = only_text(ask(run, "what should i bring to my appointment", verified=True))
    assert text.startswith("Before your follow-up visit ("), text
    assert FOLLOW_UP_NOTE in text and GENERAL in text
    assert FLU_NOTE not in text


def test_by_sms_the_next_appointment_is_not_mentioned(run):
    text = only_text(ask(run, "what should i bring to my appointment", verified=True, channel="sms"))
    assert "follow-up visit (" not in text and text.startswith(GENERAL)


def test_who_can_come_along_is_answered_from_the_clinic_file(run):
    text = only_text(ask(run, "can i bring my kids"))
    assert text.startswith("You're welcome to bring someone with you, children included."), text


@pytest.mark.parametrize("intent", ["ask_visit_prep", "ask_insurance"])
def test_the_insurance_card_question_is_not_answered_with_the_plans_we_take(run, intent):
    # "do i need my insurance card" was read as an insurance question and got the plan list.
    text = only_text(ask(run, "do i need my insurance card", intent=intent))
    assert "insurance card" in text and "We accept Medicare" not in text


def test_inside_the_booking_form_the_answer_has_no_buttons(run):
    messages = ask(run, "how early should i arrive", form="booking_form")
    assert only_text(messages).startswith(GENERAL)
    assert not messages[0].get("buttons")


def test_with_another_clinic_question_both_are_answered(run):
    messages = ask(run, "what are your hours and what should i bring", intent="ask_hours")
    assert [m["text"][:11] for m in messages] == ["Our hours: ", GENERAL[:11]]
