"""CSV export of customers, contracts and cases, in the columns ``csv_io`` imports.

UTF-8 with a BOM by default, so Excel shows Persian text correctly; phones
come out as ``kind:number; kind:number``, owners as extensions, customers by
their ``ref``. A text cell a spreadsheet would run as a formula (starting with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return: OWASP's CSV injection)
is written with a leading ``'``, which spreadsheets show as text and
:mod:`crm_sync.csv_io` takes off again on import.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from crm_sync.csv_io import COLUMNS, FORMULA_STARTS, KINDS, CsvImportError
from crm_sync.db import Database
from crm_sync.matching import as_datetime
from crm_sync.models import Case, Contract, Customer, Device, PhoneNumber


def spreadsheet_safe(value: object) -> object:
    """``value``, with a ``'`` before a text that a spreadsheet would read as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


async def _extensions(connection: AsyncConnection) -> dict[int, str]:
    # A person with several extensions is written with the lowest; any of them imports back.
    rows = await connection.execute(
        select(Device.agent_id, func.min(Device.extension))
        .where(Device.agent_id.is_not(None))
        .group_by(Device.agent_id)
    )
    return {int(agent_id or 0): str(ext) for agent_id, ext in rows}


async def export_csv(database: Database, kind: str, out: TextIO, bom: bool = True) -> int:
    """Write every row of ``kind`` as CSV (the import format); returns the row count."""
    if kind not in COLUMNS:
        raise CsvImportError(f"cannot export {kind!r}: expected one of {', '.join(KINDS)}")
    if bom:
        out.write("\ufeff")  # Excel needs it to read UTF-8 (and so Persian) correctly
    # CRLF as RFC 4180 has it; it also makes the writer quote a field with a lone CR.
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS[kind])
    count = 0
    async with database.engine.connect() as connection:
        for row in await _export_rows(connection, kind):
            writer.writerow(["" if v is None else spreadsheet_safe(v) for v in row])
            count += 1
    return count


async def _export_rows(connection: AsyncConnection, kind: str) -> Iterable[Sequence[Any]]:
    agents = await _extensions(connection)
    if kind == "customers":
        phones: dict[int, list[str]] = {}
        result = await connection.execute(
            select(PhoneNumber.customer_id, PhoneNumber.kind, PhoneNumber.raw).order_by(
                PhoneNumber.id
            )
        )
        for customer_id, phone_kind, raw in result:
            phones.setdefault(customer_id, []).append(f"{phone_kind}:{raw}")
        customers = await connection.execute(select(Customer).order_by(Customer.id))
        return [
            (
                c.ref,
                c.name,
                c.kind,
                "; ".join(phones.get(c.id, [])),
                c.email,
                c.address,
                c.language,
                "yes" if c.vip else "no",
                agents.get(c.owner_agent_id) if c.owner_agent_id else None,
                c.notes,
            )
            for c in customers
        ]
    refs = dict(
        (k, v) for k, v in (await connection.execute(select(Customer.id, Customer.ref))) if v
    )
    if kind == "contracts":
        contracts = await connection.execute(select(Contract).order_by(Contract.id))
        return [(refs.get(c.customer_id), c.plan, c.starts_on, c.ends_on) for c in contracts]
    cases = await connection.execute(select(Case).order_by(Case.id))
    return [
        (
            c.tracking_code,
            refs.get(c.customer_id) if c.customer_id else None,
            c.subject,
            c.status,
            c.priority,
            agents.get(c.owner_agent_id) if c.owner_agent_id else None,
            _iso(c.opened_at),
            _iso(c.due_at),
            _iso(c.resolved_at),
        )
        for c in cases
    ]


def _iso(value: Any) -> str | None:
    parsed = as_datetime(value)
    return parsed.isoformat() if parsed else None
