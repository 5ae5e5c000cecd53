"""The handoff pause as the patient lives it: the trained model's rules and forms with the
real actions (tests/in_process_assistant.py), on a fresh seeded practice database.

The pause must hold until staff close the handoff: an emergency message or a new session
after 30 idle minutes must not hand the patient back to the bot while their reference is
still waiting in the staff queue."""

from __future__ import annotations

import json
import re
from datetime import datetime

import pytest

import actions.handoff as handoff
from actions.common import load_content
from actions.practice import get_practice_system
from actions.practice.clinic import practice_timezone
from bot.safety import emergency_reply
from tests.in_process_assistant import let_time_pass, load_agent, say

pytestmark = pytest.mark.slow

TZ = practice_timezone()
MONDAY_10AM = datetime(2026, 11, 30, 10, 0, tzinfo=TZ)
HOLDING_REPLY = "A member of our team will be with you shortly"


@pytest.fixture(scope="module")
def agent():
    return load_agent()


@pytest.fixture
def office_open(monkeypatch, tmp_path):
    monkeypatch.setenv("VAR_DIR", str(tmp_path))  # staff notices land in tmp_path/outbox
    monkeypatch.setattr(handoff, "now_local", lambda: MONDAY_10AM)


async def wait_for_a_person(agent, sender: str) -> str:
    """Ask for a person in office hours and give a number; the handoff reference."""
    await say(agent, sender, "hi")
    asked = " ".join(await say(agent, sender, "I want to talk to a real person"))
    assert "member of our team" in asked and "What number" in asked
    done = " ".join(await say(agent, sender, "312 555 0142"))
    return re.search(r"reference (HO-[A-Z0-9]+)", done).group(1)


def staff_notices(tmp_path):
    lines = (tmp_path / "outbox" / "slack.jsonl").read_text().splitlines()
    return [json.loads(line)["text"] for line in lines]


def test_an_emergency_while_waiting_leaves_the_patient_waiting_for_a_person(
        run, agent, office_open, tmp_path):
    sender = "dialogue-emergency-while-waiting"

    async def scenario():
        reference = await wait_for_a_person(agent, sender)
        emergency = await say(agent, sender, "my chest hurts and my left arm is numb")
        afterwards = await say(agent, sender, "hello? is anyone there?")
        booking = await say(agent, sender, "I want to book an appointment")
        still_queued = await get_practice_system().waiting_handoff(sender)
        return reference, emergency, afterwards, booking, still_queued

    reference, emergency, afterwards, booking, still_queued = run(scenario)
    # The emergency reply comes first, word for word; then where the handoff stands.
    assert emergency[0] == emergency_reply("cardiac")
    assert len(emergency) == 2 and reference in emergency[1] and "still open" in emergency[1]
    # Still paused, as the staff queue says: a holding reply, not the bot's menu or a form.
    assert still_queued is not None and still_queued.reference == reference
    assert len(afterwards) == 1 and afterwards[0].startswith(HOLDING_REPLY) and reference in afterwards[0]
    assert len(booking) == 1 and booking[0].startswith(HOLDING_REPLY)
    emergency_notice = [n for n in staff_notices(tmp_path) if n.startswith("Emergency interrupt")]
    assert len(emergency_notice) == 1 and reference in emergency_notice[0]


def test_after_30_idle_minutes_a_patient_still_waiting_stays_waiting(run, agent, office_open):
    sender = "dialogue-idle-while-waiting"

    async def scenario():
        reference = await wait_for_a_person(agent, sender)
        await let_time_pass(agent, sender, minutes=31)
        back = await say(agent, sender, "hello? anyone there?")
        booking = await say(agent, sender, "I need to book an appointment")
        return reference, back, booking

    reference, back, booking = run(scenario)
    disclosure = " ".join(load_content("disclosure.yml")["text"].split())
    # A new session still opens with the AI disclosure, then says the patient is waiting.
    assert back[0] == disclosure
    assert len(back) == 2 and back[1].startswith(HOLDING_REPLY) and reference in back[1]
    assert len(booking) == 1 and booking[0].startswith(HOLDING_REPLY) and reference in booking[0]


def test_after_staff_resume_the_patients_first_request_is_answered(run, agent, office_open):
    sender = "dialogue-first-request-after-resume"

    async def scenario():
        reference = await wait_for_a_person(agent, sender)
        await get_practice_system().close_handoff(reference)
        return await say(agent, sender, "I need to book an appointment")

    replies = run(scenario)
    assert "back with the automated assistant" in replies[0]
    # Handed on to booking, not "What can I help you with?" and a second ask.
    assert "What can I help you with" not in replies[0]
    assert any("full name" in reply for reply in replies[1:])


def test_after_staff_resume_a_hello_gets_the_menu(run, agent, office_open):
    sender = "dialogue-hello-after-resume"

    async def scenario():
        reference = await wait_for_a_person(agent, sender)
        await get_practice_system().close_handoff(reference)
        return await say(agent, sender, "hello?")

    replies = run(scenario)
    assert len(replies) == 1 and "back with the automated assistant" in replies[0]
    assert "What can I help you with" in replies[0]
