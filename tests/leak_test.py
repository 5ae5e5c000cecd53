"""`make leak-test`: run the assistant as `make run` does, at LOG_LEVEL=DEBUG with VAR_DIR in
a temporary directory, drive conversations that carry unique canary identifiers, then scan
every byte the assistant wrote. Any canary found fails the run, naming where it was.

The canaries go through verification (name, date of birth), free text (phone, email, MRN,
member ID, street address), replies that echo what the patient typed, and an action that
fails with the patient's details in scope (the practice database is broken mid-run, so the
database driver's error carries the query parameters).
"""

from __future__ import annotations

import sqlite3
import sys
import time
import urllib.request
import tempfile
import uuid
from pathlib import Path
from typing import Dict, List

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


def break_practice_db(var_dir: Path) -> None:
    """Make every patient lookup fail, so actions raise with the patient's details in scope."""
    with sqlite3.connect(var_dir / "practice.db") as db:
        db.execute("ALTER TABLE patients RENAME TO patients_unavailable")


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


def redis_dump(url: str) -> bytes:
    import redis

    client = redis.Redis.from_url(url)
    chunks = [key + b"=" + (client.dump(key) or b"") for key in client.scan_iter("*")]
    return b"\n".join(chunks)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="leak-test-") as tmp:
        var_dir = Path(tmp)
        assistant = RunningAssistant(var_dir, port=5405, actions_port=5455, log_level="DEBUG", env={
            "SMS_PUBLIC_URL": SMS_PUBLIC_URL, "SMS_DEV_AUTH_TOKEN": SMS_DEV_TOKEN})
        assistant.start()
        try:
            conversations(assistant)
            sms_conversation(assistant)
            break_practice_db(var_dir)
            conversations(assistant)
            sms_conversation(assistant)
        finally:
            assistant.stop()
        problems = scan([var_dir], {})
        # The archive must actually hold the conversations, or scanning it proves nothing.
        with sqlite3.connect(var_dir / "archive.db") as db:
            archived = db.execute("SELECT count(*) FROM transcript_events WHERE event_type = 'user'").fetchone()[0]
        print(f"leak test: {archived} archived (redacted) user messages scanned")
        if archived < 10:
            problems.append(f"the transcript archive holds only {archived} user messages")
        print(f"leak test: scanned {sum(1 for p in var_dir.rglob('*') if p.is_file())} files "
              f"written under VAR_DIR, including both processes' stdout/stderr")
    if problems:
        print("PHI canaries leaked:\n  " + "\n  ".join(problems))
        return 1
    print("leak test: 0 canaries found")
    return 0


if __name__ == "__main__":
    sys.exit(main())
