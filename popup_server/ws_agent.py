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
from collections import deque
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

QUEUE_BYTES = 4 * 1024 * 1024
"""What one socket may have waiting to be sent before it is closed as too slow."""


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
        self,
        ws: web.WebSocketResponse,
        user: User,
        extensions: set[str],
        expires_at: float,
        max_bytes: int = QUEUE_BYTES,
    ) -> None:
        self.ws = ws
        self.user = user
        self.extensions = extensions
        self.expires_at = expires_at
        """When the token the socket was opened (or last renewed) with expires."""
        self._queue: deque[tuple[str, int]] = deque()
        self._ready = asyncio.Event()
        self._stopped = False
        self.queued_bytes = 0
        self.max_bytes = max_bytes
        self.overflowed = False

    def push(self, text: str, size: int | None = None) -> None:
        """Queue ``text`` (``size``: its UTF-8 length, when the caller knows it) for sending.

        A socket with more than ``max_bytes`` waiting is closed so that it resyncs;
        the text itself is shared with every other socket it was queued to.
        """
        if self.overflowed or self._stopped:
            return
        size = len(text.encode()) if size is None else size
        if self.queued_bytes + size > self.max_bytes:
            self.overflowed = True
            self._queue.clear()
            self.queued_bytes = 0
            logger.warning(
                "agent socket too slow, closing user=%s limit_bytes=%d",
                self.user.username,
                self.max_bytes,
            )
        else:
            self._queue.append((text, size))
            self.queued_bytes += size
        self._ready.set()

    def stop(self) -> None:
        """Let the writer finish: it sends nothing more (or closes an overflowed socket)."""
        self._stopped = True
        self._queue.clear()
        self.queued_bytes = 0
        self._ready.set()

    async def write_loop(self) -> None:
        """Send queued messages in order until stopped or the socket closes."""
        while True:
            await self._ready.wait()
            if self.overflowed:
                await self.ws.close(code=CLOSE_TOO_SLOW, message=b"too slow; reconnect to resync")
                return
            if self._stopped or self.ws.closed:
                return
            if not self._queue:
                self._ready.clear()
                continue
            text, size = self._queue.popleft()
            self.queued_bytes -= size
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
        self._version = 0
        """Bumped on every change a resume could show; keys the encoded-snapshot cache."""
        self._resumes: dict[frozenset[str], tuple[int, list[tuple[str, int]]]] = {}
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

    def resume(self, extensions: set[str]) -> list[tuple[str, int]]:
        """The resume of ``extensions``, encoded: each text with its UTF-8 size.

        Encoded once per state of the hub and shared by every socket that opens
        before the next change, however many one user opens.
        """
        key = frozenset(extensions)
        cached = self._resumes.get(key)
        if cached is not None and cached[0] == self._version:
            return cached[1]
        messages = list(self._pops.snapshot(extensions))
        if self.pbx_link is not None:
            messages.append(self.pbx_link)
        messages.append({"v": POP_SCHEMA_VERSION, "type": "snapshot_done"})
        encoded = [(text, len(text.encode())) for text in map(encode, messages)]
        if len(self._resumes) > 1000:
            self._resumes.clear()
        self._resumes[key] = (self._version, encoded)
        return encoded

    def attach(self, connection: AgentConnection) -> None:
        """Queue the resume snapshot, then start receiving live messages (in that order)."""
        for text, size in self.resume(connection.extensions):
            connection.push(text, size)
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
        self._version += 1  # called once per event, whether or not anyone gets a message
        for item in outgoing:
            targets: set[AgentConnection] = set()
            for extension in item.extensions:
                targets |= self._by_extension.get(extension, set())
            if not targets:
                continue
            text = encode(item.message)
            size = len(text.encode())
            for connection in targets:
                connection.push(text, size)
            self.delivered += len(targets)

    def link_changed(self, event: PbxLinkChanged) -> None:
        """Remember the PBX link's state and tell every open socket (it is rare)."""
        self.pbx_link = pbx_link_message(event)
        self._version += 1
        text = encode(self.pbx_link)
        size = len(text.encode())
        for connection in {c for conns in self._by_extension.values() for c in conns}:
            connection.push(text, size)

    async def close_user(self, user_id: int, reason: bytes) -> int:
        """Close every socket of ``user_id`` (a disabled person) with 4001; how many."""
        mine = {c for conns in self._by_extension.values() for c in conns if c.user.id == user_id}
        for connection in mine:
            self.detach(connection)
            with contextlib.suppress(Exception):
                await connection.ws.close(code=CLOSE_UNAUTHENTICATED, message=reason)
        return len(mine)

    async def close_all(self) -> None:
        """Close every socket (server shutdown)."""
        for connection in {c for conns in self._by_extension.values() for c in conns}:
            with contextlib.suppress(Exception):
                await connection.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


class AgentSocketHandler:
    """aiohttp handler for ``/ws/agent``."""

    def __init__(self, hub: AgentHub, gate: SocketGate, queue_bytes: int = QUEUE_BYTES) -> None:
        self._hub = hub
        self._gate = gate
        self._queue_bytes = queue_bytes

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Serve one agent socket from upgrade to close."""
        ws, claims = await self._gate.open(request)
        if claims is None:
            return ws
        user = claims.user
        connection = AgentConnection(
            ws, user, set(user.extensions), claims.expires_at, self._queue_bytes
        )
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
            overflowed = connection.overflowed
            connection.stop()
            if overflowed:
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
