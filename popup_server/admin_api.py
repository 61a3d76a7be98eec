"""The admin page (``/admin``) and its REST API under ``/api/v1/admin`` (admins only).

People, devices, queues, pause reasons, dispositions, API tokens, the audit
log and the PBX import, through :class:`popup_server.ports.Administration`
(the same service the CLI uses). Bad input answers 400 with the field at
fault (``{"error": ..., "field": ...}``), an unknown name 404, a conflict
409. Disabling a person ends their sessions and closes their sockets at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from popup_server.auth import TokenSigner, User
from popup_server.ports import Administration, AdminRefused, JsonObject
from popup_server.request_bodies import parse_object
from popup_server.wire import encode, json_response
from popup_server.ws_agent import AgentHub
from popup_server.ws_supervisor import SupervisorHub

logger = logging.getLogger(__name__)

PAGE_PATH = Path(__file__).with_name("static") / "admin.html"
_LABEL_KINDS = {"pause-reasons": "pause_reasons", "dispositions": "dispositions"}


def _refusal(exc: AdminRefused) -> web.Response:
    return json_response({"error": str(exc), "field": exc.field}, status=exc.status)


class AdminApi:
    """The admin routes; ``authenticate`` answers 401 itself (``Api.user``)."""

    def __init__(
        self,
        authenticate: Callable[[web.Request], User],
        admin: Administration | None,
        signer: TokenSigner,
        agents: AgentHub,
        supervisors: SupervisorHub,
    ) -> None:
        self._authenticate = authenticate
        self._admin = admin
        self._signer = signer
        self._agents = agents
        self._supervisors = supervisors

    def routes(self) -> list[web.RouteDef]:
        """The page and the ``/api/v1/admin`` routes."""
        p = "/api/v1/admin"
        return [
            web.get("/admin", self.page),
            web.get("/api/v1/setup", self.setup),
            web.get(f"{p}/people", self.people),
            web.post(f"{p}/people", self.create_person),
            web.patch(f"{p}/people/{{username}}", self.update_person),
            web.post(f"{p}/people/{{username}}/password", self.set_password),
            web.get(f"{p}/devices", self.devices),
            web.post(f"{p}/devices", self.map_device),
            web.delete(f"{p}/devices/{{device:.+}}", self.unmap_device),
            web.get(f"{p}/queues", self.queues),
            web.put(f"{p}/queues/{{name}}", self.save_queue),
            web.get(f"{p}/pause-reasons", self.labels),
            web.put(f"{p}/pause-reasons/{{code}}", self.save_label),
            web.get(f"{p}/dispositions", self.labels),
            web.put(f"{p}/dispositions/{{code}}", self.save_label),
            web.get(f"{p}/tokens", self.tokens),
            web.post(f"{p}/tokens", self.create_token),
            web.delete(f"{p}/tokens/{{token_id}}", self.revoke_token),
            web.get(f"{p}/audit", self.audit),
            web.get(f"{p}/audit.csv", self.audit_csv),
            web.post(f"{p}/pbx-import", self.pbx_import),
        ]

    async def page(self, request: web.Request) -> web.FileResponse:
        # Public like the panel's page; every call it makes needs an admin token.
        return web.FileResponse(PAGE_PATH)

    async def setup(self, request: web.Request) -> web.Response:
        """Unauthenticated, for the login page: only whether the hub has nobody yet."""
        command = await self._admin.first_admin_command() if self._admin is not None else None
        return json_response({"needs_first_admin": command is not None, "command": command})

    def _admin_user(self, request: web.Request) -> tuple[User, Administration]:
        user = self._authenticate(request)
        if not user.is_admin:
            raise web.HTTPForbidden(
                text=encode({"error": "only admins administer the hub"}),
                content_type="application/json",
            )
        if self._admin is None:
            raise web.HTTPServiceUnavailable(
                text=encode({"error": "administration is not available on this node"}),
                content_type="application/json",
            )
        return user, self._admin

    async def people(self, request: web.Request) -> web.Response:
        _, admin = self._admin_user(request)
        return json_response({"people": await admin.people()})

    async def create_person(self, request: web.Request) -> web.Response:
        user, admin = self._admin_user(request)
        data = await parse_object(request)
        try:
            person = await admin.create_person(user.username, data)
        except AdminRefused as exc:
            return _refusal(exc)
        logger.info("user created by=%s username=%s", user.username, person.get("username"))
        return json_response(person, status=201)

    async def update_person(self, request: web.Request) -> web.Response:
        user, admin = self._admin_user(request)
        username = request.match_info["username"]
        data = await parse_object(request)
        try:
            person = await admin.update_person(user.username, username, data)
        except AdminRefused as exc:
            return _refusal(exc)
        if person.get("active") is False:
            await self._end_sessions(person)
        return json_response(person)

    async def _end_sessions(self, person: JsonObject) -> None:
        person_id = person.get("id")
        if not isinstance(person_id, int):
            return
        self._signer.end_sessions(person_id)
        closed = await self._agents.close_user(person_id, b"account disabled")
        closed += await self._supervisors.close_user(person_id, b"account disabled")
        logger.info("sessions ended username=%s sockets=%d", person.get("username"), closed)

    async def set_password(self, request: web.Request) -> web.Response:
        user, admin = self._admin_user(request)
        data = await parse_object(request)
        try:
            await admin.set_password(
                user.username, request.match_info["username"], data.get("password")
            )
        except AdminRefused as exc:
            return _refusal(exc)
        return web.Response(status=204)

    async def devices(self, request: web.Request) -> web.Response:
        _, admin = self._admin_user(request)
        return json_response({"devices": await admin.devices()})

    async def map_device(self, request: web.Request) -> web.Response:
        user, admin = self._admin_user(request)
        data = await parse_object(request)
        try:
            device = await admin.map_device(user.username, data)
        except AdminRefused as exc:
            return _refusal(exc)
        return json_response(device, status=201)

    async def unmap_device(self, request: web.Request) -> web.Response:
        user, admin = self._admin_user(request)
        try:
            await admin.unmap_device(
                user.username, request.match_info["device"], request.query.get("technology")
            )
        except AdminRefused as exc:
            return _refusal(exc)
        return web.Response(status=204)

    async def queues(self, request: web.Request) -> web.Response:
        _, admin = self._admin_user(request)
        return json_response({"queues": await admin.queues()})

    async def save_queue(self, request: web.Request) -> web.Response:
        user, admin = self._admin_user(request)
        data = await parse_object(request)
        try:
            queue = await admin.save_queue(user.username, request.match_info["name"], data, True)
        except AdminRefused as exc:
            return _refusal(exc)
        return json_response(queue)

    async def labels(self, request: web.Request) -> web.Response:
        _, admin = self._admin_user(request)
        kind = _LABEL_KINDS[request.path.split("/")[4]]
        return json_response({kind: await admin.labels(kind)})

    async def save_label(self, request: web.Request) -> web.Response:
        user, admin = self._admin_user(request)
        kind = _LABEL_KINDS[request.path.split("/")[4]]
        data = await parse_object(request)
        try:
            label = await admin.save_label(user.username, kind, request.match_info["code"], data)
        except AdminRefused as exc:
            return _refusal(exc)
        return json_response(label)

    async def tokens(self, request: web.Request) -> web.Response:
        _, admin = self._admin_user(request)
        return json_response({"tokens": await admin.tokens()})

    async def create_token(self, request: web.Request) -> web.Response:
        user, admin = self._admin_user(request)
        data = await parse_object(request)
        try:
            token, info = await admin.create_token(user.username, data)
        except AdminRefused as exc:
            return _refusal(exc)
        # The only time the token is shown; it is stored as a hash.
        return json_response({"token": token, **info}, status=201)

    async def revoke_token(self, request: web.Request) -> web.Response:
        user, admin = self._admin_user(request)
        raw = request.match_info["token_id"]
        if not raw.isdigit() or len(raw) > 12:
            return json_response(
                {"error": "token id must be an integer", "field": "id"}, status=400
            )
        try:
            info = await admin.revoke_token(user.username, int(raw))
        except AdminRefused as exc:
            return _refusal(exc)
        return json_response(info)

    def _audit_filters(self, request: web.Request) -> tuple[str | None, str | None]:
        actor = request.query.get("actor") or None
        action = request.query.get("action") or None
        for field, value in (("actor", actor), ("action", action)):
            if value is not None and len(value) > 100:
                raise web.HTTPBadRequest(
                    text=encode({"error": f"{field} is too long", "field": field}),
                    content_type="application/json",
                )
        return actor, action

    async def audit(self, request: web.Request) -> web.Response:
        _, admin = self._admin_user(request)
        actor, action = self._audit_filters(request)
        try:
            limit = min(max(int(request.query.get("limit", "100")), 1), 1000)
            before = request.query.get("before_id")
            before_id = int(before) if before else None
        except ValueError:
            return json_response(
                {"error": "limit and before_id must be integers", "field": "limit"}, status=400
            )
        entries = await admin.audit_entries(
            limit=limit, before_id=before_id, actor=actor, action=action
        )
        return json_response({"entries": entries})

    async def audit_csv(self, request: web.Request) -> web.Response:
        _, admin = self._admin_user(request)
        actor, action = self._audit_filters(request)
        body = await admin.audit_csv(actor=actor, action=action)
        return web.Response(
            text="\ufeff" + body,
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": 'attachment; filename="ctihub-audit.csv"'},
        )

    async def pbx_import(self, request: web.Request) -> web.Response:
        user, admin = self._admin_user(request)
        data = await parse_object(request)
        apply = data.get("apply", False)
        if not isinstance(apply, bool):
            return json_response(
                {"error": "apply must be true or false", "field": "apply"}, status=400
            )
        try:
            result = await admin.pbx_import(user.username, apply=apply)
        except AdminRefused as exc:
            return _refusal(exc)
        return json_response(result)
