"""The CRM's tables: customers, their numbers and contracts, case files, the call log, agents.

Times are stored as timezone-aware UTC (``UtcDateTime``) on both SQLite and
PostgreSQL. Phone numbers keep what was entered and the E.164 form; the
reversed digits of the E.164 form make a last-N-digits match an index range
scan on both databases.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    Time,
    TypeDecorator,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

CustomerKind = Literal["person", "company"]
PhoneKind = Literal["mobile", "landline", "work", "home", "fax", "other"]
CaseStatus = Literal["open", "pending", "resolved", "closed"]
CasePriority = Literal["low", "normal", "high", "urgent"]

CUSTOMER_KINDS: tuple[str, ...] = ("person", "company")
PHONE_KINDS: tuple[str, ...] = ("mobile", "landline", "work", "home", "fax", "other")
CASE_STATUSES: tuple[str, ...] = ("open", "pending", "resolved", "closed")
OPEN_CASE_STATUSES: tuple[str, ...] = ("open", "pending")
CASE_PRIORITIES: tuple[str, ...] = ("low", "normal", "high", "urgent")
AGENT_ROLES: tuple[str, ...] = ("agent", "supervisor", "admin")
CONTACT_CHANNELS: tuple[str, ...] = ("phone", "sms", "email", "whatsapp")
DEVICE_TECHNOLOGIES: tuple[str, ...] = ("PJSIP", "SIP", "IAX2", "Local")
TOKEN_SCOPES: tuple[str, ...] = ("calls:read", "cases:write", "lookups")

# Stable constraint names so Alembic migrations can refer to them on both databases.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A datetime stored in UTC and always read back timezone-aware.

    SQLite has no time zones and hands back naive values; this makes both
    databases behave the same for the code above them.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware value")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # raw SQLite text, e.g. from a Core query without types
            value = dt.datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)  # type: ignore[no-any-return]
        return value.astimezone(dt.UTC)  # type: ignore[no-any-return]


def _digits_collation() -> String:
    # Suffix matching is a range scan on reversed digits; PostgreSQL must compare
    # them bytewise ("C") or the locale's collation would ignore the range.
    return String(20).with_variant(String(20, collation="C"), "postgresql")


class Base(DeclarativeBase):
    """Declarative base carrying the naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> dt.datetime:
    """Now, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


class Agent(Base):
    """A hub user (a person): agent, supervisor, admin or several of these.

    Roles are rows of ``agent_roles``, extensions rows of ``devices``; an
    inactive (disabled) person cannot log in and their sessions end.
    """

    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    """False: disabled (kept for the history of calls, cases and the audit log)."""
    crm_user_id: Mapped[str | None] = mapped_column(String(64))
    """The person's user id in the external CRM, for the connector."""
    language: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)

    role_rows: Mapped[list[RoleGrant]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="RoleGrant.role"
    )
    devices: Mapped[list[Device]] = relationship(
        back_populates="agent", lazy="selectin", order_by="Device.interface"
    )

    @property
    def roles(self) -> tuple[str, ...]:
        """The roles held, in :data:`AGENT_ROLES` order."""
        held = {r.role for r in self.role_rows}
        return tuple(r for r in AGENT_ROLES if r in held)

    @property
    def extensions(self) -> tuple[str, ...]:
        """The extensions of the person's devices, each once, sorted."""
        return tuple(sorted({d.extension for d in self.devices}))


class RoleGrant(Base):
    """One role a person holds."""

    __tablename__ = "agent_roles"
    __table_args__ = (CheckConstraint(_in("role", AGENT_ROLES), name="role"),)

    agent_id: Mapped[int] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(16), primary_key=True)


class Device(Base):
    """A phone on the PBX (``PJSIP/1001``, ``SIP/1001``, ``IAX2/1001``, ``Local/1001@…``).

    ``extension`` is what the PBX reports as the agent of a call; every device
    of one extension belongs to the same person (checked by
    :mod:`crm_sync.people`). Unmapped devices (``agent_id`` None) come from a
    PBX import and wait for an admin.
    """

    __tablename__ = "devices"
    __table_args__ = (
        CheckConstraint(_in("technology", DEVICE_TECHNOLOGIES), name="technology"),
        Index("ix_devices_extension", "extension"),
        Index("ix_devices_agent_id", "agent_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    interface: Mapped[str] = mapped_column(String(128), unique=True)
    technology: Mapped[str] = mapped_column(String(8))
    extension: Mapped[str] = mapped_column(String(32))
    label: Mapped[str | None] = mapped_column(String(100))
    """Desk phone, softphone, or the caller id name the PBX has for it."""
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)

    agent: Mapped[Agent | None] = relationship(back_populates="devices")


class Queue(Base):
    """A PBX queue as the hub shows it: names in both languages, team, service-level target."""

    __tablename__ = "queues"
    __table_args__ = (
        CheckConstraint("sla_target_percent BETWEEN 0 AND 100", name="sla_target_percent"),
        CheckConstraint("sla_threshold_seconds > 0", name="sla_threshold_seconds"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    """The PBX's queue name (``support``, ``600``)."""
    display_fa: Mapped[str | None] = mapped_column(String(100))
    display_en: Mapped[str | None] = mapped_column(String(100))
    team: Mapped[str | None] = mapped_column(String(100))
    sla_target_percent: Mapped[int] = mapped_column(Integer, default=80)
    sla_threshold_seconds: Mapped[int] = mapped_column(Integer, default=20)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class QueueSupervisor(Base):
    """A supervisor who sees a queue; a supervisor with no rows here sees every queue."""

    __tablename__ = "queue_supervisors"

    queue_id: Mapped[int] = mapped_column(
        ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True
    )
    agent_id: Mapped[int] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )


class LabelRow(Base):
    """A code with labels in both languages, ordered for display (pause reasons, dispositions)."""

    __abstract__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    label_fa: Mapped[str] = mapped_column(String(100))
    label_en: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class PauseReason(LabelRow):
    """A reason an agent gives for pausing."""

    __tablename__ = "pause_reasons"


class Disposition(LabelRow):
    """A wrap-up outcome code an agent chooses for a call."""

    __tablename__ = "dispositions"


class ApiToken(Base):
    """An integration's token: only its SHA-256 is kept; it acts as ``agent_id`` within scopes."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    """The token's first characters, shown so an admin can tell tokens apart."""
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class AuditEntry(Base):
    """One change: who, when, what, and the target's state before and after."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    """``username`` of a person, ``cli:<os user>`` or ``system``."""
    action: Mapped[str] = mapped_column(String(64))
    """``user.create``, ``extension.map``, ``token.revoke``…"""
    target: Mapped[str] = mapped_column(String(200))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Customer(Base):
    """A person or a company the call center serves."""

    __tablename__ = "customers"
    __table_args__ = (
        CheckConstraint(_in("kind", CUSTOMER_KINDS), name="kind"),
        CheckConstraint(
            f"preferred_channel IS NULL OR {_in('preferred_channel', CONTACT_CHANNELS)}",
            name="preferred_channel",
        ),
        Index("ix_customers_name", "name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str | None] = mapped_column(String(64), unique=True)
    """The business's own account number; what CSV files use to refer to a customer."""
    kind: Mapped[str] = mapped_column(String(16), default="person")
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(String(254))
    notes: Mapped[str | None] = mapped_column(Text)
    vip: Mapped[bool] = mapped_column(Boolean, default=False)
    language: Mapped[str | None] = mapped_column(String(16))
    owner_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    last_activity_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    """Last call or case change; ranks several customers sharing one number."""
    preferred_channel: Mapped[str | None] = mapped_column(String(16))
    """How the customer wants to be reached (one of CONTACT_CHANNELS); None: no preference."""
    call_from: Mapped[dt.time | None] = mapped_column(Time)
    call_until: Mapped[dt.time | None] = mapped_column(Time)
    """Hours the customer may be called, in the call center's local time; None: any time.
    ``call_until`` earlier than ``call_from`` means a window across midnight."""
    do_not_call: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Never call this customer out (callbacks, call lists, click-to-call warn)."""
    search_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    """Name, account number, email and numbers folded by ``crm_sync.phonebook.fold``;
    kept by ``Database`` on every ORM flush, trigram-indexed for the phonebook."""

    phones: Mapped[list[PhoneNumber]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", lazy="selectin"
    )
    contracts: Mapped[list[Contract]] = relationship(
        back_populates="customer", cascade="all, delete-orphan"
    )
    owner: Mapped[Agent | None] = relationship()


class PhoneNumber(Base):
    """One number of a customer, as entered and normalised."""

    __tablename__ = "phone_numbers"
    __table_args__ = (
        CheckConstraint(_in("kind", PHONE_KINDS), name="kind"),
        Index("ix_phone_numbers_e164", "e164"),
        Index("ix_phone_numbers_reversed_digits", "reversed_digits"),
        Index("ix_phone_numbers_customer_id", "customer_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    raw: Mapped[str] = mapped_column(String(64))
    e164: Mapped[str | None] = mapped_column(String(20))
    """None when what was entered is not a dialable number."""
    reversed_digits: Mapped[str | None] = mapped_column(_digits_collation())
    kind: Mapped[str] = mapped_column(String(16), default="mobile")

    customer: Mapped[Customer] = relationship(back_populates="phones")


class Contract(Base):
    """A support contract; its state (active, expiring, expired) follows from the dates."""

    __tablename__ = "contracts"
    __table_args__ = (Index("ix_contracts_customer_id", "customer_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    plan: Mapped[str] = mapped_column(String(100))
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date | None] = mapped_column(Date)
    """None: open-ended."""

    customer: Mapped[Customer] = relationship(back_populates="contracts")


class Case(Base):
    """A case file, found by its tracking code."""

    __tablename__ = "cases"
    __table_args__ = (
        CheckConstraint(_in("status", CASE_STATUSES), name="status"),
        CheckConstraint(_in("priority", CASE_PRIORITIES), name="priority"),
        Index("ix_cases_customer_id_status", "customer_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tracking_code: Mapped[str] = mapped_column(String(16), unique=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    subject: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16), default="open")
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    owner_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    opened_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    due_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    opened_call_id: Mapped[str | None] = mapped_column(String(64))
    """The call during which the case was opened, if any."""
    first_contact_resolution: Mapped[bool] = mapped_column(Boolean, default=False)

    customer: Mapped[Customer | None] = relationship()
    owner: Mapped[Agent | None] = relationship()


class CallRecord(Base):
    """One call, written once from its CallEnded event (unique on the call id)."""

    __tablename__ = "call_records"
    __table_args__ = (
        Index("ix_call_records_customer_id_started_at", "customer_id", "started_at"),
        Index("ix_call_records_case_id", "case_id"),
        Index("ix_call_records_started_at", "started_at"),
        Index(
            "ix_call_records_report",
            "started_at",
            "queue",
            "agent",
            "direction",
            "disposition",
            "wait_seconds",
            "talk_seconds",
            "wrapup_seconds",
            "transfer_count",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(String(64), unique=True)
    direction: Mapped[str] = mapped_column(String(16))
    caller: Mapped[str | None] = mapped_column(String(64))
    caller_name: Mapped[str | None] = mapped_column(String(200))
    dialed: Mapped[str | None] = mapped_column(String(64))
    queue: Mapped[str | None] = mapped_column(String(64))
    agent: Mapped[str | None] = mapped_column(String(32))
    """The answering agent's extension, as the PBX reported it."""
    started_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    wait_seconds: Mapped[int | None] = mapped_column(Integer)
    talk_seconds: Mapped[int | None] = mapped_column(Integer)
    disposition: Mapped[str] = mapped_column(String(16))
    recording: Mapped[str | None] = mapped_column(Text)
    """The recording's file as the PBX named it (``recordings/`` maps it to the hub's disk)."""
    recording_seconds: Mapped[float | None] = mapped_column(Float)
    """The recording's length, measured once the file was closed; None until then, or none."""
    ivr_input: Mapped[str | None] = mapped_column(String(64))
    transfer_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    wrapup_seconds: Mapped[int | None] = mapped_column(Integer)
    """From hang-up to the agent's wrap-up note (after-call work); None: no note after the call."""
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """agents_rung, transfers, variables: kept for the record, not queried."""
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    written_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class Note(Base):
    """A note, optionally with a disposition code, on a call, a case or a customer."""

    __tablename__ = "notes"
    __table_args__ = (
        CheckConstraint(
            "call_record_id IS NOT NULL OR case_id IS NOT NULL OR customer_id IS NOT NULL",
            name="target",
        ),
        Index("ix_notes_case_id", "case_id"),
        Index("ix_notes_call_record_id", "call_record_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_record_id: Mapped[int | None] = mapped_column(
        ForeignKey("call_records.id", ondelete="CASCADE")
    )
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    author_agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL")
    )
    body: Mapped[str] = mapped_column(Text, default="")
    disposition: Mapped[str | None] = mapped_column(String(64))
    """Outcome code chosen by the agent (``resolved``, ``callback``, ``sale``…)."""
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class CallRollup(Base):
    """Sums of the call log per UTC quarter hour, per queue or per agent (``crm_sync.reports``).

    ``grain`` is ``queue`` or ``agent``; ``name`` the queue or extension (``""``:
    none). In-threshold counts use the queue targets in force when the calls
    were rolled up (``CallRollupState.targets``), as interval reports do.
    """

    __tablename__ = "call_rollups"

    grain: Mapped[str] = mapped_column(String(8), primary_key=True)
    slot: Mapped[int] = mapped_column(Integer, primary_key=True)
    """Epoch seconds // 900."""
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    direction: Mapped[str] = mapped_column(String(16), primary_key=True)
    calls: Mapped[int] = mapped_column(Integer, default=0)
    offered: Mapped[int] = mapped_column(Integer, default=0)
    answered: Mapped[int] = mapped_column(Integer, default=0)
    direct_answered: Mapped[int] = mapped_column(Integer, default=0)
    abandoned: Mapped[int] = mapped_column(Integer, default=0)
    short_abandoned: Mapped[int] = mapped_column(Integer, default=0)
    answered_in_threshold: Mapped[int] = mapped_column(Integer, default=0)
    abandoned_in_threshold: Mapped[int] = mapped_column(Integer, default=0)
    answer_wait_sum: Mapped[int] = mapped_column(Integer, default=0)
    abandon_wait_sum: Mapped[int] = mapped_column(Integer, default=0)
    handled: Mapped[int] = mapped_column(Integer, default=0)
    handle_sum: Mapped[int] = mapped_column(Integer, default=0)
    talk_sum: Mapped[int] = mapped_column(Integer, default=0)
    longest_wait: Mapped[int] = mapped_column(Integer, default=0)
    transfers: Mapped[int] = mapped_column(Integer, default=0)
    outbound: Mapped[int] = mapped_column(Integer, default=0)
    outbound_answered: Mapped[int] = mapped_column(Integer, default=0)


class CallRollupState(Base):
    """How far ``call_rollups`` has read the call log, and under which targets (one row)."""

    __tablename__ = "call_rollup_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_call_id: Mapped[int] = mapped_column(Integer, default=0)
    targets: Mapped[str] = mapped_column(Text, default="")


ALERT_RULE_NAMES: tuple[str, ...] = (
    "case_overdue",
    "case_no_first_reply",
    "caller_waiting",
    "service_level_low",
    "ring_no_answer",
    "callback_overdue",
)


class AlertRecord(Base):
    """An alert raised by ``cti.alerts``: one row per key, so each alert is raised once."""

    __tablename__ = "alerts"
    __table_args__ = (
        CheckConstraint(_in("rule", ALERT_RULE_NAMES), name="rule"),
        Index("ix_alerts_acknowledged_at_raised_at", "acknowledged_at", "raised_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    rule: Mapped[str] = mapped_column(String(32))
    queue: Mapped[str | None] = mapped_column(String(64))
    agent: Mapped[str | None] = mapped_column(String(32))
    """Extension of the agent responsible, if any."""
    call_id: Mapped[str | None] = mapped_column(String(64))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    subject: Mapped[str | None] = mapped_column(String(200))
    value: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    raised_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    """Username of the supervisor who acknowledged it."""


CALLBACK_STATUSES: tuple[str, ...] = ("open", "reached", "given_up", "called_in", "do_not_call")
CALL_OUTCOMES: tuple[str, ...] = ("pending", "answered", "no_answer", "busy", "failed")


class Callback(Base):
    """A caller who abandoned or was missed, to be called back (one open task per number)."""

    __tablename__ = "callbacks"
    __table_args__ = (
        CheckConstraint(_in("status", CALLBACK_STATUSES), name="status"),
        Index("ix_callbacks_status_created_at", "status", "created_at"),
        Index("ix_callbacks_number_tail_status", "number_tail", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(64))
    """The caller's number as the PBX gave it; what is dialled."""
    number_tail: Mapped[str] = mapped_column(String(20))
    """Its last digits (``cti.alerts.number_tail``): matches the caller calling again."""
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    queue: Mapped[str | None] = mapped_column(String(64))
    call_id: Mapped[str] = mapped_column(String(64), unique=True)
    """The abandoned or missed call it came from."""
    reason: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="open")
    assigned_agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL")
    )
    """The customer's owner; None: any agent of the queue."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class CallAttempt(Base):
    """One outbound call an agent placed from a callback or a call list, and how it went."""

    __tablename__ = "call_attempts"
    __table_args__ = (
        CheckConstraint(_in("outcome", CALL_OUTCOMES), name="outcome"),
        CheckConstraint("callback_id IS NOT NULL OR entry_id IS NOT NULL", name="target"),
        Index("ix_call_attempts_extension_outcome", "extension", "outcome"),
        Index("ix_call_attempts_callback_id", "callback_id"),
        Index("ix_call_attempts_entry_id", "entry_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    callback_id: Mapped[int | None] = mapped_column(ForeignKey("callbacks.id", ondelete="CASCADE"))
    entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("call_list_entries.id", ondelete="CASCADE")
    )
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    extension: Mapped[str] = mapped_column(String(32))
    number_tail: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    outcome: Mapped[str] = mapped_column(String(16), default="pending")
    call_id: Mapped[str | None] = mapped_column(String(64))
    """The outbound call, once the call log saw it end."""


CALL_LIST_SOURCES: tuple[str, ...] = ("csv", "contracts_expiring", "open_cases")
CALL_LIST_ENTRY_STATUSES: tuple[str, ...] = ("pending", "dialing", "done", "skipped")


class CallList(Base):
    """A list of customers a supervisor wants called (a renewal campaign, follow-ups)."""

    __tablename__ = "call_lists"
    __table_args__ = (CheckConstraint(_in("source", CALL_LIST_SOURCES), name="source"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(32))
    queue: Mapped[str | None] = mapped_column(String(64))
    """Worked by any agent of this queue (entries without an agent of their own)."""
    created_by_agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class CallListEntry(Base):
    """One customer to call on a list, with who calls and how it went."""

    __tablename__ = "call_list_entries"
    __table_args__ = (
        CheckConstraint(_in("status", CALL_LIST_ENTRY_STATUSES), name="status"),
        Index("ix_call_list_entries_list_id_status", "list_id", "status"),
        Index("ix_call_list_entries_assigned_agent_id_status", "assigned_agent_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("call_lists.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(200))
    number: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(300))
    """Why this customer is on the list (contract end date, case code), for the preview."""
    assigned_agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(16), default="pending")
    outcome: Mapped[str | None] = mapped_column(String(64))
    """The agent's disposition code once done."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
