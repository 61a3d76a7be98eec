"""The migrations build exactly what the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from crm_sync.db import Database
from crm_sync.migrations import upgrade
from crm_sync.models import Base, CallRecord, Customer
from crm_sync.settings import DatabaseConfig


def _ours(name: str | None, type_: str, parent_names: object) -> bool:
    # The phonebook's trigram index (PostgreSQL) and FTS5 table (SQLite) are each
    # database's own search machinery, made by the migration and not in the models.
    return not (name or "").startswith("customers_search")


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_name": _ours}
    )
    return list(compare_metadata(context, Base.metadata))


async def test_migrated_schema_matches_the_models(database: Database) -> None:
    async with database.engine.connect() as connection:
        assert await connection.run_sync(_diff) == []


async def test_upgrade_twice_is_harmless(database: Database, database_url: str) -> None:
    await upgrade(database_url)
    async with database.sessions() as session:
        session.add(Customer(name="Still here"))
        await session.commit()
    await upgrade(database_url)
    async with database.sessions() as session:
        assert await session.scalar(select(Customer.name)) == "Still here"


async def test_a_call_id_can_be_recorded_only_once(database: Database) -> None:
    async with database.sessions() as session:
        session.add(CallRecord(call_id="1795392474.0", direction="inbound", disposition="answered"))
        await session.commit()
    async with database.sessions() as session:
        session.add(CallRecord(call_id="1795392474.0", direction="inbound", disposition="missed"))
        with pytest.raises(IntegrityError):
            await session.commit()


async def test_times_come_back_as_aware_utc(database: Database) -> None:
    tehran = dt.timezone(dt.timedelta(hours=3, minutes=30))
    started = dt.datetime(2026, 11, 23, 3, 37, 54, tzinfo=tehran)
    async with database.sessions() as session:
        session.add(
            CallRecord(
                call_id="c1", direction="inbound", disposition="answered", started_at=started
            )
        )
        await session.commit()
    async with database.sessions() as session:
        stored = await session.scalar(select(CallRecord.started_at))
    assert stored == dt.datetime(2026, 11, 23, 0, 7, 54, tzinfo=dt.UTC)
    assert stored is not None and stored.utcoffset() == dt.timedelta(0)


async def test_naive_datetimes_are_refused(database: Database) -> None:
    async with database.sessions() as session:
        session.add(
            CallRecord(
                call_id="c2",
                direction="inbound",
                disposition="answered",
                started_at=dt.datetime(2026, 11, 23, 0, 7, 54),
            )
        )
        with pytest.raises(Exception, match="naive datetime"):
            await session.commit()


async def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'wal.sqlite3'}"
    await upgrade(url)
    database = Database(DatabaseConfig(url=url))
    try:
        async with database.engine.connect() as connection:
            mode = (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar()
            keys = (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar()
    finally:
        await database.dispose()
    assert (mode, keys) == ("wal", 1)
