"""The practice's own facts from bot/content/clinic.yml (time zone, hours, locations).

Read directly from the YAML file rather than through `bot/`: the action server is a separate
process and `bot/` must stay free of `actions/` imports and vice versa.
"""

from __future__ import annotations

import functools
import os
from datetime import time
from pathlib import Path
from typing import Dict, Optional, Tuple
from zoneinfo import ZoneInfo

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
# CLINIC_FILE points both processes at another practice's file (tests use one open all day).
CLINIC_FILE = Path(os.environ.get("CLINIC_FILE") or REPO_ROOT / "bot" / "content" / "clinic.yml")

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@functools.lru_cache(maxsize=None)
def load_clinic(path: Path = CLINIC_FILE) -> dict:
    with open(path, encoding="utf-8") as handle:
        content = yaml.safe_load(handle) or {}
    if "timezone" not in content:
        raise ValueError(f"{path} has no `timezone` key; add e.g. `timezone: America/Chicago`")
    return content


def practice_timezone() -> ZoneInfo:
    return ZoneInfo(load_clinic()["timezone"])


def _hhmm(value: str) -> time:
    hours, minutes = str(value).split(":")
    return time(int(hours), int(minutes))


def opening_hours() -> Dict[int, Optional[Tuple[time, time]]]:
    """Weekday (Monday=0) -> (open, close) in local time, or None when closed."""
    hours = load_clinic().get("hours") or {}
    result: Dict[int, Optional[Tuple[time, time]]] = {}
    for index, day in enumerate(WEEKDAYS):
        entry = hours.get(day, "closed")
        result[index] = None if entry in (None, "closed") else (
            _hhmm(entry["open"]),
            _hhmm(entry["close"]),
        )
    return result


def lunch_break() -> Optional[Tuple[time, time]]:
    lunch = load_clinic().get("lunch")
    return (_hhmm(lunch["start"]), _hhmm(lunch["end"])) if lunch else None
