"""The assembled CRM side: bus in, call records and signed webhooks out."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from pydantic import SecretStr
from sqlalchemy import select

from crm_sync.connectors.webhooks import verify_signature
from crm_sync.models import CallRecord
from crm_sync.runtime import open_crm
from crm_sync.settings import CrmConfig, CrmHttpConfig, DatabaseConfig
from cti.bus import LATEST, LocalBus
from ctihub.settings import Settings, phone_normaliser

from .events import click_to_call, inbound_answered


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, asyncio.Queue[tuple[dict[str, str], bytes]]]]:
    received: asyncio.Queue[tuple[dict[str, str], bytes]] = asyncio.Queue()

    async def hook(request: web.Request) -> web.Response:
        await received.put((dict(request.headers), await request.read()))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/hook", received
    await runner.cleanup()


async def test_call_ended_on_the_bus_is_recorded_and_pushed_as_a_signed_webhook(
    tmp_path: Path, receiver: tuple[str, asyncio.Queue[tuple[dict[str, str], bytes]]]
) -> None:
    url, received = receiver
    settings = Settings(
        database=DatabaseConfig(url=f"sqlite+aiosqlite:///{tmp_path / 'crm.sqlite3'}"),
        crm=CrmConfig(
            spool_dir=str(tmp_path / "spool"),
            http=CrmHttpConfig(webhook_url=url, webhook_secret=SecretStr("k")),
        ),
    )
    crm = await open_crm(settings.database, settings.crm, phone_normaliser(settings))
    bus = LocalBus()
    subscription = await bus.subscribe("call-log", resume_from=LATEST)
    consumer = asyncio.create_task(crm.call_log.consume(subscription))
    try:
        await crm.customers.create(name="Nasrin Tehrani", phones=[("02188776655", "work")])
        await bus.publish([click_to_call(), inbound_answered()])
        headers, body = await asyncio.wait_for(received.get(), timeout=10)
        second = await asyncio.wait_for(received.get(), timeout=10)
    finally:
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)
        await bus.close()
        await crm.close()
    assert verify_signature("k", headers["X-Ctihub-Timestamp"], body, headers["X-Ctihub-Signature"])
    pushed = [json.loads(body)["data"], json.loads(second[1])["data"]]
    assert sorted(p["call_id"] for p in pushed) == ["1795392474.0", "1795392505.14"]
    answered = next(p for p in pushed if p["call_id"] == "1795392474.0")
    assert answered["customer_id"] is not None
    check = await open_crm(
        settings.database, settings.crm, phone_normaliser(settings), migrate=False
    )
    try:
        async with check.database.sessions() as session:
            ids = sorted(await session.scalars(select(CallRecord.call_id)))
    finally:
        await check.close()
    assert ids == ["1795392474.0", "1795392505.14"]
