"""A hostile or broken FastAGI peer: oversized lines and malformed replies never raise out of
a session, and the server answers the next call as usual."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pbx_adapters.fastagi import FastAgiServer
from pbx_adapters.ivr import IvrScripts
from tests.pbx_adapters.test_ivr import Directory, play_asterisk, recorded_sessions

TEN_MB = b"9" * (10 * 1024 * 1024)


@pytest.fixture
async def agi() -> AsyncIterator[tuple[FastAgiServer, int, list[dict[str, Any]]]]:
    """A FastAGI server with the IVR, and every error the event loop was told of."""
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: unhandled.append(context))
    server = FastAgiServer(IvrScripts(Directory()).scripts(), command_timeout=2.0)
    port = await server.start("127.0.0.1", 0)
    try:
        yield server, port, unhandled
    finally:
        await server.stop()
        loop.set_exception_handler(previous)


async def still_answers(port: int) -> None:
    env = recorded_sessions("ivr_contract_expired")[0][0]
    sent = await asyncio.wait_for(play_asterisk(port, env, {}), 10)
    assert sent and sent[0].startswith("VERBOSE")


async def hostile_session(port: int, env: list[str], after_command: bytes) -> list[bytes]:
    """Send the environment, answer the first command with ``after_command``; return what
    the server sent before closing."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(("\n".join(env) + "\n\n").encode())
    commands = [await asyncio.wait_for(reader.readline(), 5)]
    try:
        writer.write(after_command)
        await writer.drain()
        while line := await asyncio.wait_for(reader.readline(), 10):
            commands.append(line)
            writer.write(after_command)
            await writer.drain()
    except (ConnectionError, TimeoutError):
        pass
    writer.close()
    return commands


async def test_a_ten_megabyte_environment_line_is_refused(
    agi: tuple[FastAgiServer, int, list[dict[str, Any]]],
) -> None:
    _, port, unhandled = agi
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"agi_network_script: tracking\nagi_callerid: " + TEN_MB)
    with pytest.raises((ConnectionError, TimeoutError)):
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 10) == b""
        raise ConnectionError("closed by the server")
    writer.close()
    await still_answers(port)
    assert unhandled == []


@pytest.mark.parametrize(
    "reply",
    [
        TEN_MB + b"\n",
        b"200 result=\xff\xfe\xfd\n",
        b"garbage\n",
        b"200\n",
        b"200 result=123456789012345678901234567890\n",
        b"200 result=4001#2345 (timeout)\n",
        b"520-Invalid command syntax.\n",
        b"100 Trying...\n" * 1000,
        b"\x00\x01\x02\n",
    ],
    ids=[
        "10MB",
        "not-utf8",
        "garbage",
        "no-result",
        "huge-number",
        "hash",
        "usage",
        "trying",
        "nul",
    ],
)
async def test_a_malformed_get_data_reply_never_raises_out_of_the_session(
    agi: tuple[FastAgiServer, int, list[dict[str, Any]]], reply: bytes
) -> None:
    _, port, unhandled = agi
    env = recorded_sessions("ivr_tracking_code")[1][0]
    commands = await asyncio.wait_for(hostile_session(port, env, reply), 30)
    assert commands[0].startswith(b"GET DATA")
    await still_answers(port)
    assert unhandled == [], unhandled
