"""The CRM as the screen pop sees it: ``cti.screenpop.CallerLookup`` over crm_sync.

With an external CRM configured (``[crm.http] lookup_url``) its contacts for
the caller follow the hub's own customers in the pop, marked
``"source": "external"``. An external CRM answering in 150 ms is normal; the
pop does not wait for it (``popup_server.pop_feed`` runs lookups apart).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from crm_sync.cases import CaseService, case_json
from crm_sync.connectors.base import ConnectorError, CrmConnector, ExternalContact
from crm_sync.db import Database
from crm_sync.matching import CallerDirectory
from crm_sync.models import Customer
from cti.screenpop import CallerInfo

log = logging.getLogger(__name__)


class CrmCallerLookup:
    """Answers the screen pop's two questions: who is calling, and which case is this code."""

    def __init__(
        self,
        directory: CallerDirectory,
        cases: CaseService,
        database: Database,
        connector: CrmConnector | None = None,
    ) -> None:
        self._directory = directory
        self._cases = cases
        self._db = database
        self._connector = connector

    async def lookup(self, number: str | None) -> CallerInfo:
        """Ranked customers behind ``number`` in the pop's JSON form, then external contacts."""
        match = await self._directory.lookup(number)
        data = match.to_dict()
        normalised = match.number.e164 or match.number.extension
        customers: list[Mapping[str, Any]] = list(data["customers"])
        status = match.status
        if self._connector is not None and match.number.e164:
            try:
                contacts = await self._connector.lookup(match.number.e164)
            except ConnectorError as exc:
                log.warning("external CRM lookup failed: %s", exc)
                contacts = []
            customers += [external_customer(c) for c in contacts]
            if contacts and status == "unknown":
                status = "matched"
        return CallerInfo(number, normalised, status, tuple(customers))

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


def external_customer(contact: ExternalContact) -> dict[str, Any]:
    """An external CRM's contact in the pop's customer form (no contract, cases or calls here)."""
    return {
        "id": None,
        "source": "external",
        "external_id": contact.external_id,
        "name": contact.name,
        "email": contact.email,
        "vip": False,
        "language": None,
        "address": None,
        "contract": {"state": "none", "plan": None, "ends_on": None},
        "open_cases": [],
        "recent_calls": [],
    }
