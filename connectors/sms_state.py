"""State the SMS channel keeps: keyed-hash sender ids, opt-outs, seen MessageSids, and the
in-memory hash -> number directory needed to reply.

Phone numbers are never written anywhere durable: the opt-out table and every log line use
the keyed hash (HMAC-SHA256 with SENDER_ID_SECRET), which cannot be reversed or re-derived
without the secret.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import secrets
import sqlite3
import time
from collections import OrderedDict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Generic, List, Optional, TypeVar

logger = logging.getLogger(__name__)

SENDER_PREFIX = "sms_"


def load_or_create_secret(var_dir: Path, from_env: Optional[str]) -> bytes:
    """SENDER_ID_SECRET, or (development) a random one generated once into
    $VAR_DIR/sender_id_secret (0600). Losing it orphans every SMS conversation and opt-out."""
    if from_env:
        return from_env.encode("utf-8")
    path = var_dir / "sender_id_secret"
    var_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        value = path.read_text(encoding="utf-8").strip()
        if not value:
            raise SystemExit(
                f"{path} is empty. Delete it to generate a new SMS sender-id secret, or set "
                "SENDER_ID_SECRET (existing SMS opt-outs are keyed by the old secret)."
            )
        return value.encode("utf-8")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_hex(32))
    logger.warning(
        "SENDER_ID_SECRET is not set: generated a development secret in %s. Set "
        "SENDER_ID_SECRET in production (and the same value on every Rasa worker).", path
    )
    return path.read_text(encoding="utf-8").strip().encode("utf-8")


def normalise_number(number: str) -> str:
    """Twilio sends E.164 (+15550100); drop spaces/dashes so a number hashes one way."""
    return "".join(ch for ch in number.strip() if ch.isdigit() or ch == "+")


def keyed_sender_id(secret: bytes, number: str) -> str:
    digest = hmac.new(secret, normalise_number(number).encode("utf-8"), hashlib.sha256)
    return SENDER_PREFIX + digest.hexdigest()[:32]


def fernet_for(secret: bytes, purpose: bytes):
    """A Fernet cipher keyed from the deployment secret, one key per purpose (so a token made
    for one use cannot be read as another)."""
    import base64

    from cryptography.fernet import Fernet

    key = hmac.new(secret, purpose, hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def _token_cipher(secret: bytes):
    return fernet_for(secret, b"sms-sender-token")


def sender_token(secret: bytes, number: str) -> str:
    """The sender's number, encrypted for the action server (message metadata), so that an
    SMS identity check can compare it with the phone on file. Tracker stores only ever see
    this ciphertext, never the number."""
    return _token_cipher(secret).encrypt(normalise_number(number).encode("utf-8")).decode("ascii")


def read_sender_token(secret: bytes, token: str, max_age_seconds: int = 3600) -> Optional[str]:
    """The number inside a sender token, or None if it is not one of ours or too old."""
    from cryptography.fernet import InvalidToken

    try:
        return _token_cipher(secret).decrypt(token.encode("ascii"), ttl=max_age_seconds).decode("utf-8")
    except (InvalidToken, ValueError, UnicodeError):
        return None


def log_id(sender_id: str) -> str:
    """What a log line may carry about a sender: a short prefix of the keyed hash."""
    return sender_id[len(SENDER_PREFIX):][:8] if sender_id.startswith(SENDER_PREFIX) else sender_id[:8]


V = TypeVar("V")


class TtlLru(Generic[V]):
    """A bounded in-memory map whose entries expire; oldest entries go first when full."""

    def __init__(self, max_items: int, ttl_seconds: float):
        self.max_items = max_items
        self.ttl = ttl_seconds
        self._items: "OrderedDict[str, tuple]" = OrderedDict()

    def _expire(self, now: float) -> None:
        while self._items:
            key, (expires, _) = next(iter(self._items.items()))
            if expires > now and len(self._items) <= self.max_items:
                break
            self._items.popitem(last=False)

    def get(self, key: str) -> Optional[V]:
        now = time.monotonic()
        entry = self._items.get(key)
        if entry is None or entry[0] <= now:
            self._items.pop(key, None)
            return None
        return entry[1]

    def set(self, key: str, value: V) -> None:
        now = time.monotonic()
        self._items.pop(key, None)
        self._items[key] = (now + self.ttl, value)
        self._expire(now)

    def add_if_absent(self, key: str, value: V) -> bool:
        if self.get(key) is not None:
            return False
        self.set(key, value)
        return True

    def pop(self, key: str) -> None:
        self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)


class MessageDeduper:
    """Remembers MessageSids so a redelivered webhook is processed once.

    In memory for one worker; with REDIS_URL set, a Redis SET NX with the same TTL so that
    several Rasa workers agree (on a Redis error we fall back to memory and say so).
    """

    def __init__(self, ttl_seconds: int = 24 * 3600, max_items: int = 50_000,
                 redis_url: Optional[str] = None, key_prefix: str = "clinic:sms:sid:"):
        self._memory: TtlLru[bool] = TtlLru(max_items, ttl_seconds)
        self._ttl = ttl_seconds
        self._prefix = key_prefix
        self._redis: Any = None
        if redis_url:
            import redis.asyncio as redis_asyncio

            self._redis = redis_asyncio.from_url(redis_url)

    async def first_time(self, message_sid: str) -> bool:
        if self._redis is not None:
            try:
                return bool(await self._redis.set(self._prefix + message_sid, 1, nx=True, ex=self._ttl))
            except Exception as error:  # Redis down: still dedupe within this worker
                logger.warning("SMS dedupe: Redis unavailable (%s); using memory", type(error).__name__)
        return self._memory.add_if_absent(message_sid, True)


class OptOutStore:
    """Opted-out senders by keyed hash, in SQLite ($VAR_DIR/sms_optouts.db).

    sqlite3 runs in a worker thread (asyncio.to_thread) so the event loop never waits on
    the disk. Several workers on one host can share the file; across hosts, put it on
    shared storage or move it to the practice database.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._init()

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10)

    def _init(self) -> None:
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS sms_optouts ("
                " sender_hash TEXT PRIMARY KEY,"
                " opted_out_at TEXT NOT NULL)"
            )
        try:
            os.chmod(self.path, 0o600)
        except OSError:
            pass

    def _is_opted_out(self, sender_id: str) -> bool:
        with self._connect() as db:
            row = db.execute(
                "SELECT 1 FROM sms_optouts WHERE sender_hash = ?", (sender_id,)
            ).fetchone()
        return row is not None

    def _opt_out(self, sender_id: str) -> bool:
        with self._connect() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO sms_optouts (sender_hash, opted_out_at) VALUES (?, ?)",
                (sender_id, datetime.now(timezone.utc).isoformat(timespec="seconds")),
            )
            return cursor.rowcount == 1

    def _opt_in(self, sender_id: str) -> bool:
        with self._connect() as db:
            cursor = db.execute("DELETE FROM sms_optouts WHERE sender_hash = ?", (sender_id,))
            return cursor.rowcount == 1

    async def is_opted_out(self, sender_id: str) -> bool:
        return await asyncio.to_thread(self._is_opted_out, sender_id)

    async def opt_out(self, sender_id: str) -> bool:
        """True when this changed anything (the sender was not already opted out)."""
        return await asyncio.to_thread(self._opt_out, sender_id)

    async def opt_in(self, sender_id: str) -> bool:
        return await asyncio.to_thread(self._opt_in, sender_id)


class RecipientDirectory:
    """hash -> phone number, in memory only: the one place a number lives, so we can send.

    Entries expire (default 24 h) and the map is bounded; a worker restart forgets them, which
    only matters for messages the bot starts itself (reminders), not for replies.
    """

    def __init__(self, ttl_seconds: int = 24 * 3600, max_items: int = 100_000):
        self._numbers: TtlLru[str] = TtlLru(max_items, ttl_seconds)

    def remember(self, sender_id: str, number: str) -> None:
        self._numbers.set(sender_id, number)

    def number_for(self, sender_id: str) -> Optional[str]:
        return self._numbers.get(sender_id)


class LastButtons:
    """The choices last offered to each sender, so a typed "2" maps to that button."""

    def __init__(self, ttl_seconds: int = 6 * 3600, max_items: int = 100_000):
        self._buttons: TtlLru[List[Dict[str, Any]]] = TtlLru(max_items, ttl_seconds)

    def set(self, sender_id: str, buttons: List[Dict[str, Any]]) -> None:
        if buttons:
            self._buttons.set(sender_id, list(buttons))
        else:
            self._buttons.pop(sender_id)

    def get(self, sender_id: str) -> Optional[List[Dict[str, Any]]]:
        return self._buttons.get(sender_id)
