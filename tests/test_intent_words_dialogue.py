"""Answers inside a form are answers, as the patient lives it: the trained model, the
intent-words check (bot/intent_words.py), the rules and the real actions in one process
(tests/in_process_assistant.py), on a fresh seeded practice database.

From a black-box test: a new time while moving an appointment started a second booking, a
name at the name question started a refill, "sunday" got the help text, "can the AI diagnose
me" recorded an AI opt-out, and "call me back at <number>" asked for the number again."""

from __future__ import annotations

from datetime import datetime

import pytest

import actions.handoff as handoff
from actions.practice.clinic import practice_timezone
from actions.practice.seed import DEMO_PATIENT
from tests.in_process_assistant import load_agent, say

pytestmark = pytest.mark.slow

NAME, DOB = DEMO_PATIENT[0], DEMO_PATIENT[1].strftime("%m/%d/%Y")
WHEN_QUESTION = "When would suit you?"


@pytest.fixture(scope="module")
def agent():
    return load_agent()


async def at_the_time_question(agent, sender):
    await say(agent, sender, "move my appointment")
    await say(agent, sender, NAME)
    await say(agent, sender, DOB)
    asked = " ".join(await say(agent, sender, "1"))
    assert WHEN_QUESTION in asked, asked


@pytest.mark.parametrize("answer", ["is next thursday ok?", "how about next tuesday?", "next thursday morning"])
def test_a_new_time_while_moving_an_appointment_is_the_answer_not_a_second_booking(run, agent, answer):
    sender = f"words-reschedule-{answer}"

    async def scenario():
        await at_the_time_question(agent, sender)
        return " ".join(await say(agent, sender, answer))

    reply = run(scenario)
    assert "stopped moving" not in reply and "What kind of visit" not in reply
    assert "Reply 1" in reply or "none of these" in reply.lower(), reply


def test_sunday_while_moving_an_appointment_is_told_the_clinic_is_closed(run, agent):
    sender = "words-reschedule-sunday"

    async def scenario():
        await at_the_time_question(agent, sender)
        return " ".join(await say(agent, sender, "sunday"))

    reply = run(scenario)
    assert "waiting for your answer" not in reply
    assert "closed on Sunday" in reply, reply


def test_a_name_at_the_name_question_is_not_a_refill(run, agent):
    sender = "words-name-not-refill"

    async def scenario():
        await say(agent, sender, "book an appointment")
        return " ".join(await say(agent, sender, "Synthia Generata"))

    reply = run(scenario)
    assert "stopped the booking" not in reply and "date of birth" in reply


def test_a_question_about_what_the_ai_does_is_answered_not_an_opt_out(run, agent):
    sender = "words-ai-question"

    async def scenario():
        return " ".join(await say(agent, sender, "can the AI diagnose me"))

    reply = run(scenario)
    assert "don't want AI involved" not in reply and "full name" not in reply


def test_a_callback_number_given_with_the_request_is_not_asked_for(run, agent, monkeypatch, tmp_path):
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    monkeypatch.setattr(handoff, "now_local", lambda: datetime(2026, 11, 30, 10, 0, tzinfo=practice_timezone()))
    sender = "words-callback-number"

    async def scenario():
        await say(agent, sender, "hi")
        return " ".join(await say(agent, sender, "please call me back at 312-555-0188"))

    reply = run(scenario)
    assert "What number" not in reply and "reference HO-" in reply, reply
