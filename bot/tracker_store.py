"""Tracker stores that tell the log redactor what this conversation holds.

When Rasa fetches a conversation to handle a message, the identity slots and the patient's
recent messages are bound (for this request only) as known values, so any log line written
while handling it drops them, including at DEBUG where Rasa logs texts and slots.
Live state itself stays in memory (embedded) or in Redis with a TTL (scaled). In Redis it is
encrypted (Fernet, key derived from SENDER_ID_SECRET, the same on every worker): live state
must hold what the patient typed while a form is under way, so it cannot be redacted, but
neither a Redis dump nor a snapshot on disk shows it.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from pathlib import Path
from typing import Dict, Optional, Text, Union

from rasa.core.lock import TicketLock
from rasa.core.lock_store import RedisLockStore
from rasa.core.tracker_store import (
    InMemoryTrackerStore,
    RedisTrackerStore,
    SerializedTrackerAsText,
)
from rasa.shared.core.trackers import DialogueStateTracker

from privacy.conversation import conversation_known_values
from privacy.logging import add_known_values

LOCK_KEY_GRACE_SECONDS = 5  # a lock key outlives its last ticket by this much


def _bind_slots(tracker: DialogueStateTracker) -> DialogueStateTracker:
    """What the slots hold now; the messages were bound when the tracker was retrieved."""
    add_known_values(conversation_known_values({n: s.value for n, s in tracker.slots.items()}, []))
    return tracker


def _bind(tracker: Optional[DialogueStateTracker]) -> Optional[DialogueStateTracker]:
    if tracker is not None:
        slots = {name: slot.value for name, slot in tracker.slots.items()}
        events = [{"event": "user", "text": e.text} for e in tracker.events if getattr(e, "type_name", "") == "user"]
        add_known_values(conversation_known_values(slots, events))
    return tracker


class RedactingInMemoryTrackerStore(InMemoryTrackerStore):
    """The embedded store. A conversation idle past the session expiry (domain.yml) is
    dropped, as Redis's TTL drops it when scaled: patients are told their conversation is
    cleared after that long, and Rasa alone would keep every tracker until a restart."""

    PRUNE_EVERY_S = 60.0

    def __init__(self, domain, event_broker=None, **kwargs) -> None:
        super().__init__(domain, event_broker, **kwargs)
        minutes = domain.session_config.session_expiration_time if domain is not None else 0
        self.idle_s = float(minutes or 0) * 60
        self._saved_at: Dict[Text, float] = {}
        self._next_prune = 0.0

    def _drop_idle(self, sender_id: Optional[Text] = None) -> None:
        if not self.idle_s:
            return
        now = time.monotonic()
        senders = list(self._saved_at) if now >= self._next_prune else [sender_id]
        if now >= self._next_prune:
            self._next_prune = now + self.PRUNE_EVERY_S
        for sender in senders:
            if sender in self._saved_at and now - self._saved_at[sender] >= self.idle_s:
                self.store.pop(sender, None)
                del self._saved_at[sender]

    async def retrieve(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        self._drop_idle(sender_id)
        return _bind(await super().retrieve(sender_id))

    async def save(self, tracker: DialogueStateTracker) -> None:
        # Bound again as saved: this turn may have set names the request did not know (the
        # first name on file at verification, dependants' names), and saving publishes the
        # turn's events to the archive broker, which redacts with what is bound now.
        await super().save(_bind_slots(tracker))
        self._saved_at[tracker.sender_id] = time.monotonic()
        self._drop_idle()


logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1)
def _cipher():
    from connectors.sms_state import fernet_for, load_or_create_secret

    var_dir = Path(os.environ.get("VAR_DIR", "var")).resolve()
    secret = load_or_create_secret(var_dir, os.environ.get("SENDER_ID_SECRET"))
    return fernet_for(secret, b"live-conversation-state")


class RedactingRedisTrackerStore(RedisTrackerStore):
    async def retrieve(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        return _bind(await super().retrieve(sender_id))

    async def save(self, tracker: DialogueStateTracker, timeout: Optional[float] = None) -> None:
        await super().save(_bind_slots(tracker), timeout)  # see RedactingInMemoryTrackerStore.save

    def serialise_tracker(self, tracker: DialogueStateTracker) -> Text:
        plain = SerializedTrackerAsText.serialise_tracker(tracker)
        return _cipher().encrypt(plain.encode("utf-8")).decode("ascii")

    def deserialise_tracker(
        self, sender_id: Text, serialised_tracker: Union[Text, bytes]
    ) -> Optional[DialogueStateTracker]:
        from cryptography.fernet import InvalidToken

        token = serialised_tracker if isinstance(serialised_tracker, bytes) else serialised_tracker.encode()
        try:
            plain = _cipher().decrypt(token)
        except InvalidToken:
            # Another secret (or old plain-text state): start the conversation afresh.
            logger.warning("Live state of a conversation could not be decrypted; starting it afresh")
            return self.init_tracker(sender_id)
        return super().deserialise_tracker(sender_id, plain.decode("utf-8"))


class ExpiringRedisLockStore(RedisLockStore):
    """Rasa's Redis lock store, with a TTL on every lock key.

    Rasa deletes a conversation's lock when the turn ends, and sets no expiry: a worker that
    dies mid-turn leaves the key (named after the conversation) in Redis for good. Its tickets
    expire after LOCK_LIFETIME anyway, so the key is given the same life: gone a little after
    its last ticket would have expired."""

    def __init__(self, endpoint_config=None, **kwargs) -> None:
        # Rasa builds a lock store named by module path with only its endpoint config.
        if endpoint_config is not None:
            kwargs = {"host": endpoint_config.url, **endpoint_config.kwargs, **kwargs}
        super().__init__(**kwargs)

    def save_lock(self, lock: TicketLock) -> None:
        last_expiry = max((ticket.expires for ticket in lock.tickets), default=time.time())
        ttl = max(1, int(last_expiry - time.time()) + LOCK_KEY_GRACE_SECONDS)
        self.red.set(self.key_prefix + lock.conversation_id, lock.dumps(), ex=ttl)
