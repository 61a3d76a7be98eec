"""The PBX link's state reaches every agent and supervisor socket, and every resume."""

from __future__ import annotations

import aiohttp

from cti.events import PbxLinkChanged
from tests.popup_server.conftest import PanelServer, open_agent_socket, receive_json
from tests.popup_server.test_ws_supervisor import open_supervisor_socket

DOWN = PbxLinkChanged(state="down", detail="connection lost: closed by the PBX", at=50.0)


async def test_a_link_change_is_broadcast_to_every_agent_and_supervisor(
    server: PanelServer,
) -> None:
    async with aiohttp.ClientSession() as session:
        ali, _ = await open_agent_socket(server, session, "ali")
        sara, _ = await open_agent_socket(server, session, "sara")
        boss = await open_supervisor_socket(server, session, "maryam")
        assert [(await receive_json(boss))["type"] for _ in range(2)] == ["hello", "board"]
        await server.publish([DOWN])
        expected = {
            "v": 1,
            "type": "pbx_link",
            "state": "down",
            "detail": "connection lost: closed by the PBX",
            "at": 50.0,
        }
        assert await receive_json(ali) == expected
        assert await receive_json(sara) == expected
        event = await receive_json(boss)
        assert (event["type"], event["event"]["type"]) == ("event", "pbx_link_changed")
        assert await receive_json(boss) == expected


async def test_a_panel_opened_while_the_link_is_down_is_told_in_its_resume(
    server: PanelServer,
) -> None:
    await server.publish([PbxLinkChanged(state="up", detail=None, at=1.0), DOWN])
    async with aiohttp.ClientSession() as session:
        _, received = await open_agent_socket(server, session, "ali")
        assert [m["type"] for m in received] == ["hello", "pbx_link", "snapshot_done"]
        assert (received[1]["state"], received[1]["at"]) == ("down", 50.0)
        boss = await open_supervisor_socket(server, session, "maryam")
        first = [await receive_json(boss) for _ in range(3)]
        assert [m["type"] for m in first] == ["hello", "board", "pbx_link"]
        assert first[2]["state"] == "down"
