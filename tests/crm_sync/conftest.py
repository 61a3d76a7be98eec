"""Fixtures: the same tests run on SQLite (a file per test) and on a real PostgreSQL.

PostgreSQL gets a fresh database ``ctihub_test_<random>`` per test session,
migrated once and dropped at the end, so parallel runs never collide; each
test starts from empty tables. Without PostgreSQL the postgres half skips,
unless the CI variable is set, in which case it fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from crm_sync.db import Database
from crm_sync.matching import CallerDirectory
from crm_sync.migrations import upgrade
from crm_sync.phones import PhoneNormaliser
from cti.config import CrmConfig, DatabaseConfig

TABLES = ("notes", "call_records", "cases", "contracts", "phone_numbers", "customers", "agents")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database URL of each kind."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'crm.sqlite3'}"
        asyncio.run(upgrade(url))
        return url
    url: str = request.getfixturevalue("postgres_url")

    async def empty() -> None:
        database = Database(DatabaseConfig(url=url))
        try:
            async with database.engine.begin() as connection:
                await connection.execute(
                    text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
                )
        finally:
            await database.dispose()

    asyncio.run(empty())
    return url


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(DatabaseConfig(url=database_url))
    yield db
    await db.dispose()


@pytest.fixture
def crm_config(tmp_path: Path) -> CrmConfig:
    return CrmConfig(spool_dir=str(tmp_path / "spool"))


@pytest.fixture
def normaliser() -> PhoneNormaliser:
    return PhoneNormaliser("IR")


@pytest.fixture
async def directory(
    database: Database, normaliser: PhoneNormaliser, crm_config: CrmConfig
) -> AsyncIterator[CallerDirectory]:
    caller_directory = CallerDirectory.for_database(database, normaliser, crm_config)
    yield caller_directory
    await caller_directory.close()
