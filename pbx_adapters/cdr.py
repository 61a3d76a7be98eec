"""The PBX's own record of calls (its CDR database), for the calls the hub did not see end.

When the node holding the AMI link dies, the calls that end before another
node takes over are never seen by any tracker, and the new holder's resync
cannot list them any more. Asterisk has written each of them, leg by leg,
into its CDR table (``asteriskcdrdb.cdr`` on Issabel and FreePBX, written by
``cdr_mysql``/``cdr_adaptive_odbc``; ``cdr_pgsql`` on plain Asterisk). This
module reads the rows of a time window and folds each call's legs (rows
sharing ``linkedid``, the tracker's call id) into one
:class:`~cti.events.CallEnded` marked ``reconciled``; the call log writes
those it does not have yet, once each.

What a CDR can tell is less than the live events: the caller, the number
dialled, the queue (``lastapp`` Queue), the agent who answered and when, how
long they talked, the recording (FreePBX's ``recordingfile`` column), and
not transfers or everyone rung.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine

from cti.events import CallEnded, Direction, Disposition

log = logging.getLogger(__name__)

MAX_ROWS = 100_000
"""Most CDR rows read at once (a day of a busy call center is far less)."""

LONGEST_CALL = dt.timedelta(hours=6)
"""Rows are selected by start time: a call that ended in the window began at most this early."""

_COLUMNS = (
    "calldate, src, dst, dcontext, channel, dstchannel, lastapp, lastdata, "
    "duration, billsec, disposition, uniqueid, linkedid"
)
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$")
_INBOUND_CONTEXTS = ("from-trunk", "from-pstn", "from-did", "ext-did")


class CdrError(Exception):
    """The CDR database could not be read; the message says which and why."""


@dataclass(frozen=True, slots=True)
class CdrRow:
    """One leg of a call as Asterisk wrote it (times timezone-aware)."""

    start: dt.datetime
    src: str
    dst: str
    dcontext: str
    channel: str
    dstchannel: str
    lastapp: str
    lastdata: str
    duration: int
    billsec: int
    disposition: str
    uniqueid: str
    linkedid: str
    recordingfile: str = ""

    @property
    def end(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=self.duration)


def calls_from_rows(rows: Iterable[CdrRow], extension_pattern: str) -> list[CallEnded]:
    """Fold CDR legs into one reconciled ``CallEnded`` per call (``linkedid``), oldest first."""
    extension = re.compile(extension_pattern)
    legs: dict[str, list[CdrRow]] = {}
    for row in rows:
        legs.setdefault(row.linkedid or row.uniqueid, []).append(row)
    calls = [
        _call(call_id, sorted(rs, key=lambda r: r.start), extension) for call_id, rs in legs.items()
    ]
    return sorted(calls, key=lambda c: c.started_at or 0.0)


def _call(call_id: str, legs: Sequence[CdrRow], extension: re.Pattern[str]) -> CallEnded:
    first = next((r for r in legs if r.uniqueid == call_id), legs[0])
    started = min(r.start for r in legs)
    ended = max(r.end for r in legs)
    caller_is_extension = bool(extension.match(first.src))
    dialed = first.dst if first.dst not in ("", "s") else None
    direction: Direction
    if first.dcontext.startswith(_INBOUND_CONTEXTS) or not caller_is_extension:
        direction = "inbound"
    elif dialed is not None and not extension.match(dialed):
        direction = "outbound"
    else:
        direction = "internal"
    queue = next((r.lastdata.split(",")[0] for r in legs if r.lastapp == "Queue"), None)
    rung = [r for r in legs if r is not first and extension.match(r.dst)]
    answered = next((r for r in rung if r.disposition == "ANSWERED"), None)
    if direction == "outbound" and answered is None and first.disposition == "ANSWERED":
        answered = first
    answered_at = answered.end - dt.timedelta(seconds=answered.billsec) if answered else None
    disposition: Disposition
    if answered is not None:
        disposition = "answered"
    elif queue is not None:
        disposition = "abandoned"
    elif any(r.disposition == "BUSY" for r in legs):
        disposition = "busy"
    elif any(r.disposition == "FAILED" for r in legs):
        disposition = "failed"
    else:
        disposition = "missed"
    until = answered_at or ended
    recording = next((r.recordingfile for r in legs if r.recordingfile), None)
    return CallEnded(
        call_id=call_id,
        direction=direction,
        caller=first.src or None,
        caller_name=None,
        dialed=dialed,
        queue=queue,
        agent=(answered.dst if answered is not None and answered is not first else None),
        agents_rung=tuple(dict.fromkeys(r.dst for r in rung)),
        disposition=disposition,
        wait_seconds=round((until - started).total_seconds()) if direction == "inbound" else None,
        talk_seconds=answered.billsec if answered is not None else None,
        recording=recording,
        transfers=(),
        ivr_input=None,
        variables=(),
        hangup_cause=None,
        started_at=started.timestamp(),
        answered_at=answered_at.timestamp() if answered_at else None,
        ended_at=ended.timestamp(),
        reconciled=True,
    )


class CdrReader:
    """Reads a window of the PBX's CDR table (any SQLAlchemy async URL)."""

    def __init__(
        self, url: str, *, table: str = "cdr", timezone: str = "UTC", timeout: float = 10.0
    ) -> None:
        if not _TABLE_NAME.match(table):
            raise ValueError(f"cdr table must be a plain [schema.]name, got {table!r}")
        self._url = url
        self._table = table
        self._zone = ZoneInfo(timezone)
        self._timeout = timeout

    async def ended_since(self, since: dt.datetime) -> list[CdrRow]:
        """The legs of every call that ended at or after ``since`` (timezone-aware)."""
        local_since = (since - LONGEST_CALL).astimezone(self._zone).replace(tzinfo=None)
        engine = create_async_engine(self._url, pool_pre_ping=False)
        try:
            async with engine.connect() as connection:
                columns = await self._columns(connection)
                extra = ", recordingfile" if "recordingfile" in columns else ""
                sql = (
                    f"SELECT {_COLUMNS}{extra} FROM {self._table} "
                    f"WHERE calldate >= :since ORDER BY calldate LIMIT {MAX_ROWS}"
                )
                result = await connection.execute(text(sql), {"since": local_since})
                records = [dict(r._mapping) for r in result]
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            raise CdrError(
                f"reading the CDR table {self._table}: {type(exc).__name__}: {exc}"
            ) from exc
        finally:
            await engine.dispose()
        rows = [self._row(r) for r in records]
        return [r for r in rows if r.end >= since]

    async def _columns(self, connection: Any) -> set[str]:
        result = await connection.execute(text(f"SELECT * FROM {self._table} WHERE 1 = 0"))
        names = result.keys()
        return {str(name).lower() for name in names}

    def _row(self, r: Mapping[str, Any]) -> CdrRow:
        start = r["calldate"]
        if isinstance(start, str):
            start = dt.datetime.fromisoformat(start)
        if start.tzinfo is None:
            start = start.replace(tzinfo=self._zone)
        return CdrRow(
            start=start,
            src=str(r["src"] or ""),
            dst=str(r["dst"] or ""),
            dcontext=str(r["dcontext"] or ""),
            channel=str(r["channel"] or ""),
            dstchannel=str(r["dstchannel"] or ""),
            lastapp=str(r["lastapp"] or ""),
            lastdata=str(r["lastdata"] or ""),
            duration=int(r["duration"] or 0),
            billsec=int(r["billsec"] or 0),
            disposition=str(r["disposition"] or ""),
            uniqueid=str(r["uniqueid"] or ""),
            linkedid=str(r["linkedid"] or ""),
            recordingfile=str(r.get("recordingfile") or ""),
        )


__all__ = ["CdrError", "CdrReader", "CdrRow", "calls_from_rows"]
