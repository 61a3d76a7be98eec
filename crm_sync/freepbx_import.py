"""Import from an Issabel or FreePBX box's own MariaDB/MySQL database, read-only.

What their admins already maintain: extensions and names (``asterisk.users``,
``asterisk.devices``), queues and their static members (``queues_config``,
``queues_details``), and the call history (``asteriskcdrdb.cdr``, with
``recordingfile``) so customers' case files have their past calls on day one.

Only SELECTs are sent (the session is also set read-only). Devices and queues
go through :class:`crm_sync.pbx_import.PbxImporter` (plan, then apply).
The call history is read in batches ordered by ``(calldate, uniqueid)``; after
each batch the position is written to the audit log (``cdr.import``), so an
interrupted import resumes where it stopped, and a call already in the call log
(the same Linkedid, the hub's call id) is never written twice: it only gets its
recording file if it had none.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from crm_sync.audit import record_in
from crm_sync.db import Database
from crm_sync.models import AuditEntry, CallRecord, PhoneNumber, utcnow
from crm_sync.pbx_import import ImportPlan, PbxDevice, PbxImporter
from crm_sync.phones import PhoneNormaliser

log = logging.getLogger(__name__)

_TECH = {"pjsip": "PJSIP", "sip": "SIP", "iax2": "IAX2"}
_DISPOSITION = {"ANSWERED": "answered", "NO ANSWER": "missed", "BUSY": "busy", "FAILED": "failed"}
_QUALITY = {"answered": 3, "busy": 1, "failed": 0, "missed": 2}


@dataclass(frozen=True, slots=True)
class CdrReport:
    """What a call-history import did."""

    read: int
    written: int
    recordings_added: int
    position: str | None
    """``calldate|uniqueid`` of the last row read (where the next run starts)."""


class FreePbxDatabase:
    """The PBX's databases, read over an async MySQL driver (``mysql+aiomysql://…``)."""

    def __init__(
        self, url: str, *, config_db: str = "asterisk", cdr_db: str = "asteriskcdrdb"
    ) -> None:
        for name in (config_db, cdr_db):
            if not name.replace("_", "").isalnum():
                raise ValueError(f"database name {name!r} must be letters, digits and '_'")
        self._engine: AsyncEngine = create_async_engine(url, pool_pre_ping=True)
        self._config_db = config_db
        self._cdr_db = cdr_db

    async def close(self) -> None:
        """Close the connections."""
        await self._engine.dispose()

    async def _rows(self, sql: str, **params: Any) -> Sequence[Any]:
        async with self._engine.connect() as connection:
            await connection.execute(text("SET SESSION TRANSACTION READ ONLY"))
            return (await connection.execute(text(sql), params)).all()

    async def devices_and_queues(self) -> tuple[list[PbxDevice], list[str]]:
        """Every phone (with its user's name) and every queue with its static members."""
        c = self._config_db
        names = {
            str(ext): str(name or "")
            for ext, name in await self._rows(f"SELECT extension, name FROM `{c}`.users")
        }
        devices: list[PbxDevice] = []
        for device_id, tech, dial in await self._rows(f"SELECT id, tech, dial FROM `{c}`.devices"):
            technology = _TECH.get(str(tech).lower())
            if technology is None:
                continue  # dahdi, custom, virtual: not a phone the hub can pop on
            interface = str(dial) if dial else f"{technology}/{device_id}"
            devices.append(PbxDevice(interface, names.get(str(device_id), "")))
        queues = [
            str(row[0]) for row in await self._rows(f"SELECT extension FROM `{c}`.queues_config")
        ]
        members = await self._rows(
            f"SELECT id, data FROM `{c}`.queues_details WHERE keyword = 'member'"
        )
        for _queue, data in members:
            # "Local/1001@from-queue/n,0": the interface, then the penalty.
            interface = str(data).split(",")[0].strip()
            extension = interface.split("/", 1)[-1].split("@")[0]
            devices.append(PbxDevice(interface, names.get(extension, "")))
        return devices, queues

    async def cdr_batch(self, after: str | None, limit: int) -> list[dict[str, Any]]:
        """CDR rows after the position ``calldate|uniqueid``, oldest first."""
        columns = {
            str(row[0]).lower()
            for row in await self._rows(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = :db AND table_name = 'cdr'",
                db=self._cdr_db,
            )
        }
        linked = "linkedid" if "linkedid" in columns else "uniqueid"
        recording = "recordingfile" if "recordingfile" in columns else "''"
        where, params = "", dict[str, Any](limit=limit)
        if after:
            when, _, uid = after.partition("|")
            where = "WHERE (calldate, uniqueid) > (:when, :uid)"
            params.update(when=when, uid=uid)
        rows = await self._rows(
            f"SELECT calldate, src, dst, channel, dstchannel, duration, billsec, disposition, "
            f"uniqueid, {linked} AS linkedid, {recording} AS recordingfile, dcontext "
            f"FROM `{self._cdr_db}`.cdr {where} ORDER BY calldate, uniqueid LIMIT :limit",
            **params,
        )
        return [dict(row._mapping) for row in rows]


def _extension_of(channel: str | None) -> str | None:
    # "SIP/1002-0000001a", "PJSIP/1002-00000004", "Local/1002@from-queue-00000003;1"
    if not channel or "/" not in channel:
        return None
    peer = channel.split("/", 1)[1].split("@")[0].rsplit("-", 1)[0]
    return peer if peer.isdigit() else None


class FreePbxImporter:
    """Devices, queues and call history from a :class:`FreePbxDatabase` into the hub."""

    def __init__(self, database: Database, normaliser: PhoneNormaliser) -> None:
        self._db = database
        self._normaliser = normaliser

    async def import_config(
        self, source: FreePbxDatabase, actor: str, *, apply: bool
    ) -> ImportPlan:
        """Plan (or apply) the devices and queues, as the AMI import does."""
        devices, queues = await source.devices_and_queues()
        return await PbxImporter(self._db).run(actor, devices, queues, apply=apply)

    async def import_cdr(
        self, source: FreePbxDatabase, actor: str, *, batch: int = 500, max_rows: int | None = None
    ) -> CdrReport:
        """Backfill the call log from the CDR, resuming after the last recorded position."""
        position = await self._position()
        read = written = recordings = 0
        while max_rows is None or read < max_rows:
            rows = await source.cdr_batch(position, batch)
            if not rows:
                break
            read += len(rows)
            position = f"{rows[-1]['calldate']}|{rows[-1]['uniqueid']}"
            new, added = await self._write(rows, actor, position)
            written += new
            recordings += added
        return CdrReport(read, written, recordings, position)

    async def _position(self) -> str | None:
        async with self._db.sessions() as session:
            last = await session.scalar(
                select(AuditEntry.after)
                .where(AuditEntry.action == "cdr.import")
                .order_by(AuditEntry.id.desc())
                .limit(1)
            )
        return str(last["position"]) if last and last.get("position") else None

    async def _write(
        self, rows: list[dict[str, Any]], actor: str, position: str
    ) -> tuple[int, int]:
        calls: dict[str, dict[str, Any]] = {}
        for row in rows:
            call_id = str(row["linkedid"] or row["uniqueid"])
            record = self._record(row, call_id)
            kept = calls.get(call_id)
            # Several CDR rows per call (one per leg): keep the best-answered leg, and
            # any leg's recording.
            if kept is None or _QUALITY[record["disposition"]] > _QUALITY[kept["disposition"]]:
                if kept is not None and not record["recording"]:
                    record["recording"] = kept["recording"]
                calls[call_id] = record
            elif not kept["recording"] and record["recording"]:
                kept["recording"] = record["recording"]
        async with self._db.sessions() as session:
            existing = dict(
                (
                    await session.execute(
                        select(CallRecord.call_id, CallRecord.recording).where(
                            CallRecord.call_id.in_(list(calls))
                        )
                    )
                ).all()
            )
            recordings = 0
            for call_id, recording in existing.items():
                found = calls[call_id]["recording"]
                if recording is None and found:
                    await session.execute(
                        update(CallRecord)
                        .where(CallRecord.call_id == call_id)
                        .values(recording=found)
                    )
                    recordings += 1
            fresh = [r for cid, r in calls.items() if cid not in existing]
            for record in fresh:
                record["customer_id"] = await self._customer(session, record["caller"])
            if fresh:
                insert = (
                    postgresql.insert(CallRecord)
                    if self._db.url.get_backend_name() == "postgresql"
                    else sqlite.insert(CallRecord)
                )
                await session.execute(
                    insert.on_conflict_do_nothing(index_elements=["call_id"]), fresh
                )
            record_in(
                session,
                actor,
                "cdr.import",
                "cdr",
                None,
                {"position": position, "written": len(fresh), "recordings": recordings},
            )
            await session.commit()
        return len(fresh), recordings

    def _record(self, row: dict[str, Any], call_id: str) -> dict[str, Any]:
        started = row["calldate"]
        if isinstance(started, dt.datetime) and started.tzinfo is None:
            # cdr_mysql writes the PBX's local time; Issabel/FreePBX boxes run in UTC
            # unless told otherwise, and so does this import.
            started = started.replace(tzinfo=dt.UTC)
        disposition = _DISPOSITION.get(str(row["disposition"]).upper(), "failed")
        duration, billsec = int(row["duration"] or 0), int(row["billsec"] or 0)
        answered = disposition == "answered"
        agent = _extension_of(row["dstchannel"]) if answered else None
        caller = str(row["src"] or "") or None
        return {
            "call_id": call_id[:64],
            "direction": "outbound" if _extension_of(row["channel"]) else "inbound",
            "caller": caller,
            "dialed": str(row["dst"] or "")[:64] or None,
            "agent": agent,
            "started_at": started,
            "answered_at": started + dt.timedelta(seconds=duration - billsec) if answered else None,
            "ended_at": started + dt.timedelta(seconds=duration),
            "wait_seconds": duration - billsec if answered else duration,
            "talk_seconds": billsec if answered else None,
            "disposition": disposition,
            "recording": str(row["recordingfile"] or "") or None,
            "details": {"source": "cdr", "uniqueid": str(row["uniqueid"])},
            "written_at": utcnow(),
        }

    async def _customer(self, session: Any, caller: str | None) -> int | None:
        e164 = self._normaliser.e164(caller) if caller else None
        if e164 is None:
            return None
        found = await session.scalar(
            select(func.min(PhoneNumber.customer_id)).where(PhoneNumber.e164 == e164)
        )
        return int(found) if found is not None else None
