"""What phones and queues a PBX has, read over AMI for the import (``ctihub pbx import``).

``PJSIPShowEndpoints``, ``SIPpeers`` and ``IAXpeerlist`` list the endpoints (a
PBX without one of the channel drivers answers an error, which means "none of
that kind"); ``QueueStatus`` lists the queues and their members with the names
the PBX gives them. A list the AMI user may not run (``Permission denied``) is
reported in :attr:`PbxDirectory.problems` with the manager.conf change it needs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from .ami import ActionFailed
from .ami_actions import AmiActions

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A phone the PBX knows: ``PJSIP/1001``, ``SIP/1001``, ``IAX2/1001``."""

    technology: str
    name: str
    state: str


@dataclass(frozen=True, slots=True)
class QueueMember:
    """A queue's member as ``QueueStatus`` lists it."""

    queue: str
    interface: str
    """``Location``: ``Local/1001@from-queue/n``, ``PJSIP/1001``…"""
    name: str


@dataclass(slots=True)
class PbxDirectory:
    """Endpoints, queues and members, plus what could not be read and why."""

    endpoints: list[Endpoint] = field(default_factory=list)
    queues: list[str] = field(default_factory=list)
    members: list[QueueMember] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


_WRITE_CLASS = {"PJSIPShowEndpoints": "system", "SIPpeers": "reporting", "IAXpeerlist": "reporting"}


async def read_directory(actions: AmiActions) -> PbxDirectory:
    """Read every endpoint list and the queues; never raises for a refused list."""
    directory = PbxDirectory()
    lists = (
        ("PJSIPShowEndpoints", "PJSIP", actions.pjsip_endpoints),
        ("SIPpeers", "SIP", actions.sip_peers),
        ("IAXpeerlist", "IAX2", actions.iax_peers),
    )
    for action, technology, query in lists:
        try:
            items = await query()
        except ActionFailed as exc:
            message = str(exc)
            if "permission denied" in message.lower():
                directory.problems.append(
                    f"{action} refused: the AMI user needs write = {_WRITE_CLASS[action]} "
                    "in manager.conf (manager_custom.conf on Issabel/FreePBX) for the import"
                )
            else:  # "Invalid/unknown command": that channel driver is not loaded
                log.info("pbx import: %s not available (%s)", action, message)
            continue
        for item in items:
            if item.get("Event") not in ("EndpointList", "PeerEntry"):
                continue
            name = item.get("ObjectName", "")
            if name:
                state = item.get("DeviceState") or item.get("Status") or ""
                directory.endpoints.append(Endpoint(technology, name, state))
    try:
        status = await actions.queue_status()
    except ActionFailed as exc:
        directory.problems.append(f"QueueStatus refused: {exc}")
        return directory
    for item in status:
        event = item.get("Event")
        if event == "QueueParams" and item.get("Queue"):
            directory.queues.append(item["Queue"])
        elif event == "QueueMember" and item.get("Location"):
            directory.members.append(
                QueueMember(item.get("Queue", ""), item["Location"], item.get("Name", ""))
            )
    return directory
