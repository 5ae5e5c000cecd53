"""The transcript archive stores redacted events only, keyed by a hash, and forgets on request."""

import asyncio
import sqlite3

from privacy.archive import (
    ArchiveWriter, conversation_key, forget_conversation, make_engine, purge_older_than, redact_event,
)

KNOWN = (("patient_name", "Quenby Faketon"),)


def test_known_values_and_recognised_phi_never_reach_a_row():
    row = redact_event({"event": "user", "text": "im quenby faketon, call 312-555-0188",
                        "parse_data": {"intent": {"name": "inform"}, "entities": []}}, KNOWN)
    assert "quenby" not in row["text"].lower() and "555-0188" not in row["text"]
    assert row["intent"] == "inform"


def test_what_the_patient_typed_is_never_stored_only_a_buttons_payload_is():
    # Recognizers miss lowercase names; a message that started with "/" or ran past 300
    # characters used to be left to them alone.
    for typed in ("/refill for zebulon quartermaine lisinopril 10mg please",
                  "zebulon quartermaine here " + "about my lisinopril " * 20, "yes"):
        row = redact_event({"event": "user", "text": typed,
                            "parse_data": {"intent": {"name": "request_refill"}, "entities": []}}, ())
        assert row["text"] == "<MESSAGE>" and row["intent"] == "request_refill"
    payload = redact_event({"event": "user", "text": "/human_handoff",
                            "parse_data": {"intent": {"name": "human_handoff"}}}, ())
    assert payload["text"] == "/human_handoff"


def test_slot_values_are_redacted_too():
    row = redact_event({"event": "slot", "name": "patient_name", "value": "Quenby Faketon"}, KNOWN)
    assert "Quenby" not in row["data"]


def test_writer_is_off_the_reply_path_and_forget_removes_the_conversation(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'archive.db'}"
    key = conversation_key(b"secret", "+13125550188")
    assert "3125550188" not in key

    async def scenario():
        writer = ArchiveWriter(make_engine(url))
        await writer.start()
        for text in ["hello", "my name is Quenby Faketon"]:
            writer.submit(key, {"event": "user", "text": text, "timestamp": 1_700_000_000}, KNOWN)
        writer.submit("other", {"event": "bot", "text": "Hi!", "timestamp": 1_700_000_000}, ())
        await writer.close()
        purged_none = await purge_older_than(100_000, make_engine(url))
        forgotten = await forget_conversation(key, make_engine(url))
        return writer.written, purged_none, forgotten

    written, purged_none, forgotten = asyncio.run(scenario())
    assert written == 3 and purged_none == 0 and forgotten == 2
    raw = (tmp_path / "archive.db").read_bytes()
    assert b"Quenby" not in raw
    with sqlite3.connect(tmp_path / "archive.db") as db:
        assert db.execute("select count(*) from transcript_events").fetchone() == (1,)


def test_retention_purges_old_rows(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'archive.db'}"

    async def scenario():
        writer = ArchiveWriter(make_engine(url))
        await writer.start()
        writer.submit("k", {"event": "user", "text": "old message", "timestamp": 1_000_000_000}, ())
        writer.submit("k", {"event": "user", "text": "new message"}, ())
        await writer.close()
        return await purge_older_than(30, make_engine(url))

    assert asyncio.run(scenario()) == 1


# Found in review (session 12): the first name on file, said back at verification ("Thanks,
# Quenby, you're verified."), was never typed by the patient (SMS verifies by the number on
# file), so nothing had bound it when the turn's events were logged and archived.

def test_names_an_action_learned_this_turn_are_redacted_from_its_logs_and_archive_rows():
    import contextvars

    from bot.server import bind_identity_from_action
    from privacy.logging import current_known_values, redact_log_text

    said = "Thanks, Quenby, you're verified. Is this for you or for Zephyrine?"

    def turn():
        bind_identity_from_action({"events": [
            {"event": "slot", "name": "verified_first_name", "value": "Quenby"},
            {"event": "slot", "name": "dependants", "value": [{"id": 9, "first_name": "Zephyrine"}]},
        ], "responses": [{"text": said}]})
        return redact_log_text(said), redact_event({"event": "bot", "text": said}, current_known_values())

    logged, archived = contextvars.copy_context().run(turn)
    for text in (logged, archived["text"]):
        assert "Quenby" not in text and "Zephyrine" not in text and "verified" in text


def test_saving_a_conversation_binds_what_its_slots_now_hold_before_the_archive_sees_it():
    import contextvars

    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import BotUttered, SlotSet
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot.tracker_store import RedactingInMemoryTrackerStore
    from privacy.logging import current_known_values

    seen = []

    class Broker:
        def publish(self, event):
            seen.append(redact_event(event, current_known_values()))

    domain = Domain.from_yaml("version: '3.1'\nslots:\n  verified_first_name:\n    type: any\n    mappings: []\n")
    store = RedactingInMemoryTrackerStore(domain, event_broker=Broker())
    tracker = DialogueStateTracker("someone", domain.slots)
    tracker.update(BotUttered("Thanks, Quenby, you're verified."))
    tracker.update(SlotSet("verified_first_name", "Quenby"))
    contextvars.copy_context().run(lambda: asyncio.run(store.save(tracker)))
    assert seen and not any("Quenby" in str(row) for row in seen)


def test_the_archive_keeps_its_promises_to_patients_without_anyone_running_a_command(tmp_path, monkeypatch):
    # Patients are told the transcript is deleted after ARCHIVE_RETENTION_DAYS and that
    # "forget me" deletes it. Purging used to need a CLI run nobody scheduled, and the action
    # server's delete raced rows of the same turn still queued here (they survived it).
    from datetime import datetime, timedelta, timezone

    url = f"sqlite+aiosqlite:///{tmp_path / 'archive.db'}"
    monkeypatch.setenv("ARCHIVE_RETENTION_DAYS", "30")
    old = (datetime.now(timezone.utc) - timedelta(days=31)).timestamp()
    recent = (datetime.now(timezone.utc) - timedelta(days=29)).timestamp()

    async def scenario():
        first = ArchiveWriter(make_engine(url))
        await first.start()
        first.submit("k1", {"event": "bot", "text": "from last month", "timestamp": old}, ())
        first.submit("k1", {"event": "bot", "text": "from this month", "timestamp": recent}, ())
        await first.close()
        restarted = ArchiveWriter(make_engine(url), purge_every_s=0.05)  # a restart, then daily
        await restarted.start()
        turn = [
            {"event": "user", "text": "hello", "parse_data": {"intent": {"name": "greet"}}},
            {"event": "action", "name": "action_listen"},
            {"event": "user", "text": "please forget me", "parse_data": {"intent": {"name": "forget_me"}}},
            {"event": "action", "name": "action_ai_use"},
            {"event": "bot", "text": "Done. I've deleted its transcript."},
            {"event": "action", "name": "action_listen"},
        ]
        for event in turn:
            restarted.submit("k2", event, ())
        restarted.submit("k3", {"event": "user", "text": "someone else", "parse_data": {"intent": {"name": "greet"}}}, ())
        restarted.submit("k2", {"event": "user", "text": "one more thing", "parse_data": {"intent": {"name": "greet"}}}, ())
        await restarted.flush()
        await asyncio.sleep(0.2)
        await restarted.close()

    asyncio.run(scenario())
    with sqlite3.connect(tmp_path / "archive.db") as db:
        rows = db.execute("select conversation_key, text from transcript_events order by id").fetchall()
    assert ("k1", "from this month") in rows and ("k1", "from last month") not in rows
    # Nothing of the conversation up to and including the turn that asked; later turns are new.
    assert [r for r in rows if r[0] == "k2"] == [("k2", "<MESSAGE>")]
    assert ("k3", "<MESSAGE>") in rows


def test_workers_starting_together_on_postgresql_all_start(postgres_url):
    # Several Rasa workers create the archive table at once; the check-then-create raced and
    # the losers failed to start (UniqueViolation / DuplicateTable).
    import uuid

    import asyncpg
    from sqlalchemy.ext.asyncio import create_async_engine

    from privacy.archive import ensure_table

    schema = "archive_race_" + uuid.uuid4().hex[:8]
    url = "postgresql+asyncpg://" + postgres_url.split("://", 1)[1]

    async def scenario():
        admin = await asyncpg.connect(postgres_url)
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        engines = [create_async_engine(url, connect_args={"server_settings": {"search_path": schema}})
                   for _ in range(4)]
        try:
            results = await asyncio.gather(*(ensure_table(e) for e in engines), return_exceptions=True)
            tables = await admin.fetch("select table_name from information_schema.tables where table_schema = $1", schema)
        finally:
            for engine in engines:
                await engine.dispose()
            await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
            await admin.close()
        return results, [t["table_name"] for t in tables]

    for _ in range(3):
        results, tables = asyncio.run(scenario())
        assert [r for r in results if isinstance(r, Exception)] == [] and tables == ["transcript_events"]
