"""The live board supervisors watch: queues, waiting callers, agents and today's figures.

Pure and fed by domain events (``board.handle(event)``), like the tracker: no
clock, no I/O. Today's figures are those of the call log when the day's base
is seeded (:meth:`LiveBoard.seed`), plus every call that ended since, plus
the calls answered and still talking; each queue is judged by its own
threshold (:class:`~cti.figures.QueueTargets`). The figures' definitions are
in :mod:`cti.figures`; pages only display what :meth:`LiveBoard.snapshot`
returns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from cti.events import (
    AgentRinging,
    AgentRingStopped,
    CallAnswered,
    CallEnded,
    CallHeld,
    CallQueued,
    CallResumed,
    CallStarted,
    Event,
    QueueCallersChanged,
    QueueMemberChanged,
    QueueMemberRemoved,
)
from cti.figures import (
    CallFacts,
    Figures,
    QueueTargets,
    ServiceLevelType,
    Tally,
    TargetBook,
    figures_of,
)

Activity = Literal["offline", "paused", "idle", "ringing", "talking", "held"]
CallState = Literal["started", "ringing", "talking", "held"]
QueueAlert = Literal["wait", "service_level"]


@dataclass(slots=True)
class LiveCall:
    """A call in progress, as supervisors see it (no customer data beyond the number)."""

    call_id: str
    direction: str
    caller: str | None
    caller_name: str | None
    started_at: float | None
    state: CallState = "started"
    queue: str | None = None
    agent: str | None = None
    ringing: dict[str, float | None] = field(default_factory=dict)
    """Agent → when its phone started ringing."""
    queued_at: float | None = None
    answered_at: float | None = None
    wait_seconds: int | None = None
    held_since: float | None = None


@dataclass(slots=True)
class Membership:
    """An agent's membership of one queue, as the PBX last reported it."""

    state: str
    paused: bool
    paused_reason: str | None
    in_call: bool
    name: str | None
    interface: str
    at: float | None


@dataclass(frozen=True, slots=True)
class WaitingCaller:
    """A caller waiting in a queue; ``customer`` is filled in by whoever knows the CRM."""

    call_id: str
    queue: str
    caller: str | None
    caller_name: str | None
    waiting_since: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "queue": self.queue,
            "caller": self.caller,
            "caller_name": self.caller_name,
            "waiting_since": self.waiting_since,
        }


@dataclass(frozen=True, slots=True)
class QueueRow:
    """One queue now: who waits, since when, and today's figures."""

    queue: str
    waiting: int
    longest_wait_since: float | None
    """When the longest-waiting caller entered the queue (None: nobody waits)."""
    callers: tuple[WaitingCaller, ...]
    figures: Figures
    targets: QueueTargets
    alerts: tuple[QueueAlert, ...]
    members: int
    available: int


@dataclass(frozen=True, slots=True)
class AgentRow:
    """One agent now: what they do, since when, on which call, and today's figures."""

    agent: str
    name: str | None
    state: Activity
    since: float | None
    reason: str | None
    call_id: str | None
    caller: str | None
    queues: tuple[str, ...]
    answered: int
    talk_seconds: int
    aht_s: float | None


@dataclass(frozen=True, slots=True)
class BoardSnapshot:
    """The whole board at one moment; :meth:`to_dict` is the ``board`` message's body."""

    at: float
    day_start: float | None
    seeded: bool
    service_level_type: ServiceLevelType
    queues: tuple[QueueRow, ...]
    agents: tuple[AgentRow, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "day_start": self.day_start,
            "seeded": self.seeded,
            "service_level_type": self.service_level_type,
            "queues": [_queue_dict(q) for q in self.queues],
            "agents": [
                {
                    "agent": a.agent,
                    "name": a.name,
                    "state": a.state,
                    "since": a.since,
                    "reason": a.reason,
                    "call_id": a.call_id,
                    "caller": a.caller,
                    "queues": list(a.queues),
                    "answered": a.answered,
                    "talk_seconds": a.talk_seconds,
                    "aht_s": a.aht_s,
                }
                for a in self.agents
            ],
        }


def _queue_dict(q: QueueRow) -> dict[str, Any]:
    f = q.figures
    return {
        "queue": q.queue,
        "waiting": q.waiting,
        "longest_wait_since": q.longest_wait_since,
        "callers": [c.to_dict() for c in q.callers],
        "members": q.members,
        "available": q.available,
        "offered": f.offered,
        "answered": f.answered,
        "abandoned": f.abandoned,
        "short_abandoned": f.short_abandoned,
        "service_level_pct": f.service_level_pct,
        "abandon_pct": f.abandon_pct,
        "asa_s": f.asa_s,
        "aht_s": f.aht_s,
        "avg_talk_s": f.avg_talk_s,
        "time_to_abandon_s": f.time_to_abandon_s,
        "longest_wait_s": f.longest_wait_s,
        "threshold_seconds": q.targets.threshold_seconds,
        "target_percent": q.targets.target_percent,
        "max_wait_seconds": q.targets.max_wait_seconds,
        "alerts": list(q.alerts),
    }


def day_bounds(at: float, zone: dt.tzinfo) -> tuple[float, float]:
    """The local day (in ``zone``) holding ``at``: its start and the next day's start."""
    local = dt.datetime.fromtimestamp(at, zone)
    start = dt.datetime.combine(local.date(), dt.time(), zone)
    following = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(), zone)
    return start.timestamp(), following.timestamp()


class LiveBoard:
    """Queues, callers and agents now, and today's figures; fed events, asked for snapshots."""

    def __init__(
        self,
        zone: dt.tzinfo,
        book: TargetBook,
        kind: ServiceLevelType = "abandoned_ignored",
    ) -> None:
        self.zone = zone
        self.kind: ServiceLevelType = kind
        self.book = book
        self.calls: dict[str, LiveCall] = {}
        self.members: dict[str, dict[str, Membership]] = {}
        self.waiting: dict[str, int] = {}
        self._last_end: dict[str, float] = {}
        self._seen_since: dict[str, tuple[str, float]] = {}
        self.day_start: float | None = None
        self._next_day: float | None = None
        self._seeded_as_of: float | None = None
        self._pending: list[tuple[float | None, CallFacts]] = []
        self._queue_tallies: dict[str, Tally] = {}
        self._agent_tallies: dict[str, Tally] = {}

    # ------------------------------------------------------------ targets and days

    def targets(self, queue: str) -> QueueTargets:
        """``queue``'s own targets, or the defaults."""
        return self.book.of(queue)

    def start_day(self, at: float) -> None:
        """Begin the local day holding ``at`` with empty figures, waiting for :meth:`seed`."""
        self.day_start, self._next_day = day_bounds(at, self.zone)
        self._seeded_as_of = None
        self._pending = []
        self._queue_tallies = {}
        self._agent_tallies = {}

    def needs_day(self, at: float) -> bool:
        """True when ``at`` is not in the board's day (start the day, then seed it)."""
        return self._next_day is None or not (self.day_start or 0) <= at < self._next_day

    def seed(self, as_of: float, queues: Mapping[str, Tally], agents: Mapping[str, Tally]) -> None:
        """Today's tallies from the call log up to ``as_of``; calls ended later are added on."""
        self._queue_tallies = {q: t.copy() for q, t in queues.items()}
        self._agent_tallies = {a: t.copy() for a, t in agents.items()}
        self._seeded_as_of = as_of
        pending, self._pending = self._pending, []
        for ended_at, facts in pending:
            if ended_at is None or ended_at > as_of:
                self._count(facts)

    @property
    def seeded(self) -> bool:
        """Whether today's base from the call log is in."""
        return self._seeded_as_of is not None

    # ------------------------------------------------------------ events

    def handle(self, event: Event) -> None:
        """Apply one domain event."""
        at = getattr(event, "at", None)
        if isinstance(at, float | int) and self._next_day is not None and at >= self._next_day:
            # Midnight passed: a new day starts from nothing (the log holds nothing of it yet).
            self.start_day(float(at))
            self._seeded_as_of = float(at)
        if isinstance(event, QueueMemberChanged):
            self.members.setdefault(event.agent, {})[event.queue] = Membership(
                state=event.state,
                paused=event.paused,
                paused_reason=event.paused_reason,
                in_call=event.in_call,
                name=event.name,
                interface=event.interface,
                at=event.at,
            )
        elif isinstance(event, QueueMemberRemoved):
            queues = self.members.get(event.agent, {})
            queues.pop(event.queue, None)
            if not queues:
                self.members.pop(event.agent, None)
        elif isinstance(event, QueueCallersChanged):
            self.waiting[event.queue] = event.waiting
        elif isinstance(event, CallStarted):
            self.calls[event.call_id] = LiveCall(
                call_id=event.call_id,
                direction=event.direction,
                caller=event.caller,
                caller_name=event.caller_name,
                started_at=event.at,
            )
        elif isinstance(event, CallEnded):
            self._ended(event)
        else:
            self._call_change(event)

    def _ended(self, event: CallEnded) -> None:
        self.calls.pop(event.call_id, None)
        if event.agent and event.ended_at is not None:
            self._last_end[event.agent] = event.ended_at
        if self.day_start is None:
            return
        if event.started_at is not None and event.started_at < self.day_start:
            return  # yesterday's call, counted on yesterday
        facts = CallFacts(
            queue=event.queue,
            agent=event.agent,
            direction=event.direction,
            disposition=event.disposition,
            wait_seconds=event.wait_seconds,
            talk_seconds=event.talk_seconds,
            transfers=len(event.transfers),
        )
        if self._seeded_as_of is None:
            self._pending.append((event.ended_at, facts))
        elif event.ended_at is None or event.ended_at > self._seeded_as_of:
            self._count(facts)

    def _count(self, facts: CallFacts) -> None:
        _add(self._queue_tallies, self._agent_tallies, facts, self.book)

    def _call_change(self, event: Event) -> None:
        call_id = getattr(event, "call_id", None)
        call = self.calls.get(call_id) if isinstance(call_id, str) else None
        if call is None:
            return
        if isinstance(event, CallQueued):
            call.queue = event.queue
            call.queued_at = event.at
        elif isinstance(event, AgentRinging):
            call.queue = event.queue or call.queue
            if call.agent is None:
                call.state = "ringing"
            call.ringing.setdefault(event.agent, event.at)
        elif isinstance(event, AgentRingStopped):
            call.ringing.pop(event.agent, None)
        elif isinstance(event, CallAnswered):
            call.state = "talking"
            call.agent = event.agent
            call.queue = event.queue or call.queue
            call.answered_at = event.at
            call.wait_seconds = event.wait_seconds
            call.ringing = {}
        elif isinstance(event, CallHeld):
            call.state = "held"
            call.held_since = event.at
        elif isinstance(event, CallResumed):
            call.state = "talking"
            call.held_since = None

    # ------------------------------------------------------------ the picture

    def _today(self) -> tuple[dict[str, Tally], dict[str, Tally]]:
        """Today's tallies plus the calls answered and still in progress."""
        queues = {q: t.copy() for q, t in self._queue_tallies.items()}
        agents = {a: t.copy() for a, t in self._agent_tallies.items()}
        for call in self.calls.values():
            if call.answered_at is None or call.direction == "outbound":
                continue
            if self.day_start is not None and (call.started_at or 0) < self.day_start:
                continue
            facts = CallFacts(
                queue=call.queue,
                agent=call.agent,
                direction=call.direction,
                disposition="answered",
                wait_seconds=call.wait_seconds,
                talk_seconds=None,  # talking: in the counts, not yet in handle time
            )
            _add(queues, agents, facts, self.book)
        return queues, agents

    def waiting_callers(self, queue: str) -> list[WaitingCaller]:
        """Callers in ``queue`` not yet answered, longest-waiting first."""
        callers = [
            WaitingCaller(c.call_id, queue, c.caller, c.caller_name, c.queued_at)
            for c in self.calls.values()
            if c.queue == queue and c.agent is None and c.queued_at is not None
        ]
        callers.sort(key=lambda c: c.waiting_since or 0.0)
        return callers

    def agent_activity(
        self, agent: str
    ) -> tuple[Activity, float | None, str | None, LiveCall | None]:
        """What ``agent`` does now: state, since when, pause reason, the call."""
        for call in self.calls.values():
            if call.agent == agent and call.state in ("talking", "held"):
                since = call.held_since if call.state == "held" else call.answered_at
                return ("held" if call.state == "held" else "talking"), since, None, call
        for call in self.calls.values():
            if agent in call.ringing:
                return "ringing", call.ringing[agent], None, call
        memberships = list(self.members.get(agent, {}).values())
        latest = max((m.at for m in memberships if m.at is not None), default=None)
        if not memberships or all(m.state in ("unavailable", "unknown") for m in memberships):
            return "offline", latest, None, None
        paused = next((m for m in memberships if m.paused), None)
        if paused is not None:
            return "paused", paused.at, paused.paused_reason, None
        if any(m.state == "ringing" for m in memberships):
            return "ringing", latest, None, None
        if any(m.in_call or m.state in ("in_use", "busy") for m in memberships):
            return "talking", latest, None, None
        last_end = self._last_end.get(agent)
        candidates = [t for t in (latest, last_end) if t is not None]
        return "idle", (max(candidates) if candidates else None), None, None

    def snapshot(self, now: float) -> BoardSnapshot:
        """The board at ``now`` (epoch seconds on the events' clock)."""
        queues_today, agents_today = self._today()
        names = set(self.waiting) | set(queues_today)
        for memberships in self.members.values():
            names |= set(memberships)
        for call in self.calls.values():
            if call.queue:
                names.add(call.queue)
        rows: list[QueueRow] = []
        for name in sorted(names):
            targets = self.targets(name)
            figures = figures_of(queues_today.get(name, Tally()), self.kind)
            callers = self.waiting_callers(name)
            since = callers[0].waiting_since if callers else None
            alerts: list[QueueAlert] = []
            if since is not None and int(now - since) > targets.max_wait_seconds:
                alerts.append("wait")
            sl = figures.service_level_pct
            if sl is not None and sl < targets.target_percent:
                alerts.append("service_level")
            members = [m[name] for m in self.members.values() if name in m]
            rows.append(
                QueueRow(
                    queue=name,
                    waiting=self.waiting.get(name, len(callers)),
                    longest_wait_since=since,
                    callers=tuple(callers),
                    figures=figures,
                    targets=targets,
                    alerts=tuple(alerts),
                    members=len(members),
                    available=sum(
                        1 for m in members if not m.paused and not m.in_call and m.state == "idle"
                    ),
                )
            )
        agents: list[AgentRow] = []
        for agent in sorted(set(self.members) | set(agents_today)):
            state, since, reason, current = self.agent_activity(agent)
            # Unknown start (no clock on the event): from when the board first saw it.
            key = f"{state}|{reason or ''}"
            seen = self._seen_since.get(agent)
            if seen is None or seen[0] != key:
                seen = self._seen_since[agent] = (key, since if since is not None else now)
            memberships = self.members.get(agent, {})
            tally = agents_today.get(agent, Tally())
            agent_figures = figures_of(tally, self.kind)
            agents.append(
                AgentRow(
                    agent=agent,
                    name=next((m.name for m in memberships.values() if m.name), None),
                    state=state,
                    since=since if since is not None else seen[1],
                    reason=reason,
                    call_id=current.call_id if current else None,
                    caller=current.caller if current else None,
                    queues=tuple(sorted(memberships)),
                    answered=agent_figures.answered,
                    talk_seconds=tally.talk_sum,
                    aht_s=agent_figures.aht_s,
                )
            )
        return BoardSnapshot(
            at=now,
            day_start=self.day_start,
            seeded=self.seeded,
            service_level_type=self.kind,
            queues=tuple(rows),
            agents=tuple(agents),
        )

    def next_change(self, now: float) -> float | None:
        """The next moment the snapshot changes without an event (a wait passing its target)."""
        moments = []
        for call in self.calls.values():
            if call.queue and call.agent is None and call.queued_at is not None:
                limit = call.queued_at + self.targets(call.queue).max_wait_seconds + 1
                if limit > now:
                    moments.append(limit)
        if self._next_day is not None:
            moments.append(self._next_day)
        return min(moments, default=None)


def _add(
    queues: dict[str, Tally],
    agents: dict[str, Tally],
    facts: CallFacts,
    book: TargetBook,
) -> None:
    queue_targets = book.of(facts.queue)
    if facts.queue:
        queues.setdefault(facts.queue, Tally()).add(facts, queue_targets)
    if facts.agent:
        agents.setdefault(facts.agent, Tally()).add(facts, queue_targets)
