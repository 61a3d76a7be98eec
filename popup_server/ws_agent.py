"""The agent websocket: authenticate, resume, then receive this agent's pops and nothing else.

Protocol (every message JSON, documented in ``docs/events.md``):

1. The browser opens ``/ws/agent``. An ``Origin`` that is neither this
   server's own nor an allowed one is refused with HTTP 403 before the
   upgrade. No compression is negotiated: pops are small and deflate would
   halve throughput.
2. Its first message must be ``{"type": "auth", "token": "..."}`` within
   ``auth_timeout_seconds``; otherwise the socket is closed with 4001.
   (Steps 1 and 2 are :class:`popup_server.ws_handshake.SocketGate`, shared
   with the supervisor socket.)
3. The server answers ``hello``, then the current state of the agent's
   calls and queue memberships and of the hub's PBX link (the resume), then
   ``snapshot_done``. A change of the PBX link is broadcast to every socket.
4. ``{"type": "subscribe", "extensions": [...]}`` may narrow the extensions
   watched; asking for one not mapped to the user closes the socket with 4003.
5. The socket is closed with 4001 when its token expires, unless the panel
   sends ``{"type": "auth", "token": ...}`` again with a renewed one.

:class:`AgentHub` is the index from extension to open sockets. A message is
encoded once and queued to each target socket; a socket's own writer task
sends it, so a slow browser never delays anyone else's pop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from cti.events import PbxLinkChanged
from cti.screenpop import POP_SCHEMA_VERSION, Outgoing, ScreenPops
from popup_server.auth import InvalidTokenError, User
from popup_server.wire import decode, encode
from popup_server.ws_handshake import (
    CLOSE_FORBIDDEN,
    CLOSE_TOO_SLOW,
    CLOSE_UNAUTHENTICATED,
    SocketGate,
    hello_message,
)

logger = logging.getLogger(__name__)

_QUEUE_LIMIT = 1000


def pbx_link_message(event: PbxLinkChanged) -> dict[str, Any]:
    """The ``pbx_link`` message every panel gets when the hub's PBX link changes."""
    return {
        "v": POP_SCHEMA_VERSION,
        "type": "pbx_link",
        "state": event.state,
        "detail": event.detail,
        "at": event.at,
    }


class AgentConnection:
    """One authenticated agent socket with its own outgoing queue and writer task."""

    def __init__(
        self, ws: web.WebSocketResponse, user: User, extensions: set[str], expires_at: float
    ) -> None:
        self.ws = ws
        self.user = user
        self.extensions = extensions
        self.expires_at = expires_at
        """When the token the socket was opened (or last renewed) with expires."""
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=_QUEUE_LIMIT)
        self.overflowed = False

    def push(self, text: str) -> None:
        """Queue ``text`` for sending; a socket this far behind is closed so it resyncs."""
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            if not self.overflowed:
                self.overflowed = True
                logger.warning(
                    "agent socket too slow, closing user=%s queued=%d",
                    self.user.username,
                    self.queue.qsize(),
                )

    async def write_loop(self) -> None:
        """Send queued messages in order until told to stop or the socket closes."""
        while True:
            text = await self.queue.get()
            if text is None or self.ws.closed:
                return
            if self.overflowed:
                await self.ws.close(code=CLOSE_TOO_SLOW, message=b"too slow; reconnect to resync")
                return
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return


class AgentHub:
    """Extension → open sockets; delivers each message only to its targets."""

    def __init__(self, pops: ScreenPops) -> None:
        self._pops = pops
        self._by_extension: dict[str, set[AgentConnection]] = {}
        self.delivered = 0
        self.pbx_link: dict[str, Any] | None = None
        """The last ``pbx_link`` message (None until the PBX link was first reported)."""

    @property
    def pops(self) -> ScreenPops:
        """The pop assembler whose state resumes reconnecting panels."""
        return self._pops

    @property
    def connections(self) -> int:
        """Open authenticated sockets."""
        return len({c for conns in self._by_extension.values() for c in conns})

    def attach(self, connection: AgentConnection) -> None:
        """Queue the resume snapshot, then start receiving live messages (in that order)."""
        for message in self._pops.snapshot(connection.extensions):
            connection.push(encode(message))
        if self.pbx_link is not None:
            connection.push(encode(self.pbx_link))
        connection.push(encode({"v": POP_SCHEMA_VERSION, "type": "snapshot_done"}))
        # No await between snapshot and registration: nothing can slip in between.
        for extension in connection.extensions:
            self._by_extension.setdefault(extension, set()).add(connection)

    def detach(self, connection: AgentConnection) -> None:
        """Stop delivering to ``connection``."""
        for extension in connection.extensions:
            conns = self._by_extension.get(extension)
            if conns is not None:
                conns.discard(connection)
                if not conns:
                    del self._by_extension[extension]

    def narrow(self, connection: AgentConnection, extensions: set[str]) -> None:
        """Watch only ``extensions`` (a subset of the user's own, checked by the caller)."""
        self.detach(connection)
        connection.extensions = extensions
        for extension in extensions:
            self._by_extension.setdefault(extension, set()).add(connection)

    def deliver(self, outgoing: Iterable[Outgoing]) -> None:
        """Encode each message once and queue it to the sockets of its extensions only."""
        for item in outgoing:
            targets: set[AgentConnection] = set()
            for extension in item.extensions:
                targets |= self._by_extension.get(extension, set())
            if not targets:
                continue
            text = encode(item.message)
            for connection in targets:
                connection.push(text)
            self.delivered += len(targets)

    def link_changed(self, event: PbxLinkChanged) -> None:
        """Remember the PBX link's state and tell every open socket (it is rare)."""
        self.pbx_link = pbx_link_message(event)
        text = encode(self.pbx_link)
        for connection in {c for conns in self._by_extension.values() for c in conns}:
            connection.push(text)

    async def close_all(self) -> None:
        """Close every socket (server shutdown)."""
        for connection in {c for conns in self._by_extension.values() for c in conns}:
            with contextlib.suppress(Exception):
                await connection.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


class AgentSocketHandler:
    """aiohttp handler for ``/ws/agent``."""

    def __init__(self, hub: AgentHub, gate: SocketGate) -> None:
        self._hub = hub
        self._gate = gate

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Serve one agent socket from upgrade to close."""
        ws, claims = await self._gate.open(request)
        if claims is None:
            return ws
        user = claims.user
        connection = AgentConnection(ws, user, set(user.extensions), claims.expires_at)
        writer = asyncio.create_task(connection.write_loop(), name=f"ws-writer-{user.username}")
        watchdog = asyncio.create_task(self._expire(connection), name=f"ws-expiry-{user.username}")
        hello = hello_message(user, extensions=sorted(connection.extensions))
        try:
            # Queued first: the writer sends it before the snapshot that attach() queues.
            connection.push(encode(hello))
            self._hub.attach(connection)
            logger.info("agent socket open user=%s extensions=%s", user.username, user.extensions)
            await self._read_loop(ws, connection)
        finally:
            self._hub.detach(connection)
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
            with contextlib.suppress(asyncio.QueueFull):
                connection.queue.put_nowait(None)
            if connection.overflowed:
                await writer
            else:
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await writer
            await ws.close()
            logger.info("agent socket closed user=%s", user.username)
        return ws

    async def _expire(self, connection: AgentConnection) -> None:
        # A socket lives no longer than its token, unless the panel sends a renewed one.
        while (left := connection.expires_at - time.time()) > 0:
            await asyncio.sleep(left)
        logger.info("agent socket token expired user=%s", connection.user.username)
        await connection.ws.close(code=CLOSE_UNAUTHENTICATED, message=b"token expired")

    async def _renew(
        self, ws: web.WebSocketResponse, connection: AgentConnection, token: Any
    ) -> bool:
        """Accept a renewed token of the same user; its extensions replace the old ones."""
        try:
            claims = self._gate.signer.verify(token if isinstance(token, str) else None)
            if claims.user.id != connection.user.id:
                raise InvalidTokenError("renewed token is for another user")
        except InvalidTokenError as exc:
            logger.info(
                "websocket re-auth refused user=%s reason=%s", connection.user.username, exc
            )
            await ws.close(code=CLOSE_UNAUTHENTICATED, message=b"authentication failed")
            return False
        connection.user, connection.expires_at = claims.user, claims.expires_at
        if not connection.extensions <= set(claims.user.extensions):
            self._hub.narrow(connection, connection.extensions & set(claims.user.extensions))
        connection.push(
            encode(
                {
                    "v": POP_SCHEMA_VERSION,
                    "type": "reauthenticated",
                    "expires_at": claims.expires_at,
                    "extensions": sorted(connection.extensions),
                }
            )
        )
        return True

    async def _read_loop(self, ws: web.WebSocketResponse, connection: AgentConnection) -> None:
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            try:
                data = decode(message.data)
                kind = data.get("type") if isinstance(data, dict) else None
            except ValueError:
                kind = None
            if kind == "ping":
                connection.push(encode({"v": POP_SCHEMA_VERSION, "type": "pong"}))
            elif kind == "auth":
                if not await self._renew(ws, connection, data.get("token")):
                    return
            elif kind == "subscribe":
                wanted = data.get("extensions")
                own = set(connection.user.extensions)
                if not isinstance(wanted, list) or not {str(e) for e in wanted} <= own:
                    logger.warning(
                        "agent asked for extensions not its own user=%s asked=%r",
                        connection.user.username,
                        wanted,
                    )
                    await ws.close(code=CLOSE_FORBIDDEN, message=b"extension not yours")
                    return
                self._hub.narrow(connection, {str(e) for e in wanted})
                connection.push(
                    encode(
                        {
                            "v": POP_SCHEMA_VERSION,
                            "type": "subscribed",
                            "extensions": sorted(connection.extensions),
                        }
                    )
                )
            else:
                connection.push(
                    encode(
                        {"v": POP_SCHEMA_VERSION, "type": "error", "error": "unknown message type"}
                    )
                )
