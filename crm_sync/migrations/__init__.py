"""Alembic migrations of the CRM schema, run with :func:`upgrade` (``ctihub db upgrade``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at these migrations and the given database URL."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would eat '%' in passwords.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (the latest by default)."""
    from crm_sync.db import ensure_sqlite_dir

    ensure_sqlite_dir(url)
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_upgrade_on, url, revision)
    finally:
        await engine.dispose()


def _upgrade_on(connection: Connection, url: str, revision: str) -> None:
    config = alembic_config(url)
    # env.py uses this connection instead of opening its own (and its own event loop).
    config.attributes["connection"] = connection
    command.upgrade(config, revision)
