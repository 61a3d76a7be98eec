"""The CRM as the screen pop sees it: ``cti.screenpop.CallerLookup`` over crm_sync."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from crm_sync.cases import CaseService, case_json
from crm_sync.db import Database
from crm_sync.matching import CallerDirectory
from crm_sync.models import Customer
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
        found = await self._cases.find_with_owner(code)
        if found is None:
            return None
        case, owner = found
        customer_name = None
        if case.customer_id:
            async with self._db.sessions() as session:
                customer_name = await session.scalar(
                    select(Customer.name).where(Customer.id == case.customer_id)
                )
        return {**case_json(case), "customer_name": customer_name, "owner_extension": owner}
