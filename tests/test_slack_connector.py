"""The Slack (staff) channel on its own: a fake Rasa behind it, the dev outbox (or a fake
Slack Web API) in front. Workspace, channel and user ids are synthetic."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import aiohttp
import pytest
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

from connectors.slack import (
    MAX_BODY_BYTES,
    SlackInput,
    SlackService,
    SlackSettings,
    message_texts,
    signature_problem,
    strip_bot_mentions,
)
from connectors.slack_outbound import SlackApiSender, SlackSendFailed, render_turn
from connectors.sms import set_outbox_redactor

SIGNING_SECRET = "unit-test-signing-secret"
TEAM = "T0DEMOCLINIC"
BOT = "U0CLINICBOT"
STAFF = "U0FRONTDESK1"
OTHER_STAFF = "U0FRONTDESK2"
CHANNEL = "C0FRONTDESK"
NOW = 1_700_000_000
MENU = [
    {"title": "Parking", "payload": "/staff_faq/parking"},
    {"title": "Time off", "payload": "/staff_faq/pto"},
]


def run(coro):
    return asyncio.run(coro)


def sign(body: bytes, timestamp: int = NOW, secret: str = SIGNING_SECRET) -> Dict[str, str]:
    try:
        # slack_sdk's own signer: an implementation independent of the one under test.
        signature = SignatureVerifier(secret).generate_signature(timestamp=str(timestamp), body=body)
    except ValueError:  # slack_sdk signs only text, with a non-empty secret; an attacker needs neither
        mac = hmac.new(secret.encode(), b"v0:%d:%s" % (timestamp, body), hashlib.sha256)
        signature = "v0=" + mac.hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": signature,
            "Content-Type": "application/json"}


_counter = iter(range(1, 1_000_000))


def event_body(text: str = f"<@{BOT}> where do staff park?", *, kind: str = "app_mention",
               team: str = TEAM, event_id: Optional[str] = None, authorizations: bool = True,
               **event: Any) -> bytes:
    n = next(_counter)
    inner = {"type": kind, "user": STAFF, "text": text, "ts": f"1700000000.{n:06d}",
             "channel": CHANNEL, "event_ts": f"1700000000.{n:06d}", "team": team}
    inner.update(event)
    payload: Dict[str, Any] = {
        "token": "deprecated-verification-token", "team_id": team, "api_app_id": "A0CLINIC",
        "event": {k: v for k, v in inner.items() if v is not None},
        "type": "event_callback", "event_id": event_id or f"Ev0UNIT{n:06d}", "event_time": NOW,
    }
    if authorizations:
        payload["authorizations"] = [{"enterprise_id": None, "team_id": team, "user_id": BOT,
                                      "is_bot": True, "is_enterprise_install": False}]
    return json.dumps(payload).encode()


def dm_body(text: str = "where do staff park?", **event: Any) -> bytes:
    return event_body(text, kind="message", channel="D0DIRECT1", channel_type="im", **event)


def ts_of(body: bytes) -> str:
    return json.loads(body)["event"]["ts"]


class FakeRasa:
    """Stands in for Rasa's on_new_message: records what it got, answers with a script."""

    def __init__(self, reply: Optional[Callable[[Any], Any]] = None):
        self.received: List[Any] = []
        self.reply = reply or (lambda message: message.output_channel.send_text_message(
            message.sender_id, "Staff park on level 2."))

    async def __call__(self, message) -> None:
        self.received.append(message)
        result = self.reply(message)
        if asyncio.iscoroutine(result):
            await result

    @property
    def texts(self) -> List[str]:
        return [m.text for m in self.received]


def make_settings(var_dir: Path, **env: str) -> SlackSettings:
    base = {"VAR_DIR": str(var_dir), "SENDER_ID_SECRET": "unit-test-sender-secret",
            "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_TEAM_ID": TEAM}
    base.update(env)
    return SlackSettings.from_env({k: v for k, v in base.items() if v is not None})


def outbox(var_dir: Path) -> List[dict]:
    path = var_dir / "outbox" / "slack_replies.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


class Harness:
    def __init__(self, var_dir: Path, rasa: Optional[FakeRasa] = None, **env: str):
        self.var_dir = var_dir
        self.service = SlackService(make_settings(var_dir, **env), clock=lambda: NOW)
        self.rasa = rasa or FakeRasa()

    async def deliver(self, body: bytes, headers: Optional[Dict[str, str]] = None):
        status, answer = await self.service.receive(body, sign(body) if headers is None else headers, self.rasa)
        await self.service.drain()
        return status, answer

    def send(self, body: bytes, headers: Optional[Dict[str, str]] = None):
        return run(self.deliver(body, headers))

    def replies(self) -> List[dict]:
        return outbox(self.var_dir)


@pytest.fixture
def harness(tmp_path) -> Harness:
    return Harness(tmp_path)


# --- signatures ----------------------------------------------------------------------------

def test_slacks_documented_example_signature_verifies():
    body = (b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id="
            b"G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-"
            b"collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F3977"
            b"00885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
    signature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    assert signature_problem("8f742231b10e8888abcd99yyyzzz85a5", "1531420618", signature, body, 1531420618) is None
    assert signature_problem("8f742231b10e8888abcd99yyyzzz85a6", "1531420618", signature, body, 1531420618)


def test_signed_mention_is_acknowledged_and_answered_in_thread(harness):
    body = event_body()
    status, answer = harness.send(body)
    assert (status, answer) == (200, {"ok": True})
    assert harness.rasa.texts == ["where do staff park?"]
    message = harness.rasa.received[0]
    assert message.input_channel == "slack"
    assert message.metadata == {"channel_role": "staff", "slack_channel": CHANNEL,
                                "thread_ts": ts_of(body), "slack_dm": False}
    assert [(r["channel"], r["thread_ts"], r["text"]) for r in harness.replies()] == [
        (CHANNEL, ts_of(body), "Staff park on level 2.")]


def _refusals():
    body = event_body()
    good = sign(body)
    return {
        "wrong secret": (body, sign(body, secret="not-the-signing-secret")),
        "stale": (body, sign(body, timestamp=NOW - 301)),
        "in the future": (body, sign(body, timestamp=NOW + 301)),
        "no signature": (body, {k: v for k, v in good.items() if k != "X-Slack-Signature"}),
        "no timestamp": (body, {k: v for k, v in good.items() if k != "X-Slack-Request-Timestamp"}),
        "no headers": (body, {}),
        "garbage timestamp": (body, dict(good, **{"X-Slack-Request-Timestamp": "soon"})),
        "timestamp not the signed one": (body, dict(good, **{"X-Slack-Request-Timestamp": str(NOW + 1)})),
        "tampered body": (body.replace(b"park", b"pork"), good),
        "signature without v0=": (body, dict(good, **{"X-Slack-Signature": good["X-Slack-Signature"][3:]})),
    }


@pytest.mark.parametrize("case", sorted(_refusals()))
def test_unsigned_wrongly_signed_or_stale_requests_are_refused_and_not_processed(harness, case):
    body, headers = _refusals()[case]
    status, answer = harness.send(body, headers)
    assert status == 401
    assert answer == {"error": "Invalid or expired Slack signature."}
    assert harness.rasa.received == [] and harness.replies() == []


def test_a_timestamp_just_inside_five_minutes_is_accepted(harness):
    for skew in (-299, 299):
        body = event_body()
        assert harness.send(body, sign(body, timestamp=NOW + skew))[0] == 200
    assert len(harness.rasa.received) == 2


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"\xff\xfe{}", b""])
def test_signed_but_malformed_body_gets_400_and_nothing_else(harness, raw):
    status, answer = harness.send(raw)
    assert status == 400 and set(answer) == {"error"}
    assert "Traceback" not in answer["error"] and harness.rasa.received == []


def test_huge_body_is_refused_even_when_signed(harness):
    padding = "x" * MAX_BODY_BYTES
    body = event_body(f"<@{BOT}> hi", blocks=[{"type": "section", "text": padding}])
    status, answer = harness.send(body)
    assert status == 413 and answer == {"error": "Request body too large."}
    assert harness.rasa.received == []


def test_without_a_signing_secret_every_request_is_refused_and_one_warning_says_why(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="connectors.slack")
    channel = SlackInput(make_settings(tmp_path, SLACK_SIGNING_SECRET=""))
    warnings = [r.getMessage() for r in caplog.records if r.name == "connectors.slack"]
    assert len(warnings) == 1 and "SLACK_SIGNING_SECRET is not set" in warnings[0]
    rasa = FakeRasa()
    challenge = json.dumps({"type": "url_verification", "challenge": "abc123"}).encode()

    async def go():
        results = []
        for body, headers in [(event_body(), sign(event_body())), (challenge, sign(challenge, secret="")),
                              (challenge, {})]:
            results.append(await channel.service.receive(body, headers, rasa))
        await channel.service.drain()
        return results

    for status, answer in run(go()):
        assert status == 403 and "not configured" in answer["error"]
    assert rasa.received == [] and outbox(tmp_path) == []


# --- url_verification ----------------------------------------------------------------------

def test_url_verification_echoes_the_challenge_only_when_signed(harness):
    body = json.dumps({"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                       "type": "url_verification"}).encode()
    assert harness.send(body) == (200, {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})
    assert harness.send(body, sign(body, secret="wrong"))[0] == 401


# --- who gets answered ---------------------------------------------------------------------

@pytest.mark.parametrize("user_team_in_event", [True, False])
def test_events_from_another_workspace_are_acknowledged_but_not_processed(harness, user_team_in_event):
    payload = json.loads(event_body(team="T0SOMEONEELSE"))
    if not user_team_in_event:  # only the envelope says which workspace this came from
        del payload["event"]["team"]
    assert harness.send(json.dumps(payload).encode()) == (200, {"ok": True})
    assert harness.rasa.received == [] and harness.replies() == []


def test_without_slack_team_id_nothing_is_answered(tmp_path):
    h = Harness(tmp_path, SLACK_TEAM_ID="")
    assert h.send(event_body())[0] == 200
    assert h.rasa.received == []


def test_a_user_from_another_organisation_in_a_shared_channel_is_not_answered(harness):
    harness.send(event_body(user_team="T0PARTNERORG"))
    assert harness.rasa.received == []


def test_channel_allow_list_limits_mentions_but_not_direct_messages(tmp_path):
    h = Harness(tmp_path, SLACK_CHANNELS=" C0ALLOWED , C0ALSO ")
    h.send(event_body("<@U0CLINICBOT> not here", channel=CHANNEL))
    h.send(event_body("<@U0CLINICBOT> here please", channel="C0ALSO"))
    h.send(dm_body("in private"))
    assert h.rasa.texts == ["here please", "in private"]


def test_direct_messages_can_be_switched_off(tmp_path):
    h = Harness(tmp_path, SLACK_ALLOW_DMS="false")
    h.send(dm_body("in private"))
    h.send(event_body(f"<@{BOT}> in the channel"))
    assert h.rasa.texts == ["in the channel"]


def test_direct_message_is_answered_in_its_own_thread(harness):
    body = dm_body("what is the parking rule?")
    harness.send(body)
    assert harness.rasa.received[0].metadata["slack_dm"] is True
    assert [(r["channel"], r["thread_ts"]) for r in harness.replies()] == [("D0DIRECT1", ts_of(body))]


def test_a_mention_inside_a_thread_is_answered_in_that_thread(harness):
    harness.send(event_body(thread_ts="1699999999.000100"))
    assert harness.replies()[0]["thread_ts"] == "1699999999.000100"
    assert harness.rasa.received[0].metadata["thread_ts"] == "1699999999.000100"


def test_plain_channel_chatter_is_not_answered(harness):
    harness.send(event_body("lunch anyone?", kind="message", channel_type="channel"))
    harness.send(json.dumps({"type": "app_rate_limited", "team_id": TEAM}).encode())
    assert harness.rasa.received == []


@pytest.mark.parametrize("event", [
    {"bot_id": "B0OTHERBOT"},
    {"subtype": "bot_message", "user": None, "bot_id": "B0CLINICBOT"},
    {"subtype": "message_changed"},
    {"subtype": "message_deleted"},
    {"subtype": "channel_join"},
    {"user": BOT},  # our own message, however it is shaped
    {"user": None},
])
def test_messages_from_bots_edits_and_our_own_are_ignored(harness, event):
    harness.send(dm_body("Staff park on level 2.", **event))
    harness.send(event_body(f"<@{BOT}> Staff park on level 2.", **event))
    assert harness.rasa.received == [] and harness.replies() == []


# --- retries -------------------------------------------------------------------------------

def test_slack_retries_are_processed_once(harness):
    body = event_body(event_id="Ev0RETRY0001")

    async def go():
        first = await harness.service.receive(body, sign(body), harness.rasa)
        # Slack's http_timeout retry arrives while the first is still being worked on.
        retry = dict(sign(body, timestamp=NOW + 3), **{"X-Slack-Retry-Num": "1",
                                                       "X-Slack-Retry-Reason": "http_timeout"})
        second = await harness.service.receive(body, retry, harness.rasa)
        await harness.service.drain()
        third = await harness.service.receive(body, dict(sign(body, timestamp=NOW + 60),
                                                         **{"X-Slack-Retry-Num": "2"}), harness.rasa)
        await harness.service.drain()
        return first, second, third

    assert [r[0] for r in run(go())] == [200, 200, 200]
    assert len(harness.rasa.received) == 1 and len(harness.replies()) == 1


def test_the_same_message_as_two_events_is_answered_once(harness):
    body = event_body(f"<@{BOT}> where do staff park?")
    event = json.loads(body)["event"]
    twin = event_body(event["text"], kind="message", channel_type="im", ts=event["ts"], channel=event["channel"])
    harness.send(body)
    harness.send(twin)
    assert len(harness.rasa.received) == 1


def test_the_webhook_answers_before_the_conversation_finishes(harness):
    release = asyncio.Event()

    async def slow_reply(message):
        await release.wait()
        await message.output_channel.send_text_message(message.sender_id, "Done.")

    harness.rasa.reply = slow_reply

    async def go():
        body = event_body()
        status, _ = await asyncio.wait_for(harness.service.receive(body, sign(body), harness.rasa), 0.5)
        still_running = len(harness.service._tasks)
        release.set()
        await harness.service.drain()
        return status, still_running

    status, still_running = run(go())
    assert status == 200 and still_running == 1
    assert [r["text"] for r in harness.replies()] == ["Done."]


# --- text in, text out ---------------------------------------------------------------------

@pytest.mark.parametrize("raw, bots, expected", [
    (f"<@{BOT}> where do staff park?", {BOT}, "where do staff park?"),
    (f"<@{BOT}|clinicbot>   where do\nstaff park?", {BOT}, "where do staff park?"),
    (f"where do staff park <@{BOT}>", {BOT}, "where do staff park"),
    (f"<@{BOT}> ask <@{OTHER_STAFF}> about keys", {BOT}, f"ask <@{OTHER_STAFF}> about keys"),
    (f"<@{BOT}> is 3 &lt; 4 &amp; 5 &gt; 2?", {BOT}, "is 3 < 4 & 5 > 2?"),
    (f"<@{BOT}> hi", set(), "hi"),  # no authorizations: the leading mention is the bot's
    (f"<@{BOT}>", {BOT}, ""),
])
def test_the_bots_mention_is_stripped(raw, bots, expected):
    assert strip_bot_mentions(raw, bots) == expected


def test_a_bare_mention_with_nothing_to_answer_is_not_sent_to_rasa(harness):
    harness.send(event_body(f"<@{BOT}>  "))
    assert harness.rasa.received == []


def test_message_texts_for_log_redaction_include_what_rasa_sees():
    body = json.loads(event_body(f"<@{BOT}> my locker code is 4471"))
    assert message_texts(body) == [f"<@{BOT}> my locker code is 4471", "my locker code is 4471"]
    assert message_texts({"type": "url_verification", "challenge": "x"}) == []


def test_sender_id_is_a_keyed_hash_stable_per_person(tmp_path):
    h = Harness(tmp_path)
    h.send(event_body())
    h.send(dm_body())
    h.send(event_body(user=OTHER_STAFF))
    first, second, other = (m.sender_id for m in h.rasa.received)
    assert first == second != other
    assert first.startswith("slack_") and STAFF not in first and STAFF.lower() not in first
    h2 = Harness(tmp_path / "elsewhere", SENDER_ID_SECRET="another-secret")
    h2.send(event_body())
    assert h2.rasa.received[0].sender_id != first


def test_buttons_become_a_numbered_list_and_a_typed_number_picks_the_payload(harness):
    def reply(message):
        if message.text.startswith("/"):
            return message.output_channel.send_text_message(message.sender_id, f"You chose {message.text}")
        return message.output_channel.send_text_with_buttons(message.sender_id, "Which topic?", MENU)

    harness.rasa.reply = reply
    harness.send(event_body(thread_ts="1699999999.000200"))
    harness.send(event_body(f"<@{BOT}> 2", thread_ts="1699999999.000200"))
    texts = [r["text"] for r in harness.replies()]
    assert texts[0] == "Which topic?\n1. Parking\n2. Time off\nReply 1 or 2."
    assert texts[1] == "You chose /staff_faq/pto"


def test_bot_text_cannot_ping_everyone_or_smuggle_links():
    text, _ = render_turn([{"text": "<!channel> see <https://phish.example|this>"}])
    assert "<" not in text and ">" not in text and "&lt;!channel&gt;" in text


def test_outbox_text_passes_the_same_redactor_hook_as_the_sms_outbox(harness):
    set_outbox_redactor(lambda body: body.replace("level 2", "[REDACTED]"))
    try:
        harness.send(event_body())
    finally:
        set_outbox_redactor(None)
    assert harness.replies()[0]["text"] == "Staff park on [REDACTED]."


def test_a_rasa_failure_gets_a_reply_and_the_log_has_no_message_text(harness, caplog):
    caplog.set_level(logging.DEBUG)

    async def broken(message):
        raise RuntimeError(f"boom while handling {message.text}")

    harness.rasa.reply = broken
    harness.send(event_body(f"<@{BOT}> my locker code is 4471"))
    assert harness.replies()[0]["text"].startswith("Sorry, something went wrong")
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("connectors"))
    assert "RuntimeError" in logged and "4471" not in logged and STAFF not in logged


def test_a_failing_transport_is_logged_by_type_only(harness, caplog):
    caplog.set_level(logging.DEBUG)

    class ExplodingSender:
        async def post(self, channel, thread_ts, text):
            raise ValueError(f"cannot send {text}")

        async def close(self):
            pass

    harness.service.sender = ExplodingSender()
    status, _ = harness.send(event_body(f"<@{BOT}> my locker code is 4471"))
    assert status == 200
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("connectors"))
    assert "ValueError" in logged and "4471" not in logged and "level 2" not in logged


# --- posting through Slack's Web API -------------------------------------------------------

class FakeSlackApi:
    """A local stand-in for slack.com/api/chat.postMessage with scripted answers."""

    def __init__(self, answers: List[tuple], delay: float = 0.0):
        self.answers = list(answers)
        self.delay = delay
        self.requests: List[Dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append({"path": request.path, "auth": request.headers.get("Authorization"),
                              "json": await request.json()})
        if self.delay:
            await asyncio.sleep(self.delay)
        status, body, headers = self.answers.pop(0) if self.answers else (200, {"ok": True}, {})
        return web.json_response(body, status=status, headers=headers)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/api/chat.postMessage", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/api"


def test_with_a_bot_token_replies_go_to_chat_post_message_in_thread_not_the_outbox(tmp_path):
    async def go():
        fake = FakeSlackApi([])
        base = await fake.start()
        h = Harness(tmp_path, SLACK_BOT_TOKEN="xoxb-unit-test", SLACK_API_BASE_URL=base)
        body = event_body()
        await h.deliver(body)
        await h.service.sender.close()
        await fake.runner.cleanup()
        return fake, ts_of(body)

    fake, ts = run(go())
    assert [r["auth"] for r in fake.requests] == ["Bearer xoxb-unit-test"]
    sent = fake.requests[0]["json"]
    assert (sent["channel"], sent["thread_ts"], sent["text"]) == (CHANNEL, ts, "Staff park on level 2.")
    assert not (tmp_path / "outbox").exists()


def test_api_sender_retries_rate_limits_but_not_refusals():
    async def go():
        limited = FakeSlackApi([(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "0"}),
                                (200, {"ok": True}, {})])
        base = await limited.start()
        sender = SlackApiSender("xoxb-unit-test", api_base=base, backoff_base=0.01)
        await sender.post(CHANNEL, "1.2", "hello")
        refused = FakeSlackApi([(200, {"ok": False, "error": "not_in_channel"}, {})])
        base2 = await refused.start()
        sender2 = SlackApiSender("xoxb-unit-test", api_base=base2, backoff_base=0.01)
        with pytest.raises(SlackSendFailed, match="not_in_channel") as failure:
            await sender2.post(CHANNEL, "1.2", "my locker code is 4471")
        assert "4471" not in str(failure.value)
        for s in (sender, sender2):
            await s.close()
        for f in (limited, refused):
            await f.runner.cleanup()
        return limited, refused

    limited, refused = run(go())
    assert len(limited.requests) == 2 and len(refused.requests) == 1


def test_api_sender_gives_up_on_a_hanging_slack_within_its_timeout():
    async def go():
        hanging = FakeSlackApi([], delay=5)
        base = await hanging.start()
        sender = SlackApiSender("xoxb-unit-test", api_base=base, timeout_seconds=0.2,
                                max_attempts=2, backoff_base=0.01)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(SlackSendFailed, match="after 2 attempts"):
            await sender.post(CHANNEL, None, "hello")
        elapsed = loop.time() - started
        await sender.close()
        await hanging.runner.cleanup()
        return elapsed

    assert run(go()) < 2.0


# --- mounted on Sanic the way Rasa mounts channels -----------------------------------------

def test_channel_serves_the_webhook_contract_over_http(tmp_path):
    from rasa.core.channels.channel import register
    from sanic import Sanic

    async def go():
        Sanic.test_mode = True
        app = Sanic(f"slack_test_{os.getpid()}")
        rasa = FakeRasa()
        channel = SlackInput(make_settings(tmp_path))
        channel.service.clock = lambda: NOW
        assert SlackInput.name() == "slack"
        app.ctx.agent = type("FakeAgent", (), {"handle_message": staticmethod(rasa)})()
        register([channel], app, route="/webhooks/")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
        await server.startup()
        url = f"http://127.0.0.1:{port}/webhooks/slack/webhook"
        results = []
        async with aiohttp.ClientSession() as client:
            body = event_body()
            for data, headers in [(body, sign(body)), (body, {"Content-Type": "application/json"}),
                                  (b"{oops", sign(b"{oops"))]:
                async with client.post(url, data=data, headers=headers) as resp:
                    results.append((resp.status, resp.headers.get("X-Slack-No-Retry"), await resp.json()))
        await channel.service.drain()
        server.close()
        await server.wait_closed()
        return results, rasa, ts_of(body)

    (ok, unsigned, malformed), rasa, ts = run(go())
    assert ok == (200, None, {"ok": True})
    assert unsigned[0] == 401 and unsigned[2] == {"error": "Invalid or expired Slack signature."}
    assert malformed[0] == 400 and malformed[1] == "1"
    assert rasa.texts == ["where do staff park?"]
    assert [r["thread_ts"] for r in outbox(tmp_path)] == [ts]


# --- the server binds the Slack message for log redaction ----------------------------------

def _bind_slack_request(text: str) -> tuple:
    from types import SimpleNamespace

    from bot.server import bind_request_text

    body = json.loads(event_body(text))
    request = SimpleNamespace(method="POST", content_type="application/json", json=body,
                              path="/webhooks/slack/webhook", form={})
    bind_request_text(request)


def test_server_binds_the_slack_message_as_received_and_as_rasa_sees_it():
    import contextvars

    from privacy.logging import current_known_values

    def bound():
        _bind_slack_request(f"<@{BOT}> the heron flies at dawn")
        return " ".join(map(str, current_known_values()))

    known = contextvars.copy_context().run(bound)  # keep the binding out of other tests
    assert f"<@{BOT}> the heron flies at dawn" in known and "'the heron flies at dawn'" in known


def test_a_bound_slack_message_is_removed_from_log_lines():
    import contextvars

    from privacy.logging import redact_log_text

    def logged():
        _bind_slack_request(f"<@{BOT}> what is the parking rule for level four")
        return redact_log_text("Received user message 'what is the parking rule for level four' with intent")

    line = contextvars.copy_context().run(logged)
    assert not [word for word in ("parking", "rule", "level", "four") if word in line], line


# --- found in review (session 12) -----------------------------------------------------------


def test_a_patient_intent_payload_is_never_sent_from_slack(harness):
    """Rasa reads "/request_refill" as that intent, after the staff channel's rules: a typed
    number on a patient menu, or the payload typed out, would open a patient flow in Slack."""
    patient_menu = [{"title": "Book", "payload": "/book_appointment"},
                    {"title": "Refill", "payload": "/request_refill"}]

    def reply(message):
        return message.output_channel.send_text_with_buttons(message.sender_id, "Which?", patient_menu)

    harness.rasa.reply = reply
    harness.send(event_body(thread_ts="1699999999.000300"))
    harness.send(event_body(f"<@{BOT}> 2", thread_ts="1699999999.000300"))
    harness.send(event_body(f"<@{BOT}> /request_refill", thread_ts="1699999999.000300"))
    harness.send(event_body(f"<@{BOT}> /staff_faq/pto", thread_ts="1699999999.000300"))
    assert [m.text for m in harness.rasa.received[1:]] == ["2", "request_refill", "/staff_faq/pto"]


def test_an_absurd_timestamp_is_refused_not_a_server_error():
    assert signature_problem("secret", "9" * 400, "v0=00", b"{}", time.time()) == "malformed timestamp"
    assert signature_problem("secret", "9" * 5000, "v0=00", b"{}", time.time()) == "malformed timestamp"


def test_with_a_staff_list_only_listed_people_are_answered(tmp_path):
    """A workspace can hold guests: with SLACK_STAFF_USERS set, nobody else gets an answer,
    in a channel or a DM (so nobody else can list the queues or resume a conversation)."""
    h = Harness(tmp_path, SLACK_STAFF_USERS=f" {STAFF} , U0OTHERSTAFF ")
    h.send(event_body(f"<@{BOT}> handoffs", user="U0GUEST"))
    h.send(dm_body("handoffs", user="U0GUEST"))
    h.send(event_body(f"<@{BOT}> handoffs"))
    assert [m.text for m in h.rasa.received] == ["handoffs"]
    assert "2 listed staff users" in h.service.describe()
