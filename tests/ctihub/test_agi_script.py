"""``ctihub-agi`` run as Asterisk runs it: a process per call, AGI on its stdin and stdout.

The hub is the whole daemon (demo CRM, panel server with ``/api/v1/ivr/*``);
this test plays Asterisk, with the AGI environment and the replies recorded
from a real Asterisk 22 (``tests/fixtures/agi``), and checks that the script
sets the channel variables the FastAGI scripts set there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from ctihub.daemon import Hub
from tests.ctihub.test_daemon import settings_for

FIXTURES = Path(__file__).parents[1] / "fixtures" / "agi"
TOKEN = "ivr-" + "k" * 40
SCRIPT = Path(sys.executable).with_name("ctihub-agi")


def recorded_environment(name: str, script: str) -> list[str]:
    """The ``agi_*`` lines Asterisk sent for ``script`` in a recorded session, made classic."""
    lines, session = [], None
    for line in (FIXTURES / f"{name}.agi").read_text().splitlines():
        if line.startswith("### session"):
            session = line.rsplit(": ", 1)[1]
        elif session == script and line.startswith("<< agi_"):
            key, _, value = line[3:].partition(": ")
            if key in ("agi_network", "agi_network_script"):
                continue  # FastAGI only
            lines.append(f"{key}: {'ctihub-agi' if key == 'agi_request' else value}")
    assert lines, f"no {script} session in {name}"
    return lines


async def play_asterisk(
    env: dict[str, str], args: list[str], agi_env: list[str], keyed: list[str]
) -> list[str]:
    """Run the script, answer each command as Asterisk does; the commands it sent."""
    process = await asyncio.create_subprocess_exec(
        str(SCRIPT),
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(("\n".join(agi_env) + "\n\n").encode())
    await process.stdin.drain()
    commands: list[str] = []
    async with asyncio.timeout(30):
        while line := (await process.stdout.readline()).decode().strip():
            commands.append(line)
            verb = line.split()[0]
            if verb == "GET":
                reply = f"200 result={keyed.pop(0)}" if keyed else "200 result= (timeout)"
            elif verb == "STREAM":
                reply = "200 result=0 endpos=32960"
            elif verb == "SAY":
                reply = "200 result=0"
            else:
                reply = "200 result=1"
            process.stdin.write(reply.encode() + b"\n")
            await process.stdin.drain()
        _, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    assert "+9821" not in stderr.decode(), "callers' numbers stay out of the PBX's log"
    return commands


def script_env(hub_url: str, token: str = TOKEN, timeout: str = "") -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", ""), "CTIHUB_AGI_CONFIG": "/nonexistent.toml"}
    env |= {"CTIHUB_AGI_HUB_URL": hub_url, "CTIHUB_AGI_TOKEN": token}
    return env


@pytest.fixture
async def hub_url(tmp_path: Path) -> AsyncIterator[str]:
    settings = settings_for(tmp_path, "ivr_tracking_code.toml", CTIHUB_HTTP__IVR_TOKEN=TOKEN)
    hub = Hub(settings, demo=True)
    await hub.start()
    try:
        assert hub.panel_url is not None
        yield hub.panel_url.rstrip("/")
    finally:
        await hub.stop()


async def test_an_active_contract_is_set_as_fastagi_sets_it(hub_url: str) -> None:
    env = recorded_environment("ivr_tracking_code", "contract")
    commands = await play_asterisk(script_env(hub_url), ["contract"], env, [])
    assert commands == ['SET VARIABLE "CTIHUB_CONTRACT" "active"']


async def test_an_expired_contract_is_set_and_the_caller_told(hub_url: str) -> None:
    env = recorded_environment("ivr_contract_expired", "contract")
    commands = await play_asterisk(script_env(hub_url), ["contract"], env, [])
    assert commands == [
        'SET VARIABLE "CTIHUB_CONTRACT" "expired"',
        'STREAM FILE ss-noservice "" 0',
    ]


async def test_a_mistyped_code_is_retried_then_the_case_routes_to_its_owner(hub_url: str) -> None:
    # As recorded: "4001999#" (seven digits, ended by '#'), then the right code.
    env = recorded_environment("ivr_tracking_code_hash_retry", "tracking")
    commands = await play_asterisk(script_env(hub_url), ["tracking"], env, ["4001999", "40012345"])
    assert commands == [
        "GET DATA beep 6000 8",
        'STREAM FILE invalid "" 0',
        "GET DATA beep 6000 8",
        'SET VARIABLE "CTIHUB_CASE" "40012345"',
        'SET VARIABLE "CTIHUB_CASE_STATUS" "pending"',  # as the demo CRM holds it
        'SET VARIABLE "CTIHUB_CASE_OWNER" "1002"',
        'SAY DIGITS "40012345" ""',
    ]


async def test_a_wrong_token_fails_open(hub_url: str) -> None:
    env = recorded_environment("ivr_contract_expired", "contract")
    wrong = script_env(hub_url, token="not-" + TOKEN)
    assert await play_asterisk(wrong, ["contract"], env, []) == [
        'SET VARIABLE "CTIHUB_CONTRACT" "unknown"'
    ]
    commands = await play_asterisk(wrong, ["tracking"], env, ["40012345"])
    assert commands == ["GET DATA beep 6000 8"]


async def test_a_hub_that_is_down_fails_open() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    env = recorded_environment("ivr_contract_expired", "contract")
    commands = await play_asterisk(script_env(f"http://127.0.0.1:{port}"), ["contract"], env, [])
    assert commands == ['SET VARIABLE "CTIHUB_CONTRACT" "unknown"']


@contextlib.asynccontextmanager
async def silent_hub() -> AsyncIterator[str]:
    """An HTTP server that accepts and never answers."""

    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(60)
        return web.Response()

    app = web.Application()
    app.router.add_get("/{tail:.*}", hang)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_a_hub_that_does_not_answer_fails_open_within_the_timeout(tmp_path: Path) -> None:
    config = tmp_path / "agi.toml"
    config.write_text('timeout = 0.3\n[prompts]\ncontract_expired = "custom-expired"\n')
    env = recorded_environment("ivr_contract_expired", "contract")
    async with silent_hub() as url:
        started = time.monotonic()
        commands = await play_asterisk(
            script_env(url), ["contract", "--config", str(config)], env, []
        )
        elapsed = time.monotonic() - started
    assert commands == ['SET VARIABLE "CTIHUB_CONTRACT" "unknown"']
    assert elapsed < 10, "the caller is not kept waiting for a silent hub"


async def test_the_ivr_api_refuses_without_the_token_and_names_a_bad_field(hub_url: str) -> None:
    async with aiohttp.ClientSession() as session:
        bare = await session.get(f"{hub_url}/api/v1/ivr/contract", params={"caller": "1"})
        assert bare.status == 401
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        bad = await session.get(f"{hub_url}/api/v1/ivr/case?code=12ab", headers=bearer)
        assert bad.status == 400
        assert "code" in (await bad.json())["error"]
        unknown = await session.get(f"{hub_url}/api/v1/ivr/case?code=40012346", headers=bearer)
        assert await unknown.json() == {"well_formed": False, "case": None}
