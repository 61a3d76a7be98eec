"""The supervisor websocket: supervisors see every queue and call; agents are refused."""

from __future__ import annotations

import aiohttp

from cti.events import CallAnswered
from tests.popup_server.conftest import ORIGIN, PanelServer, receive_json, trace_events


async def open_supervisor_socket(
    server: PanelServer, session: aiohttp.ClientSession, username: str
) -> aiohttp.ClientWebSocketResponse:
    ws = await session.ws_connect(
        server.ws_url.replace("/ws/agent", "/ws/supervisor"), headers={"Origin": ORIGIN}
    )
    await ws.send_json({"type": "auth", "token": await server.token(username)})
    return ws


async def test_agent_token_is_refused_on_the_supervisor_socket(server: PanelServer) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await open_supervisor_socket(server, session, "ali")
        message = await ws.receive(timeout=5)
        assert message.type == aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 4003


async def test_supervisor_gets_the_board_then_every_event(server: PanelServer) -> None:
    events = trace_events("inbound_answered")
    answered = next(i for i, e in enumerate(events) if isinstance(e, CallAnswered))
    await server.publish(events[: answered + 1])
    async with aiohttp.ClientSession() as session:
        ws = await open_supervisor_socket(server, session, "maryam")
        hello = await receive_json(ws)
        assert (hello["type"], hello["user"]["role"]) == ("hello", "supervisor")
        board = await receive_json(ws)
        assert board["type"] == "board"
        agents = {a["agent"]: a for a in board["agents"]}
        assert set(agents) == {"1001", "1002", "1003"}
        assert (agents["1001"]["state"], agents["1001"]["caller"]) == ("talking", "+982188776655")
        assert agents["1001"]["call_id"] == "1795392474.0"
        support = next(q for q in board["queues"] if q["queue"] == "support")
        assert (support["waiting"], support["threshold_seconds"]) == (1, 20)
        await server.publish(events[answered + 1 :])
        types = []
        while "call_ended" not in types:
            message = await receive_json(ws)
            assert message["type"] == "event"
            types.append(message["event"]["type"])
        assert "queue_callers_changed" in types
        # Then the hub's own picture after those events (sent once for the burst).
        while (message := await receive_json(ws))["type"] != "board":
            pass
        agents = {a["agent"]: a for a in message["agents"]}
        assert (agents["1001"]["state"], agents["1001"]["caller"]) == ("idle", None)
