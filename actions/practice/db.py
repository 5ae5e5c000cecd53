"""Async engines for the practice database: URL handling, SQLite tuning, PostgreSQL schema.

SQLite gets two engines over the same file: writers open their transaction with
`BEGIN IMMEDIATE`, so concurrent writers queue on the busy timeout instead of failing with
"database is locked" when a read lock cannot be upgraded; readers use a plain deferred
`BEGIN` and, thanks to WAL, never wait for writers. PostgreSQL uses one engine for both.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from actions.practice.clinic import REPO_ROOT

# Seconds a SQLite writer waits for the write lock before giving up.
SQLITE_BUSY_TIMEOUT_S = 30
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def default_database_url() -> str:
    """DATABASE_URL, else a SQLite file under $VAR_DIR (default var/)."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    var_dir = Path(os.environ.get("VAR_DIR") or REPO_ROOT / "var").resolve()
    return f"sqlite+aiosqlite:///{var_dir / 'practice.db'}"


def async_database_url(url: str) -> str:
    """Rewrite a plain URL to its asyncio driver: postgresql:// -> postgresql+asyncpg://,
    sqlite:// -> sqlite+aiosqlite://. Other drivers are refused with the fix."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
        if not parsed.database or parsed.database == ":memory:":
            raise ValueError(
                "The practice database needs a SQLite file (e.g. sqlite:///var/practice.db); "
                "an in-memory database is not shared between connections."
            )
    else:
        raise ValueError(
            f"Unsupported DATABASE_URL backend {backend!r}: use postgresql://... or sqlite:///..."
        )
    return parsed.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def check_schema_name(schema: str) -> str:
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"PostgreSQL schema name must match {_SCHEMA_NAME.pattern}")
    return schema


@dataclass
class Engines:
    url: str
    read: AsyncEngine
    write: AsyncEngine

    async def dispose(self) -> None:
        await self.write.dispose()
        if self.read is not self.write:
            await self.read.dispose()


def _sqlite_engine(url: str, begin_statement: str, pool_size: int, overflow: int) -> AsyncEngine:
    engine = create_async_engine(
        url,
        future=True,
        poolclass=AsyncAdaptedQueuePool,
        pool_size=pool_size,
        max_overflow=overflow,
        pool_timeout=SQLITE_BUSY_TIMEOUT_S,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S},
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let us issue BEGIN ourselves (pysqlite's implicit transactions cannot do IMMEDIATE).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL, far fewer fsyncs
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql(begin_statement)

    return engine


def create_engines(database_url: str, pg_schema: Optional[str] = None) -> Engines:
    url = async_database_url(database_url)
    if is_sqlite(url):
        Path(make_url(url).database).parent.mkdir(parents=True, exist_ok=True)
        write = _sqlite_engine(url, "BEGIN IMMEDIATE", pool_size=5, overflow=30)
        read = _sqlite_engine(url, "BEGIN", pool_size=5, overflow=10)
        return Engines(url=url, read=read, write=write)
    connect_args = {}
    if pg_schema:
        # Every table, and Alembic's version table, lives in this schema.
        connect_args["server_settings"] = {"search_path": check_schema_name(pg_schema)}
    engine = create_async_engine(
        url,
        future=True,
        pool_size=5,
        max_overflow=15,
        pool_pre_ping=True,
        connect_args=connect_args,
    )
    return Engines(url=url, read=engine, write=engine)
