"""Hostile input to the REST API: each attack refused precisely, and the server answers after it.

The server runs over the real backend (SQLite and PostgreSQL). Ali (1001)
answers Nasrin Tehrani (customer 1, case 40012345) in the recorded
``inbound_answered`` trace; Laleh Farahani (customer 2) is another customer.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import time
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from cti.events import CallEnded
from tests.popup_server.conftest import (
    ORIGIN,
    PASSWORD,
    TRACE_CASE_CODE,
    PanelServer,
    open_agent_socket,
    receive_json,
    serve_panel,
    trace_events,
)

CALL = "1795392474.0"


async def call_api(
    server: PanelServer, method: str, path: str, body: Any = None, *, raw: bytes | None = None
) -> tuple[int, dict[str, Any], Any]:
    token = await server.token("ali")
    async with aiohttp.ClientSession() as session:
        response = await session.request(
            method,
            f"{server.url}/api/v1{path}",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            json=body if raw is None else None,
            data=raw,
        )
        return response.status, dict(response.headers), await response.json(content_type=None)


async def still_serves(server: PanelServer) -> None:
    """After an attack: the server answers an ordinary authenticated request."""
    status, _, body = await call_api(server, "GET", "/me")
    assert (status, body["username"]) == (200, "ali")


async def answered_call(server: PanelServer) -> None:
    events = trace_events("inbound_answered")
    await server.publish([e for e in events if not isinstance(e, CallEnded)])


async def other_customers_case(server: PanelServer) -> dict[str, Any]:
    """A case of Laleh Farahani's, opened outside any call."""
    status, _, case = await call_api(
        server, "POST", "/cases", {"subject": "Billing", "customer_id": 2}
    )
    assert status == 201, case
    assert case["customer_id"] == 2
    return dict(case)


@pytest.mark.parametrize("field", ["customer_id", "case_id"])
@pytest.mark.parametrize("value", ["abc", True, 2**70, 0, -3, 1.5, [1], {"id": 1}, "7"])
async def test_a_malformed_id_in_a_wrap_up_is_a_400_naming_the_field(
    server: PanelServer, field: str, value: Any
) -> None:
    await answered_call(server)
    status, _, body = await call_api(server, "POST", f"/calls/{CALL}/wrapup", {field: value})
    assert status == 400, body
    assert body["field"] == field
    assert body["error"].startswith(f"{field}: ")
    assert await server.notes() == []
    await still_serves(server)


@pytest.mark.parametrize("value", ["abc", True, 2**70, 0])
async def test_a_malformed_customer_id_opening_a_case_is_a_400(
    server: PanelServer, value: Any
) -> None:
    status, _, body = await call_api(
        server, "POST", "/cases", {"subject": "x", "customer_id": value}
    )
    assert (status, body["field"]) == (400, "customer_id"), body


async def test_an_unknown_customer_is_a_400_not_a_note_or_a_500(server: PanelServer) -> None:
    await answered_call(server)
    status, _, body = await call_api(
        server,
        "POST",
        f"/calls/{CALL}/wrapup",
        {"customer_id": 999_999, "confirm_other_customer": True, "note": "x"},
    )
    assert (status, body["field"]) == (400, "customer_id"), body
    assert "no customer with id 999999" in body["error"]
    status, _, body = await call_api(
        server, "POST", "/cases", {"subject": "x", "customer_id": 999_999}
    )
    assert (status, body["field"]) == (400, "customer_id"), body
    status, _, body = await call_api(server, "POST", f"/calls/{CALL}/wrapup", {"case_id": 999_999})
    assert (status, body["field"]) == (400, "case_id"), body
    assert await server.notes() == []


async def test_a_note_on_another_customers_case_needs_the_agents_confirmation(
    server: PanelServer,
) -> None:
    await answered_call(server)
    laleh = await other_customers_case(server)
    wrap = {"note": "about Laleh's bill", "case_id": laleh["id"]}
    status, _, body = await call_api(server, "POST", f"/calls/{CALL}/wrapup", wrap)
    assert (status, body["field"], body["confirm"]) == (409, "case_id", "confirm_other_customer")
    status, _, body = await call_api(
        server, "POST", f"/calls/{CALL}/wrapup", {"note": "x", "customer_id": 2}
    )
    assert (status, body["field"]) == (409, "customer_id")
    assert await server.notes() == []

    status, _, _ = await call_api(
        server, "POST", f"/calls/{CALL}/wrapup", {**wrap, "confirm_other_customer": True}
    )
    assert status == 201
    [note] = await server.notes()
    assert (note.case_id, note.customer_id, note.body) == (laleh["id"], 2, "about Laleh's bill")


async def test_the_callers_own_case_needs_no_confirmation(server: PanelServer) -> None:
    await answered_call(server)
    status, _, linked = await call_api(
        server, "POST", f"/calls/{CALL}/case", {"tracking_code": TRACE_CASE_CODE}
    )
    assert status == 200
    status, _, _ = await call_api(
        server, "POST", f"/calls/{CALL}/wrapup", {"note": "ok", "case_id": linked["case"]["id"]}
    )
    assert status == 201
    [note] = await server.notes()
    assert (note.case_id, note.customer_id) == (linked["case"]["id"], 1)


async def test_linking_another_customers_case_by_code_needs_confirmation(
    server: PanelServer,
) -> None:
    await answered_call(server)
    laleh = await other_customers_case(server)
    link = {"tracking_code": laleh["tracking_code"]}
    status, _, body = await call_api(server, "POST", f"/calls/{CALL}/case", link)
    assert (status, body["field"]) == (409, "tracking_code"), body
    status, _, body = await call_api(
        server, "POST", f"/calls/{CALL}/case", {**link, "confirm_other_customer": True}
    )
    assert (status, body["case"]["customer_id"]) == (200, 2)


async def test_opening_the_calls_case_for_another_customer_needs_confirmation(
    server: PanelServer,
) -> None:
    await answered_call(server)
    case = {"subject": "Router", "call_id": CALL, "customer_id": 2}
    status, _, body = await call_api(server, "POST", "/cases", case)
    assert (status, body["field"]) == (409, "customer_id")
    status, _, body = await call_api(
        server, "POST", "/cases", {**case, "confirm_other_customer": True}
    )
    assert (status, body["customer_id"]) == (201, 2)


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"note":' + b"[" * 50_000 + b"]" * 50_000 + b"}",
        b'{"a":' * 30_000 + b"1" + b"}" * 30_000,
        b"\xff\xfe not utf-8",
        b'"just a string"',
    ],
    ids=["deep-array", "deep-field", "deep-object", "not-utf8", "not-an-object"],
)
async def test_a_body_that_is_not_a_sane_json_object_is_a_400(
    server: PanelServer, raw: bytes
) -> None:
    await answered_call(server)
    status, headers, body = await call_api(server, "POST", f"/calls/{CALL}/wrapup", raw=raw)
    assert status == 400, body
    assert "error" in body
    assert headers["X-Content-Type-Options"] == "nosniff"
    await still_serves(server)


async def test_the_agent_socket_survives_deeply_nested_json(server: PanelServer) -> None:
    async with aiohttp.ClientSession() as session:
        ws, _ = await open_agent_socket(server, session, "ali")
        await ws.send_str("[" * 30_000 + "]" * 30_000)
        await ws.send_str('{"type":' * 5_000 + '"ping"' + "}" * 5_000)
        await ws.send_json({"type": "ping"})
        replies = [await receive_json(ws), await receive_json(ws), await receive_json(ws)]
        assert [r["type"] for r in replies] == ["error", "error", "pong"]
        assert not ws.closed
        await ws.close()
    # A socket authenticating with nested junk is closed 4001, not crashed.
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(server.ws_url, headers={"Origin": ORIGIN})
        await ws.send_str('{"type":' * 5_000 + '"auth"' + "}" * 5_000)
        closing = await ws.receive(timeout=5)
        assert closing.type == aiohttp.WSMsgType.CLOSE
        assert closing.data == 4001
    await still_serves(server)


@pytest.mark.parametrize("query", ["%%", "__", "%_", "\\%"])
async def test_phonebook_takes_like_wildcards_literally(server: PanelServer, query: str) -> None:
    status, _, body = await call_api(server, "GET", "/phonebook?q=" + urllib.parse.quote(query))
    assert (status, body["entries"]) == (200, [])
    status, _, body = await call_api(server, "GET", "/phonebook?q=" + "a" * 101)
    assert status == 400


async def test_error_responses_carry_the_security_headers_and_no_versions(
    server: PanelServer,
) -> None:
    async with aiohttp.ClientSession() as session:
        answers = [
            await session.get(f"{server.url}/api/v1/no-such-route"),
            await session.get(f"{server.url}/no-such-page"),
            await session.get(f"{server.url}/api/v1/me"),
            await session.post(f"{server.url}/api/v1/login", data=b"{"),
            await session.get(f"{server.url}/api/v1/health"),
        ]
        for response in answers:
            assert response.headers["Server"] == "ctihub", response.url
            assert "script-src 'self'" in response.headers["Content-Security-Policy"]
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert response.headers["Referrer-Policy"] == "no-referrer"
        assert [r.status for r in answers] == [404, 404, 401, 400, 200]
        assert answers[0].headers["Cache-Control"] == "no-store"


async def test_tracking_codes_cannot_be_tried_without_limit(server: PanelServer) -> None:
    await answered_call(server)
    for n in range(10):
        status, _, _ = await call_api(
            server, "POST", f"/calls/{CALL}/case", {"tracking_code": f"{90000000 + n}"}
        )
        assert status == 404
    status, headers, body = await call_api(
        server, "POST", f"/calls/{CALL}/case", {"tracking_code": TRACE_CASE_CODE}
    )
    assert status == 429, body
    assert int(headers["Retry-After"]) > 0
    await still_serves(server)


@contextlib.asynccontextmanager
async def behind_a_proxy(password_hash: str, database_url: str) -> AsyncIterator[PanelServer]:
    async with serve_panel(
        password_hash, database_url, trusted_proxies=["127.0.0.1"], login_max_failures=3
    ) as panel:
        yield panel


async def login_from(
    session: aiohttp.ClientSession, server: PanelServer, username: str, password: str, address: str
) -> int:
    response = await session.post(
        f"{server.url}/api/v1/login",
        json={"username": username, "password": password},
        headers={"X-Forwarded-For": address},
    )
    await response.read()
    return response.status


def cpu_seconds() -> float:
    """CPU time of this process, every thread (the executor's hashing) included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def test_parallel_logins_with_distinct_usernames_are_limited_per_address(
    password_hash: str, database_url: str
) -> None:
    async with behind_a_proxy(password_hash, database_url) as server:
        connector = aiohttp.TCPConnector(limit=100)
        async with aiohttp.ClientSession(connector=connector) as session:
            cpu, wall = cpu_seconds(), time.perf_counter()
            statuses = await asyncio.gather(
                *(login_from(session, server, f"u{n}", "guess", "10.9.9.9") for n in range(600))
            )
            cpu, wall = cpu_seconds() - cpu, time.perf_counter() - wall
            print(f"600 logins, one address: {wall:.2f} s wall, {cpu:.2f} s CPU")
            # 50 per address (the default): the rest never reach a password check,
            # refused at once (429) or shed while the checks were busy (503).
            assert 0 < statuses.count(401) <= 50, statuses
            assert statuses.count(429) + statuses.count(503) >= 550
            assert set(statuses) <= {401, 429, 503}
            # Another address and the right password: in at once.
            assert await login_from(session, server, "ali", PASSWORD, "10.1.1.1") == 200


async def test_a_distributed_login_flood_hashes_one_at_a_time_and_sheds_the_excess(
    password_hash: str, database_url: str
) -> None:
    async with behind_a_proxy(password_hash, database_url) as server:
        connector = aiohttp.TCPConnector(limit=200)
        async with aiohttp.ClientSession(connector=connector) as session:
            cpu, wall = cpu_seconds(), time.perf_counter()
            statuses = await asyncio.gather(
                *(
                    login_from(session, server, f"u{n}", "guess", f"10.8.{n // 250}.{n % 250}")
                    for n in range(600)
                )
            )
            cpu, wall = cpu_seconds() - cpu, time.perf_counter() - wall
            print(
                f"600 logins, 600 addresses: {wall:.2f} s wall, {cpu:.2f} s CPU, "
                f"{statuses.count(401)} checked, {statuses.count(503)} shed"
            )
            assert set(statuses) <= {401, 503}
            # One check at a time and 32 in line: most of a burst is shed at once.
            assert statuses.count(503) > 0
            assert await login_from(session, server, "ali", PASSWORD, "10.1.1.1") == 200
