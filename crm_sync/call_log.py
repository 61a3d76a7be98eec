"""The call log: every CallEnded becomes exactly one call record, even across outages.

Writing is an upsert keyed on the call id (``INSERT … ON CONFLICT DO
NOTHING``), so delivering an event twice is harmless. When the database is
unreachable the event goes to a durable JSONL spool and a background task
replays it once the database answers again: at-least-once delivery plus a
dedupe key gives exactly-once records.

A backlog (a burst of calls, the spool after an outage, a node taking over)
is written in batches: what the bus has ready is read without waiting, up
to :data:`BATCH_SIZE` records, and written in one transaction (one
multi-row insert, one case query, one customer update statement), which is
what lets a backlog drain at thousands of records a second instead of one
round trip per call. A batch the database refuses for its data is retried
one record at a time, so one bad row costs only itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from crm_sync.connectors.base import CrmConnector
from crm_sync.db import Changes, Database
from crm_sync.matching import CallerDirectory
from crm_sync.models import CallRecord, Case, Customer
from crm_sync.settings import CrmConfig
from crm_sync.spool import JsonlSpool
from crm_sync.tracking_codes import is_well_formed
from cti.bus import Subscription
from cti.events import CallEnded, event_from_dict

log = logging.getLogger(__name__)

WriteOutcome = Literal["written", "duplicate", "spooled", "rejected"]

BATCH_SIZE = 500
"""Most records per write: 20 columns x 500 rows stays under both databases' bind limits."""

# Errors that mean "the database is not there right now", as opposed to bad data.
_TRANSIENT = (SQLAlchemyError, OSError, TimeoutError, ConnectionError)


class _LookupUnavailable(ConnectionError):
    """The caller lookup's database could not answer; retried like a write."""


class _BadRow(Exception):
    """The database refused the row itself; retrying would fail the same way."""


def _refused_row(exc: SQLAlchemyError) -> bool:
    if isinstance(exc, IntegrityError | DataError):
        return True
    # Drivers do not all map SQLSTATE classes 22 (data) and 23 (integrity) to those types.
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return isinstance(code, str) and code[:2] in ("22", "23")


class CallLogWriter:
    """Consumes CallEnded events and writes call records, spooling through outages.

    Call :meth:`start` before use (it replays what an earlier run spooled and
    keeps draining the spool after outages) and :meth:`stop` on shutdown.
    """

    def __init__(
        self,
        database: Database,
        directory: CallerDirectory,
        config: CrmConfig,
        spool: JsonlSpool | None = None,
        write_timeout: float | None = None,
        connector: CrmConnector | None = None,
    ) -> None:
        self._db = database
        self._directory = directory
        self._config = config
        self.spool = spool or JsonlSpool(Path(config.spool_dir) / "call_records.jsonl")
        self.rejected = JsonlSpool(self.spool.path.with_name("call_records.rejected.jsonl"))
        self._write_timeout = write_timeout or (
            database.config.connect_timeout + database.config.statement_timeout
        )
        self._outage = asyncio.Event()
        self._replay_task: asyncio.Task[None] | None = None
        self._connector = connector
        self._pushes: set[asyncio.Task[bool]] = set()
        self.outcomes: Counter[WriteOutcome] = Counter()
        """How many events ended each way since start (for metrics)."""

    @property
    def spooling(self) -> bool:
        """True while ended calls go to the spool (the database did not answer)."""
        return self._outage.is_set()

    async def start(self) -> None:
        """Start the replay task (and replay what a previous run left in the spool)."""
        if self._replay_task is None:
            if self.spool.pending():
                self._outage.set()
            self._replay_task = asyncio.create_task(self._replay_loop(), name="call-log-replay")

    async def stop(self) -> None:
        """Stop the replay task and finish pending pushes; spooled records stay for next start."""
        if self._replay_task is not None:
            self._replay_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._replay_task
            self._replay_task = None
        if self._pushes:
            # A push that cannot finish ends in the connector's dead-letter spool.
            await asyncio.gather(*self._pushes, return_exceptions=True)

    async def consume(self, subscription: Subscription) -> None:
        """Record every CallEnded from a bus subscription until it ends or is cancelled.

        What the subscription has ready is taken with the event in hand and
        written as one batch; the bus counts the batch processed only once
        it is written (or spooled).
        """
        async for delivery in subscription:
            deliveries = [delivery, *subscription.take_buffered(BATCH_SIZE - 1)]
            events = [d.event for d in deliveries if isinstance(d.event, CallEnded)]
            if len(events) == 1:
                await self.handle(events[0])
            elif events:
                await self.handle_many(events)

    async def handle_many(self, events: Sequence[CallEnded]) -> list[WriteOutcome]:
        """Record ``events`` in one transaction; like :meth:`handle` for each, in order."""
        outcomes = await self._handle_many(events)
        self.outcomes.update(outcomes)
        return outcomes

    async def _handle_many(self, events: Sequence[CallEnded]) -> list[WriteOutcome]:
        if self._outage.is_set():
            await self.spool.append_many([e.to_dict() for e in events])
            return ["spooled"] * len(events)
        try:
            inserted = await asyncio.wait_for(self.write_many(events), self._write_timeout)
        except _BadRow:
            # Find the bad one(s): the others are written one by one.
            return [await self._handle(event) for event in events]
        except _TRANSIENT as exc:
            log.warning(
                "database unreachable, calls spooled calls=%d error=%s",
                len(events),
                type(exc).__name__,
            )
            await self.spool.append_many([e.to_dict() for e in events])
            self._outage.set()
            return ["spooled"] * len(events)
        outcomes: list[WriteOutcome] = []
        for event in events:
            outcomes.append("written" if event.call_id in inserted else "duplicate")
            inserted.discard(event.call_id)  # a call the batch holds twice is new only once
        return outcomes

    async def handle(self, event: CallEnded) -> WriteOutcome:
        """Record ``event``; never raises for database trouble (the event is spooled).

        ``rejected``: the database refused the row itself (bad data); it is kept in
        ``call_records.rejected.jsonl`` beside the spool for a human to look at.
        """
        outcome = await self._handle(event)
        self.outcomes[outcome] += 1
        return outcome

    async def _handle(self, event: CallEnded) -> WriteOutcome:
        if self._outage.is_set():
            # Keep order: while older events wait in the spool, newer ones queue behind them.
            await self.spool.append(event.to_dict())
            return "spooled"
        try:
            inserted = await asyncio.wait_for(self.write(event), self._write_timeout)
        except _BadRow as exc:
            # The message may quote the row (phone numbers): full text at debug level only.
            log.error("call record rejected call_id=%s error=%s", event.call_id, exc)
            log.debug("call record rejected call_id=%s detail=%s", event.call_id, exc.__cause__)
            await self.rejected.append(event.to_dict())
            return "rejected"
        except _TRANSIENT as exc:
            log.warning(
                "database unreachable, call spooled call_id=%s error=%s",
                event.call_id,
                type(exc).__name__,
            )
            await self.spool.append(event.to_dict())
            self._outage.set()
            return "spooled"
        return "written" if inserted else "duplicate"

    async def replay_spool(self) -> int:
        """Write every spooled event now, in batches; how many were handled.

        Raises if the database fails (the rest stays spooled).
        """

        async def write_batch(records: list[dict[str, Any]]) -> None:
            events: list[CallEnded] = []
            for record in records:
                try:
                    event = event_from_dict(record)
                except (ValueError, KeyError, TypeError) as exc:
                    log.error("spooled record unreadable, moved to rejected: %s", exc)
                    await self.rejected.append(record)
                    continue
                if not isinstance(event, CallEnded):
                    log.error("spool holds a %s, not call_ended; moved to rejected", event.type)
                    await self.rejected.append(record)
                    continue
                events.append(event)
            if not events:
                return
            try:
                await asyncio.wait_for(self.write_many(events), self._write_timeout)
            except _BadRow:
                for event in events:
                    await self._replay_one(event)

        return await self.spool.drain_batches(write_batch, BATCH_SIZE)

    async def _replay_one(self, event: CallEnded) -> None:
        try:
            await asyncio.wait_for(self.write(event), self._write_timeout)
        except _BadRow as exc:
            log.error("spooled call rejected call_id=%s error=%s", event.call_id, exc)
            log.debug("spooled call rejected call_id=%s detail=%s", event.call_id, exc.__cause__)
            await self.rejected.append(event.to_dict())

    async def write(self, event: CallEnded) -> bool:
        """Upsert the record of ``event``; True if it was new, False if already there."""
        return event.call_id in await self.write_many([event])

    async def write_many(self, events: Sequence[CallEnded]) -> set[str]:
        """Upsert the records of ``events`` in one transaction; the call ids that were new."""
        try:
            return await self._write_many(events)
        except SQLAlchemyError as exc:
            if _refused_row(exc):
                raise _BadRow(type(exc).__name__) from exc
            raise

    async def _write_many(self, events: Sequence[CallEnded]) -> set[str]:
        unique: dict[str, CallEnded] = {}
        for event in events:
            unique.setdefault(event.call_id, event)
        if not unique:
            return set()
        customers = await self._customers_for(list(unique.values()))
        codes = {call_id: self._case_code(e) for call_id, e in unique.items()}
        rows: list[dict[str, Any]] = []
        async with self._db.engine.begin() as connection:
            cases = await self._cases_by_code(connection, {c for c in codes.values() if c})
            for call_id, event in unique.items():
                case_id, case_customer = cases.get(codes[call_id] or "", (None, None))
                customer_id = customers[call_id]
                if customer_id is None:
                    customer_id = case_customer
                rows.append(record_values(event, customer_id, case_id))
            insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
            table = cast(Table, CallRecord.__table__)
            statement = (
                insert(table)
                .on_conflict_do_nothing(index_elements=["call_id"])
                .returning(table.c.call_id)
            )
            # executemany of one cached statement (SQLAlchemy batches it into multi-row
            # INSERTs itself): compiling a fresh 500-row VALUES each time costs more than
            # the database's work.
            inserted = set((await connection.execute(statement, rows)).scalars())
            activity: dict[int, dt.datetime] = {}
            for row in rows:
                customer_id = row["customer_id"]
                if row["call_id"] in inserted and customer_id is not None:
                    at = row["ended_at"] or row["started_at"] or dt.datetime.now(dt.UTC)
                    activity[customer_id] = max(at, activity.get(customer_id, at))
            if activity:
                await connection.execute(
                    update(Customer)
                    .where(Customer.id == bindparam("customer"))
                    .where(
                        (Customer.last_activity_at.is_(None))
                        | (Customer.last_activity_at < bindparam("at"))
                    )
                    .values(last_activity_at=bindparam("at")),
                    [{"customer": c, "at": at} for c, at in activity.items()],
                )
        for row in rows:
            if row["call_id"] not in inserted:
                continue
            log.info(
                "call recorded call_id=%s disposition=%s customer_id=%s case_id=%s",
                row["call_id"],
                row["disposition"],
                row["customer_id"],
                row["case_id"],
            )
            if self._connector is not None:
                event = unique[row["call_id"]]
                payload = {
                    **event.to_dict(),
                    "customer_id": row["customer_id"],
                    "case_id": row["case_id"],
                }
                task = asyncio.create_task(self._connector.push_call(payload))
                self._pushes.add(task)
                task.add_done_callback(self._pushes.discard)
        if activity:
            self._db.notify(Changes(customer_ids=frozenset(activity)))
        return inserted

    async def last_ended_at(self) -> dt.datetime | None:
        """When the most recent call in the log ended (None: an empty log)."""
        async with self._db.engine.connect() as connection:
            value = await connection.scalar(select(func.max(CallRecord.ended_at)))
        if isinstance(value, str):  # SQLite's MAX() loses the column type
            value = dt.datetime.fromisoformat(value)
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value if isinstance(value, dt.datetime) else None

    async def count(self) -> int:
        """How many call records the database holds."""
        async with self._db.engine.connect() as connection:
            return int(await connection.scalar(select(func.count()).select_from(CallRecord)) or 0)

    async def _customers_for(self, events: list[CallEnded]) -> dict[str, int | None]:
        """Each call's customer, by call id: one batch lookup for the whole batch."""
        numbers = {e.call_id: _customer_number(e) for e in events}
        try:
            best = await self._directory.best_customers({n for n in numbers.values() if n})
        except (SQLAlchemyError, OSError, TimeoutError):
            raise
        except Exception as exc:
            # A driver's own error (asyncpg's connection lost): a read cannot be bad data,
            # so the records wait in the spool rather than go without their customer.
            raise _LookupUnavailable(f"caller lookup failed: {type(exc).__name__}") from exc
        return {call_id: best.get(number or "") for call_id, number in numbers.items()}

    def _case_code(self, event: CallEnded) -> str | None:
        """The call's tracking code (dialplan variable, else IVR input), if well formed."""
        code = dict(event.variables).get(self._config.case_variable)
        if code is None and event.ivr_input:
            code = event.ivr_input
        if not code or not is_well_formed(code, self._config.tracking_code_length):
            return None
        return code

    async def _cases_by_code(
        self, connection: AsyncConnection, codes: set[str]
    ) -> dict[str, tuple[int | None, int | None]]:
        if not codes:
            return {}
        rows = await connection.execute(
            select(Case.tracking_code, Case.id, Case.customer_id).where(
                Case.tracking_code.in_(sorted(codes))
            )
        )
        return {code: (case_id, customer_id) for code, case_id, customer_id in rows}

    async def _replay_loop(self) -> None:
        while True:
            await self._outage.wait()
            try:
                handled = await self.replay_spool()
            except _TRANSIENT as exc:
                log.info("call spool replay waiting for the database error=%s", type(exc).__name__)
                await asyncio.sleep(self._config.spool_retry_interval)
                continue
            except Exception:
                # Never let the replay task die: the spool would silently stop draining.
                log.exception("call spool replay failed; retrying")
                await asyncio.sleep(self._config.spool_retry_interval)
                continue
            if not self.spool.pending():
                self._outage.clear()
            log.info("call spool replayed records=%d", handled)


def _customer_number(event: CallEnded) -> str | None:
    """The customer's side of the call: the caller, or the number dialled out."""
    if event.direction == "internal":
        return None
    return (event.dialed if event.direction == "outbound" else event.caller) or None


def _time(value: float | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(value, dt.UTC) if value is not None else None


def record_values(event: CallEnded, customer_id: int | None, case_id: int | None) -> dict[str, Any]:
    """The call_records row for ``event``."""
    return {
        "call_id": event.call_id,
        "direction": event.direction,
        "caller": event.caller,
        "caller_name": event.caller_name,
        "dialed": event.dialed,
        "queue": event.queue,
        "agent": event.agent,
        "started_at": _time(event.started_at),
        "answered_at": _time(event.answered_at),
        "ended_at": _time(event.ended_at),
        "wait_seconds": event.wait_seconds,
        "talk_seconds": event.talk_seconds,
        "disposition": event.disposition,
        "recording": event.recording,
        "ivr_input": event.ivr_input,
        "hangup_cause": event.hangup_cause,
        "transfer_count": len(event.transfers),
        "details": {
            "agents_rung": list(event.agents_rung),
            "transfers": [t.to_dict() for t in event.transfers],
            "variables": [list(v) for v in event.variables],
            "reconciled": event.reconciled,
        },
        "customer_id": customer_id,
        "case_id": case_id,
        "written_at": dt.datetime.now(dt.UTC),
    }


MAX_WRAPUP = dt.timedelta(minutes=30)
"""A wrap-up note later than this after hang-up counts as this much after-call work."""


async def record_wrap_up(database: Database, record_id: int, at: dt.datetime) -> None:
    """The agent's first wrap-up note after hang-up ends the call's after-call work:
    ``wrapup_seconds`` (part of handle time) is set once, from ``ended_at`` to ``at``."""
    async with database.sessions() as session, session.begin():
        ended = await session.scalar(
            select(CallRecord.ended_at).where(
                CallRecord.id == record_id, CallRecord.wrapup_seconds.is_(None)
            )
        )
        if ended is None or at < ended:
            return
        seconds = round(min(at - ended, MAX_WRAPUP).total_seconds())
        await session.execute(
            update(CallRecord)
            .where(CallRecord.id == record_id, CallRecord.wrapup_seconds.is_(None))
            .values(wrapup_seconds=seconds)
        )
