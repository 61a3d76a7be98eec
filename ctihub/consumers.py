"""The consumers that must see every event (call log, recordings): kept reading, and told on.

A :class:`DurableConsumer` reads the bus under a fixed name whose cursor the
bus keeps (:class:`cti.bus.LocalBus` ``durable`` names, the Redis stream's
cursor keys). When its consumer raises, it subscribes again under the same
name after a short backoff, which resumes after the last event processed
(the one it failed on comes again). It never gives up while the hub runs:
a consumer that cannot make progress shows as ``restarting`` in the hub's
status and makes it not ready, instead of silently stopping.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from cti.bus import LATEST, BusClosedError, EventBus, ResumeGapError, Subscription

log = logging.getLogger(__name__)

ConsumerState = Literal["starting", "running", "restarting", "stopped"]

MAX_BEHIND_SECONDS = 10.0
"""A consumer that has not been caught up for this long counts as behind (not ready)."""


@dataclass(frozen=True, slots=True)
class ConsumerHealth:
    """One consumer as the status page and the metrics show it."""

    name: str
    state: ConsumerState
    lag_events: int | None
    """Events published and not yet processed (None where the bus cannot count them cheaply)."""
    behind_seconds: float
    """How long since the consumer last had nothing pending (0 while caught up)."""
    restarts: int
    gaps: int
    """Times events were lost to it (Redis stream trimmed below its cursor)."""
    last_error: str | None

    @property
    def ok(self) -> bool:
        """Running and not behind."""
        return self.state == "running" and self.behind_seconds < MAX_BEHIND_SECONDS

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "state": self.state,
            "ok": self.ok,
            "lag_events": self.lag_events,
            "behind_seconds": round(self.behind_seconds, 3),
            "restarts": self.restarts,
            "gaps": self.gaps,
            "last_error": self.last_error,
        }


class DurableConsumer:
    """Runs ``consume(subscription)`` under ``name`` until cancelled, resuming after failures."""

    def __init__(
        self,
        bus: EventBus,
        name: str,
        consume: Callable[[Subscription], Awaitable[None]],
        *,
        first_delay: float = 0.1,
        max_delay: float = 5.0,
    ) -> None:
        self._bus = bus
        self.name = name
        self._consume = consume
        self._first_delay = first_delay
        self._max_delay = max_delay
        self.state: ConsumerState = "starting"
        self.restarts = 0
        self.gaps = 0
        self.last_error: str | None = None
        self._subscription: Subscription | None = None
        self._attached = asyncio.Event()
        self._since = time.monotonic()

    async def run(self) -> None:
        """Consume until the bus closes or this task is cancelled; never returns on an error."""
        delay = self._first_delay
        resume_from: str | None = None
        try:
            while True:
                try:
                    subscription = await self._bus.subscribe(self.name, resume_from=resume_from)
                except BusClosedError:
                    return
                except Exception as exc:
                    await self._failed(f"subscribe: {type(exc).__name__}: {exc}", delay)
                    delay = min(delay * 2, self._max_delay)
                    continue
                resume_from = None
                started = time.monotonic()
                if started - self._since > 30 * self._max_delay:
                    delay = self._first_delay  # it had been working: a fresh failure
                self._attach(subscription)
                self.state = "running"
                try:
                    async with subscription:
                        await self._consume(subscription)
                except ResumeGapError as exc:
                    # Redis trimmed events this consumer never read: they are gone from the
                    # bus (the CDR reconciliation finds the calls). Go on from now.
                    self.gaps += 1
                    log.error("durable consumer lost events name=%s error=%s", self.name, exc)
                    self.last_error = str(exc)
                    resume_from = LATEST
                    continue
                except Exception as exc:
                    log.exception("durable consumer failed, resuming name=%s", self.name)
                    await self._failed(f"{type(exc).__name__}: {exc}", delay)
                    delay = min(delay * 2, self._max_delay)
                    continue
                else:
                    return  # the subscription ended: the bus is closing
                finally:
                    self._detach()
        finally:
            self.state = "stopped"

    async def caught_up(self) -> None:
        """Return once the consumer has processed everything published so far."""
        while True:
            subscription = self._subscription
            if self.state == "stopped":
                return
            if subscription is None or subscription.finished:
                self._attached.clear()
                await self._attached.wait()
                continue
            await subscription.caught_up()
            if subscription is self._subscription and subscription.is_caught_up:
                return

    def health(self, backlog: int | None = None) -> ConsumerHealth:
        """A snapshot; ``backlog`` is the bus's count of unprocessed events where it has one."""
        subscription = self._subscription
        behind = 0.0
        if subscription is None:
            behind = time.monotonic() - self._since
        elif not subscription.is_caught_up:
            behind = time.monotonic() - subscription.caught_up_at
        return ConsumerHealth(
            self.name, self.state, backlog, behind, self.restarts, self.gaps, self.last_error
        )

    def _attach(self, subscription: Subscription) -> None:
        self._subscription = subscription
        self._attached.set()

    def _detach(self) -> None:
        self._subscription = None
        self._since = time.monotonic()

    async def _failed(self, error: str, delay: float) -> None:
        self.state = "restarting"
        self.restarts += 1
        self.last_error = error
        await asyncio.sleep(delay)


__all__ = ["MAX_BEHIND_SECONDS", "ConsumerHealth", "ConsumerState", "DurableConsumer"]
