"""The admin REST API over the real backend: people, devices, queues, labels, tokens, audit."""

from __future__ import annotations

import csv
import io
from typing import Any

import aiohttp

from tests.popup_server.conftest import ORIGIN, PanelServer, open_agent_socket

A = "/api/v1/admin"


async def _call(
    server: PanelServer, method: str, path: str, token: str, body: Any = None
) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session:
        response = await session.request(
            method,
            server.url + path,
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        )
        text = await response.text()
        if response.content_type == "application/json":
            return response.status, await response.json()
        return response.status, text


async def test_only_admins_reach_the_admin_api(server: PanelServer) -> None:
    agent = await server.token("ali")
    supervisor = await server.token("maryam")
    for token in (agent, supervisor):
        status, body = await _call(server, "GET", f"{A}/people", token)
        assert status == 403 and "admins" in body["error"]
    status, _ = await _call(server, "GET", f"{A}/people", "v1.x.y")
    assert status == 401


async def test_an_admin_creates_a_person_maps_devices_and_every_change_is_audited(
    server: PanelServer,
) -> None:
    boss = await server.token("boss")
    status, person = await _call(
        server,
        "POST",
        f"{A}/people",
        boss,
        {
            "username": "neda",
            "name": "ندا کریمی",
            "password": "blue-orchid-2026",
            "roles": ["agent", "supervisor"],
            "extensions": ["SIP/1010"],
            "crm_user_id": "crm-42",
        },
    )
    assert status == 201, person
    assert (person["roles"], person["extensions"]) == (["agent", "supervisor"], ["1010"])
    status, device = await _call(
        server,
        "POST",
        f"{A}/devices",
        boss,
        {"device": "1010", "technology": "IAX2", "username": "neda", "label": "softphone"},
    )
    assert status == 201 and device["interface"] == "IAX2/1010"
    # The new person logs in with both roles and both devices' extension.
    async with aiohttp.ClientSession() as session:
        login = await session.post(
            f"{server.url}/api/v1/login", json={"username": "neda", "password": "blue-orchid-2026"}
        )
        me = (await login.json())["user"]
    assert me["roles"] == ["agent", "supervisor"] and me["extensions"] == ["1010"]
    status, audit = await _call(server, "GET", f"{A}/audit?actor=boss", boss)
    actions = [e["action"] for e in audit["entries"]]
    assert actions == ["extension.map", "extension.map", "user.create"]
    assert audit["entries"][-1]["after"]["crm_user_id"] == "crm-42"
    status, exported = await _call(server, "GET", f"{A}/audit.csv", boss)
    rows = list(csv.reader(io.StringIO(exported.lstrip("\ufeff"))))
    assert rows[0][:4] == ["id", "at", "actor", "action"] and len(rows) == 4


async def test_bad_input_is_a_400_naming_the_field(server: PanelServer) -> None:
    boss = await server.token("boss")
    cases = [
        (
            "POST",
            f"{A}/people",
            {"username": "x y", "name": "X", "password": "long-enough-1"},
            "username",
        ),
        ("POST", f"{A}/people", {"username": "xy", "name": "X", "password": "weak"}, "password"),
        (
            "POST",
            f"{A}/people",
            {"username": "xy", "name": "X", "password": "long-enough-1", "roles": ["god"]},
            "roles",
        ),
        (
            "POST",
            f"{A}/people",
            {"username": "xy", "name": "X", "password": "long-enough-1", "shoe": 1},
            "shoe",
        ),
        ("POST", f"{A}/devices", {"device": "PJSIP/10x", "username": "ali"}, "extension"),
        ("PUT", f"{A}/queues/bad queue!", {"team": "a"}, "queue"),
        ("PUT", f"{A}/queues/support", {"sla_threshold_seconds": "soon"}, "sla_threshold_seconds"),
        ("PUT", f"{A}/queues/support", {"supervisors": ["nobody"]}, "supervisors"),
        ("POST", f"{A}/tokens", {"name": "crm", "scopes": ["everything"]}, "scopes"),
    ]
    for method, path, body, field in cases:
        status, answer = await _call(server, method, path, boss, body)
        assert (status, answer.get("field")) == (400, field), (path, body, answer)
    status, answer = await _call(
        server,
        "POST",
        f"{A}/people",
        boss,
        {"username": "ali", "name": "A", "password": "long-enough-1"},
    )
    assert (status, answer["field"]) == (409, "username")
    status, answer = await _call(
        server, "POST", f"{A}/devices", boss, {"device": "SIP/1001", "username": "sara"}
    )
    assert status == 409 and "Ali Rezaei (ali)" in answer["error"]


async def test_disabling_a_person_closes_their_socket_and_refuses_their_token(
    server: PanelServer,
) -> None:
    boss = await server.token("boss")
    async with aiohttp.ClientSession() as session:
        ws, _ = await open_agent_socket(server, session, "ali")
        ali_token = await server.token("ali")
        status, person = await _call(server, "PATCH", f"{A}/people/ali", boss, {"active": False})
        assert status == 200 and person["active"] is False
        message = await ws.receive(timeout=5)
        assert message.type == aiohttp.WSMsgType.CLOSE and message.data == 4001
        assert message.extra == "account disabled"
        me = await session.get(
            f"{server.url}/api/v1/me", headers={"Authorization": f"Bearer {ali_token}"}
        )
        assert me.status == 401
        again = await session.post(
            f"{server.url}/api/v1/login", json={"username": "ali", "password": "x"}
        )
        assert again.status == 401
        ws2 = await session.ws_connect(server.ws_url, headers={"Origin": ORIGIN})
        await ws2.send_json({"type": "auth", "token": ali_token})
        refused = await ws2.receive(timeout=5)
        assert refused.type == aiohttp.WSMsgType.CLOSE and refused.data == 4001


async def test_a_token_is_shown_once_listed_without_its_secret_and_revoked(
    server: PanelServer,
) -> None:
    boss = await server.token("boss")
    status, created = await _call(
        server,
        "POST",
        f"{A}/tokens",
        boss,
        {"name": "CRM sync", "scopes": ["calls:read", "lookups"]},
    )
    assert status == 201 and created["token"].startswith("cth_")
    status, listed = await _call(server, "GET", f"{A}/tokens", boss)
    assert created["token"] not in str(listed)
    assert listed["tokens"][0]["prefix"] == created["token"][:10]
    status, revoked = await _call(server, "DELETE", f"{A}/tokens/{created['id']}", boss)
    assert status == 200 and revoked["revoked_at"] is not None
    status, _ = await _call(server, "DELETE", f"{A}/tokens/999999", boss)
    assert status == 404


async def test_queues_and_labels_round_trip(server: PanelServer) -> None:
    boss = await server.token("boss")
    status, queue = await _call(
        server,
        "PUT",
        f"{A}/queues/support",
        boss,
        {
            "display_fa": "پشتیبانی",
            "display_en": "Support",
            "sla_target_percent": 85,
            "supervisors": ["maryam"],
        },
    )
    assert status == 200 and queue["supervisors"] == ["maryam"]
    status, listed = await _call(server, "GET", f"{A}/queues", boss)
    assert [q["name"] for q in listed["queues"]] == ["support"]
    status, label = await _call(
        server, "PUT", f"{A}/pause-reasons/prayer", boss, {"label_fa": "نماز", "label_en": "Prayer"}
    )
    assert status == 200 and label["code"] == "prayer"
    status, reasons = await _call(server, "GET", f"{A}/pause-reasons", boss)
    assert "prayer" in [r["code"] for r in reasons["pause_reasons"]]


async def test_an_api_token_opens_only_its_scopes_routes_and_dies_when_revoked(
    server: PanelServer,
) -> None:
    boss = await server.token("boss")
    status, created = await _call(
        server,
        "POST",
        f"{A}/tokens",
        boss,
        {"name": "crm", "scopes": ["calls:read"], "username": "ali"},
    )
    assert status == 201
    token = created["token"]
    status, me = await _call(server, "GET", "/api/v1/me", token)
    assert status == 200 and (me["username"], me["extensions"]) == ("ali", ["1001"])
    status, calls = await _call(server, "GET", "/api/v1/calls/today", token)
    assert status == 200 and calls["calls"] == []
    status, refused = await _call(server, "GET", "/api/v1/phonebook?q=Nasrin", token)
    assert status == 403 and "lookups" in refused["error"]
    for method, path in (("POST", "/api/v1/originate"), ("GET", f"{A}/people")):
        status, refused = await _call(server, method, path, token, {"number": "0912"})
        assert status == 403 and "may not use this route" in refused["error"]
    status, listed = await _call(server, "GET", f"{A}/tokens", boss)
    assert listed["tokens"][0]["last_used_at"] is not None
    await _call(server, "DELETE", f"{A}/tokens/{created['id']}", boss)
    status, _ = await _call(server, "GET", "/api/v1/calls/today", token)
    assert status == 401
    status, _ = await _call(server, "GET", "/api/v1/me", "cth_" + "x" * 43)
    assert status == 401
