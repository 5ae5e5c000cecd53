"""Staff notifications carry a reference number and no PHI, even when handed some."""

import asyncio
import json

from actions.notifications import notify_staff
from privacy.references import new_reference


def test_notification_goes_to_the_outbox_redacted(tmp_path, monkeypatch):
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    reference = new_reference("HO")
    text = asyncio.run(notify_staff(
        "Patient asked for a person", reference,
        "patient Quenby Faketon dob 03/14/1961 phone 312-555-0188",
        known_values=[("patient_name", "Quenby Faketon")],
    ))
    record = json.loads((tmp_path / "outbox" / "slack.jsonl").read_text())
    assert record["text"] == text and reference in text
    for value in ("Quenby", "Faketon", "03/14/1961", "555-0188"):
        assert value not in text


def test_references_are_unambiguous():
    refs = {new_reference("EM") for _ in range(200)}
    assert len(refs) == 200 and all(r.startswith("EM-") and not set(r[3:]) & set("OI01") for r in refs)
