"""Call control, queues and history over REST: own calls only, precise 400s, PBX actions sent."""

from __future__ import annotations

import datetime as dt
import time

from cti.events import CallEnded
from tests.popup_server.conftest import PanelServer, trace_events
from tests.popup_server.test_api import call_api

CALL = "1795392474.0"  # inbound_answered: 1001 (ali) answers


async def _live_call(server: PanelServer) -> None:
    events = trace_events("inbound_answered")
    await server.publish([e for e in events if not isinstance(e, CallEnded)])


async def test_agent_holds_transfers_and_hangs_up_own_call(server: PanelServer) -> None:
    await _live_call(server)
    assert (await call_api(server, "POST", f"/calls/{CALL}/hold", body={"on": True}))[0] == 200
    status, _ = await call_api(
        server, "POST", f"/calls/{CALL}/transfer", body={"kind": "attended", "to": "1003"}
    )
    assert status == 202
    status, _ = await call_api(
        server, "POST", f"/calls/{CALL}/transfer", body={"kind": "blind", "to": "0912 123-4567"}
    )
    assert status == 202
    assert (await call_api(server, "POST", f"/calls/{CALL}/hangup", body={}))[0] == 202
    assert server.pbx.actions == [
        ("hold", "1001", CALL),
        ("attended", "1001", CALL, "1003"),
        ("blind", "1001", CALL, "09121234567"),
        ("hangup", "1001", CALL),
    ]


async def test_another_agents_call_is_not_found_and_bad_input_is_named(
    server: PanelServer,
) -> None:
    await _live_call(server)
    status, _ = await call_api(server, "POST", f"/calls/{CALL}/hangup", "sara", body={})
    assert status == 404
    bad = [
        ("/hold", {"on": "yes"}, "on:"),
        ("/transfer", {"kind": "warm", "to": "1003"}, "kind:"),
        ("/transfer", {"kind": "blind", "to": "1003\r\nAction: Command"}, "to must be"),
        ("/transfer", {"kind": "blind", "to": "1001"}, "your own extension"),
    ]
    for path, body, message in bad:
        status, answer = await call_api(server, "POST", f"/calls/{CALL}{path}", body=body)
        assert status == 400 and message in answer["error"], (path, answer)
    assert server.pbx.actions == []


async def test_queue_log_in_and_out_send_the_agents_own_extension(server: PanelServer) -> None:
    assert (await call_api(server, "POST", "/queues/sales/login", body={}))[0] == 200
    assert (await call_api(server, "POST", "/queues/sales/logout", body={}))[0] == 200
    assert server.pbx.actions == [
        ("queue_login", "1001", "sales", "Ali Rezaei"),
        ("queue_logout", "1001", "sales"),
    ]
    status, answer = await call_api(server, "POST", "/queues/sales/login", "maryam", body={})
    assert status == 409 and "no extension" in answer["error"]


async def test_history_agent_sees_own_calls_supervisor_everyones(server: PanelServer) -> None:
    now = dt.datetime.now(dt.UTC)
    for call_id, agent, caller, disposition, age in [
        ("h1", "1001", "+982188776655", "answered", dt.timedelta(hours=1)),
        ("h2", "1002", "+989121234567", "answered", dt.timedelta(hours=1)),
        ("h3", None, "+989350000000", "abandoned", dt.timedelta(days=3)),
    ]:
        await server.log_call(
            call_id=call_id,
            agent=agent,
            caller=caller,
            queue="support",
            disposition=disposition,
            started_at=now - age,
        )
    week = int(time.time()) - 7 * 86400
    _, mine = await call_api(server, "GET", f"/history?from={week}")
    assert [c["call_id"] for c in mine["calls"]] == ["h1"]
    _, everyone = await call_api(server, "GET", f"/history?from={week}", "maryam")
    assert sorted(c["call_id"] for c in everyone["calls"]) == ["h1", "h2", "h3"]
    _, missed = await call_api(server, "GET", f"/history?from={week}&missed=true", "maryam")
    assert [c["call_id"] for c in missed["calls"]] == ["h3"]
    _, by_number = await call_api(server, "GET", f"/history?from={week}&q=1234567", "maryam")
    assert [c["call_id"] for c in by_number["calls"]] == ["h2"]
    for query, message in [
        ("from=yesterday", "from must be"),
        (f"from={week}&to={week - 10}", "to must be after"),
        ("from=0", "366 days"),
        ("disposition=bogus", "disposition must be"),
    ]:
        status, answer = await call_api(server, "GET", f"/history?{query}")
        assert status == 400 and message in answer["error"], (query, answer)
