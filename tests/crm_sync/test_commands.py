"""The CLI's CRM commands: migrate, seed the demo, import and export files."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from crm_sync.commands import DEMO_PASSWORD, db_upgrade, export_csv, import_csv, seed_demo
from crm_sync.db import Database
from crm_sync.matching import CallerDirectory
from crm_sync.models import Agent
from crm_sync.passwords import hash_password, verify_password
from crm_sync.phones import PhoneNormaliser
from crm_sync.settings import CrmConfig, DatabaseConfig
from ctihub.settings import Settings, phone_normaliser


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database=DatabaseConfig(url=f"sqlite+aiosqlite:///{tmp_path / 'hub' / 'crm.sqlite3'}"),
        crm=CrmConfig(spool_dir=str(tmp_path / "spool")),
    )


async def test_demo_seed_creates_the_lab_agents_users_and_customers(settings: Settings) -> None:
    summary = await seed_demo(
        settings.database, settings.crm, phone_normaliser(settings), customers=120
    )
    assert (summary.users, summary.customers) == (5, 120)
    assert summary.cases > 0 and summary.contracts > 0
    database = Database(settings.database)
    directory = CallerDirectory.for_database(database, PhoneNormaliser(), settings.crm)
    try:
        async with database.sessions() as session:
            users = list(await session.scalars(select(Agent)))
        assert {a.extensions: (a.name, a.roles) for a in users if a.extensions} == {
            ("1001",): ("Ali Rezaei", ("agent",)),
            ("1002",): ("Sara Ahmadi", ("agent",)),
            ("1003",): ("Reza Karimi", ("agent",)),
        }
        assert sorted(r for a in users for r in a.roles) == [
            "admin",
            "agent",
            "agent",
            "agent",
            "supervisor",
        ]
        assert all(verify_password(DEMO_PASSWORD, a.password_hash) for a in users)
        assert all(DEMO_PASSWORD not in (a.password_hash or "") for a in users)
        # Callers of the recorded traces pop real customers in the demo.
        kaveh = (await directory.lookup("09121234567")).best
        assert kaveh is not None and kaveh.name == "کاوه مرادی"
        expired = (await directory.lookup("+982166554433")).best
        assert expired is not None and expired.contract.state == "expired"
        shirin = (await directory.lookup("+982133445566")).best
        assert shirin is not None
        # The IVR trace's caller and code: the case is hers and 1002 (who answers there) owns it.
        assert [(c.tracking_code, c.owner_extension) for c in shirin.open_cases] == [
            ("40012345", "1002")
        ]
    finally:
        await directory.close()
        await database.dispose()


async def test_seeding_twice_adds_nothing(settings: Settings) -> None:
    await seed_demo(settings.database, settings.crm, phone_normaliser(settings), customers=20)
    again = await seed_demo(
        settings.database, settings.crm, phone_normaliser(settings), customers=20
    )
    assert (again.users, again.customers, again.cases) == (0, 0, 0)


async def test_import_and_export_through_the_commands(settings: Settings, tmp_path: Path) -> None:
    await db_upgrade(settings.database)
    source = tmp_path / "customers.csv"
    source.write_bytes("\ufeffref,name,phones\nC-1,مریم حسینی,0912 000 0001\nC-2,,x\n".encode())
    seen: list[tuple[int, int]] = []
    report = await import_csv(
        settings.database,
        settings.crm,
        phone_normaliser(settings),
        "customers",
        source,
        progress=lambda d, t: seen.append((d, t)),
    )
    assert (report.imported, [(e.line, e.column) for e in report.errors]) == (
        1,
        [(3, "name"), (3, "phones")],
    )
    assert seen == [(1, 1)]
    target = tmp_path / "out.csv"
    assert await export_csv(settings.database, "customers", target) == 1
    assert "مریم حسینی" in target.read_text(encoding="utf-8-sig")


def test_password_hashes_verify_only_the_right_password() -> None:
    stored = hash_password("correct horse")
    assert stored.startswith("scrypt$16384$8$1$")
    assert verify_password("correct horse", stored)
    assert not verify_password("wrong horse", stored)
    assert not verify_password("Correct horse", stored)
    assert not verify_password("correct horse", "md5$abc")
    assert hash_password("correct horse") != stored  # salted
    assert not verify_password("x", "garbage")
    assert not verify_password("x", None)
