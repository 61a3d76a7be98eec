"""The audit log: every change an admin or supervisor makes, who, when, before and after.

One call records a change: ``await audit.record(actor, action, target,
before, after)``. Services that change data in a session write the entry in
the same transaction with :func:`record_in`, so a change is never without its
entry, nor an entry without its change. Secrets (passwords, token hashes)
never go in: callers pass what an auditor may read.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_sync.csv_export import spreadsheet_safe
from crm_sync.db import Database
from crm_sync.models import AuditEntry, utcnow

_MAX_STATE_BYTES = 16_384
"""A before/after state larger than this is cut (and says so): the log is not a backup."""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One entry of the audit log, as read back."""

    id: int
    at: dt.datetime
    actor: str
    action: str
    target: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    def json(self) -> dict[str, Any]:
        """The JSON form (``at`` in ISO 8601 UTC)."""
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "before": self.before,
            "after": self.after,
        }


def _state(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    state = json.loads(json.dumps(dict(value), default=str))
    if len(json.dumps(state)) > _MAX_STATE_BYTES:
        return {"truncated": True, "keys": sorted(state)[:100]}
    return state  # type: ignore[no-any-return]


def record_in(
    session: AsyncSession,
    actor: str,
    action: str,
    target: str,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> None:
    """Add an entry to ``session``; it is written by the caller's commit, with the change."""
    session.add(
        AuditEntry(
            at=utcnow(),
            actor=actor[:100],
            action=action[:64],
            target=target[:200],
            before=_state(before),
            after=_state(after),
        )
    )


class AuditLog:
    """Writes and reads the audit log (``audit_log`` table)."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def record(
        self,
        actor: str,
        action: str,
        target: str,
        before: Mapping[str, Any] | None = None,
        after: Mapping[str, Any] | None = None,
    ) -> None:
        """Write one entry now (for changes made outside this database, e.g. a PBX action)."""
        async with self._db.sessions() as session:
            record_in(session, actor, action, target, before, after)
            await session.commit()

    async def entries(
        self,
        *,
        limit: int = 100,
        before_id: int | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: dt.datetime | None = None,
    ) -> list[AuditRecord]:
        """Newest first; ``before_id`` pages back, the other filters narrow."""
        query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        if before_id is not None:
            query = query.where(AuditEntry.id < before_id)
        if actor:
            query = query.where(AuditEntry.actor == actor)
        if action:
            query = query.where(AuditEntry.action.startswith(action, autoescape=True))
        if since is not None:
            query = query.where(AuditEntry.at >= since)
        async with self._db.sessions() as session:
            rows = (await session.scalars(query)).all()
        return [
            AuditRecord(r.id, r.at, r.actor, r.action, r.target, r.before, r.after) for r in rows
        ]


CSV_COLUMNS: Sequence[str] = ("id", "at", "actor", "action", "target", "before", "after")


def write_csv(records: Sequence[AuditRecord], out: TextIO) -> None:
    """The entries as CSV; cells a spreadsheet would run as a formula are quoted with ``'``."""
    # CRLF rows, as the CSV export writes them: a lone CR inside a cell is then quoted.
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for r in records:
        row = [
            str(r.id),
            r.at.isoformat(),
            r.actor,
            r.action,
            r.target,
            json.dumps(r.before, ensure_ascii=False) if r.before is not None else "",
            json.dumps(r.after, ensure_ascii=False) if r.after is not None else "",
        ]
        writer.writerow([spreadsheet_safe(cell) for cell in row])
