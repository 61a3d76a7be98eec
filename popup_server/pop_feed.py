"""Reads domain events from the bus: pops to the agent hub, everything to supervisors.

Nothing here waits for the CRM. :class:`cti.screenpop.ScreenPops` turns each
event into messages at once and asks for the lookups it needs;
:class:`LookupRunner` runs those against the CRM, one task per question,
concurrently and bounded, and hands each answer back, which becomes a
``pop_updated`` for the panels showing the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

from cti.bus import LATEST, STICKY_EVENT_TYPES, BusError, EventBus, ResumeGapError
from cti.events import AlertAcknowledged, AlertRaised, Event, PbxLinkChanged
from cti.screenpop import POP_SCHEMA_VERSION, CallerInfo, CallerLookup, LookupRequest, Outgoing
from popup_server.ws_agent import AgentHub
from popup_server.ws_supervisor import SupervisorHub

logger = logging.getLogger(__name__)

Answer = CallerInfo | Mapping[str, Any] | None
"""A caller lookup's :class:`CallerInfo`, or a case lookup's case (None: no such case)."""


class LookupRunner:
    """Runs CRM lookups concurrently: at most ``concurrency`` at once, ``backlog`` in all.

    Every request gets exactly one answer through ``answered``: the CRM's, or
    for a caller an ``unavailable`` :class:`CallerInfo` (for a case, None) when
    the CRM failed, took longer than ``timeout`` seconds, or the backlog was
    full. A lookup waiting for a free slot delays no pop: the pop has gone out.
    """

    def __init__(
        self,
        lookup: CallerLookup,
        answered: Callable[[LookupRequest, Answer], None],
        *,
        timeout: float = 2.0,
        concurrency: int = 32,
        backlog: int = 2_000,
    ) -> None:
        if timeout <= 0 or concurrency < 1 or backlog < concurrency:
            raise ValueError("need timeout > 0, concurrency >= 1 and backlog >= concurrency")
        self._lookup = lookup
        self._answered = answered
        self._timeout = timeout
        self._slots = asyncio.Semaphore(concurrency)
        self._backlog = backlog
        self._tasks: set[asyncio.Task[None]] = set()
        self.refused = 0
        """Requests answered ``unavailable`` at once because the backlog was full."""

    @property
    def pending(self) -> int:
        """Lookups running or waiting for a slot."""
        return len(self._tasks)

    def start(self, request: LookupRequest) -> None:
        """Start answering ``request`` (returns at once)."""
        if len(self._tasks) >= self._backlog:
            self.refused += 1
            logger.warning(
                "CRM lookup backlog full, answering unavailable call_id=%s kind=%s backlog=%d",
                request.call_id,
                request.kind,
                self._backlog,
            )
            self._answered(request, _failed(request))
            return
        task = asyncio.get_running_loop().create_task(
            self._run(request), name=f"crm-lookup-{request.kind}-{request.call_id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, request: LookupRequest) -> None:
        async with self._slots:
            answer = await self._ask(request)
        try:
            self._answered(request, answer)
        except Exception:
            logger.exception("pop update failed call_id=%s", request.call_id)

    async def _ask(self, request: LookupRequest) -> Answer:
        try:
            async with asyncio.timeout(self._timeout):
                if request.kind == "caller":
                    return await self._lookup.lookup(request.key)
                return await self._lookup.case_by_code(request.key or "")
        except TimeoutError:
            logger.warning(
                "CRM lookup timed out call_id=%s kind=%s timeout=%s",
                request.call_id,
                request.kind,
                self._timeout,
            )
        except Exception:
            logger.exception("CRM lookup failed call_id=%s kind=%s", request.call_id, request.kind)
        return _failed(request)

    async def close(self) -> None:
        """Cancel every lookup still running and wait for them to finish."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.difference_update(tasks)


def _failed(request: LookupRequest) -> Answer:
    return CallerInfo(request.key, None, "unavailable") if request.kind == "caller" else None


def alert_message(event: AlertRaised | AlertAcknowledged) -> dict[str, object]:
    """The ``alert`` / ``alert_acknowledged`` message on the responsible agent's panel."""
    if isinstance(event, AlertAcknowledged):
        return {"v": POP_SCHEMA_VERSION, "type": "alert_acknowledged", "alert_id": event.alert_id}
    alert = event.to_dict()
    del alert["type"]
    return {"v": POP_SCHEMA_VERSION, "type": "alert", "alert": alert}


class PopFeed:
    """One bus subscriber turning events into pops, in bus order, never waiting for the CRM.

    It starts from its saved position where the bus keeps one (Redis), so a
    restarted node rebuilds the pops of calls still in progress. After a gap
    (the feed lagged beyond the bus's retention) it subscribes again from the
    latest position: the calls it missed are popped again on their next
    event, and reconnecting panels resume from what it still knows.
    """

    def __init__(
        self,
        bus: EventBus,
        hub: AgentHub,
        lookup: CallerLookup,
        supervisors: SupervisorHub | None = None,
        name: str = "popup",
        *,
        lookup_timeout: float = 2.0,
        lookup_concurrency: int = 32,
        lookup_backlog: int = 2_000,
    ) -> None:
        self._bus = bus
        self._hub = hub
        self._supervisors = supervisors
        self._name = name
        self.lookups = LookupRunner(
            lookup,
            self._answered,
            timeout=lookup_timeout,
            concurrency=lookup_concurrency,
            backlog=lookup_backlog,
        )
        self.handled = 0
        self.updates = 0
        """``pop_updated`` messages produced (lookup answers that reached a panel)."""
        self._started = asyncio.Event()

    async def wait_started(self) -> None:
        """Return once the first subscription is open (no event published after is missed)."""
        await self._started.wait()

    def handle(self, event: Event) -> None:
        """Pop for one event at once and start the lookups it asks for."""
        if self._supervisors is not None:
            self._supervisors.handle(event)
        if isinstance(event, PbxLinkChanged):
            self._hub.link_changed(event)
        elif isinstance(event, AlertRaised | AlertAcknowledged) and event.agent:
            self._hub.deliver([Outgoing((event.agent,), alert_message(event))])
        pops = self._hub.pops
        self._hub.deliver(pops.handle(event))
        for request in pops.take_lookups():
            self.lookups.start(request)
        self.handled += 1

    def _answered(self, request: LookupRequest, answer: Answer) -> None:
        outgoing = self._hub.pops.answer(request, answer)
        self._hub.deliver(outgoing)
        self.updates += len(outgoing)

    async def _catch_up_on_states(self) -> None:
        """Learn the standing states (the PBX link) published before this feed started.

        Called after subscribing: a change published in between arrives again
        through the subscription, and handling it twice is harmless.
        """
        for event_type in sorted(STICKY_EVENT_TYPES):
            try:
                event = await self._bus.latest(event_type)
            except BusError as exc:
                logger.warning("could not read the last %s: %s", event_type, exc)
                continue
            if event is not None:
                self.handle(event)

    async def run(self) -> None:
        """Consume until the bus closes or the task is cancelled; then stop every lookup."""
        try:
            await self._consume()
        finally:
            await self.lookups.close()

    async def _consume(self) -> None:
        # First from this feed's own saved position (Redis: a restarted node replays
        # what it missed, so its agents' calls in progress are not blank); after a
        # gap too large to replay, from now on.
        resume_from: str | None = None
        while True:
            subscription = await self._bus.subscribe(self._name, resume_from=resume_from)
            await self._catch_up_on_states()
            self._started.set()
            try:
                async with subscription:
                    async for delivery in subscription:
                        try:
                            self.handle(delivery.event)
                        except Exception:
                            logger.exception(
                                "screen pop failed event=%s position=%s",
                                delivery.event.type,
                                delivery.position,
                            )
                return
            except ResumeGapError as exc:
                logger.error("pop feed lost events, resubscribing from latest: %s", exc)
                resume_from = LATEST
