"""Channels and calls: the tracker's core state and the events of a call's own legs.

Everything here works on :class:`~cti.tracker.state.Call` and
:class:`~cti.tracker.state.Channel`: channels appear, dial, are answered and
hang up; a call starts, rings agents, is answered and ends exactly once.
Queues, transfers and the resync lists build on these methods in their own
modules.
"""

from __future__ import annotations

import re

from cti.ami_codec import Message
from cti.events import (
    AgentRinging,
    AgentRingStopped,
    CallAnswered,
    CallEnded,
    CallStarted,
    Direction,
    Disposition,
    Event,
    RecordingStarted,
    RoutedBy,
)
from cti.settings import TrackerConfig

from .state import (
    ACCEPTED_CODE,
    CHANNEL_SUFFIX,
    NUMBER,
    RECORDING_PRIORITY,
    Call,
    Channel,
    Member,
    RingStop,
    caller_id,
    dialstring_number,
    seconds,
    to_int,
)


class CallCore:
    """The state every part of the tracker shares, and the call's own life cycle."""

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
        self._now: float | None = None
        self._last_at: float | None = None
        """Time of the last message fed: where calls end when the link turns out lost."""
        self._lost_at: float | None = None
        self._listing: list[tuple[Message, float | None]] = []
        """A resync's channel list, read whole once complete."""

    # ---- identity ----------------------------------------------------------

    def extension_of(self, interface: str) -> str | None:
        """The agent extension behind an interface or channel name, if it is one."""
        if interface in self._ext_map:
            return self._ext_map[interface]
        device = CHANNEL_SUFFIX.sub("", interface)
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

    def _caller_call(self, m: Message) -> Call | None:
        channel = self._channel(m)
        return None if channel is None else self.calls.get(channel.call_id)

    def _new_channel(self, message: Message, call_id: str | None = None) -> Channel:
        uid = message["Uniqueid"]
        linked = message.get("Linkedid") or call_id or uid
        channel = Channel(
            name=message.get("Channel", uid),
            uniqueid=uid,
            call_id=linked,
            created_at=self._now,
            caller=caller_id(message.get("CallerIDNum")),
            caller_name=caller_id(message.get("CallerIDName")),
            exten=message.get("Exten"),
            state=to_int(message.get("ChannelState")) or 0,
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
            if exten and NUMBER.match(exten) and exten != call.origin_ext:
                call.dialed = exten
        call.channels.add(uid)
        return channel

    def _link_twins(self, one: Channel, two: Channel) -> None:
        """``one`` and ``two`` are the ``;1`` and ``;2`` halves of one Local channel."""
        one.twin, two.twin = two.uniqueid, one.uniqueid
        if two.call_id != one.call_id:  # Asterisk 11: no Linkedid, join the ;1's call
            self._move(two, one.call_id)
        if one.role in ("origin", "agent", "outside"):
            two.role = "origin" if one.role == "origin" else one.role
            two.agent = one.agent
        elif two.role in ("agent", "outside"):
            one.role, one.agent = two.role, two.agent

    def _move(self, channel: Channel, call_id: str) -> None:
        old = self.calls.get(channel.call_id)
        if old is not None:
            old.channels.discard(channel.uniqueid)
            if not old.channels and not old.announced:
                del self.calls[old.call_id]
        channel.call_id = call_id
        self.calls[call_id].channels.add(channel.uniqueid)

    def _mark_agent_leg(self, channel: Channel, agent: str) -> None:
        """The channel (and its Local twin) now carries the call to ``agent``."""
        channel.role, channel.agent = "agent", agent
        twin = self.channels.get(channel.twin) if channel.twin else None
        if twin is not None:
            twin.role, twin.agent = "agent", agent

    # ---- channel lifecycle -------------------------------------------------

    def _on_newchannel(self, m: Message, out: list[Event]) -> None:
        if m.get("Uniqueid") in self.channels:
            return
        self._new_channel(m)

    def _on_newcallerid(self, m: Message, out: list[Event]) -> None:
        channel = self._channel(m)
        if channel is None:
            return
        channel.caller = caller_id(m.get("CallerIDNum"))
        channel.caller_name = caller_id(m.get("CallerIDName"))
        call = self.calls[channel.call_id]
        if call.origin in (channel.uniqueid, channel.twin) and not call.announced:
            call.caller = channel.caller
            call.caller_name = channel.caller_name

    def _on_newstate(self, m: Message, out: list[Event]) -> None:
        channel = self._channel(m)
        if channel is None:
            return
        channel.state = to_int(m.get("ChannelState")) or channel.state
        call = self.calls[channel.call_id]
        if channel.state == 6 and channel.role == "origin" and call.origin_ext is None:
            self._announce(call, out)

    def _on_localbridge(self, m: Message, out: list[Event]) -> None:
        one = self._channel_named(m.get("LocalOneChannel"), m.get("LocalOneUniqueid"))
        two = self._channel_named(m.get("LocalTwoChannel"), m.get("LocalTwoUniqueid"))
        if one is not None and two is not None:
            self._link_twins(one, two)

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
            cause = to_int(m.get("Cause"))
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
            if NUMBER.match(exten):
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
        channel = self._channel(m)
        if channel is not None:
            self._set_variable(channel, m.get("Variable", ""), m.get("Value", ""), out)

    def _on_chanvars_only(self, m: Message, out: list[Event]) -> None:
        """An event read only for its ``ChanVariable`` headers (applied by ``feed``)."""

    def _chan_variables(self, channel: Channel, raw: str, out: list[Event]) -> None:
        """``ChanVariable`` headers (``channelvars`` in manager.conf): the least-privilege
        user's only view of the dialplan's variables, repeated on every channel event."""
        if raw == channel.chanvars:
            return
        channel.chanvars = raw
        for item in raw.split("\n"):
            name, sep, value = item.partition("=")
            if sep:
                self._set_variable(channel, name, value, out)

    def _set_variable(self, channel: Channel, variable: str, value: str, out: list[Event]) -> None:
        if not value:
            return
        call = self.calls.get(channel.call_id)
        if call is None:
            return
        rank = RECORDING_PRIORITY.get(variable)
        if rank is None and variable in self._rec_vars:
            rank = 3
        if rank is not None:
            if rank < call.recording_rank and (call.recording is None or rank == 0):
                first = call.recording is None
                call.recording, call.recording_rank = value, rank
                if first or rank == 0:
                    out.append(RecordingStarted(call.call_id, value, self._now))
        elif variable in self._kept_vars and call.variables.get(variable) != value:
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
        if call.answered or not digit:
            return
        call.dtmf.append(digit)  # "#" kept: it ends one entry, and only the last one counts
        if digit != "#":
            self._announce(call, out)

    def _on_cdr(self, m: Message, out: list[Event]) -> None:
        uid = m.get("UniqueID") or m.get("Uniqueid")
        if uid is None:
            return
        billable = to_int(m.get("BillableSeconds"))
        for call in self._calls_with(uid):
            if billable is not None:
                call.billable[uid] = max(billable, call.billable.get(uid, 0))
        channel = self.channels.get(uid)
        if channel is None:
            return
        # cdr_manager's [mappings] add CDR variables as headers (FreePBX's
        # recordingfile); UserField is what CDR(userfield) was set to.
        for header in ("recordingfile", "RecordingFile"):
            if m.get(header):
                self._set_variable(channel, "CDR(recordingfile)", m[header], out)
        for name in self._kept_vars:
            if m.get(name):
                self._set_variable(channel, name, m[name], out)

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
                if not NUMBER.match(number):
                    number = dialstring_number(m.get("DialString", ""))
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

    def _legacy_dial_target(self, caller: Channel, status: str) -> Channel | None:
        live = [self.channels[uid] for uid in caller.dialing if uid in self.channels]
        caller.dialing.clear()
        if status == "ANSWER":
            up = [c for c in live if c.state == 6]
            live = up or live
        return live[0] if live else None

    # ---- ringing and answering ------------------------------------------------

    def _ring(self, call: Call, agent: str, queue: str | None, out: list[Event]) -> None:
        if agent in call.ringing:
            return
        call.ringing[agent] = self._now
        if agent not in call.agents_rung:
            call.agents_rung.append(agent)
        wait = None
        if call.queued_at is not None and self._now is not None:
            wait = seconds(self._now - call.queued_at)
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
                self._routed_by(call, agent, queue or call.queue),
            )
        )

    def _routed_by(self, call: Call, agent: str, queue: str | None) -> RoutedBy:
        variables = call.variables
        if variables.get("CTIHUB_CASE_OWNER") == agent:
            return "case_owner"
        if variables.get("CTIHUB_OWNER") == agent:
            return "customer_owner"
        if queue is not None:
            return "vip_queue" if to_int(variables.get("CTIHUB_PRIORITY")) else "queue"
        return "transfer" if call.transfers else "direct"

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
            ring_seconds = seconds(self._now - started)
        out.append(
            AgentRingStopped(call.call_id, agent, call.queue, reason, ring_seconds, self._now)
        )

    def _answer(
        self,
        call: Call,
        agent: str | None,
        leg: Channel,
        out: list[Event],
        at: float | None = None,
    ) -> None:
        """``agent`` took the call on ``leg``; ``at`` when it happened earlier than now."""
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
        when = self._now if at is None else at
        if first:
            call.answered_at = when
            if call.queued_at is not None and when is not None:
                call.wait_seconds = seconds(when - call.queued_at)
            elif call.hold_time is not None:
                call.wait_seconds = call.hold_time
        for other in list(call.ringing):
            self._stop_ring(call, other, "answered_elsewhere", out)
        self._announce(call, out)
        out.append(CallAnswered(call.call_id, agent, call.queue, call.wait_seconds, when))

    # ---- the end -------------------------------------------------------------

    def _ivr_input(self, call: Call) -> str | None:
        """The code the IVR accepted, else the caller's last entry (``#`` ends one)."""
        accepted = call.variables.get(ACCEPTED_CODE)
        if accepted:
            return accepted
        entries = [e for e in "".join(call.dtmf).split("#") if e]
        return entries[-1] if entries else None

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
            wait = seconds(self._now - call.queued_at)
        if wait is None and call.queue is not None:
            wait = call.hold_time  # the PBX's own figure, counted from the queue join too
        talk: int | None = None
        if call.answered:
            if call.answered_at is not None and self._now is not None:
                talk = seconds(self._now - call.answered_at)
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
