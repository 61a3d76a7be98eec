"""The call tracker: AMI messages in, domain events out. No I/O, no clock.

A *call* is every channel sharing one ``Linkedid`` (Asterisk 12+), which is
the Uniqueid of the call's first channel. Within a call each channel has a
role: the *origin* (first channel) and its Local twin are the customer side of
an inbound call; channels a queue or a dial hands the call to are *agent legs*
(their extension comes from the queue member interface or the device name); a
dial to a number that is not an extension is an *outside leg*.

Times come from the ``at`` the caller passes with each message (seconds on
any clock). With no ``at`` the PBX's own figures are used instead: ``HoldTime``
for waits, ``TalkTime`` and Cdr ``BillableSeconds`` for talk.

The state machine is split the way it divides: :mod:`.calls` (channels and
the call's own life), :mod:`.queues`, :mod:`.transfers` and :mod:`.resync`
(the PBX's lists after a reconnect). This module only dispatches: an event
name to its handler; the events the tracker wants follow from that table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import ClassVar

from cti.ami_codec import Message
from cti.ami_dialect import modernise, names_to_receive
from cti.events import Event
from cti.settings import TrackerConfig

from .queues import QueueTracking
from .resync import ResyncTracking
from .state import Call, Channel, Member
from .transfers import TransferTracking

__all__ = ["Call", "CallTracker", "Channel", "Member"]

log = logging.getLogger(__name__)

Handler = Callable[["CallTracker", Message, list[Event]], None]


class CallTracker(QueueTracking, TransferTracking, ResyncTracking):
    """Follows calls, queues and agents from a stream of AMI messages."""

    HANDLERS: ClassVar[dict[str, Handler]] = {
        "Newchannel": QueueTracking._on_newchannel,
        "NewCallerid": QueueTracking._on_newcallerid,
        "Newstate": QueueTracking._on_newstate,
        "Hangup": QueueTracking._on_hangup,
        "LocalBridge": QueueTracking._on_localbridge,
        "Rename": QueueTracking._on_rename,
        "DialBegin": QueueTracking._on_dialbegin,
        "DialEnd": QueueTracking._on_dialend,
        "VarSet": QueueTracking._on_varset,
        # Its ChanVariable headers carry the file name for a user without VarSet.
        "MixMonitorStart": QueueTracking._on_chanvars_only,
        "DTMFEnd": QueueTracking._on_dtmf,
        "Cdr": QueueTracking._on_cdr,
        "QueueCallerJoin": QueueTracking._on_queue_join,
        "QueueCallerLeave": QueueTracking._on_queue_leave,
        "QueueCallerAbandon": QueueTracking._on_queue_abandon,
        "AgentCalled": QueueTracking._on_agent_called,
        "AgentConnect": QueueTracking._on_agent_connect,
        "AgentComplete": QueueTracking._on_agent_complete,
        "AgentRingNoAnswer": QueueTracking._on_ring_no_answer,
        "QueueMemberStatus": QueueTracking._on_member,
        "QueueMemberPause": QueueTracking._on_member,
        "QueueMemberAdded": QueueTracking._on_member,
        "QueueMember": QueueTracking._on_member,
        "QueueMemberRemoved": QueueTracking._on_member_removed,
        "QueueParams": QueueTracking._on_queue_params,
        "BlindTransfer": TransferTracking._on_blind_transfer,
        "AttendedTransfer": TransferTracking._on_attended_transfer,
        "Hold": TransferTracking._on_hold,
        "Unhold": TransferTracking._on_unhold,
        "CoreShowChannel": ResyncTracking._on_core_show_channel,
        "CoreShowChannelsComplete": ResyncTracking._on_core_show_complete,
        "QueueEntry": ResyncTracking._on_queue_entry,
    }
    """Event name (Asterisk 12+) to the method that applies it."""

    WANTED_EVENTS: ClassVar[frozenset[str]] = names_to_receive(HANDLERS)
    """Every event name, in either dialect, some handler reads; the parser may skip the rest."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        super().__init__(config)
        self._handlers: dict[str, Callable[[Message, list[Event]], None]] = {
            name: handler.__get__(self) for name, handler in self.HANDLERS.items()
        }

    @property
    def wanted_variables(self) -> list[str]:
        """``VarSet`` variables the tracker reads; the parser may drop the others."""
        return sorted(self._rec_vars | self._kept_vars)

    def feed(self, message: Message, at: float | None = None) -> list[Event]:
        """Apply one AMI message; return the domain events it caused."""
        name = message.get("Event")
        if name is None:
            return []
        if at is not None:
            self._last_at = at
        handler = self._handlers.get(name)
        if handler is None:
            message = modernise(message)
            handler = self._handlers.get(message.get("Event", ""))
            if handler is None:
                return []
        elif name in _AMBIGUOUS:
            message = modernise(message)
        self._now = at
        out: list[Event] = []
        try:
            chanvars = message.get("ChanVariable")
            if chanvars is None:
                handler(message, out)
            else:
                known = self._channel(message)
                if known is not None:
                    self._chan_variables(known, chanvars, out)
                handler(message, out)
                fresh = self._channel(message) if known is None else None
                if fresh is not None:
                    self._chan_variables(fresh, chanvars, out)
            dest_vars = message.get("DestChanVariable")
            if dest_vars is not None:
                dest = self._channel_named(message.get("DestChannel"), message.get("DestUniqueid"))
                if dest is not None:
                    self._chan_variables(dest, dest_vars, out)
        except (KeyError, ValueError) as exc:
            log.warning("tracker skipped malformed event=%s error=%r", name, exc)
        return out


_AMBIGUOUS = frozenset(
    {
        "AgentCalled",
        "AgentConnect",
        "AgentComplete",
        "AgentRingNoAnswer",
        "QueueMemberStatus",
        "QueueMemberAdded",
        "QueueMemberRemoved",
        "Hold",
    }
)
"""Names both dialects use; these are checked for the old shape."""
