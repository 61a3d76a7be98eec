"""The call log: every CallEnded becomes exactly one call record, even across outages.

Writing is an upsert keyed on the call id (``INSERT … ON CONFLICT DO
NOTHING``), so delivering an event twice is harmless. When the database is
unreachable the event goes to a durable JSONL spool and a background task
replays it once the database answers again: at-least-once delivery plus a
dedupe key gives exactly-once records.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import func, select, update
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

# Errors that mean "the database is not there right now", as opposed to bad data.
_TRANSIENT = (SQLAlchemyError, OSError, TimeoutError, ConnectionError)


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
        """Record every CallEnded from a bus subscription until it ends or is cancelled."""
        async for delivery in subscription:
            if isinstance(delivery.event, CallEnded):
                await self.handle(delivery.event)

    async def handle(self, event: CallEnded) -> WriteOutcome:
        """Record ``event``; never raises for database trouble (the event is spooled).

        ``rejected``: the database refused the row itself (bad data); it is kept in
        ``call_records.rejected.jsonl`` beside the spool for a human to look at.
        """
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
        """Write every spooled event now; returns how many were handled (raises if the DB fails)."""

        async def write_one(record: dict[str, Any]) -> None:
            try:
                event = event_from_dict(record)
            except (ValueError, KeyError, TypeError) as exc:
                log.error("spooled record unreadable, moved to rejected: %s", exc)
                await self.rejected.append(record)
                return
            if not isinstance(event, CallEnded):
                log.error("spool holds a %s, not call_ended; moved to rejected", event.type)
                await self.rejected.append(record)
                return
            try:
                await asyncio.wait_for(self.write(event), self._write_timeout)
            except _BadRow as exc:
                log.error("spooled call rejected call_id=%s error=%s", event.call_id, exc)
                log.debug(
                    "spooled call rejected call_id=%s detail=%s", event.call_id, exc.__cause__
                )
                await self.rejected.append(record)

        return await self.spool.drain(write_one)

    async def write(self, event: CallEnded) -> bool:
        """Upsert the record of ``event``; True if it was new, False if already there."""
        try:
            return await self._write(event)
        except SQLAlchemyError as exc:
            if _refused_row(exc):
                raise _BadRow(type(exc).__name__) from exc
            raise

    async def _write(self, event: CallEnded) -> bool:
        customer_id = await self._customer_for(event)
        async with self._db.engine.begin() as connection:
            case_id, case_customer = await self._case_for(connection, event)
            if customer_id is None:
                customer_id = case_customer
            values = record_values(event, customer_id, case_id)
            insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
            statement = (
                insert(CallRecord).values(values).on_conflict_do_nothing(index_elements=["call_id"])
            )
            result = await connection.execute(statement)
            inserted = bool(result.rowcount)
            if inserted and customer_id is not None:
                activity = values["ended_at"] or values["started_at"] or dt.datetime.now(dt.UTC)
                await connection.execute(
                    update(Customer)
                    .where(Customer.id == customer_id)
                    .where(
                        (Customer.last_activity_at.is_(None))
                        | (Customer.last_activity_at < activity)
                    )
                    .values(last_activity_at=activity)
                )
        if inserted:
            log.info(
                "call recorded call_id=%s disposition=%s customer_id=%s case_id=%s",
                event.call_id,
                event.disposition,
                customer_id,
                case_id,
            )
            if customer_id is not None:
                self._db.notify(Changes(customer_ids=frozenset({customer_id})))
            if self._connector is not None:
                payload = {**event.to_dict(), "customer_id": customer_id, "case_id": case_id}
                task = asyncio.create_task(self._connector.push_call(payload))
                self._pushes.add(task)
                task.add_done_callback(self._pushes.discard)
        return inserted

    async def count(self) -> int:
        """How many call records the database holds."""
        async with self._db.engine.connect() as connection:
            return int(await connection.scalar(select(func.count()).select_from(CallRecord)) or 0)

    async def _customer_for(self, event: CallEnded) -> int | None:
        number = event.dialed if event.direction == "outbound" else event.caller
        if event.direction == "internal" or not number:
            return None
        match = await self._directory.lookup(number)
        return match.best.id if match.best else None

    async def _case_for(
        self, connection: AsyncConnection, event: CallEnded
    ) -> tuple[int | None, int | None]:
        code = dict(event.variables).get(self._config.case_variable)
        if code is None and event.ivr_input:
            code = event.ivr_input
        if not code or not is_well_formed(code, self._config.tracking_code_length):
            return None, None
        row = (
            await connection.execute(
                select(Case.id, Case.customer_id).where(Case.tracking_code == code)
            )
        ).first()
        return (row[0], row[1]) if row else (None, None)

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
