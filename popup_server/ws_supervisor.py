"""The supervisor websocket (``/ws/supervisor``): every queue, agent and call, live.

Only ``supervisor`` and ``admin`` tokens are let in (others: close 4003).
After ``auth`` the socket gets ``hello``, one ``board`` message (the current
state of every queue member, waiting count and live call), then every domain
event as ``{"v": 1, "type": "event", "event": {...}}`` in bus order; a change
of the hub's PBX link also comes as a ``pbx_link`` message (the current one
right after the board), as on the agent socket. Customer
data is not part of it: supervisors see calls, not case files. Supervisors are
few, so events are broadcast to all of them, each encoded once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from aiohttp import web

from cti.events import (
    AgentRinging,
    AgentRingStopped,
    CallAnswered,
    CallEnded,
    CallHeld,
    CallQueued,
    CallResumed,
    CallStarted,
    Event,
    PbxLinkChanged,
    QueueCallersChanged,
    QueueMemberChanged,
    QueueMemberRemoved,
)
from cti.screenpop import POP_SCHEMA_VERSION
from popup_server.wire import encode
from popup_server.ws_agent import AgentConnection, pbx_link_message
from popup_server.ws_handshake import (
    CLOSE_FORBIDDEN,
    CLOSE_UNAUTHENTICATED,
    SocketGate,
    hello_message,
)

logger = logging.getLogger(__name__)

SUPERVISOR_ROLES = frozenset({"supervisor", "admin"})


class SupervisorBoard:
    """The live picture supervisors start from; kept up to date by the domain events."""

    def __init__(self) -> None:
        self.members: dict[str, dict[str, dict[str, Any]]] = {}
        self.waiting: dict[str, int] = {}
        self.calls: dict[str, dict[str, Any]] = {}

    def handle(self, event: Event) -> None:
        """Apply one event to the board."""
        if isinstance(event, QueueMemberChanged):
            self.members.setdefault(event.agent, {})[event.queue] = {
                "state": event.state,
                "paused": event.paused,
                "paused_reason": event.paused_reason,
                "in_call": event.in_call,
                "name": event.name,
                "at": event.at,
            }
        elif isinstance(event, QueueMemberRemoved):
            self.members.get(event.agent, {}).pop(event.queue, None)
        elif isinstance(event, QueueCallersChanged):
            self.waiting[event.queue] = event.waiting
        elif isinstance(event, CallStarted):
            self.calls[event.call_id] = {
                "call_id": event.call_id,
                "direction": event.direction,
                "caller": event.caller,
                "state": "started",
                "queue": None,
                "agent": None,
                "ringing": [],
                "started_at": event.at,
                "queued_at": None,
                "answered_at": None,
            }
        elif isinstance(event, CallEnded):
            self.calls.pop(event.call_id, None)
        else:
            self._call_change(event)

    def _call_change(self, event: Event) -> None:
        call_id = getattr(event, "call_id", None)
        call = self.calls.get(call_id) if isinstance(call_id, str) else None
        if call is None:
            return
        if isinstance(event, CallQueued):
            # The wallboard's "longest wait" runs from here.
            call.update(queue=event.queue, queued_at=event.at)
        elif isinstance(event, AgentRinging):
            call["queue"] = event.queue or call["queue"]
            call["state"] = "ringing" if call["agent"] is None else call["state"]
            if event.agent not in call["ringing"]:
                call["ringing"].append(event.agent)
        elif isinstance(event, AgentRingStopped):
            if event.agent in call["ringing"]:
                call["ringing"].remove(event.agent)
        elif isinstance(event, CallAnswered):
            call.update(state="talking", agent=event.agent, answered_at=event.at, ringing=[])
        elif isinstance(event, CallHeld | CallResumed):
            call["state"] = "held" if isinstance(event, CallHeld) else "talking"

    def snapshot(self) -> dict[str, Any]:
        """The ``board`` message."""
        return {
            "v": POP_SCHEMA_VERSION,
            "type": "board",
            "members": self.members,
            "waiting": self.waiting,
            "calls": list(self.calls.values()),
        }


class SupervisorHub:
    """Supervisor sockets and the board; every event goes to every supervisor."""

    def __init__(self) -> None:
        self.board = SupervisorBoard()
        self._connections: set[AgentConnection] = set()
        self.pbx_link: dict[str, Any] | None = None
        """The last ``pbx_link`` message (None until the PBX link was first reported)."""

    @property
    def connections(self) -> int:
        """Open supervisor sockets."""
        return len(self._connections)

    def handle(self, event: Event) -> None:
        """Update the board and forward the event (encoded once) to every supervisor."""
        self.board.handle(event)
        messages = [{"v": POP_SCHEMA_VERSION, "type": "event", "event": event.to_dict()}]
        if isinstance(event, PbxLinkChanged):
            self.pbx_link = pbx_link_message(event)
            messages.append(self.pbx_link)
        if self._connections:
            for message in messages:
                text = encode(message)
                for connection in self._connections:
                    connection.push(text)

    def attach(self, connection: AgentConnection) -> None:
        """Queue the board, then start forwarding events (no await in between)."""
        connection.push(encode(self.board.snapshot()))
        if self.pbx_link is not None:
            connection.push(encode(self.pbx_link))
        self._connections.add(connection)

    def detach(self, connection: AgentConnection) -> None:
        """Stop forwarding to ``connection``."""
        self._connections.discard(connection)


class SupervisorSocketHandler:
    """aiohttp handler for ``/ws/supervisor``."""

    def __init__(self, hub: SupervisorHub, gate: SocketGate) -> None:
        self._hub = hub
        self._gate = gate

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Serve one supervisor socket from upgrade to close."""
        ws, claims = await self._gate.open(request)
        if claims is None:
            return ws
        user = claims.user
        if user.role not in SUPERVISOR_ROLES:
            logger.warning("supervisor socket refused user=%s role=%s", user.username, user.role)
            await ws.close(code=CLOSE_FORBIDDEN, message=b"supervisors only")
            return ws
        connection = AgentConnection(ws, user, set(), claims.expires_at)
        writer = asyncio.create_task(connection.write_loop(), name=f"ws-sup-{user.username}")
        connection.push(encode(hello_message(user)))
        self._hub.attach(connection)
        try:
            async with asyncio.timeout_at(
                asyncio.get_running_loop().time() + claims.expires_at - time.time()
            ):
                async for _ in ws:
                    pass  # supervisors only listen; the token's expiry ends the socket
        except TimeoutError:
            await ws.close(code=CLOSE_UNAUTHENTICATED, message=b"token expired")
        finally:
            self._hub.detach(connection)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            await ws.close()
        return ws
