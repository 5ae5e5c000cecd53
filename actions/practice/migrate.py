"""Bring a practice database to the latest schema and seed the demo clinic when it is empty.

Safe to call on every start of every replica: it takes a lock (PostgreSQL advisory lock;
SQLite's write lock via BEGIN IMMEDIATE) so concurrent starts do not race, and when the
schema is current and the demo is seeded it costs a few small queries.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from pathlib import Path
from typing import Optional

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from actions.practice import models as m
from actions.practice.clinic import practice_timezone
from actions.practice.db import check_schema_name, create_engines, default_database_url
from actions.practice.seed import extend_schedule, seed_demo_clinic

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
# Any fixed number: the advisory lock that serialises migrations across processes.
_MIGRATION_LOCK_ID = 0x636C696E  # "clin"


def alembic_config() -> Config:
    config = Config(str(HERE / "alembic.ini"))
    config.set_main_option("script_location", str(HERE / "migrations"))
    return config


def _upgrade_to_head(connection: Connection) -> Optional[str]:
    """Upgrade on this connection; returns the revision upgraded from (None: was current)."""
    config = alembic_config()
    head = ScriptDirectory.from_config(config).get_current_head()
    current = MigrationContext.configure(connection).get_current_revision()
    if current == head:
        return None
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
    return current or "empty"


async def ensure_schema_and_seed(
    database_url: Optional[str] = None,
    *,
    pg_schema: Optional[str] = None,
    seed_demo: bool = True,
    today: Optional[date] = None,
) -> bool:
    """Migrate to head; seed the demo clinic into an empty database (or extend an existing
    demo schedule so it keeps reaching 8 weeks ahead). Returns True when it seeded."""
    engines = create_engines(database_url or default_database_url(), pg_schema)
    seeded = False
    try:
        async with engines.write.connect() as connection:
            if connection.dialect.name == "postgresql":
                if pg_schema:
                    # Outside the transaction below, so a concurrent creator does not abort it.
                    await connection.execute(
                        text(f'CREATE SCHEMA IF NOT EXISTS "{check_schema_name(pg_schema)}"')
                    )
                    await connection.commit()
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID}
                )
            upgraded_from = await connection.run_sync(_upgrade_to_head)
            if upgraded_from:
                log.info("practice database migrated (was at %s)", upgraded_from)
            if seed_demo:
                local_today = today or datetime.now(practice_timezone()).date()
                session = AsyncSession(bind=connection, expire_on_commit=False)
                try:
                    has_providers = await session.scalar(select(func.count(m.Provider.id)))
                    if not has_providers:
                        await seed_demo_clinic(session, local_today)
                        seeded = True
                        log.info("practice database seeded with the demo clinic")
                    elif await session.scalar(
                        select(m.PracticeMeta.value).where(m.PracticeMeta.key == "demo_week_start")
                    ):
                        await extend_schedule(session, local_today)
                    await session.flush()
                finally:
                    await session.close()
            await connection.commit()
    finally:
        await engines.dispose()
    return seeded


async def drop_everything(
    database_url: Optional[str] = None, *, pg_schema: Optional[str] = None
) -> None:
    """Drop every practice table (and Alembic's version table). For `reset` and tests."""
    engines = create_engines(database_url or default_database_url(), pg_schema)
    try:
        async with engines.write.begin() as connection:
            await connection.run_sync(m.Base.metadata.drop_all)
            await connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    finally:
        await engines.dispose()
