"""Case files: opening with a tracking code and a due time, resolving, finding by code."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crm_sync.connectors.base import CrmConnector
from crm_sync.db import Database
from crm_sync.models import (
    CASE_PRIORITIES,
    CASE_STATUSES,
    CallRecord,
    Case,
    Customer,
    Device,
    Note,
    utcnow,
)
from crm_sync.settings import CrmConfig
from crm_sync.tracking_codes import is_well_formed, new_tracking_code

log = logging.getLogger(__name__)

_CODE_ATTEMPTS = 20


def case_json(case: Case) -> dict[str, Any]:
    """A case as the agent's panel and the screen pop show it."""
    return {
        "id": case.id,
        "tracking_code": case.tracking_code,
        "subject": case.subject,
        "status": case.status,
        "priority": case.priority,
        "due_at": case.due_at.isoformat() if case.due_at else None,
        "customer_id": case.customer_id,
    }


class CaseError(Exception):
    """A case operation was refused; the message says why."""


class CaseService:
    """Opens, updates and finds case files."""

    def __init__(
        self, database: Database, config: CrmConfig, connector: CrmConnector | None = None
    ) -> None:
        self._db = database
        self._config = config
        self._connector = connector
        self._pushes: set[asyncio.Task[bool]] = set()

    async def close(self) -> None:
        """Wait for case-update webhooks still in flight (failures end dead-lettered)."""
        if self._pushes:
            await asyncio.gather(*self._pushes, return_exceptions=True)

    def _push(self, case: Case) -> None:
        if self._connector is None:
            return
        payload = {
            "id": case.id,
            "tracking_code": case.tracking_code,
            "customer_id": case.customer_id,
            "subject": case.subject,
            "status": case.status,
            "priority": case.priority,
            "opened_at": case.opened_at.isoformat(),
            "due_at": case.due_at.isoformat() if case.due_at else None,
            "resolved_at": case.resolved_at.isoformat() if case.resolved_at else None,
            "first_contact_resolution": case.first_contact_resolution,
        }
        task = asyncio.create_task(self._connector.push_case(payload))
        self._pushes.add(task)
        task.add_done_callback(self._pushes.discard)

    def due_time(self, opened_at: dt.datetime, key_customer: bool) -> dt.datetime:
        """When a case opened at ``opened_at`` is due (key customers sooner)."""
        hours = (
            self._config.due_hours_key_customer if key_customer else self._config.due_hours_default
        )
        return opened_at + dt.timedelta(hours=hours)

    async def open_case(
        self,
        *,
        customer_id: int | None,
        subject: str,
        priority: str = "normal",
        owner_agent_id: int | None = None,
        call_id: str | None = None,
        opened_at: dt.datetime | None = None,
    ) -> Case:
        """Open a case with a fresh unique tracking code; ``call_id`` is the call it came from."""
        if priority not in CASE_PRIORITIES:
            raise CaseError(
                f"priority must be one of {', '.join(CASE_PRIORITIES)}, got {priority!r}"
            )
        if not subject.strip():
            raise CaseError("a case needs a subject")
        opened_at = opened_at or utcnow()
        async with self._db.sessions() as session:
            vip = False
            if customer_id is not None:
                customer = await session.get(Customer, customer_id)
                if customer is None:
                    raise CaseError(f"no customer with id {customer_id}")
                vip = customer.vip
                customer.last_activity_at = opened_at
            for _ in range(_CODE_ATTEMPTS):
                case = Case(
                    tracking_code=new_tracking_code(self._config.tracking_code_length),
                    customer_id=customer_id,
                    subject=subject.strip(),
                    status="open",
                    priority=priority,
                    owner_agent_id=owner_agent_id,
                    opened_at=opened_at,
                    due_at=self.due_time(opened_at, vip),
                    opened_call_id=call_id,
                )
                try:
                    async with session.begin_nested():
                        session.add(case)
                    await session.commit()
                except IntegrityError:
                    # A tracking-code collision; anything else fails again and surfaces.
                    continue
                log.info("case opened case_id=%s customer_id=%s", case.id, customer_id)
                self._push(case)
                return case
        raise CaseError(f"no free tracking code after {_CODE_ATTEMPTS} attempts")

    async def set_status(
        self,
        case_id: int,
        status: Literal["open", "pending", "resolved", "closed"],
        *,
        call_id: str | None = None,
        at: dt.datetime | None = None,
    ) -> Case:
        """Move a case to ``status``; resolving during the call that opened it marks FCR."""
        if status not in CASE_STATUSES:
            raise CaseError(f"status must be one of {', '.join(CASE_STATUSES)}, got {status!r}")
        at = at or utcnow()
        async with self._db.sessions() as session:
            case = await session.get(Case, case_id)
            if case is None:
                raise CaseError(f"no case with id {case_id}")
            if status in ("resolved", "closed") and case.resolved_at is None:
                case.resolved_at = at
                case.first_contact_resolution = await self._first_contact(session, case, call_id)
            elif status in ("open", "pending"):
                case.resolved_at = None
                case.first_contact_resolution = False
            case.status = status
            if case.customer_id is not None:
                customer = await session.get(Customer, case.customer_id)
                if customer is not None:
                    customer.last_activity_at = at
            await session.commit()
            self._push(case)
            return case

    async def resolve(self, case_id: int, *, call_id: str | None = None) -> Case:
        """Resolve a case (``call_id``: the call during which it was resolved)."""
        return await self.set_status(case_id, "resolved", call_id=call_id)

    async def find_by_code(self, code: str) -> Case | None:
        """The case with tracking code ``code``; None for a mistyped or unknown code."""
        code = code.strip()
        if not is_well_formed(code, self._config.tracking_code_length):
            return None
        async with self._db.sessions() as session:
            return await session.scalar(select(Case).where(Case.tracking_code == code))

    async def find_with_owner(self, code: str) -> tuple[Case, str | None] | None:
        """The case and its owner's extension, for the IVR's "reach the owner" routing."""
        case = await self.find_by_code(code)
        if case is None:
            return None
        if case.owner_agent_id is None:
            return case, None
        async with self._db.sessions() as session:
            owner = await session.scalar(
                select(func.min(Device.extension)).where(Device.agent_id == case.owner_agent_id)
            )
        return case, owner

    async def add_note(
        self,
        *,
        body: str,
        case_id: int | None = None,
        call_record_id: int | None = None,
        customer_id: int | None = None,
        author_agent_id: int | None = None,
        disposition: str | None = None,
    ) -> Note:
        """A note (and optionally a disposition code) on a case, a call or a customer."""
        if case_id is None and call_record_id is None and customer_id is None:
            raise CaseError("a note needs a case, a call or a customer")
        async with self._db.sessions() as session:
            if customer_id is None and case_id is not None:
                case = await session.get(Case, case_id)
                if case is None:
                    raise CaseError(f"no case with id {case_id}")
                customer_id = case.customer_id
            note = Note(
                body=body,
                case_id=case_id,
                call_record_id=call_record_id,
                customer_id=customer_id,
                author_agent_id=author_agent_id,
                disposition=disposition,
            )
            session.add(note)
            await session.commit()
            return note

    @staticmethod
    async def _first_contact(session: AsyncSession, case: Case, call_id: str | None) -> bool:
        if call_id is None or call_id != case.opened_call_id:
            return False
        other_calls = await session.scalar(
            select(func.count())
            .select_from(CallRecord)
            .where(CallRecord.case_id == case.id, CallRecord.call_id != call_id)
        )
        return not other_calls
