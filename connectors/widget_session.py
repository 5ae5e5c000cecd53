"""What the website widget channel checks before a message reaches Rasa: signed session
tokens, the origin allow-list, the per-session rate limit and the message size limit.

A token is `base64url(json{"c": conversation id, "e": expiry, "m": last message time})` + "."
+ HMAC-SHA256 of that part, keyed with WIDGET_SECRET (or a development secret generated once
into $VAR_DIR). The conversation id is the Rasa sender id: the server makes it up, the browser
only holds it inside a token it cannot forge. "m" is when the conversation last had a message
as the server knew it at issue; a renewal does not move it, so a worker that has restarted (or
never saw the conversation) can still tell that it has been idle past the session expiry.

The idle limit is Rasa's own session expiry (domain.yml `session_config:
session_expiration_time`, minutes), or WIDGET_IDLE_MINUTES when set; 30 when neither is.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Deque, Dict, FrozenSet, Mapping, Optional

import yaml

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
CONVERSATION_PREFIX = "web_"


@dataclass(frozen=True)
class WidgetSettings:
    secret: bytes = field(repr=False)
    allowed_origins: FrozenSet[str]  # empty: the server's own origin + localhost:PORT only
    port: str = "5005"
    token_ttl_s: int = 4 * 3600  # a token is renewed on every (re)connect while it is valid
    max_message_chars: int = 2000
    messages_per_minute: int = 20
    idle_minutes: int = 30  # after this long without a message the conversation is over
    max_conversations: int = 10_000  # kept in memory for replay; the least recently active go first

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "WidgetSettings":
        env = os.environ if env is None else env
        var_dir = Path(env.get("VAR_DIR") or REPO_ROOT / "var").resolve()
        origins = {o.strip().rstrip("/") for o in (env.get("WIDGET_ALLOWED_ORIGINS") or "").split(",")}
        return cls(
            secret=_widget_secret(var_dir, env.get("WIDGET_SECRET") or None),
            allowed_origins=frozenset(o for o in origins if o),
            port=env.get("PORT", "5005"),
            token_ttl_s=int(env.get("WIDGET_TOKEN_TTL_S") or 4 * 3600),
            max_message_chars=int(env.get("WIDGET_MAX_MESSAGE_CHARS") or 2000),
            messages_per_minute=int(env.get("WIDGET_MESSAGES_PER_MINUTE") or 20),
            idle_minutes=int(env.get("WIDGET_IDLE_MINUTES") or _rasa_session_minutes() or 30),
            max_conversations=int(env.get("WIDGET_MAX_CONVERSATIONS") or 10_000),
        )


def _rasa_session_minutes(domain: Path = REPO_ROOT / "domain.yml") -> Optional[int]:
    """domain.yml's session_expiration_time, so a web chat ends when Rasa's session does (and
    its verified identity with it). None when it is missing or 0 (Rasa: never expires)."""
    try:
        minutes = (yaml.safe_load(domain.read_text(encoding="utf-8")) or {})["session_config"]["session_expiration_time"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return None
    return int(minutes) if isinstance(minutes, (int, float)) and minutes > 0 else None


def _widget_secret(var_dir: Path, from_env: Optional[str]) -> bytes:
    """WIDGET_SECRET, or (development) a random one generated once into
    $VAR_DIR/widget_secret (0600), the way connectors/sms_state.py does for SMS. Losing it
    only ends open web chats: every browser then starts a new conversation."""
    if from_env:
        return from_env.encode("utf-8")
    path = var_dir / "widget_secret"
    var_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        value = path.read_text(encoding="utf-8").strip()
        if value:
            return value.encode("utf-8")
        raise SystemExit(f"{path} is empty. Delete it (open web chats restart) or set WIDGET_SECRET.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_hex(32))
    logger.warning("WIDGET_SECRET is not set: generated a development secret in %s. In "
                   "production give WIDGET_SECRET a value (the same on every Rasa worker).", path)
    return path.read_text(encoding="utf-8").strip().encode("utf-8")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class SessionToken:
    conversation_id: str
    last_message_at: float  # wall-clock time of the conversation's last message, as of issue


class TokenSigner:
    def __init__(self, secret: bytes, ttl_s: int):
        self._key = hmac.new(secret, b"widget-session-token", hashlib.sha256).digest()
        self.ttl_s = ttl_s

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest())

    def issue(self, conversation_id: Optional[str] = None, now: Optional[float] = None,
              last_message_at: Optional[float] = None) -> Dict[str, object]:
        """A token for this conversation (a new one when None). `last_message_at` defaults to
        now: a new conversation starts its idle clock when it is made up."""
        conversation_id = conversation_id or CONVERSATION_PREFIX + secrets.token_hex(16)
        now = now or time.time()
        claims = {"c": conversation_id, "e": int(now + self.ttl_s), "m": int(last_message_at or now)}
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return {"token": f"{body}.{self._mac(body)}", "conversation_id": conversation_id, "expires_at": claims["e"]}

    def read(self, token: object, now: Optional[float] = None) -> Optional[SessionToken]:
        """What a genuine, unexpired token says; None for anything else, however malformed."""
        # Ours are short ASCII: anything else is not worth a MAC (which would raise on it).
        if not isinstance(token, str) or not token.isascii() or token.count(".") != 1 or len(token) > 512:
            return None
        body, mac = token.split(".")
        if not hmac.compare_digest(self._mac(body), mac):
            return None
        try:
            claims = json.loads(_unb64(body))
            expires = int(claims["e"])
            conversation_id = claims["c"]
            # Tokens issued before "m" existed: count from their issue.
            last_message_at = float(claims.get("m", expires - self.ttl_s))
        except (ValueError, TypeError, KeyError):
            return None
        if expires < (now or time.time()):
            return None
        if not isinstance(conversation_id, str) or not conversation_id.startswith(CONVERSATION_PREFIX):
            return None
        return SessionToken(conversation_id, last_message_at)

    def verify(self, token: object, now: Optional[float] = None) -> Optional[str]:
        """The conversation id in a genuine, unexpired token; None otherwise."""
        read = self.read(token, now)
        return read.conversation_id if read else None


class OriginPolicy:
    def __init__(self, settings: WidgetSettings):
        self.configured = settings.allowed_origins
        self.local = frozenset({f"http://localhost:{settings.port}", f"http://127.0.0.1:{settings.port}"})

    def allows(self, origin: Optional[str], own_origin: str) -> bool:
        """A browser always sends Origin on the session POST and the WebSocket upgrade; a
        request without one is not from a page and gets nothing."""
        if not origin:
            return False
        origin = origin.rstrip("/")
        if self.configured:
            return origin in self.configured
        return origin == own_origin or origin in self.local


class RateLimiter:
    """Sliding one-minute window per conversation (all tabs of it together)."""

    def __init__(self, per_minute: int, window_s: float = 60.0):
        self.per_minute = per_minute
        self.window_s = window_s
        self._seen: Dict[str, Deque[float]] = {}

    def retry_after(self, key: str, now: Optional[float] = None) -> int:
        """0 when this message may go through (and counts it); else seconds to wait."""
        now = time.monotonic() if now is None else now
        if len(self._seen) > 10_000:  # forget conversations quiet for a whole window
            for stale in [k for k, d in self._seen.items() if not d or d[-1] <= now - self.window_s]:
                del self._seen[stale]
        seen = self._seen.setdefault(key, deque())
        while seen and seen[0] <= now - self.window_s:
            seen.popleft()
        if len(seen) >= self.per_minute:
            return max(1, int(seen[0] + self.window_s - now + 0.999))
        seen.append(now)
        return 0

    def forget(self, key: str) -> None:
        self._seen.pop(key, None)
