"""A small AMI server for tests: real TCP on 127.0.0.1, port 0, speaking Asterisk's answers.

The answers are copied from what Asterisk 22 sends (see tests/fixtures/ami): the
banner, ``Authentication accepted`` / ``Authentication failed`` (after which
Asterisk hangs up), ``FullyBooted`` right after a successful login, ``Ping: Pong``,
event lists with ``EventList: start`` / ``EventList: Complete``, and an
``Originate successfully queued`` response followed by ``OriginateResponse``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterable

from pbx_adapters.settings import AmiConfig

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
CHALLENGE = "840276352"

Fields = list[tuple[str, str]]


def render(fields: Iterable[tuple[str, str]]) -> bytes:
    return b"".join(f"{k}: {v}\r\n".encode() for k, v in fields) + b"\r\n"


def parse_action(block: bytes) -> dict[str, str]:
    action: dict[str, str] = {}
    for line in block.decode().split("\r\n"):
        name, _, value = line.partition(": ")
        if name in action:
            action[name] += "\n" + value
        else:
            action[name] = value
    return action


class FakeAmi:
    """One fake PBX; tests change its attributes between connections."""

    def __init__(self, username: str = "ctihub", secret: str = "s3cret-Pa55") -> None:
        """``secret`` is what the fake manager.conf holds; tests may change it later."""
        self.username = username
        self.secret = secret
        self.send_fully_booted = True
        self.fully_booted_first = False
        self.answer_pings = True
        self.answer_originate = True
        self.originate_outcome: Fields | None = [("Response", "Success"), ("Reason", "4")]
        self.channels: list[Fields] = []
        self.queue_items: list[Fields] = []
        self.summaries: list[Fields] = []
        self.after_login: list[Fields] = []
        self.denied: set[str] = set()
        """Lower-case action names answered ``Permission denied`` (a missing write class)."""
        self.received: list[dict[str, str]] = []
        self.login_attempts: list[tuple[float, bool]] = []
        self.connections = 0
        self.port = 0
        self.tls: ssl.SSLContext | None = None
        """Serve AMI over TLS with this context (set before ``start``)."""
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._authed: set[asyncio.StreamWriter] = set()
        self.changed = asyncio.Condition()

    async def start(self) -> int:
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, ssl=self.tls
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop_listening(self) -> None:
        """Close the listening socket (new connections are refused) but keep the port number."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def close(self) -> None:
        self.drop_clients()
        await self.stop_listening()

    def drop_clients(self) -> None:
        """Cut every client connection, as a PBX restart or a network break would."""
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        self._authed.clear()

    def actions(self, name: str) -> list[dict[str, str]]:
        return [a for a in self.received if a.get("Action", "").lower() == name.lower()]

    async def wait_for(self, predicate: object, timeout: float = 5.0) -> None:
        assert callable(predicate)
        async with asyncio.timeout(timeout), self.changed:
            await self.changed.wait_for(predicate)

    def send_event(self, fields: Fields) -> None:
        """Write one event to every logged-in client."""
        self.send_raw(render(fields))

    def send_raw(self, data: bytes) -> None:
        for writer in list(self._authed):
            writer.write(data)

    async def drained(self) -> None:
        """Wait until what was sent has left for every logged-in client (big bursts)."""
        for writer in list(self._authed):
            with contextlib.suppress(ConnectionError):
                await writer.drain()

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        await self._notify()
        writer.write(BANNER)
        challenge: str | None = None
        try:
            while True:
                block = await reader.readuntil(b"\r\n\r\n")
                action = parse_action(block[:-4])
                self.received.append(action)
                name = action.get("Action", "").lower()
                aid = [("ActionID", action["ActionID"])] if "ActionID" in action else []
                if name == "challenge":
                    challenge = CHALLENGE
                    writer.write(render([("Response", "Success"), *aid, ("Challenge", challenge)]))
                elif name == "login":
                    ok = self._login_ok(action, challenge)
                    self.login_attempts.append((time.monotonic(), ok))
                    if not ok:
                        writer.write(
                            render(
                                [("Response", "Error"), *aid, ("Message", "Authentication failed")]
                            )
                        )
                        await writer.drain()
                        writer.close()
                        await self._notify()
                        return
                    booted = render(
                        [
                            ("Event", "FullyBooted"),
                            ("Privilege", "system,all"),
                            ("Uptime", "104"),
                            ("LastReload", "104"),
                            ("Status", "Fully Booted"),
                        ]
                    )
                    accepted = render(
                        [("Response", "Success"), *aid, ("Message", "Authentication accepted")]
                    )
                    if self.send_fully_booted and self.fully_booted_first:
                        writer.write(booted + accepted)
                    elif self.send_fully_booted:
                        writer.write(accepted + booted)
                    else:
                        writer.write(accepted)
                    for event in self.after_login:
                        writer.write(render(event))
                    self._authed.add(writer)
                elif name in self.denied:
                    writer.write(
                        render([("Response", "Error"), *aid, ("Message", "Permission denied")])
                    )
                elif name == "ping":
                    if self.answer_pings:
                        writer.write(
                            render(
                                [
                                    ("Response", "Success"),
                                    *aid,
                                    ("Ping", "Pong"),
                                    ("Timestamp", f"{time.time():.6f}"),
                                ]
                            )
                        )
                elif name == "coreshowchannels":
                    self._write_list(
                        writer,
                        aid,
                        "Channels will follow",
                        "CoreShowChannel",
                        self.channels,
                        "CoreShowChannelsComplete",
                    )
                elif name == "queuestatus":
                    self._write_list(
                        writer,
                        aid,
                        "Queue status will follow",
                        None,
                        self.queue_items,
                        "QueueStatusComplete",
                    )
                elif name == "queuesummary":
                    self._write_list(
                        writer,
                        aid,
                        "Queue summary will follow",
                        "QueueSummary",
                        self.summaries,
                        "QueueSummaryComplete",
                    )
                elif name == "originate":
                    if self.answer_originate:
                        writer.write(
                            render(
                                [
                                    ("Response", "Success"),
                                    *aid,
                                    ("Message", "Originate successfully queued"),
                                ]
                            )
                        )
                        if self.originate_outcome is not None:
                            writer.write(
                                render(
                                    [
                                        ("Event", "OriginateResponse"),
                                        ("Privilege", "call,all"),
                                        *aid,
                                        *self.originate_outcome,
                                        ("Channel", action.get("Channel", "")),
                                        ("Context", action.get("Context", "")),
                                        ("Exten", action.get("Exten", "")),
                                    ]
                                )
                            )
                elif name == "hangup" and action.get("Channel") == "PJSIP/9999-00000000":
                    writer.write(
                        render([("Response", "Error"), *aid, ("Message", "No such channel")])
                    )
                elif name == "logoff":
                    writer.write(
                        render(
                            [("Response", "Goodbye"), *aid, ("Message", "Thanks for all the fish.")]
                        )
                    )
                    await writer.drain()
                    writer.close()
                    return
                elif name in (
                    "hangup",
                    "redirect",
                    "blindtransfer",
                    "queuepause",
                    "queueadd",
                    "queueremove",
                    "setvar",
                ):
                    writer.write(render([("Response", "Success"), *aid, ("Message", "Done")]))
                else:
                    writer.write(
                        render(
                            [("Response", "Error"), *aid, ("Message", "Invalid/unknown command")]
                        )
                    )
                await self._notify()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            self._authed.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()
            await self._notify()

    def _login_ok(self, action: dict[str, str], challenge: str | None) -> bool:
        if action.get("Username") != self.username:
            return False
        if action.get("AuthType", "").lower() == "md5":
            if challenge is None:
                return False
            expected = hashlib.md5((challenge + self.secret).encode()).hexdigest()
            return action.get("Key") == expected
        return action.get("Secret") == self.secret

    def _write_list(
        self,
        writer: asyncio.StreamWriter,
        aid: Fields,
        message: str,
        item_event: str | None,
        items: list[Fields],
        complete: str,
    ) -> None:
        out = [
            render([("Response", "Success"), *aid, ("EventList", "start"), ("Message", message)])
        ]
        for item in items:
            if item_event is None:  # the item names its own event (QueueParams, QueueMember...)
                out.append(render([item[0], *aid, *item[1:]]))
            else:
                out.append(render([("Event", item_event), *aid, *item]))
        out.append(
            render(
                [
                    ("Event", complete),
                    *aid,
                    ("EventList", "Complete"),
                    ("ListItems", str(len(items))),
                ]
            )
        )
        writer.write(b"".join(out))


SECRET = "s3cret-Pa55"


def ami_config(port: int, **overrides: object) -> AmiConfig:
    """An [ami] section pointing at the fake server, with delays small enough for tests."""
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "username": "ctihub",
        "secret": SECRET,
        "auth": "plain",
        "connect_timeout": 2.0,
        "action_timeout": 2.0,
        "ping_interval": 60.0,
        "ping_timeout": 1.0,
        "reconnect_min_delay": 0.02,
        "reconnect_max_delay": 0.1,
        "auth_failure_delay": 0.3,
        "fully_booted_timeout": 1.0,
        "list_timeout": 2.0,
    }
    values.update(overrides)
    return AmiConfig.model_validate(values)


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait for a condition the code under test makes true; fail after ``timeout``."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


class Received:
    """Collects what the link hands to ``on_message``, in order."""

    def __init__(self) -> None:
        self.items: list[tuple[dict[str, str], float]] = []

    def __call__(self, message: dict[str, str], at: float) -> None:
        self.items.append((message, at))

    def events(self, name: str) -> list[dict[str, str]]:
        return [m for m, _ in self.items if m.get("Event") == name]


@contextlib.asynccontextmanager
async def running_server(server: FakeAmi | None = None) -> AsyncIterator[FakeAmi]:
    server = server or FakeAmi()
    await server.start()
    try:
        yield server
    finally:
        await server.close()
