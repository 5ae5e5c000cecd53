"""Alembic environment for the practice database.

Two ways in: `ensure_schema_and_seed()` hands over an open (async-bridged) connection in
`config.attributes["connection"]`; Alembic's own CLI gets an engine built from
DATABASE_URL / VAR_DIR, with the same driver rewriting the application uses.
"""

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from actions.practice.db import create_engines, default_database_url
from actions.practice.models import Base

config = context.config
target_metadata = Base.metadata


def run_with_connection(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_with_new_engine() -> None:
    engines = create_engines(
        config.get_main_option("sqlalchemy.url") or default_database_url(),
        config.attributes.get("pg_schema"),
    )
    try:
        async with engines.write.connect() as connection:
            await connection.run_sync(run_with_connection)
            await connection.commit()
    finally:
        await engines.dispose()


if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url") or default_database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
elif config.attributes.get("connection") is not None:
    run_with_connection(config.attributes["connection"])
else:
    asyncio.run(run_with_new_engine())
