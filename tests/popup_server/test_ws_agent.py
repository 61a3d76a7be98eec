"""The agent websocket: pops arrive on ring, a reconnect resumes, no compression."""

from __future__ import annotations

from typing import Any

import aiohttp

from cti.events import CallAnswered
from tests.popup_server.conftest import (
    GOLD_CONTRACT_ENDS,
    ORIGIN,
    PanelServer,
    filled_in,
    open_agent_socket,
    receive_json,
    trace_events,
)


async def next_of_type(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    while (message := await receive_json(ws))["type"] != kind:
        pass
    return message


async def test_hello_names_the_user_and_its_extensions(server: PanelServer) -> None:
    async with aiohttp.ClientSession() as session:
        _, received = await open_agent_socket(server, session, "ali")
    hello = received[0]
    assert hello["type"] == "hello"
    assert hello["v"] == 1
    assert hello["user"]["username"] == "ali"
    assert hello["extensions"] == ["1001"]
    assert [m["type"] for m in received[1:]] == ["snapshot_done"]


async def test_ringing_trace_pops_the_agent_before_answer(server: PanelServer) -> None:
    events = trace_events("inbound_answered")
    answered = next(i for i, e in enumerate(events) if isinstance(e, CallAnswered))
    async with aiohttp.ClientSession() as session:
        ws, _ = await open_agent_socket(server, session, "ali")
        await server.publish(events[:answered])
        pop = await next_of_type(ws, "pop")
        assert pop["call"]["state"] == "ringing"
        customer = (await filled_in(ws, pop))["match"]["customers"][0]
        assert customer["name"] == "Nasrin Tehrani"
        assert customer["contract"] == {
            "state": "active",
            "plan": "Gold",
            "ends_on": GOLD_CONTRACT_ENDS.isoformat(),
        }
        assert customer["open_cases"][0]["tracking_code"] == "40012345"
        await server.publish(events[answered:])
        update = await next_of_type(ws, "call_update")
        assert (update["change"], update["call"]["state"]) == ("answered", "talking")


async def test_reconnecting_panel_gets_its_current_call_back(server: PanelServer) -> None:
    events = trace_events("inbound_answered")
    answered = next(i for i, e in enumerate(events) if isinstance(e, CallAnswered))
    async with aiohttp.ClientSession() as session:
        ws, _ = await open_agent_socket(server, session, "ali")
        await server.publish(events[: answered + 1])
        await ws.close()
        _, resumed = await open_agent_socket(server, session, "ali")
    pops = [m for m in resumed if m["type"] == "pop"]
    assert len(pops) == 1
    assert pops[0]["call"]["call_id"] == "1795392474.0"
    assert pops[0]["call"]["state"] == "talking"
    assert pops[0]["call"]["match"]["customers"][0]["name"] == "Nasrin Tehrani"
    members = {m["queue"]: m["state"] for m in resumed if m["type"] == "queue_member"}
    # The trace reports 1001's device ringing in both its queues just before the answer.
    assert members == {"support": "ringing", "sales": "ringing"}


async def test_permessage_deflate_is_not_negotiated_even_when_asked(server: PanelServer) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(server.ws_url, headers={"Origin": ORIGIN}, compress=15)
        assert ws.compress == 0
        response_headers = ws._response.headers
        assert "permessage-deflate" not in response_headers.get("Sec-WebSocket-Extensions", "")
        await ws.close()


async def test_subscribe_to_own_extension_is_accepted(server: PanelServer) -> None:
    async with aiohttp.ClientSession() as session:
        ws, _ = await open_agent_socket(server, session, "ali")
        await ws.send_json({"type": "subscribe", "extensions": ["1001"]})
        reply = await receive_json(ws)
        assert reply == {"v": 1, "type": "subscribed", "extensions": ["1001"]}
