"""REST API: login, click-to-call, pause, cases, wrap-up, phonebook, OpenAPI."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import aiohttp

from cti.events import CallEnded
from popup_server.api import OPENAPI_PATH
from tests.popup_server.conftest import PASSWORD, PanelServer, trace_events


async def call_api(
    server: PanelServer, method: str, path: str, user: str = "ali", body: Any = None
) -> tuple[int, Any]:
    token = await server.token(user)
    async with aiohttp.ClientSession() as session:
        response = await session.request(
            method,
            f"{server.url}/api/v1{path}",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        )
        return response.status, await response.json()


async def test_login_returns_token_and_user_and_refuses_wrong_password(
    server: PanelServer,
) -> None:
    async with aiohttp.ClientSession() as session:
        ok = await session.post(
            f"{server.url}/api/v1/login", json={"username": "sara", "password": PASSWORD}
        )
        body = await ok.json()
        assert ok.status == 200
        assert body["user"]["extensions"] == ["1002"]
        assert body["token"].startswith("v1.")
        assert ok.headers["Cache-Control"] == "no-store"
        bad = await session.post(
            f"{server.url}/api/v1/login", json={"username": "sara", "password": "wrong"}
        )
        assert bad.status == 401


async def test_token_renewal_gives_a_new_valid_token(server: PanelServer) -> None:
    status, body = await call_api(server, "POST", "/token", "reza")
    assert status == 200
    assert body["user"]["username"] == "reza"
    async with aiohttp.ClientSession() as session:
        me = await session.get(
            f"{server.url}/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"}
        )
        assert (await me.json())["extensions"] == ["1003"]


async def test_originate_rejects_injection_and_passes_clean_numbers(server: PanelServer) -> None:
    status, _ = await call_api(
        server, "POST", "/originate", body={"number": "0912\r\nAction: Command"}
    )
    assert status == 400
    status, body = await call_api(server, "POST", "/originate", body={"number": "0217 766-5544"})
    assert status == 202
    assert body == {"extension": "1001", "number": "02177665544"}
    assert server.pbx.originated == [("1001", "02177665544")]


async def test_user_without_extension_cannot_originate(server: PanelServer) -> None:
    status, body = await call_api(server, "POST", "/originate", "maryam", {"number": "1002"})
    assert status == 409
    assert "no extension" in body["error"]


async def test_queue_pause_goes_to_the_agents_own_extension(server: PanelServer) -> None:
    status, _ = await call_api(
        server, "POST", "/queue/pause", body={"paused": True, "reason": "lunch"}
    )
    assert status == 200
    status, _ = await call_api(server, "POST", "/queue/pause", body={"paused": "yes"})
    assert status == 400
    assert server.pbx.pauses == [("1001", True, "lunch", None)]


async def test_case_opened_during_a_call_and_wrap_up_saved(server: PanelServer) -> None:
    events = trace_events("inbound_answered")
    await server.publish([e for e in events if not isinstance(e, CallEnded)])
    status, case = await call_api(
        server,
        "POST",
        "/cases",
        body={"subject": "Router", "call_id": "1795392474.0", "customer_id": 1},
    )
    assert status == 201
    assert case["tracking_code"].isdigit()
    status, linked = await call_api(
        server, "POST", "/calls/1795392474.0/case", body={"tracking_code": "40012345"}
    )
    assert (status, linked["case"]["id"]) == (200, 11)
    status, _ = await call_api(
        server,
        "POST",
        "/calls/1795392474.0/wrapup",
        body={"note": "replaced router", "disposition": "resolved", "case_id": case["id"]},
    )
    assert status == 201
    note = (await server.notes())[-1]
    assert (note.body, note.disposition, note.customer_id) == ("replaced router", "resolved", 1)
    status, _ = await call_api(
        server, "POST", "/calls/1795392474.0/wrapup", body={"disposition": "bogus"}
    )
    assert status == 400


async def test_phonebook_finds_by_name_and_by_number(server: PanelServer) -> None:
    status, by_name = await call_api(server, "GET", "/phonebook?q=laleh")
    assert status == 200
    assert [e["name"] for e in by_name["entries"]] == ["Laleh Farahani"]
    _, by_number = await call_api(server, "GET", "/phonebook?q=88776655")
    assert [e["customer_id"] for e in by_number["entries"]] == [1]


async def test_openapi_document_is_served_and_lists_every_route(server: PanelServer) -> None:
    async with aiohttp.ClientSession() as session:
        response = await session.get(f"{server.url}/api/v1/openapi.json")
        served = await response.json(content_type=None)
    assert served["openapi"].startswith("3.1")
    routes = {
        r.resource.canonical.removeprefix("/api/v1")
        for r in server.app.router.routes()
        if r.resource is not None and r.resource.canonical.startswith("/api/v1")
    }
    assert routes == set(served["paths"])
    assert served == json.loads(OPENAPI_PATH.read_text())


async def test_panel_page_is_served_with_a_strict_content_security_policy(
    server: PanelServer,
) -> None:
    async with aiohttp.ClientSession() as session:
        page = await session.get(server.url + "/")
        text = await page.text()
        assert page.status == 200
        assert "/static/panel.js" in text
        assert "script-src 'self'" in page.headers["Content-Security-Policy"]
        js = await session.get(server.url + "/static/common.js")
        assert "Intl.DateTimeFormat" in await js.text()


async def test_todays_calls_start_at_the_agents_own_midnight(server: PanelServer) -> None:
    """Tehran is UTC+3:30: a call at 01:00 local is 21:30 UTC the day before."""
    import datetime as dt
    import time

    now = dt.datetime.fromtimestamp(time.time(), dt.UTC)
    local_midnight = now - dt.timedelta(hours=5)  # some midnight within the last day
    for call_id, agent, at in [
        ("before", "1001", local_midnight - dt.timedelta(minutes=1)),
        ("after", "1001", local_midnight + dt.timedelta(minutes=1)),
        ("not-mine", "1002", local_midnight + dt.timedelta(minutes=2)),
    ]:
        await server.log_call(call_id=call_id, agent=agent, started_at=at)

    since = int(local_midnight.timestamp())
    status, body = await call_api(server, "GET", f"/calls/today?since={since}")
    assert status == 200
    assert [c["call_id"] for c in body["calls"]] == ["after"]

    for bad in ("yesterday", "nan", str(since - 3 * 86400), str(since + 86400)):
        status, body = await call_api(server, "GET", f"/calls/today?since={bad}")
        assert status == 400 and "since" in body["error"], bad


async def test_an_agents_own_call_is_found_by_id_for_as_long_as_it_is_in_the_call_log(
    server: PanelServer,
) -> None:
    # Four answered calls of ali's end; the panel keeps only the last few ended pops,
    # the call log keeps them all.
    ids = [f"1795392474.{100 + n}" for n in range(4)]
    for call_id in ids:
        events = [
            dataclasses.replace(e, call_id=call_id)  # type: ignore[call-arg]
            for e in trace_events("inbound_answered")
            if hasattr(e, "call_id")
        ]
        await server.publish(events)
        await server.log_call(
            call_id=call_id,
            started_at=dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC),
            caller="+982188776655",
            customer_id=1,
            queue="support",
            agent="1001",
            talk_seconds=4,
        )
    status, call = await call_api(server, "GET", f"/calls/{ids[0]}")
    assert (status, call["call_id"], call["agent"]) == (200, ids[0], "1001")
    status, _ = await call_api(
        server,
        "POST",
        f"/calls/{ids[0]}/wrapup",
        body={"note": "called back", "disposition": "callback"},
    )
    assert status == 201
    note = (await server.notes())[-1]
    assert (note.body, note.customer_id) == ("called back", 1)
    status, _ = await call_api(server, "GET", f"/calls/{ids[0]}", user="sara")
    assert status == 404, "another agent's call stays out of reach"
