"""The supervisor's wallboard: its page (``/supervisor``) and the live board (REST).

``GET /api/v1/supervisor/board`` answers what the supervisor socket's
``board`` message holds: every queue with its waiting callers and today's
figures, every agent with their state and since when, all computed by the
hub (:mod:`cti.live_board`). Supervisors and admins only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from popup_server.api import error_response
from popup_server.auth import User
from popup_server.wire import json_response
from popup_server.ws_supervisor import SupervisorHub

logger = logging.getLogger(__name__)

PAGE_PATH = Path(__file__).with_name("static") / "supervisor.html"


class SupervisorApi:
    """The wallboard's routes; ``authenticate`` answers 401 itself (``Api.user``)."""

    def __init__(self, authenticate: Callable[[web.Request], User], hub: SupervisorHub) -> None:
        self._authenticate = authenticate
        self._hub = hub

    def routes(self) -> list[web.RouteDef]:
        """The page and ``/api/v1/supervisor/board``."""
        return [
            web.get("/supervisor", self.page),
            web.get("/api/v1/supervisor/board", self.board),
        ]

    async def page(self, request: web.Request) -> web.FileResponse:
        # The page itself is public like the agent panel's; its data needs a supervisor token.
        return web.FileResponse(PAGE_PATH)

    async def board(self, request: web.Request) -> web.Response:
        """The live board now."""
        user = self._authenticate(request)
        if not user.can_supervise:
            return error_response(403, "only supervisors and admins see the live board")
        await self._hub.ensure_day()
        message = self._hub.snapshot_message()
        del message["v"], message["type"]
        return json_response(message)
