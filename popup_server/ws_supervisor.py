"""The supervisor websocket (``/ws/supervisor``): every queue, agent and call, live.

Only ``supervisor`` and ``admin`` tokens are let in (others: close 4003).
After ``auth`` the socket gets ``hello``, one ``board`` message (every queue
with its waiting callers and today's figures, every agent with what they do
and since when: :meth:`cti.live_board.BoardSnapshot.to_dict`), then every
domain event as ``{"v": 1, "type": "event", "event": {...}}`` in bus order,
and a fresh ``board`` after events (coalesced); a change
of the hub's PBX link also comes as a ``pbx_link`` message (the current one
right after the board), as on the agent socket. Customer
data is not part of it: supervisors see calls, not case files. Supervisors are
few, so events are broadcast to all of them, each encoded once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from cti.events import CallEnded, CallQueued, Event, PbxLinkChanged
from cti.live_board import LiveBoard
from cti.screenpop import POP_SCHEMA_VERSION, CallerLookup
from popup_server.ports import DayFigures
from popup_server.wire import encode
from popup_server.ws_agent import AgentConnection, pbx_link_message
from popup_server.ws_handshake import (
    CLOSE_FORBIDDEN,
    CLOSE_UNAUTHENTICATED,
    SocketGate,
    hello_message,
)

logger = logging.getLogger(__name__)


LOOKUP_TIMEOUT = 5.0
"""A waiting caller's CRM lookup gives up after this long (the board shows the number)."""

BOARD_DELAY = 0.25
"""Events within this many seconds share one ``board`` message (a busy queue sends many)."""


class SupervisorHub:
    """Supervisor sockets and the live board; every event goes to every supervisor.

    The board (:class:`cti.live_board.LiveBoard`) computes every figure; after
    events it sends a fresh ``board`` message (coalesced), and again when a
    waiting caller passes the queue's wait target, with no event to say so.
    """

    def __init__(
        self,
        board: LiveBoard,
        figures: DayFigures | None = None,
        clock: Callable[[], float] = time.time,
        lookup: CallerLookup | None = None,
    ) -> None:
        self.board = board
        self._figures = figures
        self._lookup = lookup
        self._customers: dict[str, str] = {}
        """Waiting call → the matched customer's name (shown beside the caller)."""
        self._lookups: dict[str, asyncio.Task[None]] = {}
        self._clock = clock
        self._connections: set[AgentConnection] = set()
        self._flush: asyncio.TimerHandle | None = None
        self._loading: asyncio.Lock | None = None
        self.pbx_link: dict[str, Any] | None = None
        """The last ``pbx_link`` message (None until the PBX link was first reported)."""

    @property
    def connections(self) -> int:
        """Open supervisor sockets."""
        return len(self._connections)

    async def ensure_day(self) -> None:
        """Start today on the board and seed it from the call log, once per day."""
        self._loading = self._loading or asyncio.Lock()
        async with self._loading:
            now = self._clock()
            if not self.board.needs_day(now) and self.board.seeded:
                return  # the book is reloaded with each day's seeding
            if self.board.needs_day(now):
                self.board.start_day(now)
            since = dt.datetime.fromtimestamp(self.board.day_start or now, dt.UTC)
            as_of = self._clock()
            if self._figures is None:
                self.board.seed(as_of, {}, {})
                return
            try:
                # Queues' own thresholds and targets, as the administration has them now.
                self.board.book = await self._figures.targets(self.board.book.default)
                tallies = await self._figures.day_tallies(
                    since, dt.datetime.fromtimestamp(as_of + 1, dt.UTC), self.board.book
                )
            except Exception:
                # The board still shows live figures; the next supervisor to connect retries.
                logger.exception("could not load today's figures from the call log")
                return
            self.board.seed(as_of, tallies.queues, tallies.agents)

    def snapshot_message(self) -> dict[str, Any]:
        """The ``board`` message: everything the wallboard shows, computed here."""
        body = self.board.snapshot(self._clock()).to_dict()
        for queue in body["queues"]:
            for caller in queue["callers"]:
                caller["customer"] = self._customers.get(caller["call_id"])
        return {"v": POP_SCHEMA_VERSION, "type": "board", **body}

    def _match_caller(self, event: Event) -> None:
        """Who a queued caller is (the CRM's best match), looked up once per call."""
        if isinstance(event, CallEnded):
            self._customers.pop(event.call_id, None)
            task = self._lookups.pop(event.call_id, None)
            if task is not None:
                task.cancel()
        elif (
            isinstance(event, CallQueued)
            and self._lookup is not None
            and event.caller
            and event.call_id not in self._lookups
        ):
            task = asyncio.get_running_loop().create_task(
                self._find_customer(event.call_id, event.caller), name="board-caller"
            )
            self._lookups[event.call_id] = task

    async def _find_customer(self, call_id: str, number: str) -> None:
        assert self._lookup is not None
        try:
            info = await asyncio.wait_for(self._lookup.lookup(number), LOOKUP_TIMEOUT)
        except Exception:
            logger.warning("caller lookup for the board failed call=%s", call_id, exc_info=True)
            return
        if info.customers and call_id in self._lookups:
            self._customers[call_id] = str(info.customers[0].get("name") or "")
            if self._connections:
                self._schedule(BOARD_DELAY)

    async def close(self) -> None:
        """Cancel the caller lookups still running (shutdown)."""
        tasks = list(self._lookups.values())
        self._lookups.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None

    def handle(self, event: Event) -> None:
        """Update the board and forward the event (encoded once) to every supervisor."""
        self.board.handle(event)
        self._match_caller(event)
        messages = [{"v": POP_SCHEMA_VERSION, "type": "event", "event": event.to_dict()}]
        if isinstance(event, PbxLinkChanged):
            self.pbx_link = pbx_link_message(event)
            messages.append(self.pbx_link)
        if self._connections:
            for message in messages:
                self._broadcast(encode(message))
            self._schedule(BOARD_DELAY)

    def _broadcast(self, text: str) -> None:
        for connection in self._connections:
            connection.push(text)

    def _schedule(self, delay: float) -> None:
        if self._flush is not None:
            if delay >= self._flush.when() - asyncio.get_running_loop().time():
                return
            self._flush.cancel()
        self._flush = asyncio.get_running_loop().call_later(delay, self._send_board)

    def _send_board(self) -> None:
        self._flush = None
        if not self._connections:
            return
        self._broadcast(encode(self.snapshot_message()))
        now = self._clock()
        upcoming = self.board.next_change(now)
        if upcoming is not None:
            self._schedule(max(upcoming - now, BOARD_DELAY))

    def attach(self, connection: AgentConnection) -> None:
        """Queue the board, then start forwarding events (no await in between)."""
        connection.push(encode(self.snapshot_message()))
        if self.pbx_link is not None:
            connection.push(encode(self.pbx_link))
        self._connections.add(connection)
        upcoming = self.board.next_change(self._clock())
        if upcoming is not None:
            self._schedule(max(upcoming - self._clock(), BOARD_DELAY))

    def detach(self, connection: AgentConnection) -> None:
        """Stop forwarding to ``connection``."""
        self._connections.discard(connection)
        if not self._connections and self._flush is not None:
            self._flush.cancel()
            self._flush = None

    async def close_user(self, user_id: int, reason: bytes) -> int:
        """Close every socket of ``user_id`` (a disabled person) with 4001; how many."""
        mine = {c for c in self._connections if c.user.id == user_id}
        for connection in mine:
            self.detach(connection)
            with contextlib.suppress(Exception):
                await connection.ws.close(code=CLOSE_UNAUTHENTICATED, message=reason)
        return len(mine)


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
        if not user.can_supervise:
            logger.warning("supervisor socket refused user=%s role=%s", user.username, user.role)
            await ws.close(code=CLOSE_FORBIDDEN, message=b"supervisors only")
            return ws
        connection = AgentConnection(ws, user, set(), claims.expires_at)
        writer = asyncio.create_task(connection.write_loop(), name=f"ws-sup-{user.username}")
        connection.push(encode(hello_message(user)))
        await self._hub.ensure_day()
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
