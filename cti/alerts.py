"""Management by exception: the rules that turn calls, cases and time into alerts.

Pure and clock-free, like the tracker: :class:`AlertEngine` is fed domain
events (:meth:`AlertEngine.feed`), the time (:meth:`AlertEngine.tick`) and
facts about open cases (:meth:`AlertEngine.check_cases`), and returns
:class:`Alert` values. Storing them once, pushing them to panels and sending
them by webhook and e-mail happen at the edges (``crm_sync/alerts.py``).

Each alert has a ``key`` naming what it is about (``caller_waiting:<call
id>``, ``case_overdue:<case id>``...); the store keeps one alert per key, so
an alert is raised once even if the engine restarts and sees the same facts
again. The engine itself never returns the same key twice while it runs.

The defaults are the call center's targets: key customers' cases answered
within 24 hours and the others within 48, a first reply within 24 hours,
80 % of calls answered within 20 seconds; the rest are plain starting points,
each configurable per queue (:class:`QueueRules`) or per customer class
(:class:`ClassRules`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from cti.events import (
    AgentRingStopped,
    CallAnswered,
    CallEnded,
    CallQueued,
    CallStarted,
    Event,
)

AlertRule = Literal[
    "case_overdue",
    "case_no_first_reply",
    "caller_waiting",
    "service_level_low",
    "ring_no_answer",
    "callback_overdue",
]
ALERT_RULES: tuple[AlertRule, ...] = (
    "case_overdue",
    "case_no_first_reply",
    "caller_waiting",
    "service_level_low",
    "ring_no_answer",
    "callback_overdue",
)
CustomerClass = Literal["key", "standard"]

_NUMBER_TAIL = 8
"""Digits that say two numbers are the same line (local and international forms differ)."""


@dataclass(frozen=True, slots=True)
class QueueRules:
    """The rules about calls, for one queue (or every queue without its own)."""

    max_wait_seconds: int = 120
    """A caller waiting longer than this raises ``caller_waiting``."""
    sla_seconds: int = 20
    """Answered within this many seconds counts towards the service level."""
    sla_target_percent: float = 80.0
    sla_window_seconds: int = 1800
    """The service level is computed over the calls that ended in this sliding window..."""
    sla_min_calls: int = 10
    """...once it holds at least this many answered or abandoned calls."""
    ring_no_answer_count: int = 3
    """An agent who lets this many calls ring out..."""
    ring_no_answer_window_seconds: int = 3600
    """...within this window raises ``ring_no_answer``."""
    callback_within_minutes: int = 30
    """An abandoned caller not called back (nor calling again) within this raises an alert."""


@dataclass(frozen=True, slots=True)
class ClassRules:
    """The rules about cases, for one customer class (``key``: VIP customers)."""

    due_hours: float
    """A case with no due date of its own is overdue this long after it was opened."""
    first_reply_hours: float = 24.0
    """A case with no reply (note or call) this long after it was opened raises an alert."""


DEFAULT_CLASSES: Mapping[str, ClassRules] = {
    "key": ClassRules(due_hours=24.0),
    "standard": ClassRules(due_hours=48.0),
}


@dataclass(frozen=True, slots=True)
class AlertRules:
    """Every rule's thresholds: defaults, per queue and per customer class."""

    default_queue: QueueRules = QueueRules()
    queues: Mapping[str, QueueRules] = field(default_factory=dict)
    classes: Mapping[str, ClassRules] = field(default_factory=lambda: dict(DEFAULT_CLASSES))

    def for_queue(self, queue: str | None) -> QueueRules:
        """The queue's own rules, or the defaults."""
        return self.queues.get(queue or "", self.default_queue)

    def for_class(self, customer_class: str) -> ClassRules:
        """The class's rules; an unknown class is treated as ``standard``."""
        return self.classes.get(customer_class) or self.classes.get(
            "standard", DEFAULT_CLASSES["standard"]
        )


@dataclass(frozen=True, slots=True)
class Alert:
    """Something a supervisor (and maybe one agent) should look at now.

    ``agent`` is the extension of the agent responsible (the case's owner,
    the agent who let calls ring), shown on that agent's panel; None when
    the alert is for supervisors only. ``value`` and ``threshold`` are in the
    rule's unit (seconds, percent, hours, count).
    """

    key: str
    rule: AlertRule
    at: float
    queue: str | None = None
    agent: str | None = None
    call_id: str | None = None
    case_id: int | None = None
    customer_id: int | None = None
    subject: str | None = None
    """What the alert is about, in words a person reads: a number, a tracking code, a queue."""
    value: float | None = None
    threshold: float | None = None


@dataclass(frozen=True, slots=True)
class CaseFacts:
    """What the rules need to know about one open case."""

    case_id: int
    tracking_code: str
    customer_id: int | None
    customer_class: str
    opened_at: float
    due_at: float | None
    first_reply_at: float | None
    owner_extension: str | None


@dataclass(slots=True)
class _Waiting:
    queue: str
    since: float
    caller: str | None
    fired: bool = False


@dataclass(slots=True)
class _Abandoned:
    call_id: str
    queue: str | None
    caller: str
    at: float


@dataclass(slots=True)
class _QueueWindow:
    # (ended at, answered within the service level)
    calls: deque[tuple[float, bool]] = field(default_factory=deque)
    low: bool = False


@dataclass(slots=True)
class _RingOuts:
    times: deque[float] = field(default_factory=deque)
    fired: bool = False


def number_tail(number: str | None) -> str | None:
    """The last digits of a number: how a call back is matched to the caller it answers."""
    digits = "".join(ch for ch in number or "" if ch.isdigit())
    return digits[-_NUMBER_TAIL:] if len(digits) >= 4 else None


class AlertEngine:
    """The alert rules, fed events and time; returns each alert once (per key)."""

    def __init__(self, rules: AlertRules | None = None) -> None:
        self.rules = rules or AlertRules()
        self._waiting: dict[str, _Waiting] = {}
        self._abandoned: dict[str, _Abandoned] = {}
        self._windows: dict[str, _QueueWindow] = {}
        self._ring_outs: dict[str, _RingOuts] = {}
        self._cases_fired: set[str] = set()

    def feed(self, event: Event) -> list[Alert]:
        """Apply one event; returns the alerts it raises (service level, ring-no-answer)."""
        at = getattr(event, "at", None) or getattr(event, "ended_at", None)
        if isinstance(event, CallQueued):
            self._waiting[event.call_id] = _Waiting(event.queue, event.at or 0.0, event.caller)
        elif isinstance(event, CallAnswered):
            self._waiting.pop(event.call_id, None)
        elif isinstance(event, CallStarted):
            self._called_back(event.dialed if event.direction == "outbound" else None)
        elif isinstance(event, AgentRingStopped) and event.reason == "no_answer":
            return self._ring_out(event.agent, event.queue, event.call_id, at or 0.0)
        elif isinstance(event, CallEnded):
            return self._ended(event, at or 0.0)
        return []

    def tick(self, now: float) -> list[Alert]:
        """Alerts that time alone raises: callers waiting too long, callers not called back."""
        alerts: list[Alert] = []
        for call_id, waiting in self._waiting.items():
            limit = self.rules.for_queue(waiting.queue).max_wait_seconds
            if not waiting.fired and now - waiting.since > limit:
                waiting.fired = True
                alerts.append(
                    Alert(
                        key=f"caller_waiting:{call_id}",
                        rule="caller_waiting",
                        at=now,
                        queue=waiting.queue,
                        call_id=call_id,
                        subject=waiting.caller,
                        value=float(int(now - waiting.since)),
                        threshold=float(limit),
                    )
                )
        for tail, abandoned in list(self._abandoned.items()):
            limit_minutes = self.rules.for_queue(abandoned.queue).callback_within_minutes
            if now - abandoned.at > limit_minutes * 60:
                del self._abandoned[tail]
                alerts.append(
                    Alert(
                        key=f"callback_overdue:{abandoned.call_id}",
                        rule="callback_overdue",
                        at=now,
                        queue=abandoned.queue,
                        call_id=abandoned.call_id,
                        subject=abandoned.caller,
                        value=round((now - abandoned.at) / 60, 1),
                        threshold=float(limit_minutes),
                    )
                )
        return alerts

    def check_cases(self, cases: Iterable[CaseFacts], now: float) -> list[Alert]:
        """Alerts about open cases: past their due time, or with no first reply in time."""
        alerts: list[Alert] = []
        for case in cases:
            rules = self.rules.for_class(case.customer_class)
            due = (
                case.due_at if case.due_at is not None else case.opened_at + rules.due_hours * 3600
            )
            if now > due:
                alerts += self._case_alert("case_overdue", case, now, rules.due_hours)
            reply_by = case.opened_at + rules.first_reply_hours * 3600
            if case.first_reply_at is None and now > reply_by:
                alerts += self._case_alert(
                    "case_no_first_reply", case, now, rules.first_reply_hours
                )
        return alerts

    @property
    def waiting_calls(self) -> int:
        """Callers in a queue the engine is timing (for tests and metrics)."""
        return len(self._waiting)

    # ---- rules -----------------------------------------------------------

    def _case_alert(
        self, rule: AlertRule, case: CaseFacts, now: float, threshold_hours: float
    ) -> list[Alert]:
        key = f"{rule}:{case.case_id}"
        if key in self._cases_fired:
            return []
        self._cases_fired.add(key)
        return [
            Alert(
                key=key,
                rule=rule,
                at=now,
                agent=case.owner_extension,
                case_id=case.case_id,
                customer_id=case.customer_id,
                subject=case.tracking_code,
                value=round((now - case.opened_at) / 3600, 1),
                threshold=threshold_hours,
            )
        ]

    def _ended(self, event: CallEnded, at: float) -> list[Alert]:
        self._waiting.pop(event.call_id, None)
        if event.direction == "outbound":
            self._called_back(event.dialed)
            return []
        tail = number_tail(event.caller)
        if event.disposition == "answered" and tail is not None:
            self._abandoned.pop(tail, None)  # the caller got through on their own
        elif event.disposition == "abandoned" and tail is not None and event.caller:
            self._abandoned.setdefault(
                tail, _Abandoned(event.call_id, event.queue, event.caller, at)
            )
        if event.queue is None or event.disposition not in ("answered", "abandoned"):
            return []
        return self._service_level(event, at)

    def _called_back(self, dialed: str | None) -> None:
        tail = number_tail(dialed)
        if tail is not None:
            self._abandoned.pop(tail, None)

    def _service_level(self, event: CallEnded, at: float) -> list[Alert]:
        assert event.queue is not None
        rules = self.rules.for_queue(event.queue)
        window = self._windows.setdefault(event.queue, _QueueWindow())
        in_time = event.disposition == "answered" and (event.wait_seconds or 0) <= rules.sla_seconds
        window.calls.append((at, in_time))
        while window.calls and window.calls[0][0] < at - rules.sla_window_seconds:
            window.calls.popleft()
        if len(window.calls) < rules.sla_min_calls:
            return []
        percent = 100.0 * sum(1 for _, ok in window.calls if ok) / len(window.calls)
        if percent >= rules.sla_target_percent:
            window.low = False  # re-armed: the next slip is a new alert
            return []
        if window.low:
            return []
        window.low = True
        return [
            Alert(
                key=f"service_level_low:{event.queue}:{int(at)}",
                rule="service_level_low",
                at=at,
                queue=event.queue,
                subject=event.queue,
                value=round(percent, 1),
                threshold=rules.sla_target_percent,
            )
        ]

    def _ring_out(self, agent: str, queue: str | None, call_id: str, at: float) -> list[Alert]:
        rules = self.rules.for_queue(queue)
        ring_outs = self._ring_outs.setdefault(agent, _RingOuts())
        ring_outs.times.append(at)
        while ring_outs.times and ring_outs.times[0] < at - rules.ring_no_answer_window_seconds:
            ring_outs.times.popleft()
        if len(ring_outs.times) < rules.ring_no_answer_count:
            ring_outs.fired = False
            return []
        if ring_outs.fired:
            return []
        ring_outs.fired = True
        return [
            Alert(
                key=f"ring_no_answer:{agent}:{int(at)}",
                rule="ring_no_answer",
                at=at,
                queue=queue,
                agent=agent,
                call_id=call_id,
                subject=agent,
                value=float(len(ring_outs.times)),
                threshold=float(rules.ring_no_answer_count),
            )
        ]


@dataclass(slots=True)
class AlertBatcher:
    """Groups alerts for e-mail and webhooks so that many at once make one message, not a storm.

    An alert waits at most ``window_seconds`` for others to join it; batches
    leave at least ``min_interval_seconds`` apart, and what arrives meanwhile
    waits for the next one. A batch carries at most ``max_batch`` alerts; the
    rest go in the following batches, in order. Pure: the caller passes the time.
    """

    window_seconds: float = 5.0
    min_interval_seconds: float = 60.0
    max_batch: int = 50
    _pending: deque[Alert] = field(default_factory=deque)
    _first_at: float | None = None
    _last_sent: float | None = None

    def add(self, alert: Alert, now: float) -> None:
        """Queue one alert for the next batch."""
        if not self._pending:
            self._first_at = now
        self._pending.append(alert)

    def next_due(self) -> float | None:
        """When the next batch may leave; None when nothing waits."""
        if not self._pending or self._first_at is None:
            return None
        due = self._first_at + self.window_seconds
        if self._last_sent is not None:
            due = max(due, self._last_sent + self.min_interval_seconds)
        return due

    def take(self, now: float) -> list[Alert]:
        """The batch to send now, or ``[]`` when it is not yet time."""
        due = self.next_due()
        if due is None or now < due:
            return []
        batch = [self._pending.popleft() for _ in range(min(self.max_batch, len(self._pending)))]
        self._last_sent = now
        self._first_at = now if self._pending else None
        return batch

    @property
    def pending(self) -> int:
        """Alerts waiting for a batch."""
        return len(self._pending)
