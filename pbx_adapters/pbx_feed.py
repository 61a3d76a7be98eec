"""Keeps the call tracker fed from the PBX, and re-reads the PBX after every reconnect.

AMI has no replay: whatever happened while the link was down is gone. So after
each (re)connection the feed tells the tracker a resync begins, asks the PBX
for its live channels and queues (``CoreShowChannels``, ``QueueStatus``,
``QueueSummary``) and then tells the tracker the resync has ended, which ends
the calls the PBX no longer has and adopts the ones it did not know.

The list items reach the tracker once, through the normal message path and in
arrival order; the feed only waits for the lists to complete.

The feed also reports the link itself as a :class:`~cti.events.PbxLinkChanged`
event (``up``, ``down``, ``auth_failed``), once per change and not on every
retry, so that panels can warn their agents that calls may ring unseen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from cti.ami_codec import Message
from cti.ami_dialect import read_class_advice, read_classes_missing
from cti.events import CallEnded, Event, PbxLinkChanged, PbxLinkState
from pbx_adapters.settings import AmiConfig

from . import ami_diagnosis
from .ami import ActionFailed, ActionUncertain, AmiLink, NotConnected

log = logging.getLogger(__name__)

RESYNC_ACTIONS: tuple[str, ...] = ("CoreShowChannels", "QueueStatus", "QueueSummary")

DETAIL_MAX_CHARS = 160
"""A down reason is cut to this length: it is shown in agents' panels."""


class Tracker(Protocol):
    """What the feed needs from :class:`cti.tracker.CallTracker`."""

    @property
    def WANTED_EVENTS(self) -> frozenset[str]:
        """Event names the tracker reads; the link skips the others unparsed."""

    @property
    def wanted_variables(self) -> list[str]:
        """``VarSet`` variables the tracker reads."""

    def feed(self, message: dict[str, str], at: float | None = None) -> list[Event]: ...

    def begin_resync(self) -> None: ...

    def end_resync(self, at: float | None = None) -> list[Event]: ...

    def expire(self, now: float) -> list[Event]: ...


class PbxFeed:
    """Owns an :class:`AmiLink` and a tracker; hands every produced event to ``on_events``.

    ``on_events`` is called synchronously with each non-empty batch, in order.
    ``wanted_events`` / ``wanted_variables`` default to the tracker's
    ``WANTED_EVENTS`` / ``wanted_variables``, so unwanted events are skipped
    before they are parsed.
    """

    def __init__(
        self,
        config: AmiConfig,
        tracker: Tracker,
        on_events: Callable[[list[Event]], None],
        *,
        expire_interval: float = 60.0,
        clock: Callable[[], float] = time.time,
        wanted_events: Iterable[str] | None = None,
        wanted_variables: Iterable[str] | None = None,
    ) -> None:
        self._tracker = tracker
        self._ami_config = config
        self._denial_explained = False
        self._on_events = on_events
        self._expire_interval = expire_interval
        self._clock = clock
        self._resync_wanted = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        if wanted_events is None:
            wanted_events = tracker.WANTED_EVENTS
        if wanted_variables is None:
            wanted_variables = tracker.wanted_variables
        self._username = config.username
        self._classes_seen: set[str] | None = set()
        """Read classes (``Privilege``) seen until the first answered inbound call ends."""
        self._chanvars_seen = False
        self.read_classes_missing: list[str] | None = None
        """Judged once, at the end of the first answered inbound call."""
        self.link = AmiLink(
            config,
            self._on_message,
            on_ready=self._on_ready,
            on_down=self._on_down,
            wanted_events=wanted_events,
            wanted_variables=wanted_variables,
        )
        self.resyncs_completed = 0
        self.resyncs_abandoned = 0
        self.link_state: PbxLinkState | None = None
        """The last state reported as :class:`PbxLinkChanged`; None before the first."""

    async def start(self) -> None:
        """Start the link, the resync loop and the expiry timer."""
        if self._tasks:
            return
        self.link.start()
        self._tasks = [
            asyncio.create_task(self._resync_loop(), name="pbx-resync"),
            asyncio.create_task(self._expire_loop(), name="pbx-expire"),
        ]

    async def close(self) -> None:
        """Stop everything this feed started."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.link.close()

    def _emit(self, events: list[Event]) -> None:
        if events:
            try:
                self._on_events(events)
            except Exception:
                log.exception("pbx feed on_events failed events=%d", len(events))

    def _on_message(self, message: Message, at: float) -> None:
        events = self._tracker.feed(message, at)
        if self._classes_seen is not None:
            self._watch_read_classes(self._classes_seen, message, events)
        self._emit(events)

    def _watch_read_classes(self, seen: set[str], message: Message, events: list[Event]) -> None:
        # An admin's least-privilege AMI user silently costs data (no VarSet without
        # read=dialplan). One whole answered call shows what the user receives.
        privilege = message.get("Privilege")
        if privilege:
            seen.update(privilege.split(","))
        if "ChanVariable" in message:
            self._chanvars_seen = True
        for event in events:
            if (
                isinstance(event, CallEnded)
                and event.direction == "inbound"
                and event.disposition == "answered"
            ):
                self._classes_seen = None
                missing = read_classes_missing(seen, self._chanvars_seen)
                self.read_classes_missing = missing
                if missing:
                    log.warning("%s", read_class_advice(missing, self._username))
                return

    def _on_ready(self) -> None:
        # Called in message order, before any message of the new connection that
        # follows FullyBooted is fed: the tracker sees the resync begin at once.
        self._link_changed("up", None)
        self._tracker.begin_resync()
        self._resync_wanted.set()

    def _on_down(self, reason: str, auth_failed: bool) -> None:
        self._link_changed("auth_failed" if auth_failed else "down", reason[:DETAIL_MAX_CHARS])

    def _link_changed(self, state: PbxLinkState, detail: str | None) -> None:
        # The link retries on its own and reports every failed attempt; panels
        # only need to hear about a change.
        if state == self.link_state:
            return
        self.link_state = state
        log.info("pbx link state=%s detail=%s", state, detail)
        self._emit([PbxLinkChanged(state=state, detail=detail, at=self._clock())])

    async def _resync_loop(self) -> None:
        while True:
            await self._resync_wanted.wait()
            self._resync_wanted.clear()
            generation = self.link.generation
            try:
                for action in RESYNC_ACTIONS:
                    await self.link.query_list([("Action", action)])
            except (NotConnected, ActionUncertain, ActionFailed) as exc:
                # The next connection starts a new resync. A refused query (the AMI user
                # lacks write=reporting for CoreShowChannels) says once what fixes it.
                self.resyncs_abandoned += 1
                denied = isinstance(exc, ActionFailed) and "permission denied" in str(exc).lower()
                if denied and not self._denial_explained:
                    self._denial_explained = True
                    assert isinstance(exc, ActionFailed)
                    log.error(
                        "pbx resync refused generation=%d error=%s; %s",
                        generation,
                        exc,
                        ami_diagnosis.permission_denied(
                            self._ami_config,
                            exc.action,
                            ami_diagnosis.WRITE_CLASS_OF.get(exc.action, "reporting"),
                        ),
                    )
                else:
                    log.warning("pbx resync abandoned generation=%d error=%s", generation, exc)
                continue
            if generation != self.link.generation or not self.link.is_ready:
                continue  # reconnected meanwhile: that connection's resync supersedes this one
            self._emit(self._tracker.end_resync(self._clock()))
            self.resyncs_completed += 1
            log.info("pbx resync done generation=%d", generation)

    async def _expire_loop(self) -> None:
        while True:
            await asyncio.sleep(self._expire_interval)
            self._emit(self._tracker.expire(self._clock()))
