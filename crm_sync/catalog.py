"""What the call center names itself: queues (display names, team, service level, who
supervises them), pause reasons and wrap-up dispositions, in Persian and English.

Shared by the admin page, the REST API and the CLI; every change audited in
the same transaction. Bad input raises :class:`crm_sync.people.AdminError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_sync.audit import record_in
from crm_sync.db import Database
from crm_sync.models import Agent, Disposition, LabelRow, PauseReason, Queue, QueueSupervisor
from crm_sync.people import AdminError

_QUEUE_NAME_RE = re.compile(r"^[\w.-]{1,64}$")
_CODE_RE = re.compile(r"^[a-z0-9_-]{1,64}$")
_UNSET: Any = object()


@dataclass(frozen=True, slots=True)
class QueueInfo:
    """A queue as the hub shows it."""

    id: int
    name: str
    display_fa: str | None
    display_en: str | None
    team: str | None
    sla_target_percent: int
    sla_threshold_seconds: int
    supervisors: tuple[str, ...]
    """Usernames of the supervisors who see it; empty: every supervisor does."""

    def json(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "id": self.id,
            "name": self.name,
            "display_fa": self.display_fa,
            "display_en": self.display_en,
            "team": self.team,
            "sla_target_percent": self.sla_target_percent,
            "sla_threshold_seconds": self.sla_threshold_seconds,
            "supervisors": list(self.supervisors),
        }


@dataclass(frozen=True, slots=True)
class Label:
    """A pause reason or a disposition."""

    code: str
    label_fa: str
    label_en: str
    position: int
    active: bool

    def json(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "code": self.code,
            "label_fa": self.label_fa,
            "label_en": self.label_en,
            "position": self.position,
            "active": self.active,
        }


def _text(field: str, value: object, limit: int, required: bool = False) -> str | None:
    if value is None or value == "":
        if required:
            raise AdminError(field, f"{field} is required")
        return None
    if not isinstance(value, str) or len(value.strip()) > limit or not value.strip():
        raise AdminError(field, f"{field} must be text of 1 to {limit} characters")
    return value.strip()


def _int(field: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise AdminError(field, f"{field} must be an integer from {low} to {high}")
    try:
        number = int(value)
    except ValueError:
        raise AdminError(field, f"{field} must be an integer from {low} to {high}") from None
    if not low <= number <= high:
        raise AdminError(field, f"{field} must be an integer from {low} to {high}")
    return number


def queue_name(value: object) -> str:
    """A PBX queue name, or :class:`AdminError` on ``queue``."""
    if not isinstance(value, str) or not _QUEUE_NAME_RE.match(value):
        raise AdminError("queue", "queue must be a PBX queue name (letters, digits, . _ -)")
    return value


class Catalog:
    """Queues, pause reasons and dispositions."""

    def __init__(self, database: Database) -> None:
        self._db = database

    # Queues

    async def queues(self) -> list[QueueInfo]:
        """Every configured queue, by name."""
        async with self._db.sessions() as session:
            rows = (await session.scalars(select(Queue).order_by(Queue.name))).all()
            return [await self._queue_info(session, q) for q in rows]

    async def queue(self, name: str) -> QueueInfo:
        """One queue; :class:`AdminError` on ``queue`` (404) when unknown."""
        async with self._db.sessions() as session:
            return await self._queue_info(session, await self._queue(session, name))

    async def save_queue(
        self,
        actor: str,
        name: object,
        *,
        display_fa: object = _UNSET,
        display_en: object = _UNSET,
        team: object = _UNSET,
        sla_target_percent: object = _UNSET,
        sla_threshold_seconds: object = _UNSET,
        supervisors: object = _UNSET,
        create: bool = True,
    ) -> QueueInfo:
        """Create or change a queue; ``create=False`` refuses an unknown one (404)."""
        queue = queue_name(name)
        async with self._db.sessions() as session:
            row = await session.scalar(select(Queue).where(Queue.name == queue))
            before = None
            if row is None:
                if not create:
                    raise AdminError("queue", f"unknown queue {queue!r}", 404)
                row = Queue(name=queue, sla_target_percent=80, sla_threshold_seconds=20)
                session.add(row)
            else:
                before = (await self._queue_info(session, row)).json()
            if display_fa is not _UNSET:
                row.display_fa = _text("display_fa", display_fa, 100)
            if display_en is not _UNSET:
                row.display_en = _text("display_en", display_en, 100)
            if team is not _UNSET:
                row.team = _text("team", team, 100)
            if sla_target_percent is not _UNSET:
                row.sla_target_percent = _int("sla_target_percent", sla_target_percent, 0, 100)
            if sla_threshold_seconds is not _UNSET:
                row.sla_threshold_seconds = _int(
                    "sla_threshold_seconds", sla_threshold_seconds, 1, 3600
                )
            await session.flush()
            if supervisors is not _UNSET:
                await self._set_supervisors(session, row, supervisors)
            after = await self._queue_info(session, row)
            action = "queue.create" if before is None else "queue.update"
            record_in(session, actor, action, f"queue:{queue}", before, after.json())
            await session.commit()
            return after

    async def delete_queue(self, actor: str, name: str) -> None:
        """Forget a queue's settings (the PBX's queue is untouched)."""
        async with self._db.sessions() as session:
            row = await self._queue(session, name)
            before = (await self._queue_info(session, row)).json()
            await session.delete(row)
            record_in(session, actor, "queue.delete", f"queue:{row.name}", before, None)
            await session.commit()

    async def visible_queues(self, agent_id: int) -> tuple[str, ...] | None:
        """The queues a supervisor sees; None: every queue (no assignment made)."""
        async with self._db.sessions() as session:
            names = (
                await session.scalars(
                    select(Queue.name)
                    .join(QueueSupervisor, QueueSupervisor.queue_id == Queue.id)
                    .where(QueueSupervisor.agent_id == agent_id)
                    .order_by(Queue.name)
                )
            ).all()
        return tuple(names) or None

    async def _set_supervisors(self, session: AsyncSession, row: Queue, value: object) -> None:
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise AdminError("supervisors", "supervisors must be a list of usernames")
        ids = []
        for username in value:
            agent = await session.scalar(select(Agent).where(Agent.username == username))
            if agent is None:
                raise AdminError("supervisors", f"no user {username[:64]!r}")
            if not {"supervisor", "admin"} & set(agent.roles):
                raise AdminError("supervisors", f"{username} is not a supervisor")
            ids.append(agent.id)
        await session.execute(delete(QueueSupervisor).where(QueueSupervisor.queue_id == row.id))
        session.add_all(QueueSupervisor(queue_id=row.id, agent_id=i) for i in sorted(set(ids)))
        await session.flush()

    async def _queue(self, session: AsyncSession, name: str) -> Queue:
        row = await session.scalar(select(Queue).where(Queue.name == queue_name(name)))
        if row is None:
            raise AdminError("queue", f"unknown queue {name!r}", 404)
        return row

    async def _queue_info(self, session: AsyncSession, row: Queue) -> QueueInfo:
        usernames = (
            await session.scalars(
                select(Agent.username)
                .join(QueueSupervisor, QueueSupervisor.agent_id == Agent.id)
                .where(QueueSupervisor.queue_id == row.id)
                .order_by(Agent.username)
            )
        ).all()
        return QueueInfo(
            row.id,
            row.name,
            row.display_fa,
            row.display_en,
            row.team,
            row.sla_target_percent,
            row.sla_threshold_seconds,
            tuple(usernames),
        )

    # Pause reasons and dispositions

    async def labels(self, kind: str, *, active_only: bool = False) -> list[Label]:
        """``kind`` ``pause_reasons`` or ``dispositions``, in display order."""
        model = _label_model(kind)
        query = select(model).order_by(model.position, model.code)
        if active_only:
            query = query.where(model.active.is_(True))
        async with self._db.sessions() as session:
            rows = (await session.scalars(query)).all()
        return [Label(r.code, r.label_fa, r.label_en, r.position, r.active) for r in rows]

    async def save_label(
        self,
        actor: str,
        kind: str,
        code: object,
        *,
        label_fa: object = _UNSET,
        label_en: object = _UNSET,
        position: object = _UNSET,
        active: object = _UNSET,
    ) -> Label:
        """Create or change a pause reason or a disposition (a new one needs both labels)."""
        model = _label_model(kind)
        if not isinstance(code, str) or not _CODE_RE.match(code):
            raise AdminError("code", "code must be 1 to 64 of a-z, 0-9, '_', '-'")
        async with self._db.sessions() as session:
            row = await session.scalar(select(model).where(model.code == code))
            before = None
            if row is None:
                row = model(code=code, position=0, active=True)
                session.add(row)
                if label_fa is _UNSET or label_en is _UNSET:
                    raise AdminError(
                        "label_fa" if label_fa is _UNSET else "label_en",
                        "a new entry needs label_fa and label_en",
                    )
            else:
                before = _label_json(row)
            if label_fa is not _UNSET:
                row.label_fa = _text("label_fa", label_fa, 100, required=True) or ""
            if label_en is not _UNSET:
                row.label_en = _text("label_en", label_en, 100, required=True) or ""
            if position is not _UNSET:
                row.position = _int("position", position, 0, 1000)
            if active is not _UNSET:
                if not isinstance(active, bool):
                    raise AdminError("active", "active must be true or false")
                row.active = active
            after = _label_json(row)
            singular = "pause_reason" if kind == "pause_reasons" else "disposition"
            record_in(
                session,
                actor,
                f"{singular}.{'create' if before is None else 'update'}",
                f"{singular}:{code}",
                before,
                after,
            )
            await session.commit()
            return Label(row.code, row.label_fa, row.label_en, row.position, row.active)


def _label_model(kind: str) -> type[LabelRow]:
    if kind == "pause_reasons":
        return PauseReason
    if kind == "dispositions":
        return Disposition
    raise AdminError("kind", f"unknown list {kind!r}: expected pause_reasons or dispositions")


def _label_json(row: LabelRow) -> dict[str, Any]:
    return {
        "code": row.code,
        "label_fa": row.label_fa,
        "label_en": row.label_en,
        "position": row.position,
        "active": row.active,
    }
