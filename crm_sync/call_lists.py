"""Call lists: customers a supervisor wants called, worked by agents one preview at a time.

A list is loaded from a CRM filter (contracts ending within N days, open
cases older than N days) or from CSV (a ``ref`` or ``phone`` column, with
optional ``name`` and ``reason``), and assigned round-robin to named agents
or to a queue (any of its agents takes the next entry). Do-not-call
customers are left out when loading. An agent asks for the next entry
(preview: who, why, which number), dials it with one click (the attempt is
shared with callbacks, ``crm_sync/callbacks.py``), then records the outcome,
which becomes a note with that disposition on the customer.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import and_, func, or_, select

from crm_sync.callbacks import CallbackService, CallRefused, DialTarget
from crm_sync.db import Database
from crm_sync.matching import CallerDirectory
from crm_sync.models import (
    OPEN_CASE_STATUSES,
    Agent,
    CallAttempt,
    CallList,
    CallListEntry,
    Case,
    Contract,
    Customer,
    Note,
)
from cti.alerts import number_tail

log = logging.getLogger(__name__)

ListSource = Literal["csv", "contracts_expiring", "open_cases"]
MAX_CSV_ROWS = 10_000
NOT_REACHED = "not_reached"
"""Outcome meaning "try again later": the entry goes back on the list."""


class CallListError(Exception):
    """A list cannot be loaded as asked (unknown agent, bad CSV header); says which."""


@dataclass(slots=True)
class _Row:
    customer_id: int | None
    name: str
    number: str
    reason: str | None


@dataclass(slots=True)
class LoadReport:
    """What loading a list did."""

    list_id: int
    entries: int
    skipped: list[dict[str, Any]] = field(default_factory=list)
    """``{"line": n, "error": "..."}`` for CSV rows that could not be used."""
    do_not_call: int = 0


class CallListService:
    """Loads, hands out and tracks call lists."""

    def __init__(
        self, database: Database, directory: CallerDirectory, callbacks: CallbackService
    ) -> None:
        self._db = database
        self._directory = directory
        self._callbacks = callbacks

    async def load(
        self,
        *,
        name: str,
        source: ListSource,
        days: int = 30,
        csv_text: str = "",
        agents: tuple[str, ...] = (),
        queue: str | None = None,
        created_by: int | None = None,
    ) -> LoadReport:
        """Build a list from its source and assign it; raises :class:`CallListError`."""
        skipped: list[dict[str, Any]] = []
        if source == "contracts_expiring":
            rows = await self._contracts_expiring(days)
        elif source == "open_cases":
            rows = await self._open_cases(days)
        else:
            rows = await self._from_csv(csv_text, skipped)
        async with self._db.sessions() as session:
            agent_ids: list[int] = []
            for username in agents:
                agent_id = await session.scalar(
                    select(Agent.id).where(Agent.username == username, Agent.active.is_(True))
                )
                if agent_id is None:
                    raise CallListError(f"agents: no active user {username!r}")
                agent_ids.append(agent_id)
            ids = {r.customer_id for r in rows if r.customer_id is not None}
            blocked = set(
                (
                    await session.scalars(
                        select(Customer.id).where(Customer.id.in_(ids), Customer.do_not_call)
                    )
                ).all()
            )
            kept = [r for r in rows if r.customer_id not in blocked]
            call_list = CallList(
                name=name, source=source, queue=queue, created_by_agent_id=created_by
            )
            session.add(call_list)
            await session.flush()
            for index, row in enumerate(kept):
                session.add(
                    CallListEntry(
                        list_id=call_list.id,
                        customer_id=row.customer_id,
                        name=row.name[:200],
                        number=row.number[:64],
                        reason=(row.reason or "")[:300] or None,
                        assigned_agent_id=agent_ids[index % len(agent_ids)] if agent_ids else None,
                    )
                )
            await session.commit()
            list_id = call_list.id
        log.info(
            "call list loaded id=%s source=%s entries=%d do_not_call=%d",
            list_id,
            source,
            len(kept),
            len(rows) - len(kept),
        )
        return LoadReport(list_id, len(kept), skipped, len(rows) - len(kept))

    async def _contracts_expiring(self, days: int) -> list[_Row]:
        today = dt.date.today()
        async with self._db.sessions() as session:
            found = (
                await session.execute(
                    select(Customer, Contract)
                    .join(Contract, Contract.customer_id == Customer.id)
                    .where(
                        Contract.ends_on >= today, Contract.ends_on <= today + dt.timedelta(days)
                    )
                    .order_by(Contract.ends_on, Customer.name)
                )
            ).all()
        return [
            _Row(c.id, c.name, c.phones[0].raw, f"{k.plan}: ends {k.ends_on:%Y-%m-%d}")
            for c, k in found
            if c.phones
        ]

    async def _open_cases(self, days: int) -> list[_Row]:
        before = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
        async with self._db.sessions() as session:
            found = (
                await session.execute(
                    select(Customer, Case)
                    .join(Case, Case.customer_id == Customer.id)
                    .where(Case.status.in_(OPEN_CASE_STATUSES), Case.opened_at <= before)
                    .order_by(Case.opened_at)
                )
            ).all()
        return [
            _Row(c.id, c.name, c.phones[0].raw, f"{k.tracking_code}: {k.subject}")
            for c, k in found
            if c.phones
        ]

    async def _from_csv(self, text: str, skipped: list[dict[str, Any]]) -> list[_Row]:
        reader = csv.DictReader(io.StringIO(text))
        columns = {c.strip().lower() for c in reader.fieldnames or ()}
        if not columns & {"ref", "phone"}:
            raise CallListError("csv: the header needs a 'ref' or a 'phone' column")
        rows: list[_Row] = []
        for line, raw in enumerate(reader, start=2):
            if line - 1 > MAX_CSV_ROWS:
                raise CallListError(f"csv: at most {MAX_CSV_ROWS} rows")
            record = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
            row = await self._csv_row(record)
            if isinstance(row, str):
                skipped.append({"line": line, "error": row})
            else:
                rows.append(row)
        return rows

    async def _csv_row(self, record: dict[str, str]) -> _Row | str:
        reason = record.get("reason") or None
        if record.get("ref"):
            async with self._db.sessions() as session:
                customer = await session.scalar(
                    select(Customer).where(Customer.ref == record["ref"])
                )
            if customer is None:
                return f"no customer with ref {record['ref']!r}"
            number = record.get("phone") or (customer.phones[0].raw if customer.phones else "")
            if number_tail(number) is None:
                return f"customer {record['ref']!r} has no number"
            return _Row(customer.id, record.get("name") or customer.name, number, reason)
        number = record.get("phone", "")
        match = await self._directory.lookup(number)
        if match.number.e164 is None:
            return f"phone {number!r} is not a dialable number"
        best = match.best
        name = record.get("name") or (best.name if best is not None else number)
        return _Row(best.id if best is not None else None, name, number, reason)

    # ---- agents --------------------------------------------------------------

    def _visible(self, user_id: int, queues: tuple[str, ...]) -> Any:
        return or_(
            CallListEntry.assigned_agent_id == user_id,
            and_(CallListEntry.assigned_agent_id.is_(None), CallList.queue.in_(queues)),
        )

    async def next_entry(self, user_id: int, queues: tuple[str, ...]) -> dict[str, Any] | None:
        """The entry this agent is calling (until its outcome is recorded), else the next one
        they may call now (preview), or None."""
        async with self._db.sessions() as session:
            rows = (
                await session.execute(
                    select(CallListEntry, CallList.name, Customer)
                    .join(CallList, CallList.id == CallListEntry.list_id)
                    .outerjoin(Customer, Customer.id == CallListEntry.customer_id)
                    .where(
                        CallList.closed_at.is_(None),
                        or_(
                            CallListEntry.status == "pending",
                            and_(
                                CallListEntry.status == "dialing",
                                CallListEntry.assigned_agent_id == user_id,
                            ),
                        ),
                        self._visible(user_id, queues),
                    )
                    # The call in hand first, then the least tried.
                    .order_by(
                        (CallListEntry.status == "dialing").desc(),
                        CallListEntry.attempts,
                        CallListEntry.id,
                    )
                    .limit(100)
                )
            ).all()
        for entry, list_name, customer in rows:
            # Customers' hours are in local time, so they are read here, not in SQL.
            if entry.status == "dialing" or self._callbacks.callable_now(customer):
                return {
                    "id": entry.id,
                    "list_id": entry.list_id,
                    "list_name": list_name,
                    "customer_id": entry.customer_id,
                    "name": entry.name,
                    "number": entry.number,
                    "reason": entry.reason,
                    "attempts": entry.attempts,
                    "dialing": entry.status == "dialing",
                }
        return None

    async def start_entry(
        self, entry_id: int, user_id: int, extension: str, queues: tuple[str, ...]
    ) -> DialTarget:
        """Count an attempt on a pending entry of this agent's; raises :class:`CallRefused`."""
        async with self._db.sessions() as session:
            row = (
                await session.execute(
                    select(CallListEntry, Customer)
                    .join(CallList, CallList.id == CallListEntry.list_id)
                    .outerjoin(Customer, Customer.id == CallListEntry.customer_id)
                    .where(CallListEntry.id == entry_id, self._visible(user_id, queues))
                )
            ).first()
            if row is None:
                raise CallRefused("not_found", f"no list entry {entry_id} of yours")
            entry, customer = row
            if entry.status not in ("pending", "dialing"):
                raise CallRefused("closed", f"list entry {entry_id} is {entry.status}")
            if customer is not None and customer.do_not_call:
                raise CallRefused("do_not_call", "the customer asked not to be called")
            if not self._callbacks.callable_now(customer):
                raise CallRefused("not_now", "outside the customer's hours to be called")
            entry.status = "dialing"
            entry.attempts += 1
            entry.assigned_agent_id = user_id  # whoever dials it owns its outcome
            attempt = CallAttempt(
                entry_id=entry.id,
                agent_id=user_id,
                extension=extension,
                number_tail=number_tail(entry.number) or entry.number[-8:],
            )
            session.add(attempt)
            await session.commit()
            return DialTarget(attempt.id, entry.number)

    async def record_outcome(
        self, entry_id: int, user_id: int, outcome: str, note: str
    ) -> dict[str, Any]:
        """The agent's outcome for an entry they dialled; a note on the customer keeps it."""
        async with self._db.sessions() as session:
            entry = await session.get(CallListEntry, entry_id)
            if entry is None or entry.assigned_agent_id != user_id:
                raise CallRefused("not_found", f"no list entry {entry_id} of yours")
            if entry.status not in ("dialing", "pending"):
                raise CallRefused("closed", f"list entry {entry_id} is {entry.status}")
            entry.outcome = outcome
            entry.status = "pending" if outcome == NOT_REACHED else "done"
            if entry.customer_id is not None:
                list_name = await session.scalar(
                    select(CallList.name).where(CallList.id == entry.list_id)
                )
                session.add(
                    Note(
                        customer_id=entry.customer_id,
                        author_agent_id=user_id,
                        body=f"[{list_name}] {note}".strip(),
                        disposition=outcome,
                    )
                )
            await session.commit()
            return {"id": entry.id, "status": entry.status, "outcome": entry.outcome}

    # ---- supervisors ---------------------------------------------------------

    async def progress(self) -> list[dict[str, Any]]:
        """Every list with its entries per status and per outcome, newest list first."""
        async with self._db.sessions() as session:
            lists = (
                await session.scalars(select(CallList).order_by(CallList.created_at.desc()))
            ).all()
            counts = (
                await session.execute(
                    select(
                        CallListEntry.list_id,
                        CallListEntry.status,
                        CallListEntry.outcome,
                        func.count(),
                        func.sum(CallListEntry.attempts),
                    ).group_by(CallListEntry.list_id, CallListEntry.status, CallListEntry.outcome)
                )
            ).all()
        totals: dict[int, int] = {cl.id: 0 for cl in lists}
        tries: dict[int, int] = {cl.id: 0 for cl in lists}
        statuses: dict[int, dict[str, int]] = {
            cl.id: {"pending": 0, "dialing": 0, "done": 0, "skipped": 0} for cl in lists
        }
        outcomes: dict[int, dict[str, int]] = {cl.id: {} for cl in lists}
        for list_id, status, outcome, count, attempts in counts:
            totals[list_id] += count
            tries[list_id] += int(attempts or 0)
            statuses[list_id][status] += count
            if outcome is not None:
                outcomes[list_id][outcome] = outcomes[list_id].get(outcome, 0) + count
        return [
            {
                "id": cl.id,
                "name": cl.name,
                "source": cl.source,
                "queue": cl.queue,
                "created_at": cl.created_at,
                "total": totals[cl.id],
                "attempts": tries[cl.id],
                "statuses": statuses[cl.id],
                "outcomes": outcomes[cl.id],
            }
            for cl in lists
        ]


__all__ = ["NOT_REACHED", "CallListError", "CallListService", "LoadReport"]
