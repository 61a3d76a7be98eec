"""Asterisk's side of FastAGI: connect to the hub's IVR, send ``agi_*``, answer its commands.

The session follows ``tests/fixtures/agi``: the environment lines, a blank
line, then one ``200 result=…`` reply per command. ``GET DATA`` is answered
with the digits the simulated caller keys (DTMF events are emitted on the
channel as they would be), ``SET VARIABLE`` sets the channel variable (a
``VarSet`` event), and the dialplan then continues on the variables set.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger(__name__)


class CallSide(Protocol):
    """What the AGI session may do to the simulated call."""

    def set_variable(self, name: str, value: str) -> None: ...

    def get_variable(self, name: str) -> str | None: ...

    def key_digits(self, max_digits: int) -> str:
        """The caller keys digits now; returns them without the terminating ``#``."""
        ...

    def hang_up(self) -> None: ...

    def is_hung_up(self) -> bool: ...


@dataclass(slots=True)
class AgiOutcome:
    """How a FastAGI session went."""

    status: str = "SUCCESS"
    """AGISTATUS as Asterisk would set it: SUCCESS, FAILURE or HANGUP."""
    commands: list[str] = field(default_factory=list)


async def play_fastagi(
    host: str,
    port: int,
    environment: list[tuple[str, str]],
    call: CallSide,
    *,
    timeout: float = 5.0,
    prompt_seconds: float = 0.0,
) -> AgiOutcome:
    """Run one FastAGI session against ``host:port``; never raises for network trouble."""
    outcome = AgiOutcome()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError) as exc:
        log.warning("fastagi connect failed host=%s port=%d error=%s", host, port, exc)
        outcome.status = "FAILURE"
        return outcome
    try:
        head = "".join(f"{name}: {value}\n" for name, value in environment) + "\n"
        writer.write(head.encode())
        await writer.drain()
        while True:
            if call.is_hung_up():
                writer.write(b"HANGUP\n")
                await writer.drain()
                outcome.status = "HANGUP"
                break
            try:
                line = await asyncio.wait_for(reader.readline(), timeout)
            except TimeoutError:
                log.warning("fastagi server silent for %.1fs; ending session", timeout)
                outcome.status = "FAILURE"
                break
            if not line:
                break
            command = line.decode("utf-8", "replace").strip()
            if not command:
                continue
            outcome.commands.append(command)
            reply = await _run_command(command, call, prompt_seconds)
            writer.write((reply + "\n").encode())
            await writer.drain()
            if command.upper().startswith("HANGUP"):
                outcome.status = "HANGUP"
                break
    except (ConnectionError, OSError) as exc:
        log.warning("fastagi session broken error=%s", exc)
        outcome.status = "FAILURE"
    finally:
        writer.close()
    return outcome


async def _run_command(command: str, call: CallSide, prompt_seconds: float) -> str:
    try:
        words = shlex.split(command)
    except ValueError:
        return "520 Invalid command syntax.  Proper usage not available."
    if not words:
        return "510 Invalid or unknown command"
    verb = words[0].upper()
    args = words[1:]
    if verb == "SET" and args[:1] and args[0].upper() == "VARIABLE" and len(args) >= 3:
        call.set_variable(args[1], args[2])
        return "200 result=1"
    if verb == "GET" and args[:1] and args[0].upper() == "VARIABLE" and len(args) >= 2:
        value = call.get_variable(args[1])
        return "200 result=0" if value is None else f"200 result=1 ({value})"
    if verb == "GET" and args[:1] and args[0].upper() == "DATA":
        max_digits = int(args[3]) if len(args) >= 4 and args[3].isdigit() else 64
        digits = call.key_digits(max_digits)
        return f"200 result={digits}" if digits else "200 result= (timeout)"
    if verb in ("STREAM", "CONTROL") or (verb == "EXEC" and args[:1] == ["Playback"]):
        if prompt_seconds:
            await asyncio.sleep(prompt_seconds)
        return "200 result=0 endpos=39520"
    if verb in ("SAY", "ANSWER", "NOOP", "EXEC", "WAIT"):
        return "200 result=0"
    if verb == "VERBOSE":
        return "200 result=1"
    if verb == "HANGUP":
        call.hang_up()
        return "200 result=1"
    if verb == "CHANNEL" and args[:1] and args[0].upper() == "STATUS":
        return "200 result=6"
    return "510 Invalid or unknown command"
