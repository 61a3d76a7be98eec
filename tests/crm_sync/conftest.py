"""Fixtures: the same tests run on SQLite (a file per test) and on a real PostgreSQL.

The ``database_url`` and ``database`` fixtures live in tests/conftest.py (the
recordings tests use them too). PostgreSQL gets a fresh database
``ctihub_test_<random>`` per test session, migrated once and dropped at the
end, so parallel runs never collide; each test starts from empty tables.
Without PostgreSQL the postgres half skips, unless the CI variable is set, in
which case it fails.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from crm_sync.db import Database
from crm_sync.matching import CallerDirectory
from crm_sync.phones import PhoneNormaliser
from crm_sync.settings import CrmConfig


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
