"""Waiting until MixMonitor has closed a recording.

MixMonitor writes until the channel hangs up, and the AMI's hangup can reach
the hub before the last buffer (and the WAV header's sizes) reach the disk, or
an NFS mount shows them. Nothing portable says "closed" (inotify does not see
writes made on another host), so a file counts as closed once its size and
modification time have not changed for a settling interval.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path

log = logging.getLogger(__name__)


class RecordingStillOpenError(TimeoutError):
    """The recording was still growing when the wait ran out."""


async def wait_until_closed(
    path: Path, *, settle: float, timeout: float, poll: float | None = None
) -> int:
    """Wait until ``path`` has not changed for ``settle`` seconds; returns its size in bytes.

    Raises :class:`RecordingStillOpenError` if it still changes after ``timeout``
    seconds, and :class:`FileNotFoundError` if it is (or goes) missing.
    The file is stat'ed from a thread: on a hung network mount only that
    thread waits, never the loop.
    """
    if settle <= 0 or timeout <= 0:
        raise ValueError(f"settle ({settle}) and timeout ({timeout}) must be positive")
    interval = poll if poll is not None else min(settle / 4, 0.25)
    deadline = time.monotonic() + timeout
    last = await _signature(path)
    stable_since = time.monotonic()
    while True:
        now = time.monotonic()
        if now - stable_since >= settle:
            return last[0]
        if now >= deadline:
            raise RecordingStillOpenError(
                f"recording {path} still changing after {timeout:g} s (size {last[0]} bytes)"
            )
        await asyncio.sleep(min(interval, max(deadline - now, 0.0)))
        current = await _signature(path)
        if current != last:
            log.debug("recording still growing path=%s size=%d", path, current[0])
            last, stable_since = current, time.monotonic()


async def _signature(path: Path) -> tuple[int, int]:
    stat = await asyncio.to_thread(os.stat, path)
    return stat.st_size, stat.st_mtime_ns
