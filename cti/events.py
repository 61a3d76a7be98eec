"""The hub's one event vocabulary.

Every event is a small frozen dataclass named in the past tense. Its JSON form
is ``{"type": "<snake_case name>", ...fields}`` (see ``docs/events.md``); the
websockets, the bus, the call log and webhooks all carry this same form.
Times (``at`` and ``*_at``) are seconds on the clock the tracker was fed
(epoch seconds in the daemon), or ``None`` where no clock was given.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

Direction = Literal["inbound", "outbound", "internal"]
Disposition = Literal["answered", "abandoned", "missed", "busy", "failed", "ivr"]
MemberState = Literal["idle", "ringing", "in_use", "busy", "unavailable", "unknown"]
TransferKind = Literal["blind", "attended"]
PbxLinkState = Literal["up", "down", "auth_failed"]
RoutedBy = Literal["case_owner", "customer_owner", "queue", "vip_queue", "transfer", "direct"]

SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class Event:
    """Base of all domain events."""

    type: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = [_plain(v) for v in value]
            out[f.name] = value
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, Transfer):
        return value.to_dict()
    return value


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@dataclass(frozen=True, slots=True)
class Transfer:
    """One transfer of a call from an agent to an extension or number."""

    from_: str | None
    to: str
    kind: TransferKind

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.from_, "to": self.to, "kind": self.kind}


@dataclass(frozen=True, slots=True)
class CallStarted(Event):
    call_id: str
    direction: Direction
    caller: str | None
    caller_name: str | None
    dialed: str | None
    at: float | None


@dataclass(frozen=True, slots=True)
class CallQueued(Event):
    call_id: str
    queue: str
    position: int
    caller: str | None
    at: float | None


@dataclass(frozen=True, slots=True)
class AgentRinging(Event):
    """An agent's phone started ringing for a call: the moment to pop."""

    call_id: str
    agent: str
    queue: str | None
    caller: str | None
    caller_name: str | None
    dialed: str | None
    ivr_input: str | None
    wait_seconds: int | None
    at: float | None
    routed_by: RoutedBy | None = None
    """Why this agent: the case's owner, the customer's own agent, the queue (a VIP's
    at a raised priority), a transfer, or a direct dial."""


@dataclass(frozen=True, slots=True)
class AgentRingStopped(Event):
    """An agent's ringing ended without that agent answering.

    ``reason``: ``no_answer`` (ring timeout), ``answered_elsewhere``,
    ``caller_left`` or ``declined``.
    """

    call_id: str
    agent: str
    queue: str | None
    reason: Literal["no_answer", "answered_elsewhere", "caller_left", "declined"]
    ring_seconds: int | None
    at: float | None


@dataclass(frozen=True, slots=True)
class CallAnswered(Event):
    call_id: str
    agent: str | None
    queue: str | None
    wait_seconds: int | None
    at: float | None


@dataclass(frozen=True, slots=True)
class CallTransferred(Event):
    call_id: str
    kind: TransferKind
    from_agent: str | None
    to: str
    at: float | None


@dataclass(frozen=True, slots=True)
class CallHeld(Event):
    call_id: str
    agent: str | None
    at: float | None


@dataclass(frozen=True, slots=True)
class CallResumed(Event):
    call_id: str
    agent: str | None
    at: float | None


@dataclass(frozen=True, slots=True)
class RecordingStarted(Event):
    call_id: str
    file: str
    at: float | None


@dataclass(frozen=True, slots=True)
class CallEnded(Event):
    """A call is over; this is what the call log records, exactly once per call_id."""

    call_id: str
    direction: Direction
    caller: str | None
    caller_name: str | None
    dialed: str | None
    queue: str | None
    agent: str | None
    agents_rung: tuple[str, ...]
    disposition: Disposition
    wait_seconds: int | None
    talk_seconds: int | None
    recording: str | None
    transfers: tuple[Transfer, ...]
    ivr_input: str | None
    variables: tuple[tuple[str, str], ...]
    hangup_cause: int | None
    started_at: float | None
    answered_at: float | None
    ended_at: float | None
    reconciled: bool = False
    """True when the end was inferred after a reconnect, not seen."""

    def summary(self) -> dict[str, Any]:
        """The replay summary: exactly the keys ``ctihub replay --format jsonl`` prints."""
        return {
            "call_id": self.call_id,
            "direction": self.direction,
            "caller": self.caller,
            "dialed": self.dialed,
            "queue": self.queue,
            "agent": self.agent,
            "agents_rung": list(self.agents_rung),
            "disposition": self.disposition,
            "wait_seconds": self.wait_seconds,
            "talk_seconds": self.talk_seconds,
            "recording": self.recording,
            "transfers": [t.to_dict() for t in self.transfers],
            "ivr_input": self.ivr_input,
        }


@dataclass(frozen=True, slots=True)
class QueueMemberChanged(Event):
    """A queue member's state, as the PBX reports it for one queue."""

    queue: str
    agent: str
    interface: str
    name: str | None
    state: MemberState
    paused: bool
    paused_reason: str | None
    in_call: bool
    at: float | None


@dataclass(frozen=True, slots=True)
class QueueMemberRemoved(Event):
    queue: str
    agent: str
    interface: str
    at: float | None


@dataclass(frozen=True, slots=True)
class QueueCallersChanged(Event):
    """The number of callers waiting in a queue changed."""

    queue: str
    waiting: int
    at: float | None


@dataclass(frozen=True, slots=True)
class ChannelExpired(Event):
    """A channel the PBX never reported as hung up was dropped from the state."""

    channel: str
    call_id: str
    age_seconds: float
    at: float | None


@dataclass(frozen=True, slots=True)
class PbxLinkChanged(Event):
    """The hub's link to the PBX (AMI) came up, went down or had its login refused.

    Published only on a change, by the node driving the PBX. While it is not
    ``up`` calls still ring but nobody is popped. ``detail`` is a short reason
    for ``down`` / ``auth_failed`` (never a secret), ``None`` for ``up``.
    """

    state: PbxLinkState
    detail: str | None
    at: float | None


@dataclass(frozen=True, slots=True)
class AlertRaised(Event):
    """A rule of ``cti.alerts`` fired (stored once by key; ``alert_id`` is the stored row).

    ``agent`` is the extension of the agent responsible, whose panel shows it
    too; None for supervisors only.
    """

    alert_id: int
    key: str
    rule: str
    queue: str | None
    agent: str | None
    call_id: str | None
    case_id: int | None
    customer_id: int | None
    subject: str | None
    value: float | None
    threshold: float | None
    at: float | None


@dataclass(frozen=True, slots=True)
class AlertAcknowledged(Event):
    """A supervisor acknowledged an alert; panels stop showing it."""

    alert_id: int
    agent: str | None
    by: str
    at: float | None


EVENT_TYPES: dict[str, type[Event]] = {}
for _cls in (
    CallStarted,
    CallQueued,
    AgentRinging,
    AgentRingStopped,
    CallAnswered,
    CallTransferred,
    CallHeld,
    CallResumed,
    RecordingStarted,
    CallEnded,
    QueueMemberChanged,
    QueueMemberRemoved,
    QueueCallersChanged,
    ChannelExpired,
    PbxLinkChanged,
    AlertRaised,
    AlertAcknowledged,
):
    _cls.type = _snake(_cls.__name__)
    EVENT_TYPES[_cls.type] = _cls


def event_from_dict(data: dict[str, Any]) -> Event:
    """Rebuild an event from its JSON form (used by the Redis bus and the spool)."""
    cls = EVENT_TYPES.get(str(data.get("type")))
    if cls is None:
        raise ValueError(f"unknown event type {data.get('type')!r}")
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            if f.default is not dataclasses.MISSING:
                continue
            raise ValueError(f"event {cls.type} is missing field {f.name!r}")
        value = data[f.name]
        if f.name == "transfers":
            value = tuple(Transfer(t["from"], t["to"], t["kind"]) for t in value)
        elif f.name == "variables":
            value = tuple((str(k), str(v)) for k, v in value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[f.name] = value
    return cls(**kwargs)


__all__ = [
    "SCHEMA_VERSION",
    "AgentRingStopped",
    "AgentRinging",
    "AlertAcknowledged",
    "AlertRaised",
    "CallAnswered",
    "CallEnded",
    "CallHeld",
    "CallQueued",
    "CallResumed",
    "CallStarted",
    "CallTransferred",
    "ChannelExpired",
    "Event",
    "PbxLinkChanged",
    "PbxLinkState",
    "QueueCallersChanged",
    "QueueMemberChanged",
    "QueueMemberRemoved",
    "RecordingStarted",
    "Transfer",
]
