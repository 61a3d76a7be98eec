"""The REST API under ``/api/v1``, described by ``openapi.json`` (served by the app).

Every route but ``login``, ``health`` and the OpenAPI document needs
``Authorization: Bearer <token>``. Agents act only on their own extension
and see only calls their extensions were on; any other call id answers 404,
the same as an unknown one, so ids of other agents' calls cannot be probed.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from popup_server.auth import (
    FailureCounter,
    InvalidTokenError,
    LoginRateLimiter,
    LoginsBusyError,
    PasswordChecks,
    TokenSigner,
    User,
)
from popup_server.ports import (
    DISPOSITIONS,
    CaseInfo,
    CrmError,
    HubStatus,
    LoggedCallSummary,
    PanelBackends,
    PbxActionError,
)
from popup_server.request_bodies import (
    LinkCaseBody,
    LoginBody,
    OpenCaseBody,
    OriginateBody,
    QueuePauseBody,
    WrapUpBody,
    bad_request,
    parse_body,
)
from popup_server.token_auth import API_USER_KEY
from popup_server.wire import encode, json_response
from popup_server.ws_agent import AgentHub
from popup_server.ws_handshake import client_address

logger = logging.getLogger(__name__)

_DIAL_RE = re.compile(r"^\+?[0-9*#]{2,32}$")
OPENAPI_PATH = Path(__file__).with_name("openapi.json")


@dataclass(frozen=True, slots=True)
class ApiServices:
    """What the REST routes need; built once by :func:`popup_server.app.create_app`."""

    backends: PanelBackends
    signer: TokenSigner
    limiter: LoginRateLimiter
    passwords: PasswordChecks
    code_tries: FailureCounter
    """Unknown tracking codes tried per user (a code is a key to a customer's case)."""
    hub: AgentHub
    trusted_proxies: frozenset[str]
    status: HubStatus | None = None


OLDEST_DAY_START = dt.timedelta(hours=48)
"""A browser's local midnight is never further back than this (time zones span 26 hours)."""


def day_start(raw: str | None, now: float) -> dt.datetime:
    """The start of "today" a browser asked for (``?since=<epoch seconds>``: its local
    midnight, e.g. 20:30 UTC the evening before in Tehran); 00:00 UTC when absent.

    Raises :class:`ValueError` with the reason for a value that is not epoch
    seconds within the last 48 hours.
    """
    if raw is None:
        return dt.datetime.fromtimestamp(now, dt.UTC).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
    try:
        seconds = float(raw)
    except ValueError:
        raise ValueError("since must be epoch seconds") from None
    if not math.isfinite(seconds) or not (now - OLDEST_DAY_START.total_seconds() <= seconds <= now):
        raise ValueError("since must be epoch seconds within the last 48 hours")
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def error_response(status: int, message: str, **headers: str) -> web.Response:
    """A JSON error body ``{"error": message}``, as every API route answers failures."""
    return json_response({"error": message}, status=status, headers=headers)


def _other_customer(field: str, what: str) -> web.HTTPConflict:
    return web.HTTPConflict(
        text=encode(
            {
                "error": f"{field}: {what} is not the caller's; "
                "send confirm_other_customer: true to file it there anyway",
                "field": field,
                "confirm": "confirm_other_customer",
            }
        ),
        content_type="application/json",
    )


Call = dict[str, Any] | LoggedCallSummary
"""One of the agent's calls: its pop while the panel keeps it, else its call-log row."""


def _callers(call: Call) -> set[int]:
    """The ids of the customers the call was matched to (the caller, as far as the CRM knows)."""
    if isinstance(call, LoggedCallSummary):
        return set() if call.customer_id is None else {call.customer_id}
    return {int(c["id"]) for c in call["match"]["customers"] if c.get("id") is not None}


def _best_caller(call: Call) -> int | None:
    if isinstance(call, LoggedCallSummary):
        return call.customer_id
    best = call["match"]["customers"][:1]
    return int(best[0]["id"]) if best else None


class Api:
    """Route handlers bound to their services."""

    def __init__(self, services: ApiServices) -> None:
        self._s = services
        self._b = services.backends

    def routes(self) -> list[web.RouteDef]:
        """The ``/api/v1`` routes."""
        p = "/api/v1"
        return [
            web.get(f"{p}/health", self.health),
            web.get(f"{p}/openapi.json", self.openapi),
            web.post(f"{p}/login", self.login),
            web.post(f"{p}/token", self.refresh),
            web.get(f"{p}/me", self.me),
            web.get(f"{p}/status", self.hub_status),
            web.get(f"{p}/calls/current", self.current_calls),
            web.get(f"{p}/calls/today", self.today_calls),
            web.get(f"{p}/calls/{{call_id}}", self.get_call),
            web.post(f"{p}/calls/{{call_id}}/case", self.link_case),
            web.post(f"{p}/calls/{{call_id}}/wrapup", self.wrap_up),
            web.post(f"{p}/cases", self.open_case),
            web.get(f"{p}/phonebook", self.phonebook),
            web.post(f"{p}/originate", self.originate),
            web.post(f"{p}/queue/pause", self.queue_pause),
            web.get(f"{p}/dispositions", self.dispositions),
        ]

    # Auth

    def _client_address(self, request: web.Request) -> str:
        return client_address(request, self._s.trusted_proxies)

    def user(self, request: web.Request) -> User:
        """The caller's user from the bearer token, or 401."""
        if API_USER_KEY in request:  # an API token, already checked with its scopes
            return request[API_USER_KEY]
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else None
        try:
            return self._s.signer.verify(token).user
        except InvalidTokenError as exc:
            raise web.HTTPUnauthorized(
                text=encode({"error": f"unauthenticated: {exc}"}),
                content_type="application/json",
                headers={"WWW-Authenticate": "Bearer"},
            ) from None

    def _own_extension(self, user: User) -> str:
        if not user.extensions:
            raise web.HTTPConflict(
                text=encode({"error": "your account has no extension"}),
                content_type="application/json",
            )
        return user.extensions[0]

    async def _own_call(self, user: User, call_id: str) -> Call:
        """The live pop of a call the user was on, else its call-log row (the panel keeps
        only each agent's last few ended pops; the log keeps every call)."""
        call: Call | None = self._s.hub.pops.call_for(call_id, set(user.extensions))
        if call is None:
            call = await self._b.history.find(call_id, user.extensions)
        if call is None:
            raise web.HTTPNotFound(
                text=encode({"error": f"no call {call_id!r} of yours"}),
                content_type="application/json",
            )
        return call

    async def health(self, request: web.Request) -> web.Response:
        # Unauthenticated for load balancers, so it says nothing beyond "up".
        return json_response({"status": "ok"})

    async def openapi(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(OPENAPI_PATH, headers={"Content-Type": "application/json"})

    async def login(self, request: web.Request) -> web.Response:
        body = await parse_body(request, LoginBody)
        username, password = body.username, body.password
        address = self._client_address(request)
        wait = self._s.limiter.retry_after(username, address)
        if wait > 0:
            logger.warning("login throttled username=%s address=%s", username, address)
            return error_response(
                429, "too many failed logins; try later", **{"Retry-After": str(int(wait) + 1)}
            )
        # Counted before the (slow) check, so a parallel burst is limited as it arrives.
        self._s.limiter.attempt(username, address)
        try:
            user = await self._s.passwords.authenticate(username, password)
        except LoginsBusyError as exc:
            # Not checked, so not counted; logged at debug: a flood must not flood the log too.
            self._s.limiter.succeeded(username, address)
            logger.debug("login shed address=%s: %s", address, exc)
            return error_response(503, "too many logins at once; try again", **{"Retry-After": "1"})
        if user is None:
            logger.info("login failed username=%s address=%s", username, address)
            return error_response(401, "wrong username or password")
        self._s.limiter.succeeded(username, address)
        token, expires_at = self._s.signer.issue(user)
        logger.info("login user=%s role=%s", user.username, user.role)
        return json_response({"token": token, "expires_at": expires_at, "user": user.public()})

    async def refresh(self, request: web.Request) -> web.Response:
        user = self.user(request)
        # Re-read the account: a deactivated user or changed extensions take effect at renewal.
        current = await self._b.users.get(user.id)
        if current is None:
            return error_response(401, "account no longer active")
        token, expires_at = self._s.signer.issue(current)
        return json_response({"token": token, "expires_at": expires_at, "user": current.public()})

    async def me(self, request: web.Request) -> web.Response:
        return json_response(self.user(request).public())

    async def hub_status(self, request: web.Request) -> web.Response:
        """The PBX link and this node, for supervisors and admins only."""
        user = self.user(request)
        if user.role not in ("supervisor", "admin"):
            return error_response(403, "only supervisors and admins see the hub's status")
        body = self._s.status.status() if self._s.status is not None else {}
        body["agents_connected"] = self._s.hub.connections
        return json_response(body)

    # Calls

    async def current_calls(self, request: web.Request) -> web.Response:
        user = self.user(request)
        pops = [m for m in self._s.hub.pops.snapshot(user.extensions) if m["type"] == "pop"]
        return json_response({"calls": [m["call"] for m in pops]})

    async def today_calls(self, request: web.Request) -> web.Response:
        user = self.user(request)
        try:
            since = day_start(request.query.get("since"), time.time())
        except ValueError as exc:
            return error_response(400, str(exc))
        calls = await self._b.history.today(user.extensions, 200, since)
        return json_response({"calls": calls})

    async def get_call(self, request: web.Request) -> web.Response:
        user = self.user(request)
        return json_response(await self._own_call(user, request.match_info["call_id"]))

    async def link_case(self, request: web.Request) -> web.Response:
        """The case a tracking code names, for this call: the caller's own unless confirmed."""
        user = self.user(request)
        call_id = request.match_info["call_id"]
        call = await self._own_call(user, call_id)
        body = await parse_body(request, LinkCaseBody)
        tries_key = str(user.id)
        wait = self._s.code_tries.retry_after(tries_key)
        if wait > 0:
            logger.warning("tracking code tries throttled user=%s", user.username)
            return error_response(
                429,
                "too many unknown tracking codes; try later",
                **{"Retry-After": str(int(wait) + 1)},
            )
        case = await self._b.cases.find_case(body.tracking_code)
        if case is None:
            self._s.code_tries.add(tries_key)
            return error_response(404, f"no case with tracking code {body.tracking_code}")
        self._check_callers_case(call, case, "tracking_code", body.confirm_other_customer)
        return json_response({"call_id": call_id, "case": case})

    def _check_callers_case(self, call: Call, case: CaseInfo, field: str, confirmed: bool) -> None:
        if (
            case.customer_id is not None
            and case.customer_id not in _callers(call)
            and not confirmed
        ):
            raise _other_customer(field, f"case {case.tracking_code} is another customer's and")

    async def open_case(self, request: web.Request) -> web.Response:
        user = self.user(request)
        body = await parse_body(request, OpenCaseBody)
        if body.call_id is not None:
            call = await self._own_call(user, body.call_id)
            if (
                body.customer_id is not None
                and body.customer_id not in _callers(call)
                and not body.confirm_other_customer
            ):
                raise _other_customer("customer_id", f"customer {body.customer_id}")
        try:
            case = await self._b.cases.open_case(
                customer_id=body.customer_id,
                subject=body.subject,
                call_id=body.call_id,
                agent_user_id=user.id,
            )
        except CrmError as exc:
            raise bad_request(f"customer_id: {exc}", "customer_id") from None
        return json_response(case, status=201)

    async def wrap_up(self, request: web.Request) -> web.Response:
        """The agent's note and disposition, on the caller's own case or customer unless
        ``confirm_other_customer``."""
        user = self.user(request)
        call_id = request.match_info["call_id"]
        call = await self._own_call(user, call_id)
        body = await parse_body(request, WrapUpBody)
        disposition = body.disposition
        if disposition is not None and disposition not in DISPOSITIONS:
            raise bad_request(
                f"disposition: must be one of {', '.join(DISPOSITIONS)}", "disposition"
            )
        callers = _callers(call)
        confirmed = body.confirm_other_customer
        customer_id = body.customer_id
        if body.case_id is not None:
            case = await self._b.cases.get_case(body.case_id)
            if case is None:
                raise bad_request(f"case_id: no case with id {body.case_id}", "case_id")
            self._check_callers_case(call, case, "case_id", confirmed)
            if customer_id is None:
                customer_id = case.customer_id
        if customer_id is None:
            customer_id = _best_caller(call)
        elif customer_id not in callers and not confirmed:
            raise _other_customer("customer_id", f"customer {customer_id}")
        if customer_id is not None and not await self._b.cases.has_customer(customer_id):
            raise bad_request(f"customer_id: no customer with id {customer_id}", "customer_id")
        note = body.note
        try:
            saved = await self._b.cases.wrap_up(
                call_id=call_id,
                customer_id=customer_id,
                case_id=body.case_id,
                agent_user_id=user.id,
                note=note,
                disposition=disposition,
            )
        except CrmError as exc:
            return error_response(409, str(exc))
        return json_response(saved, status=201)

    # Phonebook and PBX actions

    async def phonebook(self, request: web.Request) -> web.Response:
        self.user(request)
        query = request.query.get("q", "").strip()
        if not 2 <= len(query) <= 100:
            return error_response(400, "q must be 2 to 100 characters")
        try:
            limit = min(max(int(request.query.get("limit", "20")), 1), 100)
        except ValueError:
            return error_response(400, "limit must be an integer")
        return json_response({"entries": await self._b.phonebook.search(query, limit)})

    async def originate(self, request: web.Request) -> web.Response:
        user = self.user(request)
        extension = self._own_extension(user)
        body = await parse_body(request, OriginateBody)
        number = body.number.replace(" ", "").replace("-", "")
        if not _DIAL_RE.match(number):
            raise bad_request(
                "number: must be 2 to 32 digits, optionally with a leading +", "number"
            )
        try:
            await self._b.pbx.originate(extension, number)
        except PbxActionError as exc:
            logger.warning(
                "originate failed user=%s extension=%s: %s", user.username, extension, exc
            )
            return error_response(502, f"the PBX refused the call: {exc}")
        logger.info("originate user=%s extension=%s", user.username, extension)
        return json_response({"extension": extension, "number": number}, status=202)

    async def queue_pause(self, request: web.Request) -> web.Response:
        user = self.user(request)
        extension = self._own_extension(user)
        body = await parse_body(request, QueuePauseBody)
        paused, reason, queue = body.paused, body.reason, body.queue
        try:
            await self._b.pbx.queue_pause(extension, paused, reason, queue)
        except PbxActionError as exc:
            return error_response(502, f"the PBX refused: {exc}")
        return json_response({"extension": extension, "paused": paused, "queue": queue})

    async def dispositions(self, request: web.Request) -> web.Response:
        self.user(request)
        return json_response({"dispositions": list(DISPOSITIONS)})
