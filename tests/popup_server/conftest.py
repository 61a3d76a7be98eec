"""A panel server on an ephemeral port with an in-memory CRM, users 1001-1003 and a LocalBus."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from aiohttp import web

from crm_sync.passwords import hash_password
from cti.bus import LocalBus
from cti.events import Event
from cti.replay import read_transcript, replay_events
from popup_server.app import FEED_KEY, PanelBackends, create_app, start_server
from popup_server.auth import User
from popup_server.ports import PbxActions, Recordings
from popup_server.settings import PopupConfig
from tests.popup_server.memory_backend import InMemoryUserStore, MemoryCrm, RecordingPbx

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


@dataclass
class PanelServer:
    """A running panel server and its parts."""

    url: str
    app: web.Application
    bus: LocalBus
    crm: MemoryCrm
    pbx: RecordingPbx
    users: InMemoryUserStore

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/ws/agent"

    async def publish(self, events: list[Event]) -> None:
        """Publish and wait until the pop feed has handled them all."""
        feed = self.app[FEED_KEY]
        target = feed.handled + len(events)
        await self.bus.publish(events)
        async with asyncio.timeout(5):
            while feed.handled < target:
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
    )


@contextlib.asynccontextmanager
async def serve_panel(
    password_hash: str, recordings: Recordings | None = None
) -> AsyncIterator[PanelServer]:
    """A panel server on an ephemeral port over the demo CRM, a recording PBX and a local bus."""
    crm = demo_crm()
    pbx = RecordingPbx()
    users = make_users(password_hash)
    bus = LocalBus(retention=1000)
    app = create_app(make_config(), crm_backends(crm, users, pbx, recordings), bus=bus)
    runner, port = await start_server(app, "127.0.0.1", 0)
    try:
        yield PanelServer(f"http://127.0.0.1:{port}", app, bus, crm, pbx, users)
    finally:
        await runner.cleanup()
        await bus.close()


@pytest.fixture
async def server(password_hash: str) -> AsyncIterator[PanelServer]:
    async with serve_panel(password_hash) as panel:
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
