"""The CRM as the screen pop sees it: ``cti.screenpop.CallerLookup`` over crm_sync."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from crm_sync.cases import CaseService
from crm_sync.db import Database
from crm_sync.matching import CallerDirectory
from crm_sync.models import Agent, Customer
from cti.screenpop import CallerInfo


class CrmCallerLookup:
    """Answers the screen pop's two questions: who is calling, and which case is this code."""

    def __init__(self, directory: CallerDirectory, cases: CaseService, database: Database) -> None:
        self._directory = directory
        self._cases = cases
        self._db = database

    async def lookup(self, number: str | None) -> CallerInfo:
        """Ranked customers behind ``number`` in the pop's JSON form."""
        match = await self._directory.lookup(number)
        data = match.to_dict()
        normalised = match.number.e164 or match.number.extension
        return CallerInfo(number, normalised, match.status, tuple(data["customers"]))

    async def case_by_code(self, code: str) -> Mapping[str, Any] | None:
        """The case a tracking code names (None for a mistyped or unknown code)."""
        case = await self._cases.find_by_code(code)
        if case is None:
            return None
        async with self._db.sessions() as session:
            customer_name = (
                await session.scalar(select(Customer.name).where(Customer.id == case.customer_id))
                if case.customer_id
                else None
            )
            owner = (
                await session.scalar(select(Agent.extension).where(Agent.id == case.owner_agent_id))
                if case.owner_agent_id
                else None
            )
        return {
            "id": case.id,
            "tracking_code": case.tracking_code,
            "subject": case.subject,
            "status": case.status,
            "priority": case.priority,
            "due_at": case.due_at.isoformat() if case.due_at else None,
            "customer_id": case.customer_id,
            "customer_name": customer_name,
            "owner_extension": owner,
        }
