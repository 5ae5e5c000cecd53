"""Fixtures for the practice port tests: the same seeded demo clinic on SQLite and PostgreSQL.

Each test gets a fresh copy of the seeded demo: a SQLite file in a temp dir, or a PostgreSQL
schema of its own in the shared `test` database (schemas named practice_*_<pid>_<random>,
dropped at the end), so nothing else in that database is touched.
PostgreSQL tests skip with a message when the server is unreachable, and fail under CI.

Time is a controllable clock pinned to Thursday 10:07 (practice time) of the seeded week, so
"now" falls inside a working day whatever day the tests run on.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
import pytest_asyncio

from actions.practice import models as m
from actions.practice.clinic import practice_timezone
from actions.practice.migrate import ensure_schema_and_seed
from actions.practice.seed import DemoCalendar, demo_calendar, week_start_for
from actions.practice.sql import SqlPracticeSystem

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
TZ = practice_timezone()


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@dataclass
class Practice:
    system: SqlPracticeSystem
    clock: FakeClock
    calendar: DemoCalendar
    backend: str

    def new_system(self) -> SqlPracticeSystem:
        """A second, independent system on the same database (its own pool and sessions)."""
        return SqlPracticeSystem(
            self.system.database_url, pg_schema=self.system.pg_schema, clock=self.clock
        )


async def _postgres_problem() -> str:
    """Why PostgreSQL cannot be used, or "" when it can."""
    import asyncpg

    try:
        connection = await asyncio.wait_for(asyncpg.connect(POSTGRES_URL), 3)
    except (OSError, asyncio.TimeoutError, asyncpg.PostgresError) as error:
        return f"{type(error).__name__}: {error}"
    await connection.close()
    return ""


def _today() -> date:
    return datetime.now(TZ).date()


# Seeding costs ~0.5 s, so each backend is migrated and seeded once per test session (which
# also exercises the migration and the seed) and every test starts from a copy of that.
_TABLES = [table.name for table in m.Base.metadata.sorted_tables] + ["alembic_version"]
_SERIAL_TABLES = {
    table.name
    for table in m.Base.metadata.sorted_tables
    if "id" in table.c and table.c.id.primary_key
}


@pytest.fixture(scope="session")
def seeded_sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("practice-template") / "practice.db"
    asyncio.run(ensure_schema_and_seed(f"sqlite:///{path}", today=_today()))
    return path


@pytest.fixture(scope="session")
def seeded_postgres_schemas():
    """(template schema, working schema) in the shared `test` database; dropped at the end."""
    problem = asyncio.run(_postgres_problem())
    if problem:
        message = f"PostgreSQL is not reachable at {POSTGRES_URL} ({problem})"
        if os.environ.get("CI"):
            pytest.fail(f"{message}, and CI must run the PostgreSQL tests.")
        pytest.skip(f"{message}; start it (or set TEST_POSTGRES_URL) to run these tests.")
    suffix = f"{os.getpid()}_{uuid.uuid4().hex[:8]}"
    template, working = f"practice_tpl_{suffix}", f"practice_test_{suffix}"
    try:
        asyncio.run(ensure_schema_and_seed(POSTGRES_URL, pg_schema=template, today=_today()))
        asyncio.run(ensure_schema_and_seed(POSTGRES_URL, pg_schema=working, seed_demo=False))
        yield template, working
    finally:
        asyncio.run(_drop_schemas(template, working))


async def _drop_schemas(*schemas: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(POSTGRES_URL)
    try:
        for schema in schemas:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await connection.close()


async def _copy_postgres_schema(template: str, working: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(POSTGRES_URL)
    try:
        async with connection.transaction():
            tables = ", ".join(f'"{working}"."{t}"' for t in _TABLES)
            await connection.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
            for table in _TABLES:
                await connection.execute(
                    f'INSERT INTO "{working}"."{table}" SELECT * FROM "{template}"."{table}"'
                )
                if table in _SERIAL_TABLES:  # continue ids after the copied rows
                    await connection.execute(
                        f"SELECT setval(pg_get_serial_sequence($1, 'id'),"
                        f' COALESCE((SELECT max(id) FROM "{working}"."{table}"), 0) + 1, false)',
                        f'"{working}"."{table}"',
                    )
    finally:
        await connection.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def practice_database(request, tmp_path):
    """(backend, url, pg_schema) of a fresh copy of the seeded demo.

    A plain (sync) fixture on purpose: it may run the session fixtures' asyncio.run(), which
    cannot happen inside the test's running event loop."""
    if request.param == "sqlite":
        template = request.getfixturevalue("seeded_sqlite_template")
        target = tmp_path / "practice.db"
        for suffix in ("", "-wal", "-shm"):
            if Path(f"{template}{suffix}").exists():
                shutil.copyfile(f"{template}{suffix}", f"{target}{suffix}")
        return request.param, f"sqlite:///{target}", None
    template_schema, schema = request.getfixturevalue("seeded_postgres_schemas")
    asyncio.run(_copy_postgres_schema(template_schema, schema))
    return request.param, POSTGRES_URL, schema


@pytest_asyncio.fixture
async def practice(practice_database):
    backend, url, schema = practice_database
    calendar = demo_calendar(week_start_for(_today()), TZ)
    clock = FakeClock(
        datetime.combine(calendar.week_start + timedelta(days=3), time(10, 7), TZ)
    )
    system = SqlPracticeSystem(url, pg_schema=schema, clock=clock)
    try:
        yield Practice(system=system, clock=clock, calendar=calendar, backend=backend)
    finally:
        await system.close()


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), TZ)
