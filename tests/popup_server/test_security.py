"""An agent sees only its own extensions' calls; bad tokens and bad origins are refused."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from cti.events import CallEnded
from popup_server.auth import TokenSigner, User
from tests.popup_server.conftest import (
    ORIGIN,
    PASSWORD,
    PanelServer,
    open_agent_socket,
    receive_json,
    trace_events,
)


async def test_websocket_without_auth_message_is_closed_4001(server: PanelServer) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(server.ws_url, headers={"Origin": ORIGIN})
        message = await ws.receive(timeout=5)
        assert message.type == aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 4001


async def test_websocket_with_forged_token_is_closed_4001(server: PanelServer) -> None:
    token = await server.token("ali")
    version, payload, signature = token.split(".")
    forged = f"{version}.{payload}.{signature[:-2]}AA"
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(server.ws_url, headers={"Origin": ORIGIN})
        await ws.send_json({"type": "auth", "token": forged})
        message = await ws.receive(timeout=5)
        assert message.type == aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 4001


async def test_websocket_from_another_origin_is_refused(server: PanelServer) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(server.ws_url, headers={"Origin": "https://evil.example"})
        assert refused.value.status == 403


async def test_websocket_origin_claiming_this_host_on_another_port_is_refused(
    server: PanelServer,
) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(
                server.ws_url, headers={"Origin": f"http://{host}:{int(port) + 1}"}
            )
        assert refused.value.status == 403
        same_origin = await session.ws_connect(server.ws_url, headers={"Origin": server.url})
        await same_origin.close()


async def test_agent_cannot_subscribe_to_another_extension(server: PanelServer) -> None:
    async with aiohttp.ClientSession() as session:
        ws, _ = await open_agent_socket(server, session, "ali")
        await ws.send_json({"type": "subscribe", "extensions": ["1001", "1002"]})
        message = await ws.receive(timeout=5)
        assert message.type == aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 4003


async def test_agent_receives_nothing_of_another_agents_call(server: PanelServer) -> None:
    # ivr_tracking_code: 1002 takes the call; 1001 must hear nothing of it.
    async with aiohttp.ClientSession() as session:
        ali, _ = await open_agent_socket(server, session, "ali")
        sara, _ = await open_agent_socket(server, session, "sara")
        await server.publish(trace_events("ivr_tracking_code"))
        to_sara = [await receive_json(sara) for _ in range(6)]
        assert "pop" in [m["type"] for m in to_sara]
        assert any(m.get("call", {}).get("call_id") == "1795392525.26" for m in to_sara)
        await ali.send_json({"type": "ping"})
        # Pings are answered in order: everything sent to ali before arrives first.
        to_ali = []
        while (message := await receive_json(ali))["type"] != "pong":
            to_ali.append(message)
        assert all(m["type"] == "queue_member" and m["extension"] == "1001" for m in to_ali)
        assert "1795392525.26" not in repr(to_ali)


async def test_agent_cannot_fetch_another_agents_call(server: PanelServer) -> None:
    events = trace_events("ivr_tracking_code")
    await server.publish([e for e in events if not isinstance(e, CallEnded)])
    call_url = f"{server.url}/api/v1/calls/1795392525.26"
    async with aiohttp.ClientSession() as session:
        ali = {"Authorization": f"Bearer {await server.token('ali')}"}
        sara = {"Authorization": f"Bearer {await server.token('sara')}"}
        refused = await session.get(call_url, headers=ali)
        assert refused.status == 404
        assert "1002" not in await refused.text()
        allowed = await session.get(call_url, headers=sara)
        assert allowed.status == 200
        assert (await allowed.json())["agent"] == "1002"
        wrapup = await session.post(f"{call_url}/wrapup", json={"note": "x"}, headers=ali)
        assert wrapup.status == 404


@pytest.mark.parametrize(
    "header", [None, "Bearer ", "Bearer v1.eyJ1aWQiOjF9.AAAA", "Basic YWxpOnB3"]
)
async def test_rest_without_a_valid_token_is_401(server: PanelServer, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    async with aiohttp.ClientSession() as session:
        for method, path in [
            ("GET", "/api/v1/me"),
            ("GET", "/api/v1/calls/current"),
            ("GET", "/api/v1/phonebook?q=nasrin"),
            ("POST", "/api/v1/originate"),
        ]:
            response = await session.request(method, server.url + path, headers=headers, json={})
            assert response.status == 401, path
    assert server.pbx.originated == []


async def test_login_is_throttled_per_username_after_three_failures(server: PanelServer) -> None:
    login = f"{server.url}/api/v1/login"
    async with aiohttp.ClientSession() as session:
        for _ in range(3):
            bad = await session.post(login, json={"username": "ali", "password": "nope"})
            assert bad.status == 401
        throttled = await session.post(login, json={"username": "ali", "password": PASSWORD})
        assert throttled.status == 429
        assert int(throttled.headers["Retry-After"]) > 0
        other = await session.post(login, json={"username": "sara", "password": PASSWORD})
        assert other.status == 200


async def test_token_of_an_agent_only_originates_from_its_own_extension(
    server: PanelServer,
) -> None:
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bearer {await server.token('reza')}"}
        response = await session.post(
            f"{server.url}/api/v1/originate",
            json={"number": "02177665544", "extension": "1001"},
            headers=headers,
        )
        assert response.status == 202
    assert server.pbx.originated == [("1003", "02177665544")]


def short_lived_token(username: str, uid: int, extension: str, seconds: int = 1) -> str:
    """A token signed with the test server's key that expires ``seconds`` from now."""
    signer = TokenSigner(b"s" * 40, 30, clock=lambda: time.time() - 30 + seconds)
    return signer.issue(User(uid, username, username, "agent", (extension,)))[0]


async def test_socket_is_closed_4001_when_its_token_expires(server: PanelServer) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(server.ws_url, headers={"Origin": ORIGIN})
        await ws.send_json({"type": "auth", "token": short_lived_token("ali", 1, "1001")})
        while (message := await ws.receive(timeout=5)).type == aiohttp.WSMsgType.TEXT:
            pass
        assert message.type == aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 4001


async def test_renewed_token_keeps_the_socket_open_and_another_users_is_refused(
    server: PanelServer,
) -> None:
    # Log in first: a login hashes a password (slow on a loaded machine), and the
    # one-second token must still be valid when its renewal arrives.
    renewal, other_user = await server.token("ali"), await server.token("sara")
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(server.ws_url, headers={"Origin": ORIGIN})
        await ws.send_json({"type": "auth", "token": short_lived_token("ali", 1, "1001", 3)})
        while (await receive_json(ws))["type"] != "snapshot_done":
            pass
        await ws.send_json({"type": "auth", "token": renewal})
        renewed = await receive_json(ws)
        assert (renewed["type"], renewed["extensions"]) == ("reauthenticated", ["1001"])
        await asyncio.sleep(3.2)  # past the first token's expiry
        await ws.send_json({"type": "ping"})
        while (message := await receive_json(ws))["type"] != "pong":
            assert message["type"] == "queue_member"
        await ws.send_json({"type": "auth", "token": other_user})
        closed = await ws.receive(timeout=5)
        assert closed.type == aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 4001
