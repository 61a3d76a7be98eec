"""Call-center figures, defined once: the live board and the reports both use these.

The definitions are those Cisco publishes for Unified Contact Center
Enterprise (UCCE) / Unified ICM reporting ("Reporting Concepts for Cisco
Unified ICM/Contact Center Enterprise", *Service level* and *Short calls*):

- **offered**: calls that entered a queue, minus *short abandons* (callers who
  hung up after waiting less than the queue's abandon wait time, Cisco's
  "Abandon Wait Time"); short abandons are counted apart.
- **service level** (answered within each queue's threshold), with the
  service-level type chosen in configuration, as UCCE offers it:
  ``abandoned_ignored`` (the default): answered in threshold /
  (offered − abandoned in threshold); ``abandoned_negative``: answered in
  threshold / offered; ``abandoned_positive``: (answered in threshold +
  abandoned in threshold) / offered. Calls neither answered nor abandoned
  (ring-no-answer, busy, failed) stay in the denominator: they passed the
  threshold unanswered.
- **ASA** (average speed of answer): the queue wait of answered calls over
  the calls answered.
- **AHT** (average handle time): talk + hold + wrap-up of handled calls, over
  the calls handled (answered calls whose talk time is known). The call log's
  talk time runs from answer to hang-up, hold included; wrap-up is the time
  from hang-up to the agent's wrap-up note.
- **time to abandon**: the mean wait of (non-short) abandoned calls.
- **abandon rate**: abandoned / offered.

A :class:`Tally` holds only sums and counts, so the database can produce the
same numbers with ``SUM``/``COUNT``/``MAX`` over millions of calls and merge
them (rollups, per interval); :func:`figures_of` turns any tally into the
figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Literal

ServiceLevelType = Literal["abandoned_ignored", "abandoned_negative", "abandoned_positive"]
SERVICE_LEVEL_TYPES: tuple[ServiceLevelType, ...] = (
    "abandoned_ignored",
    "abandoned_negative",
    "abandoned_positive",
)

STANDARD = "Cisco Unified CCE service level, short calls, ASA and AHT"
"""The named standard the figures follow (shown on the reports page and in docs)."""


@dataclass(frozen=True, slots=True)
class QueueTargets:
    """One queue's service-level threshold and the targets it is judged by."""

    threshold_seconds: int = 20
    """Answered within this many seconds of queueing: in service level."""
    target_percent: float = 80.0
    """The service level a queue should reach."""
    short_abandon_seconds: int = 5
    """Callers hanging up before this many seconds are short abandons, not offered calls."""
    max_wait_seconds: int = 60
    """A waiting caller past this many seconds is flagged on the live board."""


@dataclass(frozen=True, slots=True)
class TargetBook:
    """Every queue's targets: its own where set, else the defaults."""

    default: QueueTargets = QueueTargets()
    per_queue: Mapping[str, QueueTargets] = field(default_factory=dict)

    def of(self, queue: str | None) -> QueueTargets:
        """``queue``'s targets."""
        return self.per_queue.get(queue, self.default) if queue else self.default


@dataclass(frozen=True, slots=True)
class CallFacts:
    """The few facts of one call the figures count."""

    queue: str | None
    agent: str | None
    direction: str
    disposition: str
    wait_seconds: int | None
    talk_seconds: int | None
    wrapup_seconds: int = 0
    transfers: int = 0


@dataclass(slots=True)
class Tally:
    """Sums and counts over calls, for one group (queue, agent, day, interval...)."""

    calls: int = 0
    offered: int = 0
    answered: int = 0
    """Queue calls answered."""
    direct_answered: int = 0
    """Inbound or internal calls answered without a queue."""
    abandoned: int = 0
    short_abandoned: int = 0
    answered_in_threshold: int = 0
    abandoned_in_threshold: int = 0
    answer_wait_sum: int = 0
    abandon_wait_sum: int = 0
    handled: int = 0
    handle_sum: int = 0
    """talk + hold + wrap-up of the handled calls (``talk_seconds`` runs from answer to
    hang-up, so it holds the hold time already)."""
    talk_sum: int = 0
    longest_wait: int = 0
    transfers: int = 0
    outbound: int = 0
    outbound_answered: int = 0

    def add(self, call: CallFacts, targets: QueueTargets) -> None:
        """Count one call under ``targets`` (its queue's)."""
        self.calls += 1
        self.transfers += call.transfers
        wait = call.wait_seconds or 0
        answered = call.disposition == "answered"
        if call.direction == "outbound":
            # Outbound calls and their outcome are counted apart from the inbound figures.
            self.outbound += 1
            self.outbound_answered += answered
            return
        if answered and call.talk_seconds is not None:
            self.handled += 1
            self.talk_sum += call.talk_seconds
            self.handle_sum += call.talk_seconds + call.wrapup_seconds
        if not call.queue:
            self.direct_answered += answered  # straight to an agent: answered, never offered
            return
        if call.disposition == "abandoned" and wait < targets.short_abandon_seconds:
            self.short_abandoned += 1
            return
        self.offered += 1
        self.longest_wait = max(self.longest_wait, wait)
        if answered:
            self.answered += 1
            self.answer_wait_sum += wait
            self.answered_in_threshold += wait <= targets.threshold_seconds
        elif call.disposition == "abandoned":
            self.abandoned += 1
            self.abandon_wait_sum += wait
            self.abandoned_in_threshold += wait <= targets.threshold_seconds

    def merge(self, other: Tally) -> None:
        """Add ``other``'s counts to this one (``longest_wait``: the larger)."""
        for f in fields(self):
            if f.name == "longest_wait":
                self.longest_wait = max(self.longest_wait, other.longest_wait)
            else:
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def copy(self) -> Tally:
        """An independent copy."""
        return Tally(**{f.name: getattr(self, f.name) for f in fields(self)})


@dataclass(frozen=True, slots=True)
class Figures:
    """The figures of one tally; ``None`` where there is nothing to divide by."""

    offered: int
    answered: int
    """Queue calls answered, plus calls answered without a queue (agents' rows)."""
    abandoned: int
    short_abandoned: int
    answered_in_threshold: int
    abandoned_in_threshold: int
    service_level_pct: float | None
    abandon_pct: float | None
    asa_s: float | None
    aht_s: float | None
    avg_talk_s: float | None
    time_to_abandon_s: float | None
    longest_wait_s: int | None
    transfers: int
    handled: int
    outbound: int
    outbound_answered: int


def _ratio(part: float, whole: float, scale: float = 1.0) -> float | None:
    return round(scale * part / whole, 1) if whole > 0 else None


def service_level(tally: Tally, kind: ServiceLevelType) -> float | None:
    """Service level in percent, by the UCCE service-level type ``kind``."""
    num: int = tally.answered_in_threshold
    den: int = tally.offered
    if kind == "abandoned_ignored":
        den -= tally.abandoned_in_threshold
    elif kind == "abandoned_positive":
        num += tally.abandoned_in_threshold
    return _ratio(num, den, 100.0)


def figures_of(tally: Tally, kind: ServiceLevelType = "abandoned_ignored") -> Figures:
    """The figures of ``tally``, rounded to a tenth."""
    return Figures(
        offered=tally.offered,
        answered=tally.answered + tally.direct_answered,
        abandoned=tally.abandoned,
        short_abandoned=tally.short_abandoned,
        answered_in_threshold=tally.answered_in_threshold,
        abandoned_in_threshold=tally.abandoned_in_threshold,
        service_level_pct=service_level(tally, kind),
        abandon_pct=_ratio(tally.abandoned, tally.offered, 100.0),
        asa_s=_ratio(tally.answer_wait_sum, tally.answered),
        aht_s=_ratio(tally.handle_sum, tally.handled),
        avg_talk_s=_ratio(tally.talk_sum, tally.handled),
        time_to_abandon_s=_ratio(tally.abandon_wait_sum, tally.abandoned),
        longest_wait_s=tally.longest_wait if tally.offered else None,
        transfers=tally.transfers,
        handled=tally.handled,
        outbound=tally.outbound,
        outbound_answered=tally.outbound_answered,
    )
