"""Alerts (``/api/v1/alerts``): the open ones, and a supervisor's acknowledgement.

Alerts are raised by the hub's rules (``cti.alerts``) and arrive live on the
sockets (``alert_raised`` events for supervisors, ``alert`` messages on the
responsible agent's panel); these routes give a page its starting list and let a
supervisor acknowledge one. Agents see only the alerts whose responsible agent
is their own extension.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web

from popup_server.api import error_response
from popup_server.auth import User
from popup_server.ports import AlertDesk, Audit
from popup_server.wire import json_response

logger = logging.getLogger(__name__)

_LIST_LIMIT = 200


class AlertsApi:
    """The alert routes; ``authenticate`` answers 401 itself (``Api.user``)."""

    def __init__(
        self,
        authenticate: Callable[[web.Request], User],
        alerts: AlertDesk | None,
        audit: Audit,
    ) -> None:
        self._authenticate = authenticate
        self._alerts = alerts
        self._audit = audit

    def routes(self) -> list[web.RouteDef]:
        """``GET /api/v1/alerts`` and ``POST /api/v1/alerts/{alert_id}/ack``."""
        return [
            web.get("/api/v1/alerts", self.list_alerts),
            web.post("/api/v1/alerts/{alert_id}/ack", self.acknowledge),
        ]

    async def list_alerts(self, request: web.Request) -> web.Response:
        """Open alerts: all of them for supervisors, an agent's own for agents."""
        user = self._authenticate(request)
        if self._alerts is None:
            return json_response({"alerts": []})
        if user.can_supervise:
            alerts = await self._alerts.open_alerts(None, _LIST_LIMIT)
        else:
            alerts = []
            for extension in user.extensions:
                alerts += await self._alerts.open_alerts(extension, _LIST_LIMIT)
        return json_response({"alerts": alerts})

    async def acknowledge(self, request: web.Request) -> web.Response:
        """A supervisor acknowledges one alert; every panel stops showing it."""
        user = self._authenticate(request)
        if not user.can_supervise:
            return error_response(403, "only supervisors and admins acknowledge alerts")
        raw = request.match_info["alert_id"]
        if not raw.isdigit() or len(raw) > 18:
            return error_response(400, "alert_id must be a positive integer")
        if self._alerts is None:
            return error_response(404, f"no open alert {raw}")
        done = await self._alerts.acknowledge(int(raw), user.username)
        if done is None:
            return error_response(404, f"no open alert {raw}")
        await self._audit.record(
            user.username,
            "alert.acknowledge",
            f"alert:{done.alert_id}",
            before={"rule": done.rule, "acknowledged": False},
            after={"acknowledged": True},
        )
        logger.info("alert acknowledged id=%s user=%s", raw, user.username)
        return json_response(done)
