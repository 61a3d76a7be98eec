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
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Literal

from cti.ami_codec import Message
from cti.ami_dialect import modernise
from cti.events import (
    AgentRinging,
    AgentRingStopped,
    CallAnswered,
    CallEnded,
    CallHeld,
    CallQueued,
    CallResumed,
    CallStarted,
    CallTransferred,
    ChannelExpired,
    Direction,
    Disposition,
    Event,
    MemberState,
    QueueCallersChanged,
    QueueMemberChanged,
    QueueMemberRemoved,
    RecordingStarted,
    Transfer,
)
from cti.settings import TrackerConfig

log = logging.getLogger(__name__)

Role = Literal["origin", "agent", "outside", "other"]
RingStop = Literal["no_answer", "answered_elsewhere", "caller_left", "declined"]

_UNKNOWN_CALLER = frozenset(
    {"", "<unknown>", "unknown", "anonymous", "restricted", "private", "unavailable", "s"}
)
# "-0000001a" (SIP/PJSIP/Local), "-5678" (IAX2), then ";1"/";2" on Local halves.
_CHANNEL_SUFFIX = re.compile(r"-[0-9a-fA-F]{1,8}(;[12])?$")
_NUMBER = re.compile(r"^\+?[0-9*#]{2,}$")

# Device state numbers in QueueMember*/QueueStatus "Status" (ast_device_state).
_MEMBER_STATES: dict[str, MemberState] = {
    "0": "unknown",
    "1": "idle",
    "2": "in_use",
    "3": "busy",
    "4": "unavailable",
    "5": "unavailable",
    "6": "ringing",
    "7": "ringing",
    "8": "in_use",
}

_RECORDING_PRIORITY = {"MIXMONITOR_FILENAME": 0, "CDR(recordingfile)": 1, "CALLFILENAME": 2}


def _caller(value: str | None) -> str | None:
    if value is None or value.strip().lower() in _UNKNOWN_CALLER:
        return None
    return value.strip()


def _int(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _seconds(value: float | None) -> int | None:
    return None if value is None else max(0, int(value + 0.5))


@dataclass(slots=True)
class Channel:
    name: str
    uniqueid: str
    call_id: str
    created_at: float | None
    caller: str | None = None
    caller_name: str | None = None
    exten: str | None = None
    state: int = 0
    role: Role = "other"
    agent: str | None = None
    twin: str | None = None
    confirmed: bool = True
    dialing: list[str] = field(default_factory=list)
    """Destinations this channel is dialling (Asterisk 11's DialEnd does not name them)."""


@dataclass(slots=True)
class Call:
    call_id: str
    started_at: float | None
    origin: str
    origin_ext: str | None = None
    caller: str | None = None
    caller_name: str | None = None
    dialed: str | None = None
    direction: Direction = "inbound"
    announced: bool = False
    channels: set[str] = field(default_factory=set)
    queue: str | None = None
    queued_at: float | None = None
    in_queue: bool = False
    abandoned: bool = False
    hold_time: int | None = None
    agents_rung: list[str] = field(default_factory=list)
    ringing: dict[str, float | None] = field(default_factory=dict)
    agent: str | None = None
    answered_at: float | None = None
    answered: bool = False
    wait_seconds: int | None = None
    talk_figure: int = 0
    talk_legs: set[str] = field(default_factory=set)
    dial_answers: list[tuple[str, str | None]] = field(default_factory=list)
    queue_talk_legs: set[str] = field(default_factory=set)
    outside_statuses: list[str] = field(default_factory=list)
    agent_statuses: list[str] = field(default_factory=list)
    recording: str | None = None
    recording_rank: int = 99
    transfers: list[Transfer] = field(default_factory=list)
    dtmf: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    held: bool = False
    hangup_cause: int | None = None
    ended_at: float | None = None
    billable: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class Member:
    state: MemberState
    paused: bool
    reason: str | None
    in_call: bool


class CallTracker:
    """Follows calls, queues and agents from a stream of AMI messages."""

    WANTED_EVENTS: frozenset[str] = frozenset(
        {
            "FullyBooted",
            "Newchannel",
            "NewCallerid",
            "Newstate",
            "Hangup",
            "LocalBridge",
            "DialBegin",
            "DialEnd",
            "QueueCallerJoin",
            "QueueCallerLeave",
            "QueueCallerAbandon",
            "AgentCalled",
            "AgentConnect",
            "AgentComplete",
            "AgentRingNoAnswer",
            "AgentDump",
            "QueueMemberStatus",
            "QueueMemberPause",
            "QueueMemberAdded",
            "QueueMemberRemoved",
            "BlindTransfer",
            "AttendedTransfer",
            "Hold",
            "Unhold",
            "MixMonitorStart",
            "VarSet",
            "DTMFEnd",
            "Cdr",
            "Rename",
            "CoreShowChannel",
            "CoreShowChannelsComplete",
            "QueueMember",
            "QueueEntry",
            "QueueParams",
            "QueueStatusComplete",
            # Asterisk 11 names (see cti.ami_dialect)
            "Join",
            "Leave",
            "Dial",
            "QueueMemberPaused",
            "DTMF",
            "Transfer",
        }
    )

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self._config = config or TrackerConfig()
        self._ext_pattern = re.compile(self._config.extension_pattern)
        self._ext_map = dict(self._config.extension_map)
        self._kept_vars = frozenset(self._config.kept_variables)
        self._rec_vars = frozenset(self._config.recording_variables)
        self.channels: dict[str, Channel] = {}
        self.by_name: dict[str, str] = {}
        self.calls: dict[str, Call] = {}
        self.members: dict[tuple[str, str], Member] = {}
        self.queue_waiting: dict[str, int] = {}
        self._resyncing = False
        self._now: float | None = None
        self._handlers = {
            "Newchannel": self._on_newchannel,
            "NewCallerid": self._on_newcallerid,
            "Newstate": self._on_newstate,
            "Hangup": self._on_hangup,
            "LocalBridge": self._on_localbridge,
            "DialBegin": self._on_dialbegin,
            "DialEnd": self._on_dialend,
            "QueueCallerJoin": self._on_queue_join,
            "QueueCallerLeave": self._on_queue_leave,
            "QueueCallerAbandon": self._on_queue_abandon,
            "AgentCalled": self._on_agent_called,
            "AgentConnect": self._on_agent_connect,
            "AgentComplete": self._on_agent_complete,
            "AgentRingNoAnswer": self._on_ring_no_answer,
            "QueueMemberStatus": self._on_member,
            "QueueMemberPause": self._on_member,
            "QueueMemberAdded": self._on_member,
            "QueueMember": self._on_member,
            "QueueMemberRemoved": self._on_member_removed,
            "BlindTransfer": self._on_blind_transfer,
            "AttendedTransfer": self._on_attended_transfer,
            "Hold": self._on_hold,
            "Unhold": self._on_unhold,
            "VarSet": self._on_varset,
            "DTMFEnd": self._on_dtmf,
            "Cdr": self._on_cdr,
            "Rename": self._on_rename,
            "CoreShowChannel": self._on_core_show_channel,
            "QueueEntry": self._on_queue_entry,
            "QueueParams": self._on_queue_params,
        }

    @property
    def wanted_variables(self) -> list[str]:
        """``VarSet`` variables the tracker reads; the parser may drop the others."""
        return sorted(self._rec_vars | self._kept_vars)

    # ---- public API --------------------------------------------------------

    def feed(self, message: Message, at: float | None = None) -> list[Event]:
        """Apply one AMI message; return the domain events it caused."""
        name = message.get("Event")
        if name is None:
            return []
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
            handler(message, out)
        except (KeyError, ValueError) as exc:
            log.warning("tracker skipped malformed event=%s error=%r", name, exc)
        return out

    def begin_resync(self) -> None:
        """The link was (re)established: what follows the PBX reports as current."""
        self._resyncing = True
        for channel in self.channels.values():
            channel.confirmed = False

    def end_resync(self, at: float | None = None) -> list[Event]:
        """The resync lists are complete: end what the PBX no longer has."""
        self._resyncing = False
        self._now = at
        out: list[Event] = []
        for channel in [c for c in self.channels.values() if not c.confirmed]:
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

    # ---- identity ----------------------------------------------------------

    def extension_of(self, interface: str) -> str | None:
        """The agent extension behind an interface or channel name, if it is one."""
        if interface in self._ext_map:
            return self._ext_map[interface]
        device = _CHANNEL_SUFFIX.sub("", interface)
        if device in self._ext_map:
            return self._ext_map[device]
        tech, sep, rest = device.partition("/")
        if not sep:
            rest = tech
            if ":" in rest:  # hint:1001@ext-local, Custom:1001
                rest = rest.partition(":")[2]
        user = rest.partition("@")[0].partition("/")[0]
        if self._ext_pattern.match(user):
            return user
        return None

    def _channel(self, message: Message) -> Channel | None:
        uid = message.get("Uniqueid")
        if uid is not None:
            channel = self.channels.get(uid)
            if channel is not None:
                return channel
        name = message.get("Channel")
        if name is not None:
            uid = self.by_name.get(name)
            if uid is not None:
                return self.channels.get(uid)
        return None

    def _channel_named(self, name: str | None, uid: str | None = None) -> Channel | None:
        if uid and uid in self.channels:
            return self.channels[uid]
        if name:
            found = self.by_name.get(name)
            if found:
                return self.channels.get(found)
        return None

    def _new_channel(self, message: Message, call_id: str | None = None) -> Channel:
        uid = message["Uniqueid"]
        linked = message.get("Linkedid") or call_id or uid
        channel = Channel(
            name=message.get("Channel", uid),
            uniqueid=uid,
            call_id=linked,
            created_at=self._now,
            caller=_caller(message.get("CallerIDNum")),
            caller_name=_caller(message.get("CallerIDName")),
            exten=message.get("Exten"),
            state=_int(message.get("ChannelState")) or 0,
        )
        self.channels[uid] = channel
        self.by_name[channel.name] = uid
        call = self.calls.get(linked)
        if call is None:
            call = Call(call_id=linked, started_at=self._now, origin=uid)
            self.calls[linked] = call
            channel.role = "origin"
            call.origin_ext = self.extension_of(channel.name)
            exten = channel.exten
            if exten and _NUMBER.match(exten) and exten != call.origin_ext:
                call.dialed = exten
        call.channels.add(uid)
        return channel

    # ---- channel lifecycle -------------------------------------------------

    def _on_newchannel(self, m: Message, out: list[Event]) -> None:
        if m.get("Uniqueid") in self.channels:
            return
        self._new_channel(m)

    def _on_newcallerid(self, m: Message, out: list[Event]) -> None:
        channel = self._channel(m)
        if channel is None:
            return
        channel.caller = _caller(m.get("CallerIDNum"))
        channel.caller_name = _caller(m.get("CallerIDName"))
        call = self.calls[channel.call_id]
        if call.origin in (channel.uniqueid, channel.twin) and not call.announced:
            call.caller = channel.caller
            call.caller_name = channel.caller_name

    def _on_newstate(self, m: Message, out: list[Event]) -> None:
        channel = self._channel(m)
        if channel is None:
            return
        channel.state = _int(m.get("ChannelState")) or channel.state
        call = self.calls[channel.call_id]
        if channel.state == 6 and channel.role == "origin" and call.origin_ext is None:
            self._announce(call, out)

    def _on_localbridge(self, m: Message, out: list[Event]) -> None:
        one = self._channel_named(m.get("LocalOneChannel"), m.get("LocalOneUniqueid"))
        two = self._channel_named(m.get("LocalTwoChannel"), m.get("LocalTwoUniqueid"))
        if one is None or two is None:
            return
        one.twin, two.twin = two.uniqueid, one.uniqueid
        if two.call_id != one.call_id:  # Asterisk 11: no Linkedid, join the ;1's call
            self._move(two, one.call_id)
        if one.role in ("origin", "agent", "outside"):
            two.role = "origin" if one.role == "origin" else one.role
            two.agent = one.agent
        elif two.role in ("agent", "outside"):
            one.role, one.agent = two.role, two.agent

    def _on_rename(self, m: Message, out: list[Event]) -> None:
        channel = self._channel(m)
        new = m.get("Newname")
        if channel is None or not new:
            return
        self.by_name.pop(channel.name, None)
        channel.name = new
        self.by_name[new] = channel.uniqueid

    def _on_hangup(self, m: Message, out: list[Event]) -> None:
        channel = self._channel(m)
        if channel is None:
            return
        call = self.calls.get(channel.call_id)
        if call is not None:
            cause = _int(m.get("Cause"))
            if cause is not None and (channel.role == "origin" or call.hangup_cause is None):
                call.hangup_cause = cause
        self._drop_channel(channel, out, reconciled=False)

    def _drop_channel(self, channel: Channel, out: list[Event], reconciled: bool) -> None:
        self.channels.pop(channel.uniqueid, None)
        if self.by_name.get(channel.name) == channel.uniqueid:
            del self.by_name[channel.name]
        call = self.calls.get(channel.call_id)
        if call is None:
            return
        call.channels.discard(channel.uniqueid)
        if channel.role == "agent" and channel.agent in call.ringing:
            reason: RingStop = "answered_elsewhere" if call.answered else "caller_left"
            self._stop_ring(call, channel.agent, reason, out)
        if not call.channels:
            self._end_call(call, out, reconciled)

    def _move(self, channel: Channel, call_id: str) -> None:
        old = self.calls.get(channel.call_id)
        if old is not None:
            old.channels.discard(channel.uniqueid)
            if not old.channels and not old.announced:
                del self.calls[old.call_id]
        channel.call_id = call_id
        self.calls[call_id].channels.add(channel.uniqueid)

    # ---- start, dialplan data ----------------------------------------------

    def _announce(self, call: Call, out: list[Event]) -> None:
        if call.announced:
            return
        call.announced = True
        origin = self.channels.get(call.origin)
        if origin is not None and call.caller is None:
            call.caller, call.caller_name = origin.caller, origin.caller_name
        call.direction = self._direction(call)
        out.append(
            CallStarted(
                call.call_id,
                call.direction,
                call.caller,
                call.caller_name,
                call.dialed,
                call.started_at,
            )
        )

    def _learn_dialed(self, call: Call, m: Message) -> None:
        """An inbound trunk often starts at exten ``s``; the DID shows up later."""
        if (
            call.dialed is None
            and call.origin_ext is None
            and not (call.agents_rung or call.answered)
        ):
            exten = m.get("Exten", "")
            if _NUMBER.match(exten):
                call.dialed = exten

    def _direction(self, call: Call) -> Direction:
        from_agent = call.origin_ext is not None or (
            call.caller is not None and self._ext_pattern.match(call.caller) is not None
        )
        if not from_agent:
            return "inbound"
        if call.dialed is not None and self.extension_of(call.dialed) is None:
            return "outbound"
        return "internal" if call.dialed is not None else "outbound"

    def _on_varset(self, m: Message, out: list[Event]) -> None:
        variable = m.get("Variable", "")
        value = m.get("Value", "")
        channel = self._channel(m)
        if channel is None or not value:
            return
        call = self.calls[channel.call_id]
        rank = _RECORDING_PRIORITY.get(variable)
        if rank is None and variable in self._rec_vars:
            rank = 3
        if rank is not None:
            if rank < call.recording_rank and (call.recording is None or rank == 0):
                first = call.recording is None
                call.recording, call.recording_rank = value, rank
                if first or rank == 0:
                    out.append(RecordingStarted(call.call_id, value, self._now))
        elif variable in self._kept_vars:
            call.variables[variable] = value
            if call.origin_ext is None:
                self._announce(call, out)

    def _on_dtmf(self, m: Message, out: list[Event]) -> None:
        if m.get("Direction", "Received") != "Received":
            return
        channel = self._channel(m)
        if channel is None or channel.role == "agent":
            return
        call = self.calls[channel.call_id]
        digit = m.get("Digit", "")
        if call.answered or not digit or digit == "#":
            return
        call.dtmf.append(digit)
        self._announce(call, out)

    def _on_cdr(self, m: Message, out: list[Event]) -> None:
        uid = m.get("UniqueID") or m.get("Uniqueid")
        billable = _int(m.get("BillableSeconds"))
        if uid is None or billable is None:
            return
        for call in self._calls_with(uid):
            call.billable[uid] = max(billable, call.billable.get(uid, 0))

    def _calls_with(self, uid: str) -> list[Call]:
        channel = self.channels.get(uid)
        if channel is not None:
            call = self.calls.get(channel.call_id)
            return [call] if call is not None else []
        return [c for c in self.calls.values() if uid in c.talk_legs]

    # ---- dialing -----------------------------------------------------------

    def _on_dialbegin(self, m: Message, out: list[Event]) -> None:
        dest = self._channel_named(m.get("DestChannel"), m.get("DestUniqueid"))
        caller = self._channel(m) if "Channel" in m or "Uniqueid" in m else None
        if caller is None:
            return  # an Originate dialling its first leg: not a ring of anyone
        call = self.calls[caller.call_id]
        if caller.role == "origin":
            self._learn_dialed(call, m)
        if dest is None:
            if "DestUniqueid" not in m:
                return
            dest = self._new_channel(
                {
                    "Uniqueid": m["DestUniqueid"],
                    "Channel": m.get("DestChannel", ""),
                    "Linkedid": m.get("DestLinkedid", call.call_id),
                },
                call.call_id,
            )
        elif dest.call_id != call.call_id and "DestLinkedid" not in m:
            self._move(dest, call.call_id)
        caller.dialing.append(dest.uniqueid)
        if caller.role == "agent" and dest.role == "other":
            # A queue member's Local leg dialling the agent's own phone.
            dest.role, dest.agent = "agent", caller.agent
            return
        agent = dest.agent if dest.role == "agent" else self.extension_of(dest.name)
        if agent is None or agent == call.origin_ext:
            dest.role = "outside"
            if call.origin_ext is not None or caller.role != "origin":
                number = m.get("DestExten") or ""
                if not _NUMBER.match(number):
                    number = _dialstring_number(m.get("DialString", ""))
                if number and (call.dialed is None or not call.announced):
                    call.dialed = number
            self._announce(call, out)
            return
        self._mark_agent_leg(dest, agent)
        if call.dialed is None and call.origin_ext is not None:
            call.dialed = agent
        self._announce(call, out)
        self._ring(call, agent, None, out)

    def _on_dialend(self, m: Message, out: list[Event]) -> None:
        status = m.get("DialStatus", "")
        caller = self._channel(m) if "Channel" in m or "Uniqueid" in m else None
        dest = self._channel_named(m.get("DestChannel"), m.get("DestUniqueid"))
        if caller is None:
            return
        call = self.calls[caller.call_id]
        if dest is None and "DestChannel" not in m and "DestUniqueid" not in m:
            dest = self._legacy_dial_target(caller, status)
        if dest is None:
            return
        if dest.role == "outside":
            call.outside_statuses.append(status)
            if status == "ANSWER":
                self._answer(call, call.origin_ext, dest, out)
            return
        if dest.role != "agent" or dest.agent is None or caller.role == "agent":
            return
        call.agent_statuses.append(status)
        if status == "ANSWER":
            self._answer(call, dest.agent, dest, out)
        elif dest.agent in call.ringing:
            reason: RingStop
            if status in ("BUSY", "CONGESTION", "CHANUNAVAIL"):
                reason = "declined"
            elif status == "NOANSWER":
                reason = "no_answer"
            else:
                reason = "answered_elsewhere" if call.answered else "caller_left"
            self._stop_ring(call, dest.agent, reason, out)

    def _mark_agent_leg(self, channel: Channel, agent: str) -> None:
        """The channel (and its Local twin) now carries the call to ``agent``."""
        channel.role, channel.agent = "agent", agent
        twin = self.channels.get(channel.twin) if channel.twin else None
        if twin is not None:
            twin.role, twin.agent = "agent", agent

    def _legacy_dial_target(self, caller: Channel, status: str) -> Channel | None:
        live = [self.channels[uid] for uid in caller.dialing if uid in self.channels]
        caller.dialing.clear()
        if status == "ANSWER":
            up = [c for c in live if c.state == 6]
            live = up or live
        return live[0] if live else None

    def _ring(self, call: Call, agent: str, queue: str | None, out: list[Event]) -> None:
        if agent in call.ringing:
            return
        call.ringing[agent] = self._now
        if agent not in call.agents_rung:
            call.agents_rung.append(agent)
        wait = None
        if call.queued_at is not None and self._now is not None:
            wait = _seconds(self._now - call.queued_at)
        out.append(
            AgentRinging(
                call.call_id,
                agent,
                queue or call.queue,
                call.caller,
                call.caller_name,
                call.dialed,
                self._ivr_input(call),
                wait,
                self._now,
            )
        )

    def _stop_ring(
        self,
        call: Call,
        agent: str,
        reason: RingStop,
        out: list[Event],
        ring_seconds: int | None = None,
    ) -> None:
        started = call.ringing.pop(agent, None)
        if ring_seconds is None and started is not None and self._now is not None:
            ring_seconds = _seconds(self._now - started)
        out.append(
            AgentRingStopped(call.call_id, agent, call.queue, reason, ring_seconds, self._now)
        )

    def _answer(self, call: Call, agent: str | None, leg: Channel, out: list[Event]) -> None:
        if leg.uniqueid not in call.talk_legs:
            call.dial_answers.append((leg.uniqueid, leg.twin))
        call.talk_legs.add(leg.uniqueid)
        if leg.twin:
            call.talk_legs.add(leg.twin)
        if call.answered and call.agent == agent:
            return
        if agent is not None:
            call.ringing.pop(agent, None)
        first = not call.answered
        call.answered = True
        call.agent = agent
        call.in_queue = False
        if first:
            call.answered_at = self._now
            if call.queued_at is not None and self._now is not None:
                call.wait_seconds = _seconds(self._now - call.queued_at)
            elif call.hold_time is not None:
                call.wait_seconds = call.hold_time
        for other in list(call.ringing):
            self._stop_ring(call, other, "answered_elsewhere", out)
        self._announce(call, out)
        out.append(CallAnswered(call.call_id, agent, call.queue, call.wait_seconds, self._now))

    # ---- queues ------------------------------------------------------------

    def _caller_call(self, m: Message) -> Call | None:
        channel = self._channel(m)
        return None if channel is None else self.calls.get(channel.call_id)

    def _on_queue_join(self, m: Message, out: list[Event]) -> None:
        call = self._caller_call(m)
        queue = m.get("Queue", "")
        self._queue_count(queue, m.get("Count"), out)
        if call is None:
            return
        self._learn_dialed(call, m)
        call.queue = queue
        call.in_queue = True
        if call.queued_at is None:
            call.queued_at = self._now
        self._announce(call, out)
        position = _int(m.get("Position")) or 0
        out.append(CallQueued(call.call_id, queue, position, call.caller, self._now))

    def _on_queue_leave(self, m: Message, out: list[Event]) -> None:
        self._queue_count(m.get("Queue", ""), m.get("Count"), out)

    def _on_queue_abandon(self, m: Message, out: list[Event]) -> None:
        call = self._caller_call(m)
        if call is None:
            return
        call.abandoned = True
        call.hold_time = _int(m.get("HoldTime"))
        if call.queued_at is not None and self._now is not None:
            call.wait_seconds = _seconds(self._now - call.queued_at)
        else:
            call.wait_seconds = call.hold_time

    def _queue_count(self, queue: str, count: str | None, out: list[Event]) -> None:
        waiting = _int(count)
        if not queue or waiting is None or self.queue_waiting.get(queue) == waiting:
            return
        self.queue_waiting[queue] = waiting
        out.append(QueueCallersChanged(queue, waiting, self._now))

    def _member_leg(self, m: Message, call: Call) -> tuple[Channel | None, str | None]:
        dest = self._channel_named(m.get("DestChannel"), m.get("DestUniqueid"))
        interface = m.get("Interface", "")
        agent = self.extension_of(interface) if interface else None
        if agent is None and dest is not None:
            agent = dest.agent or self.extension_of(dest.name)
        return dest, agent

    def _on_agent_called(self, m: Message, out: list[Event]) -> None:
        call = self._caller_call(m)
        if call is None:
            return
        dest, agent = self._member_leg(m, call)
        if agent is None:
            return
        if dest is not None:
            if dest.call_id != call.call_id:
                self._move(dest, call.call_id)
            self._mark_agent_leg(dest, agent)
        self._announce(call, out)
        self._ring(call, agent, m.get("Queue"), out)

    def _on_agent_connect(self, m: Message, out: list[Event]) -> None:
        call = self._caller_call(m)
        if call is None:
            return
        dest, agent = self._member_leg(m, call)
        hold = _int(m.get("HoldTime"))
        if hold is not None:
            call.hold_time = hold
            if call.wait_seconds is None and call.queued_at is None:
                call.wait_seconds = hold  # no receive times: the PBX's figure
        if dest is not None:
            call.queue_talk_legs.add(dest.uniqueid)
            self._answer(call, agent, dest, out)
        else:
            call.agent = agent

    def _on_agent_complete(self, m: Message, out: list[Event]) -> None:
        call = self._caller_call(m)
        if call is None:
            return
        talk = _int(m.get("TalkTime"))
        if talk is not None:
            call.talk_figure += talk

    def _on_ring_no_answer(self, m: Message, out: list[Event]) -> None:
        call = self._caller_call(m)
        if call is None:
            return
        _, agent = self._member_leg(m, call)
        if agent is not None and agent in call.ringing:
            ring_ms = _int(m.get("RingTime"))
            ring = None if ring_ms is None else ring_ms // 1000 if ring_ms > 1000 else ring_ms
            self._stop_ring(call, agent, "no_answer", out, ring)

    def _on_member(self, m: Message, out: list[Event]) -> None:
        queue = m.get("Queue", "")
        interface = m.get("Interface") or m.get("Location") or ""
        agent = self.extension_of(interface) or self.extension_of(m.get("StateInterface", ""))
        if not queue or not interface or agent is None:
            return
        status = m.get("Status", "0")
        paused = m.get("Paused", "0") == "1"
        reason = m.get("PausedReason") or None
        member = Member(
            _MEMBER_STATES.get(status, "unknown"),
            paused,
            reason if paused else None,
            m.get("InCall", "0") == "1",
        )
        key = (queue, agent)
        if self.members.get(key) == member:
            return
        self.members[key] = member
        out.append(
            QueueMemberChanged(
                queue,
                agent,
                interface,
                m.get("MemberName") or m.get("Name") or None,
                member.state,
                member.paused,
                member.reason,
                member.in_call,
                self._now,
            )
        )

    def _on_member_removed(self, m: Message, out: list[Event]) -> None:
        queue = m.get("Queue", "")
        interface = m.get("Interface", "")
        agent = self.extension_of(interface)
        if agent is None or self.members.pop((queue, agent), None) is None:
            return
        out.append(QueueMemberRemoved(queue, agent, interface, self._now))

    # ---- transfers and hold --------------------------------------------------

    def _on_blind_transfer(self, m: Message, out: list[Event]) -> None:
        if m.get("Result", "Success") != "Success":
            return
        transferer = self._channel_named(m.get("TransfererChannel"), m.get("TransfererUniqueid"))
        transferee = self._channel_named(m.get("TransfereeChannel"), m.get("TransfereeUniqueid"))
        anchor = transferee or transferer
        if anchor is None:
            return
        call = self.calls[anchor.call_id]
        from_agent = transferer.agent if transferer is not None else call.agent
        target = m.get("Extension", "")
        call.transfers.append(Transfer(from_agent, target, "blind"))
        out.append(CallTransferred(call.call_id, "blind", from_agent, target, self._now))

    def _on_attended_transfer(self, m: Message, out: list[Event]) -> None:
        if m.get("Result", "Success") != "Success":
            return
        orig = self._channel_named(m.get("OrigTransfererChannel"), m.get("OrigTransfererUniqueid"))
        second = self._channel_named(
            m.get("SecondTransfererChannel"), m.get("SecondTransfererUniqueid")
        )
        target = self._channel_named(
            m.get("TransferTargetChannel"), m.get("TransferTargetUniqueid")
        )
        if orig is None:
            return
        call = self.calls[orig.call_id]
        from_agent = orig.agent or self.extension_of(orig.name) or call.agent
        to_agent: str | None = None
        if target is not None:
            to_agent = target.agent or self.extension_of(target.name)
        if to_agent is None and second is not None:
            # The consult call's other party is the target.
            consult = self.calls.get(second.call_id)
            for uid in consult.channels if consult else ():
                other = self.channels[uid]
                ext = other.agent or self.extension_of(other.name)
                if uid != second.uniqueid and ext and ext != from_agent:
                    to_agent = ext
                    target = other
                    break
        to = to_agent or m.get("TransferTargetChannel", "") or "unknown"
        call.transfers.append(Transfer(from_agent, to, "attended"))
        out.append(CallTransferred(call.call_id, "attended", from_agent, to, self._now))
        if target is not None and to_agent is not None:
            if target.call_id != call.call_id:
                self._move(target, call.call_id)
            target.role, target.agent = "agent", to_agent
            call.talk_legs.add(target.uniqueid)
            call.agent = to_agent
            if to_agent not in call.agents_rung:
                call.agents_rung.append(to_agent)

    def _on_hold(self, m: Message, out: list[Event]) -> None:
        channel = self._channel(m)
        if channel is None:
            return
        call = self.calls[channel.call_id]
        if not call.held:
            call.held = True
            out.append(CallHeld(call.call_id, channel.agent or call.agent, self._now))

    def _on_unhold(self, m: Message, out: list[Event]) -> None:
        channel = self._channel(m)
        if channel is None:
            return
        call = self.calls[channel.call_id]
        if call.held:
            call.held = False
            out.append(CallResumed(call.call_id, channel.agent or call.agent, self._now))

    # ---- resync lists --------------------------------------------------------

    def _on_core_show_channel(self, m: Message, out: list[Event]) -> None:
        channel = self._channel(m)
        if channel is not None:
            channel.confirmed = True
            return
        if "Uniqueid" not in m:
            return
        age = _hms(m.get("Duration", ""))
        saved = self._now
        if self._now is not None and age is not None:
            self._now = self._now - age
        channel = self._new_channel(m)
        self._now = saved
        call = self.calls[channel.call_id]
        if channel.role != "origin":
            agent = self.extension_of(channel.name)
            if agent is not None and m.get("Application") not in ("Queue", "AGI"):
                channel.role, channel.agent = "agent", agent
        if m.get("Application") == "Queue":
            call.queue = m.get("ApplicationData", "").partition(",")[0] or call.queue
            call.in_queue = True
        if m.get("ChannelState") == "6" and m.get("BridgeId") and channel.role == "agent":
            call.answered = True
            call.agent = channel.agent
            call.answered_at = channel.created_at
        log.info("adopted channel=%s call=%s after resync", channel.name, channel.call_id)

    def _on_queue_entry(self, m: Message, out: list[Event]) -> None:
        call = self._caller_call(m)
        if call is None:
            return
        call.queue = m.get("Queue") or call.queue
        call.in_queue = True
        wait = _int(m.get("Wait"))
        if call.queued_at is None and self._now is not None and wait is not None:
            call.queued_at = self._now - wait

    def _on_queue_params(self, m: Message, out: list[Event]) -> None:
        self._queue_count(m.get("Queue", ""), m.get("Calls"), out)

    # ---- the end -------------------------------------------------------------

    def _ivr_input(self, call: Call) -> str | None:
        return "".join(call.dtmf) or None

    def _end_call(self, call: Call, out: list[Event], reconciled: bool) -> None:
        del self.calls[call.call_id]
        self._announce(call, out)
        call.ended_at = self._now
        for agent in list(call.ringing):
            self._stop_ring(call, agent, "caller_left", out)
        if call.in_queue and call.queue and not call.answered and not call.abandoned:
            call.abandoned = True  # the link saw the end but not the abandon
        disposition = self._disposition(call)
        wait = call.wait_seconds
        if wait is None and call.abandoned and call.queued_at is not None and self._now is not None:
            wait = _seconds(self._now - call.queued_at)
        talk: int | None = None
        if call.answered:
            if call.answered_at is not None and self._now is not None:
                talk = _seconds(self._now - call.answered_at)
            else:
                talk = call.talk_figure + sum(
                    max(call.billable.get(uid, 0), call.billable.get(twin or "", 0))
                    for uid, twin in call.dial_answers
                    if uid not in call.queue_talk_legs
                )
        answered_by = call.agent if call.answered else None
        if call.direction == "outbound" and answered_by is None and call.origin_ext is not None:
            answered_by = call.origin_ext
        out.append(
            CallEnded(
                call_id=call.call_id,
                direction=call.direction,
                caller=call.caller,
                caller_name=call.caller_name,
                dialed=call.dialed,
                queue=call.queue,
                agent=answered_by,
                agents_rung=tuple(call.agents_rung),
                disposition=disposition,
                wait_seconds=wait if call.queue else None,
                talk_seconds=talk,
                recording=call.recording,
                transfers=tuple(call.transfers),
                ivr_input=self._ivr_input(call),
                variables=tuple(sorted(call.variables.items())),
                hangup_cause=call.hangup_cause,
                started_at=call.started_at,
                answered_at=call.answered_at,
                ended_at=call.ended_at,
                reconciled=reconciled,
            )
        )
        for uid in list(call.channels):
            dead = self.channels.pop(uid, None)
            if dead is not None and self.by_name.get(dead.name) == uid:
                del self.by_name[dead.name]

    def _disposition(self, call: Call) -> Disposition:
        if call.answered:
            return "answered"
        if call.abandoned or (call.queue is not None and call.in_queue):
            return "abandoned"
        statuses = call.agent_statuses or call.outside_statuses
        if statuses and all(s == "BUSY" for s in statuses):
            return "busy"
        if statuses and all(s in ("CONGESTION", "CHANUNAVAIL") for s in statuses):
            return "failed"
        if call.agents_rung or call.outside_statuses:
            return "missed"
        if call.queue is not None:
            return "abandoned"
        if call.direction == "inbound":
            return "ivr"
        return "failed"


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


def _dialstring_number(dialstring: str) -> str:
    """The number in a dial string: ``02177665544@pstn/n``, ``provider/0217…``, ``0217…``."""
    core = dialstring.partition("@")[0]
    for part in reversed(core.split("/")):
        if _NUMBER.match(part):
            return part
    return ""


def _hms(value: str) -> float | None:
    parts = value.split(":")
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        return None
    seconds = 0
    for n in numbers:
        seconds = seconds * 60 + n
    return float(seconds)
