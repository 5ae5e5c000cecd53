"""Shared helpers for the action modules: clinic content, time, and slot (de)serialisation."""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple
from zoneinfo import ZoneInfo

import yaml

CONTENT_DIR = Path(__file__).resolve().parent.parent / "bot" / "content"


def load_content(name: str) -> dict:
    """A practice-editable YAML file, re-read when it changes (no restart needed)."""
    path = CONTENT_DIR / name
    return _load_cached(str(path), path.stat().st_mtime)


@functools.lru_cache(maxsize=32)
def _load_cached(path: str, _mtime: float) -> dict:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def clinic() -> dict:
    from actions.practice.clinic import CLINIC_FILE

    return _load_cached(str(CLINIC_FILE), CLINIC_FILE.stat().st_mtime)


def practice_tz() -> ZoneInfo:
    # One reading of the time zone for the whole action server: the practice port's.
    from actions.practice.clinic import practice_timezone

    return practice_timezone()


def now_local() -> datetime:
    return datetime.now(practice_tz())


def when_text(moment: datetime) -> str:
    """'Tuesday 2 December at 2:30 pm' in the practice's time zone."""
    local = moment.astimezone(practice_tz())
    hour = local.strftime("%I").lstrip("0")
    minutes = "" if local.minute == 0 else local.strftime(":%M")
    return f"{local.strftime('%A')} {local.day} {local.strftime('%B')} at {hour}{minutes} {local.strftime('%p').lower()}"


def slot_to_dict(slot: Any) -> Dict[str, Any]:
    """A port Slot as JSON-safe data for a Rasa slot (datetimes as ISO strings)."""
    data = asdict(slot)
    for key in ("starts_at", "ends_at"):
        data[key] = data[key].isoformat()
    return data


def slot_from_dict(data: Dict[str, Any]):
    from actions.practice.port import Slot

    values = dict(data)
    for key in ("starts_at", "ends_at"):
        values[key] = datetime.fromisoformat(values[key])
    return Slot(**values)


def as_int(value: Any) -> Optional[int]:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def norm_text(text: str) -> str:
    return re.sub(r"[^a-z0-9 ]+", " ", (text or "").lower()).strip()


def best_match(text: str, options: Sequence[Tuple[str, Any]]) -> Optional[Any]:
    """Match a typed answer to one of several labelled options: number, words, or fuzzy."""
    typed = norm_text(text)
    if not typed:
        return None
    number = re.fullmatch(r"(?:option |number |no |#)?(\d{1,2})", typed)
    if number and 1 <= int(number.group(1)) <= len(options):
        return options[int(number.group(1)) - 1][1]
    hits = [value for label, value in options if typed in norm_text(label) or norm_text(label) in typed]
    if len(hits) == 1:
        return hits[0]
    labels = [norm_text(label) for label, _ in options]
    close = difflib.get_close_matches(typed, labels, n=1, cutoff=0.75)
    if close:
        return options[labels.index(close[0])][1]
    return None


def button(title: str, payload: str) -> Dict[str, str]:
    return {"title": title, "payload": payload}


# A finishing action that ends with "Would you like to book one?" says so in the slot
# `offered_task`, and sets it to None when it offered nothing: the rules that read a plain
# "yes" or "no" straight after it as the answer depend on it (nlu_data/rules.yml).
OFFERED_TASK = "offered_task"
_OFFER_BUTTONS = {
    "book_appointment": button("Book an appointment", "/book_appointment"),
    "request_refill": button("Request a refill", "/request_refill"),
    "cancel_appointment": button("Cancel an appointment", "/cancel_appointment"),
}


def offer_task(dispatcher: Any, text: str, task: str) -> str:
    """Say `text` (ending in the offer) with yes/no buttons; returns the task offered."""
    dispatcher.utter_message(text=text, buttons=[_OFFER_BUTTONS[task], button("No thanks", "/deny")])
    return task


def slack_escape(text: str) -> str:
    """Slack's mrkdwn control characters: escaping them stops handbook, question or summary
    text from forming links, user mentions or <!channel> pings."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
