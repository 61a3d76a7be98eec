"""People and their devices: the one service the admin page, the REST API and the CLI share.

A person holds one or more roles (agent, supervisor, admin) and any number of
devices (``PJSIP/1001``, ``SIP/1001``, ``IAX2/1001``, ``Local/1001@from-queue/n``).
All devices of one extension belong to one person at a time; mapping it to a
second person is refused with a message naming the first. Every change is
written to the audit log in the same transaction. Bad input raises
:class:`AdminError` naming the field, which the API turns into a 400.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crm_sync.audit import record_in
from crm_sync.db import Database
from crm_sync.models import AGENT_ROLES, DEVICE_TECHNOLOGIES, Agent, Device, RoleGrant
from crm_sync.passwords import hash_password

_USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
_EXTENSION_RE = re.compile(r"^[0-9]{2,12}$")
# Local/<exten>@<context>[/n]: how FreePBX and Issabel name queue members.
_LOCAL_RE = re.compile(r"^Local/([0-9]{2,12})@([A-Za-z0-9_.-]{1,64})(/n)?$")
_CHANNEL_RE = re.compile(r"^(PJSIP|SIP|IAX2)/([0-9]{2,12})$", re.IGNORECASE)
MIN_PASSWORD_LENGTH = 10
LANGUAGES = ("fa", "en")


class AdminError(Exception):
    """An admin change that cannot be made; ``field`` names the input at fault.

    ``status`` is what HTTP would answer: 400 bad input, 404 unknown, 409 conflict.
    """

    def __init__(self, field: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.field = field
        self.status = status


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """A device as the admin sees it."""

    id: int
    interface: str
    technology: str
    extension: str
    label: str | None
    agent_id: int | None
    username: str | None

    def json(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "id": self.id,
            "interface": self.interface,
            "technology": self.technology,
            "extension": self.extension,
            "label": self.label,
            "agent_id": self.agent_id,
            "username": self.username,
        }


@dataclass(frozen=True, slots=True)
class Person:
    """A hub user with their roles and devices (never their password hash)."""

    id: int
    username: str
    name: str
    email: str | None
    roles: tuple[str, ...]
    extensions: tuple[str, ...]
    devices: tuple[DeviceInfo, ...]
    active: bool
    crm_user_id: str | None
    language: str | None
    created_at: dt.datetime

    def json(self) -> dict[str, Any]:
        """The JSON form (also what the audit log keeps as before/after)."""
        return {
            "id": self.id,
            "username": self.username,
            "name": self.name,
            "email": self.email,
            "roles": list(self.roles),
            "extensions": list(self.extensions),
            "devices": [d.interface for d in self.devices],
            "active": self.active,
            "crm_user_id": self.crm_user_id,
            "language": self.language,
            "created_at": self.created_at.isoformat(),
        }


def person_of(agent: Agent) -> Person:
    """The :class:`Person` of a loaded ``agents`` row (roles and devices are eager)."""
    return Person(
        id=agent.id,
        username=agent.username,
        name=agent.name,
        email=agent.email,
        roles=agent.roles,
        extensions=agent.extensions,
        devices=tuple(_device_info(d, agent.username) for d in agent.devices),
        active=agent.active,
        crm_user_id=agent.crm_user_id,
        language=agent.language,
        created_at=agent.created_at,
    )


def _device_info(device: Device, username: str | None) -> DeviceInfo:
    return DeviceInfo(
        device.id,
        device.interface,
        device.technology,
        device.extension,
        device.label,
        device.agent_id,
        username,
    )


def parse_interface(text: str, technology: str | None = None) -> tuple[str, str, str]:
    """``(technology, extension, interface)`` of ``PJSIP/1001``, ``Local/1001@ctx/n``, or a
    bare ``1001`` with ``technology`` (PJSIP when not given). Raises :class:`AdminError`.
    """
    text = text.strip()
    if _EXTENSION_RE.match(text):
        tech = (technology or "PJSIP").strip()
        canonical = {t.upper(): t for t in DEVICE_TECHNOLOGIES}.get(tech.upper())
        if canonical is None or canonical == "Local":
            raise AdminError(
                "technology", f"technology must be one of PJSIP, SIP, IAX2, got {tech!r}"
            )
        return canonical, text, f"{canonical}/{text}"
    channel = _CHANNEL_RE.match(text)
    if channel:
        tech = {t.upper(): t for t in DEVICE_TECHNOLOGIES}[channel.group(1).upper()]
        return tech, channel.group(2), f"{tech}/{channel.group(2)}"
    local = _LOCAL_RE.match(text)
    if local:
        return "Local", local.group(1), text
    raise AdminError(
        "extension",
        f"{text[:40]!r} is not an extension: expected digits (1001), PJSIP/1001, SIP/1001, "
        "IAX2/1001 or Local/1001@from-queue/n",
    )


def check_password(password: object, username: str) -> str:
    """The password if strong enough; :class:`AdminError` on ``password`` saying why not."""
    if not isinstance(password, str):
        raise AdminError("password", "password must be a string")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AdminError("password", f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > 256:
        raise AdminError("password", "password must be at most 256 characters")
    if username and username.lower() in password.lower():
        raise AdminError("password", "password must not contain the username")
    if password.isdigit() or password.isalpha() or len(set(password)) < 5:
        raise AdminError("password", "password is too weak: mix letters with digits or symbols")
    return password


def _username(value: object) -> str:
    if not isinstance(value, str) or not _USERNAME_RE.match(value.strip().lower()):
        raise AdminError(
            "username",
            "username must be 2 to 64 characters: lowercase letters, digits, '.', '_', '-'",
        )
    return value.strip().lower()


def _name(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise AdminError("name", "name must be 1 to 200 characters")
    return value.strip()


def _roles(value: object) -> list[str]:
    if isinstance(value, str):
        value = [r.strip() for r in value.split(",") if r.strip()]
    if not isinstance(value, list | tuple) or not value:
        raise AdminError("roles", "roles must be a non-empty list of agent, supervisor, admin")
    roles = []
    for role in value:
        if role not in AGENT_ROLES:
            raise AdminError(
                "roles", f"unknown role {str(role)[:20]!r}: expected agent, supervisor or admin"
            )
        if role not in roles:
            roles.append(str(role))
    return roles


def _optional_text(field: str, value: object, limit: int) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise AdminError(field, f"{field} must be text of at most {limit} characters")
    return value.strip() or None


def _email(value: object) -> str | None:
    email = _optional_text("email", value, 254)
    if email is not None and not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", email):
        raise AdminError("email", f"{email[:40]!r} is not an email address")
    return email


def _language(value: object) -> str | None:
    if value is None or value == "":
        return None
    if value not in LANGUAGES:
        raise AdminError("language", "language must be fa or en")
    return str(value)


_UNSET: Any = object()


class People:
    """Creates, edits, disables people and maps their devices; every change audited."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def count(self, *, active_only: bool = True) -> int:
        """How many people there are (a fresh install has none)."""
        query = select(func.count()).select_from(Agent)
        if active_only:
            query = query.where(Agent.active.is_(True))
        async with self._db.sessions() as session:
            return int(await session.scalar(query) or 0)

    async def everyone(self) -> list[Person]:
        """Everyone, active first, by username."""
        async with self._db.sessions() as session:
            agents = (
                await session.scalars(select(Agent).order_by(Agent.active.desc(), Agent.username))
            ).all()
            return [person_of(a) for a in agents]

    async def get(self, username: str) -> Person:
        """The person with this username; :class:`AdminError` (404) if none."""
        async with self._db.sessions() as session:
            return person_of(await self._agent(session, username))

    async def get_by_id(self, agent_id: int) -> Person | None:
        """The person with this id, or None."""
        async with self._db.sessions() as session:
            agent = await session.get(Agent, agent_id)
            return person_of(agent) if agent is not None else None

    async def create(
        self,
        actor: str,
        *,
        username: object,
        name: object,
        password: object,
        roles: object = ("agent",),
        email: object = None,
        crm_user_id: object = None,
        language: object = None,
        extensions: Iterable[str] = (),
    ) -> Person:
        """A new active person; ``extensions`` are mapped to them at once."""
        login = _username(username)
        agent = Agent(
            username=login,
            name=_name(name),
            email=_email(email),
            crm_user_id=_optional_text("crm_user_id", crm_user_id, 64),
            language=_language(language),
            active=True,
        )
        agent.role_rows = [RoleGrant(role=r) for r in _roles(roles)]
        checked = check_password(password, login)
        parsed = [parse_interface(e) for e in extensions]
        agent.password_hash = await asyncio.to_thread(hash_password, checked)
        async with self._db.sessions() as session:
            if await session.scalar(select(Agent.id).where(Agent.username == login)):
                raise AdminError("username", f"username {login!r} is taken", 409)
            session.add(agent)
            await session.flush()
            await session.refresh(agent, ["devices"])
            record_in(session, actor, "user.create", f"user:{login}", None, person_of(agent).json())
            for technology, extension, interface in parsed:
                await self._map(session, actor, agent, technology, extension, interface, None)
            await session.refresh(agent, ["devices"])
            person = person_of(agent)
            await self._commit(session, "username", f"username {login!r} is taken")
            return person

    async def update(
        self,
        actor: str,
        username: str,
        *,
        name: object = _UNSET,
        roles: object = _UNSET,
        email: object = _UNSET,
        crm_user_id: object = _UNSET,
        language: object = _UNSET,
    ) -> Person:
        """Change what is given; the last active admin keeps the admin role."""
        async with self._db.sessions() as session:
            agent = await self._agent(session, username)
            before = person_of(agent)
            if name is not _UNSET:
                agent.name = _name(name)
            if email is not _UNSET:
                agent.email = _email(email)
            if crm_user_id is not _UNSET:
                agent.crm_user_id = _optional_text("crm_user_id", crm_user_id, 64)
            if language is not _UNSET:
                agent.language = _language(language)
            if roles is not _UNSET:
                wanted = _roles(roles)
                if "admin" in before.roles and "admin" not in wanted:
                    await self._keep_an_admin(session, agent, "roles")
                agent.role_rows = [RoleGrant(role=r) for r in wanted]
            await session.flush()
            after = person_of(agent)
            record_in(
                session, actor, "user.update", f"user:{agent.username}", before.json(), after.json()
            )
            await session.commit()
            return after

    async def set_password(self, actor: str, username: str, password: object) -> None:
        """Replace the password (the audit log says it changed, never what to)."""
        login = _username(username)
        hashed = await asyncio.to_thread(hash_password, check_password(password, login))
        async with self._db.sessions() as session:
            agent = await self._agent(session, login)
            agent.password_hash = hashed
            record_in(
                session, actor, "user.password", f"user:{login}", None, {"password": "changed"}
            )
            await session.commit()

    async def set_active(self, actor: str, username: str, active: bool) -> Person:
        """Enable or disable; the caller ends a disabled person's sessions and sockets."""
        async with self._db.sessions() as session:
            agent = await self._agent(session, username)
            if agent.active == active:
                return person_of(agent)
            if not active and "admin" in agent.roles:
                await self._keep_an_admin(session, agent, "username")
            agent.active = active
            record_in(
                session,
                actor,
                "user.enable" if active else "user.disable",
                f"user:{agent.username}",
                {"active": not active},
                {"active": active},
            )
            await session.commit()
            return person_of(agent)

    # Devices

    async def devices(self) -> list[DeviceInfo]:
        """Every device, mapped or not, by extension."""
        async with self._db.sessions() as session:
            rows = (
                await session.execute(
                    select(Device, Agent.username)
                    .outerjoin(Agent, Agent.id == Device.agent_id)
                    .order_by(Device.extension, Device.interface)
                )
            ).all()
            return [_device_info(d, u) for d, u in rows]

    async def map_device(
        self,
        actor: str,
        device: str,
        username: str,
        *,
        technology: str | None = None,
        label: object = None,
    ) -> DeviceInfo:
        """Give ``device`` (``1001``, ``SIP/1001``…) to ``username``; refused if the
        extension is another person's.
        """
        tech, extension, interface = parse_interface(device, technology)
        note = _optional_text("label", label, 100)
        async with self._db.sessions() as session:
            agent = await self._agent(session, username)
            if not agent.active:
                raise AdminError("username", f"{agent.username} is disabled", 409)
            found = await self._map(session, actor, agent, tech, extension, interface, note)
            await session.commit()
            return found

    async def unmap_device(self, actor: str, device: str, technology: str | None = None) -> None:
        """Take a device (or, given a bare extension, every device of it) from its person."""
        _, extension, interface = parse_interface(device, technology)
        bare = _EXTENSION_RE.match(device.strip()) is not None and technology is None
        async with self._db.sessions() as session:
            query = select(Device).where(
                Device.extension == extension if bare else Device.interface == interface
            )
            rows = (await session.scalars(query)).all()
            mapped = [d for d in rows if d.agent_id is not None]
            if not mapped:
                raise AdminError("extension", f"{device.strip()} is not mapped to anyone", 404)
            for row in mapped:
                owner = await session.get(Agent, row.agent_id)
                record_in(
                    session,
                    actor,
                    "extension.unmap",
                    f"device:{row.interface}",
                    {"username": owner.username if owner else None},
                    {"username": None},
                )
                row.agent_id = None
            await session.commit()

    async def _map(
        self,
        session: AsyncSession,
        actor: str,
        agent: Agent,
        technology: str,
        extension: str,
        interface: str,
        label: str | None,
    ) -> DeviceInfo:
        owners = (
            await session.execute(
                select(Agent.id, Agent.username, Agent.name)
                .join(Device, Device.agent_id == Agent.id)
                .where(Device.extension == extension, Agent.id != agent.id)
            )
        ).first()
        if owners is not None:
            raise AdminError(
                "extension",
                f"extension {extension} belongs to {owners.name} ({owners.username}); "
                "unmap it first",
                409,
            )
        row = await session.scalar(select(Device).where(Device.interface == interface))
        before = None
        if row is None:
            row = Device(interface=interface, technology=technology, extension=extension)
            session.add(row)
        else:
            previous = await session.get(Agent, row.agent_id) if row.agent_id else None
            before = {"username": previous.username if previous else None, "label": row.label}
        row.agent_id = agent.id
        if label is not None:
            row.label = label
        await session.flush()
        record_in(
            session,
            actor,
            "extension.map",
            f"device:{interface}",
            before,
            {"username": agent.username, "label": row.label},
        )
        return _device_info(row, agent.username)

    async def _agent(self, session: AsyncSession, username: str) -> Agent:
        agent = await session.scalar(
            select(Agent).where(Agent.username == str(username).strip().lower())
        )
        if agent is None:
            raise AdminError("username", f"no user {str(username)[:64]!r}", 404)
        return agent

    async def _keep_an_admin(self, session: AsyncSession, agent: Agent, field: str) -> None:
        others = await session.scalar(
            select(func.count())
            .select_from(Agent)
            .join(RoleGrant, RoleGrant.agent_id == Agent.id)
            .where(RoleGrant.role == "admin", Agent.active.is_(True), Agent.id != agent.id)
        )
        if not others:
            raise AdminError(field, f"{agent.username} is the last active admin", 409)

    async def _commit(self, session: AsyncSession, field: str, conflict: str) -> None:
        try:
            await session.commit()
        except IntegrityError:
            await session.rollback()
            raise AdminError(field, conflict, 409) from None
