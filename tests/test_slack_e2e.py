"""End to end over Slack: the assistant started as `make run` starts it (python -m bot run),
Events API posts signed with a synthetic signing secret to /webhooks/slack/webhook, replies
read from the dev outbox ($VAR_DIR/outbox/slack_replies.jsonl; no SLACK_BOT_TOKEN).

Needs a trained model (models/*.tar.gz). Workspace, channel and user ids are synthetic.
What the bot answers is not checked here, only that staff get an answer, in thread, once.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
import uuid
from typing import Any, Dict, List, Optional

import pytest
from slack_sdk.signature import SignatureVerifier

from tests.harness import REPO_ROOT, RunningAssistant

pytestmark = pytest.mark.e2e

PORT, ACTIONS_PORT = 5605, 5655
SIGNING_SECRET = "e2e-synthetic-signing-secret"
TEAM = "T0E2ECLINIC"
BOT = "U0E2EBOT"
STAFF = "U0E2ESTAFF"
CHANNEL = "C0E2EFRONTDESK"
REPLY_TIMEOUT = 30.0  # generous for a loaded 2-core machine; typical replies take ~1 s
ACK_BUDGET = 1.5  # Slack retries after 3 s; the ack must be well inside that


def _skip_or_fail(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def assistant(tmp_path_factory):
    if not list((REPO_ROOT / "models").glob("*.tar.gz")):
        _skip_or_fail("No trained model in models/: run `make train` first.")
    var_dir = tmp_path_factory.mktemp("slack_var")
    env = {
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_TEAM_ID": TEAM,
        "SENDER_ID_SECRET": "e2e-sender-id-secret",
        # No Slack or Twilio account: every reply lands in the outbox, whatever the shell has.
        "SLACK_BOT_TOKEN": "", "SLACK_STAFF_CHANNEL": "", "SLACK_CHANNELS": "", "SLACK_ALLOW_DMS": "",
        "TWILIO_ACCOUNT_SID": "", "TWILIO_AUTH_TOKEN": "",
    }
    running = RunningAssistant(var_dir, port=PORT, actions_port=ACTIONS_PORT, env=env).start()
    try:
        try:
            with urllib.request.urlopen(running.base + "/webhooks/slack/", timeout=10) as resp:
                assert resp.status == 200
        except urllib.error.HTTPError as error:
            pytest.fail(f"/webhooks/slack/ answered {error.code}: the Slack channel did not load; "
                        f"see {running.stderr_path}")
        yield running
    finally:
        assert running.stop() == 0, "the assistant did not stop cleanly on Ctrl-C"


class Workspace:
    """Plays Slack's Events API for one synthetic workspace."""

    def __init__(self, assistant: RunningAssistant):
        self.assistant = assistant

    @staticmethod
    def event(text: str, kind: str = "app_mention", team: str = TEAM, channel: str = CHANNEL,
              **extra: Any) -> Dict[str, Any]:
        ts = f"{time.time():.6f}"
        event = {"type": kind, "user": STAFF, "text": text, "ts": ts, "event_ts": ts,
                 "channel": channel, "team": team}
        event.update(extra)
        return {"token": "unused", "team_id": team, "api_app_id": "A0E2E", "type": "event_callback",
                "event_id": "Ev" + uuid.uuid4().hex[:10].upper(), "event_time": int(time.time()),
                "authorizations": [{"team_id": team, "user_id": BOT, "is_bot": True}],
                "event": event}

    @staticmethod
    def headers(body: bytes, secret: str = SIGNING_SECRET, age: int = 0,
                **extra: str) -> Dict[str, str]:
        timestamp = str(int(time.time()) - age)
        signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
        return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature, **extra}

    def post(self, payload: Dict[str, Any], headers: Optional[Dict[str, str]] = None,
             **signing: Any) -> tuple:
        body = json.dumps(payload).encode()
        request = urllib.request.Request(
            self.assistant.base + "/webhooks/slack/webhook", data=body, method="POST",
            headers={"Content-Type": "application/json",
                     **(self.headers(body, **signing) if headers is None else headers)},
        )
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=15) as resp:
                return resp.status, json.loads(resp.read()), time.monotonic() - started
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read()), time.monotonic() - started

    def replies(self, thread_ts: str) -> List[dict]:
        path = self.assistant.var_dir / "outbox" / "slack_replies.jsonl"
        if not path.exists():
            return []
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        return [r for r in records if r["thread_ts"] == thread_ts]

    def wait_for_reply(self, thread_ts: str) -> dict:
        deadline = time.monotonic() + REPLY_TIMEOUT
        while time.monotonic() < deadline:
            got = self.replies(thread_ts)
            if got:
                return got[0]
            time.sleep(0.1)
        raise AssertionError(f"no Slack reply within {REPLY_TIMEOUT}s; see {self.assistant.stderr_path}")


@pytest.fixture
def slack(assistant) -> Workspace:
    return Workspace(assistant)


def test_mention_is_acknowledged_at_once_and_answered_later_in_its_thread(slack):
    payload = slack.event(f"<@{BOT}> hello")
    ts = payload["event"]["ts"]
    status, body, elapsed = slack.post(payload)
    replies_at_ack = slack.replies(ts)
    assert (status, body) == (200, {"ok": True})
    assert elapsed < ACK_BUDGET, f"the ack took {elapsed:.2f}s; Slack retries after 3s"
    assert replies_at_ack == [], "the reply was written before the ack: the webhook waited for Rasa"
    reply = slack.wait_for_reply(ts)
    assert reply["channel"] == CHANNEL and reply["text"].strip()
    assert STAFF not in json.dumps(reply)


def test_staff_question_in_a_thread_gets_a_reply_in_that_thread(slack):
    thread = f"{time.time() - 60:.6f}"  # a thread started a minute ago
    payload = slack.event(f"<@{BOT}> where do I find the policy on time off?", thread_ts=thread)
    assert slack.post(payload)[0] == 200
    reply = slack.wait_for_reply(thread)
    assert reply["channel"] == CHANNEL and reply["text"].strip()
    assert slack.replies(payload["event"]["ts"]) == []  # not posted as a new thread


def test_direct_message_is_answered_in_thread(slack):
    payload = slack.event("what are the staff parking rules?", kind="message",
                          channel="D0E2EDIRECT", channel_type="im")
    assert slack.post(payload)[0] == 200
    assert slack.wait_for_reply(payload["event"]["ts"])["channel"] == "D0E2EDIRECT"


def test_a_retried_delivery_gets_exactly_one_reply(slack):
    payload = slack.event(f"<@{BOT}> hi there")
    ts = payload["event"]["ts"]
    assert slack.post(payload)[0] == 200
    # Slack's http_timeout retry, then a later one: same event_id, freshly signed.
    body = json.dumps(payload).encode()
    retry = slack.headers(body, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert slack.post(payload, headers=retry)[0] == 200
    slack.wait_for_reply(ts)
    retry = slack.headers(body, **{"X-Slack-Retry-Num": "2", "X-Slack-Retry-Reason": "http_timeout"})
    assert slack.post(payload, headers=retry)[0] == 200
    time.sleep(4.0)
    assert len(slack.replies(ts)) == 1


def test_wrong_workspace_bad_signatures_and_bots_get_nothing(slack):
    silent = []

    other_team = slack.event(f"<@{BOT}> hello", team="T0SOMEONEELSE")
    assert slack.post(other_team)[:2] == (200, {"ok": True})
    silent.append(other_team)

    from_a_bot = slack.event("hello", kind="message", channel="D0E2EDIRECT", channel_type="im",
                             subtype="bot_message", bot_id="B0E2EBOT")
    assert slack.post(from_a_bot)[0] == 200
    silent.append(from_a_bot)

    for signing in ({"secret": "not-the-signing-secret"}, {"age": 6 * 60}, {"age": -6 * 60}):
        payload = slack.event(f"<@{BOT}> hello")
        status, body, _ = slack.post(payload, **signing)
        assert status == 401 and body == {"error": "Invalid or expired Slack signature."}
        silent.append(payload)
    unsigned = slack.event(f"<@{BOT}> hello")
    assert slack.post(unsigned, headers={})[0] == 401
    silent.append(unsigned)

    time.sleep(5.0)
    for payload in silent:
        assert slack.replies(payload["event"]["ts"]) == [], payload["event"]


def test_url_verification_is_answered_only_when_signed(slack):
    challenge = {"token": "unused", "challenge": "e2e-challenge-" + uuid.uuid4().hex, "type": "url_verification"}
    assert slack.post(challenge)[:2] == (200, {"challenge": challenge["challenge"]})
    assert slack.post(challenge, secret="not-the-signing-secret")[0] == 401


# --- what staff get (and patients never do) ------------------------------------------------


def ask(slack: Workspace, text: str) -> str:
    payload = slack.event(f"<@{BOT}> {text}")
    assert slack.post(payload)[0] == 200
    return slack.wait_for_reply(payload["event"]["ts"])["text"]


def test_a_handbook_question_is_answered_from_the_handbook_with_its_source(slack):
    reply = ask(slack, "who is on call tonight")
    assert "From the handbook:" in reply and ".md" in reply, reply


def test_when_two_sections_are_close_it_asks_which_and_answers_the_choice(slack):
    reply = ask(slack, "whats the rx policy for controlled substances")
    if "Which one do you mean?" not in reply:  # the retrieval may be sure enough to answer
        assert "From the handbook:" in reply, reply
        return
    second_title = reply.split("2. *", 1)[1].split("*", 1)[0]
    chosen = ask(slack, "2")
    assert chosen.startswith(f"*{second_title}*") and "From the handbook:" in chosen, chosen


def test_a_question_the_handbook_cannot_answer_is_declined_not_invented(slack):
    reply = ask(slack, "what's the wifi password for the staff lounge tv")
    assert "couldn't find this in the staff handbook" in reply and "please ask" in reply, reply


def test_patient_self_service_is_declined_politely_on_slack(slack):
    reply = ask(slack, "I want to book an appointment for next tuesday")
    assert "aren't handled in Slack" in reply, reply


def test_a_staff_emergency_question_gets_the_in_clinic_instruction_not_the_patient_script(slack):
    reply = ask(slack, "pt collapsed in the waiting room and isn't breathing what do we do")
    assert "call 911" in reply and "in-clinic emergency procedure" in reply, reply
    # Described in a caller's words, well below the usual confidence floor: still answered.
    reply = ask(slack, "caller says her husbands face is drooping and hes slurring")
    assert "call 911" in reply and "Red-flag symptoms" in reply, reply
    assert "couldn't find" not in reply, reply


def test_staff_commands_list_the_queues_by_reference_only(slack):
    assert "refill request" in ask(slack, "pending refills").lower()
    handoffs = ask(slack, "handoffs")
    assert "waiting" in handoffs.lower()
    assert "There is no handoff `HO-ZZZZZZ`" in ask(slack, "resume HO-ZZZZZZ")


def test_slack_never_opens_a_patient_flow(slack):
    """Found in review: "hello" showed the patient menu, its number or a typed "/request_refill"
    started the refill form (name, date of birth, then the patient's medicines in Slack), and
    "talk to a person" started the patient handoff form with a callback request."""
    greeting = ask(slack, "hello")
    # (The development outbox redacts words this user typed before, such as a command.)
    assert "Commands:" in greeting and "Prescription refill" not in greeting, greeting
    assert "book, move or cancel appointments" not in greeting, greeting  # nor the patients' disclosure
    for text in ("5", "/request_refill", "/book_appointment", "talk to a person"):
        reply = ask(slack, text)
        for patient_step in ("full name", "date of birth", "number should the team call", "Which medication"):
            assert patient_step not in reply, (text, reply)
