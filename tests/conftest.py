"""Shared test fixtures: environment defaults and service availability rules.

PostgreSQL- and Redis-backed tests skip with a message on a laptop without them, and fail
when CI is set (CI must exercise them).
"""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    if port_open(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if os.environ.get("CI"):
        pytest.fail(f"{message}, and CI must run these tests (.ci/run starts it).")
    pytest.skip(f"{message}; start it to run these tests.")


@pytest.fixture
def postgres_url() -> str:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    return POSTGRES_URL


@pytest.fixture
def redis_url() -> str:
    require_service("Redis", "127.0.0.1", 6379)
    return REDIS_URL


@pytest.fixture
def run(tmp_path, monkeypatch):
    """Run an async scenario against a fresh seeded SQLite practice database, on one event
    loop (action tests: tests/action_helpers.py)."""
    import actions.practice as practice_module
    from actions.practice import ensure_schema_and_seed

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'practice.db'}")

    def runner(scenario):
        async def wrapped():
            practice_module._system = None
            await ensure_schema_and_seed()
            try:
                return await scenario()
            finally:
                await practice_module.close_practice_system()

        return asyncio.run(wrapped())

    return runner
