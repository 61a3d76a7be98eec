"""The admin page's port (:class:`popup_server.ports.Administration`) over ``crm_sync``.

The same services the ``ctihub user|extension|token`` commands call, so the
page, the REST API and the CLI make the same checks and the same audit entries.
"""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from crm_sync.api_tokens import ApiTokens
from crm_sync.audit import AuditLog, write_csv
from crm_sync.catalog import Catalog
from crm_sync.db import Database
from crm_sync.pbx_import import ImportPlan, PbxDevice, PbxImporter
from crm_sync.people import AdminError, People
from ctihub.first_start import FIRST_ADMIN_COMMAND
from pbx_adapters.ami_actions import AmiActions
from pbx_adapters.pbx_directory import read_directory
from popup_server.auth import ROLES, Role, User
from popup_server.ports import AdminRefused, ApiGrant, JsonObject

PbxImport = Callable[[str, bool], Awaitable[JsonObject]]
"""``(actor, apply)``: the PBX import (preview or apply)."""


async def import_from_ami(
    database: Database, actions: AmiActions, actor: str, *, apply: bool
) -> ImportPlan:
    """Read the PBX's endpoints and queues over AMI and plan (or apply) their import."""
    directory = await read_directory(actions)
    devices = [PbxDevice(f"{e.technology}/{e.name}") for e in directory.endpoints]
    devices += [PbxDevice(m.interface, m.name) for m in directory.members]
    return await PbxImporter(database).run(
        actor, devices, directory.queues, apply=apply, problems=directory.problems
    )


_PERSON_FIELDS = ("name", "roles", "email", "crm_user_id", "language")
_QUEUE_FIELDS = (
    "display_fa",
    "display_en",
    "team",
    "sla_target_percent",
    "sla_threshold_seconds",
    "supervisors",
)
_LABEL_FIELDS = ("label_fa", "label_en", "position", "active")


def _picked(data: Mapping[str, object], fields: tuple[str, ...]) -> dict[str, Any]:
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise AdminRefused(unknown[0], f"unknown field {unknown[0][:40]!r}")
    return {k: data[k] for k in fields if k in data}


class CrmAdministration:
    """:class:`popup_server.ports.Administration` over people, catalog, tokens and audit."""

    def __init__(self, database: Database, pbx_import: PbxImport | None = None) -> None:
        self.people_service = People(database)
        self.catalog = Catalog(database)
        self.api_tokens = ApiTokens(database)
        self.audit = AuditLog(database)
        self._pbx_import = pbx_import

    async def people(self) -> list[JsonObject]:
        return [p.json() for p in await self.people_service.everyone()]

    async def first_admin_command(self) -> str | None:
        return FIRST_ADMIN_COMMAND if await self.people_service.count() == 0 else None

    async def person_id(self, username: str) -> int:
        try:
            return (await self.people_service.get(username)).id
        except AdminError as exc:
            raise _refused(exc) from None

    async def create_person(self, actor: str, data: Mapping[str, object]) -> JsonObject:
        fields = _picked(data, (*_PERSON_FIELDS, "username", "password", "extensions"))
        extensions = fields.pop("extensions", [])
        if not isinstance(extensions, list) or not all(isinstance(e, str) for e in extensions):
            raise AdminRefused("extensions", "extensions must be a list of strings")
        for required in ("username", "name", "password"):
            if required not in fields:
                raise AdminRefused(required, f"{required} is required")
        try:
            person = await self.people_service.create(actor, extensions=extensions, **fields)
        except AdminError as exc:
            raise _refused(exc) from None
        return person.json()

    async def update_person(
        self, actor: str, username: str, data: Mapping[str, object]
    ) -> JsonObject:
        fields = _picked(data, (*_PERSON_FIELDS, "active"))
        active = fields.pop("active", None)
        if active is not None and not isinstance(active, bool):
            raise AdminRefused("active", "active must be true or false")
        try:
            person = await self.people_service.get(username)
            if fields:
                person = await self.people_service.update(actor, username, **fields)
            if active is not None:
                person = await self.people_service.set_active(actor, username, active)
        except AdminError as exc:
            raise _refused(exc) from None
        return person.json()

    async def set_password(self, actor: str, username: str, password: object) -> None:
        try:
            await self.people_service.set_password(actor, username, password)
        except AdminError as exc:
            raise _refused(exc) from None

    async def devices(self) -> list[JsonObject]:
        return [d.json() for d in await self.people_service.devices()]

    async def map_device(self, actor: str, data: Mapping[str, object]) -> JsonObject:
        fields = _picked(data, ("device", "username", "technology", "label"))
        device, username = fields.get("device"), fields.get("username")
        technology = fields.get("technology")
        if not isinstance(device, str):
            raise AdminRefused("device", "device must be an extension or an interface")
        if not isinstance(username, str):
            raise AdminRefused("username", "username is required")
        if technology is not None and not isinstance(technology, str):
            raise AdminRefused("technology", "technology must be PJSIP, SIP or IAX2")
        try:
            found = await self.people_service.map_device(
                actor, device, username, technology=technology, label=fields.get("label")
            )
        except AdminError as exc:
            raise _refused(exc) from None
        return found.json()

    async def unmap_device(self, actor: str, device: str, technology: str | None) -> None:
        try:
            await self.people_service.unmap_device(actor, device, technology)
        except AdminError as exc:
            raise _refused(exc) from None

    async def queues(self) -> list[JsonObject]:
        return [q.json() for q in await self.catalog.queues()]

    async def save_queue(
        self, actor: str, name: str, data: Mapping[str, object], create: bool
    ) -> JsonObject:
        try:
            queue = await self.catalog.save_queue(
                actor, name, create=create, **_picked(data, _QUEUE_FIELDS)
            )
        except AdminError as exc:
            raise _refused(exc) from None
        return queue.json()

    async def labels(self, kind: str) -> list[JsonObject]:
        try:
            return [label.json() for label in await self.catalog.labels(kind)]
        except AdminError as exc:
            raise _refused(exc) from None

    async def save_label(
        self, actor: str, kind: str, code: str, data: Mapping[str, object]
    ) -> JsonObject:
        try:
            label = await self.catalog.save_label(actor, kind, code, **_picked(data, _LABEL_FIELDS))
        except AdminError as exc:
            raise _refused(exc) from None
        return label.json()

    async def tokens(self) -> list[JsonObject]:
        return [t.json() for t in await self.api_tokens.everyone()]

    async def create_token(self, actor: str, data: Mapping[str, object]) -> tuple[str, JsonObject]:
        fields = _picked(data, ("name", "scopes", "username"))
        username = fields.get("username", actor)
        if not isinstance(username, str):
            raise AdminRefused("username", "username must be a username")
        try:
            token, info = await self.api_tokens.create(
                actor, name=fields.get("name"), scopes=fields.get("scopes"), username=username
            )
        except AdminError as exc:
            raise _refused(exc) from None
        return token, info.json()

    async def revoke_token(self, actor: str, token_id: int) -> JsonObject:
        try:
            return (await self.api_tokens.revoke(actor, token_id)).json()
        except AdminError as exc:
            raise _refused(exc) from None

    async def audit_entries(
        self, *, limit: int, before_id: int | None, actor: str | None, action: str | None
    ) -> list[JsonObject]:
        entries = await self.audit.entries(
            limit=limit, before_id=before_id, actor=actor, action=action
        )
        return [e.json() for e in entries]

    async def audit_csv(self, *, actor: str | None, action: str | None) -> str:
        out = io.StringIO()
        write_csv(await self.audit.entries(limit=100_000, actor=actor, action=action), out)
        return out.getvalue()

    async def pbx_import(self, actor: str, *, apply: bool) -> JsonObject:
        if self._pbx_import is None:
            raise AdminRefused("pbx", "no PBX to import from on this node", 409)
        return await self._pbx_import(actor, apply)


def _refused(exc: AdminError) -> AdminRefused:
    return AdminRefused(exc.field, str(exc), exc.status)


class CrmApiTokens:
    """:class:`popup_server.ports.ApiTokenVerifier` over ``crm_sync.api_tokens``."""

    def __init__(self, database: Database) -> None:
        self._tokens = ApiTokens(database)

    async def verify(self, token: str) -> ApiGrant | None:
        grant = await self._tokens.verify(token)
        if grant is None:
            return None
        person = grant.person
        roles: tuple[Role, ...] = tuple(r for r in ROLES if r in person.roles) or ("agent",)
        user = User(
            id=person.id,
            username=person.username,
            name=person.name,
            role=roles[-1],
            extensions=person.extensions,
            language=person.language,
            roles=roles,
        )
        return ApiGrant(user, grant.scopes)
