"""Queues and their members: callers joining, agents rung by the queue, member states.

Waits are counted from the caller joining the queue, whatever became of the
call, as Asterisk counts ``HoldTime`` and as supervisors read them.
"""

from __future__ import annotations

from cti.ami_codec import Message
from cti.events import (
    CallQueued,
    Event,
    QueueCallersChanged,
    QueueMemberChanged,
    QueueMemberRemoved,
)

from .calls import CallCore
from .state import MEMBER_STATES, Call, Channel, Member, seconds, to_int


class QueueTracking(CallCore):
    """Handlers for queue callers and queue members."""

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
        position = to_int(m.get("Position")) or 0
        out.append(CallQueued(call.call_id, queue, position, call.caller, self._now))

    def _on_queue_leave(self, m: Message, out: list[Event]) -> None:
        self._queue_count(m.get("Queue", ""), m.get("Count"), out)

    def _on_queue_abandon(self, m: Message, out: list[Event]) -> None:
        call = self._caller_call(m)
        if call is None:
            return
        call.abandoned = True
        call.hold_time = to_int(m.get("HoldTime"))
        if call.queued_at is not None and self._now is not None:
            call.wait_seconds = seconds(self._now - call.queued_at)
        else:
            call.wait_seconds = call.hold_time

    def _queue_count(self, queue: str, count: str | None, out: list[Event]) -> None:
        waiting = to_int(count)
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
        hold = to_int(m.get("HoldTime"))
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
        talk = to_int(m.get("TalkTime"))
        if talk is not None:
            call.talk_figure += talk
        hold = to_int(m.get("HoldTime"))
        if hold is not None and call.wait_seconds is None:
            # A call adopted after the answer: the PBX's wait is the only one there is.
            call.hold_time = call.wait_seconds = hold

    def _on_ring_no_answer(self, m: Message, out: list[Event]) -> None:
        call = self._caller_call(m)
        if call is None:
            return
        _, agent = self._member_leg(m, call)
        if agent is not None and agent in call.ringing:
            ring_ms = to_int(m.get("RingTime"))
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
            MEMBER_STATES.get(status, "unknown"),
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

    def _on_queue_params(self, m: Message, out: list[Event]) -> None:
        self._queue_count(m.get("Queue", ""), m.get("Calls"), out)
