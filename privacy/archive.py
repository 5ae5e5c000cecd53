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

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, delete, func, select
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


async def ensure_table(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
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


class ArchiveWriter:
    """Queue in, background task out: the patient never waits for the archive."""

    def __init__(self, engine: Optional[AsyncEngine] = None):
        self.engine = engine or make_engine()
        self.queue: "asyncio.Queue[Tuple[str, Dict[str, Any], Tuple]]" = asyncio.Queue(QUEUE_LIMIT)
        self.task: Optional[asyncio.Task] = None
        self.dropped = 0
        self.written = 0

    async def start(self) -> None:
        await ensure_table(self.engine)
        self.task = asyncio.get_running_loop().create_task(self._run())

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
        if self.task:
            self.task.cancel()
        await self.engine.dispose()


async def purge_older_than(days: int, engine: Optional[AsyncEngine] = None) -> int:
    engine = engine or make_engine()
    await ensure_table(engine)
    cutoff = datetime.now(timezone.utc) - timedelta(days=days)
    async with engine.begin() as conn:
        result = await conn.execute(delete(transcript_events).where(transcript_events.c.occurred_at < cutoff))
    await engine.dispose()
    return result.rowcount or 0


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
