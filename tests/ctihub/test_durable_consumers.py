"""The call log on the in-process bus: never dropped, resumed after a failure, its lag told."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import text

from crm_sync.call_log import CallLogWriter, WriteOutcome
from cti.events import CallEnded
from ctihub.daemon import CALL_LOG, Hub
from tests.crm_sync.events import inbound_answered
from tests.ctihub.test_daemon import settings_for


async def _running_call_log(hub: Hub) -> None:
    async with asyncio.timeout(10):
        while CALL_LOG not in hub.consumers or hub.consumers[CALL_LOG].state != "running":
            await asyncio.sleep(0.01)


async def _call_ids(hub: Hub) -> list[str]:
    assert hub._crm is not None
    async with hub._crm.database.engine.connect() as connection:
        rows = await connection.execute(text("select call_id from call_records"))
        return [str(row[0]) for row in rows]


def _consumer(status: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [c for c in status["consumers"] if c["name"] == name]
    return dict(found)


async def test_a_burst_far_beyond_the_bus_window_is_logged_whole_and_status_shows_the_lag(
    tmp_path: Path,
) -> None:
    hub = Hub(settings_for(tmp_path, "inbound_answered.toml", CTIHUB_BUS__RETENTION="100"))
    await hub.start()
    try:
        await _running_call_log(hub)
        ids = [f"burst.{n}" for n in range(3_000)]
        await hub.bus.publish([inbound_answered(call_id) for call_id in ids])
        behind = _consumer(hub.status(), CALL_LOG)
        # (The simulated PBX's own call may add a few events of its own.)
        assert behind["lag_events"] >= 3_000 and behind["state"] == "running"
        await asyncio.wait_for(hub.consumers[CALL_LOG].caught_up(), 60)
        # Three ordinary calls after the burst are logged too.
        await hub.bus.publish([inbound_answered(f"after.{n}") for n in range(3)])
        await asyncio.wait_for(hub.consumers[CALL_LOG].caught_up(), 10)
        stored = await _call_ids(hub)
        status = hub.status()
    finally:
        await hub.stop()
    # (The simulated PBX's own call is in the log too.)
    mine = [call_id for call_id in stored if call_id.startswith(("burst.", "after."))]
    assert sorted(mine) == sorted([*ids, "after.0", "after.1", "after.2"])
    assert _consumer(status, CALL_LOG)["lag_events"] == 0
    assert status["ready"] is True and status["problems"] == []


async def test_a_call_log_that_fails_resumes_with_the_calls_it_had_in_hand(
    tmp_path: Path,
) -> None:
    hub = Hub(settings_for(tmp_path, "inbound_answered.toml"))
    await hub.start()
    try:
        await _running_call_log(hub)
        assert hub._crm is not None
        writer: CallLogWriter = hub._crm.call_log
        real = writer.handle_many
        failures = 3

        async def failing(events: Sequence[CallEnded]) -> list[WriteOutcome]:
            nonlocal failures
            if failures:
                failures -= 1
                raise RuntimeError("the writer broke")
            return await real(events)

        writer.handle_many = failing  # type: ignore[method-assign]
        ids = [f"crash.{n}" for n in range(40)]
        await hub.bus.publish([inbound_answered(call_id) for call_id in ids])
        seen_down: dict[str, Any] | None = None
        async with asyncio.timeout(10):
            while seen_down is None:
                status = hub.status()
                if _consumer(status, CALL_LOG)["state"] == "restarting":
                    seen_down = status
                await asyncio.sleep(0.005)
        await asyncio.wait_for(hub.consumers[CALL_LOG].caught_up(), 20)
        stored = await _call_ids(hub)
        after = hub.status()
    finally:
        await hub.stop()
    assert seen_down is not None and seen_down["ready"] is False
    assert "consumer call-log restarting" in list(seen_down["problems"])
    assert "RuntimeError: the writer broke" in str(_consumer(seen_down, CALL_LOG)["last_error"])
    assert sorted(c for c in stored if c.startswith("crash.")) == sorted(ids)
    assert _consumer(after, CALL_LOG)["restarts"] == 3 and after["ready"] is True
