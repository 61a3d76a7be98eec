"""The panel's CRM interfaces implemented over ``crm_sync`` (SQLite or PostgreSQL).

One class per interface of :mod:`popup_server.ports`, each built from the
``crm_sync`` object that owns the data; the screen pop's lookup is
:class:`crm_sync.screenpop_lookup.CrmCallerLookup`. Panel user ids are ``agents.id``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, or_, select, text

from crm_sync.alerts import AlertStore
from crm_sync.audit import AuditLog
from crm_sync.call_lists import CallListError, CallListService, ListSource
from crm_sync.call_log import record_wrap_up
from crm_sync.callbacks import CallbackService, CallRefused
from crm_sync.cases import CaseError, CaseService
from crm_sync.customers import CustomerError, CustomerService
from crm_sync.db import Database
from crm_sync.matching import CallerDirectory, clock_text
from crm_sync.models import Agent, AlertRecord, CallRecord, Case, Customer, Note
from crm_sync.passwords import UNMATCHABLE_HASH, verify_password
from crm_sync.phonebook import MIN_INDEXED_QUERY, fold_query, like_pattern
from crm_sync.reports import (
    REPORT_KINDS,
    Dimension,
    ReportError,
    ReportRequest,
    build_table,
    call_report,
    cast_dimension,
    day_range,
    target_book,
)
from crm_sync.screenpop_lookup import CrmCallerLookup
from cti.bus import EventBus
from cti.events import AlertAcknowledged
from cti.figures import QueueTargets, TargetBook
from cti.report_table import ReportTable
from cti.settings import FiguresConfig
from ctihub.admin_backend import CrmAdministration, CrmApiTokens, PbxImport
from popup_server.auth import ROLES, Role, User
from popup_server.ports import (
    AlertView,
    AudioFile,
    CallbackView,
    CallListEntryView,
    CallListLoaded,
    CallListProgress,
    CallRecording,
    CallRefusedError,
    CaseInfo,
    CrmError,
    CustomerChanges,
    DayTallies,
    Dial,
    EntryOutcome,
    HistoryQuery,
    Intervention,
    LoggedCallSummary,
    PanelBackends,
    PbxActions,
    PhonebookEntry,
    PhoneEntry,
    RecordingUnavailable,
    ReportQuery,
    SavedNote,
    SkippedRow,
)
from recordings.library import RecordingLibrary, RecordingUnavailableError


class CrmUserStore:
    """:class:`popup_server.auth.UserStore` over the ``agents`` table."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def authenticate(self, username: str, password: str) -> User | None:
        async with self._db.sessions() as session:
            agent = await session.scalar(
                select(Agent).where(Agent.username == username, Agent.active.is_(True))
            )
        stored = agent.password_hash if agent is not None else None
        # An agent without a password hashes too, like an unknown name: timing tells nothing.
        ok = await asyncio.to_thread(verify_password, password, stored or UNMATCHABLE_HASH)
        return _user(agent) if agent is not None and ok else None

    async def get(self, user_id: int) -> User | None:
        async with self._db.sessions() as session:
            agent = await session.get(Agent, user_id)
        return _user(agent) if agent is not None and agent.active else None


def _user(agent: Agent) -> User:
    roles: tuple[Role, ...] = tuple(r for r in ROLES if r in agent.roles) or ("agent",)
    return User(
        id=agent.id,
        username=agent.username,
        name=agent.name,
        role=roles[-1],
        extensions=agent.extensions,
        language=agent.language,
        roles=roles,
    )


class CrmPhonebook:
    """:class:`popup_server.ports.Phonebook`: any part of a name, account or number.

    Matched on the folded ``customers.search_text`` through each database's
    trigram index (:mod:`crm_sync.phonebook`); names starting with the query first.
    """

    def __init__(self, database: Database) -> None:
        self._db = database

    async def search(self, query: str, limit: int) -> list[PhonebookEntry]:
        folded = fold_query(query)
        if not folded:
            return []
        async with self._db.sessions() as session:
            if len(folded) < MIN_INDEXED_QUERY:
                # Too short for trigrams: the start of the text (the name) only.
                condition = Customer.search_text.startswith(folded, autoescape=True)
            elif self._db.is_sqlite:
                phrase = '"' + folded.replace('"', '""') + '"'
                # The limit inside: FTS5 stops at the first matches instead of listing all.
                condition = Customer.id.in_(
                    text(
                        "SELECT rowid FROM customers_search WHERE customers_search MATCH :q "
                        "LIMIT :n"
                    )
                    .bindparams(q=phrase, n=limit)
                    .columns(rowid=Integer)
                )
            else:
                condition = Customer.search_text.like(like_pattern(folded), escape="\\")
            # No ORDER BY in SQL: sorting every match of a common name would read them all.
            customers = (
                await session.scalars(select(Customer).where(condition).limit(limit))
            ).all()
        ranked = sorted(
            customers, key=lambda c: (not c.search_text.startswith(folded), c.name, c.id)
        )
        return [
            PhonebookEntry(
                customer_id=c.id,
                name=c.name,
                company=c.name if c.kind == "company" else None,
                vip=c.vip,
                do_not_call=c.do_not_call,
                numbers=tuple(PhoneEntry(p.raw, p.e164, p.kind) for p in c.phones),
            )
            for c in ranked
        ]


class CrmCustomerDesk:
    """:class:`popup_server.ports.CustomerDesk` over :class:`crm_sync.customers.CustomerService`.

    ``record_url``: set when an external CRM is the customers' source; customers are then
    read-only here and the panel links to ``record_url`` (``{e164}`` filled in).
    """

    def __init__(
        self, database: Database, customers: CustomerService, record_url: str | None = None
    ) -> None:
        self._db = database
        self._customers = customers
        self._record_url = record_url

    def source(self) -> dict[str, Any]:
        return {"editable": self._record_url is None, "record_url": self._record_url}

    async def get(self, customer_id: int) -> dict[str, Any] | None:
        async with self._db.sessions() as session:
            customer = await session.get(Customer, customer_id)
        return _customer_json(customer) if customer is not None else None

    async def create(self, changes: CustomerChanges, number: str | None) -> dict[str, Any]:
        values = _model_values(changes)
        name = str(values.pop("name", ""))
        try:
            customer = await self._customers.create(
                name=name, phones=[(number, "mobile")] if number else [], **values
            )
        except CustomerError as exc:
            raise CrmError(str(exc)) from exc
        return _customer_json(customer)

    async def add_number(self, customer_id: int, number: str) -> dict[str, Any]:
        try:
            await self._customers.add_phone(customer_id, number)
        except CustomerError as exc:
            raise CrmError(str(exc)) from exc
        found = await self.get(customer_id)
        if found is None:
            raise CrmError(f"no customer with id {customer_id}")
        return found

    async def update(self, customer_id: int, changes: CustomerChanges) -> dict[str, Any]:
        try:
            customer = await self._customers.update(customer_id, **_model_values(changes))
        except CustomerError as exc:
            raise CrmError(str(exc)) from exc
        return _customer_json(customer)


def _model_values(changes: CustomerChanges) -> dict[str, Any]:
    values: dict[str, Any] = dict(changes)
    for key in ("call_from", "call_until"):
        if values.get(key):
            values[key] = dt.time.fromisoformat(values[key])
    return values


def _customer_json(c: Customer) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name,
        "kind": c.kind,
        "email": c.email,
        "address": c.address,
        "language": c.language,
        "vip": c.vip,
        "preferred_channel": c.preferred_channel,
        "call_from": clock_text(c.call_from),
        "call_until": clock_text(c.call_until),
        "do_not_call": c.do_not_call,
        "numbers": [{"raw": p.raw, "e164": p.e164, "kind": p.kind} for p in c.phones],
    }


class CrmCaseDesk:
    """:class:`popup_server.ports.CaseDesk` over :class:`crm_sync.cases.CaseService`."""

    def __init__(self, database: Database, cases: CaseService) -> None:
        self._db = database
        self._cases = cases

    async def open_case(
        self, *, customer_id: int | None, subject: str, call_id: str | None, agent_user_id: int
    ) -> CaseInfo:
        try:
            case = await self._cases.open_case(
                customer_id=customer_id,
                subject=subject,
                owner_agent_id=agent_user_id,
                call_id=call_id,
            )
        except CaseError as exc:
            raise CrmError(str(exc)) from exc
        return _case_info(case)

    async def find_case(self, tracking_code: str) -> CaseInfo | None:
        case = await self._cases.find_by_code(tracking_code)
        return _case_info(case) if case is not None else None

    async def get_case(self, case_id: int) -> CaseInfo | None:
        async with self._db.sessions() as session:
            case = await session.get(Case, case_id)
        return _case_info(case) if case is not None else None

    async def has_customer(self, customer_id: int) -> bool:
        async with self._db.sessions() as session:
            found = await session.scalar(select(Customer.id).where(Customer.id == customer_id))
        return found is not None

    async def wrap_up(
        self,
        *,
        call_id: str,
        customer_id: int | None,
        case_id: int | None,
        agent_user_id: int,
        note: str,
        disposition: str | None,
    ) -> SavedNote:
        async with self._db.sessions() as session:
            record_id = await session.scalar(
                select(CallRecord.id).where(CallRecord.call_id == call_id)
            )
        try:
            saved = await self._cases.add_note(
                body=note,
                case_id=case_id,
                call_record_id=record_id,
                customer_id=customer_id,
                author_agent_id=agent_user_id,
                disposition=disposition,
            )
        except CaseError as exc:
            raise CrmError(
                f"{exc}; the call is not in the call log yet and has no customer or case"
            ) from exc
        if record_id is not None:
            await record_wrap_up(self._db, record_id, dt.datetime.now(dt.UTC))
        return SavedNote(saved.id)


def _case_info(case: Case) -> CaseInfo:
    return CaseInfo(
        id=case.id,
        tracking_code=case.tracking_code,
        subject=case.subject,
        status=case.status,
        priority=case.priority,
        due_at=case.due_at,
        customer_id=case.customer_id,
    )


class CrmCallHistory:
    """:class:`popup_server.ports.CallHistory` over ``call_records`` (today = since 00:00 UTC)."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def today(
        self, extensions: tuple[str, ...], limit: int, since: dt.datetime
    ) -> list[LoggedCallSummary]:
        if not extensions:
            return []
        async with self._db.sessions() as session:
            rows = (
                await session.execute(
                    select(CallRecord, Customer.name)
                    .outerjoin(Customer, Customer.id == CallRecord.customer_id)
                    .where(CallRecord.agent.in_(extensions), CallRecord.started_at >= since)
                    .order_by(CallRecord.started_at.desc())
                    .limit(limit)
                )
            ).all()
        return [_logged_call(r, name) for r, name in rows]

    async def find(self, call_id: str, extensions: tuple[str, ...]) -> LoggedCallSummary | None:
        if not extensions:
            return None
        async with self._db.sessions() as session:
            row = (
                await session.execute(
                    select(CallRecord, Customer.name)
                    .outerjoin(Customer, Customer.id == CallRecord.customer_id)
                    .where(CallRecord.call_id == call_id, CallRecord.agent.in_(extensions))
                )
            ).first()
        return None if row is None else _logged_call(row[0], row[1])


def _logged_call(r: CallRecord, customer_name: str | None) -> LoggedCallSummary:
    return LoggedCallSummary(
        call_id=r.call_id,
        started_at=r.started_at,
        caller=r.caller,
        customer_name=customer_name,
        queue=r.queue,
        agent=r.agent,
        talk_seconds=r.talk_seconds,
        disposition=r.disposition,
        has_recording=r.recording is not None and r.recording_seconds is not None,
        customer_id=r.customer_id,
    )


MISSED_DISPOSITIONS = ("missed", "abandoned")


class CrmCallSearch:
    """:class:`popup_server.ports.CallSearch` over ``call_records`` (range scan on the
    ``started_at`` index, then the filters), with the agent's latest note and outcome."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def find_calls(self, query: HistoryQuery) -> list[dict[str, Any]]:
        latest_note = (
            select(Note.body)
            .where(Note.call_record_id == CallRecord.id, Note.body != "")
            .order_by(Note.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        outcome = (
            select(Note.disposition)
            .where(Note.call_record_id == CallRecord.id, Note.disposition.is_not(None))
            .order_by(Note.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        statement = (
            select(CallRecord, Customer.name, latest_note, outcome)
            .outerjoin(Customer, Customer.id == CallRecord.customer_id)
            .where(CallRecord.started_at >= query.since)
        )
        missed = CallRecord.disposition.in_(MISSED_DISPOSITIONS)
        if query.until is not None:
            statement = statement.where(CallRecord.started_at < query.until)
        if query.extensions is not None:
            mine: ColumnElement[bool] = CallRecord.agent.in_(query.extensions)
            if query.missed_queues:
                mine = or_(mine, and_(missed, CallRecord.queue.in_(query.missed_queues)))
            statement = statement.where(mine)
        if query.missed_only:
            statement = statement.where(missed)
        if query.queue:
            statement = statement.where(CallRecord.queue == query.queue)
        if query.disposition:
            code = query.disposition
            if code.startswith("call:"):
                statement = statement.where(CallRecord.disposition == code[5:])
            else:
                statement = statement.where(outcome == code)
        folded = fold_query(query.text)
        if folded:
            pattern = like_pattern(folded)
            conditions = [Customer.search_text.like(pattern, escape="\\")]
            if folded.isdigit():
                # "0912…" typed, "+98912…" logged: the national trunk prefix is not matched.
                number = like_pattern(folded.lstrip("0") or folded)
                conditions += [
                    CallRecord.caller.like(number, escape="\\"),
                    CallRecord.dialed.like(number, escape="\\"),
                ]
            statement = statement.where(or_(*conditions))
        statement = statement.order_by(CallRecord.started_at.desc(), CallRecord.id.desc())
        async with self._db.sessions() as session:
            rows = (await session.execute(statement.limit(query.limit))).all()
        return [
            {
                "call_id": r.call_id,
                "started_at": r.started_at.isoformat() if r.started_at else None,
                "direction": r.direction,
                "caller": r.caller,
                "dialed": r.dialed,
                "customer_name": name,
                "queue": r.queue,
                "agent": r.agent,
                "wait_seconds": r.wait_seconds,
                "talk_seconds": r.talk_seconds,
                "disposition": r.disposition,
                "outcome": code,
                "note": note,
                "has_recording": r.recording is not None and r.recording_seconds is not None,
            }
            for r, name, note, code in rows
        ]


class CrmDayFigures:
    """:class:`popup_server.ports.DayFigures` over ``call_records`` (:mod:`crm_sync.reports`)."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def day_tallies(
        self, since: dt.datetime, until: dt.datetime, book: TargetBook
    ) -> DayTallies:
        out = DayTallies(queues={}, agents={})
        for dimension, into in (("queue", out.queues), ("agent", out.agents)):
            request = ReportRequest(since, until, (cast_dimension(dimension),), dt.UTC)
            for row in await call_report(self._db, request, book):
                into[str(dict(row.key)[dimension])] = row.tally
        return out

    async def targets(self, default: QueueTargets) -> TargetBook:
        return await target_book(self._db, default)


class CrmReports:
    """:class:`popup_server.ports.Reports` over the call log and the case files."""

    def __init__(self, database: Database, figures: FiguresConfig) -> None:
        self._db = database
        self._figures = figures

    async def table(self, query: ReportQuery) -> ReportTable:
        zone = self._figures.zone
        try:
            start, end = day_range(query.first, query.last, zone)
            by: tuple[Dimension, ...] = ("interval",) if query.interval else ("day",)
            request = ReportRequest(start, end, by, zone, query.interval or 15, query.queues)
        except ReportError as exc:
            raise ValueError(str(exc)) from None
        kind = next(k for k in REPORT_KINDS if k == query.kind)
        return await build_table(
            self._db,
            kind,
            request,
            await target_book(self._db, self._figures.targets()),
            self._figures.kind,
            dt.datetime.now(dt.UTC),
        )


class CrmRecordings:
    """:class:`popup_server.ports.Recordings`: the call record names the file and who was on it."""

    def __init__(self, database: Database, library: RecordingLibrary) -> None:
        self._db = database
        self._library = library

    async def find(self, call_id: str) -> CallRecording | None:
        async with self._db.sessions() as session:
            row = (
                await session.execute(
                    select(CallRecord.recording, CallRecord.agent, CallRecord.details).where(
                        CallRecord.call_id == call_id
                    )
                )
            ).first()
        if row is None or not row.recording:
            return None
        return CallRecording(call_id, row.recording, _on_the_call(row.agent, row.details))

    async def for_browser(self, recording: CallRecording, *, original: bool) -> AudioFile:
        try:
            found = await self._library.for_browser(recording.file, original=original)
        except RecordingUnavailableError as exc:
            raise RecordingUnavailable(str(exc)) from exc
        return AudioFile(found.path, found.media_type)


def _on_the_call(agent: str | None, details: dict[str, Any] | None) -> frozenset[str]:
    """The answering agent, every agent rung, and both ends of every transfer."""
    details = details or {}
    found = {agent} if agent else set()
    found.update(str(a) for a in details.get("agents_rung") or () if a)
    for transfer in details.get("transfers") or ():
        found.update(str(transfer[k]) for k in ("from", "to") if transfer.get(k))
    return frozenset(found)


def _alert_view(row: AlertRecord) -> AlertView:
    return AlertView(
        alert_id=row.id,
        key=row.key,
        rule=row.rule,
        queue=row.queue,
        agent=row.agent,
        call_id=row.call_id,
        case_id=row.case_id,
        customer_id=row.customer_id,
        subject=row.subject,
        value=row.value,
        threshold=row.threshold,
        at=row.raised_at.timestamp(),
        acknowledged_at=row.acknowledged_at.timestamp() if row.acknowledged_at else None,
        acknowledged_by=row.acknowledged_by,
    )


class CrmAlertDesk:
    """:class:`popup_server.ports.AlertDesk` over the ``alerts`` table; announces on the bus."""

    def __init__(self, store: AlertStore, bus: EventBus) -> None:
        self._store = store
        self._bus = bus

    async def open_alerts(self, agent: str | None, limit: int) -> list[AlertView]:
        return [_alert_view(row) for row in await self._store.unacknowledged(limit, agent)]

    async def acknowledge(self, alert_id: int, username: str) -> AlertView | None:
        row = await self._store.acknowledge(alert_id, username)
        if row is None:
            return None
        view = _alert_view(row)
        await self._bus.publish(
            [AlertAcknowledged(row.id, row.agent, username, view.acknowledged_at)]
        )
        return view


class CrmCallbackDesk:
    """:class:`popup_server.ports.CallbackDesk` over :class:`crm_sync.callbacks.CallbackService`."""

    def __init__(self, callbacks: CallbackService) -> None:
        self._callbacks = callbacks

    async def for_agent(self, user_id: int, queues: tuple[str, ...]) -> list[CallbackView]:
        return [CallbackView(**c) for c in await self._callbacks.for_agent(user_id, queues)]

    async def open_callbacks(self) -> list[CallbackView]:
        return [CallbackView(**c) for c in await self._callbacks.open_callbacks()]

    async def start_attempt(
        self, callback_id: int, user_id: int, extension: str, queues: tuple[str, ...]
    ) -> Dial:
        try:
            target = await self._callbacks.start_attempt(callback_id, user_id, extension, queues)
        except CallRefused as exc:
            raise CallRefusedError(exc.kind, str(exc)) from exc
        return Dial(target.attempt_id, target.number)

    async def attempt_failed(self, attempt_id: int) -> None:
        await self._callbacks.attempt_failed(attempt_id)


_LIST_SOURCES: dict[str, ListSource] = {
    "csv": "csv",
    "contracts_expiring": "contracts_expiring",
    "open_cases": "open_cases",
}


class CrmCallListDesk:
    """:class:`popup_server.ports.CallListDesk` over ``crm_sync.call_lists``."""

    def __init__(self, lists: CallListService) -> None:
        self._lists = lists

    async def load(
        self,
        *,
        name: str,
        source: str,
        days: int,
        csv_text: str,
        agents: tuple[str, ...],
        queue: str | None,
        created_by: int,
    ) -> CallListLoaded:
        if source not in _LIST_SOURCES:
            raise CrmError(f"source: unknown list source {source!r}")
        try:
            report = await self._lists.load(
                name=name,
                source=_LIST_SOURCES[source],
                days=days,
                csv_text=csv_text,
                agents=agents,
                queue=queue,
                created_by=created_by,
            )
        except CallListError as exc:
            raise CrmError(str(exc)) from exc
        skipped = tuple(SkippedRow(s["line"], s["error"]) for s in report.skipped)
        return CallListLoaded(report.list_id, report.entries, report.do_not_call, skipped)

    async def progress(self) -> list[CallListProgress]:
        return [CallListProgress(**p) for p in await self._lists.progress()]

    async def next_entry(self, user_id: int, queues: tuple[str, ...]) -> CallListEntryView | None:
        entry = await self._lists.next_entry(user_id, queues)
        return CallListEntryView(**entry) if entry is not None else None

    async def start_entry(
        self, entry_id: int, user_id: int, extension: str, queues: tuple[str, ...]
    ) -> Dial:
        try:
            target = await self._lists.start_entry(entry_id, user_id, extension, queues)
        except CallRefused as exc:
            raise CallRefusedError(exc.kind, str(exc)) from exc
        return Dial(target.attempt_id, target.number)

    async def record_outcome(
        self, entry_id: int, user_id: int, outcome: str, note: str
    ) -> EntryOutcome:
        try:
            return EntryOutcome(
                **await self._lists.record_outcome(entry_id, user_id, outcome, note)
            )
        except CallRefused as exc:
            raise CallRefusedError(exc.kind, str(exc)) from exc


def crm_panel_backends(
    database: Database,
    directory: CallerDirectory,
    cases: CaseService,
    lookup: CrmCallerLookup,
    pbx: PbxActions,
    audit: AuditLog,
    recordings: RecordingLibrary | None = None,
    external_record_url: str | None = None,
    figures: FiguresConfig | None = None,
    intervention: Intervention | None = None,
    bus: EventBus | None = None,
    callbacks: CallbackService | None = None,
    call_lists: CallListService | None = None,
    pbx_import: PbxImport | None = None,
) -> PanelBackends:
    """Every panel backend over one ``crm_sync`` database, plus the PBX actions.

    ``recordings``: where the call recordings are; None: recordings are not served.
    ``external_record_url``: the external CRM's record link when it is the customers' source.
    ``figures``: how reports count (``[figures]``).
    ``bus``: where acknowledgements are announced; None: no alerts are listed.
    ``callbacks``, ``call_lists``: the outbound work; None: none is listed.
    """
    return PanelBackends(
        users=CrmUserStore(database),
        lookup=lookup,
        pbx=pbx,
        phonebook=CrmPhonebook(database),
        cases=CrmCaseDesk(database, cases),
        history=CrmCallHistory(database),
        figures=CrmDayFigures(database),
        recordings=CrmRecordings(database, recordings) if recordings is not None else None,
        audit=audit,
        calls=CrmCallSearch(database),
        customers=CrmCustomerDesk(
            database, CustomerService(database, directory.normaliser), external_record_url
        ),
        reports=CrmReports(database, figures or FiguresConfig()),
        intervention=intervention,
        alerts=CrmAlertDesk(AlertStore(database), bus) if bus is not None else None,
        callbacks=CrmCallbackDesk(callbacks) if callbacks is not None else None,
        call_lists=CrmCallListDesk(call_lists) if call_lists is not None else None,
        admin=CrmAdministration(database, pbx_import),
        api_tokens=CrmApiTokens(database),
    )
