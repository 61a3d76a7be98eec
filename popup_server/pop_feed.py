"""Reads domain events from the bus: pops to the agent hub, everything to supervisors."""

from __future__ import annotations

import asyncio
import logging

from cti.bus import LATEST, STICKY_EVENT_TYPES, BusError, EventBus, ResumeGapError
from cti.events import Event, PbxLinkChanged
from popup_server.ws_agent import AgentHub
from popup_server.ws_supervisor import SupervisorHub

logger = logging.getLogger(__name__)


class PopFeed:
    """One bus subscriber turning events into pops, in bus order.

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
        supervisors: SupervisorHub | None = None,
        name: str = "popup",
    ) -> None:
        self._bus = bus
        self._hub = hub
        self._supervisors = supervisors
        self._name = name
        self.handled = 0
        self._started = asyncio.Event()

    async def wait_started(self) -> None:
        """Return once the first subscription is open (no event published after is missed)."""
        await self._started.wait()

    async def handle(self, event: Event) -> None:
        """Pop for one event (also usable without a bus)."""
        if self._supervisors is not None:
            self._supervisors.handle(event)
        if isinstance(event, PbxLinkChanged):
            self._hub.link_changed(event)
        self._hub.deliver(await self._hub.pops.handle(event))
        self.handled += 1

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
                await self.handle(event)

    async def run(self) -> None:
        """Consume until the bus closes or the task is cancelled."""
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
                            await self.handle(delivery.event)
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
