"""The fault suite, AMI side: a hostile PBX against the whole hub (bounded in time and count).

After each attack the hub is up, its memory is back near where it started,
and ordinary calls made afterwards are in the call log exactly once.
"""

from __future__ import annotations

import asyncio
import gc
import sys
from pathlib import Path

from sqlalchemy import text

from bench.tracker_throughput import TraceRepeater
from ctihub.daemon import CALL_LOG, Hub
from ctihub.settings import load_settings
from popup_server.app import HUB_KEY
from tests.pbx_adapters.ami_fake_server import SECRET, FakeAmi, running_server

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ami"
UNWANTED = {"VarSet", "Newexten", "DeviceStateChange", "QueueMemberPause", "QueueMemberStatus"}


def short_call_trace() -> TraceRepeater:
    """The real abandoned inbound call, without the events the tracker skips anyway."""
    raw = (FIXTURES / "inbound_abandoned.ami").read_bytes()
    banner_end = raw.find(b"\r\n") + 2
    kept = []
    for block in raw[banner_end:].split(b"\r\n\r\n"):
        if not block.strip():
            continue
        event = next(
            (line[7:] for line in block.split(b"\r\n") if line.startswith(b"Event: ")), b""
        )
        if event.decode() not in UNWANTED:
            kept.append(block + b"\r\n\r\n")
    return TraceRepeater(raw[:banner_end] + b"".join(kept))


def hub_settings(tmp_path: Path, ami_port: int, **extra: str) -> dict[str, str]:
    return {
        "CTIHUB_PBX": "asterisk",
        "CTIHUB_AMI__PORT": str(ami_port),
        "CTIHUB_AMI__SECRET": SECRET,
        "CTIHUB_AMI__AUTH": "plain",
        "CTIHUB_AMI__RECONNECT_MIN_DELAY": "0.05",
        "CTIHUB_AMI__RECONNECT_MAX_DELAY": "0.2",
        "CTIHUB_AMI__FULLY_BOOTED_TIMEOUT": "0.5",
        "CTIHUB_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path}/hub.sqlite3",
        "CTIHUB_CRM__SPOOL_DIR": str(tmp_path / "spool"),
        "CTIHUB_AGI__ENABLED": "false",
        "CTIHUB_HTTP__PORT": "0",
        "CTIHUB_BUS__RETENTION": "1000",
        **extra,
    }


async def logged_calls(hub: Hub) -> list[str]:
    assert hub.crm is not None
    async with hub.crm.database.engine.connect() as connection:
        return [
            str(r[0]) for r in await connection.execute(text("select call_id from call_records"))
        ]


async def until_logged(hub: Hub, count: int, timeout: float) -> list[str]:
    async with asyncio.timeout(timeout):
        while True:
            calls = await logged_calls(hub)
            if len(calls) >= count:
                await asyncio.wait_for(hub.consumers[CALL_LOG].caught_up(), timeout)
                return await logged_calls(hub)
            await asyncio.sleep(0.1)


async def ready_link(hub: Hub, resyncs_before: int = 0) -> int:
    """Wait until the link is up and resynced more than ``resyncs_before`` times; the count."""
    async with asyncio.timeout(15):
        while (
            hub.feed is None
            or hub.feed.link_state != "up"
            or hub.feed.resyncs_completed <= resyncs_before
        ):
            await asyncio.sleep(0.02)
    return hub.feed.resyncs_completed


def live_blocks() -> int:
    gc.collect()
    return sys.getallocatedblocks()


async def send(server: FakeAmi, data: bytes, chunk: int = 1 << 20) -> None:
    for start in range(0, len(data), chunk):
        server.send_raw(data[start : start + chunk])
        await server.drained()


async def test_a_6000_call_burst_is_logged_whole_and_later_calls_once_each(
    tmp_path: Path,
) -> None:
    trace = short_call_trace()
    async with running_server() as server:
        hub = Hub(load_settings(None, env=hub_settings(tmp_path, server.port)))
        await hub.start()
        try:
            await ready_link(hub)
            await send(server, trace.repetition(0))
            await until_logged(hub, 1, 30)
            before = live_blocks()
            # 6,000 short calls at once (a spam flood, or a PBX flushing after a cut),
            # six times the bus window the hub was given.
            await send(server, b"".join(trace.repetition(i) for i in range(1, 6001)))
            await until_logged(hub, 6001, 240)
            await send(server, b"".join(trace.repetition(i) for i in range(6001, 6004)))
            calls = await until_logged(hub, 6004, 60)
            for consumer in hub.consumers.values():  # every durable consumer, not only ours
                await asyncio.wait_for(consumer.caught_up(), 120)
            after = live_blocks()
            status = hub.status()
        finally:
            await hub.stop()
    assert len(calls) == len(set(calls)) == 6004
    assert status["ready"] is True, status["problems"]
    (call_log,) = [c for c in status["consumers"] if c["name"] == CALL_LOG]  # type: ignore[attr-defined]
    assert call_log["restarts"] == 0 and call_log["gaps"] == 0
    # Memory back near the start: the burst's calls are not kept once logged.
    assert after - before < 60_000, f"{after - before} more live blocks after the burst"


async def test_junk_huge_lines_and_messages_cut_short_leave_the_hub_logging(
    tmp_path: Path,
) -> None:
    trace = short_call_trace()
    junk = bytes(range(256)) * 256 + b"\r\n\r\n"
    attacks = {
        "binary junk": junk,
        "10 MB line": b"Event: Newchannel\r\nChannel: " + b"A" * (10 << 20) + b"\r\n\r\n",
        "closed mid-message": trace.repetition(1)[:700],
    }
    async with running_server() as server:
        hub = Hub(load_settings(None, env=hub_settings(tmp_path, server.port)))
        await hub.start()
        try:
            resyncs = await ready_link(hub)
            before = live_blocks()
            expected = 0
            for number, (name, attack) in enumerate(attacks.items(), start=2):
                await send(server, attack)
                if name == "closed mid-message":
                    # The call it began is gone from the PBX after the reconnect: the
                    # resync ends it, and it is logged once (as reconciled).
                    server.drop_clients()
                    expected += 1
                    resyncs = await ready_link(hub, resyncs)
                await ready_link(hub)
                await send(server, trace.repetition(number))
                expected += 1
                calls = await until_logged(hub, expected, 30)
                assert len(calls) == len(set(calls)) == expected, name
            after = live_blocks()
            status = hub.status()
        finally:
            await hub.stop()
    assert status["ready"] is True, status["problems"]
    assert after - before < 60_000, f"{after - before} more live blocks after the attacks"


async def test_the_link_cut_100_times_mid_call_loses_and_doubles_no_call_and_leaves_no_pop(
    tmp_path: Path,
) -> None:
    trace = short_call_trace()
    async with running_server() as server:
        hub = Hub(load_settings(None, env=hub_settings(tmp_path, server.port)))
        await hub.start()
        try:
            resyncs = 0
            for cut in range(100):
                resyncs = await ready_link(hub, resyncs)
                # A whole call, then half of the next one: the link is cut in the middle of
                # it, and the PBX's channel list after the reconnect no longer has it.
                whole, split = trace.repetition(2 * cut), trace.repetition(2 * cut + 1)
                await send(server, whole + split[: len(split) // 2])
                await asyncio.sleep(0.01)
                server.drop_clients()
            await ready_link(hub, resyncs)
            calls = await until_logged(hub, 200, 120)
            assert hub._app is not None
            pops = hub._app[HUB_KEY].pops
            live = pops.live_calls
            on_screen = [
                m
                for m in pops.snapshot({"1001", "1002", "1003"})
                if m["type"] == "pop" and m["call"]["state"] != "ended"
            ]
        finally:
            await hub.stop()
    assert len(calls) == len(set(calls)) == 200
    assert live == 0
    assert on_screen == []
