"""Two hub nodes on one Redis stream: a ring published by one pops the agent on the other."""

from __future__ import annotations

import aiohttp
import pytest

from cti.events import CallAnswered
from ctihub.redis_bus import RedisStreamBus
from popup_server.app import PanelBackends, create_app, start_server
from tests.popup_server.conftest import (
    ORIGIN,
    PASSWORD,
    demo_crm,
    filled_in,
    make_config,
    make_users,
    receive_json,
    trace_events,
)
from tests.popup_server.memory_backend import MemoryAudit, RecordingPbx

pytestmark = pytest.mark.redis


async def test_ring_published_on_one_node_pops_the_agent_connected_to_another(
    redis_url: str, redis_prefix: str, password_hash: str
) -> None:
    publisher = RedisStreamBus(redis_url, key_prefix=redis_prefix, block_seconds=0.5)
    reader = RedisStreamBus(redis_url, key_prefix=redis_prefix, block_seconds=0.5)
    crm = demo_crm()
    backends = PanelBackends(
        make_users(password_hash), crm, RecordingPbx(), crm, crm, crm, audit=MemoryAudit()
    )
    app = create_app(make_config(), backends, bus=reader, feed_name="node-b/popup")
    runner, port = await start_server(app, "127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as session:
            login = await session.post(
                f"http://127.0.0.1:{port}/api/v1/login",
                json={"username": "ali", "password": PASSWORD},
            )
            token = (await login.json())["token"]
            ws = await session.ws_connect(
                f"ws://127.0.0.1:{port}/ws/agent", headers={"Origin": ORIGIN}
            )
            await ws.send_json({"type": "auth", "token": token})
            while (await receive_json(ws))["type"] != "snapshot_done":
                pass
            events = trace_events("inbound_answered")
            answered = next(i for i, e in enumerate(events) if isinstance(e, CallAnswered))
            await publisher.publish(events[:answered])
            while (message := await receive_json(ws))["type"] != "pop":
                assert message["type"] == "queue_member"
            assert message["call"]["call_id"] == "1795392474.0"
            call = await filled_in(ws, message)
            assert call["match"]["customers"][0]["name"] == "Nasrin Tehrani"
            await ws.close()
    finally:
        await runner.cleanup()
        await publisher.close()
        await reader.close()


async def test_a_restarted_node_resumes_and_shows_the_ring_it_missed_while_down(
    redis_url: str, redis_prefix: str, password_hash: str
) -> None:
    publisher = RedisStreamBus(redis_url, key_prefix=redis_prefix, block_seconds=0.5)
    crm = demo_crm()
    backends = PanelBackends(
        make_users(password_hash), crm, RecordingPbx(), crm, crm, crm, audit=MemoryAudit()
    )
    events = trace_events("inbound_answered")
    answered = next(i for i, e in enumerate(events) if isinstance(e, CallAnswered))

    async def start_node() -> tuple[RedisStreamBus, aiohttp.web.AppRunner, int]:
        reader = RedisStreamBus(redis_url, key_prefix=redis_prefix, block_seconds=0.5)
        app = create_app(make_config(), backends, bus=reader, feed_name="node-b/popup")
        runner, port = await start_server(app, "127.0.0.1", 0)
        return reader, runner, port

    reader, runner, _ = await start_node()
    await runner.cleanup()  # node B goes down...
    await reader.close()
    await publisher.publish(events[:answered])  # ...while the caller rings ali
    reader, runner, port = await start_node()  # and comes back
    try:
        async with aiohttp.ClientSession() as session:
            login = await session.post(
                f"http://127.0.0.1:{port}/api/v1/login",
                json={"username": "ali", "password": PASSWORD},
            )
            token = (await login.json())["token"]
            ws = await session.ws_connect(
                f"ws://127.0.0.1:{port}/ws/agent", headers={"Origin": ORIGIN}
            )
            await ws.send_json({"type": "auth", "token": token})
            pops = []
            for _ in range(100):  # the resumed node replays what it missed; no blank screen
                message = await receive_json(ws)
                if message["type"] == "pop":
                    pops.append(message["call"]["call_id"])
                    break
            assert pops == ["1795392474.0"]
            await ws.close()
    finally:
        await runner.cleanup()
        await publisher.close()
        await reader.close()
