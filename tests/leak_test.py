"""`make leak-test`: run the assistant as `make run` does, at LOG_LEVEL=DEBUG with VAR_DIR in
a temporary directory, drive conversations that carry unique canary identifiers, then scan
every byte the assistant wrote. Any canary found fails the run, naming where it was.

The canaries go through verification (name, date of birth), free text (phone, email, MRN,
member ID, street address), replies that echo what the patient typed, and an action that
fails with the patient's details in scope (the practice database is broken mid-run, so the
database driver's error carries the query parameters). Every channel carries them: the web
chat's REST channel, the website widget (session token + WebSocket), SMS (signed like
Twilio) and Slack (staff questions that mention a patient, signed like Slack).

Two set-ups are run, as a practice would deploy them:
- embedded: SQLite practice database and archive under VAR_DIR, trackers in SQLite;
- scaled: PostgreSQL (a throw-away database on the local server) for the practice system and
  the archive, Redis for live conversation state. Every row of every table and every Redis key
  is scanned too, and every Redis key must carry an expiry (live state is not an archive).
  Skipped with a message when PostgreSQL or Redis is not running, a failure under CI.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import sys
import time
import urllib.request
import tempfile
import uuid
from pathlib import Path
from typing import Dict, List, Optional

from tests.harness import RunningAssistant

# Unique, obviously synthetic values that appear nowhere else in the repository.
CANARIES: Dict[str, str] = {
    "name": "Zyxquorth Blemvane",
    "first name": "Zyxquorth",
    "last name": "Blemvane",
    "date of birth": "07/19/1961",
    "phone": "(555) 014-2873",
    "phone digits": "5550142873",
    "email": "zyxquorth.blemvane@example.org",
    "mrn": "MRN 88317702",
    "mrn digits": "88317702",
    "member id": "QZB449120773",
    "address": "4417 Quillfeather Lane",
}


def _canary_variants() -> Dict[str, List[bytes]]:
    variants = {}
    for label, value in CANARIES.items():
        forms = {value, value.lower(), value.upper()}
        variants[label] = [f.encode() for f in forms] + [f.encode("utf-16-le") for f in forms]
    return variants


def conversations(assistant: RunningAssistant) -> None:
    sender = uuid.uuid4().hex
    script = [
        "hi",
        "I want to book an appointment",
        CANARIES["name"],
        "my dob is " + CANARIES["date of birth"],
        CANARIES["name"].lower(),
        CANARIES["date of birth"],
        f"my number is {CANARIES['phone']} and email {CANARIES['email']}",
        f"my chart number is {CANARIES['mrn']}, insurance member id {CANARIES['member id']}",
        f"I live at {CANARIES['address']}",
        "never mind",
        f"{CANARIES['first name']} here, can you call me on {CANARIES['phone digits']}",
        f"this is {CANARIES['name']}, i have crushing chest pain",
        f"let me talk to a person, my number is {CANARIES['phone']}",
    ]
    for message in script:
        assistant.say(sender, message)
    assistant.parse(f"I am {CANARIES['name']}, born {CANARIES['date of birth']}")


SMS_PUBLIC_URL = "https://sms.leak-test.example/webhooks/sms/webhook"
SMS_DEV_TOKEN = "leak-test-dev-token"


def sms_conversation(assistant: RunningAssistant) -> None:
    """The same details by text message, from the canary phone number, correctly signed."""
    from urllib.parse import urlencode

    from twilio.request_validator import RequestValidator

    for body in ["hi", "book an appointment", CANARIES["name"], CANARIES["date of birth"],
                 f"email {CANARIES['email']} mrn {CANARIES['mrn']}", CANARIES["address"], "HELP"]:
        params = {"From": "+1" + CANARIES["phone digits"], "To": "+13125550100", "Body": body,
                  "NumMedia": "0", "MessageSid": "SM" + uuid.uuid4().hex, "AccountSid": "ACleak"}
        signature = RequestValidator(SMS_DEV_TOKEN).compute_signature(SMS_PUBLIC_URL, params)
        request = urllib.request.Request(
            assistant.base + "/webhooks/sms/webhook", data=urlencode(params).encode(), method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature})
        with urllib.request.urlopen(request, timeout=15) as resp:
            assert resp.status == 200
        time.sleep(1.5)  # replies are sent in the background


BREAK_PRACTICE_DB = "ALTER TABLE patients RENAME TO patients_unavailable"


SLACK_SECRET = "leak-test-slack-signing-secret"
SLACK_TEAM = "T0LEAKTEST"


def slack_conversation(assistant: RunningAssistant) -> None:
    """Staff asking handbook questions with a patient's details in them, correctly signed."""
    import hashlib
    import hmac
    import json

    questions = [
        f"pt {CANARIES['name']} dob {CANARIES['date of birth']} wants an early refill, policy?",
        f"how do I send records for mrn {CANARIES['mrn digits']} to {CANARIES['email']}",
        f"{CANARIES['first name']} called from {CANARIES['phone']} about a no-show fee",
        "pending refills",
    ]
    for text in questions:
        ts = f"{time.time():.6f}"
        body = json.dumps({
            "type": "event_callback", "team_id": SLACK_TEAM, "event_id": "Ev" + uuid.uuid4().hex[:12],
            "authorizations": [{"team_id": SLACK_TEAM, "user_id": "U0LEAKBOT", "is_bot": True}],
            "event": {"type": "message", "channel_type": "im", "channel": "D0LEAK", "user": "U0LEAKSTAFF",
                      "team": SLACK_TEAM, "text": text, "ts": ts, "event_ts": ts},
        }).encode()
        stamp = str(int(time.time()))
        signature = "v0=" + hmac.new(SLACK_SECRET.encode(), f"v0:{stamp}:".encode() + body,
                                     hashlib.sha256).hexdigest()
        request = urllib.request.Request(
            assistant.base + "/webhooks/slack/webhook", data=body, method="POST",
            headers={"Content-Type": "application/json", "X-Slack-Request-Timestamp": stamp,
                     "X-Slack-Signature": signature})
        with urllib.request.urlopen(request, timeout=15) as resp:
            assert resp.status == 200
        time.sleep(2.0)  # processed in the background


def widget_conversation(assistant: RunningAssistant) -> None:
    """The website widget: a session token, then the same details over its WebSocket."""
    import asyncio
    import json

    import websockets

    origin = assistant.base
    request = urllib.request.Request(assistant.base + "/webhooks/widget/session", data=b"{}",
                                     method="POST", headers={"Origin": origin, "Content-Type": "text/plain"})
    with urllib.request.urlopen(request, timeout=15) as resp:
        token = json.loads(resp.read())["token"]
    messages = ["book an appointment", CANARIES["name"], CANARIES["date of birth"],
                f"call me on {CANARIES['phone']} or {CANARIES['email']}, mrn {CANARIES['mrn']}",
                f"I live at {CANARIES['address']}", "never mind"]

    async def talk() -> None:
        url = assistant.base.replace("http://", "ws://") + "/webhooks/widget/ws"
        async with websockets.connect(url, origin=origin, open_timeout=15) as ws:
            await ws.send(json.dumps({"type": "hello", "token": token, "after": 0}))
            for number, text in enumerate(messages, 1):
                await ws.send(json.dumps({"type": "message", "id": f"leak-{number}", "text": text}))
                await asyncio.sleep(2.0)  # the bot's turn
            await asyncio.sleep(1.0)

    asyncio.run(talk())


def break_practice_db(var_dir: Path, pg_dsn: Optional[str] = None) -> None:
    """Make every patient lookup fail, so actions raise with the patient's details in scope."""
    if pg_dsn:
        asyncio.run(_pg_execute(pg_dsn, BREAK_PRACTICE_DB))
        return
    with sqlite3.connect(var_dir / "practice.db") as db:
        db.execute(BREAK_PRACTICE_DB)


# --- the scaled set-up: PostgreSQL and Redis ------------------------------------------------

PG_SERVER = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
# A Redis database number of its own, so the scan sees only this run's keys.
LEAK_REDIS_URL = os.environ.get("LEAK_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


async def _pg_execute(dsn: str, *statements: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def _with_database(dsn: str, database: str) -> str:
    return dsn.rsplit("/", 1)[0] + "/" + database


async def _pg_dump(dsn: str) -> Dict[str, bytes]:
    """Every row of every table in the database, as text, one blob per table."""
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        tables = await connection.fetch(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') "
            "AND table_type = 'BASE TABLE'")
        dump = {}
        for row in tables:
            name = f'"{row["table_schema"]}"."{row["table_name"]}"'
            rows = await connection.fetch(f"SELECT t::text AS line FROM {name} t")
            dump[f"postgres table {name}"] = "\n".join(r["line"] for r in rows).encode()
        return dump
    finally:
        await connection.close()


async def _pg_count_user_events(dsn: str) -> int:
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        return await connection.fetchval(
            "SELECT count(*) FROM transcript_events WHERE event_type = 'user'")
    finally:
        await connection.close()


def scan(paths: List[Path], extra_blobs: Dict[str, bytes]) -> List[str]:
    found = []
    variants = _canary_variants()
    blobs = dict(extra_blobs)
    for root in paths:
        for path in [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file()):
            blobs[str(path)] = path.read_bytes()
    for where, data in blobs.items():
        for label, forms in variants.items():
            hits = [form for form in forms if form in data]
            if hits:
                # The canaries are synthetic, so showing the line helps find the leak.
                at = data.find(hits[0])
                line_start = data.rfind(b"\n", 0, at) + 1
                line = data[line_start:data.find(b"\n", at)][:300].decode("utf-8", "replace")
                found.append(f"{label} found in {where}: {line}")
    return found


def redis_dump(url: str) -> Dict[str, bytes]:
    """Every key's serialized value, plus a problem line for any key that never expires."""
    import redis

    client = redis.Redis.from_url(url)
    chunks, problems = [], []
    for key in client.scan_iter("*"):
        # DUMP compresses long values (LZF), so read plain strings too.
        plain = client.get(key) if client.type(key) == b"string" else b""
        chunks.append(key + b"=" + (plain or b"") + b"\n" + (client.dump(key) or b""))
        if client.ttl(key) < 0:
            problems.append(key.decode("utf-8", "replace"))
    if not chunks:
        problems.append("(no keys at all: the tracker store did not use Redis)")
    return {"redis": b"\n".join(chunks), "redis keys without expiry": "\n".join(problems).encode()}


def run(var_dir: Path, scaled: bool) -> List[str]:
    """Drive every channel, break the practice database, drive them again; return leaks."""
    env = {"SMS_PUBLIC_URL": SMS_PUBLIC_URL, "SMS_DEV_AUTH_TOKEN": SMS_DEV_TOKEN,
           "SLACK_SIGNING_SECRET": SLACK_SECRET, "SLACK_TEAM_ID": SLACK_TEAM, "SLACK_BOT_TOKEN": ""}
    pg_dsn = None
    if scaled:
        pg_dsn = _with_database(PG_SERVER, "leak_" + uuid.uuid4().hex[:12])
        asyncio.run(_pg_execute(PG_SERVER, f'CREATE DATABASE "{pg_dsn.rsplit("/", 1)[1]}"'))
        import redis

        redis.Redis.from_url(LEAK_REDIS_URL).flushdb()
        env.update({"DATABASE_URL": pg_dsn, "REDIS_URL": LEAK_REDIS_URL})
    try:
        assistant = RunningAssistant(var_dir, port=5405, actions_port=5455, log_level="DEBUG",
                                     env=env)
        assistant.start()
        try:
            conversations(assistant)
            sms_conversation(assistant)
            slack_conversation(assistant)
            widget_conversation(assistant)
            break_practice_db(var_dir, pg_dsn)
            conversations(assistant)
            sms_conversation(assistant)
            slack_conversation(assistant)
            widget_conversation(assistant)
        finally:
            assistant.stop()
        blobs: Dict[str, bytes] = {}
        problems: List[str] = []
        if scaled:
            blobs.update(asyncio.run(_pg_dump(pg_dsn)))
            dump = redis_dump(LEAK_REDIS_URL)
            if dump["redis keys without expiry"]:
                problems.append("Redis keys without an expiry: "
                                + dump.pop("redis keys without expiry").decode())
            else:
                dump.pop("redis keys without expiry")
            blobs.update(dump)
            archived = asyncio.run(_pg_count_user_events(pg_dsn))
            print(f"leak test (scaled): scanned {len(blobs)} PostgreSQL tables and Redis keys")
        else:
            with sqlite3.connect(var_dir / "archive.db") as db:
                archived = db.execute(
                    "SELECT count(*) FROM transcript_events WHERE event_type = 'user'").fetchone()[0]
        problems += scan([var_dir], blobs)
        # The archive must actually hold the conversations, or scanning it proves nothing.
        print(f"leak test: {archived} archived (redacted) user messages scanned")
        if archived < 10:
            problems.append(f"the transcript archive holds only {archived} user messages")
        print(f"leak test: scanned {sum(1 for p in var_dir.rglob('*') if p.is_file())} files "
              f"written under VAR_DIR, including both processes' stdout/stderr")
        return problems
    finally:
        if scaled:
            import redis

            redis.Redis.from_url(LEAK_REDIS_URL).flushdb()
            asyncio.run(_pg_execute(
                PG_SERVER, f'DROP DATABASE IF EXISTS "{pg_dsn.rsplit("/", 1)[1]}" WITH (FORCE)'))


def main() -> int:
    problems: List[str] = []
    setups = ["embedded", "scaled"]
    if not (_port_open("127.0.0.1", 5432) and _port_open("127.0.0.1", 6379)):
        if os.environ.get("CI"):
            print("leak test: PostgreSQL and Redis must be running under CI (.ci/run starts them)")
            return 1
        print("leak test: PostgreSQL or Redis is not running; skipping the scaled set-up")
        setups = ["embedded"]
    for setup in setups:
        print(f"leak test: {setup} set-up")
        with tempfile.TemporaryDirectory(prefix=f"leak-test-{setup}-") as tmp:
            problems += [f"[{setup}] {p}" for p in run(Path(tmp), scaled=setup == "scaled")]
    if problems:
        print("PHI canaries leaked:\n  " + "\n  ".join(problems))
        return 1
    print(f"leak test: 0 canaries found ({', '.join(setups)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
