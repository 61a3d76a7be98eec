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
- publishing never waits for subscribers. A subscriber that falls further
  behind than the retained window is dropped: its iteration raises
  :class:`SubscriberOverflowError` (logged once, at error level); it must
  resync its state from the source of truth and subscribe again from
  :data:`LATEST`. Nothing is silently skipped: a gap is always an exception.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
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
    """In-process bus: a ring of the last ``retention`` events, read by cursors.

    Every subscriber is a cursor into one shared ring, so publishing costs the
    same whatever the number of subscribers and never blocks. A subscriber
    more than ``retention`` events behind has lost events and gets
    :class:`SubscriberOverflowError` at its next read. Positions are
    ``"<epoch>-<seq>"`` with ``epoch`` fixed per bus instance (milliseconds at
    creation), so a position from before a restart is recognised as a gap
    instead of being mistaken for a future one.
    """

    def __init__(self, *, retention: int = 10_000, epoch: int | None = None) -> None:
        if retention < 1:
            raise ValueError(f"retention must be at least 1 event, got {retention}")
        self._retention = retention
        self._epoch = time.time_ns() // 1_000_000 if epoch is None else epoch
        self._ring: list[Event | None] = [None] * retention
        self._last_seq = 0
        self._closed = False
        self._wakeup: asyncio.Future[None] | None = None
        self._subscriptions: set[LocalSubscription] = set()
        self._sticky: dict[str, Event] = {}

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

    async def publish(self, events: Sequence[Event]) -> None:
        """Append ``events`` to the ring and wake waiting subscribers."""
        if self._closed:
            raise BusClosedError("publish on a closed LocalBus")
        if not events:
            return
        for event in events:
            self._last_seq += 1
            self._ring[self._last_seq % self._retention] = event
            if event.type in STICKY_EVENT_TYPES:
                self._sticky[event.type] = event
        self._wake()

    async def latest(self, event_type: str) -> Event | None:
        """The last sticky event of ``event_type`` published on this bus."""
        return self._sticky.get(event_type)

    async def subscribe(self, name: str, *, resume_from: str | None = None) -> LocalSubscription:
        """Read from ``resume_from``; ``None`` means :data:`LATEST` (nothing survives a restart)."""
        if self._closed:
            raise BusClosedError(f"subscribe {name!r} on a closed LocalBus")
        gap: str | None = None
        if resume_from is None or resume_from == LATEST:
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
        subscription = LocalSubscription(self, name, next_seq, resume_from, gap)
        self._subscriptions.add(subscription)
        return subscription

    async def close(self) -> None:
        """Refuse publishes; subscribers drain what was published, then stop."""
        self._closed = True
        self._wake()

    # Internal interface for LocalSubscription.

    def _oldest_retained_seq(self) -> int:
        return max(1, self._last_seq - self._retention + 1)

    def _read(self, seq: int) -> Event:
        event = self._ring[seq % self._retention]
        assert event is not None, f"seq {seq} read before it was published"
        return event

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)
        self._wakeup = None

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

    @property
    def name(self) -> str:
        """Who is reading: a node's component (``node-a/calllog``) or a connection."""
        return self._name

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
    ) -> None:
        super().__init__(name)
        self._bus = bus
        self._next_seq = next_seq
        self._resume_from = resume_from
        self._gap = gap
        self._last_position: str | None = None
        self._finished = False

    @property
    def last_position(self) -> str | None:
        return self._last_position

    @property
    def lag(self) -> int:
        """Events published but not yet delivered to this subscriber."""
        return self._bus._last_seq - self._next_seq + 1

    async def __anext__(self) -> Delivery:
        bus = self._bus
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
                seq = self._next_seq
                self._next_seq += 1
                position = f"{bus._epoch}-{seq}"
                self._last_position = position
                return Delivery(position, bus._read(seq))
            if bus._closed:
                self._finish()
                raise StopAsyncIteration
            # shield: a cancelled reader must not cancel the future other readers share.
            await asyncio.shield(bus._wait_future())

    async def _stop(self, *, failed: bool) -> None:
        # Nothing is persisted, so a failed stop is the same as a normal one.
        self._finish()
        # Wake this reader if it is waiting; the others just check and wait again.
        self._bus._wake()

    def _finish(self) -> None:
        self._finished = True
        self._bus._forget(self)


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
