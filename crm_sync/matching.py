"""Caller matching: who is calling, with what contract, which open cases and which last calls.

``CallerDirectory.lookup(number)`` is what the screen pop calls on every ring.
Exact E.164 match first, then (if configured) a last-N-digits match; several
customers on one number come back ranked by most recent activity. Results are
cached per number and dropped the moment a commit touches one of the
customers in them or a number that could now match (see ``Database.subscribe``);
a TTL bounds staleness from changes made by other processes.

Three row sources serve the same SQL (a lookup is 3-4 indexed queries):

- ``SqliteRowSource``, the SQLite fast path: a read-only stdlib ``sqlite3``
  connection used inline on the loop. An indexed read takes ~10 µs, far less
  than the ~100 µs thread hop aiosqlite pays per statement, so running it
  inline blocks the loop for less time than waiting would cost (measured in
  ``bench/crm_lookup.py``: ~0.1 ms p99 per lookup at 1 M customers, against
  1.4-3.4 ms through aiosqlite).
- ``AsyncpgRowSource``, the PostgreSQL fast path: a plain asyncpg pool with
  prepared statements (~0.8 ms p99 at 1 M customers).
- ``EngineRowSource``: the SQLAlchemy async engine, for anything else.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import sqlite3
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Any, Literal, NamedTuple, Protocol

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_sync.db import Changes, Database, open_sqlite_reader, sqlite_path
from crm_sync.phones import NormalisedNumber, PhoneNormaliser, reverse_digits_prefix
from crm_sync.settings import CrmConfig, DatabaseConfig

log = logging.getLogger(__name__)

ContractState = Literal["active", "expiring", "expired", "none"]
MatchStatus = Literal["matched", "unknown", "extension"]
Row = Sequence[Any]
Fetch = Callable[[str, Mapping[str, Any]], Awaitable[list[Row]]]


@dataclass(frozen=True, slots=True)
class PhoneInfo:
    raw: str
    e164: str | None
    kind: str


@dataclass(frozen=True, slots=True)
class ContractInfo:
    """The customer's support contract state on the day of the lookup."""

    state: ContractState
    plan: str | None = None
    ends_on: dt.date | None = None


@dataclass(frozen=True, slots=True)
class CaseInfo:
    id: int
    tracking_code: str
    subject: str
    status: str
    priority: str
    due_at: dt.datetime | None
    owner_extension: str | None


@dataclass(frozen=True, slots=True)
class CallInfo:
    call_id: str
    direction: str
    started_at: dt.datetime | None
    queue: str | None
    agent: str | None
    disposition: str
    talk_seconds: int | None
    note: str | None = None
    """The agent's latest note on the call, if any."""
    outcome: str | None = None
    """The latest disposition code an agent gave the call (``resolved``, ``callback``…)."""


@dataclass(frozen=True, slots=True)
class ContactPreferences:
    """How and when the customer wants to be reached."""

    preferred_channel: str | None = None
    call_from: str | None = None
    """"HH:MM" in the call center's local time; None: any time."""
    call_until: str | None = None
    do_not_call: bool = False


@dataclass(frozen=True, slots=True)
class CustomerMatch:
    """One candidate customer for a number, with what the screen pop shows."""

    id: int
    name: str
    kind: str
    vip: bool
    language: str | None
    email: str | None
    address: str | None
    owner_extension: str | None
    last_activity_at: dt.datetime | None
    matched_by: Literal["exact", "suffix"]
    phones: tuple[PhoneInfo, ...]
    contract: ContractInfo
    open_cases: tuple[CaseInfo, ...]
    recent_calls: tuple[CallInfo, ...]
    contact: ContactPreferences = ContactPreferences()


@dataclass(frozen=True, slots=True)
class CallerMatch:
    """The answer for one number: matched customers (best first), unknown, or an extension."""

    status: MatchStatus
    number: NormalisedNumber
    customers: tuple[CustomerMatch, ...] = ()

    @property
    def best(self) -> CustomerMatch | None:
        """The first-ranked customer, if any."""
        return self.customers[0] if self.customers else None

    def to_dict(self) -> dict[str, Any]:
        """JSON form (dates as ISO strings) for the screen pop and the REST API."""
        out = asdict(self)
        return _jsonable(out)  # type: ignore[no-any-return]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


class RowSource(Protocol):
    """Somewhere the lookup SQL can run: yields a fetch function for one lookup."""

    def reader(self) -> AbstractAsyncContextManager[Fetch]: ...

    async def close(self) -> None: ...


class EngineRowSource:
    """Runs lookups through the SQLAlchemy async engine (PostgreSQL, or SQLite via aiosqlite)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[Fetch]:
        async with self._engine.connect() as connection:

            async def fetch(sql: str, params: Mapping[str, Any]) -> list[Row]:
                result = await connection.execute(text(sql), dict(params))
                return [tuple(row) for row in result]

            yield fetch

    async def close(self) -> None:
        """The engine belongs to its Database; nothing to close here."""


class AsyncpgRowSource:
    """Runs lookups on a plain asyncpg pool (PostgreSQL fast path).

    asyncpg prepares and caches each statement per connection, and skipping the
    SQLAlchemy layer and its pre-ping saves most of a lookup's time.
    """

    _PARAM = re.compile(r"(?<![:\w]):(\w+)")

    def __init__(self, config: DatabaseConfig) -> None:
        self._dsn = make_url(config.url).set(drivername="postgresql").render_as_string(False)
        self._config = config
        self._pool: asyncpg.Pool | None = None
        self._starting = asyncio.Lock()
        self._converted: dict[str, tuple[str, tuple[str, ...]]] = {}

    async def _get_pool(self) -> asyncpg.Pool:
        async with self._starting:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self._dsn,
                    min_size=1,
                    max_size=self._config.pool_size,
                    timeout=self._config.connect_timeout,
                    command_timeout=self._config.statement_timeout,
                )
            return self._pool

    def _positional(self, sql: str) -> tuple[str, tuple[str, ...]]:
        converted = self._converted.get(sql)
        if converted is None:
            names: list[str] = []

            def number(match: re.Match[str]) -> str:
                if match.group(1) not in names:
                    names.append(match.group(1))
                return f"${names.index(match.group(1)) + 1}"

            converted = (self._PARAM.sub(number, sql), tuple(names))
            self._converted[sql] = converted
        return converted

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[Fetch]:
        pool = self._pool or await self._get_pool()
        async with pool.acquire() as connection:

            async def fetch(sql: str, params: Mapping[str, Any]) -> list[Row]:
                text_sql, names = self._positional(sql)
                return list(await connection.fetch(text_sql, *(params[n] for n in names)))

            yield fetch

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


class SqliteRowSource:
    """Runs lookups on a read-only stdlib connection, inline on the loop (SQLite fast path)."""

    def __init__(self, path: str) -> None:
        self._connection: sqlite3.Connection = open_sqlite_reader(path)

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[Fetch]:
        connection = self._connection

        async def fetch(sql: str, params: Mapping[str, Any]) -> list[Row]:
            return connection.execute(sql, params).fetchall()

        # One read transaction per lookup so its queries see one snapshot.
        connection.execute("BEGIN")
        try:
            yield fetch
        finally:
            connection.execute("COMMIT")

    async def close(self) -> None:
        self._connection.close()


_CUSTOMER_COLUMNS = """
    c.id, c.name, c.kind, c.vip, c.language, c.email, c.address,
    (SELECT MIN(d.extension) FROM devices d WHERE d.agent_id = c.owner_agent_id),
    c.last_activity_at, c.preferred_channel, c.call_from, c.call_until, c.do_not_call
"""
_RANKING = "ORDER BY (c.last_activity_at IS NULL), c.last_activity_at DESC, c.id DESC"
_EXACT_SQL = f"""
    SELECT {_CUSTOMER_COLUMNS} FROM phone_numbers p
    JOIN customers c ON c.id = p.customer_id
    WHERE p.e164 = :e164 {_RANKING} LIMIT :limit
"""
_SUFFIX_SQL = f"""
    SELECT {_CUSTOMER_COLUMNS} FROM phone_numbers p
    JOIN customers c ON c.id = p.customer_id
    WHERE p.reversed_digits >= :low AND p.reversed_digits < :high {_RANKING} LIMIT :limit
"""
# best_customers: the first-ranked customer per number, many numbers per round trip.
_EXACT_MANY_SQL = """
    SELECT p.e164, c.id FROM phone_numbers p JOIN customers c ON c.id = p.customer_id
    WHERE p.e164 IN ({numbers})
    ORDER BY p.e164, (c.last_activity_at IS NULL), c.last_activity_at DESC, c.id DESC
"""
_SUFFIX_MANY_SQL = """
    WITH wanted(e164, low, high) AS (VALUES {ranges})
    SELECT w.e164, c.id FROM wanted w
    JOIN phone_numbers p ON p.reversed_digits >= w.low AND p.reversed_digits < w.high
    JOIN customers c ON c.id = p.customer_id
    ORDER BY w.e164, (c.last_activity_at IS NULL), c.last_activity_at DESC, c.id DESC
"""
# A lookup's numbers, contracts and open cases in one round trip, read as _Detail rows.
# PostgreSQL types a UNION column from its first arm, hence the typed NULLs there.
_DETAILS_SQL = """
    SELECT 'phone', customer_id, raw, e164, kind, NULL,
           CAST(NULL AS DATE), CAST(NULL AS DATE), CAST(NULL AS TIMESTAMP WITH TIME ZONE),
           NULL, CAST(NULL AS TIMESTAMP WITH TIME ZONE), id
    FROM phone_numbers WHERE customer_id IN ({ids})
    UNION ALL
    SELECT 'contract', customer_id, plan, NULL, NULL, NULL,
           starts_on, ends_on, NULL, NULL, NULL, id
    FROM contracts WHERE customer_id IN ({ids})
    UNION ALL
    SELECT 'case', k.customer_id, k.tracking_code, k.subject, k.status, k.priority,
           NULL, NULL, k.due_at,
           (SELECT MIN(d.extension) FROM devices d WHERE d.agent_id = k.owner_agent_id),
           k.opened_at, k.id
    FROM cases k
    WHERE k.customer_id IN ({ids}) AND k.status IN ('open', 'pending')
"""
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class _CustomerRow(NamedTuple):
    """A row of ``_EXACT_SQL``/``_SUFFIX_SQL`` (``_CUSTOMER_COLUMNS``, in order)."""

    id: int
    name: str
    kind: str
    vip: bool
    language: str | None
    email: str | None
    address: str | None
    owner_extension: str | None
    last_activity_at: Any
    preferred_channel: str | None
    call_from: Any
    call_until: Any
    do_not_call: Any


class _Detail(NamedTuple):
    """A row of ``_DETAILS_SQL``; what the shared columns hold depends on ``what``."""

    what: Literal["phone", "contract", "case"]
    customer_id: int
    label: str  # phone: raw; contract: plan; case: tracking code
    text: Any  # phone: e164; case: subject
    state: Any  # phone: kind; case: status
    priority: Any  # case only
    starts_on: Any
    ends_on: Any
    due_at: Any
    owner_extension: str | None
    opened_at: Any
    row_id: int


class _CallRow(NamedTuple):
    """A row of ``_CALLS_SQL``."""

    call_id: str
    direction: str
    started_at: Any
    queue: str | None
    agent: str | None
    disposition: str
    talk_seconds: int | None
    note: str | None
    outcome: str | None


# The latest note and disposition code on each call come along: the pop shows what was
# said and decided last time.
_CALLS_SQL = """
    SELECT r.call_id, r.direction, r.started_at, r.queue, r.agent, r.disposition,
           r.talk_seconds,
           (SELECT n.body FROM notes n WHERE n.call_record_id = r.id AND n.body <> ''
            ORDER BY n.id DESC LIMIT 1),
           (SELECT n.disposition FROM notes n
            WHERE n.call_record_id = r.id AND n.disposition IS NOT NULL
            ORDER BY n.id DESC LIMIT 1)
    FROM call_records r WHERE r.customer_id = :customer_id
    ORDER BY r.started_at DESC, r.id DESC LIMIT :limit
"""


def _in_list(name: str, values: Sequence[int]) -> tuple[str, dict[str, int]]:
    keys = [f"{name}{i}" for i in range(len(values))]
    return ", ".join(f":{k}" for k in keys), dict(zip(keys, values, strict=True))


class LookupCache:
    """LRU + TTL cache of lookups by E.164 number, with change-driven invalidation."""

    def __init__(self, size: int, ttl: float, suffix_digits: int) -> None:
        self._size = size
        self._ttl = ttl
        self._suffix_digits = suffix_digits
        self._entries: OrderedDict[str, tuple[float, CallerMatch]] = OrderedDict()
        self._by_customer: dict[int, set[str]] = {}
        self._by_tail: dict[str, set[str]] = {}
        self.generation = 0
        """Bumped by every invalidation; a lookup that raced one does not store its result."""

    def get(self, e164: str, now: float) -> CallerMatch | None:
        """The cached match for ``e164`` if fresh."""
        entry = self._entries.get(e164)
        if entry is None:
            return None
        stored_at, match = entry
        if now - stored_at > self._ttl:
            self._drop(e164)
            return None
        self._entries.move_to_end(e164)
        return match

    def put(self, e164: str, match: CallerMatch, now: float, generation: int) -> None:
        """Store ``match`` unless an invalidation happened since ``generation`` was read."""
        if self._size <= 0 or generation != self.generation:
            return
        self._drop(e164)
        self._entries[e164] = (now, match)
        for customer in match.customers:
            self._by_customer.setdefault(customer.id, set()).add(e164)
        self._by_tail.setdefault(self._tail(e164), set()).add(e164)
        while len(self._entries) > self._size:
            oldest = next(iter(self._entries))
            self._drop(oldest)

    def invalidate(self, changes: Changes) -> None:
        """Drop every entry the changes could make wrong."""
        self.generation += 1
        doomed: set[str] = set()
        for customer_id in changes.customer_ids:
            doomed |= self._by_customer.get(customer_id, set())
        for number in changes.numbers:
            doomed.add(number)
            # A new or changed number can turn an unknown or suffix result into a match.
            doomed |= self._by_tail.get(self._tail(number), set())
        for key in doomed:
            self._drop(key)

    def clear(self) -> None:
        """Forget everything."""
        self.generation += 1
        self._entries.clear()
        self._by_customer.clear()
        self._by_tail.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _tail(self, e164: str) -> str:
        return e164[-self._suffix_digits :] if self._suffix_digits else e164

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        for customer in entry[1].customers:
            keys = self._by_customer.get(customer.id)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_customer[customer.id]
        tail = self._tail(key)
        keys = self._by_tail.get(tail)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_tail[tail]


class CallerDirectory:
    """Finds the customers behind a number, for screen pops, the IVR and the call log."""

    def __init__(
        self,
        source: RowSource,
        normaliser: PhoneNormaliser,
        config: CrmConfig,
        today: Callable[[], dt.date] | None = None,
    ) -> None:
        self._source = source
        self._normaliser = normaliser
        self._config = config
        self._today = today or (lambda: dt.datetime.now(dt.UTC).date())
        self.cache = LookupCache(
            config.lookup_cache_size, config.lookup_cache_ttl, config.suffix_match_digits
        )

    @classmethod
    def for_database(
        cls,
        database: Database,
        normaliser: PhoneNormaliser,
        config: CrmConfig,
        fast: bool = True,
    ) -> CallerDirectory:
        """A directory on ``database`` whose cache follows that database's commits.

        ``fast`` picks the direct driver path (stdlib sqlite3, plain asyncpg);
        without it lookups go through the SQLAlchemy engine.
        """
        path = sqlite_path(database.url) if database.is_sqlite else None
        source: RowSource
        if fast and path:
            source = SqliteRowSource(path)
        elif fast and database.url.get_backend_name() == "postgresql":
            source = AsyncpgRowSource(database.config)
        else:
            source = EngineRowSource(database.engine)
        directory = cls(source, normaliser, config)
        database.subscribe(directory.invalidate)
        return directory

    @property
    def normaliser(self) -> PhoneNormaliser:
        """The normaliser lookups use."""
        return self._normaliser

    async def lookup(
        self, number: str | None, trunk: str | None = None, use_cache: bool = True
    ) -> CallerMatch:
        """Who is behind ``number``: ranked customers, or unknown, or an internal extension."""
        normalised = self._normaliser.normalise(number, trunk)
        if normalised.kind == "extension":
            return CallerMatch("extension", normalised)
        if normalised.e164 is None:
            return CallerMatch("unknown", normalised)
        e164 = normalised.e164
        now = time.monotonic()
        if use_cache:
            cached = self.cache.get(e164, now)
            if cached is not None:
                # Same people, but tell the caller how this particular string was read.
                return CallerMatch(cached.status, normalised, cached.customers)
        generation = self.cache.generation
        customers = await self._find(e164)
        match = CallerMatch("matched" if customers else "unknown", normalised, customers)
        if use_cache:
            self.cache.put(e164, match, now, generation)
        return match

    async def best_customers(self, numbers: Iterable[str]) -> dict[str, int | None]:
        """The first-ranked customer's id for each number, as :meth:`lookup` would rank them.

        For a batch (the call log catching up): cached answers first, then one
        query for every exact match and one for every last-digits match of
        the rest, instead of a lookup's three round trips per number.
        """
        out: dict[str, int | None] = {}
        wanted: dict[str, list[str]] = {}  # e164 -> the raw numbers that read as it
        now = time.monotonic()
        for number in numbers:
            normalised = self._normaliser.normalise(number)
            out[number] = None
            if normalised.kind == "extension" or normalised.e164 is None:
                continue
            cached = self.cache.get(normalised.e164, now)
            if cached is not None:
                out[number] = cached.best.id if cached.best else None
                continue
            wanted.setdefault(normalised.e164, []).append(number)
        if not wanted:
            return out
        best: dict[str, int] = {}
        async with self._source.reader() as fetch:
            keys = sorted(wanted)
            placeholders = ", ".join(f":e{i}" for i in range(len(keys)))
            params: dict[str, Any] = {f"e{i}": e164 for i, e164 in enumerate(keys)}
            for e164, customer_id in await fetch(
                _EXACT_MANY_SQL.format(numbers=placeholders), params
            ):
                best.setdefault(e164, int(customer_id))
            digits = self._config.suffix_match_digits
            rest = [e164 for e164 in keys if e164 not in best]
            if rest and digits:
                rows = []
                params = {}
                for i, e164 in enumerate(rest):
                    low = reverse_digits_prefix(e164, digits)
                    rows.append(f"(:e{i}, :l{i}, :h{i})")
                    params |= {f"e{i}": e164, f"l{i}": low, f"h{i}": low + ":"}
                sql = _SUFFIX_MANY_SQL.format(ranges=", ".join(rows))
                for e164, customer_id in await fetch(sql, params):
                    best.setdefault(e164, int(customer_id))
        for e164, raws in wanted.items():
            for raw in raws:
                out[raw] = best.get(e164)
        return out

    async def contract_state(self, number: str | None) -> ContractState:
        """The IVR's question: the best-ranked caller's contract state (``none`` if unknown)."""
        match = await self.lookup(number)
        return match.best.contract.state if match.best else "none"

    def invalidate(self, changes: Changes) -> None:
        """Drop cached lookups that ``changes`` could have made wrong."""
        self.cache.invalidate(changes)

    async def close(self) -> None:
        """Release the row source."""
        await self._source.close()

    async def _find(self, e164: str) -> tuple[CustomerMatch, ...]:
        limit = self._config.max_candidates
        async with self._source.reader() as fetch:
            rows = await fetch(_EXACT_SQL, {"e164": e164, "limit": limit})
            matched_by: Literal["exact", "suffix"] = "exact"
            if not rows and self._config.suffix_match_digits:
                low = reverse_digits_prefix(e164, self._config.suffix_match_digits)
                # ':' sorts right after '9': [low, low + ':') is "starts with low".
                params = {"low": low, "high": low + ":", "limit": limit * 4}
                rows = await fetch(_SUFFIX_SQL, params)
                matched_by = "suffix"
            if not rows:
                return ()
            # A customer with two numbers sharing the suffix comes back once, at its best rank.
            unique: list[Row] = []
            seen: set[int] = set()
            for row in rows:
                if row[0] not in seen:
                    seen.add(row[0])
                    unique.append(row)
            unique = unique[:limit]
            return await self._details(fetch, unique, matched_by)

    async def _details(
        self, fetch: Fetch, rows: list[Row], matched_by: Literal["exact", "suffix"]
    ) -> tuple[CustomerMatch, ...]:
        ids = [int(r[0]) for r in rows]
        placeholders, params = _in_list("c", ids)
        found = await fetch(_DETAILS_SQL.format(ids=placeholders), params)
        details = [_Detail(*d) for d in found]
        phones = sorted((d for d in details if d.what == "phone"), key=lambda d: d.row_id)
        contracts = [d for d in details if d.what == "contract"]
        cases = sorted(
            (d for d in details if d.what == "case"),
            key=lambda d: (as_datetime(d.opened_at) or _EPOCH, d.row_id),
            reverse=True,
        )
        today = self._today()
        out = []
        for customer in (_CustomerRow(*r) for r in rows):
            customer_id = int(customer.id)
            calls: list[_CallRow] = []
            if self._config.recent_calls:
                limit = {"customer_id": customer_id, "limit": self._config.recent_calls}
                calls = [_CallRow(*c) for c in await fetch(_CALLS_SQL, limit)]
            out.append(
                CustomerMatch(
                    id=customer_id,
                    name=customer.name,
                    kind=customer.kind,
                    vip=bool(customer.vip),
                    language=customer.language,
                    email=customer.email,
                    address=customer.address,
                    owner_extension=customer.owner_extension,
                    last_activity_at=as_datetime(customer.last_activity_at),
                    matched_by=matched_by,
                    phones=tuple(
                        PhoneInfo(p.label, p.text, p.state)
                        for p in phones
                        if p.customer_id == customer_id
                    ),
                    contract=contract_state(
                        [
                            (c.label, as_date(c.starts_on), as_date(c.ends_on))
                            for c in contracts
                            if c.customer_id == customer_id
                        ],
                        today,
                        self._config.contract_expiring_days,
                    ),
                    open_cases=tuple(
                        CaseInfo(
                            k.row_id,
                            k.label,
                            k.text,
                            k.state,
                            k.priority,
                            as_datetime(k.due_at),
                            k.owner_extension,
                        )
                        for k in cases
                        if k.customer_id == customer_id
                    ),
                    recent_calls=tuple(
                        CallInfo(
                            c.call_id,
                            c.direction,
                            as_datetime(c.started_at),
                            c.queue,
                            c.agent,
                            c.disposition,
                            c.talk_seconds,
                            c.note,
                            c.outcome,
                        )
                        for c in calls
                    ),
                    contact=ContactPreferences(
                        customer.preferred_channel,
                        clock_text(customer.call_from),
                        clock_text(customer.call_until),
                        bool(customer.do_not_call),
                    ),
                )
            )
        return tuple(out)


def contract_state(
    contracts: Sequence[tuple[str, dt.date | None, dt.date | None]],
    today: dt.date,
    expiring_days: int,
) -> ContractInfo:
    """The state that matters for the call: the best current contract, else the latest ended.

    ``contracts`` are ``(plan, starts_on, ends_on)``; ``ends_on`` None is open-ended, and
    a contract is still valid on its ``ends_on`` day.
    """
    current = [
        c for c in contracts if (c[1] is None or c[1] <= today) and (c[2] is None or c[2] >= today)
    ]
    if current:
        plan, _, ends_on = max(current, key=lambda c: c[2] or dt.date.max)
        if ends_on is not None and (ends_on - today).days <= expiring_days:
            return ContractInfo("expiring", plan, ends_on)
        return ContractInfo("active", plan, ends_on)
    ended = [c for c in contracts if c[2] is not None and c[2] < today]
    if ended:
        plan, _, ends_on = max(ended, key=lambda c: c[2] or dt.date.min)
        return ContractInfo("expired", plan, ends_on)
    return ContractInfo("none")


def clock_text(value: Any) -> str | None:
    """ "HH:MM" from a time either database driver returned (SQLite: "09:00:00.000000")."""
    if value is None:
        return None
    if isinstance(value, dt.time):
        return value.strftime("%H:%M")
    return str(value)[:5]


def as_datetime(value: Any) -> dt.datetime | None:
    """A timezone-aware UTC datetime from what either database driver returned."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)  # type: ignore[no-any-return]
    return value.astimezone(dt.UTC)  # type: ignore[no-any-return]


def as_date(value: Any) -> dt.date | None:
    """A date from what either database driver returned."""
    if value is None:
        return None
    if isinstance(value, str):
        return dt.date.fromisoformat(value[:10])
    if isinstance(value, dt.datetime):
        return value.date()
    return value  # type: ignore[no-any-return]
