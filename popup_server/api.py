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
    InvalidTokenError,
    LoginRateLimiter,
    TokenSigner,
    User,
)
from popup_server.ports import DISPOSITIONS, CrmError, HubStatus, PanelBackends, PbxActionError
from popup_server.wire import decode, encode, json_response
from popup_server.ws_agent import AgentHub

logger = logging.getLogger(__name__)

_DIAL_RE = re.compile(r"^\+?[0-9*#]{2,32}$")
_CODE_RE = re.compile(r"^[0-9]{4,16}$")
OPENAPI_PATH = Path(__file__).with_name("openapi.json")


@dataclass(frozen=True, slots=True)
class ApiServices:
    """What the REST routes need; built once by :func:`popup_server.app.create_app`."""

    backends: PanelBackends
    signer: TokenSigner
    limiter: LoginRateLimiter
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


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        data = decode(await request.text())
    except (ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(
            text=encode({"error": "body must be a JSON object"}), content_type="application/json"
        )
    return data


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
        remote = request.remote or "unknown"
        forwarded = request.headers.get("X-Forwarded-For")
        if forwarded and remote in self._s.trusted_proxies:
            return forwarded.split(",")[-1].strip()
        return remote

    def user(self, request: web.Request) -> User:
        """The caller's user from the bearer token, or 401."""
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

    def _own_call(self, user: User, call_id: str) -> dict[str, Any]:
        call = self._s.hub.pops.call_for(call_id, set(user.extensions))
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
        data = await _json_body(request)
        username, password = data.get("username"), data.get("password")
        if not isinstance(username, str) or not isinstance(password, str) or not username:
            return error_response(400, "username and password (strings) are required")
        address = self._client_address(request)
        wait = self._s.limiter.retry_after(username, address)
        if wait > 0:
            logger.warning("login throttled username=%s address=%s", username, address)
            return error_response(
                429, "too many failed logins; try later", **{"Retry-After": str(int(wait) + 1)}
            )
        user = await self._b.users.authenticate(username, password)
        if user is None:
            self._s.limiter.failed(username, address)
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
        return json_response(self._own_call(user, request.match_info["call_id"]))

    async def link_case(self, request: web.Request) -> web.Response:
        user = self.user(request)
        call_id = request.match_info["call_id"]
        self._own_call(user, call_id)
        data = await _json_body(request)
        code = str(data.get("tracking_code", "")).strip()
        if not _CODE_RE.match(code):
            return error_response(400, "tracking_code must be 4 to 16 digits")
        case = await self._b.cases.find_case(code)
        if case is None:
            return error_response(404, f"no case with tracking code {code}")
        return json_response({"call_id": call_id, "case": case})

    async def open_case(self, request: web.Request) -> web.Response:
        user = self.user(request)
        data = await _json_body(request)
        call_id = data.get("call_id")
        if call_id is not None:
            self._own_call(user, str(call_id))
        customer_id = data.get("customer_id")
        if customer_id is not None and not isinstance(customer_id, int):
            return error_response(400, "customer_id must be an integer")
        subject = data.get("subject")
        if not isinstance(subject, str) or not subject.strip() or len(subject) > 300:
            return error_response(400, "subject must be 1 to 300 characters")
        try:
            case = await self._b.cases.open_case(
                customer_id=customer_id,
                subject=subject,
                call_id=str(call_id) if call_id is not None else None,
                agent_user_id=user.id,
            )
        except CrmError as exc:
            return error_response(400, str(exc))
        return json_response(case, status=201)

    async def wrap_up(self, request: web.Request) -> web.Response:
        user = self.user(request)
        call_id = request.match_info["call_id"]
        call = self._own_call(user, call_id)
        data = await _json_body(request)
        disposition = data.get("disposition")
        if disposition is not None and disposition not in DISPOSITIONS:
            return error_response(400, f"disposition must be one of {', '.join(DISPOSITIONS)}")
        note = data.get("note", "")
        if not isinstance(note, str) or len(note) > 10_000:
            return error_response(400, "note must be a string of at most 10000 characters")
        case_id = data.get("case_id")
        if case_id is not None and not isinstance(case_id, int):
            return error_response(400, "case_id must be an integer")
        customers = call["match"]["customers"]
        customer_id = data.get("customer_id", customers[0]["id"] if customers else None)
        try:
            saved = await self._b.cases.wrap_up(
                call_id=call_id,
                customer_id=customer_id,
                case_id=case_id,
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
        if len(query) < 2:
            return error_response(400, "q must be at least 2 characters")
        try:
            limit = min(max(int(request.query.get("limit", "20")), 1), 100)
        except ValueError:
            return error_response(400, "limit must be an integer")
        return json_response({"entries": await self._b.phonebook.search(query, limit)})

    async def originate(self, request: web.Request) -> web.Response:
        user = self.user(request)
        extension = self._own_extension(user)
        data = await _json_body(request)
        number = str(data.get("number", "")).replace(" ", "").replace("-", "")
        if not _DIAL_RE.match(number):
            return error_response(400, "number must be 2 to 32 digits, optionally with a leading +")
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
        data = await _json_body(request)
        paused = data.get("paused")
        if not isinstance(paused, bool):
            return error_response(400, "paused must be true or false")
        reason = data.get("reason")
        if reason is not None and (not isinstance(reason, str) or len(reason) > 64):
            return error_response(400, "reason must be a string of at most 64 characters")
        queue = data.get("queue")
        if queue is not None and (
            not isinstance(queue, str) or not re.match(r"^[\w.-]{1,64}$", queue)
        ):
            return error_response(400, "queue must be a queue name")
        try:
            await self._b.pbx.queue_pause(extension, paused, reason, queue)
        except PbxActionError as exc:
            return error_response(502, f"the PBX refused: {exc}")
        return json_response({"extension": extension, "paused": paused, "queue": queue})

    async def dispositions(self, request: web.Request) -> web.Response:
        self.user(request)
        return json_response({"dispositions": list(DISPOSITIONS)})
