"""After a real traced call ends, its real recording is measured and the length logged on it."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from crm_sync.call_log import record_values
from crm_sync.db import Database
from crm_sync.models import CallRecord
from cti.bus import LocalBus
from cti.events import CallEnded, QueueCallersChanged
from cti.replay import read_transcript, replay_events
from recordings.library import RecordingLibrary
from recordings.service import RecordingService
from recordings.settings import RecordingsConfig
from tests.recordings.conftest import FIXTURES, INBOUND, PBX_SPOOL, need_ffmpeg


def ended(trace: str) -> CallEnded:
    """The CallEnded of a recorded trace, under a call id no other test uses."""
    events = replay_events(read_transcript(FIXTURES / "ami" / f"{trace}.jsonl"))
    event = next(e for e in events if isinstance(e, CallEnded))
    return dataclasses.replace(event, call_id=f"{event.call_id}-{secrets.token_hex(4)}")


def recordings_config(monitor: Path, tmp_path: Path, **overrides: object) -> RecordingsConfig:
    values: dict[str, object] = {
        "roots": [str(monitor)],
        "path_map": {PBX_SPOOL: str(monitor)},
        "settle_seconds": 0.05,
        "wait_closed_seconds": 5.0,
        "cache_dir": str(tmp_path / "cache"),
    }
    values.update(overrides)
    return RecordingsConfig.model_validate(values)


def service(database: Database, config: RecordingsConfig, **kwargs: Any) -> RecordingService:
    return RecordingService(database, RecordingLibrary.from_config(config), config, **kwargs)


async def log_call(database: Database, event: CallEnded) -> None:
    async with database.engine.begin() as connection:
        await connection.execute(insert(CallRecord).values(record_values(event, None, None)))


async def stored_length(database: Database, call_id: str) -> float | None:
    async with database.sessions() as session:
        return await session.scalar(
            select(CallRecord.recording_seconds).where(CallRecord.call_id == call_id)
        )


async def test_recording_length_is_stored_on_the_call_record(
    database: Database, monitor: Path, tmp_path: Path
) -> None:
    event = ended("inbound_answered")
    assert event.recording == f"{PBX_SPOOL}/2026/11/23/{INBOUND}"
    await log_call(database, event)

    result = await service(database, recordings_config(monitor, tmp_path)).handle(event)

    assert (result.outcome, result.seconds) == ("measured", 1.42)
    assert result.path == (monitor / "2026/11/23" / INBOUND).resolve()
    assert await stored_length(database, event.call_id) == pytest.approx(1.42)


async def test_length_is_stored_when_the_call_log_writes_the_record_later(
    database: Database, monitor: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    event = ended("click_to_call")
    caplog.set_level(logging.DEBUG, logger="recordings.service")
    svc = service(database, recordings_config(monitor, tmp_path), record_wait=30)
    handling = asyncio.create_task(svc.handle(event))
    async with asyncio.timeout(10):
        while "call record not written yet" not in caplog.text:
            await asyncio.sleep(0.01)
    await log_call(database, event)
    result = await asyncio.wait_for(handling, 30)
    assert result.outcome == "measured"
    assert await stored_length(database, event.call_id) == pytest.approx(1.42)


async def test_a_record_never_written_is_reported_and_nothing_raises(
    database: Database, monitor: Path, tmp_path: Path
) -> None:
    event = ended("inbound_answered")
    svc = service(database, recordings_config(monitor, tmp_path), record_wait=0.2)
    result = await svc.handle(event)
    assert (result.outcome, result.seconds) == ("no_record", 1.42)


async def test_a_recording_never_written_is_reported_missing(
    database: Database, monitor: Path, tmp_path: Path
) -> None:
    # busy_20_calls: a caller who abandoned; MixMonitor (option b) wrote no file.
    event = dataclasses.replace(
        ended("inbound_answered"),
        recording=f"{PBX_SPOOL}/2026/11/23/in-2188000000--20261123-000936-1795392576.77.wav",
    )
    await log_call(database, event)
    result = await service(database, recordings_config(monitor, tmp_path)).handle(event)
    assert result.outcome == "missing"
    assert await stored_length(database, event.call_id) is None


async def test_a_recording_name_outside_the_roots_is_refused(
    database: Database, monitor: Path, tmp_path: Path
) -> None:
    event = dataclasses.replace(ended("inbound_answered"), recording="/etc/passwd")
    await log_call(database, event)
    result = await service(database, recordings_config(monitor, tmp_path)).handle(event)
    assert result.outcome == "refused"
    assert await stored_length(database, event.call_id) is None


async def test_a_recording_still_growing_at_the_deadline_is_not_measured(
    database: Database, monitor: Path, tmp_path: Path
) -> None:
    event = ended("inbound_answered")
    await log_call(database, event)
    path = monitor / "2026/11/23" / INBOUND
    stop = asyncio.Event()

    async def keep_writing() -> None:
        with path.open("ab") as fh:
            while not stop.is_set():
                fh.write(bytes(320))
                fh.flush()
                await asyncio.sleep(0.01)

    writer = asyncio.create_task(keep_writing())
    config = recordings_config(monitor, tmp_path, settle_seconds=0.3, wait_closed_seconds=0.4)
    try:
        result = await service(database, config).handle(event)
    finally:
        stop.set()
        await writer
    assert result.outcome == "still_open"
    assert await stored_length(database, event.call_id) is None


async def test_calls_ending_on_the_bus_get_their_lengths(
    database: Database, monitor: Path, tmp_path: Path
) -> None:
    calls = [ended("inbound_answered"), ended("click_to_call")]
    for call in calls:
        await log_call(database, call)
    bus = LocalBus(retention=100)
    subscription = await bus.subscribe("recordings")
    svc = service(database, recordings_config(monitor, tmp_path))
    consumer = asyncio.create_task(svc.consume(subscription))
    try:
        await bus.publish([QueueCallersChanged("support", 0, None), *calls])
        async with asyncio.timeout(20):
            while None in [await stored_length(database, c.call_id) for c in calls]:
                await asyncio.sleep(0.02)
    finally:
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)
        await bus.close()
    assert [await stored_length(database, c.call_id) for c in calls] == [1.42, 1.42]


async def test_the_browser_copy_is_made_ahead_when_transcoding(
    database: Database, monitor: Path, tmp_path: Path
) -> None:
    need_ffmpeg()
    event = ended("inbound_answered")
    await log_call(database, event)
    config = recordings_config(monitor, tmp_path, transcode="opus")
    result = await service(database, config).handle(event)
    assert result.outcome == "measured"
    assert [p.suffix for p in (tmp_path / "cache").rglob("*") if p.is_file()] == [".ogg"]


async def test_a_new_holder_measures_what_the_last_one_left_unmeasured(
    database: Database, monitor: Path, tmp_path: Path
) -> None:
    unmeasured = ended("inbound_answered")
    already = ended("click_to_call")
    await log_call(database, unmeasured)
    await log_call(database, already)
    async with database.engine.begin() as connection:
        await connection.execute(
            update(CallRecord)
            .where(CallRecord.call_id == already.call_id)
            .values(recording_seconds=9.0)
        )
    svc = service(database, recordings_config(monitor, tmp_path))
    resumed = await svc.resume_unmeasured()
    await asyncio.wait_for(svc.wait_idle(), 30)
    assert resumed == 1
    assert await stored_length(database, unmeasured.call_id) == pytest.approx(1.42)
    assert await stored_length(database, already.call_id) == 9.0
    # Nothing logged before the window is taken up.
    assert await svc.resume_unmeasured(within_seconds=0) == 0
