"""Callbacks (``/api/v1/callbacks``): the agent's list, one-click dialing, supervisors' view.

Agents see their own open callbacks (assigned to them, or unassigned from a
queue they are a member of) and dial one with one click: the CRM counts the
attempt and checks the customer's do-not-call flag and hours, then the PBX
rings the agent's phone and dials the caller (click-to-call). Supervisors
and admins see every open callback and its age.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from popup_server.api import error_response
from popup_server.auth import User
from popup_server.ports import (
    CallbackDesk,
    CallRefusedError,
    Dial,
    PbxActionError,
    PbxActions,
)
from popup_server.wire import json_response

logger = logging.getLogger(__name__)

QueuesOf = Callable[[tuple[str, ...]], tuple[str, ...]]
"""The queues the given extensions are members of right now (from the live board)."""

_REFUSED_STATUS = {"not_found": 404, "closed": 409, "do_not_call": 409, "not_now": 409}


def refused(exc: CallRefusedError) -> web.Response:
    """The HTTP answer for a refused dial or outcome."""
    return json_response(
        {"error": str(exc), "reason": exc.kind}, status=_REFUSED_STATUS.get(exc.kind, 409)
    )


def path_id(request: web.Request, name: str) -> int | None:
    """A positive integer path parameter, or None when it is not one."""
    raw = request.match_info[name]
    return int(raw) if raw.isdigit() and len(raw) <= 18 else None


async def place_call(
    pbx: PbxActions,
    user: User,
    extension: str,
    dial: Dial,
    failed: Callable[[int], Awaitable[None]],
) -> web.Response | None:
    """Ring the agent and dial ``dial.number``; on refusal, mark the attempt failed (502)."""
    try:
        await pbx.originate(extension, dial.number)
    except PbxActionError as exc:
        await failed(dial.attempt_id)
        logger.warning("dial refused by the PBX user=%s attempt=%s", user.username, dial.attempt_id)
        return error_response(502, f"the PBX refused the call: {exc}")
    return None


class CallbacksApi:
    """The callback routes; ``authenticate`` answers 401 itself (``Api.user``)."""

    def __init__(
        self,
        authenticate: Callable[[web.Request], User],
        callbacks: CallbackDesk | None,
        pbx: PbxActions,
        queues_of: QueuesOf,
    ) -> None:
        self._authenticate = authenticate
        self._callbacks = callbacks
        self._pbx = pbx
        self._queues_of = queues_of

    def routes(self) -> list[web.RouteDef]:
        """``GET /api/v1/callbacks`` and ``POST /api/v1/callbacks/{callback_id}/dial``."""
        return [
            web.get("/api/v1/callbacks", self.list_callbacks),
            web.post("/api/v1/callbacks/{callback_id}/dial", self.dial),
        ]

    async def list_callbacks(self, request: web.Request) -> web.Response:
        """Supervisors: every open callback; agents: theirs."""
        user = self._authenticate(request)
        if self._callbacks is None:
            return json_response({"callbacks": []})
        if user.can_supervise:
            return json_response({"callbacks": await self._callbacks.open_callbacks()})
        queues = self._queues_of(user.extensions)
        return json_response({"callbacks": await self._callbacks.for_agent(user.id, queues)})

    async def dial(self, request: web.Request) -> web.Response:
        """Count an attempt and ring the agent's phone to call the customer back."""
        user = self._authenticate(request)
        callback_id = path_id(request, "callback_id")
        if callback_id is None:
            return error_response(400, "callback_id must be a positive integer")
        if not user.extensions:
            return error_response(409, "your account has no extension")
        if self._callbacks is None:
            return error_response(404, f"no callback {callback_id} of yours")
        extension = user.extensions[0]
        try:
            dial = await self._callbacks.start_attempt(
                callback_id, user.id, extension, self._queues_of(user.extensions)
            )
        except CallRefusedError as exc:
            return refused(exc)
        failure = await place_call(self._pbx, user, extension, dial, self._callbacks.attempt_failed)
        if failure is not None:
            return failure
        logger.info("callback dialled id=%s user=%s", callback_id, user.username)
        return json_response(
            {"callback_id": callback_id, "attempt_id": dial.attempt_id, "extension": extension},
            status=202,
        )
