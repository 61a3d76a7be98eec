"""The event bus over Redis Streams, and the lease that elects the one AMI holder.

Several hub nodes share one stream of domain events (never raw AMI: only what
the tracker produced). The node holding :class:`RedisLease` drives the AMI link
and publishes; every node subscribes and serves its own agents.

Redis layout, under a configurable prefix (``ctihub:`` by default):

- ``<prefix>events``: the stream; one entry per event, field ``e`` = the
  event's JSON form (:meth:`cti.events.Event.to_dict`). Trimmed with
  ``MAXLEN ~ stream_maxlen``, which keeps at least that many entries.
- ``<prefix>cursor:<subscriber name>``: the last stream id that subscriber
  processed, so a restarted node resumes where it stopped.
- ``<prefix>ami-lease``: the lease (see :class:`RedisLease`).

A Redis command costs ~120 µs of client CPU in redis-py, so a published batch
is one MULTI/EXEC round trip, and a subscriber's cursor update travels in the
same round trip as its next XREAD.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import socket
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from cti.bus import (
    LATEST,
    STICKY_EVENT_TYPES,
    BusClosedError,
    BusError,
    BusUnavailableError,
    Delivery,
    InvalidPositionError,
    ResumeGapError,
    SubscriberOverflowError,
    SubscriptionBase,
    parse_position,
)
from cti.events import Event, event_from_dict
from ctihub.settings import BusConfig

logger = logging.getLogger(__name__)

# Failures worth waiting out: the server is unreachable, restarting or slow.
_TRANSIENT = (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError)
_FIELD = b"e"
_ORIGIN = "0-0"


class _JsonCodec:
    """Event <-> bytes; orjson when it is installed (it is not a dependency), else json."""

    def __init__(self) -> None:
        try:
            orjson: Any = importlib.import_module("orjson")
        except ImportError:
            self.encode: Callable[[dict[str, Any]], bytes] = _json_dumps
            self.decode: Callable[[bytes], Any] = json.loads
        else:
            self.encode = orjson.dumps
            self.decode = orjson.loads


def _json_dumps(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def _as_str(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisStreamBus:
    """:class:`cti.bus.EventBus` over one Redis stream shared by every node.

    Each subscription reads the stream itself (XREAD BLOCK on a pooled
    connection), so a slow subscriber only lags in Redis and never slows the
    publisher or other subscribers. Subscriptions are meant to be few per node
    (one per consuming component); fan out to websockets in process.

    Delivery is at least once across crashes: a subscriber's cursor is
    persisted with each read round trip and on close, so a node killed
    mid-batch gets at most the unfinished part of one read batch
    (``read_count`` events) again; a clean close or restart loses and repeats
    nothing. Positions are stream ids, the same on every node.
    """

    def __init__(
        self,
        url: str,
        *,
        key_prefix: str = "ctihub:",
        stream_maxlen: int = 100_000,
        read_count: int = 500,
        block_seconds: float = 5.0,
        command_timeout: float = 5.0,
        cursor_ttl_seconds: int = 7 * 86_400,
    ) -> None:
        if not 1 <= read_count < stream_maxlen:
            # Gap detection relies on a lagging reader always getting a full batch.
            raise ValueError(
                f"read_count must be between 1 and stream_maxlen - 1 ({stream_maxlen - 1}), "
                f"got {read_count}"
            )
        self._client: Redis = Redis.from_url(
            url,
            socket_timeout=block_seconds + command_timeout,
            socket_connect_timeout=command_timeout,
        )
        self.stream_key = f"{key_prefix}events"
        self.sticky_key = f"{key_prefix}latest"
        """Hash of the last event of each sticky type."""
        self._cursor_prefix = f"{key_prefix}cursor:"
        self._maxlen = stream_maxlen
        self._read_count = read_count
        self._block_ms = max(1, round(block_seconds * 1000))
        self._command_timeout = command_timeout
        self._cursor_ttl = cursor_ttl_seconds
        self._codec = _JsonCodec()
        self._publish_lock = asyncio.Lock()
        self._subscriptions: set[RedisSubscription] = set()
        self._closed = False

    @classmethod
    def from_config(cls, config: BusConfig) -> RedisStreamBus:
        """Build from the ``[bus]`` section."""
        return cls(
            config.redis_url.get_secret_value(),
            key_prefix=config.key_prefix,
            stream_maxlen=config.stream_maxlen,
            read_count=config.read_count,
            block_seconds=config.block_seconds,
            command_timeout=config.command_timeout,
            cursor_ttl_seconds=config.cursor_ttl_seconds,
        )

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    def cursor_key(self, name: str) -> str:
        """The Redis key holding subscriber ``name``'s last processed position."""
        return self._cursor_prefix + name

    async def publish(self, events: Sequence[Event]) -> None:
        """XADD the batch in one MULTI/EXEC round trip: all appended, contiguously, or none.

        Calls are serialised, so concurrent publishers keep their call order.
        Raises :class:`BusUnavailableError` when Redis does not answer within
        ``command_timeout``; if that happens after EXEC was sent the batch
        may still have been appended.
        """
        if self._closed:
            raise BusClosedError(f"publish on a closed RedisStreamBus stream={self.stream_key}")
        if not events:
            return
        encode = self._codec.encode
        async with self._publish_lock:
            pipe = self._client.pipeline(transaction=True)
            for event in events:
                data = encode(event.to_dict())
                pipe.xadd(self.stream_key, {_FIELD: data}, maxlen=self._maxlen, approximate=True)
                if event.type in STICKY_EVENT_TYPES:
                    # In the same transaction: a reader never sees the stream and
                    # the remembered state disagree.
                    pipe.hset(self.sticky_key, event.type, data)
            try:
                async with asyncio.timeout(self._command_timeout):
                    await pipe.execute()
            except (*_TRANSIENT, RedisError) as exc:
                raise BusUnavailableError(
                    f"could not publish {len(events)} event(s) to stream {self.stream_key}: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc

    async def ping(self, timeout: float) -> bool:
        """True if Redis answers within ``timeout`` seconds."""
        try:
            async with asyncio.timeout(timeout):
                await self._client.ping()
        except (*_TRANSIENT, RedisError) as exc:
            logger.warning("bus ping failed stream=%s error=%s", self.stream_key, exc)
            return False
        return True

    async def latest(self, event_type: str) -> Event | None:
        """The last sticky event of ``event_type`` any node published."""
        try:
            async with asyncio.timeout(self._command_timeout):
                raw = await self._client.hget(self.sticky_key, event_type)
        except (*_TRANSIENT, RedisError) as exc:
            raise BusUnavailableError(f"could not read {self.sticky_key}: {exc}") from exc
        if raw is None:
            return None
        try:
            data = raw if isinstance(raw, bytes) else raw.encode()
            return event_from_dict(self._codec.decode(data))
        except (ValueError, TypeError, KeyError) as exc:
            logger.warning("undecodable %s in %s: %s", event_type, self.sticky_key, exc)
            return None

    async def subscribe(self, name: str, *, resume_from: str | None = None) -> RedisSubscription:
        """Read the stream as ``name``, which also names the persisted cursor.

        ``resume_from=None``: from ``name``'s persisted cursor if there is one,
        else from now on. :data:`LATEST`: from now on. A stream id: after it.
        A resume point that was trimmed away raises :class:`ResumeGapError`
        at the first read.
        """
        if self._closed:
            raise BusClosedError(f"subscribe {name!r} on a closed RedisStreamBus")
        check_first_read = True
        start: str | None = None
        if resume_from is None:
            stored = await self._command(self._client.get(self.cursor_key(name)))
            if stored is not None:
                start = _as_str(stored)
                try:
                    parse_position(start)
                except InvalidPositionError as exc:
                    raise InvalidPositionError(
                        f"Redis key {self.cursor_key(name)} holds {start!r}, not a stream id"
                    ) from exc
        elif resume_from != LATEST:
            parse_position(resume_from)
            start = resume_from
        if start is None:
            start = await self._latest_id()
            check_first_read = False
        subscription = RedisSubscription(self, name, start, check_first_read=check_first_read)
        self._subscriptions.add(subscription)
        return subscription

    async def close(self) -> None:
        """Persist every open subscription's cursor, then drop the connections.

        Subscribers blocked in a read end with ``StopAsyncIteration``. An event
        a subscriber received but did not follow with a request for the next
        counts as unprocessed and is delivered again after a restart: close
        subscriptions first (``aclose``) when their consumers are done.
        """
        if self._closed:
            return
        self._closed = True
        open_subscriptions = list(self._subscriptions)
        self._subscriptions.clear()
        if open_subscriptions:
            await self._save_cursors({sub.name: sub._processed for sub in open_subscriptions})
        await self._client.aclose()

    async def _save_cursors(self, positions: Mapping[str, str]) -> None:
        """Persist subscriber cursors (name -> position) in one round trip.

        A failure is logged, not raised: the events after the old cursor are
        delivered again after a restart, which consumers must bear anyway.
        """
        pipe = self._client.pipeline(transaction=False)
        for name, position in positions.items():
            self._queue_cursor_write(pipe, name, position)
        try:
            async with asyncio.timeout(self._command_timeout):
                await pipe.execute()
        except (*_TRANSIENT, RedisError) as exc:
            logger.error(
                "could not save subscriber cursors stream=%s cursors=%s error=%s",
                self.stream_key,
                dict(positions),
                exc,
            )

    def _queue_cursor_write(self, pipe: Any, name: str, position: str) -> None:
        pipe.set(self.cursor_key(name), position, ex=self._cursor_ttl)

    async def _latest_id(self) -> str:
        newest = await self._command(self._client.xrevrange(self.stream_key, "+", "-", count=1))
        return _as_str(newest[0][0]) if newest else _ORIGIN

    async def _command(self, awaitable: Awaitable[Any]) -> Any:
        try:
            async with asyncio.timeout(self._command_timeout):
                return await awaitable
        except (*_TRANSIENT, RedisError) as exc:
            raise BusUnavailableError(
                f"Redis command on stream {self.stream_key} failed: {type(exc).__name__}: {exc}"
            ) from exc

    async def _gap_after(self, after_id: str) -> str | None:
        """Why events after ``after_id`` may have been lost, or ``None`` if none were.

        Trimming only ever removes the oldest entries (and Redis 7.0 does not
        record it in ``max-deleted-entry-id``), so the test is whether the
        oldest entry kept is newer than ``after_id``. That is exact unless
        trimming stopped precisely at ``after_id``, which needs the reader to
        be a whole stream behind: dropping it then is what we want anyway.
        """
        after = parse_position(after_id)
        if after == (0, 0):
            return None
        try:
            async with asyncio.timeout(self._command_timeout):
                info = await self._client.xinfo_stream(self.stream_key)
        except ResponseError as exc:
            if "no such key" not in str(exc).lower():
                raise
            return f"the stream {self.stream_key} no longer exists (Redis data lost?)"
        first = info.get("first-entry")
        if not first:
            last = info.get("last-generated-id")
            if last and parse_position(_as_str(last)) > after:
                return f"the stream {self.stream_key} was emptied since"
            return None
        oldest = _as_str(first[0])
        if parse_position(oldest) > after:
            return (
                f"the oldest event kept is {oldest}: older ones were trimmed "
                f"(stream_maxlen {self._maxlen}) or the stream was recreated"
            )
        return None


class RedisSubscription(SubscriptionBase):
    """One reader of a :class:`RedisStreamBus` (see :class:`cti.bus.Subscription`).

    An event counts as processed when the consumer asks for the next one, or
    when it leaves ``async with`` without an exception; only processed
    positions are persisted as the cursor.
    """

    def __init__(
        self, bus: RedisStreamBus, name: str, start: str, *, check_first_read: bool
    ) -> None:
        super().__init__(name)
        self._bus = bus
        self._resume_from = start
        self._read_after = start
        self._buffer: deque[tuple[bytes | str, dict[Any, Any]]] = deque()
        self._delivered: str | None = None
        self._processed: str = start
        self._persisted: str | None = None
        self._check_next_read = check_first_read
        self._finished = False
        self._failures = 0
        self._at_end = False
        """The last read returned less than a full batch: it had reached the stream's end."""

    @property
    def last_position(self) -> str | None:
        return self._delivered

    @property
    def processed_position(self) -> str:
        """The last position the consumer is done with (what the cursor saves)."""
        return self._processed

    @property
    def buffered(self) -> int:
        return 0 if self.finished else len(self._buffer)

    @property
    def finished(self) -> bool:
        return self._finished or self._bus.closed

    async def __anext__(self) -> Delivery:
        if self._delivered is not None:
            self._processed = self._delivered
        while True:
            if self._finished or self._bus.closed:
                raise StopAsyncIteration
            delivery = self._next_buffered(skip_marks_processed=True)
            if delivery is not None:
                return delivery
            await self._fill()

    def take_buffered(self, limit: int) -> list[Delivery]:
        taken: list[Delivery] = []
        while len(taken) < limit and not self.finished:
            delivery = self._next_buffered(skip_marks_processed=False)
            if delivery is None:
                break
            taken.append(delivery)
        return taken

    def _next_buffered(self, *, skip_marks_processed: bool) -> Delivery | None:
        while self._buffer:
            entry_id, fields = self._buffer.popleft()
            position = _as_str(entry_id)
            self._delivered = position
            event = self._decode(position, fields)
            if event is None:
                if skip_marks_processed:
                    self._processed = position
                continue
            return Delivery(position, event)
        return None

    async def _stop(self, *, failed: bool) -> None:
        """Save the cursor and stop.

        The last delivered event counts as processed, unless the consumer failed
        with it in hand: then it is delivered again after a restart.
        """
        if self._finished:
            return
        position = self._processed if failed else (self._delivered or self._processed)
        self._finished = True
        self._set_waiting(False)
        self._bus._subscriptions.discard(self)
        if self._bus.closed or position == self._persisted:
            return
        await self._bus._save_cursors({self._name: position})

    def _decode(self, position: str, fields: dict[Any, Any]) -> Event | None:
        raw = fields.get(_FIELD)
        try:
            if raw is None:
                raise ValueError(f"entry has no field {_FIELD!r}")
            return event_from_dict(self._bus._codec.decode(raw))
        except (ValueError, TypeError, KeyError) as exc:
            # A newer node may publish event types this one does not know yet.
            logger.warning(
                "skipping undecodable bus entry name=%s position=%s error=%s",
                self._name,
                position,
                exc,
            )
            return None

    async def _fill(self) -> None:
        """One read round trip (plus the cursor write, and a gap check when one is due)."""
        bus = self._bus
        write = self._processed if self._processed != self._persisted else None
        pipe = bus._client.pipeline(transaction=False)
        if write is not None:
            bus._queue_cursor_write(pipe, self._name, write)
        pipe.xread({bus.stream_key: self._read_after}, count=bus._read_count, block=bus._block_ms)
        # Caught up: everything delivered is processed and the last read found the end.
        self._set_waiting(self._at_end)
        try:
            async with asyncio.timeout(bus._block_ms / 1000 + bus._command_timeout):
                replies = await pipe.execute()
            entries = _stream_entries(replies[-1], bus.stream_key)
            self._at_end = len(entries) < bus._read_count
            gap = None
            # A reader that lost entries to trimming always gets a full batch
            # (trimming keeps >= stream_maxlen > read_count), so a partial batch
            # needs no check; the first read of a resume or after an outage does.
            if self._check_next_read or len(entries) >= bus._read_count:
                gap = await bus._gap_after(self._read_after)
        except _TRANSIENT as exc:
            self._set_waiting(False)
            self._at_end = False
            if bus.closed or self._finished:
                return
            await self._wait_out_failure(exc)
            return
        except RedisError as exc:
            self._set_waiting(False)
            raise BusError(
                f"reading stream {bus.stream_key} as {self._name!r} failed: {exc}"
            ) from exc
        self._set_waiting(False)
        if self._failures:
            logger.warning(
                "bus stream readable again name=%s after_failures=%d", self._name, self._failures
            )
            self._failures = 0
        if write is not None:
            self._persisted = write
        self._check_next_read = False
        if gap is not None:
            self._finished = True
            self._set_waiting(False)
            bus._subscriptions.discard(self)
            if self._delivered is None:
                raise ResumeGapError(self._name, self._resume_from, gap)
            logger.error(
                "bus subscriber fell behind and was dropped name=%s last_position=%s reason=%s",
                self._name,
                self._delivered,
                gap,
            )
            raise SubscriberOverflowError(self._name, self._delivered, gap)
        if entries:
            self._read_after = _as_str(entries[-1][0])
            self._buffer.extend(entries)

    async def _wait_out_failure(self, exc: BaseException) -> None:
        self._failures += 1
        delay = min(5.0, 0.1 * 2 ** min(self._failures - 1, 6))
        log = logger.warning if self._failures == 1 else logger.debug
        log(
            "bus stream unreadable, retrying name=%s attempt=%d retry_in=%.1fs error=%s: %s",
            self._name,
            self._failures,
            delay,
            type(exc).__name__,
            exc,
        )
        # After an outage Redis may have restarted empty: check before trusting the next read.
        self._check_next_read = True
        await asyncio.sleep(delay)


def _stream_entries(reply: Any, stream_key: str) -> list[tuple[bytes | str, dict[Any, Any]]]:
    """The entries of one stream in an XREAD reply (RESP2 list or RESP3 map)."""
    if not reply:
        return []
    if isinstance(reply, dict):
        for key, entries in reply.items():
            if _as_str(key) == stream_key:
                return list(entries[0] if entries and isinstance(entries[0], list) else entries)
        return []
    for key, entries in reply:
        if _as_str(key) == stream_key:
            return list(entries)
    return []


_EXTEND_IF_OWNER = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""

_DELETE_IF_OWNER = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


class RedisLease:
    """At most one node at a time runs a job (the AMI link): a Redis key with a TTL.

    Timing, with ``ttl`` T, ``renew_interval`` R (T/3), ``stop_margin`` M (T/5)
    and ``acquire_interval`` A (T/3):

    - Acquire is ``SET key token NX PX T``; contenders try every A.
    - The holder extends the key to T every R, with a compare-and-extend
      script (only if the key still holds its token); each attempt is bounded
      in time, and a failed one is retried every R/3.
    - The holder counts validity from the moment it *sent* its last successful
      SET or extend (monotonic clock). Redis started the key's TTL no earlier,
      so no other node can acquire before that moment + T. Without a
      successful renewal the holder cancels its job at that moment + T − M;
      so two nodes never run the job at once provided cancellation completes
      within M and the two clocks' rates differ by less than M/T.
    - When a renewal finds the key gone or holding another token (stolen,
      expired during a stall, deleted by an operator) the job is cancelled at
      once.
    - A holder that dies without releasing is replaced after at most T + A
      (plus a round trip); one that stops cleanly releases (compare-and-delete)
      and is replaced within A.
    """

    def __init__(
        self,
        url: str,
        *,
        key: str,
        node_id: str,
        ttl: float = 5.0,
        renew_interval: float | None = None,
        acquire_interval: float | None = None,
        stop_margin: float | None = None,
    ) -> None:
        if ttl <= 0:
            raise ValueError(f"lease ttl must be positive, got {ttl}")
        self.key = key
        self.node_id = node_id
        self.ttl = ttl
        self.renew_interval = ttl / 3 if renew_interval is None else renew_interval
        self.acquire_interval = ttl / 3 if acquire_interval is None else acquire_interval
        self.stop_margin = ttl / 5 if stop_margin is None else stop_margin
        if not 0 < self.renew_interval < ttl - self.stop_margin:
            raise ValueError(
                f"renew_interval ({self.renew_interval}s) must be positive and shorter than "
                f"ttl - stop_margin ({ttl - self.stop_margin}s)"
            )
        # A fresh token per instance: a restarted node must not mistake its
        # predecessor's key (same node_id) for its own.
        self.token = f"{node_id}/{uuid.uuid4().hex[:12]}"
        self._client: Redis = Redis.from_url(
            url, socket_timeout=self.renew_interval, socket_connect_timeout=self.renew_interval
        )
        self._extend = self._client.register_script(_EXTEND_IF_OWNER)
        self._delete = self._client.register_script(_DELETE_IF_OWNER)
        self._ttl_ms = max(1, round(ttl * 1000))
        self._valid_until = 0.0
        self._held = False

    @classmethod
    def from_config(cls, config: BusConfig, node_id: str | None = None) -> RedisLease:
        """The AMI lease of ``[bus]``; node id: the argument, else config, else the host name."""
        return cls(
            config.redis_url.get_secret_value(),
            key=f"{config.key_prefix}ami-lease",
            node_id=node_id or config.node_id or socket.gethostname(),
            ttl=config.lease_ttl_seconds,
        )

    @property
    def held(self) -> bool:
        """True while this instance believes it holds the lease (inside :meth:`run`'s job)."""
        return self._held and time.monotonic() < self._valid_until - self.stop_margin

    async def try_acquire(self) -> bool:
        """One ``SET NX PX`` attempt; True if this instance now holds the lease."""
        sent = time.monotonic()
        async with asyncio.timeout(self.renew_interval):
            acquired = await self._client.set(self.key, self.token, nx=True, px=self._ttl_ms)
        if acquired:
            self._valid_until = sent + self.ttl
            self._held = True
        return bool(acquired)

    async def renew(self) -> bool:
        """Extend the lease to a full ttl if this instance still holds it."""
        sent = time.monotonic()
        async with asyncio.timeout(self.renew_interval):
            extended = await self._extend(keys=[self.key], args=[self.token, self._ttl_ms])
        if extended:
            self._valid_until = sent + self.ttl
        return bool(extended)

    async def release(self) -> bool:
        """Delete the key if this instance holds it, so a contender takes over at once."""
        self._held = False
        async with asyncio.timeout(self.renew_interval):
            return bool(await self._delete(keys=[self.key], args=[self.token]))

    async def current_holder(self) -> str | None:
        """The node id of whoever holds the lease now, or None."""
        async with asyncio.timeout(self.renew_interval):
            value = await self._client.get(self.key)
        return None if value is None else _as_str(value).rsplit("/", 1)[0]

    async def close(self) -> None:
        """Drop the connection (does not release: call :meth:`release` or leave :meth:`run`)."""
        await self._client.aclose()

    async def run(
        self,
        job: Callable[[], Coroutine[Any, Any, None]],
        *,
        on_acquired: Callable[[], None] | None = None,
        on_lost: Callable[[str], None] | None = None,
    ) -> None:
        """Contend for the lease; while holding it run ``job()``; cancel it when the lease is lost.

        After a loss (``on_lost(reason)`` is called once the job is cancelled)
        it contends again and restarts ``job`` when it wins. Returns when
        ``job`` returns, and re-raises what it raises, after releasing the
        lease. Cancelling ``run`` cancels the job and releases the lease.
        """
        while True:
            await self._acquire()
            logger.info("lease acquired key=%s node=%s ttl=%.1fs", self.key, self.node_id, self.ttl)
            if on_acquired is not None:
                on_acquired()
            job_task = asyncio.create_task(job(), name=f"lease-job:{self.key}")
            try:
                lost_reason = await self._keep(job_task)
            except asyncio.CancelledError:
                await _cancel_and_wait(job_task)
                await self._release_quietly()
                raise
            if lost_reason is None:
                await self._release_quietly()
                job_task.result()  # re-raises the job's exception, if any
                return
            self._held = False
            logger.error(
                "lease lost, stopping the job key=%s node=%s reason=%s",
                self.key,
                self.node_id,
                lost_reason,
            )
            await _cancel_and_wait(job_task)
            if on_lost is not None:
                on_lost(lost_reason)

    async def _acquire(self) -> None:
        failures = 0
        while True:
            try:
                if await self.try_acquire():
                    return
                failures = 0
            except (*_TRANSIENT, RedisError) as exc:
                failures += 1
                (logger.warning if failures == 1 else logger.debug)(
                    "cannot reach Redis to acquire lease key=%s node=%s attempt=%d error=%s",
                    self.key,
                    self.node_id,
                    failures,
                    exc,
                )
            await asyncio.sleep(self.acquire_interval)

    async def _keep(self, job_task: asyncio.Task[None]) -> str | None:
        """Renew until the job ends (None) or the lease is lost (the reason)."""
        wait = self.renew_interval
        while True:
            stop_at = self._valid_until - self.stop_margin
            await asyncio.wait({job_task}, timeout=max(0.0, min(wait, stop_at - time.monotonic())))
            if job_task.done():
                return None
            if time.monotonic() >= stop_at:
                return f"no successful renewal for {self.ttl - self.stop_margin:.2f}s"
            try:
                # Never wait for an answer past the moment the job must stop.
                async with asyncio.timeout(max(0.001, stop_at - time.monotonic())):
                    renewed = await self.renew()
                if not renewed:
                    return "the key expired or is held by another node"
                wait = self.renew_interval
            except (*_TRANSIENT, RedisError) as exc:
                logger.warning(
                    "lease renewal failed, retrying key=%s node=%s error=%s: %s",
                    self.key,
                    self.node_id,
                    type(exc).__name__,
                    exc,
                )
                wait = self.renew_interval / 3

    async def _release_quietly(self) -> None:
        try:
            await self.release()
        except (*_TRANSIENT, RedisError) as exc:
            logger.warning(
                "could not release lease, it will expire key=%s node=%s error=%s",
                self.key,
                self.node_id,
                exc,
            )


async def _cancel_and_wait(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.wait({task})
    if not task.cancelled() and task.exception() is not None:
        logger.error("lease job failed while being stopped error=%r", task.exception())


__all__ = ["RedisLease", "RedisStreamBus", "RedisSubscription"]
