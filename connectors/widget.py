"""The website widget channel: `/webhooks/widget/session` and `/webhooks/widget/ws`.

How a browser talks to it (connectors/static/widget.js is the client):
1. POST /session (from an allowed origin) with the token it already holds, if any. A valid
   token is renewed for the same conversation; otherwise a new conversation id is made up
   here and signed into a fresh token (connectors/widget_session.py).
2. It opens the WebSocket and sends {"type": "hello", "token", "after": last seq seen}. The
   server replays every message after that seq, so a reload, a second tab or a dropped
   connection misses nothing; the client ignores a seq it has already shown.
3. {"type": "message", "id": client id, "text"} -> "ack" for that id (a resent id is acked
   again but processed once), the user's message and the replies are pushed, with a seq, to
   every open tab of the conversation; "typing" frames bracket the bot's turn.
Refusals (origin, size, rate, expired session) are frames or JSON with a sentence for the
patient saying what to do next; nothing here answers with a stack trace.

A conversation ends when it has had no message for WIDGET_IDLE_MINUTES (default: Rasa's
session expiry in domain.yml, 30 minutes), as Rasa's session does: its replay transcript is
dropped, and a token for it (however recently renewed) gets a new conversation at /session and
"session_expired" at hello. On a shared computer the next person to open the chat therefore
neither sees nor continues the last patient's conversation.

The transcript kept for replay lives in this process's memory only (like Rasa's in-memory
tracker store; so does the rate limit), for at most WIDGET_MAX_CONVERSATIONS conversations:
the least recently active are forgotten first, never one with an open tab while there is
another. With several workers the load balancer must keep a browser on one worker (sticky
sessions, README "Channels"); a reload that lands elsewhere starts with an empty transcript on
screen, though the conversation itself (Rasa's tracker) carries on.

Origins: WIDGET_ALLOWED_ORIGINS (comma-separated, exact scheme://host[:port]) replaces the
default of this server's own origin plus http://localhost:PORT and http://127.0.0.1:PORT.
Behind a TLS-terminating proxy the server sees http/ws, not https: list the public origin.

Settings (environment): WIDGET_SECRET, WIDGET_ALLOWED_ORIGINS, WIDGET_TOKEN_TTL_S,
WIDGET_MAX_MESSAGE_CHARS, WIDGET_MESSAGES_PER_MINUTE, WIDGET_IDLE_MINUTES,
WIDGET_MAX_CONVERSATIONS, VAR_DIR, PORT.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Deque, Dict, List, Optional, Set, Text

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage

from connectors.sms import PracticeContact
from connectors.widget_session import OriginPolicy, RateLimiter, SessionToken, TokenSigner, WidgetSettings

__all__ = ["WidgetInput", "WidgetHub", "WidgetTexts"]

logger = logging.getLogger(__name__)

HISTORY_LIMIT = 300  # messages kept per conversation for replay
SEEN_IDS_LIMIT = 500  # client message ids remembered per conversation (resend dedupe)
HELLO_TIMEOUT_S = 10
SWEEP_EVERY_S = 60  # how often ended conversations are looked for (not on every message)
GREET_PAYLOAD = "/greet"

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


@dataclass(frozen=True)
class WidgetTexts:
    """Everything this channel says by itself (not via Rasa): what happened, what to do."""

    contact: PracticeContact

    def origin_refused(self) -> str:
        return (f"This website isn't set up to use the {self.contact.name} chat. "
                f"Please call {self.contact.phone} or use the chat on the clinic's own website. "
                "(Site owners: add this site's address to WIDGET_ALLOWED_ORIGINS.)")

    def too_long(self, limit: int) -> str:
        return (f"That message is too long for the chat (the limit is {limit:,} characters). "
                "Please shorten it or send it in parts.")

    def rate_limited(self, seconds: int) -> str:
        return (f"You're sending messages faster than the chat can take them. Please wait "
                f"{seconds} seconds and send it again. If it's urgent, call {self.contact.phone}; "
                "in an emergency call 911.")

    def session_expired(self) -> str:
        return "Your chat session ended after a long pause, so a new chat has started."

    def idle_cleared(self, minutes: int) -> str:
        return (f"This chat was cleared after {minutes} minutes without messages, to keep it "
                "private on this screen. Type a message to start a new chat.")

    def failure(self) -> str:
        return ("Sorry, something went wrong on our side. Please try again in a minute, "
                f"or call {self.contact.phone}.")

    def bad_request(self) -> str:
        return "The chat couldn't read that. Please reload the page and try again."


@dataclass
class Conversation:
    history: Deque[Dict[str, Any]] = field(default_factory=lambda: deque(maxlen=HISTORY_LIMIT))
    next_seq: int = 1
    sockets: Set[Any] = field(default_factory=set)
    seen_ids: "OrderedDict[str, None]" = field(default_factory=OrderedDict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    greeted: bool = False
    # Wall clock, to compare with the time carried in tokens. Only messages move it: a
    # reconnect or token renewal is not the patient talking.
    last_message_at: float = field(default_factory=time.time)


class WidgetHub:
    """Conversations, their open sockets and their replayable history, least recently used
    first; at most `max_conversations` of them."""

    def __init__(self, idle_s: float, max_conversations: int = 10_000):
        self.idle_s = idle_s
        self.max_conversations = max_conversations
        self._conversations: "OrderedDict[str, Conversation]" = OrderedDict()
        self._swept_at = time.time()

    def get(self, conversation_id: str, last_message_at: Optional[float] = None) -> Conversation:
        """The conversation, made if needed (with `last_message_at` from its token if given)."""
        self._sweep_if_due()
        conversation = self._conversations.get(conversation_id)
        if conversation is None:
            self._make_room_for_one()
            conversation = Conversation(last_message_at=last_message_at or time.time())
            self._conversations[conversation_id] = conversation
        self._conversations.move_to_end(conversation_id)
        return conversation

    def last_message_at(self, token: SessionToken) -> float:
        known = self._conversations.get(token.conversation_id)
        return known.last_message_at if known else token.last_message_at

    def has_ended(self, token: SessionToken) -> bool:
        """Idle past the session expiry (by what this process saw, else by what the token says)."""
        return time.time() - self.last_message_at(token) >= self.idle_s

    def _sweep_if_due(self) -> None:
        now = time.time()
        if now - self._swept_at < SWEEP_EVERY_S:
            return
        self._swept_at = now
        for key, conversation in list(self._conversations.items()):
            if now - conversation.last_message_at < self.idle_s:
                continue
            if conversation.sockets:  # a tab still open shows it anyway; a new one never will
                conversation.history.clear()
            else:
                del self._conversations[key]

    def _make_room_for_one(self) -> None:
        # Oldest first; one with an open tab is passed over (moved to the back) while others remain.
        for _ in range(len(self._conversations)):
            if len(self._conversations) < self.max_conversations:
                return
            key, oldest = next(iter(self._conversations.items()))
            if oldest.sockets:
                self._conversations.move_to_end(key)
            else:
                del self._conversations[key]

    async def publish(self, conversation_id: str, frame: Dict[str, Any]) -> None:
        """Number the message, keep it for replay, push it to every open tab."""
        conversation = self.get(conversation_id)
        frame = {**frame, "type": "msg", "seq": conversation.next_seq}
        conversation.next_seq += 1
        conversation.last_message_at = time.time()
        conversation.history.append(frame)
        await self.broadcast(conversation_id, frame)

    async def broadcast(self, conversation_id: str, frame: Dict[str, Any]) -> None:
        conversation = self.get(conversation_id)
        data = json.dumps(frame)
        for ws in list(conversation.sockets):
            try:
                await ws.send(data)
            except Exception:  # noqa: BLE001 - a closed tab; it replays from history on return
                conversation.sockets.discard(ws)

    def replay(self, conversation_id: str, after: int) -> List[Dict[str, Any]]:
        return [f for f in self.get(conversation_id).history if f["seq"] > after]


class WidgetOutputChannel(OutputChannel):
    """Rasa's replies (and bot-initiated messages) pushed to the conversation's sockets."""

    def __init__(self, hub: WidgetHub):
        self.hub = hub

    @classmethod
    def name(cls) -> Text:
        return "widget"

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        await self.hub.publish(recipient_id, {"from": "bot", "text": text})

    async def send_text_with_buttons(self, recipient_id: Text, text: Text,
                                     buttons: List[Dict[Text, Any]], **kwargs: Any) -> None:
        await self.hub.publish(recipient_id, {
            "from": "bot", "text": text,
            "buttons": [{"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
                        for b in buttons],
        })

    async def send_image_url(self, recipient_id: Text, image: Text, **kwargs: Any) -> None:
        await self.hub.publish(recipient_id, {"from": "bot", "text": f"Image: {image}"})

    async def send_attachment(self, recipient_id: Text, attachment: Text, **kwargs: Any) -> None:
        await self.hub.publish(recipient_id, {"from": "bot", "text": f"Attachment: {attachment}"})


class WidgetInput(InputChannel):
    """Rasa input channel for the website widget; settings come from the environment."""

    @classmethod
    def name(cls) -> Text:
        return "widget"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        return cls(WidgetSettings.from_env())

    def __init__(self, settings: Optional[WidgetSettings] = None, contact: Optional[PracticeContact] = None):
        self.settings = settings or WidgetSettings.from_env()
        self.texts = WidgetTexts(contact or PracticeContact.from_content())
        self.signer = TokenSigner(self.settings.secret, self.settings.token_ttl_s)
        self.origins = OriginPolicy(self.settings)
        self.limiter = RateLimiter(self.settings.messages_per_minute)
        self.hub = WidgetHub(idle_s=self.settings.idle_minutes * 60,
                             max_conversations=self.settings.max_conversations)
        logger.info("Widget channel: origins %s", ", ".join(sorted(self.settings.allowed_origins))
                    or f"this server's own + localhost:{self.settings.port}")

    def get_output_channel(self) -> OutputChannel:
        return WidgetOutputChannel(self.hub)

    # --- HTTP: session tokens ------------------------------------------------------------

    def _origin_ok(self, request: Request) -> bool:
        own = f"{request.scheme}://{request.host}".replace("ws://", "http://").replace("wss://", "https://")
        return self.origins.allows(request.headers.get("origin"), own)

    def _cors(self, request: Request) -> Dict[str, str]:
        # The refusal is readable by the refused page too, so the patient sees why.
        origin = request.headers.get("origin")
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"} if origin else {}

    def session(self, request: Request) -> HTTPResponse:
        if not self._origin_ok(request):
            logger.warning("Widget session refused for origin %r", request.headers.get("origin"))
            return response.json({"error": "origin_not_allowed", "message": self.texts.origin_refused()},
                                 status=403, headers=self._cors(request))
        try:
            # Sent as text/plain (a "simple" request: no CORS preflight needed).
            body = json.loads(request.body or b"{}")
        except (ValueError, RecursionError):  # RecursionError: JSON nested thousands deep
            body = None
        if not isinstance(body, dict):
            return response.json({"error": "bad_request", "message": self.texts.bad_request()},
                                 status=400, headers=self._cors(request))
        previous = body.get("token")
        token = self.signer.read(previous)
        if token is not None and self.hub.has_ended(token):
            # The conversation ended (as Rasa's session did): whoever is at this browser now
            # starts a new one rather than seeing or continuing it.
            logger.info("Widget conversation idle past the session expiry: starting a new one")
            token = None
        if token is None:
            issued = self.signer.issue()
        else:
            issued = self.signer.issue(token.conversation_id, last_message_at=self.hub.last_message_at(token))
        issued.update({
            "renewed": token is not None,
            "expired": bool(previous) and token is None,
            "expired_message": self.texts.session_expired(),
            # The page clears its transcript itself once the conversation has been idle this
            # long, so a tab left open on a shared screen does not keep showing it.
            "idle_s": self.settings.idle_minutes * 60,
            "idle_message": self.texts.idle_cleared(self.settings.idle_minutes),
            "max_chars": self.settings.max_message_chars,
        })
        return response.json(issued, headers={**self._cors(request), "Cache-Control": "no-store"})

    # --- WebSocket -------------------------------------------------------------------------

    async def _send(self, ws: Any, frame: Dict[str, Any]) -> None:
        await ws.send(json.dumps(frame))

    async def _error(self, ws: Any, code: str, text: str, **extra: Any) -> None:
        await self._send(ws, {"type": "error", "code": code, "text": text, **extra})

    async def socket(self, request: Request, ws: Any, on_new_message: OnNewMessage) -> None:
        if not self._origin_ok(request):
            await self._error(ws, "origin_not_allowed", self.texts.origin_refused())
            await ws.close(4403, "origin not allowed")
            return
        try:
            hello = json.loads(await asyncio.wait_for(ws.recv(), HELLO_TIMEOUT_S) or "{}")
        except (asyncio.TimeoutError, ValueError, TypeError, RecursionError):
            await ws.close(4400, "expected hello")
            return
        token = self.signer.read(hello.get("token")) if isinstance(hello, dict) else None
        if token is None or self.hub.has_ended(token):
            # widget.js drops its token and asks /session for a new conversation.
            await self._error(ws, "session_expired", self.texts.session_expired())
            await ws.close(4401, "session expired")
            return
        conversation_id = token.conversation_id
        conversation = self.hub.get(conversation_id, last_message_at=token.last_message_at)
        try:
            after = hello.get("after") if isinstance(hello.get("after"), int) else 0
            await self._send(ws, {"type": "ready", "last_seq": conversation.next_seq - 1})
            conversation = await self._catch_up(ws, conversation_id, after)
            while True:
                raw = await ws.recv()
                if raw is None:
                    break
                await self._receive(ws, conversation_id, raw, on_new_message)
        except Exception as error:  # noqa: BLE001 - ConnectionClosed and friends: the tab went away
            logger.debug("Widget socket for a conversation closed: %s", type(error).__name__)
        finally:
            conversation.sockets.discard(ws)

    async def _catch_up(self, ws: Any, conversation_id: str, after: int) -> Conversation:
        """Replay everything after `after`, then join the live tabs. Joining only once nothing
        is left to replay (no await between that check and the join) keeps the tab's messages
        in order: a live one never overtakes an older replayed one."""
        while True:
            missed = self.hub.replay(conversation_id, after)
            if not missed:
                conversation = self.hub.get(conversation_id)
                conversation.sockets.add(ws)
                return conversation
            for frame in missed:
                await self._send(ws, frame)
                after = frame["seq"]

    async def _receive(self, ws: Any, conversation_id: str, raw: Any, on_new_message: OnNewMessage) -> None:
        try:
            frame = json.loads(raw)
            assert isinstance(frame, dict)
        except (ValueError, TypeError, AssertionError, RecursionError):
            await self._error(ws, "bad_request", self.texts.bad_request())
            return
        kind = frame.get("type")
        if kind == "ping":
            await self._send(ws, {"type": "pong"})
            return
        conversation = self.hub.get(conversation_id)
        if kind == "start":
            # A new conversation opens with the greeting (it carries the AI disclosure); only
            # once, however many tabs ask.
            if not conversation.greeted and not conversation.history:
                conversation.greeted = True
                await self._turn(conversation_id, GREET_PAYLOAD, on_new_message, ws)
            return
        if kind != "message":
            return
        client_id, text = str(frame.get("id") or "")[:64], frame.get("text")
        if not client_id or not isinstance(text, str) or not text.strip():
            await self._error(ws, "bad_request", self.texts.bad_request(), id=client_id)
            return
        if client_id in conversation.seen_ids:  # a resend after a reconnect
            await self._send(ws, {"type": "ack", "id": client_id})
            return
        if len(text) > self.settings.max_message_chars:
            await self._error(ws, "too_long", self.texts.too_long(self.settings.max_message_chars), id=client_id)
            return
        wait = self.limiter.retry_after(conversation_id)
        if wait:
            await self._error(ws, "rate_limited", self.texts.rate_limited(wait), id=client_id, retry_after=wait)
            return
        conversation.seen_ids[client_id] = None
        while len(conversation.seen_ids) > SEEN_IDS_LIMIT:
            conversation.seen_ids.popitem(last=False)
        await self._send(ws, {"type": "ack", "id": client_id})
        shown = frame.get("title") if isinstance(frame.get("title"), str) else None
        await self.hub.publish(conversation_id, {"from": "user", "id": client_id,
                                                 "text": (shown or text)[: self.settings.max_message_chars]})
        # Its own task: a copy of this context, so the known values bound for log redaction
        # belong to this message only and do not pile up on the socket's task.
        await asyncio.get_running_loop().create_task(
            self._turn(conversation_id, text.strip(), on_new_message, ws))

    async def _turn(self, conversation_id: str, text: str, on_new_message: OnNewMessage, ws: Any) -> None:
        from privacy.conversation import message_known_values
        from privacy.logging import add_known_values

        # WebSocket frames skip bot/server.py's HTTP middleware: bind the text here instead.
        add_known_values(message_known_values(text))
        conversation = self.hub.get(conversation_id)
        async with conversation.lock:  # one turn at a time per conversation, across tabs
            await self.hub.broadcast(conversation_id, {"type": "typing", "on": True})
            try:
                await on_new_message(UserMessage(
                    text, WidgetOutputChannel(self.hub), sender_id=conversation_id,
                    input_channel=self.name(), metadata={"channel_role": "patient"},
                ))
            except Exception as error:  # noqa: BLE001 - the patient gets a sentence, not a trace
                logger.error("Widget turn failed in Rasa: %s", type(error).__name__)
                await self.hub.publish(conversation_id, {"from": "bot", "text": self.texts.failure()})
            finally:
                await self.hub.broadcast(conversation_id, {"type": "typing", "on": False})

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        widget = Blueprint("widget_webhook", __name__)

        @widget.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @widget.route("/session", methods=["POST"])
        async def session(request: Request) -> HTTPResponse:
            return self.session(request)

        @widget.websocket("/ws")
        async def socket(request: Request, ws: Any) -> None:
            await self.socket(request, ws, on_new_message)

        return widget
