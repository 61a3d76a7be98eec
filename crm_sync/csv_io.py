"""CSV import of customers, contracts and cases (export: ``csv_export``).

Files are UTF-8, with or without a BOM (Excel writes one), Persian text
welcome. Import checks every row first and reports each problem with its line
number, column and what is wrong; then it writes all good rows in one
transaction (or, with ``strict``, nothing at all if any row is bad). A file
is never half imported: a database failure mid-write rolls everything back.

Columns (header row required, order free, unknown columns refused):

- customers: ``ref, name, kind, phones, email, address, language, vip,
  owner_extension, notes``; ``phones`` is ``;``-separated, each optionally
  ``kind:number`` (``mobile:0912 123 4567; work:021-8877-6655``).
- contracts: ``customer_ref, plan, starts_on, ends_on``.
- cases: ``tracking_code, customer_ref, subject, status, priority,
  owner_extension, opened_at, due_at, resolved_at``; an empty tracking code
  gets a fresh one.

Dates are ISO (``2026-03-21``) or Jalali (``1405/01/01``); times are ISO, UTC
when no offset is given.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import jdatetime
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from crm_sync.db import Changes, Database
from crm_sync.models import (
    CASE_PRIORITIES,
    CASE_STATUSES,
    CUSTOMER_KINDS,
    PHONE_KINDS,
    Case,
    Contract,
    Customer,
    Device,
    PhoneNumber,
    utcnow,
)
from crm_sync.phonebook import search_text
from crm_sync.phones import PhoneNormaliser
from crm_sync.settings import CrmConfig
from crm_sync.tracking_codes import is_well_formed, new_tracking_code

log = logging.getLogger(__name__)

Kind = Literal["customers", "contracts", "cases"]
KINDS: tuple[Kind, ...] = ("customers", "contracts", "cases")
Progress = Callable[[int, int], None]
"""Called with (rows done, rows total)."""

COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": (
        "ref",
        "name",
        "kind",
        "phones",
        "email",
        "address",
        "language",
        "vip",
        "owner_extension",
        "notes",
    ),
    "contracts": ("customer_ref", "plan", "starts_on", "ends_on"),
    "cases": (
        "tracking_code",
        "customer_ref",
        "subject",
        "status",
        "priority",
        "owner_extension",
        "opened_at",
        "due_at",
        "resolved_at",
    ),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "customers": ("name",),
    "contracts": ("customer_ref", "plan", "starts_on"),
    "cases": ("customer_ref", "subject"),
}
_BATCH = 2000
_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
_DATE = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TRUE = {"1", "true", "yes", "y", "بله", "آری", "vip"}
_FALSE = {"", "0", "false", "no", "n", "خیر"}


class CsvImportError(Exception):
    """The file cannot be imported at all (unreadable, no header, unknown kind)."""


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem in the file."""

    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.message}"


@dataclass(slots=True)
class ImportReport:
    """What an import did."""

    kind: str
    rows: int = 0
    imported: int = 0
    errors: list[RowError] = field(default_factory=list)
    strict: bool = False

    @property
    def ok(self) -> bool:
        """True when every row was good."""
        return not self.errors


class _Row:
    """One parsed row: line number, cleaned values, and the errors found in it."""

    def __init__(self, line: int, raw: dict[str, str]) -> None:
        self.line = line
        self.raw = raw
        self.values: dict[str, Any] = {}
        self.errors: list[RowError] = []

    def text(self, column: str, max_len: int | None = None) -> str | None:
        value = (self.raw.get(column) or "").strip()
        if max_len is not None and len(value) > max_len:
            self.fail(column, f"longer than {max_len} characters ({len(value)})")
        return value or None

    def fail(self, column: str | None, message: str) -> None:
        self.errors.append(RowError(self.line, column, message))


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""How a cell a spreadsheet would run as a formula starts (OWASP, CSV injection)."""


def _unquote_formula(field: str) -> str:
    # The export writes such a cell as "'=..." so no spreadsheet runs it; the text is "=...".
    return field[1:] if field.startswith("'") and field[1:].startswith(FORMULA_STARTS) else field


def read_rows(data: bytes, kind: str) -> tuple[list[_Row], list[RowError]]:
    """Decode and split a CSV file; header problems come back as errors on line 1."""
    if kind not in COLUMNS:
        raise CsvImportError(f"cannot import {kind!r}: expected one of {', '.join(KINDS)}")
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CsvImportError(
            f"line {line}: not UTF-8 (byte 0x{data[exc.start]:02x}); save the file as UTF-8"
        ) from None
    reader = csv.reader(io.StringIO(content, newline=""))
    try:
        header = [h.strip() for h in next(reader, [])]
    except csv.Error as exc:
        raise CsvImportError(f"line 1: {exc}") from None
    if not any(header):
        raise CsvImportError("the file is empty: expected a header row")
    errors = [
        RowError(1, name, f"unknown column (expected some of: {', '.join(COLUMNS[kind])})")
        for name in header
        if name not in COLUMNS[kind]
    ]
    errors += [
        RowError(1, name, "required column is missing")
        for name in REQUIRED[kind]
        if name not in header
    ]
    rows = []
    # Report the line a row starts on (a quoted field may span several lines).
    start = reader.line_num + 1
    try:
        for fields in reader:
            line, start = start, reader.line_num + 1
            if not any(f.strip() for f in fields):
                continue  # blank line
            if len(fields) > len(header):
                row = _Row(line, {})
                row.fail(None, f"{len(fields)} fields, but the header has {len(header)}")
                rows.append(row)
                continue
            values = (_unquote_formula(f) for f in fields)
            rows.append(_Row(line, dict(zip(header, values, strict=False))))
    except csv.Error as exc:
        raise CsvImportError(f"line {reader.line_num}: {exc}") from None
    return rows, errors


def parse_date(text: str) -> dt.date:
    """ISO or Jalali (year below 1700) date, Persian digits allowed."""
    match = _DATE.match(text.translate(_DIGITS).strip())
    if not match:
        raise ValueError(f"{text!r} is not a date (expected YYYY-MM-DD or Jalali YYYY/MM/DD)")
    year, month, day = (int(g) for g in match.groups())
    if year < 1700:
        return jdatetime.date(year, month, day).togregorian()  # type: ignore[no-any-return]
    return dt.date(year, month, day)


def parse_time(text: str) -> dt.datetime:
    """ISO date-time (UTC if no offset) or a date (midnight UTC)."""
    cleaned = text.translate(_DIGITS).strip()
    try:
        value = dt.datetime.fromisoformat(cleaned)
    except ValueError:
        return dt.datetime.combine(parse_date(cleaned), dt.time(), dt.UTC)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def parse_bool(text: str) -> bool:
    """yes/no, true/false, 1/0 (Persian بله/خیر too)."""
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{text!r} is not yes/no")


class CsvImporter:
    """Validates and imports one CSV file of one kind."""

    def __init__(self, database: Database, normaliser: PhoneNormaliser, config: CrmConfig) -> None:
        self._db = database
        self._normaliser = normaliser
        self._config = config

    async def import_file(
        self,
        path: str | Path,
        kind: str,
        strict: bool = False,
        progress: Progress | None = None,
    ) -> ImportReport:
        """Import ``path``; see the module docstring for columns and guarantees."""
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise CsvImportError(f"cannot read {path}: {exc.strerror}") from None
        return await self.import_bytes(data, kind, strict, progress)

    async def import_bytes(
        self, data: bytes, kind: str, strict: bool = False, progress: Progress | None = None
    ) -> ImportReport:
        """Import CSV content already in memory."""
        rows, header_errors = read_rows(data, kind)
        report = ImportReport(kind=kind, rows=len(rows), strict=strict)
        report.errors.extend(header_errors)
        if header_errors:
            return report
        async with self._db.engine.begin() as connection:
            agents = await _lookup(
                connection,
                select(Device.extension, Device.agent_id).where(Device.agent_id.is_not(None)),
            )
            if kind == "customers":
                good = await self._check_customers(connection, rows, agents)
            elif kind == "contracts":
                good = await self._check_contracts(connection, rows)
            else:
                good = await self._check_cases(connection, rows, agents)
            for row in rows:
                report.errors.extend(row.errors)
            report.errors.sort(key=lambda e: e.line)
            if strict and report.errors:
                return report
            if kind == "customers":
                changes = await self._insert_customers(connection, good, progress)
            elif kind == "contracts":
                changes = await _insert_batches(
                    connection, Contract, [r.values for r in good], progress
                )
            else:
                changes = await _insert_batches(
                    connection, Case, [r.values for r in good], progress
                )
            report.imported = len(good)
        self._db.notify(changes)
        log.info(
            "csv import kind=%s rows=%d imported=%d errors=%d",
            kind,
            report.rows,
            report.imported,
            len(report.errors),
        )
        return report

    async def _check_customers(
        self, connection: AsyncConnection, rows: list[_Row], agents: dict[str, int]
    ) -> list[_Row]:
        refs = [r.raw.get("ref", "").strip() for r in rows]
        existing = await _existing(connection, Customer.ref, [r for r in refs if r])
        seen: dict[str, int] = {}
        good = []
        for row in rows:
            if row.errors:
                continue
            name = row.text("name", 200)
            if not name:
                row.fail("name", "empty; every customer needs a name")
            ref = row.text("ref", 64)
            if ref:
                if ref in existing:
                    row.fail("ref", f"customer {ref!r} already exists")
                elif ref in seen:
                    row.fail("ref", f"{ref!r} repeats line {seen[ref]}")
                seen.setdefault(ref, row.line)
            kind = (row.text("kind") or "person").lower()
            if kind not in CUSTOMER_KINDS:
                row.fail("kind", f"{kind!r} is not one of {', '.join(CUSTOMER_KINDS)}")
            email = row.text("email", 254)
            if email and not _EMAIL.match(email):
                row.fail("email", f"{email!r} is not an email address")
            vip = False
            try:
                vip = parse_bool(row.raw.get("vip", ""))
            except ValueError as exc:
                row.fail("vip", str(exc))
            owner = _owner(row, agents)
            phones = self._phones(row)
            row.values = {
                "ref": ref,
                "name": name,
                "kind": kind,
                "email": email,
                "address": row.text("address"),
                "language": row.text("language", 16),
                "vip": vip,
                "owner_agent_id": owner,
                "notes": row.text("notes"),
                "_phones": phones,
            }
            if not row.errors:
                good.append(row)
        return good

    def _phones(self, row: _Row) -> list[dict[str, Any]]:
        phones = []
        for item in re.split(r"[;؛|]", row.raw.get("phones", "")):
            item = item.strip()
            if not item:
                continue
            kind = "mobile"
            if ":" in item:
                kind, item = (part.strip() for part in item.split(":", 1))
                kind = kind.lower()
                if kind not in PHONE_KINDS:
                    row.fail("phones", f"{kind!r} is not a phone kind ({', '.join(PHONE_KINDS)})")
                    continue
            normalised = self._normaliser.normalise(item)
            if normalised.kind == "extension":
                row.fail("phones", f"{item!r} is an internal extension, not a customer number")
                continue
            if normalised.e164 is None:
                row.fail("phones", f"{item!r} is not a phone number")
                continue
            phones.append(
                {
                    "raw": item[:64],
                    "e164": normalised.e164,
                    "reversed_digits": normalised.reversed_digits,
                    "kind": kind,
                }
            )
        return phones

    async def _check_contracts(self, connection: AsyncConnection, rows: list[_Row]) -> list[_Row]:
        customers = await _customers_by_ref(connection, rows)
        good = []
        for row in rows:
            if row.errors:
                continue
            customer_id = _customer(row, customers)
            plan = row.text("plan", 100)
            if not plan:
                row.fail("plan", "empty; every contract needs a plan")
            starts_on = _date(row, "starts_on", required=True)
            ends_on = _date(row, "ends_on", required=False)
            if starts_on and ends_on and ends_on < starts_on:
                row.fail("ends_on", f"{ends_on} is before starts_on {starts_on}")
            row.values = {
                "customer_id": customer_id,
                "plan": plan,
                "starts_on": starts_on,
                "ends_on": ends_on,
            }
            if not row.errors:
                good.append(row)
        return good

    async def _check_cases(
        self, connection: AsyncConnection, rows: list[_Row], agents: dict[str, int]
    ) -> list[_Row]:
        customers = await _customers_by_ref(connection, rows)
        codes = [r.raw.get("tracking_code", "").strip() for r in rows]
        taken = await _existing(connection, Case.tracking_code, [c for c in codes if c])
        seen: dict[str, int] = {}
        length = self._config.tracking_code_length
        good = []
        for row in rows:
            if row.errors:
                continue
            code = row.text("tracking_code")
            if code:
                if not is_well_formed(code, length):
                    row.fail(
                        "tracking_code",
                        f"{code!r} is not a {length}-digit code with a valid check digit",
                    )
                elif code in taken:
                    row.fail("tracking_code", f"{code!r} is already used by another case")
                elif code in seen:
                    row.fail("tracking_code", f"{code!r} repeats line {seen[code]}")
                seen.setdefault(code, row.line)
            customer_id = _customer(row, customers)
            subject = row.text("subject", 300)
            if not subject:
                row.fail("subject", "empty; every case needs a subject")
            status = (row.text("status") or "open").lower()
            if status not in CASE_STATUSES:
                row.fail("status", f"{status!r} is not one of {', '.join(CASE_STATUSES)}")
            priority = (row.text("priority") or "normal").lower()
            if priority not in CASE_PRIORITIES:
                row.fail("priority", f"{priority!r} is not one of {', '.join(CASE_PRIORITIES)}")
            opened_at = _time(row, "opened_at") or utcnow()
            resolved_at = _time(row, "resolved_at")
            row.values = {
                "tracking_code": code,
                "customer_id": customer_id,
                "subject": subject,
                "status": status,
                "priority": priority,
                "owner_agent_id": _owner(row, agents),
                "opened_at": opened_at,
                "due_at": _time(row, "due_at"),
                "resolved_at": resolved_at,
                "first_contact_resolution": False,
            }
            if not row.errors:
                good.append(row)
        # Fresh codes only once the file's own codes are known, so none collides with them.
        used = taken | set(seen)
        for row in good:
            if not row.values["tracking_code"]:
                code = new_tracking_code(length)
                while code in used:
                    code = new_tracking_code(length)
                used.add(code)
                row.values["tracking_code"] = code
        return good

    async def _insert_customers(
        self, connection: AsyncConnection, rows: list[_Row], progress: Progress | None
    ) -> Changes:
        total = len(rows)
        numbers: set[str] = set()
        # Ids are reserved up front so customers and their numbers go in as plain
        # executemany batches (RETURNING would cost SQLite one statement per row).
        ids = await _reserve_ids(connection, total)
        now = utcnow()
        for start in range(0, total, _BATCH):
            batch = rows[start : start + _BATCH]
            batch_ids = ids[start : start + _BATCH]
            values = [
                {
                    **{k: v for k, v in r.values.items() if k != "_phones"},
                    "id": customer_id,
                    "created_at": now,
                    "updated_at": now,
                    "search_text": search_text(
                        r.values["name"],
                        r.values.get("ref"),
                        r.values.get("email"),
                        [n for p in r.values["_phones"] for n in (p["raw"], p["e164"]) if n],
                    ),
                }
                for customer_id, r in zip(batch_ids, batch, strict=True)
            ]
            await connection.execute(insert(Customer), values)
            phones = [
                {**phone, "customer_id": customer_id}
                for customer_id, row in zip(batch_ids, batch, strict=True)
                for phone in row.values["_phones"]
            ]
            if phones:
                await connection.execute(insert(PhoneNumber), phones)
                numbers.update(p["e164"] for p in phones)
            if progress:
                progress(min(start + _BATCH, total), total)
        return Changes(numbers=frozenset(numbers))


async def _reserve_ids(connection: AsyncConnection, count: int) -> list[int]:
    if count == 0:
        return []
    if connection.dialect.name == "postgresql":
        result = await connection.execute(
            text(
                "SELECT nextval(pg_get_serial_sequence('customers', 'id')) "
                "FROM generate_series(1, :count)"
            ),
            {"count": count},
        )
        return [int(row[0]) for row in result]
    # A no-op write takes SQLite's write lock, so no one inserts between max(id) and ours.
    await connection.execute(text("DELETE FROM customers WHERE 1 = 0"))
    highest = await connection.scalar(select(func.max(Customer.id)))
    first = int(highest or 0) + 1
    return list(range(first, first + count))


async def _insert_batches(
    connection: AsyncConnection,
    model: type[Contract] | type[Case],
    values: list[dict[str, Any]],
    progress: Progress | None,
) -> Changes:
    total = len(values)
    for start in range(0, total, _BATCH):
        await connection.execute(insert(model), values[start : start + _BATCH])
        if progress:
            progress(min(start + _BATCH, total), total)
    return Changes(customer_ids=frozenset(v["customer_id"] for v in values if v["customer_id"]))


async def _lookup(connection: AsyncConnection, statement: Any) -> dict[str, int]:
    return {str(k): int(v) for k, v in (await connection.execute(statement)) if k is not None}


async def _existing(connection: AsyncConnection, column: Any, values: Sequence[str]) -> set[str]:
    found: set[str] = set()
    unique = sorted(set(values))
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        found.update(
            str(v) for (v,) in await connection.execute(select(column).where(column.in_(chunk)))
        )
    return found


async def _customers_by_ref(connection: AsyncConnection, rows: list[_Row]) -> dict[str, int]:
    refs = sorted({r.raw.get("customer_ref", "").strip() for r in rows} - {""})
    found: dict[str, int] = {}
    for start in range(0, len(refs), 500):
        chunk = refs[start : start + 500]
        statement = select(Customer.ref, Customer.id).where(Customer.ref.in_(chunk))
        found.update(await _lookup(connection, statement))
    return found


def _customer(row: _Row, customers: dict[str, int]) -> int | None:
    ref = row.text("customer_ref")
    if not ref:
        row.fail("customer_ref", "empty; expected the ref of an existing customer")
        return None
    customer_id = customers.get(ref)
    if customer_id is None:
        row.fail("customer_ref", f"no customer with ref {ref!r}")
    return customer_id


def _owner(row: _Row, agents: dict[str, int]) -> int | None:
    extension = row.text("owner_extension")
    if not extension:
        return None
    agent_id = agents.get(extension.translate(_DIGITS))
    if agent_id is None:
        row.fail("owner_extension", f"no agent with extension {extension!r}")
    return agent_id


def _date(row: _Row, column: str, required: bool) -> dt.date | None:
    text = row.text(column)
    if not text:
        if required:
            row.fail(column, "empty; a date is required")
        return None
    try:
        return parse_date(text)
    except ValueError as exc:
        row.fail(column, str(exc))
        return None


def _time(row: _Row, column: str) -> dt.datetime | None:
    text = row.text(column)
    if not text:
        return None
    try:
        return parse_time(text)
    except ValueError as exc:
        row.fail(column, str(exc))
        return None
