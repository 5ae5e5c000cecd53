"""Tracker stores that tell the log redactor what this conversation holds.

When Rasa fetches a conversation to handle a message, the identity slots and the patient's
recent messages are bound (for this request only) as known values, so any log line written
while handling it drops them, including at DEBUG where Rasa logs texts and slots.
Live state itself stays in memory (embedded) or in Redis with a TTL (scaled).
"""

from __future__ import annotations

from typing import Optional, Text

from rasa.core.tracker_store import InMemoryTrackerStore, RedisTrackerStore
from rasa.shared.core.trackers import DialogueStateTracker

from privacy.conversation import conversation_known_values
from privacy.logging import add_known_values


def _bind(tracker: Optional[DialogueStateTracker]) -> Optional[DialogueStateTracker]:
    if tracker is not None:
        slots = {name: slot.value for name, slot in tracker.slots.items()}
        events = [{"event": "user", "text": e.text} for e in tracker.events if getattr(e, "type_name", "") == "user"]
        add_known_values(conversation_known_values(slots, events))
    return tracker


class RedactingInMemoryTrackerStore(InMemoryTrackerStore):
    async def retrieve(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        return _bind(await super().retrieve(sender_id))


class RedactingRedisTrackerStore(RedisTrackerStore):
    async def retrieve(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        return _bind(await super().retrieve(sender_id))
