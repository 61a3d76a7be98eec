"""What every external-CRM connector offers the hub."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class ConnectorError(Exception):
    """The external CRM did not give a usable answer; the message says what came instead."""


@dataclass(frozen=True, slots=True)
class ExternalContact:
    """A contact as an external CRM describes it, mapped to ctihub's names."""

    external_id: str | None
    name: str | None
    email: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    """Every mapped field, including the three above."""


class CrmConnector(Protocol):
    """An external CRM: look callers up there, tell it about calls and cases."""

    async def lookup(self, e164: str) -> list[ExternalContact]:
        """Contacts the external CRM holds for ``e164``; raises ConnectorError on failure."""
        ...

    async def push_call(self, record: dict[str, Any]) -> bool:
        """Send one call record; False if it ended in the dead-letter spool."""
        ...

    async def push_case(self, case: dict[str, Any]) -> bool:
        """Send one case update; False if it ended in the dead-letter spool."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
