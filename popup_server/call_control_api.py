"""Call control and queue membership for an agent's own calls and extension.

``/api/v1/calls/{call_id}/hold|transfer|hangup`` act on a call the agent's
extension is on now (404 for any other, as for an unknown one; 409 once it
ended); ``/api/v1/queues/{queue}/login|logout`` add or remove the agent's own
extension; ``/api/v1/agents`` lists the members the PBX reported, with their
state, for the transfer list; ``/api/v1/wrapup`` tells the panel how long
after-call work lasts per queue. Every action goes to the PBX once, never
retried (:class:`popup_server.ports.PbxActions`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from aiohttp import web

from cti.screenpop import ScreenPops
from popup_server.api import error_response
from popup_server.auth import User
from popup_server.ports import PbxActionError, PbxActions
from popup_server.request_bodies import HoldBody, TransferBody, parse_body
from popup_server.settings import PopupConfig

logger = logging.getLogger(__name__)

_TARGET_RE = re.compile(r"^\+?[0-9*#]{2,32}$")
_QUEUE_RE = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}"
_LIVE = ("ringing", "talking", "held")


class CallControlApi:
    """The routes; ``user_of`` is the REST API's bearer-token check (401)."""

    def __init__(
        self,
        user_of: Callable[[web.Request], User],
        pops: ScreenPops,
        pbx: PbxActions,
        config: PopupConfig,
    ) -> None:
        self._user_of = user_of
        self._pops = pops
        self._pbx = pbx
        self._config = config

    def routes(self) -> list[web.RouteDef]:
        """The ``/api/v1`` routes of call control and queues."""
        p = "/api/v1"
        call = p + "/calls/{call_id:[\\w.-]{1,64}}"
        return [
            web.get(f"{p}/wrapup", self.wrapup),
            web.get(f"{p}/agents", self.agents),
            web.get(f"{p}/queues", self.queues),
            web.post(p + "/queues/{queue:" + _QUEUE_RE + "}/login", self.queue_login),
            web.post(p + "/queues/{queue:" + _QUEUE_RE + "}/logout", self.queue_logout),
            web.post(f"{call}/hold", self.hold),
            web.post(f"{call}/transfer", self.transfer),
            web.post(f"{call}/hangup", self.hangup),
        ]

    def _agent(self, request: web.Request) -> tuple[User, str]:
        user = self._user_of(request)
        if not user.extensions:
            raise web.HTTPConflict(
                text='{"error": "your account has no extension"}', content_type="application/json"
            )
        return user, user.extensions[0]

    def _live_call(self, user: User, call_id: str) -> None:
        call = self._pops.call_for(call_id, set(user.extensions))
        if call is None:
            raise web.HTTPNotFound(
                text='{"error": "no call of yours with that id"}', content_type="application/json"
            )
        # Not only the agent the pop names: during an attended transfer the target has
        # answered, and the transferer still hangs up to complete it.
        if call["state"] not in _LIVE:
            raise web.HTTPConflict(
                text='{"error": "you are not on that call any more"}',
                content_type="application/json",
            )

    async def wrapup(self, request: web.Request) -> web.Response:
        self._user_of(request)
        c = self._config
        return web.json_response(
            {
                "default_seconds": c.wrapup_seconds,
                "queues": c.wrapup_seconds_by_queue,
                "notes_required_queues": c.wrapup_notes_required,
            }
        )

    async def agents(self, request: web.Request) -> web.Response:
        self._user_of(request)
        return web.json_response({"agents": self._pops.agents()})

    async def queues(self, request: web.Request) -> web.Response:
        self._user_of(request)
        return web.json_response({"queues": self._pops.queues()})

    async def queue_login(self, request: web.Request) -> web.Response:
        user, extension = self._agent(request)
        queue = request.match_info["queue"]
        try:
            await self._pbx.queue_login(extension, queue, user.name)
        except PbxActionError as exc:
            return error_response(502, f"the PBX refused: {exc}")
        logger.info("queue login user=%s extension=%s queue=%s", user.username, extension, queue)
        return web.json_response({"extension": extension, "queue": queue, "member": True})

    async def queue_logout(self, request: web.Request) -> web.Response:
        user, extension = self._agent(request)
        queue = request.match_info["queue"]
        try:
            await self._pbx.queue_logout(extension, queue)
        except PbxActionError as exc:
            return error_response(502, f"the PBX refused: {exc}")
        logger.info("queue logout user=%s extension=%s queue=%s", user.username, extension, queue)
        return web.json_response({"extension": extension, "queue": queue, "member": False})

    async def hold(self, request: web.Request) -> web.Response:
        user, extension = self._agent(request)
        call_id = request.match_info["call_id"]
        self._live_call(user, call_id)
        on = (await parse_body(request, HoldBody)).on
        try:
            await self._pbx.hold(extension, call_id, on)
        except PbxActionError as exc:
            return error_response(502, f"the PBX refused: {exc}")
        return web.json_response({"call_id": call_id, "held": on})

    async def transfer(self, request: web.Request) -> web.Response:
        user, extension = self._agent(request)
        call_id = request.match_info["call_id"]
        self._live_call(user, call_id)
        body = await parse_body(request, TransferBody)
        kind = body.kind
        to = body.to.replace(" ", "").replace("-", "")
        if not _TARGET_RE.match(to):
            return error_response(400, "to must be an extension or a number of 2 to 32 digits")
        if to == extension:
            return error_response(400, "to must not be your own extension")
        try:
            await self._pbx.transfer(extension, call_id, to, attended=kind == "attended")
        except PbxActionError as exc:
            return error_response(502, f"the PBX refused: {exc}")
        logger.info("transfer user=%s call_id=%s kind=%s to=%s", user.username, call_id, kind, to)
        return web.json_response({"call_id": call_id, "kind": kind, "to": to}, status=202)

    async def hangup(self, request: web.Request) -> web.Response:
        user, extension = self._agent(request)
        call_id = request.match_info["call_id"]
        self._live_call(user, call_id)
        try:
            await self._pbx.hangup(extension, call_id)
        except PbxActionError as exc:
            return error_response(502, f"the PBX refused: {exc}")
        return web.json_response({"call_id": call_id}, status=202)
