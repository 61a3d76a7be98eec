"""A day's queue and agent figures, computed from logged calls.

Both figure backends (memory and ``crm_sync``) feed this one function, so the
numbers mean the same everywhere:

- ``offered``: calls that entered the queue; ``answered`` / ``abandoned`` by disposition
  (busy, failed or missed calls are offered but neither).
- ``answered_in_sla``: answered after waiting at most ``sla_seconds``;
  ``sla_percent`` is that over ``offered`` (an abandoned call misses the target).
- ``abandon_percent``: ``abandoned`` over ``offered``.
- ``avg_wait_seconds``: mean wait of answered calls (speed of answer);
  ``avg_talk_seconds``: mean talk time of answered calls.

Agents are the answering extension of any call, queued or direct.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class LoggedCall:
    """The few facts of one logged call the figures need."""

    queue: str | None
    agent: str | None
    disposition: str
    wait_seconds: int | None
    talk_seconds: int | None


@dataclass(slots=True)
class _Tally:
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    answered_in_sla: int = 0
    waits: list[int] = field(default_factory=list)
    talks: list[int] = field(default_factory=list)


def _mean(values: list[int]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


@dataclass(frozen=True, slots=True)
class QueueFigures:
    """One queue's day (see the module's docstring for what each figure counts)."""

    queue: str
    offered: int
    answered: int
    abandoned: int
    answered_in_sla: int
    sla_percent: float | None
    abandon_percent: float | None
    avg_wait_seconds: float | None
    avg_talk_seconds: float | None


@dataclass(frozen=True, slots=True)
class AgentFigures:
    """One answering extension's day."""

    agent: str
    answered: int
    talk_seconds: int
    avg_talk_seconds: float | None


@dataclass(frozen=True, slots=True)
class Figures:
    """A day's figures, queues and agents each sorted by name."""

    queues: tuple[QueueFigures, ...]
    agents: tuple[AgentFigures, ...]


def day_figures(calls: Iterable[LoggedCall], sla_seconds: int) -> Figures:
    """The figures of ``calls`` per queue and per answering agent."""
    queues: dict[str, _Tally] = {}
    agents: dict[str, _Tally] = {}
    for call in calls:
        answered = call.disposition == "answered"
        if call.queue:
            tally = queues.setdefault(call.queue, _Tally())
            tally.offered += 1
            tally.abandoned += call.disposition == "abandoned"
            if answered:
                tally.answered += 1
                wait = call.wait_seconds or 0
                tally.answered_in_sla += wait <= sla_seconds
                tally.waits.append(wait)
                if call.talk_seconds is not None:
                    tally.talks.append(call.talk_seconds)
        if answered and call.agent:
            mine = agents.setdefault(call.agent, _Tally())
            mine.answered += 1
            if call.talk_seconds is not None:
                mine.talks.append(call.talk_seconds)
    return Figures(
        queues=tuple(
            QueueFigures(
                queue=name,
                offered=t.offered,
                answered=t.answered,
                abandoned=t.abandoned,
                answered_in_sla=t.answered_in_sla,
                sla_percent=_percent(t.answered_in_sla, t.offered),
                abandon_percent=_percent(t.abandoned, t.offered),
                avg_wait_seconds=_mean(t.waits),
                avg_talk_seconds=_mean(t.talks),
            )
            for name, t in sorted(queues.items())
        ),
        agents=tuple(
            AgentFigures(
                agent=extension,
                answered=t.answered,
                talk_seconds=sum(t.talks),
                avg_talk_seconds=_mean(t.talks),
            )
            for extension, t in sorted(agents.items())
        ),
    )
