"""The database handle: async engine, sessions, SQLite pragmas, change notifications.

``Database`` is built from ``[database]`` config and owned by whoever wires
the hub. Every ORM commit made through its sessions tells the subscribers
which customers and numbers changed, which is how the caller-lookup cache is
invalidated the moment a customer or a number changes.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from crm_sync.models import CallRecord, Case, Contract, Customer, Note, PhoneNumber
from crm_sync.phonebook import search_text
from crm_sync.settings import DatabaseConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Changes:
    """What one commit changed, as far as cached caller lookups care."""

    customer_ids: frozenset[int] = frozenset()
    numbers: frozenset[str] = frozenset()
    """E.164 numbers added, removed or edited."""

    def __bool__(self) -> bool:
        return bool(self.customer_ids or self.numbers)


ChangeListener = Callable[[Changes], None]


@dataclass(slots=True)
class _Pending:
    customer_ids: set[int] = field(default_factory=set)
    numbers: set[str] = field(default_factory=set)


def is_sqlite(url: str | URL) -> bool:
    """True for a SQLite URL."""
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_path(url: str | URL) -> str | None:
    """The file of a SQLite URL, None for an in-memory database or another backend."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:":
        return None
    return parsed.database


def ensure_sqlite_dir(url: str | URL) -> str | None:
    """Create the folder of a SQLite file (``var/`` on a fresh checkout); its path, or None."""
    path = sqlite_path(url)
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return path


class Database:
    """An async engine plus a session factory that reports what each commit changed."""

    def __init__(self, config: DatabaseConfig) -> None:
        self.config = config
        self.url = make_url(config.url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.engine = _create_engine(config)
        # A Session subclass per Database so the listeners below are not global.
        self._session_class: type[Session] = type("CtihubSession", (Session,), {})
        self.sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=self._session_class
        )
        self._listeners: list[ChangeListener] = []
        event.listen(self._session_class, "before_flush", _refresh_search_text)
        event.listen(self._session_class, "after_flush", self._collect)
        event.listen(self._session_class, "after_commit", self._publish)
        event.listen(self._session_class, "after_rollback", self._forget)

    def subscribe(self, listener: ChangeListener) -> None:
        """Call ``listener`` after each commit that changed customers or numbers."""
        self._listeners.append(listener)

    def notify(self, changes: Changes) -> None:
        """Tell subscribers about changes made outside the ORM (bulk imports, raw SQL)."""
        if changes:
            for listener in self._listeners:
                listener(changes)

    async def dispose(self) -> None:
        """Close every connection."""
        await self.engine.dispose()

    def _collect(self, session: Session, flush_context: Any) -> None:
        pending: _Pending = session.info.setdefault("ctihub_changes", _Pending())
        for obj in (*session.new, *session.dirty, *session.deleted):
            if isinstance(obj, Customer):
                pending.customer_ids.add(obj.id)
            elif isinstance(obj, PhoneNumber):
                pending.customer_ids.add(obj.customer_id)
                if obj.e164:
                    pending.numbers.add(obj.e164)
                old = _old_value(obj, "e164")
                if old:
                    pending.numbers.add(old)
            elif isinstance(obj, Contract | Case | CallRecord | Note) and obj.customer_id:
                pending.customer_ids.add(obj.customer_id)

    def _publish(self, session: Session) -> None:
        pending: _Pending | None = session.info.pop("ctihub_changes", None)
        if pending is not None:
            self.notify(Changes(frozenset(pending.customer_ids), frozenset(pending.numbers)))

    def _forget(self, session: Session) -> None:
        session.info.pop("ctihub_changes", None)


def _refresh_search_text(session: Session, flush_context: Any, instances: Any) -> None:
    """Keep each changed customer's phonebook text in step with its name and numbers."""
    customers = {obj for obj in (*session.new, *session.dirty) if isinstance(obj, Customer)}
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, PhoneNumber):
            # Only a customer already loaded: a flush cannot load one (async), and a
            # number changed through its customer (the usual way) has it loaded.
            owner = inspect(obj).attrs["customer"].loaded_value
            if isinstance(owner, Customer):
                customers.add(owner)
    for customer in customers:
        if customer in session.deleted:
            continue
        numbers = [
            n
            for phone in customer.phones
            if phone not in session.deleted
            for n in (phone.raw, phone.e164)
            if n
        ]
        text = search_text(customer.name or "", customer.ref, customer.email, numbers)
        if customer.search_text != text:
            customer.search_text = text


def _old_value(obj: object, attribute: str) -> Any:
    history = inspect(obj).attrs[attribute].history
    return history.deleted[0] if history.deleted else None


def _create_engine(config: DatabaseConfig) -> AsyncEngine:
    url = make_url(config.url)
    if url.get_backend_name() == "sqlite":
        path = ensure_sqlite_dir(url)
        engine = create_async_engine(
            url,
            echo=config.echo,
            connect_args={"timeout": config.statement_timeout},
            poolclass=None if path else StaticPool,
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    connect_args: dict[str, Any] = {}
    if url.get_backend_name() == "postgresql":
        connect_args = {
            "timeout": config.connect_timeout,
            "command_timeout": config.statement_timeout,
            "server_settings": {"statement_timeout": str(int(config.statement_timeout * 1000))},
        }
    return create_async_engine(
        url,
        echo=config.echo,
        pool_size=config.pool_size,
        pool_pre_ping=True,
        connect_args=connect_args,
    )


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def open_sqlite_reader(path: str) -> sqlite3.Connection:
    """A read-only stdlib connection to the same SQLite file, for the fast lookup path."""
    uri = Path(path).resolve().as_uri() + "?mode=ro"
    connection = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
    connection.execute("PRAGMA query_only=ON")
    return connection
