"""Waiting for MixMonitor to close a recording before reading it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from recordings.closing import RecordingStillOpenError, wait_until_closed
from tests.recordings.conftest import INBOUND, RECORDINGS

CHUNK = 320  # 20 ms of 8 kHz 16-bit mono, as MixMonitor appends it


async def append_chunks(path: Path, chunks: int, interval: float, done: asyncio.Event) -> None:
    """Write like MixMonitor during a call: a frame of audio every ``interval`` seconds."""
    audio = (Path(RECORDINGS) / INBOUND).read_bytes()
    with path.open("ab") as fh:
        for i in range(chunks):
            fh.write(audio[i * CHUNK % len(audio) :][:CHUNK].ljust(CHUNK, b"\0"))
            fh.flush()
            await asyncio.sleep(interval)
    done.set()


async def test_wait_returns_only_after_the_file_stops_growing(tmp_path: Path) -> None:
    path = tmp_path / INBOUND
    path.write_bytes((Path(RECORDINGS) / INBOUND).read_bytes()[:44])  # the header comes first
    done = asyncio.Event()
    writer = asyncio.create_task(append_chunks(path, 25, 0.02, done))
    size = await wait_until_closed(path, settle=0.4, timeout=20)
    assert done.is_set(), "returned while the recording was still being written"
    assert size == 44 + 25 * CHUNK == path.stat().st_size
    await writer


async def test_a_file_that_keeps_growing_is_reported_still_open(tmp_path: Path) -> None:
    path = tmp_path / INBOUND
    path.write_bytes(b"")
    done = asyncio.Event()
    writer = asyncio.create_task(append_chunks(path, 10_000, 0.02, done))
    try:
        with pytest.raises(RecordingStillOpenError, match=r"still changing after 0\.6 s"):
            await wait_until_closed(path, settle=0.5, timeout=0.6)
    finally:
        writer.cancel()
    assert not done.is_set()


async def test_a_closed_file_is_returned_after_one_settling_interval(tmp_path: Path) -> None:
    path = tmp_path / INBOUND
    path.write_bytes((Path(RECORDINGS) / INBOUND).read_bytes())
    assert await wait_until_closed(path, settle=0.05, timeout=5) == 22764


async def test_a_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        await wait_until_closed(tmp_path / "absent.wav", settle=0.05, timeout=1)
