"""A supervisor acting on an agent from the wallboard: pause, unpause, log out of queues;
listen to, whisper to or barge into the agent's call.

``POST /api/v1/supervisor/agents/{extension}/pause`` ``{"paused": bool, "reason": str?,
"queue": str?}``, ``.../logout`` ``{"queue": str?}`` (every queue the agent is in when
absent) and ``.../spy`` ``{"mode": "listen" | "whisper" | "barge"}`` (the hub rings the
supervisor's own phone into ``ChanSpy`` on the agent's call). Each action is allowed to
the roles ``[http] intervention_roles`` names and written to the audit log, done or refused
by the PBX.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from aiohttp import web

from popup_server.api import error_response
from popup_server.auth import User
from popup_server.ports import Audit, Intervention, PbxActionError
from popup_server.request_bodies import LogoutBody, QueuePauseBody, SpyBody, parse_body
from popup_server.wire import encode, json_response
from popup_server.ws_supervisor import SupervisorHub

logger = logging.getLogger(__name__)

_NAME = re.compile(r"[\w.-]{1,64}")


class InterventionApi:
    """The intervention routes; ``authenticate`` answers 401 itself (``Api.user``)."""

    def __init__(
        self,
        authenticate: Callable[[web.Request], User],
        hub: SupervisorHub,
        intervention: Intervention | None,
        audit: Audit,
        roles: dict[str, list[str]],
    ) -> None:
        self._authenticate = authenticate
        self._hub = hub
        self._intervention = intervention
        self._audit = audit
        self._roles = roles

    def routes(self) -> list[web.RouteDef]:
        """Pause, log out and spy, per agent."""
        base = "/api/v1/supervisor/agents/{extension}"
        return [
            web.post(f"{base}/pause", self.pause),
            web.post(f"{base}/logout", self.logout),
            web.post(f"{base}/spy", self.spy),
        ]

    def _allowed(self, user: User, action: str) -> bool:
        return any(role in self._roles.get(action, ()) for role in user.roles)

    async def _begin(self, request: web.Request, action: str | None) -> tuple[User, str]:
        """The acting user and the agent's extension; raises 403/400/404/503 with a reason."""
        user = self._authenticate(request)
        if not user.can_supervise or (action is not None and not self._allowed(user, action)):
            raise _error(403, f"{action or 'spy'}: not allowed to your role")
        extension = request.match_info["extension"]
        if not _NAME.fullmatch(extension):
            raise _error(400, "extension: not an extension")
        if extension not in self._hub.board.members and not any(
            call.agent == extension for call in self._hub.board.calls.values()
        ):
            raise _error(404, f"extension: no agent {extension} on the board")
        if self._intervention is None:
            raise _error(503, "no PBX link on this hub")
        return user, extension

    async def _carry_out(
        self, user: User, action: str, extension: str, details: dict[str, Any], run: Any
    ) -> web.Response:
        try:
            await run
        except PbxActionError as exc:
            await self._audit.record(
                user.username,
                f"agent.{action}",
                f"agent:{extension}",
                after={**details, "error": str(exc)},
            )
            logger.warning("%s refused user=%s agent=%s: %s", action, user.username, extension, exc)
            return error_response(502, f"the PBX refused: {exc}")
        await self._audit.record(
            user.username, f"agent.{action}", f"agent:{extension}", after=details
        )
        logger.info("%s user=%s agent=%s", action, user.username, extension)
        return json_response({"extension": extension, "action": action, **details}, status=202)

    async def pause(self, request: web.Request) -> web.Response:
        """Pause or unpause the agent (in one queue or all)."""
        user, extension = await self._begin(request, "pause")
        body = await parse_body(request, QueuePauseBody)
        assert self._intervention is not None
        return await self._carry_out(
            user,
            "pause" if body.paused else "unpause",
            extension,
            {"paused": body.paused, "reason": body.reason, "queue": body.queue},
            self._intervention.queue_pause(extension, body.paused, body.reason, body.queue),
        )

    async def logout(self, request: web.Request) -> web.Response:
        """Log the agent out of one queue, or of every queue the board has them in."""
        user, extension = await self._begin(request, "logout")
        body = await parse_body(request, LogoutBody)
        queues = [body.queue] if body.queue else sorted(self._hub.board.members.get(extension, {}))
        if not queues:
            return error_response(409, f"extension: {extension} is in no queue")
        assert self._intervention is not None
        intervention = self._intervention

        async def remove_all() -> None:
            for name in queues:
                await intervention.queue_logout(extension, name)

        return await self._carry_out(user, "logout", extension, {"queues": queues}, remove_all())

    async def spy(self, request: web.Request) -> web.Response:
        """Ring the supervisor's own phone into the agent's call."""
        user, extension = await self._begin(request, None)
        mode = (await parse_body(request, SpyBody)).mode
        if not self._allowed(user, mode):
            return error_response(403, f"{mode}: not allowed to your role")
        if not user.extensions:
            return error_response(409, "your account has no phone to listen on")
        state = self._hub.board.agent_activity(extension)[0]
        if state not in ("talking", "held"):
            return error_response(409, f"extension: {extension} is not on a call")
        assert self._intervention is not None
        return await self._carry_out(
            user,
            mode,
            extension,
            {"mode": mode, "supervisor_extension": user.extensions[0]},
            self._intervention.spy(user.extensions[0], extension, mode),
        )


def _error(status: int, message: str) -> web.HTTPException:
    """An error answer raised from a check (the same JSON body as ``error_response``)."""
    cls = {400: web.HTTPBadRequest, 403: web.HTTPForbidden, 404: web.HTTPNotFound}.get(
        status, web.HTTPServiceUnavailable
    )
    return cls(text=encode({"error": message}), content_type="application/json")
