"""The SMS (Twilio) channel: `/webhooks/sms/webhook`.

What it does that Rasa 3.6's own `twilio` channel does not:
- every request's X-Twilio-Signature is checked against SMS_PUBLIC_URL (the URL Twilio
  calls, which behind a proxy is not the one this server sees); missing or wrong -> 403;
- the tracker key is a keyed hash of the phone number, never the number;
- the webhook answers at once with empty TwiML and the conversation runs in the background;
  replies go out through Twilio's REST API on aiohttp (non-blocking, retried on 429/5xx),
  or to $VAR_DIR/outbox/sms.jsonl when there are no Twilio credentials;
- a redelivered MessageSid is processed once;
- carrier keywords (STOP, START, HELP, ...) are handled here and never reach Rasa; an
  opted-out number gets nothing, ever, until it texts START or UNSTOP;
- buttons become numbered choices and a typed number maps back to the button's payload;
  long replies are split at sentences into texts of at most 1,600 GSM-7/UCS-2 units;
- pictures (MMS) are declined and never fetched.

SMS_CARE_DETAIL (default "minimal") is what a text may say about a patient's care. This
channel removes nothing itself; it passes the setting to actions in the message metadata
(`tracker.latest_message["metadata"]["sms_care_detail"]`) so that they word SMS replies
accordingly: "minimal" = no clinical detail (no visit reasons, medicines or results; times,
places and references only); "standard" = what the practice allows on its web chat.

Settings (environment): TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM_NUMBER (or
TWILIO_MESSAGING_SERVICE_SID), SMS_PUBLIC_URL, SENDER_ID_SECRET, SMS_CARE_DETAIL,
SMS_DEV_AUTH_TOKEN (development only; with neither token set every request is refused),
REDIS_URL (shared dedupe), VAR_DIR.
"""

from __future__ import annotations

import asyncio
import re
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Iterable, List, Mapping, Optional, Set, Text, Tuple
from urllib.parse import parse_qs

import yaml
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from twilio.request_validator import RequestValidator

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, OutputChannel, UserMessage

from connectors.sms_outbound import OutboxSender, SendFailed, TwilioRestSender, set_outbox_redactor
from connectors.sms_state import (
    LastButtons,
    MessageDeduper,
    OptOutStore,
    RecipientDirectory,
    keyed_sender_id,
    sender_token,
    load_or_create_secret,
    log_id,
)
from connectors.sms_text import payload_for_reply, shape_reply
from privacy.logging import OPERATIONAL

__all__ = ["SmsInput", "SmsSettings", "SmsService", "set_outbox_redactor"]

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
WEBHOOK_PATH = "/webhooks/sms/webhook"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
CARE_DETAIL_LEVELS = ("minimal", "standard")

# Whole message, trimmed, any case (the carrier-standard keyword sets).
# Twilio's defaults, which follow the FCC's 2025 opt-out rule (REVOKE, OPTOUT, "OPT OUT").
OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE",
                              "OPTOUT", "OPT OUT"})
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP"})
# Twilio also opts a number back in on YES; for us YES is an ordinary answer unless the
# sender is opted out.
OPT_IN_WHEN_OPTED_OUT = frozenset({"YES"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})


@dataclass(frozen=True)
class PracticeContact:
    name: str
    phone: str

    @classmethod
    def from_content(cls, path: Path = REPO_ROOT / "bot" / "content" / "clinic.yml") -> "PracticeContact":
        with open(path, encoding="utf-8") as handle:
            clinic = yaml.safe_load(handle) or {}
        return cls(
            name=str(clinic.get("practice_name") or "The clinic"),
            phone=str(clinic.get("phone_display") or clinic.get("phone") or "the clinic"),
        )


@dataclass(frozen=True)
class SmsTexts:
    """Everything this channel says by itself (not via Rasa)."""

    contact: PracticeContact

    @property
    def opted_out(self) -> str:
        return (
            f"{self.contact.name}: you're unsubscribed and won't get any more texts from us. "
            f"Reply START to resubscribe. If you meant to cancel an appointment, reply START "
            f"and then tell us, or call {self.contact.phone}."
        )

    @property
    def opted_in(self) -> str:
        return (
            f"{self.contact.name}: you're subscribed again and can text us any time. "
            "Reply HELP for help, STOP to opt out."
        )

    @property
    def help(self) -> str:
        return (
            f"{self.contact.name} automated assistant: appointments and refill requests. "
            f"To reach our team, call {self.contact.phone}. "
            "Msg & data rates may apply. Reply STOP to opt out."
        )

    @property
    def media_declined(self) -> str:
        return (
            "We can't accept pictures by text. Please describe it in words, or call "
            f"{self.contact.phone}."
        )

    @property
    def failure(self) -> str:
        return (
            "Sorry, something went wrong on our side. Please try again in a few minutes, "
            f"or call {self.contact.phone}."
        )


@dataclass(frozen=True)
class SmsSettings:
    var_dir: Path
    public_url: str
    signing_token: Optional[str]
    using_dev_token: bool
    account_sid: Optional[str]
    auth_token: Optional[str]
    from_number: Optional[str]
    messaging_service_sid: Optional[str]
    sender_secret: bytes = field(repr=False)
    care_detail: str = "minimal"
    redis_url: Optional[str] = None
    twilio_api_base: str = "https://api.twilio.com"

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "SmsSettings":
        env = os.environ if env is None else env
        var_dir = Path(env.get("VAR_DIR") or REPO_ROOT / "var").resolve()
        port = env.get("PORT", "5005")
        auth_token = env.get("TWILIO_AUTH_TOKEN") or None
        care_detail = (env.get("SMS_CARE_DETAIL") or "minimal").strip().lower()
        if care_detail not in CARE_DETAIL_LEVELS:
            logger.warning(
                "SMS_CARE_DETAIL=%r is not one of %s; using the cautious 'minimal'.",
                care_detail, ", ".join(CARE_DETAIL_LEVELS),
            )
            care_detail = "minimal"
        return cls(
            var_dir=var_dir,
            public_url=env.get("SMS_PUBLIC_URL") or f"http://localhost:{port}{WEBHOOK_PATH}",
            # Development only: without a real auth token, requests are signed with
            # SMS_DEV_AUTH_TOKEN so the signature path is exercised end to end. With neither,
            # there is no key and every request is refused: a built-in default would be a
            # public key for anyone to drive the webhook with.
            signing_token=auth_token or env.get("SMS_DEV_AUTH_TOKEN") or None,
            using_dev_token=auth_token is None,
            account_sid=env.get("TWILIO_ACCOUNT_SID") or None,
            auth_token=auth_token,
            from_number=env.get("TWILIO_FROM_NUMBER") or None,
            messaging_service_sid=env.get("TWILIO_MESSAGING_SERVICE_SID") or None,
            sender_secret=load_or_create_secret(var_dir, env.get("SENDER_ID_SECRET") or None),
            care_detail=care_detail,
            redis_url=env.get("REDIS_URL") or None,
            twilio_api_base=env.get("TWILIO_API_BASE_URL") or "https://api.twilio.com",
        )

    @property
    def sends_through_twilio(self) -> bool:
        return bool(self.account_sid and self.auth_token)

    @property
    def outbox_path(self) -> Path:
        return self.var_dir / "outbox" / "sms.jsonl"


def _form_with_blanks(request: Request) -> Mapping[str, List[str]]:
    """The posted form, keeping empty values: Twilio signs `Body=` of a picture-only
    message, and Sanic's request.form silently drops blank fields."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        return parse_qs(request.body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return request.form or {}


class _FormParams(dict):
    """name -> list of values, shaped the way twilio's RequestValidator reads a form."""

    def getlist(self, name: str) -> List[str]:
        return self[name]


def _as_lists(params: Mapping[str, Any]) -> _FormParams:
    out = _FormParams()
    for key, value in params.items():
        out[key] = list(value) if isinstance(value, (list, tuple)) else [value]
    return out


def opt_keyword(text: str) -> str:
    """The text as an opt-out/in keyword: trimmed, upper case, inner spaces single."""
    return " ".join(text.split()).upper()


def _gsm_at_sign(text: str) -> str:
    """Some carriers turn GSM's "@" into "¡" on the way in: put it back inside an email
    address only, so a Spanish "¡Hola!" stays as written."""
    return re.sub(r"(?<=[\w.+-])¡(?=[\w-]+\.[\w.-]+)", "@", text)


@dataclass
class InboundSms:
    sender_id: str
    number: str = field(repr=False)  # kept in memory for sending, never logged
    text: str = field(repr=False)
    num_media: int
    message_sid: str
    opted_out_now: bool = False  # this text was an opt-out keyword that changed the state


OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


class SmsService:
    """The channel's behaviour, independent of Sanic so it can be tested directly."""

    def __init__(self, settings: SmsSettings, contact: Optional[PracticeContact] = None):
        self.settings = settings
        self.texts = SmsTexts(contact or PracticeContact.from_content())
        self.validator = RequestValidator(settings.signing_token) if settings.signing_token else None
        self.optouts = OptOutStore(settings.var_dir / "sms_optouts.db")
        self.deduper = MessageDeduper(redis_url=settings.redis_url)
        self.directory = RecipientDirectory()
        self.last_buttons = LastButtons()
        self.sender: Any
        if settings.sends_through_twilio:
            self.sender = TwilioRestSender(
                settings.account_sid, settings.auth_token, settings.from_number,
                settings.messaging_service_sid, api_base=settings.twilio_api_base,
            )
        else:
            self.sender = OutboxSender(settings.outbox_path)
        self._tasks: Set[asyncio.Task] = set()
        self._sender_locks: Dict[str, list] = {}  # sender -> [lock, users]

    def describe(self) -> str:
        transport = "Twilio REST API" if self.settings.sends_through_twilio else f"outbox {self.settings.outbox_path}"
        if self.validator is None:
            return ("SMS channel: not configured (set TWILIO_AUTH_TOKEN, or SMS_DEV_AUTH_TOKEN for "
                    "development); every webhook request is refused")
        signing = "DEVELOPMENT token (SMS_DEV_AUTH_TOKEN)" if self.settings.using_dev_token else "TWILIO_AUTH_TOKEN"
        return f"SMS channel: signatures checked with {signing} against {self.settings.public_url}; sending via {transport}"

    # --- the webhook ------------------------------------------------------------------

    def signed_url(self, query_string: str = "") -> str:
        url = self.settings.public_url
        if query_string and "?" not in url:
            url = f"{url}?{query_string}"
        return url

    def signature_ok(self, params: Mapping[str, Any], signature: Optional[str], query_string: str = "") -> bool:
        if not signature or self.validator is None:
            return False
        return self.validator.validate(self.signed_url(query_string), _as_lists(params), signature)

    async def receive(self, params: Mapping[str, Any], signature: Optional[str],
                      on_new_message: OnNewMessage, query_string: str = "") -> Tuple[int, str]:
        """Authenticate, dedupe and schedule one webhook; returns (status, body) at once."""
        if not self.signature_ok(params, signature, query_string):
            logger.warning(
                "SMS webhook refused: %s X-Twilio-Signature (checked against %s; if Twilio "
                "calls a different URL, set SMS_PUBLIC_URL to it exactly).",
                "missing" if not signature else "wrong", self.signed_url(query_string),
                extra=OPERATIONAL,
            )
            return 403, "Forbidden: the request is not signed by Twilio for this URL."
        form = _as_lists(params)
        first = lambda name: (form.get(name) or [""])[0] or ""  # noqa: E731
        number, message_sid = first("From"), first("MessageSid") or first("SmsSid")
        if not number:
            return 400, "A Twilio message webhook needs a From parameter."
        if message_sid and not await self.deduper.first_time(message_sid):
            logger.info("SMS %s is a redelivery; already handled", message_sid)
            return 200, EMPTY_TWIML
        try:
            num_media = int(first("NumMedia") or 0)
        except ValueError:
            num_media = 0
        inbound = InboundSms(
            sender_id=keyed_sender_id(self.settings.sender_secret, number),
            number=number,
            text=_gsm_at_sign(first("Body")),
            num_media=num_media,
            message_sid=message_sid,
        )
        self.directory.remember(inbound.sender_id, number)
        if opt_keyword(inbound.text) in OPT_OUT_KEYWORDS:
            # Now, not in turn: a reply to an earlier text that is still being worked on must
            # not go out after STOP (send_to checks the store before every text).
            inbound.opted_out_now = await self.optouts.opt_out(inbound.sender_id)
        task = asyncio.get_running_loop().create_task(self._process_in_order(inbound, on_new_message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return 200, EMPTY_TWIML

    async def drain(self) -> None:
        """Wait for background work (tests; graceful shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def shutdown(self, grace_seconds: float = 10.0) -> None:
        """Let replies already being worked on go out, then release the HTTP session."""
        try:
            await asyncio.wait_for(self.drain(), timeout=grace_seconds)
        except asyncio.TimeoutError:
            logger.warning("SMS: %d conversations still running at shutdown", len(self._tasks))
        await self.sender.close()

    # --- background processing -----------------------------------------------------------

    async def _process_in_order(self, inbound: InboundSms, on_new_message: OnNewMessage) -> None:
        # One sender's texts are handled one at a time so replies cannot overtake each other.
        entry = self._sender_locks.setdefault(inbound.sender_id, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                await self._process(inbound, on_new_message)
        except Exception as error:  # never let a background failure vanish silently
            logger.error("SMS from %s failed: %s", log_id(inbound.sender_id), type(error).__name__)
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                self._sender_locks.pop(inbound.sender_id, None)

    async def _process(self, inbound: InboundSms, on_new_message: OnNewMessage) -> None:
        who = log_id(inbound.sender_id)
        text = inbound.text.strip()
        logger.info("SMS in from %s: %d chars, %d media", who, len(text), inbound.num_media)
        keyword = opt_keyword(text)

        if keyword in OPT_OUT_KEYWORDS:
            # Recorded already in receive(), so replies still being worked on were stopped.
            if inbound.opted_out_now:
                logger.info("SMS %s opted out", who)
                # The one text an opted-out number may get: the confirmation itself.
                await self._send(inbound, self.texts.opted_out, bypass_opt_out=True)
            return
        opted_out = await self.optouts.is_opted_out(inbound.sender_id)
        if keyword in OPT_IN_KEYWORDS or (opted_out and keyword in OPT_IN_WHEN_OPTED_OUT):
            await self.optouts.opt_in(inbound.sender_id)
            logger.info("SMS %s opted in", who)
            await self._send(inbound, self.texts.opted_in)
            return
        if opted_out:
            # Not passed to Rasa either: nothing it said could be sent back.
            logger.info("SMS from opted-out %s ignored", who)
            return
        if keyword in HELP_KEYWORDS:
            await self._send(inbound, self.texts.help)
            return
        if inbound.num_media > 0:
            # MediaUrl* is never read: the picture is neither fetched nor stored.
            await self._send(inbound, self.texts.media_declined)
        if not text:
            return
        await self._converse(inbound, text, on_new_message)

    async def _converse(self, inbound: InboundSms, text: str, on_new_message: OnNewMessage) -> None:
        chosen = payload_for_reply(text, self.last_buttons.get(inbound.sender_id))
        collector = CollectingOutputChannel()
        message = UserMessage(
            chosen or text,
            collector,
            sender_id=inbound.sender_id,
            input_channel=SmsInput.name(),
            metadata={
                "sms_care_detail": self.settings.care_detail,
                "channel_role": "patient",
                "message_sid": inbound.message_sid,
                "num_media": inbound.num_media,
                # For the SMS identity check (phone on file + date of birth).
                "sms_sender_token": sender_token(self.settings.sender_secret, inbound.number),
            },
        )
        try:
            await on_new_message(message)
        except Exception as error:
            logger.error("SMS turn for %s failed in Rasa: %s", log_id(inbound.sender_id), type(error).__name__)
            await self._send(inbound, self.texts.failure)
            return
        shaped = shape_reply(collector.messages)
        self.last_buttons.set(inbound.sender_id, shaped.buttons)
        for body in shaped.bodies:
            await self._send(inbound, body)

    async def _send(self, inbound: InboundSms, body: str, bypass_opt_out: bool = False) -> None:
        await self.send_to(inbound.sender_id, inbound.number, body, bypass_opt_out)

    async def send_to(self, sender_id: str, number: Optional[str], body: str,
                      bypass_opt_out: bool = False) -> bool:
        """Send one text unless the recipient opted out; True when it was handed over."""
        who = log_id(sender_id)
        if not bypass_opt_out and await self.optouts.is_opted_out(sender_id):
            logger.info("SMS to %s not sent: opted out", who)
            return False
        if not number:
            logger.warning("SMS to %s not sent: number unknown to this worker (restarted?)", who)
            return False
        try:
            await self.sender.send(sender_id, number, body)
        except SendFailed as error:
            logger.error("%s", error)
            return False
        return True

    async def send_turn(self, sender_id: str, messages: Iterable[Dict[str, Any]]) -> None:
        """Messages the bot starts itself (e.g. a reminder via Rasa's trigger_intent)."""
        shaped = shape_reply(list(messages))
        self.last_buttons.set(sender_id, shaped.buttons)
        number = self.directory.number_for(sender_id)
        for body in shaped.bodies:
            await self.send_to(sender_id, number, body)


class SmsOutputChannel(CollectingOutputChannel):
    """For bot-initiated messages: collects like Rasa's collector, then texts on flush.

    Rasa calls the send_* methods one by one; we send each immediately, shaped for SMS,
    to the number remembered for this keyed hash.
    """

    def __init__(self, service: SmsService):
        super().__init__()
        self.service = service

    @classmethod
    def name(cls) -> Text:
        return "sms"

    async def _persist_message(self, message: Dict[Text, Any]) -> None:
        await super()._persist_message(message)
        await self.service.send_turn(message.get("recipient_id", ""), [message])


class SmsInput(InputChannel):
    """Rasa input channel for Twilio SMS; credentials come from the environment."""

    @classmethod
    def name(cls) -> Text:
        return "sms"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        # credentials.yml holds no secrets here; everything is read from the environment.
        return cls(SmsSettings.from_env())

    def __init__(self, settings: Optional[SmsSettings] = None, contact: Optional[PracticeContact] = None):
        self.service = SmsService(settings or SmsSettings.from_env(), contact)
        logger.info(self.service.describe(), extra=OPERATIONAL)
        if self.service.settings.redis_url and not os.environ.get("SENDER_ID_SECRET"):
            logger.warning(
                "REDIS_URL is set (several workers?) but SENDER_ID_SECRET is not: each host "
                "would hash numbers differently. Set the same SENDER_ID_SECRET everywhere."
            )
        if self.service.settings.using_dev_token and self.service.validator is not None:
            logger.warning(
                "SMS webhook accepts requests signed with the development token; set "
                "TWILIO_AUTH_TOKEN before pointing a real Twilio number at this server."
            )

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        sms_webhook = Blueprint("sms_webhook", __name__)
        service = self.service

        @sms_webhook.listener("before_server_stop")
        async def finish_pending(*_: Any) -> None:
            await service.shutdown()

        @sms_webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @sms_webhook.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            status, body = await service.receive(
                _form_with_blanks(request),
                request.headers.get("X-Twilio-Signature"),
                on_new_message,
                query_string=request.query_string,
            )
            content_type = "text/xml" if status == 200 else "text/plain; charset=utf-8"
            return response.text(body, status=status, content_type=content_type)

        return sms_webhook

    def get_output_channel(self) -> OutputChannel:
        return SmsOutputChannel(self.service)
