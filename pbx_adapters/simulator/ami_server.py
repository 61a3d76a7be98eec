"""A TCP server that speaks AMI the way Asterisk 22 does, in front of the simulated PBX.

Per connection: the banner, ``Login`` (plain or MD5 challenge) with Asterisk's
own success and failure responses, ``Events`` on/off or by class, ``Ping``,
``Logoff``, and every model action of :mod:`pbx_adapters.simulator.actions`.
Wrong input gets what Asterisk answers: ``Permission denied`` before login,
``Authentication failed`` (then the connection closes), ``Missing action in
request`` for a frame without an action, ``Invalid/unknown command: …`` for
an unknown one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from collections.abc import Callable

from pbx_adapters.simulator import actions, event_shapes
from pbx_adapters.simulator.channel import Fields
from pbx_adapters.simulator.model import PbxModel

log = logging.getLogger(__name__)

BANNER = "Asterisk Call Manager/11.0.0"
EVENT_CLASSES = frozenset(
    {
        "system",
        "call",
        "log",
        "verbose",
        "command",
        "agent",
        "user",
        "config",
        "dtmf",
        "reporting",
        "cdr",
        "dialplan",
        "originate",
        "agi",
        "cc",
        "aoc",
        "test",
        "security",
        "message",
    }
)
_MAX_FRAME = 64 * 1024
_MAX_PENDING_WRITE = 32 * 1024 * 1024


def encode(fields: Fields) -> bytes:
    """One AMI message on the wire."""
    return ("".join(f"{name}: {value}\r\n" for name, value in fields) + "\r\n").encode()


def parse_frame(block: str) -> dict[str, str]:
    """Header lines of one action; lines without a colon are ignored as Asterisk does."""
    action: dict[str, str] = {}
    for line in block.split("\n"):
        line = line.rstrip("\r")
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            continue
        key = name.strip()
        value = value.lstrip(" ")
        action[key] = action[key] + "," + value if key in action else value
    return action


def _event_mask(value: str) -> frozenset[str] | None:
    """Asterisk's eventmask: on/off/true/false or a list of classes; None if invalid."""
    word = value.strip().lower()
    if word in ("on", "yes", "true", "1", "all"):
        return EVENT_CLASSES
    if word in ("off", "no", "false", "0", ""):
        return frozenset()
    classes = frozenset(c.strip() for c in word.split(",") if c.strip())
    return classes if classes <= EVENT_CLASSES else None


class AmiSession:
    """One connected AMI client."""

    def __init__(
        self, server: AmiServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.authenticated = False
        self.username = ""
        self.events: frozenset[str] = frozenset()
        self.challenge = ""
        self.closed = False
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)

    def send(self, fields: Fields) -> None:
        self.send_bytes(encode(fields))

    def send_bytes(self, data: bytes) -> None:
        if self.closed:
            return
        transport = self.writer.transport
        if transport.get_write_buffer_size() > _MAX_PENDING_WRITE:
            # Asterisk drops a client that does not read (writetimeout); so do we.
            log.warning("ami client too slow, disconnecting peer=%s", self.peer)
            self.close()
            return
        self.writer.write(data)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.writer.close()

    async def run(self) -> None:
        self.writer.write((BANNER + "\r\n").encode())
        buffer = ""
        try:
            while not self.closed:
                data = await self.reader.read(65536)
                if not data:
                    break
                buffer += data.decode("utf-8", "replace")
                while not self.closed:
                    end, size = _frame_end(buffer)
                    if end < 0:
                        if len(buffer) > _MAX_FRAME:
                            log.warning(
                                "ami frame over %d bytes dropped peer=%s", _MAX_FRAME, self.peer
                            )
                            buffer = ""
                        break
                    block, buffer = buffer[:end], buffer[end + size :]
                    if block.strip():
                        self.handle(parse_frame(block))
                await self.writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.server.sessions.discard(self)
            self.close()

    def handle(self, action: dict[str, str]) -> None:
        action_id = actions.header(action, "ActionID")
        name = actions.header(action, "Action")
        if not name:
            self.send(actions.response(False, action_id, "Missing action in request"))
            return
        lower = name.lower()
        if lower == "login":
            self._login(action, action_id)
            return
        if lower == "challenge":
            self._challenge(action, action_id)
            return
        if lower == "logoff":
            self.send(
                [
                    *_with_id([("Response", "Goodbye")], action_id),
                    ("Message", "Thanks for all the fish."),
                ]
            )
            self.close()
            return
        if not self.authenticated:
            self.send(actions.response(False, action_id, "Permission denied"))
            return
        if lower == "ping":
            self.send(
                [
                    *_with_id([("Response", "Success")], action_id),
                    ("Ping", "Pong"),
                    ("Timestamp", f"{time.time():.6f}"),
                ]
            )
            return
        if lower == "events":
            mask = _event_mask(actions.header(action, "EventMask"))
            if mask is None:
                self.send(actions.response(False, action_id, "Invalid event mask"))
                return
            self.events = mask
            self.send(
                [
                    *_with_id([("Response", "Success")], action_id),
                    ("Events", "On" if mask else "Off"),
                ]
            )
            return
        if self.server.before_action is not None:
            self.server.before_action()
        replies = actions.perform(self.server.model, action)
        if replies is None:
            self.send(
                actions.response(
                    False,
                    action_id,
                    f"Invalid/unknown command: {name}. Use Action: ListCommands to show available "
                    "commands.",
                )
            )
            return
        for reply in replies:
            self.send(reply)
        if self.server.after_action is not None:
            self.server.after_action()

    def _challenge(self, action: dict[str, str], action_id: str) -> None:
        if actions.header(action, "AuthType").lower() != "md5":
            self.send(actions.response(False, action_id, "Must specify AuthType"))
            return
        if not self.challenge:
            self.challenge = str(secrets.randbelow(900_000_000) + 100_000_000)
        self.send([*_with_id([("Response", "Success")], action_id), ("Challenge", self.challenge)])

    def _login(self, action: dict[str, str], action_id: str) -> None:
        if self.authenticated:
            self.send(actions.response(True, action_id, "Already authenticated"))
            return
        username = actions.header(action, "Username")
        secret = self.server.users.get(username)
        ok = False
        if secret is not None:
            if actions.header(action, "AuthType").lower() == "md5":
                key = actions.header(action, "Key")
                expected = hashlib.md5((self.challenge + secret).encode()).hexdigest()
                ok = bool(self.challenge) and secrets.compare_digest(key, expected)
            else:
                ok = secrets.compare_digest(actions.header(action, "Secret"), secret)
        if not ok:
            log.info("ami login failed user=%s peer=%s", username, self.peer)
            self.send(actions.response(False, action_id, "Authentication failed"))
            self.close()
            return
        mask = _event_mask(actions.header(action, "Events") or "on")
        self.events = mask if mask is not None else EVENT_CLASSES
        self.authenticated = True
        self.username = username
        self.send(actions.response(True, action_id, "Authentication accepted"))
        if "system" in self.events:
            self.send(event_shapes.fully_booted(self.server.uptime()))
        self.server.sessions.add(self)
        log.info("ami login user=%s peer=%s", username, self.peer)


def _with_id(fields: Fields, action_id: str) -> Fields:
    return [*fields, ("ActionID", action_id)] if action_id else fields


def _frame_end(buffer: str) -> tuple[int, int]:
    """Where the first frame ends and the terminator's size; clients may send bare LF."""
    crlf = buffer.find("\r\n\r\n")
    lf = buffer.find("\n\n")
    if lf >= 0 and (crlf < 0 or lf < crlf):
        return lf, 2
    return crlf, 4


class AmiServer:
    """Serves AMI for one :class:`PbxModel`; broadcasts its events to logged-in sessions."""

    def __init__(
        self,
        model: PbxModel,
        users: dict[str, str],
        *,
        before_action: Callable[[], None] | None = None,
        after_action: Callable[[], None] | None = None,
    ) -> None:
        self.model = model
        self.users = users
        self.before_action = before_action
        self.after_action = after_action
        self.sessions: set[AmiSession] = set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = time.monotonic()
        self.events_sent = 0
        model.add_listener(self._on_event)

    def uptime(self) -> int:
        return self.model.spec.uptime + int(time.monotonic() - self._started)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen; returns the bound port (useful with port 0)."""
        self._server = await asyncio.start_server(self._accept, host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening and close every session (clients see the connection end)."""
        self.model.remove_listener(self._on_event)
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = AmiSession(self, reader, writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await session.run()
        except asyncio.CancelledError:
            # Only stop() cancels this handler task. Ending it normally keeps asyncio's
            # start_server callback from logging the cancellation as an error.
            pass
        finally:
            session.close()
            self.sessions.discard(session)
            if task is not None:
                self._tasks.discard(task)

    def broadcast(self, fields: Fields) -> None:
        """Send an event to every logged-in session whose event mask takes its class."""
        self._on_event(self.model.now, fields)

    def logged_in(self) -> int:
        """How many sessions are logged in now."""
        return len(self.sessions)

    def _on_event(self, at: float, fields: Fields) -> None:
        if not self.sessions:
            return
        privilege = fields[1][1] if len(fields) > 1 and fields[1][0] == "Privilege" else ""
        event_class = privilege.split(",", 1)[0]
        data: bytes | None = None
        for session in list(self.sessions):
            if event_class in session.events:
                if data is None:
                    data = encode(fields)
                session.send_bytes(data)
                self.events_sent += 1
