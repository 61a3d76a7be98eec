"""The panel server over a real crm_sync database (SQLite, demo data) and a local bus."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from crm_sync.audit import AuditLog
from crm_sync.call_lists import CallListService
from crm_sync.callbacks import CallbackService
from crm_sync.cases import CaseService
from crm_sync.commands import DEMO_PASSWORD, seed_demo
from crm_sync.db import Database
from crm_sync.matching import CallerDirectory
from crm_sync.screenpop_lookup import CrmCallerLookup
from crm_sync.settings import CallbacksConfig, DatabaseConfig
from cti.bus import LocalBus
from ctihub.panel_backend import crm_panel_backends
from ctihub.settings import Settings, phone_normaliser
from popup_server.app import create_app, start_server
from popup_server.ports import PbxActions
from tests.popup_server.conftest import make_config


@dataclass
class CrmPanel:
    url: str
    app: web.Application
    bus: LocalBus
    database: Database
    settings: Settings
    callbacks: CallbackService | None

    async def token(self, username: str) -> str:
        async with aiohttp.ClientSession() as session:
            response = await session.post(
                f"{self.url}/api/v1/login", json={"username": username, "password": DEMO_PASSWORD}
            )
            assert response.status == 200, await response.text()
            return str((await response.json())["token"])

    async def call(
        self, username: str, method: str, path: str, body: Any = None
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {await self.token(username)}"}
        async with aiohttp.ClientSession() as session:
            response = await session.request(
                method, f"{self.url}/api/v1{path}", json=body, headers=headers
            )
            return response.status, await response.json(content_type=None)


@asynccontextmanager
async def crm_panel(
    tmp_path: Path,
    pbx: PbxActions,
    customers: int = 20,
    with_outbound: bool = False,
    bus: LocalBus | None = None,
    **http: Any,
) -> AsyncIterator[CrmPanel]:
    """Demo users (ali 1001, sara 1002, reza 1003, maryam supervisor) and customers;
    ``with_outbound``: callbacks and call lists too."""
    settings = Settings(database=DatabaseConfig(url=f"sqlite+aiosqlite:///{tmp_path}/crm.sqlite3"))
    normaliser = phone_normaliser(settings)
    await seed_demo(settings.database, settings.crm, normaliser, customers=customers)
    database = Database(settings.database)
    directory = CallerDirectory.for_database(database, normaliser, settings.crm)
    cases = CaseService(database, settings.crm)
    bus = bus or LocalBus(retention=10_000)
    callbacks = CallbackService(database, directory, CallbacksConfig()) if with_outbound else None
    backends = crm_panel_backends(
        database,
        directory,
        cases,
        CrmCallerLookup(directory, cases, database),
        pbx,
        AuditLog(database),
        bus=bus,
        callbacks=callbacks,
        call_lists=CallListService(database, directory, callbacks) if callbacks else None,
    )
    app = create_app(make_config(**http), backends, bus=bus)
    runner, port = await start_server(app, "127.0.0.1", 0)
    try:
        yield CrmPanel(f"http://127.0.0.1:{port}", app, bus, database, settings, callbacks)
    finally:
        await runner.cleanup()
        await bus.close()
        await directory.close()
        await database.dispose()
