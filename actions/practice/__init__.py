"""The port to the practice's systems (appointments, patients, prescriptions).

Actions call `get_practice_system()` and use only the `PracticeSystem` interface and the
records in `port.py`. Today the implementation is the embedded SQL database (`sql.py`):
SQLite under $VAR_DIR by default, PostgreSQL when DATABASE_URL is set.

    python -m actions.practice migrate|seed|reset   (see __main__.py)
"""

from __future__ import annotations

import os
from typing import Optional

from actions.practice.migrate import ensure_schema_and_seed
from actions.practice.port import (  # re-exported for actions
    Appointment,
    AppointmentNotChangeable,
    Closure,
    Location,
    Medication,
    NotFound,
    Patient,
    Pharmacy,
    PracticeError,
    PracticeSystem,
    Provider,
    RefillRequest,
    Slot,
    SlotNotOffered,
    SlotTaken,
    SlotUnavailable,
    VisitType,
)
from actions.practice.sql import SqlPracticeSystem

_system: Optional[SqlPracticeSystem] = None


def get_practice_system() -> SqlPracticeSystem:
    """The process-wide practice system, built from DATABASE_URL or VAR_DIR on first use.

    Before its first query it migrates the schema and, unless PRACTICE_DEMO_SEED=0, seeds
    the demo clinic into an empty database, so `make run` works on a fresh checkout. Its
    connection pool belongs to the event loop that first uses it: use it from the action
    server's loop (rasa-sdk runs every action on one loop)."""
    global _system
    if _system is None:
        _system = SqlPracticeSystem(prepare="migrate+seed" if demo_seed_enabled() else "migrate")
    return _system


def demo_seed_enabled() -> bool:
    """False when PRACTICE_DEMO_SEED is 0/false/no: a real practice's database must never
    receive the demo clinic, its synthetic patients or the demo identity the README shows."""
    return os.environ.get("PRACTICE_DEMO_SEED", "1").strip().lower() not in ("0", "false", "no")


async def close_practice_system() -> None:
    global _system
    if _system is not None:
        await _system.close()
        _system = None


__all__ = [
    "Appointment",
    "AppointmentNotChangeable",
    "Closure",
    "Location",
    "Medication",
    "NotFound",
    "Patient",
    "Pharmacy",
    "PracticeError",
    "PracticeSystem",
    "Provider",
    "RefillRequest",
    "Slot",
    "SlotNotOffered",
    "SlotTaken",
    "SlotUnavailable",
    "SqlPracticeSystem",
    "VisitType",
    "close_practice_system",
    "demo_seed_enabled",
    "ensure_schema_and_seed",
    "get_practice_system",
]
