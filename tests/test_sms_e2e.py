"""End to end over SMS: the assistant started as `make run` starts it (python -m bot run),
Twilio-signed form posts to /webhooks/sms/webhook, replies read from the dev outbox.

Needs a trained model (models/*.tar.gz) and the SMS channel in the server's credentials
(`connectors.sms.SmsInput:` in bot/credentials.yml, or bot/server.py honouring
CREDENTIALS_FILE); skips with a message until both are there. Numbers are synthetic.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
import uuid
from typing import Dict, List, Optional
from urllib.parse import urlencode

import pytest
import yaml
from twilio.request_validator import RequestValidator

from connectors.sms_state import keyed_sender_id
from tests.harness import REPO_ROOT, RunningAssistant

pytestmark = pytest.mark.e2e

CHANNEL_CLASS = "connectors.sms.SmsInput"
PORT, ACTIONS_PORT = 5505, 5555
# Twilio signs the URL it calls; behind a proxy that is not the URL the server sees.
PUBLIC_URL = "https://sms.clinic.example/webhooks/sms/webhook"
DEV_TOKEN = "dev-only-token"
SECRET = "e2e-sender-id-secret"
REPLY_TIMEOUT = 20.0  # generous for a loaded 2-core machine; typical replies take ~1 s


def _skip_or_fail(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _channel_is_wired() -> bool:
    credentials = (REPO_ROOT / "bot" / "credentials.yml").read_text(encoding="utf-8")
    server = (REPO_ROOT / "bot" / "server.py").read_text(encoding="utf-8")
    return CHANNEL_CLASS in credentials or "CREDENTIALS_FILE" in server


@pytest.fixture(scope="module")
def assistant(tmp_path_factory):
    if not list((REPO_ROOT / "models").glob("*.tar.gz")):
        _skip_or_fail("No trained model in models/: run `make train` first.")
    if not _channel_is_wired():
        pytest.skip(
            "The SMS channel is not loaded by the server yet: add `connectors.sms.SmsInput:` "
            "to bot/credentials.yml (or make bot/server.py honour CREDENTIALS_FILE)."
        )
    var_dir = tmp_path_factory.mktemp("sms_var")
    credentials = var_dir / "credentials.yml"
    credentials.write_text(yaml.safe_dump({"rest": None, CHANNEL_CLASS: None}))
    # A practice open every day around the clock, so a handoff is always "in office hours"
    # here (tests/test_end_to_end.py meets whichever case the wall clock gives).
    clinic = yaml.safe_load((REPO_ROOT / "bot" / "content" / "clinic.yml").read_text())
    clinic["hours"] = {day: {"open": "00:00", "close": "23:59"} for day in (
        "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")}
    clinic.pop("lunch", None)
    clinic_file = var_dir / "clinic.yml"
    clinic_file.write_text(yaml.safe_dump(clinic))
    env = {
        "CLINIC_FILE": str(clinic_file),
        "CREDENTIALS_FILE": str(credentials),
        "SMS_PUBLIC_URL": PUBLIC_URL,
        "SENDER_ID_SECRET": SECRET,
        # No Twilio account: replies must land in the outbox, whatever the caller's shell has.
        "TWILIO_ACCOUNT_SID": "", "TWILIO_AUTH_TOKEN": "", "TWILIO_FROM_NUMBER": "",
        "SMS_DEV_AUTH_TOKEN": DEV_TOKEN,
    }
    running = RunningAssistant(var_dir, port=PORT, actions_port=ACTIONS_PORT, env=env).start()
    try:
        try:
            with urllib.request.urlopen(running.base + "/webhooks/sms/", timeout=10) as resp:
                assert resp.status == 200
        except urllib.error.HTTPError as error:
            pytest.fail(f"/webhooks/sms/ answered {error.code}: the SMS channel did not load; "
                        f"see {running.stderr_path}")
        yield running
    finally:
        assert running.stop() == 0, "the assistant did not stop cleanly on Ctrl-C"


class Phone:
    """One synthetic patient texting the practice."""

    def __init__(self, assistant: RunningAssistant, number: str):
        self.assistant = assistant
        self.number = number
        self.sender_id = keyed_sender_id(SECRET.encode(), number)

    def params(self, body: str, sid: Optional[str] = None, **extra: str) -> Dict[str, str]:
        params = {"From": self.number, "To": "+13125550100", "Body": body, "NumMedia": "0",
                  "MessageSid": sid or "SM" + uuid.uuid4().hex, "AccountSid": "ACe2e"}
        params.update(extra)
        return params

    def post(self, params: Dict[str, str], signature: Optional[str]) -> tuple:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        request = urllib.request.Request(
            self.assistant.base + "/webhooks/sms/webhook",
            data=urlencode(params).encode(), method="POST", headers=headers,
        )
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=15) as resp:
                return resp.status, resp.read().decode(), time.monotonic() - started
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(), time.monotonic() - started

    def text(self, body: str, sid: Optional[str] = None, **extra: str) -> tuple:
        params = self.params(body, sid, **extra)
        signature = RequestValidator(DEV_TOKEN).compute_signature(PUBLIC_URL, params)
        return self.post(params, signature)

    def received(self) -> List[str]:
        path = self.assistant.var_dir / "outbox" / "sms.jsonl"
        if not path.exists():
            return []
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        return [r["body"] for r in records if r["to"] == self.sender_id]

    def wait_for_reply(self, already: int) -> str:
        deadline = time.monotonic() + REPLY_TIMEOUT
        while time.monotonic() < deadline:
            got = self.received()
            if len(got) > already:
                time.sleep(0.3)  # a long turn goes out as several texts in a row
                return "\n".join(self.received()[already:])
            time.sleep(0.1)
        raise AssertionError(f"no SMS reply within {REPLY_TIMEOUT}s; see {self.assistant.stderr_path}")

    def say(self, body: str, **extra: str) -> str:
        before = len(self.received())
        status, answer, _ = self.text(body, **extra)
        assert status == 200, (status, answer)
        return self.wait_for_reply(before)

    def assert_silence(self, seconds: float = 4.0) -> None:
        before = len(self.received())
        time.sleep(seconds)
        assert self.received()[before:] == []


def _practice() -> dict:
    return yaml.safe_load((REPO_ROOT / "bot" / "content" / "clinic.yml").read_text(encoding="utf-8"))


def test_signed_text_is_acknowledged_at_once_and_answered_by_sms(assistant):
    phone = Phone(assistant, "+13125550161")
    status, body, elapsed = phone.text("hi")
    assert status == 200 and "<Response/>" in body
    assert elapsed < 2.0, f"the webhook took {elapsed:.1f}s; Twilio gives up after 15s"
    reply = phone.wait_for_reply(0)
    assert "automated assistant" in reply
    assert "Reply 1, 2" in reply  # the menu's buttons, as numbers
    # "1" is the first button: booking, which starts by asking who the patient is.
    assert "date of birth" in phone.say("1")  # by text, the phone on file stands in for the name
    outbox = (assistant.var_dir / "outbox" / "sms.jsonl").read_text(encoding="utf-8")
    assert "5550161" not in outbox


def test_badly_signed_requests_get_403_and_no_text(assistant):
    phone = Phone(assistant, "+13125550162")
    params = phone.params("hi")
    wrong_token = RequestValidator("not-the-token").compute_signature(PUBLIC_URL, params)
    # Signed for the URL the server sees rather than the public one Twilio calls.
    wrong_url = RequestValidator(DEV_TOKEN).compute_signature(
        f"http://127.0.0.1:{PORT}/webhooks/sms/webhook", params)
    tampered = dict(params, Body="hello there")
    right_for_original = RequestValidator(DEV_TOKEN).compute_signature(PUBLIC_URL, params)
    for p, signature in [(params, None), (params, wrong_token), (params, wrong_url),
                         (tampered, right_for_original)]:
        status, body, _ = phone.post(p, signature)
        assert status == 403, (status, body)
    phone.assert_silence(3.0)


def test_stop_confirms_once_then_nothing_until_start(assistant):
    phone = Phone(assistant, "+13125550163")
    assert "automated assistant" in phone.say("hi")
    confirmation = phone.say("STOP")
    assert "unsubscribed" in confirmation and "START" in confirmation
    phone.text("hello? I need an appointment")
    phone.text("stop")
    phone.assert_silence()
    assert "subscribed again" in phone.say("start")
    assert phone.say("hi").strip()


def test_help_gives_the_practice_and_the_rates_notice(assistant):
    phone = Phone(assistant, "+13125550164")
    reply = phone.say("HELP")
    practice = _practice()
    assert practice["practice_name"] in reply
    assert str(practice.get("phone_display") or practice["phone"]) in reply
    assert "Msg & data rates may apply. Reply STOP to opt out." in reply


def test_redelivered_webhook_is_answered_once(assistant):
    phone = Phone(assistant, "+13125550165")
    sid = "SM" + uuid.uuid4().hex
    assert phone.text("hi", sid=sid)[0] == 200
    phone.wait_for_reply(0)
    count = len(phone.received())
    assert phone.text("hi", sid=sid)[0] == 200  # Twilio's retry of the same message
    phone.assert_silence(3.0)
    assert len(phone.received()) == count


def test_picture_message_is_declined(assistant):
    phone = Phone(assistant, "+13125550166")
    reply = phone.say("", NumMedia="1", MediaUrl0="https://api.twilio.com/fake/Media/ME0",
                      MediaContentType0="image/jpeg")
    assert reply.startswith("We can't accept pictures by text. Please describe it in words, or call")


def _staff(assistant: RunningAssistant, *args: str) -> str:
    """`make staff-refills ARGS=...` against this assistant's practice database."""
    import subprocess
    import sys

    env = dict(assistant.env)
    result = subprocess.run([sys.executable, "-m", "actions.staff_refills", *args], cwd=REPO_ROOT,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_refill_by_text_checks_the_phone_on_file_and_texts_the_decision(assistant):
    from actions.practice.seed import DEMO_PATIENT, DEMO_PATIENT_PHONE

    dob = DEMO_PATIENT[1]
    phone = Phone(assistant, DEMO_PATIENT_PHONE)
    first = phone.say("I need a refill of my lipitor")
    assert "date of birth" in first and "full name" not in first  # the phone stands in for the name
    verified = phone.say(f"{dob.month}/{dob.day}/{dob.year}")
    # The medicine named in the first text is not asked for again.
    assert "usual pharmacy" in verified, verified
    assert "Request a refill of atorvastatin 20 mg" in phone.say("yes")
    done = phone.say("yes")
    found = re.search(r"reference (RX-[A-Z0-9]+)", done)
    assert found, done
    reference = found.group(1)
    assert f"{reference} " in _staff(assistant, "list")
    decided = _staff(assistant, "approve", reference)
    assert "the patient was texted" in decided
    texts_after = phone.received()
    assert f"Your prescription request {reference} was approved and sent to" in texts_after[-1]
    assert "atorvastatin" not in texts_after[-1]  # a text can be read by whoever holds the phone
    assert "approved and sent to" in phone.say("refill status")


def test_a_number_that_is_not_on_file_is_never_verified(assistant):
    from actions.practice.seed import DEMO_PATIENT

    dob = DEMO_PATIENT[1]
    phone = Phone(assistant, "+13125550177")  # not the phone on file for anyone
    assert "date of birth" in phone.say("refill status")
    reply = phone.say(f"{dob.month}/{dob.day}/{dob.year}")
    assert "couldn't match" in reply and "RX-" not in reply


def test_in_office_hours_a_handoff_pauses_the_bot_until_staff_resume(assistant):
    """"Talk to a person" by text in office hours: staff are told, the bot steps back (an
    emergency still gets through), and `resume HO-...` from staff hands the conversation back."""
    import asyncio

    from actions.practice.sql import SqlPracticeSystem

    phone = Phone(assistant, "+13125550178")
    assert "automated assistant" in phone.say("hi")
    asked = phone.say("can I talk to a real person please")
    reference = re.search(r"reference (HO-[A-Z0-9]+)", asked).group(1)
    assert "call you shortly" in asked and "number" not in asked.split("reference")[0]
    staff_notes = [json.loads(line)["text"] for line in
                   (assistant.var_dir / "outbox" / "slack.jsonl").read_text().splitlines()]
    assert any(n.startswith(f"Patient waiting for a person · ref {reference} · channel sms")
               for n in staff_notes), staff_notes
    assert not any("0178" in n for n in staff_notes)
    waiting = phone.say("I want to book an appointment")
    assert "will be with you shortly" in waiting and "date of birth" not in waiting
    assert "911" in phone.say("I can't breathe")
    assert "will be with you shortly" in phone.say("talk to a person")  # still waiting, same ref

    async def resume():
        system = SqlPracticeSystem(f"sqlite:///{assistant.var_dir / 'practice.db'}")
        try:
            await system.close_handoff(reference)
        finally:
            await system.close()

    asyncio.run(resume())
    assert "back with the automated assistant" in phone.say("hello?")
    assert "date of birth" in phone.say("I want to book an appointment")
