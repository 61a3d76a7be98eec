"""The supervisor's wallboard: its page (``/supervisor``) and today's figures (REST).

``GET /api/v1/supervisor/today`` is the wallboard's starting point: per queue
and per agent, what the call log holds for the day so far, plus the targets it
flags against. From then on the page counts from the supervisor websocket's
events, keeping only calls that ended after ``as_of`` (the others are in the
figures already). Supervisors and admins only; no customer data.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from popup_server.api import day_start, error_response
from popup_server.auth import User
from popup_server.call_figures import Figures
from popup_server.ports import DayFigures
from popup_server.settings import PopupConfig
from popup_server.wire import json_response

logger = logging.getLogger(__name__)

PAGE_PATH = Path(__file__).with_name("static") / "supervisor.html"
SUPERVISOR_ROLES = frozenset({"supervisor", "admin"})


class SupervisorApi:
    """The wallboard's routes; ``authenticate`` answers 401 itself (``Api.user``)."""

    def __init__(
        self,
        authenticate: Callable[[web.Request], User],
        figures: DayFigures | None,
        config: PopupConfig,
    ) -> None:
        self._authenticate = authenticate
        self._figures = figures
        self._config = config

    def routes(self) -> list[web.RouteDef]:
        """The page and ``/api/v1/supervisor/today``."""
        return [
            web.get("/supervisor", self.page),
            web.get("/api/v1/supervisor/today", self.today),
        ]

    async def page(self, request: web.Request) -> web.FileResponse:
        # The page itself is public like the agent panel's; its data needs a supervisor token.
        return web.FileResponse(PAGE_PATH)

    async def today(self, request: web.Request) -> web.Response:
        """Today's figures per queue and agent (``?since=<epoch seconds>``: the day's start)."""
        user = self._authenticate(request)
        if user.role not in SUPERVISOR_ROLES:
            return error_response(403, "only supervisors and admins see the wallboard figures")
        now = time.time()
        try:
            since = day_start(request.query.get("since"), now)
        except ValueError as exc:
            return error_response(400, str(exc))
        sla = self._config.wallboard_sla_seconds
        figures = (
            await self._figures.day_figures(since, sla)
            if self._figures is not None
            else Figures(queues=(), agents=())
        )
        logger.debug("wallboard figures user=%s since=%s", user.username, since.isoformat())
        return json_response(
            {
                "since": since.isoformat(),
                "as_of": now,
                "targets": {
                    "sla_seconds": sla,
                    "sla_target_percent": self._config.wallboard_sla_target_percent,
                    "max_wait_seconds": self._config.wallboard_max_wait_seconds,
                },
                "queues": figures.queues,
                "agents": figures.agents,
            }
        )
