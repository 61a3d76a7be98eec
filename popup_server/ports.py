"""What the panel server needs from the rest of the hub, as interfaces.

The daemon wires real implementations (the AMI link for :class:`PbxActions`,
``crm_sync`` for the others: :mod:`ctihub.panel_backend`) into one
:class:`PanelBackends`; tests about the server alone and the benchmark use the
in-memory stand-ins in ``tests/popup_server/memory_backend.py``. Every value
crossing these interfaces is a typed, frozen value (dates as ``datetime``);
the server turns them into JSON at its edge, in one place
(:mod:`popup_server.wire`), so no backend decides what the browser sees.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, TypedDict

from cti.figures import QueueTargets, Tally, TargetBook
from cti.report_table import ReportTable
from cti.screenpop import CallerLookup
from popup_server.auth import User, UserStore


class PbxActionError(Exception):
    """The PBX refused or did not answer an action; the message says which and why."""


class PbxActions(Protocol):
    """Actions an agent triggers from the panel, always on their own extension."""

    async def originate(self, extension: str, number: str) -> None:
        """Ring ``extension`` and, once answered, dial ``number`` (click-to-call)."""
        ...

    async def queue_pause(
        self, extension: str, paused: bool, reason: str | None, queue: str | None = None
    ) -> None:
        """Pause or unpause ``extension`` in ``queue`` (every queue when None)."""
        ...

    async def hold(self, extension: str, call_id: str, on: bool) -> None:
        """Put the other party of ``extension``'s leg of ``call_id`` on hold, or take it off."""
        ...

    async def transfer(self, extension: str, call_id: str, to: str, *, attended: bool) -> None:
        """Transfer the other party to ``to`` (an extension or a number): blind, or attended
        (the agent talks to ``to`` first; hanging up completes the transfer)."""
        ...

    async def hangup(self, extension: str, call_id: str) -> None:
        """Hang up ``extension``'s own leg of ``call_id``."""
        ...

    async def queue_login(self, extension: str, queue: str, member_name: str) -> None:
        """Add ``extension`` to ``queue`` as a dynamic member (QueueAdd)."""
        ...

    async def queue_logout(self, extension: str, queue: str) -> None:
        """Remove ``extension`` from ``queue`` (QueueRemove)."""
        ...


SpyMode = Literal["listen", "whisper", "barge"]
SPY_MODES: tuple[SpyMode, ...] = ("listen", "whisper", "barge")


class Intervention(Protocol):
    """What a supervisor does to an agent from the wallboard (besides pause: PbxActions)."""

    async def queue_pause(
        self, extension: str, paused: bool, reason: str | None, queue: str | None = None
    ) -> None:
        """Pause or unpause ``extension`` in ``queue`` (every queue when None)."""
        ...

    async def queue_logout(self, extension: str, queue: str) -> None:
        """Log ``extension`` out of ``queue`` (QueueRemove)."""
        ...

    async def spy(self, supervisor_extension: str, agent_extension: str, mode: SpyMode) -> None:
        """Ring the supervisor's phone into the agent's call: listen, whisper or barge."""
        ...


class CrmError(Exception):
    """A CRM request was refused (unknown case, bad input); the message is shown to the agent."""


@dataclass(frozen=True, slots=True)
class PhoneEntry:
    """One of a customer's numbers: as entered, in E.164 (None if unparseable), its kind."""

    raw: str
    e164: str | None
    kind: str


@dataclass(frozen=True, slots=True)
class PhonebookEntry:
    """A customer found in the phonebook, with the numbers to click."""

    customer_id: int
    name: str
    company: str | None
    vip: bool
    do_not_call: bool
    """The customer asked not to be called: the panel warns before dialing."""
    numbers: tuple[PhoneEntry, ...]


class Phonebook(Protocol):
    """Customer search for click-to-call."""

    async def search(self, query: str, limit: int) -> list[PhonebookEntry]:
        """Customers with ``query`` (taken literally) in their name, account or number."""
        ...


@dataclass(frozen=True, slots=True)
class CaseInfo:
    """A case file as the panel shows it."""

    id: int
    tracking_code: str
    subject: str
    status: str
    priority: str
    due_at: dt.datetime | None
    customer_id: int | None


@dataclass(frozen=True, slots=True)
class SavedNote:
    """A wrap-up note once stored."""

    id: int


class CaseDesk(Protocol):
    """Case files and wrap-up, as the agent works a call."""

    async def open_case(
        self, *, customer_id: int | None, subject: str, call_id: str | None, agent_user_id: int
    ) -> CaseInfo:
        """Open a case; raises :class:`CrmError` for an unknown customer or empty subject."""
        ...

    async def find_case(self, tracking_code: str) -> CaseInfo | None:
        """The case with this tracking code, or None."""
        ...

    async def get_case(self, case_id: int) -> CaseInfo | None:
        """The case with this id, or None."""
        ...

    async def has_customer(self, customer_id: int) -> bool:
        """Whether a customer with this id exists."""
        ...

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
        """Record the agent's note and disposition code for a call."""
        ...


@dataclass(frozen=True, slots=True)
class LoggedCallSummary:
    """A call of the agent's day, from the call log."""

    call_id: str
    started_at: dt.datetime | None
    caller: str | None
    customer_name: str | None
    queue: str | None
    agent: str | None
    talk_seconds: int | None
    disposition: str
    has_recording: bool
    customer_id: int | None = None


class CallHistory(Protocol):
    """Calls already logged."""

    async def today(
        self, extensions: tuple[str, ...], limit: int, since: dt.datetime
    ) -> list[LoggedCallSummary]:
        """Calls since ``since`` (the agent's local midnight) of ``extensions``, newest first."""
        ...

    async def find(self, call_id: str, extensions: tuple[str, ...]) -> LoggedCallSummary | None:
        """The logged call ``call_id`` if one of ``extensions`` answered it, however old."""
        ...


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """A call-history search; None or empty fields do not filter."""

    since: dt.datetime
    until: dt.datetime | None = None
    extensions: tuple[str, ...] | None = None
    """Calls these extensions answered; None: everyone's (supervisors)."""
    missed_queues: tuple[str, ...] = ()
    """Also the missed and abandoned calls of these queues (an agent's own queues)."""
    text: str = ""
    """Any part of the caller's or dialled number, or of the customer's name."""
    queue: str | None = None
    disposition: str | None = None
    """The call's own (``answered``, ``missed``…) or the agent's outcome code (``resolved``…)."""
    missed_only: bool = False
    limit: int = 200


class CallSearch(Protocol):
    """Search of the call log (``GET /api/v1/history``)."""

    async def find_calls(self, query: HistoryQuery) -> list[dict[str, Any]]:
        """Matching calls, newest first: ``{call_id, started_at, direction, caller, dialed,
        customer_name, queue, agent, wait_seconds, talk_seconds, disposition, outcome, note,
        has_recording}``; ``has_recording`` only once the file was found and measured."""
        ...


@dataclass(frozen=True, slots=True)
class DayTallies:
    """A stretch of the call log counted per queue and per agent (:class:`cti.figures.Tally`)."""

    queues: dict[str, Tally]
    agents: dict[str, Tally]


class DayFigures(Protocol):
    """Counts from the call log: the live board's start of the day."""

    async def day_tallies(
        self, since: dt.datetime, until: dt.datetime, book: TargetBook
    ) -> DayTallies:
        """Calls started in ``[since, until)``, counted under each queue's targets in ``book``."""
        ...

    async def targets(self, default: QueueTargets) -> TargetBook:
        """Each queue's own threshold and target where the administration set them."""
        ...


@dataclass(frozen=True, slots=True)
class ReportQuery:
    """A report asked for on the reports page or its API (checked by ``reports_api``)."""

    kind: str
    """``queues``, ``teams``, ``agents`` or ``calls``."""
    first: dt.date
    last: dt.date
    """Both included, as the call center's days."""
    interval: int | None
    """``calls`` per interval of this many minutes instead of per day."""
    queues: tuple[str, ...]
    csv: bool


class Reports(Protocol):
    """Figures over a range of days (``crm_sync.reports``)."""

    async def table(self, query: ReportQuery) -> ReportTable:
        """The report; :class:`ValueError` for a range it refuses, naming the field."""
        ...


DISPOSITIONS: tuple[str, ...] = (
    "resolved",
    "callback",
    "escalated",
    "information",
    "sale",
    "complaint",
    "wrong_number",
)
"""Disposition codes the panel offers at wrap-up."""


class HubHealth(Protocol):
    """Liveness, readiness and metrics for ``/readyz`` and ``/metrics``."""

    async def readiness(self) -> dict[str, bool]:
        """Each named check (``pbx``, ``database``, ``bus``, ``consumer:call-log``…): passing?"""
        ...

    def metrics(self) -> tuple[bytes, str]:
        """The Prometheus exposition and its content type."""
        ...


class HubStatus(Protocol):
    """The hub's own health, for supervisors and admins (``GET /api/v1/status``)."""

    def status(self) -> dict[str, object]:
        """JSON-ready: this node, the PBX link, the bus. No customer data."""


@dataclass(frozen=True, slots=True)
class AudioFile:
    """A recording file to send a browser, and its Content-Type."""

    path: Path
    media_type: str


class RecordingUnavailable(Exception):
    """The recording cannot be served (not on disk, outside the allowed roots); says why."""


@dataclass(frozen=True, slots=True)
class CallRecording:
    """A logged call's recording, as the PBX named it, and the extensions that were on the call."""

    call_id: str
    file: str
    extensions: frozenset[str]
    """Answered, rang or took a transfer: who, besides supervisors, may play it."""


class Recordings(Protocol):
    """Calls' recordings (``GET /api/v1/calls/{call_id}/recording``); values are files, not JSON."""

    async def find(self, call_id: str) -> CallRecording | None:
        """The call's recording; None for an unknown call or one without a recording."""
        ...

    async def for_browser(self, recording: CallRecording, *, original: bool) -> AudioFile:
        """The file to send: a smaller copy when configured, unless ``original``.

        Raises :class:`RecordingUnavailable` (not on disk, refused).
        """
        ...


class Audit(Protocol):
    """The audit log (``crm_sync.audit.AuditLog``): record every admin and supervisor action.

    ``actor`` is the acting user's username; ``action`` a dotted verb
    (``agent.pause``, ``call.barge``); ``target`` what it acted on
    (``agent:1001``, ``call:1795392474.0``); ``before``/``after`` JSON-ready
    states, no secrets.
    """

    async def record(
        self,
        actor: str,
        action: str,
        target: str,
        before: Mapping[str, object] | None = None,
        after: Mapping[str, object] | None = None,
    ) -> None:
        """Write one entry."""
        ...


class IvrCase(Protocol):
    """A case as the IVR may tell a caller about it."""

    @property
    def code(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def owner_extension(self) -> str | None: ...


class IvrProfile(Protocol):
    """What the IVR learns about a caller."""

    @property
    def contract(self) -> str: ...


class IvrDecisions(Protocol):
    """What the PBX's classic-AGI IVR asks the hub (``/api/v1/ivr/*``)."""

    def is_well_formed(self, code: str) -> bool:
        """Length and check digit of a tracking code; no lookup."""
        ...

    async def caller_profile(self, caller: str) -> IvrProfile:
        """The caller's contract (``active``, ``expiring``, ``expired``, ``none``) and owner."""
        ...

    async def case_by_code(self, code: str) -> IvrCase | None:
        """The case a well-formed code names, or None."""
        ...


@dataclass(frozen=True, slots=True)
class AlertView:
    """An alert as panels show it: the ``alert_raised`` event's fields and its acknowledgement."""

    alert_id: int
    key: str
    rule: str
    queue: str | None
    agent: str | None
    call_id: str | None
    case_id: int | None
    customer_id: int | None
    subject: str | None
    value: float | None
    threshold: float | None
    at: float
    acknowledged_at: float | None = None
    acknowledged_by: str | None = None


class AlertDesk(Protocol):
    """Management-by-exception alerts (``/api/v1/alerts``)."""

    async def open_alerts(self, agent: str | None, limit: int) -> list[AlertView]:
        """Unacknowledged alerts, newest first; with ``agent``, only that extension's."""
        ...

    async def acknowledge(self, alert_id: int, username: str) -> AlertView | None:
        """Acknowledge an open alert (announced to every panel); None: no such open alert."""
        ...


class CallRefusedError(Exception):
    """A callback or list entry may not be dialled now; ``kind``: ``not_found``, ``closed``,
    ``do_not_call`` or ``not_now`` (outside the customer's hours)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Dial:
    """An attempt counted by the CRM, and the number the PBX should dial for it."""

    attempt_id: int
    number: str


@dataclass(frozen=True, slots=True)
class CallbackView:
    """An open callback: whom to call back, why, since when, how often tried."""

    id: int
    number: str
    customer_id: int | None
    customer_name: str | None
    queue: str | None
    reason: str
    status: str
    attempts: int
    max_attempts: int
    created_at: dt.datetime
    age_seconds: int
    last_attempt_at: dt.datetime | None
    assigned_agent_id: int | None
    assigned_name: str | None
    hours: str | None
    """The customer's hours to be called (``HH:MM-HH:MM``, call center time); None: any."""
    callable_now: bool


class CallbackDesk(Protocol):
    """Callback tasks for abandoned and missed callers (``/api/v1/callbacks``)."""

    async def for_agent(self, user_id: int, queues: tuple[str, ...]) -> list[CallbackView]:
        """The agent's open callbacks (theirs, or their queues' unassigned ones), oldest first."""
        ...

    async def open_callbacks(self) -> list[CallbackView]:
        """Every open callback with its age and assignee (supervisors)."""
        ...

    async def start_attempt(
        self, callback_id: int, user_id: int, extension: str, queues: tuple[str, ...]
    ) -> Dial:
        """Count an attempt; raises :class:`CallRefusedError`."""
        ...

    async def attempt_failed(self, attempt_id: int) -> None:
        """The PBX refused the attempt's call."""
        ...


@dataclass(frozen=True, slots=True)
class SkippedRow:
    """A CSV row a list was loaded without, and why."""

    line: int
    error: str


@dataclass(frozen=True, slots=True)
class CallListLoaded:
    """What loading a call list did."""

    list_id: int
    entries: int
    do_not_call: int
    """Customers left out because they asked not to be called."""
    skipped: tuple[SkippedRow, ...]


@dataclass(frozen=True, slots=True)
class CallListProgress:
    """One list's entries per status and per outcome, and the attempts made."""

    id: int
    name: str
    source: str
    queue: str | None
    created_at: dt.datetime
    total: int
    attempts: int
    statuses: dict[str, int]
    outcomes: dict[str, int]


@dataclass(frozen=True, slots=True)
class CallListEntryView:
    """The entry an agent previews before dialling (or is calling now: ``dialing``)."""

    id: int
    list_id: int
    list_name: str
    customer_id: int | None
    name: str
    number: str
    reason: str | None
    attempts: int
    dialing: bool


@dataclass(frozen=True, slots=True)
class EntryOutcome:
    """An entry after its outcome was recorded (``pending`` again when not reached)."""

    id: int
    status: str
    outcome: str


class CallListDesk(Protocol):
    """Call lists worked by preview dialing (``/api/v1/calllists``)."""

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
        """Load and assign a list; raises :class:`CrmError` naming the bad field."""
        ...

    async def progress(self) -> list[CallListProgress]:
        """Every list with its entries per status and outcome, newest first."""
        ...

    async def next_entry(self, user_id: int, queues: tuple[str, ...]) -> CallListEntryView | None:
        """The agent's entry in hand, else the next one to preview, or None."""
        ...

    async def start_entry(
        self, entry_id: int, user_id: int, extension: str, queues: tuple[str, ...]
    ) -> Dial:
        """Count an attempt on an entry; raises :class:`CallRefusedError`."""
        ...

    async def record_outcome(
        self, entry_id: int, user_id: int, outcome: str, note: str
    ) -> EntryOutcome:
        """Record the outcome (a note on the customer); raises :class:`CallRefusedError`."""
        ...


@dataclass(frozen=True, slots=True)
class ApiGrant:
    """A live API token: the person it acts as and its scopes."""

    user: User
    scopes: frozenset[str]


class ApiTokenVerifier(Protocol):
    """Integrations' API tokens (``crm_sync.api_tokens``), checked on every request."""

    async def verify(self, token: str) -> ApiGrant | None:
        """The grant of a live token; None: unknown, revoked, or its person disabled."""
        ...


@dataclass(frozen=True, slots=True)
class PanelBackends:
    """The hub's parts the panel server talks to, built once by the composition root."""

    users: UserStore
    lookup: CallerLookup
    pbx: PbxActions
    phonebook: Phonebook
    cases: CaseDesk
    history: CallHistory
    figures: DayFigures | None = None
    """The call log's counts for the live board's day; None: its counts start from zero."""
    recordings: Recordings | None = None
    """Calls' recordings; None: every recording answers 404."""
    reports: Reports | None = None
    """Reports over days; None: the reports API answers 503."""
    intervention: Intervention | None = None
    """Supervisors' actions on agents; None: those routes answer 503."""
    ivr: IvrDecisions | None = None
    """The classic-AGI IVR's questions; None: ``/api/v1/ivr/*`` answers 503."""
    audit: Audit = field(kw_only=True)
    """Where every admin and supervisor action is recorded."""
    calls: CallSearch | None = None
    """Search of the call log; None: no ``/history`` route."""
    customers: CustomerDesk | None = None
    """Customers created and edited from the pop; None: no ``/customers`` routes."""
    alerts: AlertDesk | None = None
    """Management-by-exception alerts; None: none are listed."""
    callbacks: CallbackDesk | None = None
    """Callback tasks; None: none are listed."""
    call_lists: CallListDesk | None = None
    """Call lists; None: none are listed or loaded."""
    admin: Administration | None = field(default=None, kw_only=True)
    api_tokens: ApiTokenVerifier | None = field(default=None, kw_only=True)
    """Integrations' tokens; None: every ``cth_`` token answers 401."""
    """People, devices, queues, tokens, the audit log; None: ``/api/v1/admin`` answers 503."""


CONTACT_CHANNELS: tuple[str, ...] = ("phone", "sms", "email", "whatsapp")
"""How a customer may prefer to be reached."""


class CustomerChanges(TypedDict, total=False):
    """Fields of a customer an agent may set from the pop (times as "HH:MM")."""

    name: str
    email: str | None
    address: str | None
    language: str | None
    preferred_channel: str | None
    call_from: str | None
    call_until: str | None
    do_not_call: bool


class CustomerDesk(Protocol):
    """Customers created and edited from the pop where the CRM is the hub's own.

    Customer JSON: ``{id, name, kind, email, address, language, vip, preferred_channel,
    call_from, call_until, do_not_call, numbers: [{raw, e164, kind}]}``. Refusals raise
    :class:`CrmError` with the reason.
    """

    def source(self) -> dict[str, Any]:
        """``{"editable": bool, "record_url": str | None}``: whether customers are the hub's
        own; else a link template (``{e164}``) to the record in the external CRM."""
        ...

    async def get(self, customer_id: int) -> dict[str, Any] | None:
        """One customer, or None."""
        ...

    async def create(self, changes: CustomerChanges, number: str | None) -> dict[str, Any]:
        """A new customer with ``number`` (as the caller presented it) as its first number."""
        ...

    async def add_number(self, customer_id: int, number: str) -> dict[str, Any]:
        """Give an existing customer one more number; the customer afterwards."""
        ...

    async def update(self, customer_id: int, changes: CustomerChanges) -> dict[str, Any]:
        """Change the given fields; the customer afterwards."""


class AdminRefused(Exception):
    """An admin change was refused; ``field`` names the input at fault.

    ``status``: 400 bad input, 404 unknown, 409 conflict (a taken username, an
    extension that is someone else's). The message is shown to the admin.
    """

    def __init__(self, field: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.field = field
        self.status = status


JsonObject = dict[str, object]
"""A JSON-ready object as the admin page shows it (people, devices, queues, tokens…)."""


class Administration(Protocol):
    """People, devices, queues, pause reasons, dispositions, API tokens and the audit log.

    Implemented over ``crm_sync`` (``ctihub.admin_backend``), the same service
    the CLI uses; every change is audited with ``actor``. Refusals raise
    :class:`AdminRefused`.
    """

    async def people(self) -> list[JsonObject]:
        """Everyone, active first."""
        ...

    async def first_admin_command(self) -> str | None:
        """With nobody active to log in: the command that creates the first admin; else None."""
        ...

    async def person_id(self, username: str) -> int:
        """The id of ``username`` (404 when unknown)."""
        ...

    async def create_person(self, actor: str, data: Mapping[str, object]) -> JsonObject:
        """``{username, name, password, roles, email?, crm_user_id?, language?, extensions?}``."""
        ...

    async def update_person(
        self, actor: str, username: str, data: Mapping[str, object]
    ) -> JsonObject:
        """Change ``name``, ``roles``, ``email``, ``crm_user_id``, ``language``, ``active``."""
        ...

    async def set_password(self, actor: str, username: str, password: object) -> None:
        """Replace the password."""
        ...

    async def devices(self) -> list[JsonObject]:
        """Every device, mapped or not."""
        ...

    async def map_device(self, actor: str, data: Mapping[str, object]) -> JsonObject:
        """``{device, username, technology?, label?}``."""
        ...

    async def unmap_device(self, actor: str, device: str, technology: str | None) -> None:
        """Take a device (or every device of a bare extension) from its person."""
        ...

    async def queues(self) -> list[JsonObject]:
        """Every configured queue."""
        ...

    async def save_queue(
        self, actor: str, name: str, data: Mapping[str, object], create: bool
    ) -> JsonObject:
        """Create or change a queue's display names, team, SLA and supervisors."""
        ...

    async def labels(self, kind: str) -> list[JsonObject]:
        """``pause_reasons`` or ``dispositions``."""
        ...

    async def save_label(
        self, actor: str, kind: str, code: str, data: Mapping[str, object]
    ) -> JsonObject:
        """Create or change one pause reason or disposition."""
        ...

    async def tokens(self) -> list[JsonObject]:
        """Every API token (never the secret)."""
        ...

    async def create_token(self, actor: str, data: Mapping[str, object]) -> tuple[str, JsonObject]:
        """``{name, scopes, username?}``: the token (shown once) and its listing."""
        ...

    async def revoke_token(self, actor: str, token_id: int) -> JsonObject:
        """Revoke at once."""
        ...

    async def audit_entries(
        self, *, limit: int, before_id: int | None, actor: str | None, action: str | None
    ) -> list[JsonObject]:
        """Newest first."""
        ...

    async def audit_csv(self, *, actor: str | None, action: str | None) -> str:
        """The audit log as CSV (formula-safe), newest first."""
        ...

    async def pbx_import(self, actor: str, *, apply: bool) -> JsonObject:
        """What the PBX has that the hub does not (``apply``: add it)."""
        ...
