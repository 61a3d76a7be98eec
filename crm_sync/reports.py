"""Reports over the call log and the case files: per queue, agent, day and interval.

The database does the counting: one ``GROUP BY`` over the covering index
``ix_call_records_report`` yields, per group and per 15-minute UTC slot, the
sums of a :class:`cti.figures.Tally` (each queue's own threshold and short-
abandon time are ``CASE`` expressions in the query), so a month over a
million calls reads one index and returns a few thousand rows. Slots are
then merged in Python into local days and 15/30/60-minute intervals (every
real time zone's offset is a whole number of quarter hours), and
:func:`cti.figures.figures_of` turns each tally into figures. The
definitions (Cisco Unified CCE) are in :mod:`cti.figures`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    case,
    cast,
    delete,
    func,
    literal,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.elements import KeyedColumnElement

from crm_sync.db import Database, is_sqlite
from crm_sync.models import (
    OPEN_CASE_STATUSES,
    Agent,
    CallRecord,
    CallRollup,
    CallRollupState,
    Case,
    Device,
    Queue,
)
from cti.figures import (
    STANDARD,
    Figures,
    QueueTargets,
    ServiceLevelType,
    Tally,
    TargetBook,
    figures_of,
)
from cti.report_table import ReportTable

Dimension = Literal["queue", "agent", "direction", "day", "interval"]
DIMENSIONS: tuple[Dimension, ...] = ("queue", "agent", "direction", "day", "interval")
INTERVALS: tuple[int, ...] = (15, 30, 60)
SLOT_SECONDS = 900
MAX_RANGE = dt.timedelta(days=366)

_TALLY_FIELDS = (
    "calls",
    "offered",
    "answered",
    "direct_answered",
    "abandoned",
    "short_abandoned",
    "answered_in_threshold",
    "abandoned_in_threshold",
    "answer_wait_sum",
    "abandon_wait_sum",
    "handled",
    "handle_sum",
    "talk_sum",
    "longest_wait",
    "transfers",
    "outbound",
    "outbound_answered",
)


class ReportError(ValueError):
    """A report was asked for with bad parameters; the message names which."""


@dataclass(frozen=True, slots=True)
class ReportRequest:
    """Which calls (``[start, end)``, timezone-aware) and how to group them."""

    start: dt.datetime
    end: dt.datetime
    by: tuple[Dimension, ...]
    zone: dt.tzinfo
    interval_minutes: int = 15
    queues: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ReportError("from/to: give timezone-aware times")
        if self.end <= self.start:
            raise ReportError("to: must be after from")
        if self.end - self.start > MAX_RANGE:
            raise ReportError("to: a report spans at most 366 days")
        if self.interval_minutes not in INTERVALS:
            raise ReportError("interval: must be 15, 30 or 60 minutes")
        for d in self.by:
            if d not in DIMENSIONS:
                raise ReportError(f"by: unknown grouping {d!r}")


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One group's key (``queue``, ``agent``, ``day``, ``interval``...) and its figures."""

    key: tuple[tuple[str, str | None], ...]
    tally: Tally
    figures: Figures

    def to_dict(self) -> dict[str, Any]:
        """JSON form: the key's fields, then every figure."""
        f = self.figures
        return {
            **dict(self.key),
            "offered": f.offered,
            "answered": f.answered,
            "abandoned": f.abandoned,
            "short_abandoned": f.short_abandoned,
            "answered_in_threshold": f.answered_in_threshold,
            "abandoned_in_threshold": f.abandoned_in_threshold,
            "service_level_pct": f.service_level_pct,
            "abandon_pct": f.abandon_pct,
            "asa_s": f.asa_s,
            "aht_s": f.aht_s,
            "avg_talk_s": f.avg_talk_s,
            "time_to_abandon_s": f.time_to_abandon_s,
            "longest_wait_s": f.longest_wait_s,
            "handled": f.handled,
            "transfers": f.transfers,
            "outbound": f.outbound,
            "outbound_answered": f.outbound_answered,
        }


def _per_queue(column: Any, values: dict[str, int], default: int) -> ColumnElement[Any]:
    if not values:
        return literal(default)
    return case(values, value=column, else_=literal(default))


def _tally_columns(book: TargetBook) -> list[KeyedColumnElement[Any]]:
    c = CallRecord
    threshold = _per_queue(
        c.queue,
        {q: t.threshold_seconds for q, t in book.per_queue.items()},
        book.default.threshold_seconds,
    )
    short = _per_queue(
        c.queue,
        {q: t.short_abandon_seconds for q, t in book.per_queue.items()},
        book.default.short_abandon_seconds,
    )
    wait = func.coalesce(c.wait_seconds, 0)
    inbound = c.direction != "outbound"
    answered = c.disposition == "answered"
    queued = and_(inbound, c.queue.is_not(None), c.queue != "")
    short_abandon = and_(queued, c.disposition == "abandoned", wait < short)
    offered = and_(queued, not_(short_abandon))
    handled = and_(inbound, answered, c.talk_seconds.is_not(None))
    abandoned = and_(offered, c.disposition == "abandoned")

    def count(condition: ColumnElement[bool]) -> ColumnElement[Any]:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    def total(condition: ColumnElement[bool], value: ColumnElement[Any]) -> ColumnElement[Any]:
        return func.coalesce(func.sum(case((condition, value), else_=0)), 0)

    columns: dict[str, ColumnElement[Any]] = {
        "calls": func.count(),
        "offered": count(offered),
        "answered": count(and_(queued, answered)),
        "direct_answered": count(and_(inbound, answered, or_(c.queue.is_(None), c.queue == ""))),
        "abandoned": count(abandoned),
        "short_abandoned": count(short_abandon),
        "answered_in_threshold": count(and_(queued, answered, wait <= threshold)),
        "abandoned_in_threshold": count(and_(abandoned, wait <= threshold)),
        "answer_wait_sum": total(and_(queued, answered), wait),
        "abandon_wait_sum": total(abandoned, wait),
        "handled": count(handled),
        "handle_sum": total(handled, c.talk_seconds + func.coalesce(c.wrapup_seconds, 0)),
        "talk_sum": total(handled, func.coalesce(c.talk_seconds, 0)),
        "longest_wait": func.coalesce(func.max(case((offered, wait), else_=None)), 0),
        "transfers": func.coalesce(func.sum(c.transfer_count), 0),
        "outbound": count(c.direction == "outbound"),
        "outbound_answered": count(and_(c.direction == "outbound", answered)),
    }
    return [columns[name].label(name) for name in _TALLY_FIELDS]


def _slot_column(database: Database) -> ColumnElement[Any]:
    """The call's 15-minute UTC slot: epoch seconds // 900, an integer on both databases."""
    if is_sqlite(database.config.url):
        # SQLite keeps naive UTC text; unixepoch() is SQLite 3.38+, strftime('%s') works everywhere.
        return cast(func.strftime("%s", CallRecord.started_at), Integer) // SLOT_SECONDS
    epoch = func.extract("epoch", CallRecord.started_at)
    return cast(func.floor(epoch / SLOT_SECONDS), Integer)


def _label(slot: int, dimension: Dimension, request: ReportRequest) -> str:
    moment = dt.datetime.fromtimestamp(slot * SLOT_SECONDS, request.zone)
    if dimension == "day":
        return moment.date().isoformat()
    minutes = (moment.hour * 60 + moment.minute) // request.interval_minutes
    start = moment.replace(
        hour=minutes * request.interval_minutes // 60,
        minute=minutes * request.interval_minutes % 60,
        second=0,
        microsecond=0,
    )
    return start.isoformat(timespec="minutes")


async def call_report(
    database: Database,
    request: ReportRequest,
    book: TargetBook,
    kind: ServiceLevelType = "abandoned_ignored",
) -> list[ReportRow]:
    """The call figures of ``request``, one row per group, in key order.

    Ranges on quarter-hour boundaries (whole local days, intervals) grouped by
    queue or by agent (not both) are read from the rollups, brought up to date
    first; the few calls written since are read raw and added. Anything else
    (filters, ranges not on a quarter hour) is counted from the calls themselves.
    """
    grain = _rollup_grain(request)
    merged: dict[tuple[tuple[str, str | None], ...], Tally] = {}
    if grain is None:
        await _count_raw(database, request, book, None, merged)
    else:
        last = await refresh_rollups(database, book)
        await _count_rollups(database, request, grain, merged)
        await _count_raw(database, request, book, last, merged)
    return [
        ReportRow(key, tally, figures_of(tally, kind))
        for key, tally in sorted(merged.items(), key=lambda kv: [v or "" for _, v in kv[0]])
    ]


def _rollup_grain(request: ReportRequest) -> Literal["queue", "agent"] | None:
    plain = {d for d in request.by if d not in ("day", "interval")}
    aligned = all(t.timestamp() % SLOT_SECONDS == 0 for t in (request.start, request.end))
    if request.queues or request.agents or not aligned or "direction" in plain:
        return None
    if plain == {"queue", "agent"}:
        return None
    return "agent" if "agent" in plain else "queue"


def _keyed(
    request: ReportRequest,
    values: list[Any],
    plain: Sequence[Dimension],
    timed: Sequence[Dimension],
    merged: dict[tuple[tuple[str, str | None], ...], Tally],
) -> None:
    key: list[tuple[str, str | None]] = [(d, values.pop(0) or None) for d in plain]
    if timed:
        slot = int(values.pop(0))
        key += [(d, _label(slot, d, request)) for d in timed]
    tally = Tally(**{name: int(v or 0) for name, v in zip(_TALLY_FIELDS, values, strict=True)})
    if tally.calls == 0:
        return
    existing = merged.get(tuple(key))
    if existing is None:
        merged[tuple(key)] = tally
    else:
        existing.merge(tally)


async def _count_raw(
    database: Database,
    request: ReportRequest,
    book: TargetBook,
    after_id: int | None,
    merged: dict[tuple[tuple[str, str | None], ...], Tally],
) -> None:
    c = CallRecord
    group: list[Any] = []
    plain = [d for d in request.by if d in ("queue", "agent", "direction")]
    timed = [d for d in request.by if d in ("day", "interval")]
    for d in plain:
        group.append({"queue": c.queue, "agent": c.agent, "direction": c.direction}[d])
    if timed:
        group.append(_slot_column(database).label("slot"))
    where = [c.started_at >= request.start, c.started_at < request.end]
    if after_id is not None:
        where.append(c.id > after_id)
    if "queue" in plain:
        where.append(c.queue.is_not(None))
    if "agent" in plain:
        where.append(c.agent.is_not(None))
    if request.queues:
        where.append(c.queue.in_(request.queues))
    if request.agents:
        where.append(c.agent.in_(request.agents))
    query = select(*group, *_tally_columns(book)).where(*where)
    if group:
        query = query.group_by(*group)
    async with database.sessions() as session:
        rows = (await session.execute(query)).all()
    for row in rows:
        _keyed(request, list(row), plain, timed, merged)


async def _count_rollups(
    database: Database,
    request: ReportRequest,
    grain: Literal["queue", "agent"],
    merged: dict[tuple[tuple[str, str | None], ...], Tally],
) -> None:
    r = CallRollup
    plain: list[Dimension] = [d for d in request.by if d in ("queue", "agent")]
    timed = [d for d in request.by if d in ("day", "interval")]
    group: list[Any] = [r.name] if plain else []
    if timed:
        group.append(r.slot)
    sums = [
        (func.max(getattr(r, n)) if n == "longest_wait" else func.sum(getattr(r, n))).label(n)
        for n in _TALLY_FIELDS
    ]
    where = [
        r.grain == grain,
        r.slot >= int(request.start.timestamp()) // SLOT_SECONDS,
        r.slot < int(request.end.timestamp()) // SLOT_SECONDS,
    ]
    if plain:
        where.append(r.name != "")
    query = select(*group, *sums).where(*where)
    if group:
        query = query.group_by(*group)
    async with database.sessions() as session:
        rows = (await session.execute(query)).all()
    for row in rows:
        _keyed(request, list(row), plain, timed, merged)


ROLLUP_LAG = dt.timedelta(seconds=60)
"""Calls written in the last minute are read raw: an insert still in flight never gets
skipped by a rollup that moved past its id."""


def _book_text(book: TargetBook) -> str:
    def one(t: QueueTargets) -> list[int]:
        return [t.threshold_seconds, t.short_abandon_seconds]

    return json.dumps(
        {"default": one(book.default), "queues": {q: one(t) for q, t in book.per_queue.items()}},
        sort_keys=True,
    )


ROLLUP_CHUNK = 50_000
"""Calls rolled up per transaction: each statement stays well within the statement timeout,
and a first build over millions of calls makes progress that is kept."""


async def refresh_rollups(database: Database, book: TargetBook) -> int:
    """Roll calls written since the last refresh into ``call_rollups``; returns the last id
    rolled up (later calls are to be read raw). Other targets than last time: rebuilt."""
    targets = _book_text(book)
    while True:
        last, done = await _refresh_chunk(database, book, targets)
        if done:
            return last


async def _refresh_chunk(database: Database, book: TargetBook, targets: str) -> tuple[int, bool]:
    sqlite = is_sqlite(database.config.url)
    upsert = sqlite_insert if sqlite else postgresql_insert
    async with database.engine.begin() as connection:
        # Written first, so concurrent refreshes queue here rather than count twice.
        await connection.execute(
            upsert(CallRollupState)
            .values(id=1, last_call_id=0, targets=targets)
            .on_conflict_do_update(index_elements=["id"], set_={"id": CallRollupState.id})
        )
        state = (
            await connection.execute(
                select(CallRollupState.last_call_id, CallRollupState.targets).where(
                    CallRollupState.id == 1
                )
            )
        ).one()
        last = int(state.last_call_id)
        if state.targets != targets:
            await connection.execute(delete(CallRollup))
            last = 0
        cutoff = dt.datetime.now(dt.UTC) - ROLLUP_LAG
        top = await connection.scalar(
            select(func.max(CallRecord.id)).where(
                CallRecord.id > last, CallRecord.written_at < cutoff
            )
        )
        done = top is None or top <= last + ROLLUP_CHUNK
        if top is not None:
            top = min(int(top), last + ROLLUP_CHUNK)
            slot = _slot_column(database)
            for grain, column in (("queue", CallRecord.queue), ("agent", CallRecord.agent)):
                name = func.coalesce(column, "")
                source = (
                    select(
                        literal(grain),
                        slot,
                        name,
                        CallRecord.direction,
                        *_tally_columns(book),
                    )
                    .where(
                        CallRecord.id > last,
                        CallRecord.id <= top,
                        CallRecord.started_at.is_not(None),
                    )
                    .group_by(slot, name, CallRecord.direction)
                )
                statement = upsert(CallRollup).from_select(
                    ["grain", "slot", "name", "direction", *_TALLY_FIELDS], source
                )
                excluded = statement.excluded
                longest = func.max if sqlite else func.greatest
                statement = statement.on_conflict_do_update(
                    index_elements=["grain", "slot", "name", "direction"],
                    set_={
                        n: (
                            longest(getattr(CallRollup, n), getattr(excluded, n))
                            if n == "longest_wait"
                            else getattr(CallRollup, n) + getattr(excluded, n)
                        )
                        for n in _TALLY_FIELDS
                    },
                )
                await connection.execute(statement)
            last = top
        await connection.execute(
            update(CallRollupState)
            .where(CallRollupState.id == 1)
            .values(last_call_id=last, targets=targets)
        )
    return last, done


@dataclass(frozen=True, slots=True)
class CaseRow:
    """Case work of one person (or nobody: ``agent`` None) over the range."""

    agent: str | None
    """The owner's extension, or username where they have none."""
    opened: int
    closed: int
    overdue: int
    first_contact_resolved: int
    calls_on_cases: int
    cases_with_calls: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "cases_opened": self.opened,
            "cases_closed": self.closed,
            "cases_overdue": self.overdue,
            "first_contact_resolution_pct": (
                round(100 * self.first_contact_resolved / self.closed, 1) if self.closed else None
            ),
            "calls_per_case": (
                round(self.calls_on_cases / self.cases_with_calls, 2)
                if self.cases_with_calls
                else None
            ),
        }


async def case_report(
    database: Database, request: ReportRequest, now: dt.datetime
) -> list[CaseRow]:
    """Per case owner: cases opened and closed in the range, overdue now, first-contact
    resolution (closed cases that took a single call), calls per case.
    """
    extension = (
        select(Device.agent_id, func.min(Device.extension).label("extension"))
        .where(Device.agent_id.is_not(None))
        .group_by(Device.agent_id)
        .subquery()
    )
    owner = func.coalesce(extension.c.extension, Agent.username)
    closed_in_range = and_(
        Case.resolved_at.is_not(None),
        Case.resolved_at >= request.start,
        Case.resolved_at < request.end,
    )
    calls = (
        select(CallRecord.case_id, func.count().label("n"))
        .where(CallRecord.case_id.is_not(None))
        .group_by(CallRecord.case_id)
        .subquery()
    )
    n = func.coalesce(calls.c.n, 0)
    opened_in_range = and_(Case.opened_at >= request.start, Case.opened_at < request.end)
    query = (
        select(
            owner.label("owner"),
            func.sum(case((opened_in_range, 1), else_=0)),
            func.sum(case((closed_in_range, 1), else_=0)),
            func.sum(
                case(
                    (
                        and_(
                            Case.status.in_(OPEN_CASE_STATUSES),
                            Case.due_at.is_not(None),
                            Case.due_at < now,
                        ),
                        1,
                    ),
                    else_=0,
                )
            ),
            func.sum(
                case(
                    (and_(closed_in_range, or_(Case.first_contact_resolution, n == 1)), 1),
                    else_=0,
                )
            ),
            func.sum(case((opened_in_range, n), else_=0)),
            func.sum(case((and_(opened_in_range, n > 0), 1), else_=0)),
        )
        .select_from(Case)
        .outerjoin(Agent, Agent.id == Case.owner_agent_id)
        .outerjoin(extension, extension.c.agent_id == Agent.id)
        .outerjoin(calls, calls.c.case_id == Case.id)
        .where(
            or_(
                opened_in_range,
                closed_in_range,
                Case.status.in_(OPEN_CASE_STATUSES),
            )
        )
        .group_by(owner)
    )
    async with database.sessions() as session:
        rows = (await session.execute(query)).all()
    out = [CaseRow(r[0], *(int(v or 0) for v in r[1:])) for r in rows]
    return sorted(out, key=lambda r: r.agent or "")


async def target_book(database: Database, default: QueueTargets) -> TargetBook:
    """Each queue's own threshold and target (administration), the defaults for the rest."""
    async with database.sessions() as session:
        rows = (
            await session.execute(
                select(Queue.name, Queue.sla_threshold_seconds, Queue.sla_target_percent)
            )
        ).all()
    return TargetBook(
        default,
        {
            name: dataclasses.replace(
                default, threshold_seconds=threshold, target_percent=float(target)
            )
            for name, threshold, target in rows
        },
    )


def standard_note(kind: ServiceLevelType) -> str:
    """What the figures follow, for pages, CSV headers and the CLI."""
    return f"{STANDARD}; service-level type {kind}"


def cast_dimension(name: str) -> Dimension:
    """``name`` as a :data:`Dimension` (checked by the caller)."""
    return next(d for d in DIMENSIONS if d == name)


def parse_grouping(raw: str | Sequence[str]) -> tuple[Dimension, ...]:
    """``"queue,day"`` → ``("queue", "day")``; raises :class:`ReportError` naming a bad one."""
    parts = [p.strip() for p in (raw.split(",") if isinstance(raw, str) else raw) if p.strip()]
    out: list[Dimension] = []
    for p in parts:
        if p not in DIMENSIONS:
            raise ReportError(f"by: unknown grouping {p!r} ({', '.join(DIMENSIONS)})")
        out.append(cast_dimension(p))
    if "day" in out and "interval" in out:
        raise ReportError("by: day or interval, not both")
    return tuple(out)


ReportKind = Literal["queues", "teams", "agents", "calls"]
REPORT_KINDS: tuple[ReportKind, ...] = ("queues", "teams", "agents", "calls")
CALL_COLUMNS: tuple[str, ...] = (
    "offered",
    "answered",
    "abandoned",
    "short_abandoned",
    "service_level_pct",
    "abandon_pct",
    "asa_s",
    "aht_s",
    "time_to_abandon_s",
    "longest_wait_s",
    "transfers",
    "outbound",
    "outbound_answered",
)
CASE_COLUMNS: tuple[str, ...] = (
    "cases_opened",
    "cases_closed",
    "cases_overdue",
    "first_contact_resolution_pct",
    "calls_per_case",
)


async def build_table(
    database: Database,
    kind: ReportKind,
    request: ReportRequest,
    book: TargetBook,
    service_level_type: ServiceLevelType,
    now: dt.datetime,
) -> ReportTable:
    """One report: ``queues`` (per queue), ``teams`` (queues merged per team), ``agents``
    (per agent, with their case work) or
    ``calls`` (per local day, or per interval when ``request.by`` holds ``interval``:
    the requests per day and through the day)."""
    if kind in ("queues", "teams"):
        key: tuple[Dimension, ...] = ("queue",)
    elif kind == "agents":
        key = ("agent",)
    else:
        key = ("interval",) if "interval" in request.by else ("day",)
    grouped = ReportRequest(
        request.start,
        request.end,
        key,
        request.zone,
        request.interval_minutes,
        request.queues,
        request.agents,
    )
    rows = await call_report(database, grouped, book, service_level_type)
    if kind == "teams":
        rows = await _by_team(database, rows, service_level_type)
    columns = (
        (("team",) if kind == "teams" else key)
        + (("calls",) if kind == "calls" else ())
        + CALL_COLUMNS
    )
    records: dict[str | None, dict[str, Any]] = {}
    for row in rows:
        record = row.to_dict()
        record["calls"] = row.tally.calls
        records[dict(row.key)["team" if kind == "teams" else key[0]]] = record
    if kind == "agents":
        columns += CASE_COLUMNS
        for case_row in await case_report(database, grouped, now):
            if case_row.agent is None:
                continue
            record = records.setdefault(case_row.agent, {"agent": case_row.agent})
            record.update(case_row.to_dict())
    body = tuple(
        tuple(records[name].get(c, 0 if c in CASE_COLUMNS[:3] else None) for c in columns)
        for name in sorted(records, key=lambda n: n or "")
    )
    return ReportTable(
        kind=kind,
        columns=columns,
        rows=body,
        standard=standard_note(service_level_type),
        start=request.start.isoformat(),
        end=request.end.isoformat(),
    )


async def _by_team(
    database: Database, rows: list[ReportRow], kind: ServiceLevelType
) -> list[ReportRow]:
    """Queue rows merged per team (the administration's ``queues.team``; none: ``None``)."""
    async with database.sessions() as session:
        teams = {name: team for name, team in await session.execute(select(Queue.name, Queue.team))}
    merged: dict[str | None, Tally] = {}
    for row in rows:
        team = teams.get(str(dict(row.key)["queue"]))
        merged.setdefault(team, Tally()).merge(row.tally)
    return [
        ReportRow((("team", team),), tally, figures_of(tally, kind))
        for team, tally in sorted(merged.items(), key=lambda kv: kv[0] or "")
    ]


def day_range(first: dt.date, last: dt.date, zone: dt.tzinfo) -> tuple[dt.datetime, dt.datetime]:
    """``first`` to ``last`` (both included) as local midnights in ``zone``."""
    if last < first:
        raise ReportError("to: must not be before from")
    start = dt.datetime.combine(first, dt.time(), zone)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), zone)
    return start, end
