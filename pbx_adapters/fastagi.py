"""FastAGI server: Asterisk connects here when the dialplan runs ``AGI(agi://hub/script)``.

panoramisk's ``fast_agi.Request`` is used to send commands and parse replies.
Its ``Application.handler`` is not: on Python 3.11+ it registers plain
functions through the removed ``asyncio.coroutine``, it spins forever when
Asterisk hangs up before the environment is complete (``read()`` returning
``b""`` never ends its loop), and it has no size limit, timeout or address
check. FastAGI has no authentication, so this server only answers the PBX
addresses it is told to trust.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from panoramisk.fast_agi import Request

log = logging.getLogger(__name__)

MAX_ENVIRONMENT_BYTES = 16 * 1024


class AgiHangup(Exception):
    """The caller hung up (``HANGUP`` or ``200 result=-1``); stop the script."""


class AgiError(Exception):
    """Asterisk answered a command with an error status."""


class AgiSession:
    """One FastAGI request: the ``agi_*`` environment and a command channel."""

    def __init__(self, request: Request, command_timeout: float) -> None:
        self._request = request
        self._timeout = command_timeout
        self.env: Mapping[str, str] = request.headers

    @property
    def script(self) -> str:
        return self.env.get("agi_network_script", "")

    @property
    def caller(self) -> str:
        return self.env.get("agi_callerid", "")

    @property
    def uniqueid(self) -> str:
        return self.env.get("agi_uniqueid", "")

    async def command(self, line: str) -> str:
        """Send one AGI command; return its ``result=`` value."""
        if "\n" in line or "\r" in line:
            raise ValueError(f"AGI command contains a line break: {line!r}")
        try:
            reply: dict[str, Any] = await asyncio.wait_for(
                self._request.send_command(line), self._timeout
            )
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            raise AgiHangup(f"connection lost during {line.split()[0]}") from exc
        except ValueError as exc:
            # A reply line over the reader's limit, or not UTF-8: the channel cannot be read.
            raise AgiError(f"unreadable reply to {line.split()[0]}: {exc}") from exc
        error = reply.get("error")
        if error in ("AGIResultHangup", "AGIAppError") or reply.get("result", ("",))[0] == "-1":
            raise AgiHangup(f"caller hung up during {line.split()[0]}")
        if error is not None:
            raise AgiError(f"{line.split()[0]} failed: {reply.get('msg', error)!r}")
        result: str = reply.get("result", ("", ""))[0]
        return result

    async def set_variable(self, name: str, value: str) -> None:
        await self.command(f"SET VARIABLE {name} {_quote(value)}")

    async def verbose(self, text: str, level: int = 1) -> None:
        await self.command(f"VERBOSE {_quote(text)} {level}")

    async def stream_file(self, prompt: str) -> None:
        await self.command(f'STREAM FILE {prompt} ""')

    async def get_data(self, prompt: str, timeout_ms: int, max_digits: int) -> str:
        return await self.command(f"GET DATA {prompt} {timeout_ms} {max_digits}")

    async def say_digits(self, digits: str) -> None:
        await self.command(f'SAY DIGITS {digits} ""')


def _quote(value: str) -> str:
    """Quote an AGI argument when it needs it; never let a value break the line."""
    clean = value.replace("\r", " ").replace("\n", " ").replace('"', "'")
    return f'"{clean}"' if (" " in clean or not clean) else clean


Script = Callable[[AgiSession], Awaitable[None]]


class FastAgiServer:
    """Serves named scripts (``agi://host:4573/<name>``) to allowed PBX addresses."""

    def __init__(
        self,
        scripts: Mapping[str, Script],
        allowed: Iterable[str] = ("127.0.0.1", "::1"),
        env_timeout: float = 5.0,
        command_timeout: float = 30.0,
    ) -> None:
        self._scripts = dict(scripts)
        self._allowed = [ipaddress.ip_network(a, strict=False) for a in allowed]
        self._env_timeout = env_timeout
        self._command_timeout = command_timeout
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()
        self.refused = 0
        self.failed = 0
        self.sessions_served = 0
        """Sessions accepted from allowed peers since start (for metrics)."""

    async def start(self, host: str, port: int) -> int:
        """Listen; return the bound port (useful with port 0)."""
        self._server = await asyncio.start_server(self._handle, host, port)
        bound: int = self._server.sockets[0].getsockname()[1]
        log.info("fastagi listening host=%s port=%d scripts=%s", host, bound, sorted(self._scripts))
        return bound

    @property
    def active_sessions(self) -> int:
        """Sessions in progress."""
        return len(self._sessions)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._sessions):
            task.cancel()
        await asyncio.gather(*self._sessions, return_exceptions=True)

    def _is_allowed(self, peer: Any) -> bool:
        try:
            address = ipaddress.ip_address(peer[0])
        except (TypeError, ValueError, IndexError):
            return False
        return any(address in net for net in self._allowed)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._sessions.add(task)
        peer = writer.get_extra_info("peername")
        try:
            if not self._is_allowed(peer):
                self.refused += 1
                log.warning("fastagi refused peer=%s (not an allowed PBX address)", peer)
                return
            self.sessions_served += 1
            env = await self._read_environment(reader, peer)
            if env is None:
                return
            await self._run(env, reader, writer)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            if task is not None:
                self._sessions.discard(task)

    async def _read_environment(
        self, reader: asyncio.StreamReader, peer: Any
    ) -> dict[str, str] | None:
        env: dict[str, str] = {}
        size = 0
        try:
            async with asyncio.timeout(self._env_timeout):
                while True:
                    try:
                        line = await reader.readline()
                    except ValueError:  # a line over the reader's limit (64 KiB)
                        log.warning("fastagi peer=%s environment line too long", peer)
                        return None
                    if not line:
                        log.warning("fastagi peer=%s hung up inside the environment", peer)
                        return None
                    size += len(line)
                    if size > MAX_ENVIRONMENT_BYTES:
                        log.warning("fastagi peer=%s environment over %d bytes", peer, size)
                        return None
                    text = line.decode("utf-8", "replace").rstrip("\r\n")
                    if not text:
                        return env
                    name, sep, value = text.partition(": ")
                    if sep or text.endswith(":"):
                        env[name.rstrip(":")] = value
        except TimeoutError:
            log.warning("fastagi peer=%s sent no complete environment in time", peer)
            return None

    async def _run(
        self, env: dict[str, str], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        name = env.get("agi_network_script", "").strip("/")
        script = self._scripts.get(name)
        session = AgiSession(Request(None, env, reader, writer), self._command_timeout)
        call = session.uniqueid
        if script is None:
            log.error("fastagi no script=%r call=%s", name, call)
            return
        try:
            await script(session)
        except AgiHangup as exc:
            log.info("fastagi script=%s call=%s ended: %s", name, call, exc)
        except (AgiError, TimeoutError, OSError) as exc:
            self.failed += 1
            log.error("fastagi script=%s call=%s failed: %s", name, call, exc)
