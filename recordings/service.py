"""After each call: wait for its recording to close, measure it, note the length on the call.

:class:`RecordingService` reads ``CallEnded`` from a bus subscription (as the
call log does) and, for each call with a recording, in a task of its own:
locates the file, waits until MixMonitor has closed it, measures its duration
in an executor, stores ``call_records.recording_seconds`` and, when
transcoding is configured, makes the browser copy ahead of the first play.
The call log writes the record itself, on its own subscription; if the record
is not there yet the update is retried for a while.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from crm_sync.db import Database
from crm_sync.models import CallRecord
from cti.bus import Subscription
from cti.events import CallEnded
from recordings.closing import RecordingStillOpenError, wait_until_closed
from recordings.library import RecordingLibrary
from recordings.locate import RecordingPathError
from recordings.media import MediaError, duration_seconds
from recordings.settings import RecordingsConfig

log = logging.getLogger(__name__)

RESUME_LIMIT = 10_000
"""Most calls taken up again at one start (oldest first)."""

Outcome = Literal[
    "measured", "no_recording", "missing", "refused", "still_open", "unreadable", "no_record"
]


@dataclass(frozen=True, slots=True)
class RecordingResult:
    """What became of one call's recording."""

    call_id: str
    outcome: Outcome
    path: Path | None = None
    seconds: float | None = None


class RecordingService:
    """Measures every ended call's recording and stores its length on the call record.

    ``record_wait``: how long to keep retrying when the call record is not
    written yet (the call log may be spooling through a database outage).
    Call :meth:`stop` on shutdown: it cancels the calls still being handled.
    """

    def __init__(
        self,
        database: Database,
        library: RecordingLibrary,
        config: RecordingsConfig,
        *,
        record_wait: float = 60.0,
        max_concurrent: int = 8,
    ) -> None:
        self._db = database
        self._library = library
        self._config = config
        self._record_wait = record_wait
        self._slots = asyncio.Semaphore(max_concurrent)
        self._tasks: set[asyncio.Task[RecordingResult]] = set()

    async def consume(self, subscription: Subscription) -> None:
        """Handle every CallEnded with a recording until the subscription ends or is cancelled."""
        try:
            async for delivery in subscription:
                event = delivery.event
                if isinstance(event, CallEnded) and event.recording:
                    self._start(event.call_id, event.recording)
        finally:
            await self.stop()

    async def resume_unmeasured(self, within_seconds: float = 86_400.0) -> int:
        """Measure again what a previous holder left unmeasured; how many calls were resumed.

        The bus counts a call handled when its measurement starts, so work
        cut short by a restart or a lease change would be lost: the calls of
        logged in the last ``within_seconds`` with a recording and no length yet are
        taken up again (a file that never appears is reported missing again,
        which costs a look on disk per restart).
        """
        since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=within_seconds)
        async with self._db.engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(CallRecord.call_id, CallRecord.recording)
                    .where(CallRecord.recording.is_not(None))
                    .where(CallRecord.recording_seconds.is_(None))
                    .where(CallRecord.written_at >= since)
                    .order_by(CallRecord.written_at)
                    .limit(RESUME_LIMIT)
                )
            ).all()
        for call_id, recording in rows:
            if recording:
                self._start(call_id, recording)
        if rows:
            log.info("recordings resumed calls=%d", len(rows))
        return len(rows)

    async def wait_idle(self) -> None:
        """Return once every measurement started so far has finished (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _start(self, call_id: str, recording: str) -> None:
        task = asyncio.create_task(self._guarded(call_id, recording), name=f"recording-{call_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """Cancel the calls still being handled and wait for them."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _guarded(self, call_id: str, recording: str) -> RecordingResult:
        async with self._slots:
            try:
                return await self.measure(call_id, recording)
            except asyncio.CancelledError:
                raise
            except Exception:
                # One bad file must not stop the others; the task's result is not awaited.
                log.exception("recording handling failed call_id=%s", call_id)
                return RecordingResult(call_id, "unreadable")

    async def handle(self, event: CallEnded) -> RecordingResult:
        """Wait for the call's recording, measure it and store the length on its record."""
        if not event.recording:
            return RecordingResult(event.call_id, "no_recording")
        return await self.measure(event.call_id, event.recording)

    async def measure(self, call_id: str, recording: str) -> RecordingResult:
        """Wait for ``recording`` to close, measure it, store the length on call ``call_id``."""
        path = await self._find(recording, call_id)
        if isinstance(path, RecordingResult):
            return path
        c = self._config
        try:
            await wait_until_closed(path, settle=c.settle_seconds, timeout=c.wait_closed_seconds)
        except RecordingStillOpenError:
            log.warning(
                "recording still growing, not measured call_id=%s waited_seconds=%g",
                call_id,
                c.wait_closed_seconds,
            )
            return RecordingResult(call_id, "still_open", path)
        except FileNotFoundError:
            log.warning("recording vanished while waiting for it to close call_id=%s", call_id)
            return RecordingResult(call_id, "missing", path)
        loop = asyncio.get_running_loop()
        try:
            seconds = round(await loop.run_in_executor(None, duration_seconds, path), 3)
        except MediaError as exc:
            log.warning("recording unreadable call_id=%s", call_id)
            log.debug("recording unreadable call_id=%s error=%s", call_id, exc)
            return RecordingResult(call_id, "unreadable", path)
        stored = await self._store(call_id, seconds)
        log.info("recording measured call_id=%s seconds=%.2f stored=%s", call_id, seconds, stored)
        if self._library.transcoder is not None:
            try:
                await self._library.transcoder.browser_copy(path)
            except MediaError as exc:
                log.warning("recording copy for browsers failed call_id=%s", call_id)
                log.debug("recording copy failed call_id=%s error=%s", call_id, exc)
        return RecordingResult(call_id, "measured" if stored else "no_record", path, seconds)

    async def _find(self, name: str, call_id: str) -> Path | RecordingResult:
        """The file, or the result that explains why there is none."""
        # A hangup can reach the hub before MixMonitor's file shows on a network mount.
        deadline = asyncio.get_running_loop().time() + self._config.settle_seconds
        while True:
            try:
                path = await self._library.locate(name)
            except RecordingPathError as exc:
                log.warning("recording name refused call_id=%s: outside the roots", call_id)
                log.debug("recording name refused call_id=%s error=%s", call_id, exc)
                return RecordingResult(call_id, "refused")
            if path is not None:
                return path
            if asyncio.get_running_loop().time() >= deadline:
                log.info("no recording file call_id=%s (recording off or not written)", call_id)
                return RecordingResult(call_id, "missing")
            await asyncio.sleep(min(0.25, self._config.settle_seconds / 4))

    async def _store(self, call_id: str, seconds: float) -> bool:
        """Set the record's length; False if the call log never wrote the record in time."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._record_wait
        delay = 0.1
        while True:
            try:
                async with self._db.engine.begin() as connection:
                    result = await connection.execute(
                        update(CallRecord)
                        .where(CallRecord.call_id == call_id)
                        .values(recording_seconds=seconds)
                    )
                if result.rowcount:
                    return True
                log.debug("call record not written yet, retrying call_id=%s", call_id)
            except (SQLAlchemyError, OSError) as exc:
                log.info(
                    "recording length not stored yet call_id=%s error=%s",
                    call_id,
                    type(exc).__name__,
                )
            if loop.time() >= deadline:
                log.warning(
                    "recording length not stored: no call record call_id=%s waited_seconds=%g",
                    call_id,
                    self._record_wait,
                )
                return False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
