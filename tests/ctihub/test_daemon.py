"""The whole daemon, end to end: simulated PBX over real AMI and FastAGI, SQLite CRM,
in-process bus, panel server; calls placed by scenario land in the call log."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, ClientWebSocketResponse
from sqlalchemy import text

from crm_sync.commands import DEMO_PASSWORD
from ctihub.daemon import Hub
from ctihub.settings import Settings, load_settings
from pbx_adapters.simulator import Scenario, Simulator, SimulatorSettings, lab_pbx
from tests.cti.panel_client import agent_socket, next_pbx_link, next_pop

SCENARIOS = Path(__file__).resolve().parents[2] / "pbx_adapters" / "simulator" / "scenarios"


def settings_for(tmp_path: Path, scenario: str, **extra: str) -> Settings:
    env = {
        "CTIHUB_PBX": "simulator",
        "CTIHUB_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path}/hub.sqlite3",
        "CTIHUB_CRM__SPOOL_DIR": str(tmp_path / "spool"),
        "CTIHUB_SIMULATOR__SCENARIO": str(SCENARIOS / scenario),
        "CTIHUB_SIMULATOR__PORT": "0",
        "CTIHUB_SIMULATOR__SPEED": "10",
        "CTIHUB_AGI__PORT": "0",
        "CTIHUB_HTTP__PORT": "0",
        **extra,
    }
    return load_settings(None, env=env)


async def call_records(hub: Hub, count: int, timeout: float = 20.0) -> list[dict[str, object]]:
    from crm_sync.db import Database

    database = Database(hub.settings.database)
    try:
        async with asyncio.timeout(timeout):
            while True:
                async with database.engine.connect() as conn:
                    rows = (await conn.execute(text("select * from call_records"))).mappings()
                    records = [dict(r) for r in rows]
                if len(records) >= count:
                    return records
                await asyncio.sleep(0.1)
    finally:
        await database.dispose()


async def test_ivr_call_through_the_whole_hub_is_logged_with_its_case(tmp_path: Path) -> None:
    """The IVR decides here (the hub's FastAGI, the demo CRM), not the scenario script."""
    hub = Hub(settings_for(tmp_path, "ivr_tracking_code.toml"), demo=True)
    await hub.start()
    try:
        (record,) = await call_records(hub, 1)
    finally:
        await hub.stop()
    assert record["direction"] == "inbound"
    assert record["caller"] == "+982133445566"
    assert record["dialed"] == "2188000001"
    assert (record["queue"], record["agent"]) == ("support", "1002")
    assert record["disposition"] == "answered"
    assert record["ivr_input"] == "40012345"
    assert record["customer_id"] is not None and record["case_id"] is not None


async def test_expired_contract_caller_is_not_queued_through_the_whole_hub(tmp_path: Path) -> None:
    hub = Hub(settings_for(tmp_path, "ivr_contract_expired.toml"), demo=True)
    await hub.start()
    try:
        (record,) = await call_records(hub, 1)
    finally:
        await hub.stop()
    assert (record["disposition"], record["queue"], record["agent"]) == ("ivr", None, None)


async def test_agent_logs_in_and_gets_the_pop_before_answering(tmp_path: Path) -> None:
    hub = Hub(
        settings_for(tmp_path, "inbound_answered.toml", CTIHUB_SIMULATOR__SPEED="1"),
        demo=True,
    )
    await hub.start()
    try:
        assert hub.panel_url is not None
        async with agent_socket(hub.panel_url, "ali") as ws:
            pop = await next_pop(ws)
        call = pop["call"]
        assert call["caller"]["normalised"] == "+982188776655"
        assert (call["state"], call["queue"], call["answered_at"]) == ("ringing", "support", None)
        (customer,) = call["match"]["customers"]
        assert customer["contract"]["state"] == "active"
        assert customer["open_cases"], "the seeded customer has an open case"
    finally:
        await hub.stop()


async def test_hub_stops_cleanly_and_frees_its_ports(tmp_path: Path) -> None:
    hub = Hub(settings_for(tmp_path, "inbound_answered.toml"), demo=False)
    await hub.start()
    ports = (hub.ami_port, hub.agi_port)
    await hub.stop()
    for port in ports:
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", port)


async def test_hub_status_shows_the_pbx_link_to_admins_only(tmp_path: Path) -> None:
    hub = Hub(settings_for(tmp_path, "inbound_answered.toml"), demo=True)
    await hub.start()
    try:
        assert hub.panel_url is not None
        url = f"{hub.panel_url}api/v1/status"
        async with ClientSession() as http:
            assert (await http.get(url)).status == 401

            async def token(username: str) -> str:
                response = await http.post(
                    f"{hub.panel_url}api/v1/login",
                    json={"username": username, "password": DEMO_PASSWORD},
                )
                return str((await response.json())["token"])

            agent = {"Authorization": f"Bearer {await token('ali')}"}
            assert (await http.get(url, headers=agent)).status == 403
            admin = {"Authorization": f"Bearer {await token('admin')}"}
            async with asyncio.timeout(10):
                while True:
                    status = await (await http.get(url, headers=admin)).json()
                    if status["pbx"]["state"] == "ready":
                        break
                    await asyncio.sleep(0.05)
        assert status["pbx"]["holds_link"] is True and status["pbx"]["link"] == "up"
        assert status["pbx"]["connects"] == 1 and status["pbx"]["auth_failures"] == 0
        assert status["bus"] == "local" and status["node"] == hub.node_id
        assert "hunter2" not in json.dumps(status) and "secret" not in json.dumps(status)
    finally:
        await hub.stop()


class FlakyBus:
    """A bus that refuses the first publishes, as Redis does while it restarts."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.published: list[list[object]] = []

    async def publish(self, events: list[object]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("Redis is restarting")
        self.published.append(list(events))


async def test_a_batch_the_bus_refuses_is_retried_not_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from cti.events import QueueCallersChanged
    from ctihub.daemon import publish_with_retry

    caplog.set_level(logging.INFO, logger="ctihub.daemon")
    bus = FlakyBus(failures=3)
    batch = [QueueCallersChanged("support", 2, 1.0)]
    await publish_with_retry(bus, batch, first_delay=0.001)  # type: ignore[arg-type]
    assert bus.published == [batch]
    assert [r.levelname for r in caplog.records].count("ERROR") == 1, "the outage is logged once"
    assert "recovered after 3" in caplog.text


async def resume_snapshot(ws: ClientWebSocketResponse) -> list[dict[str, Any]]:
    """Everything from ``hello`` up to ``snapshot_done`` (excluded)."""
    out: list[dict[str, Any]] = []
    async with asyncio.timeout(10):
        async for message in ws:
            data: dict[str, Any] = json.loads(message.data)
            if data["type"] == "snapshot_done":
                return out
            out.append(data)
    raise AssertionError("the websocket closed before snapshot_done")


async def test_agents_see_the_pbx_link_go_down_and_come_back(tmp_path: Path) -> None:
    secret = "pbx-link-secret"
    pbx = Simulator(Scenario(lab_pbx()), SimulatorSettings(secret=secret))
    ami_port = await pbx.start("127.0.0.1", 0, run_scenario=False)
    env = {
        "CTIHUB_PBX": "asterisk",
        "CTIHUB_AMI__PORT": str(ami_port),
        "CTIHUB_AMI__SECRET": secret,
        "CTIHUB_AMI__RECONNECT_MIN_DELAY": "0.05",
        "CTIHUB_AMI__RECONNECT_MAX_DELAY": "0.2",
        "CTIHUB_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path}/hub.sqlite3",
        "CTIHUB_CRM__SPOOL_DIR": str(tmp_path / "spool"),
        "CTIHUB_AGI__ENABLED": "false",
        "CTIHUB_HTTP__PORT": "0",
    }
    hub = Hub(load_settings(None, env=env), demo=True)
    rebooted: Simulator | None = None
    try:
        await hub.start()
        assert hub.panel_url is not None
        async with agent_socket(hub.panel_url, "ali") as first:
            assert (await next_pbx_link(first))["state"] == "up"
        # Opened once the hub knows the link: the state is part of the resume.
        async with agent_socket(hub.panel_url, "ali") as ws:
            links = [m for m in await resume_snapshot(ws) if m["type"] == "pbx_link"]
            assert [(m["v"], m["state"], m["detail"]) for m in links] == [(1, "up", None)]

            await pbx.stop()  # the PBX goes away
            down = await next_pbx_link(ws)
            assert down["state"] == "down" and down["detail"]
            assert secret not in json.dumps(down)
            assert isinstance(down["at"], float)

            rebooted = Simulator(Scenario(lab_pbx()), SimulatorSettings(secret=secret))
            await rebooted.start("127.0.0.1", ami_port, run_scenario=False)
            back = await next_pbx_link(ws)
            assert (back["state"], back["detail"]) == ("up", None)
    finally:
        await hub.stop()
        await pbx.stop()
        if rebooted is not None:
            await rebooted.stop()


async def test_a_panel_opened_while_the_pbx_is_unreachable_from_the_start_says_so(
    tmp_path: Path,
) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: connections are refused
    env = {
        "CTIHUB_PBX": "asterisk",
        "CTIHUB_AMI__PORT": str(port),
        "CTIHUB_AMI__SECRET": "unused-secret",
        "CTIHUB_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path}/hub.sqlite3",
        "CTIHUB_CRM__SPOOL_DIR": str(tmp_path / "spool"),
        "CTIHUB_AGI__ENABLED": "false",
        "CTIHUB_HTTP__PORT": "0",
    }
    hub = Hub(load_settings(None, env=env), demo=True)
    await hub.start()
    try:
        assert hub.panel_url is not None
        async with asyncio.timeout(10):
            while hub.feed is None or hub.feed.link_state != "down":
                await asyncio.sleep(0.02)
        async with agent_socket(hub.panel_url, "ali") as ws:
            assert (await next_pbx_link(ws))["state"] == "down"
    finally:
        await hub.stop()


async def test_batches_waiting_behind_a_slow_publish_go_out_together_in_order() -> None:
    from cti.events import Event, QueueCallersChanged
    from ctihub.daemon import next_batch

    outbox: asyncio.Queue[list[Event]] = asyncio.Queue()
    events: list[Event] = [QueueCallersChanged("support", n, float(n)) for n in range(7)]
    for n in range(0, 6, 2):
        outbox.put_nowait(events[n : n + 2])
    outbox.put_nowait(events[6:])
    first, taken = await next_batch(outbox, most=4)
    assert (first, taken) == (events[:4], 2)
    second, taken = await next_batch(outbox, most=4)
    assert (second, taken) == (events[4:], 2)
    assert outbox.empty()
