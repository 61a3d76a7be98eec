"""What the panel server needs from the rest of the hub, as interfaces.

The daemon wires real implementations (the AMI link for :class:`PbxActions`,
``crm_sync`` for the others: :mod:`ctihub.panel_backend`); tests about the
server alone and the benchmark use the in-memory stand-ins in
``tests/popup_server/memory_backend.py``. Every value crossing these
interfaces is JSON-ready (dicts of str/int/float/bool/None, ISO dates).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


class PbxActionError(Exception):
    """The PBX refused or did not answer an action; the message says which and why."""


class PbxActions(Protocol):
    """Actions an agent triggers from the panel, always on their own extension."""

    async def originate(self, extension: str, number: str) -> None:
        """Ring ``extension`` and, once answered, dial ``number`` (click-to-call)."""
        ...

    async def queue_pause(
        self, extension: str, paused: bool, reason: str | None, queue: str | None = None
    ) -> None:
        """Pause or unpause ``extension`` in ``queue`` (every queue when None)."""
        ...


class CrmError(Exception):
    """A CRM request was refused (unknown case, bad input); the message is shown to the agent."""


class Phonebook(Protocol):
    """Customer search for click-to-call."""

    async def search(self, query: str, limit: int) -> list[dict[str, Any]]:
        """Entries ``{customer_id, name, company, vip, numbers: [{raw, e164, kind}]}``."""
        ...


class CaseDesk(Protocol):
    """Case files and wrap-up, as the agent works a call."""

    async def open_case(
        self, *, customer_id: int | None, subject: str, call_id: str | None, agent_user_id: int
    ) -> dict[str, Any]:
        """Open a case: ``{id, tracking_code, subject, status, due_at}``."""
        ...

    async def find_case(self, tracking_code: str) -> dict[str, Any] | None:
        """The case with this tracking code, or None."""
        ...

    async def wrap_up(
        self,
        *,
        call_id: str,
        customer_id: int | None,
        case_id: int | None,
        agent_user_id: int,
        note: str,
        disposition: str | None,
    ) -> dict[str, Any]:
        """Record the agent's note and disposition code for a call: ``{id}``."""
        ...


class CallHistory(Protocol):
    """Calls already logged."""

    async def today(
        self, extensions: tuple[str, ...], limit: int, since: dt.datetime
    ) -> list[dict[str, Any]]:
        """Calls since ``since`` (the agent's local midnight) of ``extensions``, newest first."""
        ...


class DayFigures(Protocol):
    """A day's figures per queue and per agent, from the call log (the wallboard's start)."""

    async def day_figures(self, since: dt.datetime, sla_seconds: int) -> dict[str, Any]:
        """Calls started at or after ``since``: ``{"queues": [...], "agents": [...]}``.

        Computed by :func:`popup_server.call_figures.day_figures`; no customer data.
        """
        ...


DISPOSITIONS: tuple[str, ...] = (
    "resolved",
    "callback",
    "escalated",
    "information",
    "sale",
    "complaint",
    "wrong_number",
)
"""Disposition codes the panel offers at wrap-up."""


class HubStatus(Protocol):
    """The hub's own health, for supervisors and admins (``GET /api/v1/status``)."""

    def status(self) -> dict[str, Any]:
        """JSON-ready: this node, the PBX link, the bus. No customer data."""


@dataclass(frozen=True, slots=True)
class AudioFile:
    """A recording file to send a browser, and its Content-Type."""

    path: Path
    media_type: str


class RecordingUnavailable(Exception):
    """The recording cannot be served (not on disk, outside the allowed roots); says why."""


@dataclass(frozen=True, slots=True)
class CallRecording:
    """A logged call's recording, as the PBX named it, and the extensions that were on the call."""

    call_id: str
    file: str
    extensions: frozenset[str]
    """Answered, rang or took a transfer: who, besides supervisors, may play it."""


class Recordings(Protocol):
    """Calls' recordings (``GET /api/v1/calls/{call_id}/recording``); values are files, not JSON."""

    async def find(self, call_id: str) -> CallRecording | None:
        """The call's recording; None for an unknown call or one without a recording."""
        ...

    async def for_browser(self, recording: CallRecording, *, original: bool) -> AudioFile:
        """The file to send: a smaller copy when configured, unless ``original``.

        Raises :class:`RecordingUnavailable` (not on disk, refused).
        """
        ...
