"""The durable transcript archive: redacted conversation events in SQL, never raw text.

Events are queued by the Rasa process (bot/archive_broker.py) and written by a background
task, off the reply path. Every text and nested value passes the redactor with the
conversation's known values; if redaction fails or times out, the event is dropped and
counted (fail closed), never stored raw.

    python -m privacy archive purge --older-than-days 90
    python -m privacy archive forget CONVERSATION_KEY
    python -m privacy archive stats
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from privacy.conversation import is_button_payload
from privacy.engine import COUNTERS, safe_redact, safe_redact_value

logger = logging.getLogger(__name__)

REDACTION_TIMEOUT_S = 2.0
QUEUE_LIMIT = 10_000

metadata = MetaData()
transcript_events = Table(
    "transcript_events",
    metadata,
    Column("id", Integer, primary_key=True),
    # A keyed hash of the channel's sender id: never a phone number or Slack user id.
    Column("conversation_key", String(64), nullable=False, index=True),
    Column("channel", String(32)),
    Column("event_type", String(32), nullable=False),
    Column("intent", String(64)),
    Column("name", String(128)),  # action or slot name
    Column("text", Text),  # redacted
    Column("data", Text),  # redacted JSON: slot value, entities, buttons
    Column("occurred_at", DateTime(timezone=True), nullable=False, index=True),
)


def conversation_key(secret: bytes, sender_id: str) -> str:
    """The archive's key for a conversation: a keyed hash, so the channel's sender id
    (which may derive from a phone number or a Slack user id) is never a column."""
    return "c_" + hmac.new(secret, sender_id.encode("utf-8"), hashlib.sha256).hexdigest()[:40]


def archive_url() -> str:
    url = os.environ.get("ARCHIVE_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if not url:
        var_dir = Path(os.environ.get("VAR_DIR", "var")).resolve()
        var_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{var_dir / 'archive.db'}"
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///"):]
    return url


def make_engine(url: Optional[str] = None) -> AsyncEngine:
    url = url or archive_url()
    args = {"timeout": 30} if url.startswith("sqlite") else {}
    return create_async_engine(url, future=True, connect_args=args)


# Any fixed number: serialises creating the table when several workers start at once (the
# check-then-create in create_all races on PostgreSQL, and the losers failed to start).
_CREATE_LOCK_ID = 0x61726368  # "arch"


async def ensure_table(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _CREATE_LOCK_ID})
        await conn.run_sync(metadata.create_all)


def redact_event(event: Dict[str, Any], known_values: Tuple) -> Optional[Dict[str, Any]]:
    """The row for one Rasa event, redacted; None when redaction failed (drop it)."""
    kind = event.get("event")
    text = event.get("text")
    row: Dict[str, Any] = {
        "event_type": kind,
        "channel": event.get("input_channel"),
        "intent": ((event.get("parse_data") or {}).get("intent") or {}).get("name"),
        "name": event.get("name"),
        "text": None,
        "data": None,
    }
    if kind == "user" and isinstance(text, str) and text:
        # What the patient typed is never kept, whatever the recognizers make of it; only a
        # button's payload (the bot's own words) is. The intent says what the message was.
        row["text"] = text.strip() if is_button_payload(text) else "<MESSAGE>"
    elif isinstance(text, str) and text:
        redacted = safe_redact(text, known_values, REDACTION_TIMEOUT_S)
        if redacted is None:
            return None
        row["text"] = redacted
    data: Dict[str, Any] = {}
    if kind == "slot":
        data["value"] = event.get("value")
    if kind == "user":
        data["entities"] = (event.get("parse_data") or {}).get("entities") or []
    if kind == "bot":
        data["buttons"] = (event.get("data") or {}).get("buttons")
    if data:
        cleaned = safe_redact_value(data, known_values, REDACTION_TIMEOUT_S)
        if cleaned is None:
            return None
        row["data"] = json.dumps(cleaned, default=str)[:20_000]
    return row


FORGET_INTENT = "forget_me"
PURGE_EVERY_S = 24 * 3600


def retention_days() -> int:
    """ARCHIVE_RETENTION_DAYS (default 90): what patients are told, and what is purged."""
    return int(os.environ.get("ARCHIVE_RETENTION_DAYS", "90"))


class ArchiveWriter:
    """Queue in, background task out: the patient never waits for the archive.

    It also keeps two promises made to patients: rows older than the retention period are
    purged (at start and daily), and "forget me" deletes the conversation's rows once the
    turn that asked is over, in queue order, so no row of that turn is written after the
    deletion (the action server deletes too, but cannot know what is still queued here)."""

    def __init__(self, engine: Optional[AsyncEngine] = None, purge_every_s: float = PURGE_EVERY_S):
        self.engine = engine or make_engine()
        self.queue: "asyncio.Queue[Tuple[str, Dict[str, Any], Tuple]]" = asyncio.Queue(QUEUE_LIMIT)
        self.task: Optional[asyncio.Task] = None
        self.purge_task: Optional[asyncio.Task] = None
        self.purge_every_s = purge_every_s
        self.dropped = 0
        self.written = 0
        self._forget_after_turn: set = set()

    async def start(self) -> None:
        await ensure_table(self.engine)
        await self._purge_expired()
        self.task = asyncio.get_running_loop().create_task(self._run())
        self.purge_task = asyncio.get_running_loop().create_task(self._purge_periodically())

    async def _purge_expired(self) -> None:
        try:
            removed = await _purge(self.engine, retention_days())
            if removed:
                logger.info("Archive: purged %d rows older than %d days", removed, retention_days())
        except Exception as error:  # noqa: BLE001 - try again next time; never stop the bot
            logger.error("Archive: retention purge failed (%s)", type(error).__name__)

    async def _purge_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.purge_every_s)
            await self._purge_expired()

    def _turn_asks_to_forget(self, key: str, event: Dict[str, Any]) -> bool:
        """True at the end of a turn that asked to forget the conversation."""
        kind = event.get("event")
        if kind == "user":
            intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
            if intent == FORGET_INTENT:
                self._forget_after_turn.add(key)
        elif kind == "action" and event.get("name") == "action_listen" and key in self._forget_after_turn:
            self._forget_after_turn.discard(key)
            return True
        return False

    def submit(self, conversation_key: str, event: Dict[str, Any], known_values: Tuple) -> None:
        if event.get("event") not in ("user", "bot", "slot", "action", "session_started"):
            return
        try:
            self.queue.put_nowait((conversation_key, event, known_values))
        except asyncio.QueueFull:
            self.dropped += 1
            COUNTERS.bump("archive_queue_full")

    async def _run(self) -> None:
        while True:
            key, event, known = await self.queue.get()
            try:
                if self._turn_asks_to_forget(key, event):
                    async with self.engine.begin() as conn:
                        await conn.execute(delete(transcript_events).where(transcript_events.c.conversation_key == key))
                    continue
                row = await asyncio.to_thread(redact_event, event, known)
                if row is None:
                    self.dropped += 1
                    logger.warning("Archive: dropped an event whose redaction failed")
                    continue
                stamp = event.get("timestamp") or datetime.now(timezone.utc).timestamp()
                row.update(conversation_key=key, occurred_at=datetime.fromtimestamp(stamp, timezone.utc))
                async with self.engine.begin() as conn:
                    await conn.execute(transcript_events.insert().values(**row))
                self.written += 1
            except Exception as error:  # noqa: BLE001 - the archive must never stop the bot
                self.dropped += 1
                logger.error("Archive: could not write an event (%s)", type(error).__name__)
            finally:
                self.queue.task_done()

    async def flush(self) -> None:
        await self.queue.join()

    async def close(self) -> None:
        await self.flush()
        for task in (self.task, self.purge_task):
            if task:
                task.cancel()
        await self.engine.dispose()


async def _purge(engine: AsyncEngine, days: int) -> int:
    cutoff = datetime.now(timezone.utc) - timedelta(days=days)
    async with engine.begin() as conn:
        result = await conn.execute(delete(transcript_events).where(transcript_events.c.occurred_at < cutoff))
    return result.rowcount or 0


async def purge_older_than(days: int, engine: Optional[AsyncEngine] = None) -> int:
    engine = engine or make_engine()
    await ensure_table(engine)
    removed = await _purge(engine, days)
    await engine.dispose()
    return removed


async def forget_conversation(conversation_key: str, engine: Optional[AsyncEngine] = None) -> int:
    engine = engine or make_engine()
    await ensure_table(engine)
    async with engine.begin() as conn:
        result = await conn.execute(
            delete(transcript_events).where(transcript_events.c.conversation_key == conversation_key)
        )
    await engine.dispose()
    return result.rowcount or 0


async def stats(engine: Optional[AsyncEngine] = None) -> Dict[str, Any]:
    engine = engine or make_engine()
    await ensure_table(engine)
    async with engine.connect() as conn:
        rows = (await conn.execute(select(func.count()).select_from(transcript_events))).scalar()
        oldest = (await conn.execute(select(func.min(transcript_events.c.occurred_at)))).scalar()
    await engine.dispose()
    return {"rows": rows, "oldest": oldest.isoformat() if oldest else None}
