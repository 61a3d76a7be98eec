"""Fixtures for the real services every package's tests may need.

PostgreSQL and Redis tests skip only when the service is absent and the CI
variable is unset; under CI an absent service is a failure.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import text

from crm_sync.db import Database
from crm_sync.migrations import upgrade
from crm_sync.settings import DatabaseConfig

REDIS_URL = os.environ.get("CTIHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _absent(service: str, detail: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{service} is required in CI but unreachable: {detail}")
    pytest.skip(f"{service} not reachable: {detail}")


PG_ADMIN_DSN = os.environ.get("CTIHUB_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_reachable() -> bool:
    async def probe() -> bool:
        try:
            connection = await asyncpg.connect(PG_ADMIN_DSN, timeout=3)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return False
        await connection.close()
        return True

    return asyncio.run(probe())


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a freshly created and migrated PostgreSQL database for this session."""
    if not _pg_reachable():
        _absent("PostgreSQL", PG_ADMIN_DSN)
    name = f"ctihub_test_{secrets.token_hex(6)}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    url = f"{base}/{name}"
    try:
        asyncio.run(upgrade(url))
        yield url
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of the real Redis; tests must use key prefixes of their own."""

    async def probe() -> None:
        client = Redis.from_url(REDIS_URL, socket_connect_timeout=1)
        try:
            await client.ping()
        finally:
            await client.aclose()

    try:
        asyncio.run(probe())
    except (RedisConnectionError, OSError) as exc:
        _absent("Redis", f"{REDIS_URL}: {exc}")
    return REDIS_URL


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """A client of the real Redis for one test."""
    client = Redis.from_url(redis_url, socket_connect_timeout=1)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def redis_prefix(redis: Redis) -> AsyncIterator[str]:
    """A Redis key prefix of this test's own; its keys are deleted afterwards."""
    prefix = f"test-ctihub:{uuid.uuid4().hex}:"
    yield prefix
    keys = [key async for key in redis.scan_iter(match=prefix + "*")]
    if keys:
        await redis.delete(*keys)


TABLES = (
    "notes",
    "call_records",
    "cases",
    "contracts",
    "phone_numbers",
    "customers",
    "agents",
    "devices",
    "queues",
    "audit_log",
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database URL of each kind (SQLite, PostgreSQL), its tables empty."""
    if request.param == "sqlite":
        sqlite_url = f"sqlite+aiosqlite:///{tmp_path / 'crm.sqlite3'}"
        asyncio.run(upgrade(sqlite_url))
        return sqlite_url
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
    """The CRM database at ``database_url``, disposed of after the test."""
    db = Database(DatabaseConfig(url=database_url))
    yield db
    await db.dispose()
