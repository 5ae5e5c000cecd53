"""`python -m actions.practice migrate|seed|reset|check`: manage the embedded practice database.

  migrate  upgrade the schema to the latest revision (no demo data)
  seed     migrate, then seed the demo clinic if the database is empty (idempotent)
  reset    DELETE every practice table, then migrate and seed afresh (demo only; asks
           unless --yes)
  check    report the schema revision and row counts, exit 1 if not migrated

The database is DATABASE_URL, else SQLite at $VAR_DIR/practice.db (default var/).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from actions.practice import models as m
from actions.practice.db import create_engines, default_database_url
from actions.practice.migrate import drop_everything, ensure_schema_and_seed


def _where(url: str) -> str:
    # Never print a password.
    return make_url(url).render_as_string(hide_password=True)


async def _check(url: str) -> int:
    engines = create_engines(url)
    try:
        async with engines.read.connect() as connection:
            try:
                revision = (
                    await connection.execute(text("SELECT version_num FROM alembic_version"))
                ).scalar()
            except Exception:  # noqa: BLE001 - any failure here means "not migrated"
                print(f"{_where(url)}: not migrated. Run: python -m actions.practice seed")
                return 1
            counts = {}
            for model in (m.Patient, m.Provider, m.ScheduleBlock, m.Appointment, m.RefillRequest):
                counts[model.__tablename__] = (
                    await connection.execute(select(func.count()).select_from(model))
                ).scalar()
        summary = ", ".join(f"{table}={count}" for table, count in counts.items())
        print(f"{_where(url)}: revision {revision}; {summary}")
        return 0
    finally:
        await engines.dispose()


def main(argv=None) -> int:
    try:
        return _run(argv)
    except (OSError, DBAPIError) as error:
        url = default_database_url()
        print(
            f"Cannot use the practice database at {_where(url)} ({type(error).__name__}). "
            "Check DATABASE_URL (or VAR_DIR) and that the database server is running.",
            file=sys.stderr,
        )
        return 2


def _run(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m actions.practice", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["migrate", "seed", "reset", "check"])
    parser.add_argument("--yes", action="store_true", help="reset without asking")
    args = parser.parse_args(argv)
    url = default_database_url()

    if args.command == "check":
        return asyncio.run(_check(url))
    if args.command == "migrate":
        asyncio.run(ensure_schema_and_seed(url, seed_demo=False))
        print(f"{_where(url)}: schema is up to date.")
        return 0
    if args.command == "seed":
        seeded = asyncio.run(ensure_schema_and_seed(url))
        print(f"{_where(url)}: " + ("seeded the demo clinic." if seeded else "already seeded."))
        return 0
    # reset
    if not args.yes:
        answer = input(f"Delete ALL practice data in {_where(url)} and re-seed the demo? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing changed.")
            return 1

    async def reset() -> None:
        await drop_everything(url)
        await ensure_schema_and_seed(url)

    asyncio.run(reset())
    print(f"{_where(url)}: reset and seeded the demo clinic.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
