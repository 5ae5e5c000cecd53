"""The Slack channel for practice staff: `/webhooks/slack/webhook` (Slack's Events API).

What it does:
- every request's X-Slack-Signature (`v0=` HMAC-SHA256 of `v0:{timestamp}:{raw body}` with
  SLACK_SIGNING_SECRET) is checked, and a timestamp more than 5 minutes old or ahead is
  refused (401). Without SLACK_SIGNING_SECRET the channel refuses every request (403);
- Slack's `url_verification` challenge is answered (signed requests only);
- events are acknowledged at once (Slack wants a 2xx within 3 s and retries otherwise) and
  the conversation runs in a background task; a retried or repeated event_id is handled once.
  The dedupe memory is per worker (bounded, 24 h TTL); with REDIS_URL it is shared in Redis;
- only the workspace SLACK_TEAM_ID is served (events from any other team, or from a user of
  another organisation in a shared channel, are acknowledged and dropped; without
  SLACK_TEAM_ID nothing is answered). If SLACK_CHANNELS (comma-separated channel ids) is set,
  mentions are answered in those channels only. Direct messages are answered unless
  SLACK_ALLOW_DMS=false: a DM is already private to one staff member of this workspace.
  If SLACK_STAFF_USERS (comma-separated user ids) is set, only those people are answered,
  in channels and DMs alike: a workspace can hold guests (contractors, vendors) who must not
  list the queues or resume a patient's conversation;
- answered: `app_mention` events and direct messages (`message` with channel_type `im`).
  Anything from a bot (bot_id, any subtype such as bot_message or message_changed, or the
  app's own user) is ignored, so the bot never answers itself;
- the message goes to Rasa without the bot's `<@U…>` mention, with metadata
  {"channel_role": "staff", "slack_channel": <channel id>, "thread_ts": <thread>, "slack_dm": bool};
  the sender id is a keyed hash of team + user (SENDER_ID_SECRET, as for SMS);
- the reply goes in thread (the event's thread_ts, else its ts) through chat.postMessage with
  SLACK_BOT_TOKEN, or to $VAR_DIR/outbox/slack_replies.jsonl (redacted) without it. Buttons
  become a numbered list and a typed number picks that button.

Settings (environment): SLACK_SIGNING_SECRET, SLACK_TEAM_ID, SLACK_CHANNELS, SLACK_ALLOW_DMS,
SLACK_STAFF_USERS, SLACK_BOT_TOKEN, SLACK_API_BASE_URL (tests), SENDER_ID_SECRET, REDIS_URL, VAR_DIR.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, FrozenSet, Iterable, List, Mapping, Optional, Set, Text, Tuple

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, OutputChannel, UserMessage

from bot.channel_roles import KEPT_INTENTS, STAFF_COMMAND
from connectors.slack_outbound import SlackApiSender, SlackOutboxSender, SlackSendFailed, render_turn
from connectors.sms_state import LastButtons, MessageDeduper, TtlLru, load_or_create_secret
from connectors.sms_text import payload_for_reply

__all__ = ["SlackInput", "SlackSettings", "SlackService", "message_texts", "signature_problem", "strip_bot_mentions"]

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
WEBHOOK_PATH = "/webhooks/slack/webhook"
MAX_CLOCK_SKEW_S = 5 * 60
# Intent payloads a staff message may carry as is (see staff_payload_allowed).
STAFF_PAYLOAD_INTENTS = frozenset(KEPT_INTENTS | {STAFF_COMMAND})
# Event payloads are a few KB (a message is at most 40,000 characters); far larger is not Slack.
MAX_BODY_BYTES = 512 * 1024
SENDER_PREFIX = "slack_"
ACK: Dict[str, Any] = {"ok": True}
FAILURE_TEXT = "Sorry, something went wrong on my side. Please try again in a minute."
_FALSE = {"false", "0", "no", "off"}
_TRUE = {"true", "1", "yes", "on"}


def _flag(name: str, raw: Optional[str], default: bool) -> bool:
    value = (raw or "").strip().lower()
    if not value:
        return default
    if value in _FALSE | _TRUE:
        return value in _TRUE
    logger.warning("%s=%r is neither true nor false; using %s.", name, raw, str(default).lower())
    return default


@dataclass(frozen=True)
class SlackSettings:
    var_dir: Path
    signing_secret: Optional[str] = field(repr=False)
    team_id: Optional[str]
    channels: FrozenSet[str]  # empty: any channel the bot has been invited to
    allow_dms: bool
    bot_token: Optional[str] = field(repr=False)
    sender_secret: bytes = field(repr=False)
    staff_users: FrozenSet[str] = frozenset()  # empty: anyone in the workspace
    redis_url: Optional[str] = None
    api_base: str = "https://slack.com/api"

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "SlackSettings":
        env = os.environ if env is None else env
        var_dir = Path(env.get("VAR_DIR") or REPO_ROOT / "var").resolve()
        channels = frozenset(c.strip() for c in (env.get("SLACK_CHANNELS") or "").split(",") if c.strip())
        return cls(
            var_dir=var_dir,
            signing_secret=(env.get("SLACK_SIGNING_SECRET") or "").strip() or None,
            team_id=(env.get("SLACK_TEAM_ID") or "").strip() or None,
            channels=channels,
            allow_dms=_flag("SLACK_ALLOW_DMS", env.get("SLACK_ALLOW_DMS"), True),
            staff_users=frozenset(u.strip() for u in (env.get("SLACK_STAFF_USERS") or "").split(",") if u.strip()),
            bot_token=(env.get("SLACK_BOT_TOKEN") or "").strip() or None,
            sender_secret=load_or_create_secret(var_dir, env.get("SENDER_ID_SECRET") or None),
            redis_url=env.get("REDIS_URL") or None,
            api_base=env.get("SLACK_API_BASE_URL") or "https://slack.com/api",
        )

    @property
    def outbox_path(self) -> Path:
        return self.var_dir / "outbox" / "slack_replies.jsonl"


def staff_payload_allowed(payload: str) -> bool:
    """Whether an intent payload ("/staff_faq/pto", "/affirm") may be sent as is from Slack.
    Rasa reads text starting with "/" as an intent and runs it after the staff channel's
    intent rules (bot.channel_roles), so a patient intent's payload ("/request_refill") would
    open a patient flow in Slack: only staff-channel intents pass."""
    name = re.match(r"/([A-Za-z0-9_-]+)", payload or "")
    return bool(name) and name.group(1) in STAFF_PAYLOAD_INTENTS


def staff_text(text: str) -> str:
    """A staff message whose leading "/" would make Rasa read it as a patient intent: read as
    words instead (the slashes dropped)."""
    return text.lstrip().lstrip("/").lstrip() if text.lstrip().startswith("/") else text


def signature_problem(secret: str, timestamp: Optional[str], signature: Optional[str],
                      body: bytes, now: float) -> Optional[str]:
    """Why this request is not from Slack (for the log), or None when it is."""
    if not timestamp or not signature:
        return "missing X-Slack-Request-Timestamp or X-Slack-Signature"
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
        return "malformed timestamp"
    age = now - int(timestamp)
    if age > MAX_CLOCK_SKEW_S:
        return f"timestamp {int(age)}s old (a replay, or this server's clock is wrong)"
    if -age > MAX_CLOCK_SKEW_S:
        return f"timestamp {int(-age)}s in the future (is this server's clock right?)"
    signed = b"v0:" + timestamp.encode("ascii") + b":" + body
    expected = "v0=" + hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", "replace")):
        return "wrong signature (is SLACK_SIGNING_SECRET this app's signing secret?)"
    return None


_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_LEADING_MENTION = re.compile(r"^\s*<@[UW][A-Z0-9]+(?:\|[^>]*)?>")


def strip_bot_mentions(text: str, bot_user_ids: Iterable[str] = ()) -> str:
    """The message as the staff member meant it: without the bot's own mention (anywhere),
    Slack's &amp;/&lt;/&gt; escapes undone, whitespace collapsed. Other mentions stay."""
    bots = set(bot_user_ids)
    if bots:
        text = _MENTION.sub(lambda m: " " if m.group(1) in bots else m.group(0), text)
    else:  # no authorizations in the payload: an app_mention starts with the bot's mention
        text = _LEADING_MENTION.sub(" ", text, count=1)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return " ".join(text.split())


def _bot_user_ids(payload: Mapping[str, Any]) -> Set[str]:
    return {a.get("user_id") for a in payload.get("authorizations") or []
            if isinstance(a, dict) and a.get("is_bot") and a.get("user_id")}


def message_texts(payload: Any) -> List[str]:
    """A Slack event's message as received and as Rasa will see it: bot/server.py binds
    both as known values so log redaction removes them verbatim wherever they appear."""
    event = payload.get("event") if isinstance(payload, dict) else None
    if not isinstance(event, dict) or not isinstance(event.get("text"), str):
        return []
    return [event["text"], strip_bot_mentions(event["text"], _bot_user_ids(payload))]


def slack_sender_id(secret: bytes, team_id: str, user_id: str) -> str:
    """Keyed hash of the Slack user, with the SMS channel's secret. (sms_state.keyed_sender_id
    cannot be reused as is: it normalises phone numbers, keeping only digits.)"""
    digest = hmac.new(secret, f"slack:{team_id}:{user_id}".encode("utf-8"), hashlib.sha256)
    return SENDER_PREFIX + digest.hexdigest()[:32]


def log_id(sender_id: str) -> str:
    return sender_id[len(SENDER_PREFIX):][:8]


@dataclass
class StaffMessage:
    """One Slack event this channel answers."""

    event_id: str
    sender_id: str
    channel: str
    ts: str
    thread_ts: str
    is_dm: bool
    text: str = field(repr=False)


OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


class SlackService:
    """The channel's behaviour, independent of Sanic so it can be tested directly."""

    def __init__(self, settings: SlackSettings, clock: Callable[[], float] = time.time):
        self.settings = settings
        self.clock = clock
        # Slack retries after 3 s, 1 min and 5 min; a day's memory is ample.
        self.deduper = MessageDeduper(redis_url=settings.redis_url, key_prefix="clinic:slack:")
        self.last_buttons = LastButtons()
        # sender -> (channel, thread_ts) of their latest message, for bot-initiated messages.
        self.threads: TtlLru[Tuple[str, str]] = TtlLru(10_000, 24 * 3600)
        self.sender: Any
        if settings.bot_token:
            self.sender = SlackApiSender(settings.bot_token, api_base=settings.api_base)
        else:
            self.sender = SlackOutboxSender(settings.outbox_path)
        self._tasks: Set[asyncio.Task] = set()
        self._sender_locks: Dict[str, list] = {}  # sender -> [lock, users]

    def describe(self) -> str:
        if not self.settings.signing_secret:
            return "Slack channel: DISABLED (no SLACK_SIGNING_SECRET), every request refused"
        transport = "chat.postMessage" if self.settings.bot_token else f"outbox {self.settings.outbox_path}"
        where = ", ".join(sorted(self.settings.channels)) if self.settings.channels else "any channel it is in"
        dms = "and direct messages" if self.settings.allow_dms else "no direct messages"
        who = f"{len(self.settings.staff_users)} listed staff users" if self.settings.staff_users else "anyone in it"
        return (f"Slack channel: workspace {self.settings.team_id or '(none: SLACK_TEAM_ID unset)'} ({who}), "
                f"mentions in {where}, {dms}; replies via {transport}")

    # --- the webhook ------------------------------------------------------------------

    async def receive(self, body: bytes, headers: Mapping[str, str],
                      on_new_message: OnNewMessage) -> Tuple[int, Dict[str, Any]]:
        """Authenticate, filter, dedupe and schedule one request; returns (status, JSON body)
        at once. Error bodies are short and never echo the request."""
        if not self.settings.signing_secret:
            return 403, {"error": "The Slack channel is not configured on this server."}
        if len(body) > MAX_BODY_BYTES:
            logger.warning("Slack webhook refused: body of %d bytes", len(body))
            return 413, {"error": "Request body too large."}
        lowered = {k.lower(): v for k, v in headers.items()}
        problem = signature_problem(
            self.settings.signing_secret, lowered.get("x-slack-request-timestamp"),
            lowered.get("x-slack-signature"), body, self.clock(),
        )
        if problem:
            logger.warning("Slack webhook refused: %s", problem)
            return 401, {"error": "Invalid or expired Slack signature."}
        try:
            payload = json.loads(body)
        except ValueError:  # includes bad UTF-8
            return 400, {"error": "The body is not JSON."}
        if not isinstance(payload, dict):
            return 400, {"error": "The body is not a Slack event."}

        kind = payload.get("type")
        if kind == "url_verification":
            challenge = payload.get("challenge")
            if not isinstance(challenge, str):
                return 400, {"error": "url_verification without a challenge."}
            logger.info("Slack URL verification answered")
            return 200, {"challenge": challenge}
        if kind != "event_callback":  # e.g. app_rate_limited: nothing to do
            return 200, ACK
        message = self.answerable(payload)
        if message is None:
            return 200, ACK
        retry = lowered.get("x-slack-retry-num")
        # Also keyed by channel + ts: the same message can arrive as two different events.
        if (message.event_id and not await self.deduper.first_time("event:" + message.event_id)) \
                or not await self.deduper.first_time(f"msg:{message.channel}:{message.ts}"):
            logger.info("Slack event %s already handled (retry %s)", message.event_id, retry or "-")
            return 200, ACK
        task = asyncio.get_running_loop().create_task(self._process_in_order(message, on_new_message))
        self._tasks.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._tasks.discard)
        return 200, ACK

    def answerable(self, payload: Mapping[str, Any]) -> Optional[StaffMessage]:
        """The event as a message to answer, or None (with the reason logged, never the text)."""
        event = payload.get("event")
        event_id = str(payload.get("event_id") or "")
        if not isinstance(event, dict):
            return None
        team = self.settings.team_id
        if not team or payload.get("team_id") != team:
            logger.info("Slack event %s ignored: not from the configured workspace", event_id)
            return None
        kind, channel = event.get("type"), event.get("channel")
        is_dm = kind == "message" and event.get("channel_type") == "im"
        if kind != "app_mention" and not is_dm:
            return None
        bots = _bot_user_ids(payload)
        user = event.get("user")
        if event.get("bot_id") or event.get("subtype") or not user or user in bots:
            return None  # bots (ourselves included), edits, deletions, joins ...
        if (event.get("user_team") or event.get("team") or team) != team:
            logger.info("Slack event %s ignored: user from another organisation", event_id)
            return None
        if not isinstance(channel, str) or not channel or not event.get("ts"):
            return None
        if self.settings.staff_users and user not in self.settings.staff_users:
            logger.info("Slack event %s ignored: user not in SLACK_STAFF_USERS", event_id)
            return None
        if is_dm and not self.settings.allow_dms:
            logger.info("Slack DM %s ignored: SLACK_ALLOW_DMS=false", event_id)
            return None
        if not is_dm and self.settings.channels and channel not in self.settings.channels:
            logger.info("Slack mention %s ignored: channel %s is not in SLACK_CHANNELS", event_id, channel)
            return None
        text = strip_bot_mentions(str(event.get("text") or ""), bots)
        if not text:
            return None
        ts = str(event["ts"])
        return StaffMessage(
            event_id=event_id,
            sender_id=slack_sender_id(self.settings.sender_secret, team, str(user)),
            channel=channel,
            ts=ts,
            thread_ts=str(event.get("thread_ts") or ts),
            is_dm=is_dm,
            text=text,
        )

    async def drain(self) -> None:
        """Wait for background work (tests; graceful shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def shutdown(self, grace_seconds: float = 10.0) -> None:
        try:
            await asyncio.wait_for(self.drain(), timeout=grace_seconds)
        except asyncio.TimeoutError:
            logger.warning("Slack: %d conversations still running at shutdown", len(self._tasks))
        await self.sender.close()

    # --- background processing -----------------------------------------------------------

    async def _process_in_order(self, message: StaffMessage, on_new_message: OnNewMessage) -> None:
        # One person's messages are handled one at a time so replies cannot overtake each other.
        entry = self._sender_locks.setdefault(message.sender_id, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                await self._converse(message, on_new_message)
        except Exception as error:  # never let a background failure vanish silently
            logger.error("Slack event %s from %s failed: %s", message.event_id,
                         log_id(message.sender_id), type(error).__name__)
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                self._sender_locks.pop(message.sender_id, None)

    async def _converse(self, message: StaffMessage, on_new_message: OnNewMessage) -> None:
        buttons_key = f"{message.sender_id}:{message.thread_ts}"
        chosen = payload_for_reply(message.text, self.last_buttons.get(buttons_key))
        if chosen and not staff_payload_allowed(chosen):
            chosen = None  # a patient intent's payload would skip the staff channel's rules
        text = message.text if staff_payload_allowed(message.text.strip()) else staff_text(message.text)
        self.threads.set(message.sender_id, (message.channel, message.thread_ts))
        collector = CollectingOutputChannel()
        logger.info("Slack %s from %s in %s: %d chars", "DM" if message.is_dm else "mention",
                    log_id(message.sender_id), message.channel, len(message.text))
        try:
            await on_new_message(UserMessage(
                chosen or text,
                collector,
                sender_id=message.sender_id,
                input_channel=SlackInput.name(),
                metadata={
                    "channel_role": "staff",
                    "slack_channel": message.channel,
                    "thread_ts": message.thread_ts,
                    "slack_dm": message.is_dm,
                },
            ))
        except Exception as error:
            logger.error("Slack turn for %s failed in Rasa: %s", log_id(message.sender_id), type(error).__name__)
            await self.post(message.channel, message.thread_ts, FAILURE_TEXT)
            return
        text, buttons = render_turn(collector.messages)
        self.last_buttons.set(buttons_key, buttons)
        if text:
            await self.post(message.channel, message.thread_ts, text)

    async def post(self, channel: str, thread_ts: Optional[str], text: str) -> bool:
        try:
            await self.sender.post(channel, thread_ts, text)
        except SlackSendFailed as error:
            logger.error("%s", error)
            return False
        return True

    async def send_turn(self, sender_id: str, messages: Iterable[Dict[str, Any]]) -> None:
        """Messages the bot starts itself: into the thread this person last wrote in."""
        where = self.threads.get(sender_id)
        if where is None:
            logger.warning("Slack message for %s not sent: no recent thread on this worker", log_id(sender_id))
            return
        text, buttons = render_turn(list(messages))
        self.last_buttons.set(f"{sender_id}:{where[1]}", buttons)
        if text:
            await self.post(where[0], where[1], text)


class SlackOutputChannel(CollectingOutputChannel):
    """For bot-initiated messages (e.g. Rasa's trigger_intent API with output_channel=slack)."""

    def __init__(self, service: SlackService):
        super().__init__()
        self.service = service

    @classmethod
    def name(cls) -> Text:
        return "slack"

    async def _persist_message(self, message: Dict[Text, Any]) -> None:
        await super()._persist_message(message)
        await self.service.send_turn(message.get("recipient_id", ""), [message])


class SlackInput(InputChannel):
    """Rasa input channel for Slack's Events API; settings come from the environment."""

    @classmethod
    def name(cls) -> Text:
        return "slack"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        # credentials.yml holds no secrets here; everything is read from the environment.
        return cls(SlackSettings.from_env())

    def __init__(self, settings: Optional[SlackSettings] = None):
        self.service = SlackService(settings or SlackSettings.from_env())
        settings = self.service.settings
        if not settings.signing_secret:
            logger.warning(
                "SLACK_SIGNING_SECRET is not set: %s refuses every request. Set it to the "
                "Signing Secret on your Slack app's Basic Information page.", WEBHOOK_PATH,
            )
            return
        logger.info(self.service.describe())
        if not settings.team_id:
            logger.warning(
                "SLACK_TEAM_ID is not set: Slack events are acknowledged but none is answered. "
                "Set it to your workspace id (T...)."
            )

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        slack_webhook = Blueprint("slack_webhook", __name__)
        service = self.service

        @slack_webhook.listener("before_server_stop")
        async def finish_pending(*_: Any) -> None:
            await service.shutdown()

        @slack_webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @slack_webhook.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            status, body = await service.receive(request.body or b"", request.headers, on_new_message)
            # Retrying a malformed or oversized body cannot help.
            headers = {"X-Slack-No-Retry": "1"} if status in (400, 413) else None
            return response.json(body, status=status, headers=headers)

        return slack_webhook

    def get_output_channel(self) -> OutputChannel:
        return SlackOutputChannel(self.service)
