"""Screen-pop assembly: domain events in, messages for agents' panels out.

:class:`ScreenPops` is fed the tracker's domain events in order and answers
each with the :class:`Outgoing` messages to send, each addressed to the
extensions that must see it. It keeps the live state of every call, so a
panel that reconnects can be given its calls again (:meth:`ScreenPops.snapshot`).

It does no I/O and never waits. The CRM questions it needs answered (who is
calling, which case a typed tracking code names) it asks as
:class:`LookupRequest` values (:meth:`ScreenPops.take_lookups`), once per call,
as soon as the call appears (``call_started``, ``call_queued``), long before an
agent's phone rings. Whoever drives it (``popup_server.pop_feed``) runs them
against a :class:`CallerLookup`, concurrently, and feeds each answer back with
:meth:`ScreenPops.answer`. A ring pops at once with what is known (the number,
``match.status`` ``pending`` while the lookup runs) and a ``pop_updated``
fills it in, so no call's pop waits for any lookup, its own or another's.

The JSON form of every message is in ``docs/events.md`` (``v`` =
:data:`POP_SCHEMA_VERSION`). Messages are plain dicts so that the server
encodes each one once, whatever the number of sockets it goes to.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

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
    Event,
    QueueMemberChanged,
    QueueMemberRemoved,
)

logger = logging.getLogger(__name__)

POP_SCHEMA_VERSION = 1
"""Version of the websocket message forms; bumped on any incompatible change."""

MatchStatus = Literal["matched", "unknown", "extension", "unavailable", "pending"]
CallState = Literal["ringing", "talking", "held", "transferred", "ended"]

_ENDED_KEPT_PER_AGENT = 3
"""Ended calls kept per agent so a panel reconnecting during wrap-up still has them."""

LookupKind = Literal["caller", "case"]


@dataclass(frozen=True, slots=True)
class CallerInfo:
    """Who is calling, as the CRM sees it.

    ``customers`` are JSON-ready mappings, best match first, each with at
    least ``id``, ``name``, ``vip``, ``language``, ``address``, ``contract``
    (``state``, ``plan``, ``ends_on``), ``open_cases`` and ``recent_calls``
    (see ``docs/events.md``).
    """

    presented: str | None
    normalised: str | None
    status: MatchStatus
    customers: tuple[Mapping[str, Any], ...] = ()


class CallerLookup(Protocol):
    """The CRM as the screen pop needs it; implemented over ``crm_sync`` by the server."""

    async def lookup(self, number: str | None) -> CallerInfo:
        """The customers behind ``number`` (as presented by the PBX)."""
        ...

    async def case_by_code(self, code: str) -> Mapping[str, Any] | None:
        """The case a tracking code (typed in the IVR) names, JSON-ready, or None."""
        ...


@dataclass(frozen=True, slots=True)
class LookupRequest:
    """A CRM question a call's pop needs answered.

    ``kind`` ``caller``: the customers behind ``key`` (the number as presented,
    None when withheld); ``case``: the case the tracking code ``key`` names.
    """

    call_id: str
    kind: LookupKind
    key: str | None


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message and the agent extensions it goes to (and to no one else)."""

    extensions: tuple[str, ...]
    message: dict[str, Any]


@dataclass(slots=True, eq=False)  # identity: a call is itself, whatever its fields say
class _LiveCall:
    call_id: str
    caller: str | None = None
    caller_name: str | None = None
    dialed: str | None = None
    direction: str | None = None
    queue: str | None = None
    wait_seconds: int | None = None
    ivr_input: str | None = None
    ivr_case: Mapping[str, Any] | None = None
    info: CallerInfo | None = None
    asked: bool = False
    """A caller lookup for ``asked_number`` was requested (and not dropped since)."""
    asked_number: str | None = None
    popped: bool = False
    """Some agent's panel has shown this call (its lookup result is no longer only cached)."""
    state: CallState = "ringing"
    agent: str | None = None
    ringing: dict[str, float | None] = field(default_factory=dict)
    rang_at: float | None = None
    answered_at: float | None = None
    transfers: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    ended: dict[str, Any] | None = None
    routed_by: dict[str, str] = field(default_factory=dict)
    """Why the call came to each agent rung (``AgentRinging.routed_by``)."""
    kept_by: list[str] = field(default_factory=list)
    """Agents whose panel keeps this call for wrap-up (see ``_ENDED_KEPT_PER_AGENT``)."""

    def note(self, what: str, agent: str | None, at: float | None, **extra: Any) -> None:
        self.timeline.append({"event": what, "agent": agent, "at": at, **extra})

    def attached(self) -> tuple[str, ...]:
        """Extensions whose panel shows this call now: the one talking and those ringing."""
        out = list(self.ringing)
        if self.agent is not None and self.agent not in self.ringing:
            out.append(self.agent)
        return tuple(out)

    def status_fields(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "agent": self.agent,
            "queue": self.queue,
            "wait_seconds": self.wait_seconds,
            "rang_at": self.rang_at,
            "answered_at": self.answered_at,
            "transfers": list(self.transfers),
            "timeline": list(self.timeline),
            "ended": self.ended,
        }

    def lookup_fields(self) -> dict[str, Any]:
        """What the CRM lookups fill in: the caller, the match and the IVR's case."""
        info = self.info
        status: MatchStatus = info.status if info else ("pending" if self.asked else "unavailable")
        return {
            "caller": {
                "presented": self.caller,
                "normalised": info.normalised if info else None,
                "name": self.caller_name,
            },
            "match": {
                "status": status,
                "customers": [dict(c) for c in info.customers] if info else [],
            },
            "ivr": (
                None
                if self.ivr_input is None
                else {
                    "input": self.ivr_input,
                    "case": dict(self.ivr_case) if self.ivr_case else None,
                }
            ),
        }

    def pop_body(self) -> dict[str, Any]:
        body = {"call_id": self.call_id, "direction": self.direction, "dialed": self.dialed}
        body.update(self.lookup_fields())
        body.update(self.status_fields())
        return body


class ScreenPops:
    """Turns domain events and CRM answers into pops and pop updates for the agents concerned.

    Lookup results of calls no agent has seen yet are a cache: at most
    ``max_cached`` of them and ``max_cached_bytes`` of customer data (as JSON)
    are kept; beyond that the oldest is dropped and asked again at the ring.
    """

    def __init__(
        self, *, max_cached: int = 5_000, max_cached_bytes: int = 32 * 1024 * 1024
    ) -> None:
        if max_cached < 1 or max_cached_bytes < 1:
            raise ValueError("max_cached and max_cached_bytes must be at least 1")
        self._max_cached = max_cached
        self._max_cached_bytes = max_cached_bytes
        self._calls: dict[str, _LiveCall] = {}
        self._ended: dict[str, deque[_LiveCall]] = {}
        self._kept: dict[str, _LiveCall] = {}
        """Calls no longer live that some agent keeps for wrap-up, by call id."""
        self._members: dict[str, dict[str, dict[str, Any]]] = {}
        self._names: dict[str, str] = {}
        self._lookups: list[LookupRequest] = []
        self._cached: OrderedDict[str, int] = OrderedDict()
        """call_id → JSON size of its looked-up customers, for calls not yet popped."""
        self._cached_bytes = 0

    @property
    def live_calls(self) -> int:
        """Calls currently tracked (started and not yet ended)."""
        return len(self._calls)

    @property
    def cached(self) -> tuple[int, int]:
        """Lookup results held for calls not yet popped: (count, bytes)."""
        return len(self._cached), self._cached_bytes

    def handle(self, event: Event) -> list[Outgoing]:
        """The messages ``event`` causes; events must be fed in the order they happened.

        Lookups it asks for are collected for :meth:`take_lookups`.
        """
        if isinstance(event, AgentRinging):
            return self._on_ringing(event)
        if isinstance(event, CallStarted):
            return self._on_started(event)
        if isinstance(event, CallQueued):
            call = self._call(event.call_id)
            call.caller = event.caller if event.caller is not None else call.caller
            call.queue = event.queue
            self._ask_caller(call)
            return []
        if isinstance(event, AgentRingStopped):
            return self._on_ring_stopped(event)
        if isinstance(event, CallAnswered):
            return self._on_answered(event)
        if isinstance(event, CallHeld | CallResumed):
            return self._on_hold(event)
        if isinstance(event, CallTransferred):
            return self._on_transferred(event)
        if isinstance(event, CallEnded):
            return self._on_ended(event)
        if isinstance(event, QueueMemberChanged):
            return self._on_member(event)
        if isinstance(event, QueueMemberRemoved):
            return self._on_member_removed(event)
        return []

    def agents(self) -> list[dict[str, Any]]:
        """Every queue member the PBX told of, with one state for the transfer list:
        ``{extension, name, state, paused}``; ``state`` is the busiest over its queues."""
        order = ("in_use", "busy", "ringing", "idle", "unknown", "unavailable")
        out = []
        for extension, queues in sorted(self._members.items()):
            if not queues:
                continue
            states = [m["state"] for m in queues.values()]
            state = min(states, key=lambda s: order.index(s) if s in order else len(order))
            paused = all(m["paused"] for m in queues.values())
            out.append(
                {
                    "extension": extension,
                    "name": self._names.get(extension, extension),
                    "state": "paused" if paused and state == "idle" else state,
                    "paused": paused,
                }
            )
        return out

    def member_queues(self, extension: str) -> list[str]:
        """The queues ``extension`` is a member of, as the PBX last said."""
        return sorted(self._members.get(extension, {}))

    def queues(self) -> list[str]:
        """Names of the queues the PBX reported members of."""
        return sorted({queue for queues in self._members.values() for queue in queues})

    def take_lookups(self) -> list[LookupRequest]:
        """The lookups asked for since the last call, oldest first (each is asked once)."""
        out, self._lookups = self._lookups, []
        return out

    def answer(
        self, request: LookupRequest, found: CallerInfo | Mapping[str, Any] | None
    ) -> list[Outgoing]:
        """Take the answer to ``request``; a ``pop_updated`` for the panels showing its call.

        ``found``: for a caller lookup the :class:`CallerInfo` (``status``
        ``unavailable`` when the CRM failed or was too slow), for a case
        lookup the case or None. Answers to questions no longer asked (the
        call ended and left every panel, the number changed) are dropped.
        """
        call = self._calls.get(request.call_id) or self._kept.get(request.call_id)
        if call is None:
            return []
        if request.kind == "caller":
            if not isinstance(found, CallerInfo) or not call.asked:
                return []
            if call.info is not None or call.asked_number != request.key:
                return []
            call.info = found
            if not call.popped:
                self._cache(call)
        else:
            if call.ivr_input != request.key or isinstance(found, CallerInfo):
                return []
            call.ivr_case = found
        recipients = self._showing(call)
        if not recipients:
            return []
        return [Outgoing(recipients, _pop_updated(call))]

    def snapshot(self, extensions: tuple[str, ...] | list[str] | set[str]) -> list[dict[str, Any]]:
        """What a (re)connecting panel for ``extensions`` must show: member states, then pops."""
        wanted = set(extensions)
        out: list[dict[str, Any]] = []
        for extension in sorted(wanted):
            for queue, member in sorted(self._members.get(extension, {}).items()):
                out.append(_member_message(extension, queue, member))
            for call in self._ended.get(extension, ()):
                out.append(_pop_message(call, extension))
        for call in self._calls.values():
            for extension in call.attached():
                if extension in wanted:
                    out.append(_pop_message(call, extension))
        return out

    def call_for(self, call_id: str, extensions: set[str]) -> dict[str, Any] | None:
        """The pop body of a call, only if one of ``extensions`` is or was on it."""
        call = self._calls.get(call_id) or self._kept.get(call_id)
        if call is None:
            return None
        involved = set(call.attached()) | {e["agent"] for e in call.timeline if e["agent"]}
        if not involved & extensions:
            return None
        return call.pop_body()

    # Event handlers.

    def _call(self, call_id: str) -> _LiveCall:
        call = self._calls.get(call_id)
        if call is None:
            call = self._calls[call_id] = _LiveCall(call_id)
        return call

    def _on_ringing(self, event: AgentRinging) -> list[Outgoing]:
        call = self._call(event.call_id)
        call.caller = event.caller if event.caller is not None else call.caller
        call.caller_name = event.caller_name or call.caller_name
        call.dialed = event.dialed or call.dialed
        call.queue = event.queue or call.queue
        call.wait_seconds = event.wait_seconds
        if event.ivr_input and call.ivr_input != event.ivr_input:
            call.ivr_input, call.ivr_case = event.ivr_input, None
            self._lookups.append(LookupRequest(call.call_id, "case", event.ivr_input))
        self._ask_caller(call)
        self._shown(call)
        if call.state in ("transferred", "ended"):
            call.state = "ringing"
        if call.state == "ringing":
            call.rang_at = event.at
        call.ringing[event.agent] = event.at
        if event.routed_by is not None:
            call.routed_by[event.agent] = event.routed_by
        call.note("ringing", event.agent, event.at)
        return [Outgoing((event.agent,), _pop_message(call, event.agent))]

    def _on_started(self, event: CallStarted) -> list[Outgoing]:
        call = self._call(event.call_id)
        call.caller, call.caller_name = event.caller, event.caller_name
        call.dialed, call.direction = event.dialed, event.direction
        if event.direction != "inbound" and not call.attached():
            return []  # an outbound or internal call no panel shows yet: asked at its ring
        if not self._ask_caller(call):
            return []
        # An outbound call popped on the agent's own leg (click-to-call rings the agent
        # first): pop again, now for the dialled customer; pop_updated fills it in.
        return [Outgoing((agent,), _pop_message(call, agent)) for agent in call.attached()]

    def _on_ring_stopped(self, event: AgentRingStopped) -> list[Outgoing]:
        call = self._calls.get(event.call_id)
        if call is None or event.agent not in call.ringing:
            return []
        del call.ringing[event.agent]
        call.note("ring_stopped", event.agent, event.at, reason=event.reason)
        return [Outgoing((event.agent,), _withdrawn(call.call_id, event.reason, event.at))]

    def _on_answered(self, event: CallAnswered) -> list[Outgoing]:
        call = self._call(event.call_id)
        out: list[Outgoing] = []
        if event.agent is None:
            return out
        was_ringing = event.agent in call.ringing
        call.ringing.pop(event.agent, None)
        for other in list(call.ringing):
            del call.ringing[other]
            call.note("ring_stopped", other, event.at, reason="answered_elsewhere")
            out.append(Outgoing((other,), _withdrawn(call.call_id, "answered_elsewhere", event.at)))
        call.state, call.agent, call.answered_at = "talking", event.agent, event.at
        call.queue = event.queue or call.queue
        call.note("answered", event.agent, event.at)
        if was_ringing:
            out.append(Outgoing((event.agent,), _update(call, "answered", event.at)))
        else:
            # Answered without a ring we saw (direct call, resync): pop now with what is known.
            self._ask_caller(call)
            self._shown(call)
            out.append(Outgoing((event.agent,), _pop_message(call, event.agent)))
        return out

    def _on_hold(self, event: CallHeld | CallResumed) -> list[Outgoing]:
        call = self._calls.get(event.call_id)
        if call is None or call.agent is None:
            return []
        change = "held" if isinstance(event, CallHeld) else "resumed"
        call.state = "held" if change == "held" else "talking"
        call.note(change, event.agent, event.at)
        return [Outgoing((call.agent,), _update(call, change, event.at))]

    def _on_transferred(self, event: CallTransferred) -> list[Outgoing]:
        call = self._calls.get(event.call_id)
        if call is None:
            return []
        transfer = {"from": event.from_agent, "to": event.to, "kind": event.kind, "at": event.at}
        call.transfers.append(transfer)
        call.note("transferred", event.from_agent, event.at, to=event.to, kind=event.kind)
        if call.agent is not None and call.agent != event.from_agent:
            # Attended: the target answered the consultation and talks on; only the
            # transferer's pop ends (into after-call work).
            out = [Outgoing((call.agent,), _update(call, "transferred", event.at))]
            if event.from_agent is not None:
                self._keep_ended(event.from_agent, call)
                ended = _update(call, "transferred", event.at)
                ended["call"] = {**ended["call"], "state": "transferred"}
                out.append(Outgoing((event.from_agent,), ended))
            return out
        recipients = call.attached()
        call.state = "transferred"
        message = _update(call, "transferred", event.at)
        # The transferring agent keeps the pop for notes; the next AgentRinging pops the target.
        if event.from_agent is not None and call.agent == event.from_agent:
            call.agent = None
            self._keep_ended(event.from_agent, call)
        return [Outgoing(recipients, message)] if recipients else []

    def _on_ended(self, event: CallEnded) -> list[Outgoing]:
        call = self._calls.pop(event.call_id, None)
        if call is None:
            return []
        self._uncache(call)
        case_code = dict(event.variables).get("CTIHUB_CASE") or None
        call.ended = {
            "disposition": event.disposition,
            "talk_seconds": event.talk_seconds,
            "wait_seconds": event.wait_seconds,
            "case": case_code,
            "at": event.ended_at,
        }
        call.state = "ended"
        call.note("ended", event.agent, event.ended_at)
        out: list[Outgoing] = []
        for ringing in list(call.ringing):
            withdrawn = _withdrawn(call.call_id, "caller_left", event.ended_at)
            out.append(Outgoing((ringing,), withdrawn))
        call.ringing.clear()
        involved = {e["agent"] for e in call.timeline if e["event"] == "answered" and e["agent"]}
        if involved:
            out.append(Outgoing(tuple(sorted(involved)), _update(call, "ended", event.ended_at)))
        for extension in involved:
            self._keep_ended(extension, call)
        return out

    def _on_member(self, event: QueueMemberChanged) -> list[Outgoing]:
        member = {
            "state": event.state,
            "paused": event.paused,
            "paused_reason": event.paused_reason,
            "in_call": event.in_call,
            "at": event.at,
        }
        self._members.setdefault(event.agent, {})[event.queue] = member
        if event.name:
            self._names[event.agent] = event.name
        return [Outgoing((event.agent,), _member_message(event.agent, event.queue, member))]

    def _on_member_removed(self, event: QueueMemberRemoved) -> list[Outgoing]:
        if self._members.get(event.agent, {}).pop(event.queue, None) is None:
            return []
        message = {
            "v": POP_SCHEMA_VERSION,
            "type": "queue_member_removed",
            "extension": event.agent,
            "queue": event.queue,
            "at": event.at,
        }
        return [Outgoing((event.agent,), message)]

    # Lookups: asked once per call (again only if the number changed or the cached
    # answer was dropped), answered whenever the CRM answers.

    def _ask_caller(self, call: _LiveCall) -> bool:
        """Ask who is behind the call's party, unless asked already; whether it was asked."""
        party = _party(call)
        if call.asked and call.asked_number == party:
            return False
        call.asked, call.asked_number, call.info = True, party, None
        self._uncache(call)
        self._lookups.append(LookupRequest(call.call_id, "caller", party))
        return True

    def _shown(self, call: _LiveCall) -> None:
        """From now on the call's answer is part of a live pop, not a cache entry."""
        call.popped = True
        self._uncache(call)

    def _cache(self, call: _LiveCall) -> None:
        info = call.info
        size = len(json.dumps(info.customers, default=str)) if info is not None else 0
        self._cached[call.call_id] = size
        self._cached_bytes += size
        while len(self._cached) > self._max_cached or (
            self._cached_bytes > self._max_cached_bytes and len(self._cached) > 1
        ):
            oldest_id, oldest_size = self._cached.popitem(last=False)
            self._cached_bytes -= oldest_size
            oldest = self._calls.get(oldest_id)
            if oldest is not None:
                # Asked again when the call rings; dropping costs a lookup, not a pop.
                oldest.info, oldest.asked = None, False
                logger.info("caller lookup result dropped from the cache call_id=%s", oldest_id)

    def _uncache(self, call: _LiveCall) -> None:
        size = self._cached.pop(call.call_id, None)
        if size is not None:
            self._cached_bytes -= size

    def _showing(self, call: _LiveCall) -> tuple[str, ...]:
        """Extensions whose panel shows ``call`` now, wrap-up included."""
        out = list(call.attached())
        out += [extension for extension in call.kept_by if extension not in out]
        return tuple(out)

    def _keep_ended(self, extension: str, call: _LiveCall) -> None:
        kept = self._ended.setdefault(extension, deque())
        if call in kept:
            kept.remove(call)
        kept.append(call)
        if extension not in call.kept_by:
            call.kept_by.append(extension)
        self._kept[call.call_id] = call
        if len(kept) > _ENDED_KEPT_PER_AGENT:
            dropped = kept.popleft()
            dropped.kept_by.remove(extension)
            if not dropped.kept_by and self._kept.get(dropped.call_id) is dropped:
                del self._kept[dropped.call_id]


def _party(call: _LiveCall) -> str | None:
    """The number whose customer the pop shows: the dialled one on an outbound call."""
    return call.dialed if call.direction == "outbound" and call.dialed else call.caller


def _pop_message(call: _LiveCall, extension: str) -> dict[str, Any]:
    return {
        "v": POP_SCHEMA_VERSION,
        "type": "pop",
        "extension": extension,
        "routed_by": call.routed_by.get(extension),
        "call": call.pop_body(),
    }


def _pop_updated(call: _LiveCall) -> dict[str, Any]:
    return {
        "v": POP_SCHEMA_VERSION,
        "type": "pop_updated",
        "call_id": call.call_id,
        "call": call.lookup_fields(),
    }


def _update(call: _LiveCall, change: str, at: float | None) -> dict[str, Any]:
    return {
        "v": POP_SCHEMA_VERSION,
        "type": "call_update",
        "call_id": call.call_id,
        "change": change,
        "at": at,
        "call": call.status_fields(),
    }


def _withdrawn(call_id: str, reason: str, at: float | None) -> dict[str, Any]:
    return {
        "v": POP_SCHEMA_VERSION,
        "type": "pop_withdrawn",
        "call_id": call_id,
        "reason": reason,
        "at": at,
    }


def _member_message(extension: str, queue: str, member: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "v": POP_SCHEMA_VERSION,
        "type": "queue_member",
        "extension": extension,
        "queue": queue,
        **member,
    }


__all__ = [
    "POP_SCHEMA_VERSION",
    "CallerInfo",
    "CallerLookup",
    "LookupRequest",
    "Outgoing",
    "ScreenPops",
]
