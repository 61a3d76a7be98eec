"""What the ``ctihub`` command line does with the CRM: migrate, import, export, seed a demo.

All functions are coroutines taking the sections of the configuration they
need; the CLI runs them with ``asyncio.run``, the demo daemon awaits them in its loop.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
from rich.progress import Progress as Progress_
from sqlalchemy import func, select

from crm_sync.csv_export import export_csv as _export_csv
from crm_sync.csv_io import CsvImporter, ImportReport, Progress
from crm_sync.customers import phone_row
from crm_sync.db import Database
from crm_sync.migrations import upgrade
from crm_sync.models import (
    Agent,
    Case,
    Contract,
    Customer,
    Device,
    PhoneNumber,
    RoleGrant,
    utcnow,
)
from crm_sync.passwords import hash_password
from crm_sync.phones import PhoneNormaliser
from crm_sync.settings import CrmConfig, DatabaseConfig
from crm_sync.tracking_codes import new_tracking_code

log = logging.getLogger(__name__)

DEMO_PASSWORD = "ctihub-demo"
"""Password of every demo user; printed by the demo, never used outside it."""


def normaliser_for(crm: CrmConfig, extension_pattern: str) -> PhoneNormaliser:
    """The phone normaliser this installation's configuration describes."""
    return PhoneNormaliser(
        region=crm.default_region,
        extension_pattern=extension_pattern,
        outside_line_prefix=crm.outside_line_prefix,
    )


async def db_upgrade(database: DatabaseConfig) -> None:
    """Create or migrate the database to the latest schema (``ctihub db upgrade``)."""
    await upgrade(database.url)
    log.info("database upgraded url=%s", database.url.split("@")[-1])


async def import_csv(
    database_config: DatabaseConfig,
    crm: CrmConfig,
    normaliser: PhoneNormaliser,
    kind: str,
    path: str | Path,
    strict: bool = False,
    progress: Progress | None = None,
    show_progress: bool = False,
) -> ImportReport:
    """``ctihub import customers|contracts|cases FILE.csv [--strict]``.

    ``progress(done, total)`` is called after each batch; ``show_progress``
    draws a rich progress bar on stderr instead. Raises
    :class:`crm_sync.csv_io.CsvImportError` when the file cannot be read at
    all; row problems are in the report (``str(error)`` reads
    ``line 7, column phones: 'x' is not a phone number``).
    """
    database = Database(database_config)
    try:
        importer = CsvImporter(database, normaliser, crm)
        if not show_progress:
            return await importer.import_file(path, kind, strict=strict, progress=progress)
        with Progress_(
            TextColumn(f"importing {kind}"), BarColumn(), MofNCompleteColumn(), transient=True
        ) as bar:
            task = bar.add_task(kind, total=None)
            return await importer.import_file(
                path,
                kind,
                strict=strict,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    finally:
        await database.dispose()


async def export_csv(database_config: DatabaseConfig, kind: str, path: str | Path) -> int:
    """``ctihub export customers|contracts|cases FILE.csv``; returns the rows written."""
    database = Database(database_config)
    try:
        with open(path, "w", encoding="utf-8", newline="") as out:
            return await _export_csv(database, kind, out)
    finally:
        await database.dispose()


@dataclass(frozen=True, slots=True)
class SeedSummary:
    """What ``seed_demo`` created (all zero when the database already had data)."""

    users: int
    customers: int
    contracts: int
    cases: int


DEMO_USERS = (
    ("ali", "Ali Rezaei", "1001", "agent"),
    ("sara", "Sara Ahmadi", "1002", "agent"),
    ("reza", "Reza Karimi", "1003", "agent"),
    ("maryam", "Maryam Hosseini", None, "supervisor"),
    ("admin", "CRM Admin", None, "admin"),
)
_PERSIAN_FIRST = ("محمد", "علی", "زهرا", "فاطمه", "حسین", "مریم", "رضا", "نرگس", "امیر", "سارا")
_PERSIAN_LAST = ("رضایی", "احمدی", "کریمی", "حسینی", "محمدی", "موسوی", "جعفری", "نوری", "صادقی")
_ENGLISH_FIRST = ("John", "Emma", "David", "Olivia", "James", "Sophia", "Daniel", "Mia")
_ENGLISH_LAST = ("Smith", "Brown", "Taylor", "Wilson", "Clark", "Walker", "Young")
_COMPANIES = ("شرکت پارس داده", "فولاد سپاهان", "Tehran Logistics", "Kish Trading Co", "نیک‌افزار")
_CITIES = (
    "تهران، خیابان ولیعصر",
    "اصفهان، خیابان چهارباغ",
    "شیراز، بلوار زند",
    "Tehran, Vanak Sq.",
)
_PLANS = ("Basic", "Silver", "Gold", "Enterprise")
_SUBJECTS = ("قطعی اینترنت", "Invoice question", "درخواست نصب", "Router replacement", "کندی سرویس")

_TRACE_CASE_CODE = "40012345"
"""Keyed in ``ivr_tracking_code``; it happens to end in its own Verhoeff check digit."""

# Callers in the recorded PBX traces, so the demo's simulated calls pop real customers.
_KNOWN = (
    ("C-0001", "Nasrin Tehrani", "+98 21 8877 6655", "active", True),
    ("C-0002", "کاوه مرادی", "0912 123 4567", "active", False),
    ("C-0003", "Pars Data Co", "021-2233-4455", "expiring", False),
    ("C-0004", "Elham Rostami", "+98 935 111 2233", "active", False),
    ("C-0005", "شرکت آرین", "0098 21 4455 6677", "active", True),
    ("C-0006", "Hamid Ghasemi", "09131234567", "none", False),
    ("C-0007", "Laleh Farahani", "+982177665544", "active", False),
    ("C-0008", "Omid Bagheri", "02188990011", "expired", False),
    ("C-0009", "Shirin Kamali", "+98 21 3344 5566", "active", False),
    ("C-0010", "Behzad Nikpour", "+98 21 6655 4433", "expired", False),
)


async def seed_demo(
    database_config: DatabaseConfig,
    crm: CrmConfig,
    normaliser: PhoneNormaliser,
    customers: int = 300,
    seed: int = 7,
) -> SeedSummary:
    """Fill an empty database with a demo CRM (migrating it first); no-op if it has users."""
    await upgrade(database_config.url)
    database = Database(database_config)
    try:
        async with database.sessions() as session:
            if await session.scalar(select(func.count()).select_from(Agent)):
                return SeedSummary(0, 0, 0, 0)
            rng = random.Random(seed)
            password = hash_password(DEMO_PASSWORD)
            users = []
            for username, name, extension, role in DEMO_USERS:
                user = Agent(username=username, name=name, password_hash=password)
                user.role_rows = [RoleGrant(role=role)]
                if extension:
                    # The simulator's queue members, as Issabel and FreePBX name them.
                    interface = f"Local/{extension}@from-queue/n"
                    user.devices = [
                        Device(interface=interface, technology="Local", extension=extension)
                    ]
                users.append(user)
            session.add_all(users)
            await session.flush()
            agents = [u for u in users if "agent" in u.roles]
            today = utcnow().date()
            made: list[tuple[Customer, str]] = []
            for ref, name, number, known_state, vip in _KNOWN:
                customer = Customer(ref=ref, name=name, vip=vip, kind="person")
                customer.phones.append(phone_row(normaliser, number, "mobile"))
                customer.owner = rng.choice(agents)
                made.append((customer, known_state))
            for index in range(len(_KNOWN), customers):
                made.append((_random_customer(rng, index, normaliser, agents), ""))
            contracts = cases = 0
            for customer, state in made:
                session.add(customer)
                state = state or rng.choice(("active", "active", "expiring", "expired", "none"))
                contract = _contract(rng, state, today)
                if contract is not None:
                    customer.contracts.append(contract)
                    contracts += 1
            await session.flush()
            hours = crm
            codes = {_TRACE_CASE_CODE}
            for customer, _ in made:
                if rng.random() < 0.3 or customer.ref in ("C-0001", "C-0009"):
                    opened = utcnow() - dt.timedelta(hours=rng.randint(1, 200))
                    due = hours.due_hours_key_customer if customer.vip else hours.due_hours_default
                    owner = rng.choice(agents)
                    if customer.ref == "C-0009" and hours.tracking_code_length == 8:
                        # The code keyed in the recorded IVR trace, owned by the agent who
                        # answers there, so the replayed call finds its case.
                        code, owner = _TRACE_CASE_CODE, agents[1]
                    else:
                        code = new_tracking_code(hours.tracking_code_length)
                        while code in codes:
                            code = new_tracking_code(hours.tracking_code_length)
                    codes.add(code)
                    session.add(
                        Case(
                            tracking_code=code,
                            customer_id=customer.id,
                            subject=rng.choice(_SUBJECTS),
                            status=rng.choice(("open", "open", "pending")),
                            priority=rng.choice(("low", "normal", "normal", "high", "urgent")),
                            owner_agent_id=owner.id,
                            opened_at=opened,
                            due_at=opened + dt.timedelta(hours=due),
                        )
                    )
                    cases += 1
            await session.commit()
            return SeedSummary(len(users), len(made), contracts, cases)
    finally:
        await database.dispose()


def _random_customer(
    rng: random.Random, index: int, normaliser: PhoneNormaliser, agents: list[Agent]
) -> Customer:
    roll = rng.random()
    if roll < 0.1:
        name, kind = rng.choice(_COMPANIES) + f" {index}", "company"
    elif roll < 0.7:
        name, kind = f"{rng.choice(_PERSIAN_FIRST)} {rng.choice(_PERSIAN_LAST)}", "person"
    else:
        name, kind = f"{rng.choice(_ENGLISH_FIRST)} {rng.choice(_ENGLISH_LAST)}", "person"
    customer = Customer(
        ref=f"C-{index + 1:04d}",
        name=name,
        kind=kind,
        address=rng.choice(_CITIES),
        email=f"customer{index + 1}@example.com" if rng.random() < 0.6 else None,
        vip=rng.random() < 0.08,
        language="fa" if rng.random() < 0.8 else "en",
        owner=rng.choice(agents) if rng.random() < 0.5 else None,
    )
    customer.phones.append(phone_row(normaliser, _random_number(rng, mobile=True), "mobile"))
    if rng.random() < 0.4:
        customer.phones.append(phone_row(normaliser, _random_number(rng, mobile=False), "work"))
    return customer


_FORMATS: tuple[Callable[[str], str], ...] = (
    lambda n: "+98" + n,
    lambda n: "0" + n,
    lambda n: "0098" + n,
    lambda n: f"0{n[:3]} {n[3:6]} {n[6:]}",
    lambda n: f"+98 {n[:3]}-{n[3:6]}-{n[6:]}",
)


def _random_number(rng: random.Random, mobile: bool) -> str:
    if mobile:
        national = rng.choice(("912", "935", "919", "901", "936")) + f"{rng.randrange(10**7):07d}"
    else:
        national = "21" + f"{rng.randrange(2 * 10**7, 9 * 10**7):08d}"
    return rng.choice(_FORMATS)(national)


def _contract(rng: random.Random, state: str, today: dt.date) -> Contract | None:
    plan = rng.choice(_PLANS)
    if state == "active":
        start = today - dt.timedelta(days=rng.randint(30, 300))
        return Contract(plan=plan, starts_on=start, ends_on=today + dt.timedelta(days=200))
    if state == "expiring":
        start = today - dt.timedelta(days=340)
        return Contract(plan=plan, starts_on=start, ends_on=today + dt.timedelta(days=10))
    if state == "expired":
        end = today - dt.timedelta(days=rng.randint(1, 90))
        return Contract(plan=plan, starts_on=end - dt.timedelta(days=365), ends_on=end)
    return None


async def demo_callers(database: Database) -> list[str]:
    """The demo's callers: mostly the CRM's customers (as their numbers were entered, in
    every format), some strangers, so that pops show both matches and "new customer"."""
    async with database.engine.connect() as conn:
        rows = await conn.execute(
            select(PhoneNumber.raw).where(PhoneNumber.e164.is_not(None)).limit(200)
        )
        known = [raw for (raw,) in rows]
    strangers = ["+989350001122", "02199887766", "09191112233", "anonymous"]
    return known + strangers
