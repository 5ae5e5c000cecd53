"""What a conversation has told the bot, as known values for redaction.

Thin adapter over Rasa's tracker data (plain dicts: slots and serialised events), used by the
Rasa process (tracker store) and the action server (request body) so that every value the
patient gave is removed from whatever that conversation writes, whether or not a recognizer
would catch it.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, List, Mapping, Tuple

# Slots that hold identity values; their names also tell the matcher what kind they are.
IDENTITY_SLOTS = ("patient_name", "patient_dob", "verified_first_name", "phone", "mrn", "member_id")
# Older messages rarely reappear in logs; a bound keeps per-line redaction cheap.
MAX_MESSAGES = 20
MIN_TEXT_LENGTH = 4
BUTTON_PAYLOAD = re.compile(r"/[a-z_]{1,60}")


def conversation_known_values(slots: Mapping[str, Any], events: Iterable[Mapping[str, Any]]) -> List[Tuple[str, str]]:
    values: List[Tuple[str, str]] = []
    for name in IDENTITY_SLOTS:
        value = slots.get(name)
        if isinstance(value, str) and value.strip():
            values.append((name, value))
    for dependant in slots.get("dependants") or []:
        if isinstance(dependant, Mapping) and dependant.get("first_name"):
            values.append(("first_name", str(dependant["first_name"])))
    texts = [e.get("text") for e in events if e.get("event") == "user"]
    for text in texts[-MAX_MESSAGES:]:
        values += message_known_values(text)
    return values


def is_button_payload(text: Any) -> bool:
    """A bare button payload ("/book_appointment"): the bot's own words, not the patient's. A
    typed "/refill for <name>" is not one, nor is anything with entities in it."""
    return isinstance(text, str) and BUTTON_PAYLOAD.fullmatch(text.strip()) is not None


def message_known_values(text: Any) -> List[Tuple[str, str]]:
    """The patient's own message, removed verbatim wherever it is echoed."""
    if isinstance(text, str) and len(text.strip()) >= MIN_TEXT_LENGTH and not is_button_payload(text):
        return [("user_text", text.strip())]
    return []
