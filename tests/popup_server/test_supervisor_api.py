"""The live board over REST and the wallboard page: roles, and today's figures counted once
from the call log plus the calls that ended since."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import aiohttp

from cti.events import CallEnded, Event
from cti.live_board import day_bounds
from tests.popup_server.conftest import PanelServer


def logged(
    at: float,
    queue: str | None,
    agent: str | None,
    disposition: str,
    wait: int | None,
    talk: int | None,
) -> dict[str, Any]:
    return {
        "call_id": f"c{at}",
        "started_at": dt.datetime.fromtimestamp(at, dt.UTC),
        "queue": queue,
        "agent": agent,
        "disposition": disposition,
        "wait_seconds": wait,
        "talk_seconds": talk,
    }


async def get_board(server: PanelServer, user: str | None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {await server.token(user)}"} if user else {}
    async with aiohttp.ClientSession() as session:
        response = await session.get(f"{server.url}/api/v1/supervisor/board", headers=headers)
        return response.status, await response.json()


async def test_board_needs_a_supervisor_token(server: PanelServer) -> None:
    assert (await get_board(server, None))[0] == 401
    status, body = await get_board(server, "ali")
    assert status == 403
    assert "supervisors" in body["error"]
    status, body = await get_board(server, "maryam")
    assert status == 200
    assert (body["queues"], body["agents"], body["seeded"]) == ([], [], True)


async def test_todays_figures_come_from_the_log_then_from_ended_calls(server: PanelServer) -> None:
    day_start, _ = day_bounds(time.time(), dt.UTC)
    # Seconds after midnight (UTC, the default [figures] timezone); one call yesterday.
    for call in [
        logged(day_start + 1, "support", "1001", "answered", wait=5, talk=100),
        logged(day_start + 2, "support", "1002", "answered", wait=30, talk=200),
        logged(day_start + 3, "support", None, "abandoned", wait=45, talk=None),
        logged(day_start + 4, "support", None, "abandoned", wait=2, talk=None),  # short
        logged(day_start + 5, "support", "1001", "answered", wait=20, talk=60),
        logged(day_start + 6, "sales", None, "abandoned", wait=10, talk=None),
        logged(day_start + 7, None, "1003", "answered", wait=None, talk=50),
        logged(day_start - 60, "support", "1001", "answered", wait=1, talk=999),
    ]:
        await server.log_call(**call)
    status, body = await get_board(server, "maryam")
    assert status == 200
    queues = {q["queue"]: q for q in body["queues"]}
    support = queues["support"]
    assert (support["offered"], support["answered"], support["abandoned"]) == (4, 3, 1)
    assert support["short_abandoned"] == 1
    # 5 s and exactly 20 s are within the 20 s threshold, 30 s is not; none abandoned in it.
    assert support["service_level_pct"] == round(100 * 2 / 4, 1)
    assert support["asa_s"] == round((5 + 30 + 20) / 3, 1)
    assert support["aht_s"] == round((100 + 200 + 60) / 3, 1)
    assert support["time_to_abandon_s"] == 45.0
    assert support["alerts"] == ["service_level"]
    # Its one call abandoned within the threshold: ignored, so nothing to judge yet.
    assert (queues["sales"]["offered"], queues["sales"]["service_level_pct"]) == (1, None)
    agents = {a["agent"]: (a["answered"], a["talk_seconds"]) for a in body["agents"]}
    assert agents == {"1001": (2, 160), "1002": (1, 200), "1003": (1, 50)}

    # A call that ends now is added on; one already in the log is not counted again.
    now = time.time()
    ended: list[Event] = [
        CallEnded(
            call_id=call_id, direction="inbound", caller="+982188776655", caller_name=None,
            dialed="2188000000", queue="support", agent="1002", agents_rung=("1002",),
            disposition="answered", wait_seconds=8, talk_seconds=40, recording=None,
            transfers=(), ivr_input=None, variables=(), hangup_cause=16,
            started_at=day_start + 8, answered_at=day_start + 16, ended_at=ended_at,
        )
        for call_id, ended_at in (("late", now + 1), ("already-logged", day_start + 9))
    ]  # fmt: skip
    await server.publish(ended)
    status, body = await get_board(server, "maryam")
    support = next(q for q in body["queues"] if q["queue"] == "support")
    assert (support["offered"], support["answered"]) == (5, 4)
    assert support["service_level_pct"] == round(100 * 3 / 5, 1)


async def test_wallboard_page_is_served(server: PanelServer) -> None:
    async with aiohttp.ClientSession() as session:
        page = await session.get(server.url + "/supervisor")
        text = await page.text()
    assert page.status == 200
    assert "/static/supervisor.js" in text
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
