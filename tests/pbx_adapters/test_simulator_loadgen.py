"""The load generator serves whole calls over real AMI to a hub-side reader."""

from __future__ import annotations

import asyncio
import re

import pytest

import cti.tracker as tracker_module
from bench.loadgen import LoadError, TraceReplay, run_load
from cti.ami_codec import AmiParser
from cti.events import CallEnded


async def _hub(port: int, ended: list[str], done: asyncio.Event) -> None:
    """A minimal hub: log in, parse, track, count finished calls until the server closes."""
    tracker = tracker_module.CallTracker()
    parser = AmiParser(wanted_events=tracker_module.CallTracker.WANTED_EVENTS)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"Action: Login\r\nUsername: ctihub\r\nSecret: pw\r\n\r\n")
    await writer.drain()
    loop = asyncio.get_running_loop()
    while data := await reader.read(65536):
        for message in parser.feed(data):
            for event in tracker.feed(message, loop.time()):
                if isinstance(event, CallEnded):
                    ended.append(event.call_id)
    writer.close()
    done.set()


@pytest.mark.parametrize("mode", ["simulator", "replay"])
async def test_every_call_the_load_places_ends_in_the_hubs_tracker(mode: str) -> None:
    ended: list[str] = []
    done = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    def start_hub(port: int) -> None:
        tasks.append(asyncio.create_task(_hub(port, ended, done)))

    report = await run_load(
        mode=mode,  # type: ignore[arg-type]
        calls_per_second=20.0,
        agents=10,
        duration=2.0,
        speed=20.0,
        secret="pw",
        wait_for_client=5.0,
        on_listening=start_hub,
    )
    await asyncio.wait_for(done.wait(), 10.0)
    await asyncio.gather(*tasks)
    assert report.clients == 1
    assert report.calls_placed > 0
    assert report.calls_ended == report.calls_placed
    assert len(ended) == report.calls_placed
    assert len(set(ended)) == len(ended)  # every call is a distinct call to the hub


def test_replay_repetitions_are_new_calls_with_the_same_shape() -> None:
    replay = TraceReplay()
    first = b"".join(data for _, data in replay.repetition(0)).decode()
    second = b"".join(data for _, data in replay.repetition(1)).decode()
    assert replay.calls == 20  # busy_20_calls, by its README
    first_ids = set(re.findall(r"Linkedid: (\S+)", first))
    second_ids = set(re.findall(r"Linkedid: (\S+)", second))
    assert len(first_ids) == len(second_ids) == 20
    assert not first_ids & second_ids
    assert re.findall(r"Event: (\w+)", first) == re.findall(r"Event: (\w+)", second)


async def test_no_login_within_the_wait_is_a_clear_error() -> None:
    with pytest.raises(LoadError, match="no AMI client logged in within 0 s"):
        await run_load(mode="replay", duration=1.0, wait_for_client=0.2)
