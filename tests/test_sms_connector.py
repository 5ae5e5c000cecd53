"""The SMS (Twilio) channel on its own: a fake Rasa behind it, the dev outbox (or a fake
Twilio API) in front. Numbers are synthetic (555-01xx)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import stat
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp import web
from twilio.request_validator import RequestValidator

from connectors.sms import (
    EMPTY_TWIML,
    PracticeContact,
    SmsInput,
    SmsService,
    SmsSettings,
    set_outbox_redactor,
)
from connectors.sms_outbound import SendFailed, TwilioRestSender
from connectors.sms_state import keyed_sender_id
from connectors.sms_text import (
    MAX_SMS_UNITS,
    payload_for_reply,
    render_with_buttons,
    shape_reply,
    sms_length,
    split_for_sms,
)

PATIENT = "+13125550123"  # synthetic
OTHER_PATIENT = "+13125550145"
DEV_TOKEN = "dev-only-token"
LOCAL_URL = "http://localhost:5505/webhooks/sms/webhook"
CONTACT = PracticeContact("Testville Demo Clinic", "+1 555 0100")
MENU = [
    {"title": "Book an appointment", "payload": "/book_appointment"},
    {"title": "Cancel an appointment", "payload": "/cancel_appointment"},
    {"title": "Talk to a person", "payload": "/human_handoff"},
]


def run(coro):
    return asyncio.run(coro)


def sign(params: Dict[str, str], url: str = LOCAL_URL, token: str = DEV_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


def make_settings(var_dir: Path, **env: str) -> SmsSettings:
    base = {"VAR_DIR": str(var_dir), "PORT": "5505", "SENDER_ID_SECRET": "unit-test-secret",
            "SMS_DEV_AUTH_TOKEN": DEV_TOKEN}
    base.update(env)
    return SmsSettings.from_env(base)


class FakeRasa:
    """Stands in for Rasa's on_new_message: records what it got, answers with a script."""

    def __init__(self, reply: Optional[Callable[[Any], Any]] = None):
        self.received: List[Any] = []
        self.reply = reply or (lambda message: message.output_channel.send_text_message(
            message.sender_id, "Hello! I'm the automated assistant."))

    async def __call__(self, message) -> None:
        self.received.append(message)
        result = self.reply(message)
        if asyncio.iscoroutine(result):
            await result

    @property
    def texts(self) -> List[str]:
        return [m.text for m in self.received]


def form(body: str, sid: str, number: str = PATIENT, **extra: str) -> Dict[str, str]:
    params = {"From": number, "To": "+13125550100", "Body": body, "MessageSid": sid,
              "NumMedia": "0", "AccountSid": "ACtest"}
    params.update(extra)
    return params


def outbox(var_dir: Path) -> List[dict]:
    path = var_dir / "outbox" / "sms.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


class Harness:
    def __init__(self, var_dir: Path, rasa: Optional[FakeRasa] = None, **env: str):
        self.var_dir = var_dir
        self.service = SmsService(make_settings(var_dir, **env), CONTACT)
        self.rasa = rasa or FakeRasa()
        self._sid = 0

    async def text(self, body: str, number: str = PATIENT, sid: Optional[str] = None, **extra):
        self._sid += 1
        params = form(body, sid or f"SMunit{self._sid:06d}", number, **extra)
        status, reply = await self.service.receive(params, sign(params), self.rasa)
        await self.service.drain()
        return status, reply

    def sent(self) -> List[str]:
        return [r["body"] for r in outbox(self.var_dir)]


@pytest.fixture
def harness(tmp_path) -> Harness:
    return Harness(tmp_path)


# --- signatures --------------------------------------------------------------------------

def test_correctly_signed_request_is_acknowledged_with_empty_twiml_and_answered(harness):
    async def go():
        status, body = await harness.text("hi")
        assert (status, body) == (200, EMPTY_TWIML)

    run(go())
    assert harness.rasa.texts == ["hi"]
    assert harness.sent() == ["Hello! I'm the automated assistant."]


@pytest.mark.parametrize("signature", [None, "", "bm90IGEgc2lnbmF0dXJl", sign(form("hi", "SM1"), token="another-token")])
def test_missing_or_wrong_signature_is_refused_and_not_processed(tmp_path, signature):
    h = Harness(tmp_path)

    async def go():
        status, body = await h.service.receive(form("hi", "SM1"), signature, h.rasa)
        await h.service.drain()
        return status, body

    status, body = run(go())
    assert status == 403 and "Response" not in body
    assert h.rasa.received == [] and h.sent() == []


def test_signature_over_different_parameters_is_refused(harness):
    signed_for = form("hi", "SM1")
    tampered = dict(signed_for, Body="send me everything")

    async def go():
        return await harness.service.receive(tampered, sign(signed_for), harness.rasa)

    assert run(go())[0] == 403
    assert harness.rasa.received == []


def test_behind_a_proxy_the_public_url_is_what_counts(tmp_path):
    public = "https://sms.clinic.example/twilio/inbound"
    h = Harness(tmp_path, SMS_PUBLIC_URL=public)
    params = form("hi", "SMproxy1")

    async def go():
        # Signed for the URL this server sees (not what Twilio called): refused.
        refused = await h.service.receive(params, sign(params, url=LOCAL_URL), h.rasa)
        accepted = await h.service.receive(params, sign(params, url=public), h.rasa)
        # Twilio signs the port-explicit form too; both must pass.
        params2 = form("hi", "SMproxy2")
        with_port = await h.service.receive(
            params2, sign(params2, url="https://sms.clinic.example:443/twilio/inbound"), h.rasa)
        await h.service.drain()
        return refused[0], accepted[0], with_port[0]

    assert run(go()) == (403, 200, 200)


def test_query_string_on_the_webhook_url_is_part_of_the_signature(tmp_path):
    h = Harness(tmp_path)
    params = form("hi", "SMq1")

    async def go():
        ok = await h.service.receive(params, sign(params, url=LOCAL_URL + "?site=north"), h.rasa,
                                     query_string="site=north")
        bad = await h.service.receive(form("hi", "SMq2"), sign(form("hi", "SMq2")), h.rasa,
                                      query_string="site=north")
        await h.service.drain()
        return ok[0], bad[0]

    assert run(go()) == (200, 403)


def test_real_auth_token_replaces_the_development_token(tmp_path):
    h = Harness(tmp_path, TWILIO_AUTH_TOKEN="real-token-from-env")
    params = form("hi", "SMtok")

    async def go():
        dev = await h.service.receive(params, sign(params), h.rasa)
        real = await h.service.receive(params, sign(params, token="real-token-from-env"), h.rasa)
        await h.service.drain()
        return dev[0], real[0]

    assert run(go()) == (403, 200)
    assert not h.service.settings.using_dev_token


# --- acknowledgement, dedupe -------------------------------------------------------------

def test_webhook_answers_before_the_conversation_finishes(harness):
    release = asyncio.Event

    async def go():
        gate = release()

        async def slow_reply(message):
            await gate.wait()
            await message.output_channel.send_text_message(message.sender_id, "Done.")

        harness.rasa.reply = slow_reply
        params = form("hi", "SMslow")
        status, _ = await asyncio.wait_for(
            harness.service.receive(params, sign(params), harness.rasa), timeout=1)
        assert status == 200 and harness.sent() == []  # acknowledged, reply still pending
        gate.set()
        await harness.service.drain()

    run(go())
    assert harness.sent() == ["Done."]


def test_redelivered_message_sid_is_processed_once(harness):
    async def go():
        first = await harness.text("hi", sid="SMdup")
        again = await harness.text("hi", sid="SMdup")
        return first[0], again[0]

    assert run(go()) == (200, 200)
    assert harness.rasa.texts == ["hi"]
    assert len(harness.sent()) == 1


def test_replies_to_one_sender_keep_their_order(harness):
    async def reply(message):
        if message.text == "first":
            await asyncio.sleep(0.2)
        await message.output_channel.send_text_message(message.sender_id, f"re {message.text}")

    harness.rasa.reply = reply

    async def go():
        for i, text in enumerate(["first", "second"]):
            params = form(text, f"SMord{i}")
            await harness.service.receive(params, sign(params), harness.rasa)
        await harness.service.drain()

    run(go())
    assert harness.sent() == ["re first", "re second"]


# --- keywords ----------------------------------------------------------------------------

@pytest.mark.parametrize("keyword", ["STOP", " stop ", "Stop", "STOPALL", "unsubscribe", "Cancel", "end", "QUIT"])
def test_opt_out_keywords_confirm_once_then_silence(tmp_path, keyword):
    h = Harness(tmp_path)

    async def go():
        await h.text(keyword)
        await h.text("hi are you there")
        await h.text(keyword)  # a second STOP gets no second confirmation
        await h.text("HELP")

    run(go())
    sent = h.sent()
    assert len(sent) == 1 and "unsubscribed" in sent[0] and "START" in sent[0]
    assert h.rasa.received == []


def test_stop_inside_a_sentence_is_conversation_not_a_keyword(harness):
    run(harness.text("please stop the reminders for my appointment"))
    assert harness.rasa.texts == ["please stop the reminders for my appointment"]


@pytest.mark.parametrize("keyword", ["START", "unstop"])
def test_start_resubscribes_and_confirms(tmp_path, keyword):
    h = Harness(tmp_path)

    async def go():
        await h.text("STOP")
        await h.text(keyword)
        await h.text("hi")

    run(go())
    sent = h.sent()
    assert len(sent) == 3
    assert "subscribed again" in sent[1]
    assert sent[2] == "Hello! I'm the automated assistant."
    assert h.rasa.texts == ["hi"]


@pytest.mark.parametrize("keyword", ["HELP", "info", " Help "])
def test_help_gives_practice_contact_and_rates_notice(tmp_path, keyword):
    h = Harness(tmp_path)
    run(h.text(keyword))
    (sent,) = h.sent()
    assert "Testville Demo Clinic" in sent and "+1 555 0100" in sent
    assert "Msg & data rates may apply. Reply STOP to opt out." in sent
    assert h.rasa.received == []


def test_opt_out_survives_a_new_connector_instance(tmp_path):
    run(Harness(tmp_path).text("STOP"))
    fresh = Harness(tmp_path)  # as after a restart: same VAR_DIR, same SENDER_ID_SECRET
    run(fresh.text("hi"))
    assert fresh.rasa.received == []
    assert len(fresh.sent()) == 1  # only the earlier confirmation
    other = Harness(tmp_path)
    run(other.text("hi", number=OTHER_PATIENT))  # someone else is unaffected
    assert other.rasa.texts == ["hi"]


def test_opt_out_table_holds_the_keyed_hash_not_the_number(tmp_path):
    run(Harness(tmp_path).text("STOP"))
    raw = (tmp_path / "sms_optouts.db").read_bytes()
    assert PATIENT.encode() not in raw and PATIENT[2:].encode() not in raw
    assert keyed_sender_id(b"unit-test-secret", PATIENT).encode() in raw


def test_bot_initiated_text_respects_opt_out(harness):
    async def go():
        await harness.text("STOP")
        sender = keyed_sender_id(b"unit-test-secret", PATIENT)
        channel = SmsInput.__new__(SmsInput)
        channel.service = harness.service
        out = channel.get_output_channel()
        await out.send_text_message(sender, "Reminder: your visit is tomorrow.")

    run(go())
    assert len(harness.sent()) == 1  # the confirmation only


# --- MMS ---------------------------------------------------------------------------------

def test_pictures_are_declined_and_never_fetched(tmp_path):
    hits: List[str] = []

    async def go():
        async def media(request):
            hits.append(request.path)
            return web.Response(body=b"\x89PNG")

        app = web.Application()
        app.router.add_get("/{tail:.*}", media)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        h = Harness(tmp_path)
        media_url = f"http://127.0.0.1:{port}/Media/ME123"
        await h.text("", NumMedia="1", MediaUrl0=media_url, MediaContentType0="image/png")
        await h.text("it looks red and swollen", NumMedia="1", MediaUrl0=media_url,
                     MediaContentType0="image/jpeg")
        await runner.cleanup()
        return h

    h = run(go())
    sent = h.sent()
    assert sent[0].startswith("We can't accept pictures by text. Please describe it in words, or call")
    assert "+1 555 0100" in sent[0]
    assert sent[1].startswith("We can't accept pictures") and sent[2] == "Hello! I'm the automated assistant."
    assert h.rasa.texts == ["it looks red and swollen"]  # the words still count
    assert hits == []
    files = {p.name for p in tmp_path.rglob("*") if p.is_file()}
    assert files <= {"sms.jsonl", "sms_optouts.db", "sender_id_secret"}


# --- privacy of the outbox and logs ------------------------------------------------------

def test_outbox_records_a_keyed_hash_never_the_number(harness, caplog):
    caplog.set_level(logging.DEBUG)
    run(harness.text("my date of birth is 01/02/1990"))
    (record,) = outbox(harness.var_dir)
    assert record["to"] == keyed_sender_id(b"unit-test-secret", PATIENT)
    assert record["to"].startswith("sms_") and PATIENT not in json.dumps(record)
    assert harness.rasa.received[0].sender_id == record["to"]
    mode = stat.S_IMODE(os.stat(harness.var_dir / "outbox" / "sms.jsonl").st_mode)
    assert mode == 0o600
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("connectors"))
    assert "SMS in from" in logged
    assert PATIENT not in logged and "5550123" not in logged and "01/02/1990" not in logged


def test_outbox_redactor_hook_rewrites_bodies(harness):
    set_outbox_redactor(lambda text: text.replace("assistant", "<REDACTED>"))
    try:
        run(harness.text("hi"))
    finally:
        set_outbox_redactor(None)
    assert harness.sent() == ["Hello! I'm the automated <REDACTED>."]


def test_development_secret_is_generated_once_with_private_permissions(tmp_path):
    env = {"VAR_DIR": str(tmp_path)}
    first = SmsSettings.from_env(env).sender_secret
    path = tmp_path / "sender_id_secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert SmsSettings.from_env(env).sender_secret == first and len(first) >= 32
    assert keyed_sender_id(first, PATIENT) != keyed_sender_id(b"unit-test-secret", PATIENT)


def test_care_detail_setting_reaches_actions_in_metadata(tmp_path):
    for value, expected in [(None, "minimal"), ("standard", "standard"), ("everything", "minimal")]:
        env = {"SMS_CARE_DETAIL": value} if value else {}
        h = Harness(tmp_path / (value or "default"), **env)
        run(h.text("hi"))
        metadata = h.rasa.received[0].metadata
        assert metadata["sms_care_detail"] == expected
        assert h.rasa.received[0].input_channel == "sms"
        assert PATIENT not in json.dumps(metadata)


def test_a_rasa_failure_gets_the_patient_a_way_forward(harness):
    def broken(message):
        raise RuntimeError("model not loaded")

    harness.rasa.reply = broken
    run(harness.text("hi"))
    (sent,) = harness.sent()
    assert "try again" in sent and "+1 555 0100" in sent


# --- buttons -----------------------------------------------------------------------------

def test_buttons_become_numbered_choices_and_a_typed_number_picks_the_payload(harness):
    async def reply(message):
        if message.text == "hi":
            await message.output_channel.send_text_with_buttons(
                message.sender_id, "What can I help you with?", MENU)
        else:
            await message.output_channel.send_text_message(message.sender_id, "OK.")

    harness.rasa.reply = reply

    async def go():
        await harness.text("hi")
        await harness.text(" 2 ")
        await harness.text("2")  # the last reply had no buttons: a plain "2" again
        await harness.text("hi")
        await harness.text("7")  # out of range: passed on as typed

    run(go())
    assert harness.sent()[0] == (
        "What can I help you with?\n1. Book an appointment\n2. Cancel an appointment\n"
        "3. Talk to a person\nReply 1, 2 or 3."
    )
    assert harness.rasa.texts == ["hi", "/cancel_appointment", "2", "hi", "7"]


def test_numbers_map_per_sender(harness):
    async def reply(message):
        await message.output_channel.send_text_with_buttons(message.sender_id, "Pick one", MENU)

    harness.rasa.reply = reply

    async def go():
        await harness.text("hi")
        await harness.text("1", number=OTHER_PATIENT)  # never saw the menu
        await harness.text("1")

    run(go())
    assert harness.rasa.texts == ["hi", "1", "/book_appointment"]


def test_text_that_lists_its_own_numbers_is_not_renumbered():
    offers = [{"title": "1. Mon 9:00", "payload": "1"}, {"title": "2. Tue 10:00", "payload": "2"},
              {"title": "None of these", "payload": "/none_of_these"}]
    text = "Here are the times I can offer:\n1. Mon 9:00\n2. Tue 10:00\nReply 1, 2, or say \"none of these\"."
    shaped = shape_reply([{"text": text, "buttons": offers}])
    assert shaped.bodies == [text]
    assert shaped.buttons == []  # the action reads the typed number itself


@pytest.mark.parametrize("count, phrase", [(1, "Reply 1."), (2, "Reply 1 or 2."), (3, "Reply 1, 2 or 3."),
                                           (5, "Reply 1, 2, 3, 4 or 5.")])
def test_reply_phrase_lists_every_number(count, phrase):
    assert render_with_buttons("Pick", MENU[:1] * count).endswith(phrase)


@pytest.mark.parametrize("typed, payload", [("1", "/book_appointment"), ("#3", "/human_handoff"),
                                            ("2.", "/cancel_appointment"), ("option 1", "/book_appointment"),
                                            ("0", None), ("4", None), ("12 pm", None), ("one", None)])
def test_typed_number_mapping(typed, payload):
    assert payload_for_reply(typed, MENU) == payload


# --- length and splitting ----------------------------------------------------------------

@pytest.mark.parametrize("text, encoding, units, segments", [
    ("Hello", "GSM-7", 5, 1),
    ("a" * 160, "GSM-7", 160, 1),
    ("a" * 161, "GSM-7", 161, 2),
    ("Price: 5€ [x]", "GSM-7", 16, 1),  # €, [ and ] count two each
    ("café Ñ ü à", "GSM-7", 10, 1),  # accented letters that GSM-7 has
    ("façade", "UCS-2", 6, 1),  # lower-case ç is not GSM-7
    ("Hi 😀", "UCS-2", 5, 1),  # the emoji is two UTF-16 units
    ("’" + "a" * 70, "UCS-2", 71, 2),  # a curly quote flips the whole text to UCS-2
])
def test_sms_length_counts_what_carriers_count(text, encoding, units, segments):
    length = sms_length(text)
    assert (length.encoding, length.units, length.segments) == (encoding, units, segments)


def test_exactly_the_limit_is_one_message_one_more_is_two():
    assert split_for_sms("a" * MAX_SMS_UNITS) == ["a" * MAX_SMS_UNITS]
    assert len(split_for_sms("a" * (MAX_SMS_UNITS + 1))) == 2
    # Extension characters count two: 800 of them fill a message.
    assert len(split_for_sms("€" * 800)) == 1
    assert len(split_for_sms("€" * 801)) == 2


def test_long_reply_splits_at_sentence_boundaries():
    sentences = [f"Sentence number {i} explains one small thing about your visit." for i in range(80)]
    text = " ".join(sentences)
    parts = split_for_sms(text)
    assert len(parts) >= 3
    for part in parts:
        assert sms_length(part).units <= MAX_SMS_UNITS
        assert part.endswith("visit.")  # never cut mid-sentence
    assert " ".join(parts) == text


def test_one_emoji_makes_its_message_ucs2_and_units_are_utf16():
    text = "Your visit is confirmed 😀. " + " ".join(["We look forward to seeing you."] * 60)
    parts = split_for_sms(text)
    assert sms_length(parts[0]).encoding == "UCS-2"
    assert all(sms_length(p).units <= MAX_SMS_UNITS for p in parts)
    assert sms_length(text).units > MAX_SMS_UNITS and len(parts) == 2


def test_an_unbroken_run_of_emoji_is_split_without_breaking_a_character():
    text = "😀" * 1000  # 2,000 UTF-16 units, no spaces or sentence ends
    parts = split_for_sms(text)
    assert [sms_length(p).units for p in parts] == [1600, 400]
    assert "".join(parts) == text
    for part in parts:
        part.encode("utf-8")  # a lone surrogate would raise here


def test_a_long_turn_goes_out_as_several_texts(harness):
    long_text = " ".join(["This is a long explanation of how we use AI in the practice."] * 60)

    async def reply(message):
        await message.output_channel.send_text_message(message.sender_id, long_text)

    harness.rasa.reply = reply
    run(harness.text("how do you use ai"))
    records = outbox(harness.var_dir)
    assert len(records) == 3
    assert all(r["units"] <= 1600 and r["encoding"] == "GSM-7" for r in records)
    assert " ".join(r["body"] for r in records) == long_text


def test_a_turns_messages_are_joined_into_one_text():
    shaped = shape_reply([{"text": "Hello!"}, {"text": "How can I help?", "buttons": MENU[:2]},
                          {"image": "https://example.invalid/x.png"}])
    assert shaped.bodies == ["Hello!\n\nHow can I help?\n1. Book an appointment\n"
                             "2. Cancel an appointment\nReply 1 or 2."]


# --- sending through Twilio's REST API ---------------------------------------------------

class FakeTwilio:
    """A local stand-in for api.twilio.com's Messages endpoint with scripted statuses."""

    def __init__(self, statuses: List[int]):
        self.statuses = list(statuses)
        self.requests: List[Dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append({"path": request.path, "auth": request.headers.get("Authorization"),
                              "form": dict(await request.post())})
        status = self.statuses.pop(0) if self.statuses else 201
        body = {"sid": "SMout"} if status < 300 else {"code": 20429 if status == 429 else 20500}
        return web.json_response(body, status=status)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"


def test_twilio_sender_retries_429_and_5xx_then_succeeds():
    async def go():
        fake = FakeTwilio([503, 429, 201])
        base = await fake.start()
        sender = TwilioRestSender("ACfake", "secret", "+13125550100", api_base=base, backoff_base=0.01)
        await sender.send("sms_abc", PATIENT, "Your visit is at 9:00.")
        await sender.close()
        await fake.runner.cleanup()
        return fake

    fake = run(go())
    assert len(fake.requests) == 3
    assert fake.requests[-1]["form"] == {"To": PATIENT, "From": "+13125550100", "Body": "Your visit is at 9:00."}
    assert fake.requests[-1]["path"] == "/2010-04-01/Accounts/ACfake/Messages.json"
    assert fake.requests[-1]["auth"].startswith("Basic ")


def test_twilio_sender_does_not_retry_a_refusal_and_gives_up_after_max_attempts():
    async def go():
        refused = FakeTwilio([400])
        base = await refused.start()
        sender = TwilioRestSender("ACfake", "secret", "+13125550100", api_base=base, backoff_base=0.01)
        with pytest.raises(SendFailed, match="error"):
            await sender.send("sms_abc", PATIENT, "x")
        down = FakeTwilio([503] * 10)
        base2 = await down.start()
        sender2 = TwilioRestSender("ACfake", "secret", "+13125550100", api_base=base2,
                                   backoff_base=0.01, max_attempts=3)
        with pytest.raises(SendFailed, match="after 3 attempts") as failure:
            await sender2.send("sms_abc", PATIENT, "x")
        assert PATIENT not in str(failure.value)
        for s in (sender, sender2):
            await s.close()
        for f in (refused, down):
            await f.runner.cleanup()
        return refused, down

    refused, down = run(go())
    assert len(refused.requests) == 1 and len(down.requests) == 3


def test_with_twilio_credentials_replies_go_to_twilio_not_the_outbox(tmp_path):
    async def go():
        fake = FakeTwilio([])
        base = await fake.start()
        h = Harness(tmp_path, TWILIO_ACCOUNT_SID="ACfake", TWILIO_AUTH_TOKEN="tok",
                    TWILIO_FROM_NUMBER="+13125550100", TWILIO_API_BASE_URL=base)
        params = form("hi", "SMtw1")
        status, _ = await h.service.receive(params, sign(params, token="tok"), h.rasa)
        await h.service.drain()
        await h.service.sender.close()
        await fake.runner.cleanup()
        return status, fake

    status, fake = run(go())
    assert status == 200
    assert [r["form"]["To"] for r in fake.requests] == [PATIENT]
    assert not (tmp_path / "outbox").exists()


# --- mounted on Sanic the way Rasa mounts channels ---------------------------------------

def test_channel_serves_the_webhook_contract_over_http(tmp_path):
    from rasa.core.channels.channel import register
    from sanic import Sanic

    async def go():
        Sanic.test_mode = True
        app = Sanic(f"sms_test_{os.getpid()}")
        rasa = FakeRasa()
        channel = SmsInput(make_settings(tmp_path, SMS_PUBLIC_URL="https://clinic.example/webhooks/sms/webhook"),
                           CONTACT)
        assert SmsInput.name() == "sms"
        app.ctx.agent = type("FakeAgent", (), {"handle_message": staticmethod(rasa)})()
        register([channel], app, route="/webhooks/")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
        await server.startup()
        url = f"http://127.0.0.1:{port}/webhooks/sms/webhook"
        params = form("hi", "SMhttp1")
        results = []
        async with aiohttp.ClientSession() as client:
            headers = {"Content-Type": "application/x-www-form-urlencoded",
                       "X-Twilio-Signature": sign(params, url="https://clinic.example/webhooks/sms/webhook")}
            async with client.post(url, data=urlencode(params), headers=headers) as resp:
                results.append((resp.status, resp.headers["Content-Type"], await resp.text()))
            async with client.post(url, data=urlencode(params), headers={
                    "Content-Type": "application/x-www-form-urlencoded"}) as resp:
                results.append((resp.status, await resp.text()))
            # A picture-only message has an empty Body, which Twilio signs too.
            picture = form("", "SMhttp2", NumMedia="1", MediaUrl0="https://api.twilio.com/x/Media/ME1")
            headers["X-Twilio-Signature"] = sign(picture, url="https://clinic.example/webhooks/sms/webhook")
            async with client.post(url, data=urlencode(picture), headers=headers) as resp:
                results.append((resp.status, await resp.text()))
        await channel.service.drain()
        server.close()
        await server.wait_closed()
        return results, rasa

    (ok, refused, picture), rasa = run(go())
    assert ok[0] == 200 and ok[1].startswith("text/xml") and ok[2] == EMPTY_TWIML
    assert refused[0] == 403
    assert picture[0] == 200
    bodies = [r["body"] for r in outbox(tmp_path)]
    assert bodies[0] == "Hello! I'm the automated assistant."
    assert bodies[1].startswith("We can't accept pictures by text.")


def test_with_redis_two_workers_process_a_redelivery_once(tmp_path, redis_url):
    import uuid

    async def go():
        first = Harness(tmp_path / "w1", REDIS_URL=redis_url)
        second = Harness(tmp_path / "w2", REDIS_URL=redis_url)
        sid = f"SMredis{uuid.uuid4().hex[:12]}"
        await first.text("hi", sid=sid)
        await second.text("hi", sid=sid)  # the load balancer sent the retry elsewhere
        return first, second

    first, second = run(go())
    assert len(first.rasa.received) + len(second.rasa.received) == 1


# --- found in review (session 12) -----------------------------------------------------------


def test_without_any_signing_token_every_request_is_refused(tmp_path):
    # There used to be a built-in development token: a public key to drive the webhook with.
    settings = SmsSettings.from_env({"VAR_DIR": str(tmp_path), "PORT": "5505", "SENDER_ID_SECRET": "s"})
    service = SmsService(settings, CONTACT)
    rasa = FakeRasa()
    params = form("I want to cancel my appointment", "SMforged1")

    async def go():
        return [await service.receive(params, sign(params, token=token), rasa)
                for token in ("dev-only-token", "anything")]

    assert [status for status, _ in run(go())] == [403, 403]
    assert rasa.received == [] and "not configured" in service.describe()


@pytest.mark.parametrize("keyword", ["REVOKE", "optout", "Opt Out", " stop "])
def test_every_carrier_opt_out_keyword_opts_out(harness, keyword):
    async def go():
        await harness.text(keyword)
        await harness.text("when is my appointment")

    run(go())
    assert len(harness.rasa.received) == 0
    assert harness.sent() == [harness.service.texts.opted_out]


def test_yes_after_stop_opts_back_in_but_is_an_ordinary_answer_otherwise(harness):
    async def go():
        await harness.text("yes")  # not opted out: an answer for the assistant
        await harness.text("STOP")
        await harness.text("YES")  # Twilio's opt-in keyword
        await harness.text("I need to book an appointment")

    run(go())
    assert [m.text for m in harness.rasa.received] == ["yes", "I need to book an appointment"]
    assert harness.service.texts.opted_in in harness.sent()


def test_a_reply_still_being_worked_on_is_not_sent_after_stop(tmp_path):
    async def slow_answer(message):
        await asyncio.sleep(0.5)  # Rasa and the action server still working on it
        await message.output_channel.send_text_message(message.sender_id, "Your next visit is Tue 9:00.")

    h = Harness(tmp_path, FakeRasa(slow_answer))

    async def go():
        first = form("when is my next appointment", "SMslow1")
        await h.service.receive(first, sign(first), h.rasa)
        await asyncio.sleep(0.1)
        stop = form("STOP", "SMslow2")
        await h.service.receive(stop, sign(stop), h.rasa)
        await h.service.drain()

    run(go())
    assert h.sent() == [h.service.texts.opted_out]


def test_spanish_punctuation_is_kept_and_an_address_gets_its_at_sign_back(harness):
    async def go():
        await harness.text("¡Hola! necesito una cita")
        await harness.text("my email is ana¡example.org")

    run(go())
    assert [m.text for m in harness.rasa.received] == ["¡Hola! necesito una cita", "my email is ana@example.org"]


def test_twilio_sender_does_not_resend_after_a_timeout(tmp_path):
    # A timed-out request may have created the message at Twilio: resending could text twice.
    class SlowTwilio(FakeTwilio):
        attempts = 0

        async def handle(self, request):
            SlowTwilio.attempts += 1
            if SlowTwilio.attempts == 1:
                await asyncio.sleep(0.5)  # Twilio is slow to answer, though it has the message
            return await super().handle(request)

    async def go():
        slow = SlowTwilio([])
        base = await slow.start()
        sender = TwilioRestSender("ACfake", "secret", "+13125550100", api_base=base,
                                  backoff_base=0.01, timeout_seconds=0.2)
        with pytest.raises(SendFailed, match="may or may not have been sent") as failure:
            await sender.send("sms_abc", PATIENT, "Reminder: appointment Tue 9:00.")
        await asyncio.sleep(0.5)  # let the slow first request finish on the fake's side
        await sender.close()
        await slow.runner.cleanup()
        return slow, failure, SlowTwilio

    slow, failure, SlowTwilio = run(go())
    assert SlowTwilio.attempts == 1 and PATIENT not in str(failure.value)
