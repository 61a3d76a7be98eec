"""After a (re)connection: what the PBX lists is the truth.

AMI has no replay, so whatever happened while the link was down is read back
from the PBX's lists (``CoreShowChannels``, ``QueueStatus``). Every live call
is reconciled with them, not only the ones that vanished: a caller bridged
with an agent's leg was answered by that agent (at the time the leg's
``Duration`` gives), an agent leg still ringing rings, and a call the hub had
never seen (a hub restarted mid-call) is adopted whole: caller, queue,
answering agent. Calls the PBX no longer has ended while the link was down;
they end at the last event seen before it went, marked ``reconciled``.
"""

from __future__ import annotations

import logging

from cti.ami_codec import Message
from cti.events import ChannelExpired, Event

from .calls import CallCore
from .state import Call, Channel, caller_id, creation_order, hms, to_int

log = logging.getLogger(__name__)

_NOT_YET_UP = frozenset({0, 4, 5})
"""Channel states of a leg still being rung: Down, Ring, Ringing."""


class ResyncTracking(CallCore):
    """The resync lists, the end of a link, and channels that never hung up."""

    def begin_resync(self) -> None:
        """The link was (re)established: what follows the PBX reports as current."""
        self._lost_at = self._last_at
        self._listing = []
        for channel in self.channels.values():
            channel.confirmed = False
            channel.listed = False

    def end_resync(self, at: float | None = None) -> list[Event]:
        """The resync lists are complete: end what the PBX no longer has, settle the rest."""
        out: list[Event] = []
        self._now = at
        self._take_listing(out)
        # What vanished ended while the link was down: at the last event seen.
        self._now = self._lost_at if self._lost_at is not None else at
        for channel in [c for c in self.channels.values() if not c.confirmed]:
            self._drop_channel(channel, out, reconciled=True)
        self._now = at
        for call in list(self.calls.values()):
            self._reconcile(call, out)
        for channel in self.channels.values():
            channel.confirmed, channel.listed, channel.bridge = True, False, None
        self._lost_at = None
        return out

    def finish(self) -> list[Event]:
        """The stream is over with calls still up (a lost link): end them at the last event seen."""
        out: list[Event] = []
        self._now = self._last_at
        for call in list(self.calls.values()):
            log.info("call=%s still up when the link ended; ending it there", call.call_id)
            for uid in sorted(call.channels, key=creation_order):
                channel = self.channels.get(uid)
                if channel is not None and call.call_id in self.calls:
                    self._drop_channel(channel, out, reconciled=True)
        return out

    def expire(self, now: float) -> list[Event]:
        """Drop channels older than the configured limit that never hung up."""
        limit = self._config.channel_expiry_seconds
        self._now = now
        out: list[Event] = []
        for channel in list(self.channels.values()):
            if channel.created_at is not None and now - channel.created_at > limit:
                age = now - channel.created_at
                log.warning(
                    "channel expired channel=%s call=%s age_s=%.0f",
                    channel.name,
                    channel.call_id,
                    age,
                )
                out.append(ChannelExpired(channel.name, channel.call_id, age, now))
                self._drop_channel(channel, out, reconciled=True)
        return out

    # ---- the lists -------------------------------------------------------------

    def _on_core_show_channel(self, m: Message, out: list[Event]) -> None:
        # Asterisk lists the newest channel first; adoption needs them oldest first
        # (the call's first channel is its caller), so the list is read whole.
        if "Uniqueid" in m:
            self._listing.append((m, self._now))

    def _on_core_show_complete(self, m: Message, out: list[Event]) -> None:
        self._take_listing(out)

    def _take_listing(self, out: list[Event]) -> None:
        listing, self._listing = self._listing, []
        adopted: dict[str, Call] = {}
        for m, at in sorted(listing, key=lambda item: creation_order(item[0]["Uniqueid"])):
            age = hms(m.get("Duration", ""))
            since = None if at is None or age is None else at - age
            channel = self._channel(m)
            if channel is None:
                channel = self._adopt(m, since)
                adopted[channel.call_id] = self.calls[channel.call_id]
            else:
                channel.caller = caller_id(m.get("CallerIDNum")) or channel.caller
            channel.confirmed = channel.listed = True
            channel.state = to_int(m.get("ChannelState")) or channel.state
            channel.bridge = m.get("BridgeId") or None
            channel.listed_since = since
            call = self.calls[channel.call_id]
            if m.get("Application") == "Queue" and channel.role == "origin":
                call.queue = m.get("ApplicationData", "").partition(",")[0] or call.queue
                call.in_queue = not call.answered
        saved = self._now
        for call in adopted.values():
            self._now = call.started_at
            self._announce(call, out)
            log.info("adopted call=%s caller=%s after resync", call.call_id, call.caller)
        self._now = saved

    def _adopt(self, m: Message, since: float | None) -> Channel:
        saved = self._now
        self._now = since
        channel = self._new_channel(m)
        self._now = saved
        call = self.calls[channel.call_id]
        twin = self._local_twin(channel)
        if twin is not None:
            self._link_twins(twin, channel)
        if channel.role == "origin":
            self._learn_dialed(call, m)
            if call.caller is None and not call.announced:
                call.caller, call.caller_name = channel.caller, channel.caller_name
        elif channel.role == "other" and m.get("Application") not in ("Queue", "AGI"):
            agent = self.extension_of(channel.name)
            if agent is not None and agent != call.origin_ext:
                self._mark_agent_leg(channel, agent)
        return channel

    def _local_twin(self, channel: Channel) -> Channel | None:
        """The ``;1`` half of a ``;2`` Local channel, known by name alone."""
        if not channel.name.endswith(";2"):
            return None
        return self._channel_named(channel.name[:-1] + "1")

    def _on_queue_entry(self, m: Message, out: list[Event]) -> None:
        call = self._caller_call(m)
        if call is None:
            return
        call.queue = m.get("Queue") or call.queue
        call.in_queue = not call.answered
        wait = to_int(m.get("Wait"))
        if call.queued_at is None and self._now is not None and wait is not None:
            call.queued_at = self._now - wait

    # ---- settling each call ------------------------------------------------------

    def _reconcile(self, call: Call, out: list[Event]) -> None:
        listed = sorted(
            (self.channels[uid] for uid in call.channels if self.channels[uid].listed),
            key=lambda c: creation_order(c.uniqueid),
        )
        if not listed:
            return
        origin = self.channels.get(call.origin)
        caller_side = {call.origin, origin.twin if origin is not None else None}
        bridges = {c.bridge for c in listed if c.uniqueid in caller_side and c.bridge}
        for leg in listed:
            if leg.role != "agent" or leg.agent is None:
                continue
            if leg.bridge is not None and leg.bridge in bridges:
                if not call.answered or call.agent != leg.agent:
                    at = leg.listed_since if not call.answered else None
                    if leg.agent not in call.agents_rung:
                        call.agents_rung.append(leg.agent)  # it rang while the link was down
                    self._answer(call, leg.agent, leg, out, at)
                    if call.queue is not None:
                        call.queue_talk_legs.add(leg.uniqueid)
                return
        if call.answered:
            return
        for leg in listed:
            if leg.role == "agent" and leg.agent is not None and leg.state in _NOT_YET_UP:
                self._ring(call, leg.agent, call.queue, out)
