"""The wallboard's figures endpoint and page: roles, and numbers counted from logged calls."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import aiohttp

from cti.events import CallQueued
from popup_server.ws_supervisor import SupervisorBoard
from tests.popup_server.conftest import PanelServer, trace_events


def logged(
    minutes_ago: float,
    queue: str | None,
    agent: str | None,
    disposition: str,
    wait: int | None,
    talk: int | None,
) -> dict[str, Any]:
    started = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes_ago)
    return {
        "call_id": f"c{minutes_ago}",
        "started_at": started,
        "queue": queue,
        "agent": agent,
        "disposition": disposition,
        "wait_seconds": wait,
        "talk_seconds": talk,
    }


async def get_today(server: PanelServer, user: str | None, query: str = "") -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {await server.token(user)}"} if user else {}
    async with aiohttp.ClientSession() as session:
        response = await session.get(
            f"{server.url}/api/v1/supervisor/today{query}", headers=headers
        )
        return response.status, await response.json()


async def test_figures_need_a_supervisor_token(server: PanelServer) -> None:
    assert (await get_today(server, None))[0] == 401
    status, body = await get_today(server, "ali")
    assert status == 403
    assert "supervisors" in body["error"]
    status, body = await get_today(server, "maryam")
    assert status == 200
    assert body["targets"] == {
        "sla_seconds": 20,
        "sla_target_percent": 80.0,
        "max_wait_seconds": 60,
    }
    assert (body["queues"], body["agents"]) == ([], [])


async def test_figures_count_todays_calls_per_queue_and_agent(server: PanelServer) -> None:
    for call in [
        logged(50, "support", "1001", "answered", wait=5, talk=100),
        logged(40, "support", "1002", "answered", wait=30, talk=200),
        logged(30, "support", None, "abandoned", wait=45, talk=None),
        logged(20, "support", "1001", "answered", wait=20, talk=60),
        logged(10, "sales", None, "abandoned", wait=10, talk=None),
        logged(5, None, "1003", "answered", wait=None, talk=50),
        # Before the day's start: not counted anywhere.
        logged(120, "support", "1001", "answered", wait=1, talk=999),
    ]:
        await server.log_call(**call)
    since = time.time() - 3600
    status, body = await get_today(server, "maryam", f"?since={since}")
    assert status == 200
    assert body["since"] == dt.datetime.fromtimestamp(since, dt.UTC).isoformat()
    assert body["as_of"] >= since
    assert body["queues"] == [
        {
            "queue": "sales",
            "offered": 1,
            "answered": 0,
            "abandoned": 1,
            "answered_in_sla": 0,
            "sla_percent": 0.0,
            "abandon_percent": 100.0,
            "avg_wait_seconds": None,
            "avg_talk_seconds": None,
        },
        {
            "queue": "support",
            "offered": 4,
            "answered": 3,
            "abandoned": 1,
            # 5 s and exactly 20 s are within the 20 s target; 30 s is not.
            "answered_in_sla": 2,
            "sla_percent": 50.0,
            "abandon_percent": 25.0,
            "avg_wait_seconds": 18.3,
            "avg_talk_seconds": 120.0,
        },
    ]
    assert body["agents"] == [
        {"agent": "1001", "answered": 2, "talk_seconds": 160, "avg_talk_seconds": 80.0},
        {"agent": "1002", "answered": 1, "talk_seconds": 200, "avg_talk_seconds": 200.0},
        {"agent": "1003", "answered": 1, "talk_seconds": 50, "avg_talk_seconds": 50.0},
    ]


async def test_figures_refuse_a_day_start_that_is_not_recent_epoch_seconds(
    server: PanelServer,
) -> None:
    for query in ("?since=yesterday", "?since=nan", f"?since={time.time() - 3 * 86400}"):
        status, body = await get_today(server, "maryam", query)
        assert status == 400, query
        assert "since" in body["error"]


async def test_wallboard_page_is_served(server: PanelServer) -> None:
    async with aiohttp.ClientSession() as session:
        page = await session.get(server.url + "/supervisor")
        text = await page.text()
    assert page.status == 200
    assert "/static/supervisor.js" in text
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


def test_board_remembers_when_a_call_was_queued() -> None:
    board = SupervisorBoard()
    events = trace_events("inbound_answered")
    queued = next(i for i, e in enumerate(events) if isinstance(e, CallQueued))
    for event in events[: queued + 1]:
        board.handle(event)
    [call] = board.snapshot()["calls"]
    # The trace's QueueCallerJoin comes 1.008 s into the recording.
    assert (call["queue"], call["queued_at"], call["state"]) == ("support", 1.008, "started")
