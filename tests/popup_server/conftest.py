"""A panel server on an ephemeral port over the real backend, users 1001-1003 and a LocalBus.

The ``server`` fixture serves ``ctihub.panel_backend`` over ``crm_sync`` on a
fresh database of each kind (SQLite, PostgreSQL: the ``database_url``
fixture), seeded with the customers behind the recorded traces. The
in-memory stand-ins (:mod:`tests.popup_server.memory_backend`) remain for
tests about the server alone (the bus feed, the live simulator stack).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select, text

from crm_sync.audit import AuditLog
from crm_sync.cases import CaseService
from crm_sync.customers import phone_row
from crm_sync.db import Database
from crm_sync.matching import CallerDirectory
from crm_sync.models import (
    Agent,
    CallRecord,
    Case,
    Contract,
    Customer,
    Device,
    Note,
    RoleGrant,
)
from crm_sync.passwords import hash_password
from crm_sync.phones import PhoneNormaliser
from crm_sync.screenpop_lookup import CrmCallerLookup
from crm_sync.settings import CrmConfig, DatabaseConfig
from cti.bus import LocalBus
from cti.events import Event
from cti.replay import read_transcript, replay_events
from ctihub.panel_backend import crm_panel_backends
from popup_server.app import FEED_KEY, PanelBackends, create_app, start_server
from popup_server.auth import User
from popup_server.ports import PbxActions, Recordings
from popup_server.settings import PopupConfig
from tests.popup_server.memory_backend import (
    InMemoryUserStore,
    MemoryAudit,
    MemoryCrm,
    RecordingPbx,
)

if TYPE_CHECKING:
    from playwright.async_api import Browser

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ami"
PASSWORD = "correct horse battery"
ORIGIN = "http://panel.example"


def trace_events(name: str) -> list[Event]:
    """The domain events of a recorded AMI trace."""
    return replay_events(read_transcript(FIXTURES / f"{name}.jsonl"))


def demo_crm() -> MemoryCrm:
    """Customers behind the numbers of the recorded traces."""
    crm = MemoryCrm()
    crm.add_customer(
        {
            "id": 1,
            "name": "Nasrin Tehrani",
            "company": "Pars Data Co",
            "kind": "person",
            "vip": True,
            "language": "fa",
            "address": "تهران، خیابان ولیعصر ۱۲",
            "contract": {"state": "active", "plan": "Gold", "ends_on": "2027-03-20"},
            "open_cases": [
                {
                    "id": 11,
                    "tracking_code": "40012345",
                    "subject": "قطعی اینترنت",
                    "status": "open",
                    "priority": "high",
                    "due_at": "2026-11-24T10:00:00+00:00",
                    "owner_extension": "1002",
                }
            ],
            "recent_calls": [
                {
                    "call_id": "1795300000.1",
                    "direction": "inbound",
                    "started_at": "2026-11-20T08:30:00+00:00",
                    "queue": "support",
                    "agent": "1002",
                    "disposition": "answered",
                    "talk_seconds": 184,
                }
            ],
        },
        ["+98 21 8877 6655"],
    )
    crm.add_customer(
        {
            "id": 2,
            "name": "Laleh Farahani",
            "kind": "person",
            "vip": False,
            "language": "en",
            "address": "Tehran, Vanak Sq.",
            "contract": {"state": "expired", "plan": "Basic", "ends_on": "2026-01-01"},
        },
        ["+982177665544"],
    )
    return crm


USERS = (
    ("ali", "Ali Rezaei", "1001", "agent"),
    ("sara", "Sara Ahmadi", "1002", "agent"),
    ("reza", "Reza Karimi", "1003", "agent"),
    ("maryam", "Maryam Hosseini", None, "supervisor"),
    ("boss", "Hub Admin", None, "admin"),
)
"""Panel users (ids 1 to 5 in this order), each with :data:`PASSWORD`."""
GOLD_CONTRACT_ENDS = dt.date(2099, 3, 20)
"""Nasrin Tehrani's contract: active for as long as these tests live."""
TRACE_CASE_CODE = "40012345"
"""Nasrin Tehrani's open case, owned by sara (1002)."""


async def seed_crm(database: Database, password_hash: str) -> None:
    """The users and the customers behind the recorded traces, as :func:`demo_crm` holds them:
    Nasrin Tehrani (id 1, VIP, active Gold contract, case :data:`TRACE_CASE_CODE`) on
    +98 21 8877 6655 and Laleh Farahani (id 2, expired contract) on +982177665544."""
    normaliser = PhoneNormaliser()
    async with database.sessions() as session:
        agents = []
        for i, (u, n, e, r) in enumerate(USERS, start=1):
            agent = Agent(id=i, username=u, name=n, password_hash=password_hash)
            agent.role_rows = [RoleGrant(role=r)]
            if e:
                agent.devices = [Device(interface=f"PJSIP/{e}", technology="PJSIP", extension=e)]
            agents.append(agent)
        session.add_all(agents)
        nasrin = Customer(
            id=1,
            name="Nasrin Tehrani",
            kind="person",
            vip=True,
            language="fa",
            address="تهران، خیابان ولیعصر ۱۲",
        )
        nasrin.phones.append(phone_row(normaliser, "+98 21 8877 6655"))
        nasrin.contracts.append(
            Contract(plan="Gold", starts_on=dt.date(2025, 3, 21), ends_on=GOLD_CONTRACT_ENDS)
        )
        laleh = Customer(
            id=2, name="Laleh Farahani", kind="person", language="en", address="Tehran, Vanak Sq."
        )
        laleh.phones.append(phone_row(normaliser, "+982177665544"))
        laleh.contracts.append(
            Contract(plan="Basic", starts_on=dt.date(2025, 1, 1), ends_on=dt.date(2026, 1, 1))
        )
        session.add_all([nasrin, laleh])
        await session.flush()
        session.add(
            Case(
                id=11,
                tracking_code=TRACE_CASE_CODE,
                customer_id=1,
                subject="قطعی اینترنت",
                status="open",
                priority="high",
                owner_agent_id=2,
                due_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=24),
            )
        )
        await session.commit()
    if database.engine.dialect.name == "postgresql":
        # Rows were given their ids: move the sequences past them.
        async with database.engine.begin() as connection:
            for table in ("agents", "customers", "cases"):
                await connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )


@dataclass
class PanelServer:
    """A running panel server over the real backend, and its database."""

    url: str
    app: web.Application
    bus: LocalBus
    database: Database
    pbx: RecordingPbx

    async def log_call(self, **fields: Any) -> None:
        """Write a call record as the call log would (``call_id`` and ``started_at`` needed)."""
        values: dict[str, Any] = {"direction": "inbound", "disposition": "answered", **fields}
        async with self.database.sessions() as session:
            session.add(CallRecord(**values))
            await session.commit()

    async def notes(self) -> list[Note]:
        """Every note written, oldest first."""
        async with self.database.sessions() as session:
            return list((await session.scalars(select(Note).order_by(Note.id))).all())

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/ws/agent"

    async def publish(self, events: list[Event]) -> None:
        """Publish and wait until the pop feed has handled them all and the CRM answered
        every lookup they asked (the pops are filled in, their pop_updated queued)."""
        feed = self.app[FEED_KEY]
        target = feed.handled + len(events)
        await self.bus.publish(events)
        async with asyncio.timeout(5):
            while feed.handled < target or feed.lookups.pending:
                await asyncio.sleep(0.005)

    async def token(self, username: str) -> str:
        async with aiohttp.ClientSession() as session:
            response = await session.post(
                f"{self.url}/api/v1/login", json={"username": username, "password": PASSWORD}
            )
            assert response.status == 200, await response.text()
            return str((await response.json())["token"])


@pytest.fixture(scope="session")
def password_hash() -> str:
    return hash_password(PASSWORD)


def make_users(password_hash: str) -> InMemoryUserStore:
    users = InMemoryUserStore()
    for uid, (username, name, ext, role) in enumerate(
        [
            ("ali", "Ali Rezaei", "1001", "agent"),
            ("sara", "Sara Ahmadi", "1002", "agent"),
            ("reza", "Reza Karimi", "1003", "agent"),
            ("maryam", "Maryam Hosseini", None, "supervisor"),
        ],
        start=1,
    ):
        users.add(
            User(uid, username, name, role, (ext,) if ext else (), "en"),  # type: ignore[arg-type]
            password_hash,
        )
    return users


def make_config(**overrides: Any) -> PopupConfig:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "public_url": ORIGIN,
        "secret_key": "s" * 40,
        "auth_timeout_seconds": 2.0,
        "login_max_failures": 3,
    }
    values.update(overrides)
    return PopupConfig(**values)


def crm_backends(
    crm: MemoryCrm, users: InMemoryUserStore, pbx: PbxActions, recordings: Recordings | None = None
) -> PanelBackends:
    """The panel's backends with the in-memory CRM in every CRM part (lookup to figures)."""
    return PanelBackends(
        users=users,
        lookup=crm,
        pbx=pbx,
        phonebook=crm,
        cases=crm,
        history=crm,
        figures=crm,
        recordings=recordings,
        audit=MemoryAudit(),
        customers=crm,
        calls=crm,
    )


@contextlib.asynccontextmanager
async def serve_panel(
    password_hash: str,
    database_url: str,
    recordings: Recordings | None = None,
    **http: Any,
) -> AsyncIterator[PanelServer]:
    """A panel server on an ephemeral port over ``ctihub.panel_backend`` on the (migrated,
    empty) database at ``database_url``, seeded by :func:`seed_crm`; a recording PBX and a
    local bus. ``recordings`` replaces the backend's (none by default); ``http``: further
    ``[http]`` settings."""
    database = Database(DatabaseConfig(url=database_url))
    await seed_crm(database, password_hash)
    crm_config = CrmConfig()
    directory = CallerDirectory.for_database(database, PhoneNormaliser(), crm_config)
    cases = CaseService(database, crm_config)
    pbx = RecordingPbx()
    backends = crm_panel_backends(
        database,
        directory,
        cases,
        CrmCallerLookup(directory, cases, database),
        pbx,
        AuditLog(database),
    )
    if recordings is not None:
        backends = dataclasses.replace(backends, recordings=recordings)
    bus = LocalBus(retention=1000)
    app = create_app(make_config(**http), backends, bus=bus)
    runner, port = await start_server(app, "127.0.0.1", 0)
    try:
        yield PanelServer(f"http://127.0.0.1:{port}", app, bus, database, pbx)
    finally:
        await runner.cleanup()
        await bus.close()
        await cases.close()
        await directory.close()
        await database.dispose()


@pytest.fixture
async def server(password_hash: str, database_url: str) -> AsyncIterator[PanelServer]:
    """The panel over the real backend, once on SQLite and once on PostgreSQL."""
    async with serve_panel(password_hash, database_url) as panel:
        yield panel


CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parents[1] / "artifacts"


def artifact(name: str) -> Path:
    """Where a browser test leaves a screenshot (tests/artifacts, kept out of git)."""
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / ".gitignore").write_text("*\n")
    return ARTIFACTS / name


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium under Playwright; skipped only without Chromium and without CI."""
    if not CHROMIUM.exists() and not os.environ.get("CI"):
        pytest.skip("needs /usr/bin/chromium (runs always when CI is set)")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        launched = await pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-background-networking", "--headless=new"],
        )
        try:
            yield launched
        finally:
            await launched.close()


async def receive_json(ws: aiohttp.ClientWebSocketResponse, timeout: float = 5.0) -> dict[str, Any]:
    """The next text message as JSON (fails on close or timeout)."""
    message = await ws.receive(timeout=timeout)
    assert message.type == aiohttp.WSMsgType.TEXT, f"expected text, got {message!r}"
    data: dict[str, Any] = json.loads(message.data)
    return data


async def filled_in(ws: aiohttp.ClientWebSocketResponse, pop: dict[str, Any]) -> dict[str, Any]:
    """``pop["call"]`` as the panel shows it once the CRM answered (merging ``pop_updated``)."""
    call = dict(pop["call"])
    while call["match"]["status"] == "pending":
        message = await receive_json(ws)
        if message["type"] == "pop_updated" and message["call_id"] == call["call_id"]:
            call.update(message["call"])
    return call


async def open_agent_socket(
    server: PanelServer, session: aiohttp.ClientSession, username: str
) -> tuple[aiohttp.ClientWebSocketResponse, list[dict[str, Any]]]:
    """An authenticated socket and the messages up to ``snapshot_done`` (hello first)."""
    token = await server.token(username)
    ws = await session.ws_connect(server.ws_url, headers={"Origin": ORIGIN})
    await ws.send_json({"type": "auth", "token": token})
    received = []
    while True:
        message = await receive_json(ws)
        received.append(message)
        if message["type"] == "snapshot_done":
            return ws, received
