"""End to end: both servers started as `make run` starts them, a patient books over REST,
and the appointment is in the practice database. Also the HTTP contracts and bad input."""

from __future__ import annotations

import json
import re
import sqlite3
import uuid

import pytest

from actions.practice.seed import DEMO_PATIENT
from tests.harness import RunningAssistant, buttons, texts

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def assistant(tmp_path_factory):
    running = RunningAssistant(tmp_path_factory.mktemp("var")).start()
    yield running
    assert running.stop() == 0, "the assistant did not stop cleanly on Ctrl-C"


def _dob_text() -> str:
    dob = DEMO_PATIENT[1]
    return f"{dob.month:02d}/{dob.day:02d}/{dob.year}"


def test_chat_page_is_served_at_the_root(assistant):
    import urllib.request

    with urllib.request.urlopen(assistant.base + "/", timeout=10) as resp:
        page = resp.read().decode()
    assert "automated assistant" in page
    assert '<script src="/widget/widget.js"' in page
    with urllib.request.urlopen(assistant.base + "/widget/widget.js", timeout=10) as resp:
        script = resp.read()
    assert b"textContent" in script and b"innerHTML" not in script


def test_patient_books_an_appointment_and_it_is_in_the_database(assistant):
    sender = uuid.uuid4().hex
    first = assistant.say(sender, "hi")
    assert "automated assistant" in texts(first)

    assert "full name" in texts(assistant.say(sender, "I'd like to book an appointment"))
    assert "date of birth" in texts(assistant.say(sender, DEMO_PATIENT[0]))
    reply = assistant.say(sender, _dob_text())
    assert "verified" in texts(reply)
    if "Who is the appointment for" in texts(reply):
        reply = assistant.say(sender, "myself")
    assert "What kind of visit" in texts(reply)
    assert "clinician" in texts(assistant.say(sender, "1"))
    assert "When would suit you" in texts(assistant.say(sender, "no preference"))

    offers = assistant.say(sender, "next week afternoon")
    assert "Here are the times" in texts(offers), texts(offers)
    assert [b["payload"] for b in buttons(offers)][:1] == ["1"]

    confirm = assistant.say(sender, "2")
    assert "Reply yes to confirm" in texts(confirm), texts(confirm)
    booked = assistant.say(sender, "yes")
    summary = texts(booked)
    assert "You're booked" in summary, summary
    reference = re.search(r"Reference: (APT-[A-Z0-9]+)", summary).group(1)
    assert "24 hours" in summary  # the cancellation policy is explained

    with sqlite3.connect(assistant.var_dir / "practice.db") as db:
        rows = db.execute(
            "SELECT status FROM appointments WHERE reference = ?", (reference,)
        ).fetchall()
    assert rows == [("booked",)]


def test_what_the_first_message_said_is_not_asked_again(assistant):
    sender = uuid.uuid4().hex
    assert "full name" in texts(assistant.say(sender, "can i get a flu shot next week"))
    assistant.say(sender, DEMO_PATIENT[0])
    verified = texts(assistant.say(sender, _dob_text()))
    assert "flu shot" in verified and "clinician" in verified and "What kind of visit" not in verified
    offers = texts(assistant.say(sender, "no preference"))
    assert "Here are the times" in offers and "When would suit you" not in offers, offers
    # Verified in this conversation already: a second booking with a time goes straight on.
    assert "stopped" in texts(assistant.say(sender, "stop"))
    again = texts(assistant.say(sender, "book an annual physical"))
    assert "That's an annual physical" in again and "clinician" in again, again


def test_help_in_the_middle_of_a_question_does_not_count_as_the_answer(assistant):
    sender = uuid.uuid4().hex
    assistant.say(sender, "book an appointment")
    assert "date of birth" in texts(assistant.say(sender, DEMO_PATIENT[0]))
    reply = texts(assistant.say(sender, "help"))
    assert "I'm waiting for your answer" in reply and "date of birth" in reply, reply
    assert "couldn't read" not in reply
    assert "verified" in texts(assistant.say(sender, _dob_text()))  # the form carries on


def test_wrong_date_of_birth_is_refused_without_saying_which_field(assistant):
    sender = uuid.uuid4().hex
    assistant.say(sender, "show my appointments")
    assistant.say(sender, DEMO_PATIENT[0])
    reply = texts(assistant.say(sender, "01/01/1901"))
    assert "couldn't match those details" in reply
    assert "date of birth" not in reply.split("couldn't match")[1].split(".")[0]


@pytest.mark.parametrize(
    "text,intent",
    [
        ("i want to book an appt", "book_appointment"),
        ("can i move my appointment to another day", "reschedule_appointment"),
        ("I need to cancel my appointment", "cancel_appointment"),
        ("I'm having crushing chest pain", "emergency"),
        ("i dont want to be here anymore", "emergency"),
        ("can I talk to a real person", "human_handoff"),
    ],
)
def test_model_parse_returns_contract_intents(assistant, text, intent):
    assert assistant.parse(text)["intent"]["name"] == intent


def test_conversation_api_is_closed_without_a_token(assistant):
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(assistant.base + "/conversations/someone/tracker", timeout=10)
    assert err.value.code == 403


BAD_INPUTS = [
    "",
    "a" * 10_000,
    "😀😀😀🙃",
    "Quiero una cita para mañana por la mañana",
    "\x00\x01\x02hello\x1b[31m",
    "\ud83d",  # a lone surrogate, as broken clients send
]


@pytest.mark.parametrize("text", BAD_INPUTS, ids=["empty", "10kB", "emoji", "spanish", "control", "surrogate"])
def test_bad_input_gets_a_reply_not_an_error(assistant, text):
    sender = uuid.uuid4().hex
    body = json.dumps({"sender": sender, "message": text}).encode("utf-8", "surrogatepass")
    status, raw = assistant.post("/webhooks/rest/webhook", body)
    assert status == 200, raw[:200]
    assert b"Traceback" not in raw
    assert texts(assistant.say(sender, "hi"))  # the conversation still works afterwards


def test_random_bytes_do_not_crash_the_server(assistant):
    import os

    status, raw = assistant.post("/webhooks/rest/webhook", os.urandom(512), "application/octet-stream")
    assert status < 500 and b"Traceback" not in raw
    assert assistant.get_json("/version")["version"]


def test_an_oversized_webhook_body_is_refused_before_it_is_parsed(assistant):
    # A 90 MB form once held the whole server for ~30 s while it was parsed.
    body = b"From=%2B1&Body=" + b"A" * (2 * 1024 * 1024)
    status, raw = assistant.post("/webhooks/sms/webhook", body, "application/x-www-form-urlencoded")
    assert status == 413 and b"shorter" in raw and b"Traceback" not in raw
    sender = uuid.uuid4().hex
    assert texts(assistant.say(sender, "hi"))  # and everyone else is still answered


# --- refills over the web chat ------------------------------------------------------------


@pytest.mark.parametrize("opening", [
    "I need a refill", "what's the status of my refill", "show my appointments",
    "cancel my appointment", "I want to move my appointment",
])
def test_every_patient_flow_refuses_until_verified(assistant, opening):
    # A right name with wrong dates would lock the demo patient's record for the other tests
    # (that lock is tested in test_refills.py); a stranger gets the same refusals.
    sender = uuid.uuid4().hex
    assert "full name" in texts(assistant.say(sender, opening))
    assistant.say(sender, "Nobody Atall")
    assert "couldn't match" in texts(assistant.say(sender, _dob_text()))
    assistant.say(sender, "Nobody Atall")
    assert "couldn't match" in texts(assistant.say(sender, _dob_text()))
    assistant.say(sender, "Nobody Atall")
    final = texts(assistant.say(sender, _dob_text()))
    # Nothing about the patient: no medicines, requests or appointments, not even a first name.
    for leaked in ("Testy", "RX-", "APT-", "lisinopril", "atorvastatin", "amlodipine"):
        assert leaked not in final
    assert "(555) 010-0100" in final


def test_patient_requests_a_refill_and_it_is_stored_once(assistant):
    sender = uuid.uuid4().hex
    assistant.say(sender, "hi")
    assistant.say(sender, "can I get a refill")
    assistant.say(sender, DEMO_PATIENT[0])
    question = assistant.say(sender, _dob_text())
    assert "Which medication" in texts(question)
    assert [b["title"] for b in buttons(question)][:3] == [
        "amlodipine 5 mg", "atorvastatin 20 mg", "lisinopril 10 mg"]
    which = assistant.say(sender, "my blood pressure pill")
    assert "Which of these" in texts(which)
    assert "usual pharmacy" in texts(assistant.say(sender, "amlodipine 5 mg"))
    assert "Which pharmacy" in texts(assistant.say(sender, "another pharmacy"))
    assert "Request a refill of amlodipine 5 mg, sent to Fakewell 24h Pharmacy (demo)?" in texts(
        assistant.say(sender, "fakewell"))
    done = texts(assistant.say(sender, "yes"))
    reference = re.search(r"reference (RX-[A-Z0-9]+)", done).group(1)
    assert "2 business days" in done
    # Asking again in the same conversation does not make a second request.
    again = texts(assistant.say(sender, "I need a refill of amlodipine"))
    assert f"already a request for amlodipine 5 mg waiting for the care team (reference {reference})" in again
    with sqlite3.connect(assistant.var_dir / "practice.db") as db:
        rows = db.execute(
            "SELECT r.status, r.kind, r.channel, p.name FROM refill_requests r "
            "JOIN pharmacies p ON p.id = r.pharmacy_id JOIN medications m ON m.id = r.medication_id "
            "WHERE m.generic_name = 'amlodipine'").fetchall()
    assert rows == [("pending", "refill", "web", "Fakewell 24h Pharmacy (demo)")]
    staff_notes = (assistant.var_dir / "outbox" / "slack.jsonl").read_text()
    assert reference in staff_notes and "amlodipine" not in staff_notes and "Testy" not in staff_notes


def test_the_handbook_is_never_quoted_to_a_patient(assistant):
    sender = uuid.uuid4().hex
    for question in ("whats the rx policy for controlled substances",
                     "how do I report a possible hipaa breach", "who is on call tonight"):
        reply = texts(assistant.say(sender, question))
        assert "From the handbook" not in reply and ".md" not in reply, reply


# Questions a patient asks before anything else, each with what the reply must tell them.
# (The black-box test found "do you take medicaid" read as "yes", "i'm a new patient" as an AI
# opt-out, "help" as a request for a person and "what do you have on friday" as a question
# about their data.)
FIRST_QUESTIONS = [
    ("do you take medicaid", ["Medicaid", "(555) 010-0100"]),
    ("how much is a visit if i have no insurance", ["$120"]),
    ("i'm a new patient, how do i sign up", ["accepting new patients", "register"]),
    ("what can you help with", ["what I can do"]),
    ("what do you have on friday", ["full name"]),
]


@pytest.mark.parametrize("question,expected", FIRST_QUESTIONS, ids=[q for q, _ in FIRST_QUESTIONS])
def test_first_questions_get_the_answer_they_ask_for(assistant, question, expected):
    reply = assistant.say(uuid.uuid4().hex, question)
    said = texts(reply)
    for words in expected:
        assert words in said, said
    if "accepting new patients" in said:  # cannot verify yet, so a person is offered
        assert "/human_handoff" in [b["payload"] for b in buttons(reply)]
    if question.startswith("what can you"):
        assert "/book_appointment" in [b["payload"] for b in buttons(reply)]


@pytest.mark.parametrize("name", ["nolan testwood", "Dana Notreal"])
def test_a_name_the_classifier_once_read_as_no_is_taken_as_the_name(assistant, name):
    sender = uuid.uuid4().hex
    assert "full name" in texts(assistant.say(sender, "book an appointment"))
    reply = texts(assistant.say(sender, name))
    assert "date of birth" in reply and "stopped" not in reply, reply


def test_a_parent_reporting_a_young_babys_fever_is_sent_to_emergency_care(assistant):
    sender = uuid.uuid4().hex
    texts(assistant.say(sender, "hi"))
    reply = texts(assistant.say(sender, "my 6 week old has a temp of 100.8 and wont feed"))
    assert "baby under 3 months" in reply and "911" in reply and "emergency room" in reply, reply
    assert "book" not in reply.lower()


def _close_handoff(assistant, reference: str) -> None:
    """What `resume HO-...` in Slack does, against this assistant's practice database."""
    import asyncio

    from actions.practice.sql import SqlPracticeSystem

    async def close():
        system = SqlPracticeSystem(f"sqlite:///{assistant.var_dir / 'practice.db'}")
        try:
            await system.close_handoff(reference)
        finally:
            await system.close()

    asyncio.run(close())


def _office_open_now(assistant) -> bool:
    """Whether the assistant's actions see the office open: weekly hours and the closures
    in this assistant's practice database."""
    import asyncio

    from actions.common import now_local
    from actions.handoff import open_by_the_week
    from actions.practice.sql import SqlPracticeSystem

    async def closed_today():
        system = SqlPracticeSystem(f"sqlite:///{assistant.var_dir / 'practice.db'}")
        try:
            today = now_local().date()
            return any(c.location_id is None for c in await system.closures(today, today))
        finally:
            await system.close()

    return open_by_the_week(now_local()) and not asyncio.run(closed_today())


def test_talk_to_a_person_in_or_out_of_office_hours(assistant):
    sender = uuid.uuid4().hex
    assistant.say(sender, "hi")
    open_now = _office_open_now(assistant)
    first = texts(assistant.say(sender, "I want to talk to a real person"))
    assert ("member of our team" in first) if open_now else ("closed right now" in first)
    assert "What number should the team call you on?" in first
    if not open_now:
        assert "good time for the call" in texts(assistant.say(sender, "312 555 0142"))
        done = texts(assistant.say(sender, "tomorrow morning"))
        assert "callback request is in" in done and '"tomorrow morning"' in done
        return
    done = texts(assistant.say(sender, "312 555 0142"))
    reference = re.search(r"reference (HO-[A-Z0-9]+)", done).group(1)
    # Paused: the bot does not try to handle the conversation while staff have it...
    waiting = texts(assistant.say(sender, "I want to book an appointment"))
    assert "will be with you shortly" in waiting and "full name" not in waiting
    # ...but an emergency still gets through, and the patient is still waiting afterwards.
    emergency = texts(assistant.say(sender, "my chest hurts and my left arm is numb"))
    assert "911" in emergency and reference in emergency
    assert "will be with you shortly" in texts(assistant.say(sender, "talk to a person"))
    _close_handoff(assistant, reference)
    assert "back with the automated assistant" in texts(assistant.say(sender, "hello?"))
    assert "full name" in texts(assistant.say(sender, "I want to book an appointment"))


def test_an_ai_question_gets_its_own_answer_and_an_opt_out_is_recorded(assistant):
    sender = uuid.uuid4().hex
    assistant.say(sender, "hi")
    robot = assistant.say(sender, "am I talking to a robot?")
    assert "automated" in texts(robot).lower() and buttons(robot)
    training = texts(assistant.say(sender, "are my messages used to train the ai"))
    assert training != texts(robot) and "train" in training.lower()
    first = texts(assistant.say(sender, "I don't want AI involved in my care"))
    assert "record that you don't want AI involved" in first and "full name" in first
    assistant.say(sender, "Mocky Guardianson")
    done = texts(assistant.say(sender, "11/03/1979"))
    assert "recorded that you don't want AI involved in your care" in done
    assert "What number should the team call you on?" in done  # then the handoff
    with sqlite3.connect(assistant.var_dir / "practice.db") as db:
        rows = db.execute("SELECT disclosure_version FROM ai_opt_outs").fetchall()
    assert rows == [("2",)]
