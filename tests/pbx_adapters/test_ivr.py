"""The IVR over real FastAGI, with Asterisk's side played from the recorded sessions."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from pbx_adapters.fastagi import FastAgiServer
from pbx_adapters.ivr import CallerProfile, CaseStatus, IvrScripts

AGI = Path(__file__).resolve().parents[1] / "fixtures" / "agi"
VIP = "+982188776655"


def recorded_sessions(name: str) -> list[tuple[list[str], list[tuple[str, str]]]]:
    """Each session: the environment lines, then (command, Asterisk's reply) pairs."""
    sessions: list[tuple[list[str], list[tuple[str, str]]]] = []
    for line in (AGI / f"{name}.agi").read_text().splitlines():
        if line.startswith("###"):
            sessions.append(([], []))
        elif line.startswith("<< ") or line == "<<":
            text = line[3:]
            env, pairs = sessions[-1]
            if pairs:
                pairs[-1] = (pairs[-1][0], text)
            else:
                env.append(text)
        elif line.startswith(">> "):
            sessions[-1][1].append((line[3:], ""))
    return sessions


class Directory:
    def __init__(self, contract: str = "active", delay: float = 0.0) -> None:
        self.contract = contract
        self.delay = delay
        self.lookups: list[str] = []

    def is_well_formed(self, code: str) -> bool:
        return code.isdigit() and len(code) == 8 and not code.startswith("9")

    async def caller_profile(self, caller: str) -> CallerProfile:
        self.lookups.append(caller)
        await asyncio.sleep(self.delay)
        if caller == VIP:
            return CallerProfile(self.contract, "17", "1003", vip=True)
        return CallerProfile(self.contract)

    async def case_by_code(self, code: str) -> CaseStatus | None:
        self.lookups.append(code)
        return CaseStatus(code, "open", "1002") if code == "40012345" else None


async def play_asterisk(
    port: int, env: list[str], replies: dict[str, str], keyed: list[str] | None = None
) -> list[str]:
    """Be Asterisk: send the environment, answer each command, return the commands."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(("\n".join(env) + "\n").encode())
    if env[-1] != "":
        writer.write(b"\n")
    sent: list[str] = []
    keyed = list(keyed or [])
    while True:
        line = await asyncio.wait_for(reader.readline(), 5)
        if not line:
            break
        command = line.decode().rstrip("\n")
        sent.append(command)
        verb = " ".join(command.split()[:2])
        if verb == "GET DATA" and keyed:
            reply = f"200 result={keyed.pop(0)}"
        else:
            reply = replies.get(verb, "200 result=1")
        writer.write((reply + "\n").encode())
        await writer.drain()
    writer.close()
    return sent


def replies_of(pairs: list[tuple[str, str]]) -> dict[str, str]:
    return {" ".join(command.split()[:2]): reply for command, reply in pairs}


ServerFor = Callable[..., Awaitable[int]]


@pytest.fixture
async def server_for() -> AsyncIterator[ServerFor]:
    servers: list[FastAgiServer] = []

    async def start(directory: Directory, **kwargs: object) -> int:
        server = FastAgiServer(IvrScripts(directory, **kwargs).scripts())  # type: ignore[arg-type]
        servers.append(server)
        return await server.start("127.0.0.1", 0)

    yield start
    for server in servers:
        await server.stop()


def is_subsequence(wanted: list[str], sent: list[str]) -> bool:
    it = iter(sent)
    return all(any(w == s for s in it) for w in wanted)


async def test_tracking_code_session_speaks_as_the_recorded_ivr_did(server_for: ServerFor) -> None:
    directory = Directory()
    port = await server_for(directory)
    for env, pairs in recorded_sessions("ivr_tracking_code"):
        sent = await play_asterisk(port, env, replies_of(pairs))
        assert is_subsequence([command for command, _ in pairs], sent), sent
    assert directory.lookups == ["+982133445566", "40012345"]


async def test_expired_contract_session_plays_the_prompt_and_sets_the_variable(
    server_for: ServerFor,
) -> None:
    port = await server_for(Directory(contract="expired"))
    ((env, pairs),) = recorded_sessions("ivr_contract_expired")
    sent = await play_asterisk(port, env, replies_of(pairs))
    assert sent == [command for command, _ in pairs]
    assert "SET VARIABLE CTIHUB_CONTRACT expired" in sent


async def test_mistyped_code_is_refused_before_any_lookup_and_asked_again(
    server_for: ServerFor,
) -> None:
    directory = Directory()
    port = await server_for(directory)
    env = recorded_sessions("ivr_tracking_code")[1][0]
    sent = await play_asterisk(port, env, {}, keyed=["90012345", "40012345"])
    assert sent[:2] == ["GET DATA beep 6000 8", "GET DATA invalid 6000 8"]
    assert directory.lookups == ["40012345"]
    assert "SET VARIABLE CTIHUB_CASE_OWNER 1002" in sent


async def test_slow_crm_fails_open_so_the_caller_is_queued(server_for: ServerFor) -> None:
    port = await server_for(Directory(contract="expired", delay=2.0), lookup_timeout=0.05)
    env = recorded_sessions("ivr_contract_expired")[0][0]
    sent = await play_asterisk(port, env, {})
    assert "SET VARIABLE CTIHUB_CONTRACT unknown" in sent
    assert not any(command.startswith("STREAM FILE") for command in sent)


async def test_caller_hanging_up_mid_script_ends_the_session_quietly(
    server_for: ServerFor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    port = await server_for(Directory())
    env = recorded_sessions("ivr_tracking_code")[1][0]
    sent = await play_asterisk(port, env, {"GET DATA": "200 result=-1"})
    assert sent == ["GET DATA beep 6000 8"]
    assert "hung up" in caplog.text


async def test_half_sent_environment_does_not_hang_the_server(server_for: ServerFor) -> None:
    port = await server_for(Directory())
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"agi_network: yes\nagi_network_script: tracking\n")
    writer.close()  # Asterisk gone before the blank line
    # The server must still serve the next call promptly.
    env = recorded_sessions("ivr_contract_expired")[0][0]
    sent = await asyncio.wait_for(play_asterisk(port, env, {}), 5)
    assert sent[0].startswith("VERBOSE")


async def test_peers_outside_the_allow_list_are_refused() -> None:
    server = FastAgiServer(IvrScripts(Directory()).scripts(), allowed=["10.9.9.9/32"])
    port = await server.start("127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"agi_network_script: contract\n\n")
        try:
            answer = await asyncio.wait_for(reader.read(), 5)
        except ConnectionResetError:
            answer = b""
        assert answer == b"", "not one AGI command is sent to a stranger"
        assert server.refused == 1
    finally:
        await server.stop()


async def test_short_code_ended_with_hash_is_refused_then_the_right_one_accepted(
    server_for: ServerFor,
) -> None:
    """The recorded session: ``4001999#`` (GET DATA ends on the ``#``), then ``40012345``."""
    directory = Directory()
    port = await server_for(directory)
    _contract, tracking = recorded_sessions("ivr_tracking_code_hash_retry")
    keyed = [
        reply.removeprefix("200 result=")
        for command, reply in tracking[1]
        if command.startswith("GET DATA")
    ]
    assert keyed == ["4001999", "40012345"]
    sent = await play_asterisk(port, tracking[0], {}, keyed=keyed)
    assert [c for c in sent if c.startswith("GET DATA")] == [
        "GET DATA beep 6000 8",
        "GET DATA invalid 6000 8",
    ]
    assert directory.lookups == ["40012345"], "the short code is refused before any lookup"
    assert "SET VARIABLE CTIHUB_CASE 40012345" in sent


async def test_the_stray_hash_after_a_full_wrong_code_does_not_cost_the_callers_retry(
    server_for: ServerFor,
) -> None:
    """``40019999#``: GET DATA ends on the 8th digit, the ``#`` ends the next one at once
    (``200 result=``); the caller must still get the retry, not be queued."""
    directory = Directory()
    port = await server_for(directory)
    env = recorded_sessions("ivr_tracking_code_hash_retry")[1][0]
    sent = await play_asterisk(port, env, {}, keyed=["40019999", "", "40012345"])
    assert [c for c in sent if c.startswith("GET DATA")] == [
        "GET DATA beep 6000 8",
        "GET DATA invalid 6000 8",
        "GET DATA invalid 6000 8",
    ]
    assert directory.lookups == ["40019999", "40012345"]
    assert "SET VARIABLE CTIHUB_CASE_OWNER 1002" in sent


async def test_a_caller_who_keys_nothing_after_a_wrong_code_is_asked_as_configured(
    server_for: ServerFor,
) -> None:
    port = await server_for(Directory(), attempts=3)
    env = recorded_sessions("ivr_tracking_code")[1][0]
    sent = await play_asterisk(port, env, {}, keyed=["4001999", "", ""])
    assert len([c for c in sent if c.startswith("GET DATA")]) == 3
    assert not any(c.startswith("SET VARIABLE CTIHUB_CASE") for c in sent)


async def test_contract_script_routes_a_vip_customer_to_their_own_agent_at_a_higher_priority(
    server_for: ServerFor,
) -> None:
    port = await server_for(Directory(), vip_priority=7)
    ((env, _),) = recorded_sessions("ivr_contract_expired")
    env = [f"agi_callerid: {VIP}" if line.startswith("agi_callerid:") else line for line in env]
    sent = await play_asterisk(port, env, {})
    assert sent[1:] == [
        "SET VARIABLE CTIHUB_CONTRACT active",
        "SET VARIABLE CTIHUB_CUSTOMER 17",
        "SET VARIABLE CTIHUB_OWNER 1003",
        "SET VARIABLE CTIHUB_PRIORITY 7",
    ]
