"""``/api/v1/customers``: an agent creates a customer from an unknown caller's pop, adds the
caller's number to a customer found by search, and edits basic fields and contact
preferences, where the CRM is the hub's own. With an external CRM as the source every
write answers 409 and the panel links to the record there instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from aiohttp import web

from popup_server.api import error_response
from popup_server.auth import User
from popup_server.ports import CONTACT_CHANNELS, CrmError, CustomerChanges, CustomerDesk
from popup_server.request_bodies import parse_object

_NUMBER_RE = re.compile(r"^\+?[0-9]{2,32}$")
_CLOCK_RE = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
_LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")
_EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}$")
_TEXT_LIMITS = {"name": 200, "address": 1000}


class BadField(ValueError):
    """A field of the request is invalid; the message names it."""


def customer_changes(data: dict[str, Any], *, creating: bool) -> CustomerChanges:
    """The request's fields checked one by one; :class:`BadField` names the first bad one."""
    known = set(CustomerChanges.__annotations__)
    extra = set(data) - known - ({"number"} if creating else set())
    if extra:
        raise BadField(f"unknown field(s): {', '.join(sorted(extra))}")
    changes: CustomerChanges = {}
    if creating or "name" in data:
        name = data.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > _TEXT_LIMITS["name"]:
            raise BadField("name must be 1 to 200 characters")
        changes["name"] = name.strip()
    if "address" in data:
        changes["address"] = _optional_text(data["address"], "address", _TEXT_LIMITS["address"])
    if "email" in data:
        email = _optional_text(data["email"], "email", 254)
        if email is not None and not _EMAIL_RE.match(email):
            raise BadField("email must be an address such as name@example.com")
        changes["email"] = email
    if "language" in data:
        language = _optional_text(data["language"], "language", 16)
        if language is not None and not _LANGUAGE_RE.match(language):
            raise BadField("language must be a language code such as fa or en")
        changes["language"] = language
    if "preferred_channel" in data:
        channel = data["preferred_channel"] or None
        if channel is not None and channel not in CONTACT_CHANNELS:
            raise BadField(f"preferred_channel must be one of {', '.join(CONTACT_CHANNELS)}")
        changes["preferred_channel"] = channel
    for key in ("call_from", "call_until"):
        if key in data:
            value = data[key] or None
            if value is not None and (not isinstance(value, str) or not _CLOCK_RE.match(value)):
                raise BadField(f"{key} must be a time of day as HH:MM")
            changes[key] = value
    if "do_not_call" in data:
        if not isinstance(data["do_not_call"], bool):
            raise BadField("do_not_call must be true or false")
        changes["do_not_call"] = data["do_not_call"]
    return changes


def dialled_number(value: object) -> str:
    """A phone number as typed or presented (spaces and dashes dropped), or :class:`BadField`."""
    number = str(value or "").replace(" ", "").replace("-", "")
    if not _NUMBER_RE.match(number):
        raise BadField("number must be 2 to 32 digits, optionally with a leading +")
    return number


def _optional_text(value: object, field: str, limit: int) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise BadField(f"{field} must be text of at most {limit} characters")
    return value.strip() or None


class CustomersApi:
    """The customer routes; ``user_of`` is the REST API's bearer-token check (401)."""

    def __init__(self, user_of: Callable[[web.Request], User], desk: CustomerDesk) -> None:
        self._user_of = user_of
        self._desk = desk

    def routes(self) -> list[web.RouteDef]:
        """The ``/api/v1`` routes of customers."""
        p = "/api/v1/customers"
        return [
            web.get(f"{p}/source", self.source),
            web.post(p, self.create),
            web.get(p + "/{customer_id:[0-9]{1,12}}", self.get),
            web.patch(p + "/{customer_id:[0-9]{1,12}}", self.update),
            web.post(p + "/{customer_id:[0-9]{1,12}}/numbers", self.add_number),
        ]

    def _writable(self) -> None:
        if not self._desk.source()["editable"]:
            raise web.HTTPConflict(
                text='{"error": "customers are kept in the external CRM: edit them there"}',
                content_type="application/json",
            )

    async def source(self, request: web.Request) -> web.Response:
        self._user_of(request)
        return web.json_response(self._desk.source())

    async def get(self, request: web.Request) -> web.Response:
        self._user_of(request)
        customer = await self._desk.get(int(request.match_info["customer_id"]))
        if customer is None:
            return error_response(404, "no such customer")
        return web.json_response(customer)

    async def create(self, request: web.Request) -> web.Response:
        self._user_of(request)
        self._writable()
        data = await parse_object(request)
        try:
            changes = customer_changes(data, creating=True)
            number = dialled_number(data["number"]) if data.get("number") else None
        except BadField as exc:
            return error_response(400, str(exc))
        try:
            customer = await self._desk.create(changes, number)
        except CrmError as exc:
            return error_response(400, str(exc))
        return web.json_response(customer, status=201)

    async def update(self, request: web.Request) -> web.Response:
        self._user_of(request)
        self._writable()
        data = await parse_object(request)
        try:
            changes = customer_changes(data, creating=False)
        except BadField as exc:
            return error_response(400, str(exc))
        try:
            customer = await self._desk.update(int(request.match_info["customer_id"]), changes)
        except CrmError as exc:
            return error_response(404 if "no customer" in str(exc) else 400, str(exc))
        return web.json_response(customer)

    async def add_number(self, request: web.Request) -> web.Response:
        self._user_of(request)
        self._writable()
        data = await parse_object(request)
        try:
            number = dialled_number(data.get("number"))
        except BadField as exc:
            return error_response(400, str(exc))
        try:
            customer = await self._desk.add_number(int(request.match_info["customer_id"]), number)
        except CrmError as exc:
            return error_response(404 if "no customer" in str(exc) else 400, str(exc))
        return web.json_response(customer, status=201)
