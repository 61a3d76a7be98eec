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
from typing import Any


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


def day_figures(calls: Iterable[LoggedCall], sla_seconds: int) -> dict[str, Any]:
    """``{"queues": [...], "agents": [...]}``, each sorted by name; JSON-ready."""
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
    return {
        "queues": [
            {
                "queue": name,
                "offered": t.offered,
                "answered": t.answered,
                "abandoned": t.abandoned,
                "answered_in_sla": t.answered_in_sla,
                "sla_percent": _percent(t.answered_in_sla, t.offered),
                "abandon_percent": _percent(t.abandoned, t.offered),
                "avg_wait_seconds": _mean(t.waits),
                "avg_talk_seconds": _mean(t.talks),
            }
            for name, t in sorted(queues.items())
        ],
        "agents": [
            {
                "agent": extension,
                "answered": t.answered,
                "talk_seconds": sum(t.talks),
                "avg_talk_seconds": _mean(t.talks),
            }
            for extension, t in sorted(agents.items())
        ],
    }
