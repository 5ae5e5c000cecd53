"""Running form validations and actions the way Rasa calls them (trackers shaped as Rasa
sends them). The `run` fixture in conftest.py gives each test a real seeded SQLite
practice database."""

from __future__ import annotations

from pathlib import Path

import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher


DOMAIN = yaml.safe_load((Path(__file__).parent.parent / "domain.yml").read_text())


def tracker(slots=None, requested=None, text="", intent="inform", form="booking_form",
            channel="rest", metadata=None, events_before=()):
    all_slots = {name: None for name in DOMAIN["slots"]}
    all_slots.update({"failed_verifications": 0, "offer_page": 0})
    all_slots.update(slots or {})
    all_slots["requested_slot"] = requested
    # As Rasa's FormAction sends it: the candidate for the requested slot comes last.
    events = list(events_before) + [
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": text, "parse_data": {"intent": {"name": intent}},
         "input_channel": channel, "metadata": metadata or {}},
    ]
    if requested and requested in (slots or {}):
        events.append({"event": "slot", "name": requested, "value": all_slots[requested]})
    return Tracker(
        sender_id="test-conversation",
        slots=all_slots,
        latest_message={"text": text, "intent": {"name": intent, "confidence": 1.0},
                        "entities": [], "metadata": metadata or {}},
        events=events,
        paused=False,
        followup_action=None,
        active_loop={"name": form} if form else {},
        latest_action_name="action_listen",
    )


async def validate(action, t):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, t, DOMAIN)
    return events, [m.get("text") for m in dispatcher.messages]


def slot_events(events):
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}




def dob_text(value):
    return f"{value.month:02d}/{value.day:02d}/{value.year}"
