"""The event bus: how domain events travel from the tracker to their consumers.

:class:`EventBus` is the interface every consumer codes against; :class:`LocalBus`
is the in-process implementation used on one machine, and
:class:`ctihub.redis_bus.RedisStreamBus` carries the same events between hub nodes.

Both share one model, that of a log: every published event gets a *position*
(``"<epoch>-<seq>"``, the same shape as a Redis stream id), positions increase
in publish order, and a bounded window of recent events is retained. A
subscriber reads the log from a position of its choice, so:

- subscribers see events in publish order, each one once;
- a consumer that reconnects (a websocket, a restarted node) says "from
  position N" and gets what it missed, as long as it is still retained;
- publishing never waits for ordinary subscribers. A subscriber that falls
  further behind than the retained window is dropped: its iteration raises
  :class:`SubscriberOverflowError` (logged once, at error level); it must
  resync its state from the source of truth and subscribe again from
  :data:`LATEST`. Nothing is silently skipped: a gap is always an exception.
- a *durable* subscriber (the call log, the recordings: consumers that must
  see everything) is never dropped. Its name keeps a cursor that outlives
  the subscription, so subscribing again under that name resumes after the
  last event it processed, and the bus keeps every event it has not read,
  beyond the window if need be (the Redis stream keeps them for as long as
  ``stream_maxlen`` allows, cursors in Redis).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import NamedTuple, Protocol, Self

from cti.events import Event

logger = logging.getLogger(__name__)

LATEST = "$"
"""``resume_from`` value meaning "only events published from now on"."""

_POSITION_RE = re.compile(r"^([0-9]{1,20})-([0-9]{1,20})$")


class Delivery(NamedTuple):
    """One event as a subscriber receives it, with its position in the log."""

    position: str
    event: Event


class BusError(Exception):
    """Base of the errors the bus raises."""


class BusClosedError(BusError):
    """Publish or subscribe was called on a bus that is closed."""


class BusUnavailableError(BusError):
    """The bus's backing store (Redis) could not be reached; the events were not published."""


class InvalidPositionError(BusError, ValueError):
    """A ``resume_from`` value is not a position of the form ``<epoch>-<seq>``."""


class ResumeGapError(BusError):
    """Events after ``position`` are no longer retained, so they cannot be delivered.

    The subscriber must rebuild its state from the source of truth (the
    tracker's snapshot, the database) and subscribe again from :data:`LATEST`.
    """

    def __init__(self, name: str, position: str | None, detail: str) -> None:
        super().__init__(f"subscriber {name!r} cannot resume after {position!r}: {detail}")
        self.name = name
        self.position = position


class SubscriberOverflowError(ResumeGapError):
    """A subscriber fell further behind than the retained window and was dropped."""


def parse_position(text: str) -> tuple[int, int]:
    """Split a position ``"<epoch>-<seq>"`` into its two integers."""
    match = _POSITION_RE.match(text)
    if match is None:
        raise InvalidPositionError(
            f"expected a bus position like '1764350000000-42' or {LATEST!r}, got {text!r}"
        )
    return int(match.group(1)), int(match.group(2))


class Subscription(Protocol):
    """An async iterator of :class:`Delivery` in publish order.

    Iteration ends (``StopAsyncIteration``) when the subscription or its bus is
    closed: a closed :class:`LocalBus` first delivers what was published
    before, a closed Redis bus stops at once (the rest stays in the stream for
    the next start). It raises
    :class:`ResumeGapError` when the requested resume point is no longer
    retained, and :class:`SubscriberOverflowError` when the subscriber lagged
    beyond retention; after either the subscription is finished.

    Usable as ``async with await bus.subscribe(...) as sub: async for ... in sub``.
    """

    @property
    def name(self) -> str:
        """Who is reading: a node's component (``node-a/calllog``) or a connection."""
        ...

    @property
    def last_position(self) -> str | None:
        """Position of the last event delivered, ``None`` before the first."""
        ...

    @property
    def buffered(self) -> int:
        """Events the next ``__anext__`` calls return without waiting or I/O (for batching)."""
        ...

    def take_buffered(self, limit: int) -> list[Delivery]:
        """Up to ``limit`` further events available now, without waiting (batching).

        They count as in hand with the one ``__anext__`` returned last: all are
        processed at the next ``__anext__``, and all delivered again after a
        failed stop.
        """
        ...

    @property
    def is_caught_up(self) -> bool:
        """True while the consumer waits for more with nothing known to be pending."""
        ...

    @property
    def caught_up_at(self) -> float:
        """``time.monotonic()`` when the consumer was last caught up (or subscribed)."""
        ...

    @property
    def finished(self) -> bool:
        """True once the subscription ended (closed, bus closed, gap)."""
        ...

    async def caught_up(self) -> None:
        """Return once the consumer has processed everything published so far and asks for more.

        Also returns when the subscription is finished.
        """
        ...

    def __aiter__(self) -> Self: ...

    async def __anext__(self) -> Delivery: ...

    async def aclose(self) -> None:
        """Stop reading; a pending ``__anext__`` ends with ``StopAsyncIteration``."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


STICKY_EVENT_TYPES = frozenset({"pbx_link_changed"})
"""Events that describe a standing state: the bus remembers the last of each type."""


class EventBus(Protocol):
    """Publish domain events once; every subscriber receives them in order."""

    async def publish(self, events: Sequence[Event]) -> None:
        """Append a batch (one tracker feed's result) to the log, in order.

        Never waits for subscribers. Raises :class:`BusClosedError` after
        :meth:`close`, :class:`BusUnavailableError` if the store is unreachable.
        """
        ...

    async def subscribe(self, name: str, *, resume_from: str | None = None) -> Subscription:
        """Start reading the log.

        ``resume_from``: a position previously delivered (events after it
        follow), :data:`LATEST` (only events published after this call), or
        ``None`` (the implementation's default; see each class). Raises
        :class:`InvalidPositionError` for a malformed position.
        """
        ...

    async def latest(self, event_type: str) -> Event | None:
        """The last published event of a sticky type (:data:`STICKY_EVENT_TYPES`), if any.

        A state such as the PBX link's holds until it changes; a reader that
        starts later must still learn it, however long ago it was published.
        """
        ...

    async def close(self) -> None:
        """Refuse further publishes and end every subscription once it has drained."""
        ...


class LocalBus:
    """In-process bus: a window of the last ``retention`` events, read by cursors.

    Every subscriber is a cursor into one shared log, so publishing costs the
    same whatever the number of subscribers. An ordinary subscriber more than
    ``retention`` events behind has lost events and gets
    :class:`SubscriberOverflowError` at its next read.

    Subscribers named in ``durable`` are never dropped: the log keeps every
    event such a subscriber has not processed yet, however far behind it is,
    and the name's cursor survives the subscription (``subscribe(name)``
    again resumes after the last processed event, the one in hand when a
    consumer failed included). Should a durable subscriber fall
    ``max_backlog`` events behind, :meth:`publish` waits for it (back
    pressure) rather than grow without bound. A durable name holds events
    only once it has subscribed.

    Positions are ``"<epoch>-<seq>"`` with ``epoch`` fixed per bus instance
    (milliseconds at creation), so a position from before a restart is
    recognised as a gap instead of being mistaken for a future one.
    """

    def __init__(
        self,
        *,
        retention: int = 10_000,
        epoch: int | None = None,
        durable: Iterable[str] = (),
        max_backlog: int = 2_000_000,
    ) -> None:
        if retention < 1:
            raise ValueError(f"retention must be at least 1 event, got {retention}")
        if max_backlog < retention:
            raise ValueError(
                f"max_backlog ({max_backlog}) must be at least retention ({retention})"
            )
        self._retention = retention
        self._max_backlog = max_backlog
        self._epoch = time.time_ns() // 1_000_000 if epoch is None else epoch
        self._log: deque[Event] = deque()
        self._first_seq = 1
        """Sequence number of ``_log[0]``."""
        self._last_seq = 0
        self._closed = False
        self._wakeup: asyncio.Future[None] | None = None
        self._room: asyncio.Future[None] | None = None
        self._subscriptions: set[LocalSubscription] = set()
        self._sticky: dict[str, Event] = {}
        self._durable_names = frozenset(durable)
        self._cursors: dict[str, int] = {}
        """Durable name -> the next sequence number it has to process."""

    @property
    def epoch(self) -> int:
        """The first half of every position this instance hands out."""
        return self._epoch

    @property
    def subscriber_count(self) -> int:
        """Subscriptions currently open (for metrics)."""
        return len(self._subscriptions)

    @property
    def last_position(self) -> str:
        """Position of the most recently published event (``<epoch>-0`` before any)."""
        return f"{self._epoch}-{self._last_seq}"

    @property
    def retained(self) -> int:
        """Events held in memory now (the window plus what durable subscribers have not read)."""
        return len(self._log)

    def backlog(self, name: str) -> int | None:
        """Events published and not yet processed by durable subscriber ``name`` (None: unknown)."""
        cursor = self._cursors.get(name)
        return None if cursor is None else self._last_seq - cursor + 1

    async def publish(self, events: Sequence[Event]) -> None:
        """Append ``events`` and wake waiting subscribers.

        Waits only when a durable subscriber is ``max_backlog`` events behind.
        """
        if self._closed:
            raise BusClosedError("publish on a closed LocalBus")
        if not events:
            return
        while self._durable_lag() >= self._max_backlog:
            if self._room is None:
                self._room = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._room)
            if self._closed:
                raise BusClosedError("publish on a closed LocalBus")
        for event in events:
            self._last_seq += 1
            self._log.append(event)
            if event.type in STICKY_EVENT_TYPES:
                self._sticky[event.type] = event
        self._trim()
        self._wake()

    async def latest(self, event_type: str) -> Event | None:
        """The last sticky event of ``event_type`` published on this bus."""
        return self._sticky.get(event_type)

    async def subscribe(self, name: str, *, resume_from: str | None = None) -> LocalSubscription:
        """Read from ``resume_from``.

        ``None`` means :data:`LATEST` for an ordinary subscriber (nothing
        survives a restart of the process) and "after the last processed
        event" for a durable one that subscribed before.
        """
        if self._closed:
            raise BusClosedError(f"subscribe {name!r} on a closed LocalBus")
        gap: str | None = None
        durable = name in self._durable_names
        if resume_from is None and durable and name in self._cursors:
            next_seq = self._cursors[name]
        elif resume_from is None or resume_from == LATEST:
            next_seq = self._last_seq + 1
        else:
            epoch, seq = parse_position(resume_from)
            next_seq = seq + 1
            if epoch != self._epoch:
                gap = f"it comes from another bus instance (epoch {epoch}, this one {self._epoch})"
                next_seq = self._last_seq + 1
            elif seq > self._last_seq:
                gap = f"it is ahead of the last published position {self.last_position}"
                next_seq = self._last_seq + 1
        if durable:
            self._cursors[name] = max(next_seq, self._first_seq) if gap is None else next_seq
        subscription = LocalSubscription(self, name, next_seq, resume_from, gap, durable=durable)
        self._subscriptions.add(subscription)
        return subscription

    async def close(self) -> None:
        """Refuse publishes; subscribers drain what was published, then stop."""
        self._closed = True
        self._wake()
        self._make_room()

    # Internal interface for LocalSubscription.

    def _durable_lag(self) -> int:
        if not self._cursors:
            return 0
        return self._last_seq - min(self._cursors.values()) + 1

    def _trim(self) -> None:
        """Forget events beyond the window that no durable subscriber still needs."""
        excess = len(self._log) - self._retention
        if excess <= 0:
            return
        if self._cursors:
            excess = min(excess, min(self._cursors.values()) - self._first_seq)
        for _ in range(excess):
            self._log.popleft()
        if excess > 0:
            self._first_seq += excess

    def _processed(self, name: str, next_seq: int) -> None:
        """A durable subscriber has processed every event before ``next_seq``."""
        if self._cursors.get(name, 0) < next_seq:
            self._cursors[name] = next_seq
            if len(self._log) > self._retention:
                self._trim()
            if self._room is not None and self._durable_lag() < self._max_backlog:
                self._make_room()

    def _rewind(self, name: str, next_seq: int) -> None:
        """A durable subscriber failed holding ``next_seq``: deliver it again next time."""
        if name in self._cursors:
            self._cursors[name] = max(self._first_seq, next_seq)

    def _oldest_retained_seq(self) -> int:
        return self._first_seq

    def _read(self, seq: int) -> Event:
        return self._log[seq - self._first_seq]

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)
        self._wakeup = None

    def _make_room(self) -> None:
        if self._room is not None and not self._room.done():
            self._room.set_result(None)
        self._room = None

    def _wait_future(self) -> asyncio.Future[None]:
        if self._wakeup is None:
            self._wakeup = asyncio.get_running_loop().create_future()
        return self._wakeup

    def _forget(self, subscription: LocalSubscription) -> None:
        self._subscriptions.discard(subscription)


class SubscriptionBase(ABC):
    """What every :class:`Subscription` shares: its name, iteration and ``async with``.

    A backend says how to read (``__anext__``) and how to stop (:meth:`_stop`):
    :meth:`aclose` is a normal stop, leaving ``async with`` on an exception a
    failed one.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._idle = asyncio.Event()
        self._waiting_for_more = False
        self._caught_up_at = time.monotonic()

    @property
    def name(self) -> str:
        """Who is reading: a node's component (``node-a/calllog``) or a connection."""
        return self._name

    @property
    @abstractmethod
    def buffered(self) -> int:
        """Events the next ``__anext__`` calls return without waiting or I/O."""

    @property
    @abstractmethod
    def finished(self) -> bool:
        """True once the subscription ended (closed, bus closed, gap)."""

    @property
    def is_caught_up(self) -> bool:
        """True while the consumer waits for more with nothing known to be pending."""
        return self.finished or (self._waiting_for_more and self.buffered == 0)

    @property
    def caught_up_at(self) -> float:
        """``time.monotonic()`` when the consumer was last caught up (or subscribed)."""
        return self._caught_up_at

    async def caught_up(self) -> None:
        """Return once the consumer has processed everything known and asks for more."""
        while not self.is_caught_up:
            self._idle.clear()
            await self._idle.wait()

    def _set_waiting(self, waiting: bool) -> None:
        """Backends call this around the wait for new events (and when they finish)."""
        if self._waiting_for_more or (waiting and self.buffered == 0):
            # It was caught up until now, or is from now on.
            self._caught_up_at = time.monotonic()
        self._waiting_for_more = waiting
        if waiting or self.finished:
            self._idle.set()

    def __aiter__(self) -> Self:
        return self

    @abstractmethod
    async def __anext__(self) -> Delivery:
        """The next event in publish order."""

    async def aclose(self) -> None:
        """Stop reading; a pending ``__anext__`` ends with ``StopAsyncIteration``."""
        await self._stop(failed=False)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stop(failed=exc is not None)

    @abstractmethod
    async def _stop(self, *, failed: bool) -> None:
        """End the subscription; calling it again changes nothing.

        ``failed``: the consumer left on an exception, so the event it had in
        hand may not have been handled.
        """


class LocalSubscription(SubscriptionBase):
    """A cursor into a :class:`LocalBus` (see :class:`Subscription`)."""

    def __init__(
        self,
        bus: LocalBus,
        name: str,
        next_seq: int,
        resume_from: str | None,
        gap: str | None,
        *,
        durable: bool = False,
    ) -> None:
        super().__init__(name)
        self._bus = bus
        self._next_seq = next_seq
        self._resume_from = resume_from
        self._gap = gap
        self._durable = durable
        self._last_position: str | None = None
        self._finished = False
        self._in_hand_from: int | None = None
        """Sequence number of the first event delivered since the consumer last asked for more."""

    @property
    def last_position(self) -> str | None:
        return self._last_position

    @property
    def durable(self) -> bool:
        """True if the bus keeps every event until this subscriber's name has processed it."""
        return self._durable

    @property
    def lag(self) -> int:
        """Events published but not yet delivered to this subscriber."""
        return self._bus._last_seq - self._next_seq + 1

    @property
    def buffered(self) -> int:
        if self._finished or self._gap is not None:
            return 0
        return max(0, self.lag)

    @property
    def finished(self) -> bool:
        return self._finished

    async def __anext__(self) -> Delivery:
        bus = self._bus
        if self._durable and not self._finished:
            # Asking for the next event means the previous ones are processed.
            bus._processed(self._name, self._next_seq)
        self._in_hand_from = None
        while True:
            if self._finished:
                raise StopAsyncIteration
            if self._gap is not None:
                self._finish()
                raise ResumeGapError(self._name, self._resume_from, self._gap)
            if self._next_seq <= bus._last_seq:
                oldest = bus._oldest_retained_seq()
                if self._next_seq < oldest:
                    self._finish()
                    missed = oldest - self._next_seq
                    if self._last_position is None and self._resume_from is not None:
                        raise ResumeGapError(
                            self._name,
                            self._resume_from,
                            f"{missed} event(s) after it are no longer retained "
                            f"(retention {bus._retention})",
                        )
                    logger.error(
                        "bus subscriber fell behind and was dropped name=%s missed=%d "
                        "retention=%d last_position=%s",
                        self._name,
                        missed,
                        bus._retention,
                        self._last_position,
                    )
                    raise SubscriberOverflowError(
                        self._name,
                        self._last_position,
                        f"it lagged more than {bus._retention} events; {missed} were lost",
                    )
                return self._deliver()
            if bus._closed:
                self._finish()
                raise StopAsyncIteration
            self._set_waiting(True)
            try:
                # shield: a cancelled reader must not cancel the future other readers share.
                await asyncio.shield(bus._wait_future())
            finally:
                self._set_waiting(False)

    def take_buffered(self, limit: int) -> list[Delivery]:
        bus = self._bus
        count = min(limit, self.buffered)
        if count <= 0 or self._next_seq < bus._oldest_retained_seq():
            return []  # nothing, or a gap the next __anext__ reports
        return [self._deliver() for _ in range(count)]

    def _deliver(self) -> Delivery:
        bus = self._bus
        seq = self._next_seq
        self._next_seq += 1
        if self._in_hand_from is None:
            self._in_hand_from = seq
        position = f"{bus._epoch}-{seq}"
        self._last_position = position
        return Delivery(position, bus._read(seq))

    async def _stop(self, *, failed: bool) -> None:
        if self._durable and not self._finished:
            if failed and self._in_hand_from is not None:
                # The events in hand may not have been handled: deliver them again.
                self._bus._rewind(self._name, self._in_hand_from)
            else:
                self._bus._processed(self._name, self._next_seq)
        self._finish()
        # Wake this reader if it is waiting; the others just check and wait again.
        self._bus._wake()

    def _finish(self) -> None:
        self._finished = True
        self._bus._forget(self)
        self._set_waiting(False)


__all__ = [
    "LATEST",
    "BusClosedError",
    "BusError",
    "BusUnavailableError",
    "Delivery",
    "EventBus",
    "InvalidPositionError",
    "LocalBus",
    "LocalSubscription",
    "ResumeGapError",
    "SubscriberOverflowError",
    "Subscription",
    "SubscriptionBase",
    "parse_position",
]
