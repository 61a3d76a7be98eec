"""Call lists (``/api/v1/calllists``): supervisors load and follow them, agents work them.

A supervisor loads a list from a CRM filter (``contracts_expiring``,
``open_cases``, with ``days``) or a CSV text, for named agents or a queue,
and follows its progress. An agent asks for the next entry (a preview of who
and why), dials it with one click and records the outcome, which the CRM
keeps as a note on the customer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Literal

from aiohttp import web
from pydantic import Field, StringConstraints

from popup_server.api import error_response
from popup_server.auth import User
from popup_server.callbacks_api import QueuesOf, path_id, place_call, refused
from popup_server.ports import (
    DISPOSITIONS,
    Audit,
    CallListDesk,
    CallRefusedError,
    CrmError,
    PbxActions,
)
from popup_server.request_bodies import RequestBody, bad_request, parse_body
from popup_server.wire import json_response

logger = logging.getLogger(__name__)

OUTCOMES = (*DISPOSITIONS, "not_reached")
"""``not_reached`` puts the entry back on the list; the others close it."""
MAX_CSV_CHARS = 1_000_000
Name = Annotated[str, StringConstraints(pattern=r"^[\w.-]{1,64}$")]


class CallListBody(RequestBody):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    source: Literal["contracts_expiring", "open_cases", "csv"]
    days: Annotated[int, Field(ge=0, le=3650)] = 30
    """Contracts ending within, or cases opened more than, this many days."""
    csv: Annotated[str, StringConstraints(max_length=MAX_CSV_CHARS)] = ""
    agents: Annotated[list[Name], Field(max_length=500, default_factory=list)]
    queue: Name | None = None


class OutcomeBody(RequestBody):
    outcome: Literal[OUTCOMES]  # type: ignore[valid-type]
    note: Annotated[str, StringConstraints(max_length=10_000)] = ""


class CallListsApi:
    """The call list routes; ``authenticate`` answers 401 itself (``Api.user``)."""

    def __init__(
        self,
        authenticate: Callable[[web.Request], User],
        lists: CallListDesk | None,
        pbx: PbxActions,
        queues_of: QueuesOf,
        audit: Audit,
    ) -> None:
        self._authenticate = authenticate
        self._audit = audit
        self._lists = lists
        self._pbx = pbx
        self._queues_of = queues_of

    def routes(self) -> list[web.RouteDef]:
        """The list, entry and outcome routes under ``/api/v1/calllists``."""
        p = "/api/v1/calllists"
        return [
            web.get(p, self.progress),
            web.post(p, self.load),
            web.get(f"{p}/next", self.next_entry),
            web.post(f"{p}/entries/{{entry_id}}/dial", self.dial),
            web.post(f"{p}/entries/{{entry_id}}/outcome", self.outcome),
        ]

    def _supervisor(self, request: web.Request) -> User:
        user = self._authenticate(request)
        if not user.can_supervise:
            raise web.HTTPForbidden(
                text='{"error": "only supervisors and admins manage call lists"}',
                content_type="application/json",
            )
        return user

    async def progress(self, request: web.Request) -> web.Response:
        """Every list with its progress and results (supervisors)."""
        self._supervisor(request)
        lists = await self._lists.progress() if self._lists is not None else []
        return json_response({"lists": lists})

    async def load(self, request: web.Request) -> web.Response:
        """Load a list from a CRM filter or CSV and assign it (supervisors)."""
        user = self._supervisor(request)
        body = await parse_body(request, CallListBody)
        if body.source == "csv" and not body.csv.strip():
            raise bad_request("csv: required when source is csv", "csv")
        if not body.agents and body.queue is None:
            raise bad_request("agents or queue: say who works the list", "agents")
        if self._lists is None:
            return error_response(503, "call lists are not available on this hub")
        try:
            report = await self._lists.load(
                name=body.name,
                source=body.source,
                days=body.days,
                csv_text=body.csv,
                agents=tuple(body.agents),
                queue=body.queue,
                created_by=user.id,
            )
        except CrmError as exc:
            field = str(exc).split(":", 1)[0]
            raise bad_request(
                str(exc), field if field in CallListBody.model_fields else None
            ) from None
        await self._audit.record(
            user.username,
            "call_list.load",
            f"call_list:{report.list_id}",
            after={
                "name": body.name,
                "source": body.source,
                "agents": list(body.agents),
                "queue": body.queue,
                "entries": report.entries,
            },
        )
        logger.info(
            "call list loaded by user=%s source=%s entries=%s",
            user.username,
            body.source,
            report.entries,
        )
        return json_response(report, status=201)

    async def next_entry(self, request: web.Request) -> web.Response:
        """The agent's next entry to preview (``{"entry": null}`` when the lists are done)."""
        user = self._authenticate(request)
        if self._lists is None:
            return json_response({"entry": None})
        entry = await self._lists.next_entry(user.id, self._queues_of(user.extensions))
        return json_response({"entry": entry})

    async def dial(self, request: web.Request) -> web.Response:
        """Count an attempt on the entry and ring the agent's phone to call the customer."""
        user = self._authenticate(request)
        entry_id = path_id(request, "entry_id")
        if entry_id is None:
            return error_response(400, "entry_id must be a positive integer")
        if not user.extensions:
            return error_response(409, "your account has no extension")
        if self._lists is None:
            return error_response(404, f"no list entry {entry_id} of yours")
        extension = user.extensions[0]
        try:
            dial = await self._lists.start_entry(
                entry_id, user.id, extension, self._queues_of(user.extensions)
            )
        except CallRefusedError as exc:
            return refused(exc)
        failure = await place_call(self._pbx, user, extension, dial, self._attempt_failed)
        if failure is not None:
            return failure
        return json_response(
            {"entry_id": entry_id, "attempt_id": dial.attempt_id, "extension": extension},
            status=202,
        )

    async def _attempt_failed(self, attempt_id: int) -> None:
        # The attempt stays counted; its entry goes back to pending via the outcome.
        logger.info("list attempt not placed attempt=%s", attempt_id)

    async def outcome(self, request: web.Request) -> web.Response:
        """Record how the call went; the CRM keeps it as a note on the customer."""
        user = self._authenticate(request)
        entry_id = path_id(request, "entry_id")
        if entry_id is None:
            return error_response(400, "entry_id must be a positive integer")
        body = await parse_body(request, OutcomeBody)
        if self._lists is None:
            return error_response(404, f"no list entry {entry_id} of yours")
        try:
            saved = await self._lists.record_outcome(entry_id, user.id, body.outcome, body.note)
        except CallRefusedError as exc:
            return refused(exc)
        return json_response(saved)
