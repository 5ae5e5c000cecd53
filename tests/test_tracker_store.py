"""Live conversation state in Redis is encrypted: a dump of Redis shows no patient text."""

from __future__ import annotations

import asyncio
import uuid

import pytest


@pytest.mark.parametrize("secret", ["tracker-test-secret"])
def test_live_state_in_redis_is_encrypted_and_reads_back(redis_url, monkeypatch, tmp_path, secret):
    import redis
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot import tracker_store

    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    monkeypatch.setenv("SENDER_ID_SECRET", secret)
    tracker_store._cipher.cache_clear()
    url = redis_url.rsplit("/", 1)[0] + "/12"
    store = tracker_store.RedactingRedisTrackerStore(
        Domain.load("domain.yml"), host="127.0.0.1", port=6379, db=12, record_exp=60)
    sender = "tracker-test-" + uuid.uuid4().hex[:8]
    tracker = DialogueStateTracker(sender, [])
    tracker.update(UserUttered("my name is Quenby Hollowmere, dob 02/03/1971"))
    asyncio.run(store.save(tracker))

    raw = redis.Redis.from_url(url).get(store.key_prefix + sender)
    assert raw and b"Quenby" not in raw and b"1971" not in raw
    assert 0 < redis.Redis.from_url(url).ttl(store.key_prefix + sender) <= 60
    back = asyncio.run(store.retrieve(sender))
    assert back.latest_message.text == "my name is Quenby Hollowmere, dob 02/03/1971"

    # Another secret cannot read it: the conversation starts afresh rather than failing.
    monkeypatch.setenv("SENDER_ID_SECRET", "another-secret")
    tracker_store._cipher.cache_clear()
    fresh = asyncio.run(store.retrieve(sender))
    assert fresh is not None and fresh.latest_message.text is None
    redis.Redis.from_url(url).delete(store.key_prefix + sender)
    tracker_store._cipher.cache_clear()


def test_the_embedded_store_forgets_a_conversation_idle_past_the_session_expiry(monkeypatch):
    # Patients are told their conversation is cleared after 30 minutes without a message;
    # Rasa's in-memory store kept every tracker until a restart.
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot import tracker_store

    clock = [1000.0]
    monkeypatch.setattr(tracker_store.time, "monotonic", lambda: clock[0])
    store = tracker_store.RedactingInMemoryTrackerStore(Domain.load("domain.yml"))
    assert store.idle_s == 30 * 60  # domain.yml session_expiration_time

    async def scenario():
        for sender in ("left-idle", "still-talking"):
            await store.save(DialogueStateTracker.from_events(sender, [UserUttered("my blue teapot")]))
        clock[0] += 29 * 60
        await store.save(DialogueStateTracker.from_events("still-talking", [UserUttered("and another thing")]))
        kept_at_29 = await store.retrieve("left-idle")
        clock[0] += 2 * 60
        gone_at_31 = await store.retrieve("left-idle")
        return kept_at_29, gone_at_31, await store.retrieve("still-talking"), set(store.store)

    kept, gone, talking, held = asyncio.run(scenario())
    assert kept is not None and gone is None and talking is not None
    assert held == {"still-talking"}


def test_a_lock_left_by_a_crashed_worker_expires_in_redis(redis_url):
    # Rasa's Redis lock store set no expiry: a worker that died mid-turn left the lock key,
    # named after the conversation, in Redis for good.
    import redis
    from rasa.core.lock_store import LockStore
    from rasa.utils.endpoints import EndpointConfig

    store = LockStore.create(EndpointConfig(
        url="127.0.0.1", type="bot.tracker_store.ExpiringRedisLockStore", port=6379, db=12,
        key_prefix="clinic"))
    sender = "lock-test-" + uuid.uuid4().hex[:8]
    store.issue_ticket(sender, lock_lifetime=20)  # the worker takes the lock, then dies
    key = store.key_prefix + sender
    client = redis.Redis.from_url(redis_url.rsplit("/", 1)[0] + "/12")
    assert client.get(key) is not None
    assert 0 < client.ttl(key) <= 20 + 5
    client.delete(key)
