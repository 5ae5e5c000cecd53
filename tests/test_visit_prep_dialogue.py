"""Visit-prep questions as the patient lives them: the trained model's rules and forms with
the real actions (tests/in_process_assistant.py), on a fresh seeded practice database."""

from __future__ import annotations

import pytest

from bot.safety import emergency_reply
from tests.in_process_assistant import load_agent, say

pytestmark = pytest.mark.slow

NAME_QUESTION = "What is your full name"
PHYSICAL_NOTE = "If blood work is planned, do not eat for 8 hours beforehand"


@pytest.fixture(scope="module")
def agent():
    return load_agent()


def test_a_fasting_question_while_booking_is_answered_then_the_question_comes_again(run, agent):
    sender = "dialogue-visit-prep-in-booking"

    async def scenario():
        started = await say(agent, sender, "book an appointment")
        answered = await say(agent, sender, "do i need to fast before my physical")
        continued = await say(agent, sender, "Testy McFakeface")
        return started, answered, continued

    started, answered, continued = run(scenario)
    assert NAME_QUESTION in " ".join(started)
    # The prep note first, then the booking's own question again (nothing taken as the name).
    assert answered[0].startswith(f"Before your annual physical: {PHYSICAL_NOTE}"), answered
    assert NAME_QUESTION in answered[-1], answered
    assert "date of birth" in " ".join(continued), continued


def test_what_to_bring_outside_a_form_gets_the_practice_answer(run, agent):
    async def scenario():
        await say(agent, "dialogue-visit-prep-outside", "hi")
        return await say(agent, "dialogue-visit-prep-outside", "what should i bring to my appointment")

    reply = run(scenario)
    assert reply[0].startswith("Please bring a photo ID, your insurance card"), reply


def test_feeling_faint_after_fasting_with_chest_pain_is_still_an_emergency(run, agent):
    sender = "dialogue-visit-prep-emergency"

    async def scenario():
        await say(agent, sender, "book an appointment")
        return await say(agent, sender, "i fasted and now i feel faint and my chest hurts")

    reply = run(scenario)
    assert reply[0] == emergency_reply("cardiac"), reply
    assert not any("Before your" in r or "photo ID" in r for r in reply)
