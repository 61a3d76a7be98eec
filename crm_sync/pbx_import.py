"""Import what the PBX has (devices and queues) into the hub: a plan first, applied on confirm.

The plan compares the PBX's endpoints and queue members (read over AMI by
``pbx_adapters.pbx_directory``, or from an Issabel/FreePBX database) with the
``devices`` and ``queues`` tables: what would be added, what would change.
Applying it adds the missing rows; a device whose extension already belongs to
someone goes to that person (an extension has one owner), others stay unmapped
for an admin to give out. Running it twice adds nothing the second time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from crm_sync.audit import record_in
from crm_sync.db import Database
from crm_sync.models import Device, Queue
from crm_sync.people import AdminError, parse_interface


@dataclass(frozen=True, slots=True)
class PbxDevice:
    """A device as the PBX names it, with the name it shows for it (caller ID, member name)."""

    interface: str
    label: str = ""


@dataclass(frozen=True, slots=True)
class PlanItem:
    """One row to add or change."""

    kind: str
    """``device`` or ``queue``."""
    name: str
    detail: str = ""

    def json(self) -> dict[str, str]:
        """The JSON form."""
        return {"kind": self.kind, "name": self.name, "detail": self.detail}


@dataclass(slots=True)
class ImportPlan:
    """What an import would do (or did, once ``applied``)."""

    add: list[PlanItem] = field(default_factory=list)
    change: list[PlanItem] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """What the PBX has that is not a phone of a person (trunks), and why."""
    problems: list[str] = field(default_factory=list)
    applied: bool = False

    def json(self) -> dict[str, Any]:
        """The JSON form the admin page shows."""
        return {
            "add": [i.json() for i in self.add],
            "change": [i.json() for i in self.change],
            "skipped": list(self.skipped),
            "problems": list(self.problems),
            "applied": self.applied,
        }


class PbxImporter:
    """Plans and applies imports into one database."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def run(
        self,
        actor: str,
        devices: Iterable[PbxDevice],
        queues: Iterable[str],
        *,
        apply: bool,
        problems: Iterable[str] = (),
    ) -> ImportPlan:
        """The plan; with ``apply``, also carried out (in one transaction, audited)."""
        plan = ImportPlan(problems=list(problems))
        wanted: dict[str, tuple[str, str, str]] = {}
        for device in devices:
            try:
                technology, extension, interface = parse_interface(device.interface)
            except AdminError:
                plan.skipped.append(f"{device.interface}: not a phone extension (a trunk?)")
                continue
            label = wanted.get(interface, ("", "", ""))[2] or device.label.strip()
            wanted[interface] = (technology, extension, label[:100])
        queue_names = sorted({q for q in queues if q})
        async with self._db.sessions() as session:
            known = {d.interface: d for d in (await session.scalars(select(Device))).all()}
            owners: dict[str, int] = {
                d.extension: d.agent_id for d in known.values() if d.agent_id is not None
            }
            for interface, (technology, extension, label) in sorted(wanted.items()):
                row = known.get(interface)
                if row is None:
                    owner = owners.get(extension)
                    plan.add.append(
                        PlanItem("device", interface, label + (" (mapped)" if owner else ""))
                    )
                    if apply:
                        session.add(
                            Device(
                                interface=interface,
                                technology=technology,
                                extension=extension,
                                label=label or None,
                                agent_id=owner,
                            )
                        )
                        record_in(
                            session,
                            actor,
                            "device.import",
                            f"device:{interface}",
                            None,
                            {"label": label or None, "agent_id": owner},
                        )
                elif label and not row.label:
                    plan.change.append(PlanItem("device", interface, f"label: {label}"))
                    if apply:
                        record_in(
                            session,
                            actor,
                            "device.import",
                            f"device:{interface}",
                            {"label": None},
                            {"label": label},
                        )
                        row.label = label
            existing = set((await session.scalars(select(Queue.name))).all())
            for name in queue_names:
                if name in existing:
                    continue
                plan.add.append(PlanItem("queue", name))
                if apply:
                    session.add(Queue(name=name, sla_target_percent=80, sla_threshold_seconds=20))
                    record_in(session, actor, "queue.import", f"queue:{name}", None, {"name": name})
            if apply:
                await session.commit()
                plan.applied = True
        return plan
