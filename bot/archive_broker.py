"""Rasa event broker that feeds the redacted transcript archive (privacy/archive.py).

Rasa publishes every new conversation event here while saving the tracker. We capture the
conversation's known values (bound for this request, see bot/tracker_store.py) and queue
the event; a background task redacts and writes it. Nothing raw is stored, and the
conversation is keyed by a keyed hash of the sender id (SENDER_ID_SECRET), so a phone
number or Slack user id never becomes an archive column.
"""

from __future__ import annotations

import os
from asyncio import AbstractEventLoop
from pathlib import Path
from typing import Any, Dict, Optional, Text

from rasa.core.brokers.broker import EventBroker
from rasa.utils.endpoints import EndpointConfig

from connectors.sms_state import load_or_create_secret
from privacy.archive import ArchiveWriter, conversation_key
from privacy.logging import current_known_values


class ArchiveEventBroker(EventBroker):
    def __init__(self, writer: ArchiveWriter, secret: bytes) -> None:
        self.writer = writer
        self.secret = secret

    @classmethod
    async def from_endpoint_config(
        cls, broker_config: EndpointConfig, event_loop: Optional[AbstractEventLoop] = None
    ) -> "ArchiveEventBroker":
        var_dir = Path(os.environ.get("VAR_DIR", "var")).resolve()
        writer = ArchiveWriter()
        await writer.start()
        return cls(writer, load_or_create_secret(var_dir, os.environ.get("SENDER_ID_SECRET")))

    def publish(self, event: Dict[Text, Any]) -> None:
        sender = str(event.get("sender_id", ""))
        self.writer.submit(conversation_key(self.secret, sender), event, current_known_values())

    def is_ready(self) -> bool:
        return self.writer.task is not None

    async def close(self) -> None:
        await self.writer.close()
