"""For IVR calls the simulator plays Asterisk's side of FastAGI against a real server.

The server here plays the hub's IVR the way ``tests/fixtures/agi/*.agi``
show it: ``contract`` sets CTIHUB_CONTRACT; ``tracking`` asks GET DATA and
sets CTIHUB_CASE and CTIHUB_CASE_OWNER.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

import pbx_adapters.fastagi as fastagi
import pbx_adapters.ivr as ivr_module
from pbx_adapters.simulator import CallPlan, Scenario, Simulator, SimulatorSettings, lab_pbx

TIMEOUT = 5.0
EXPIRED_CALLER = "+982166554433"


@dataclass
class IvrServer:
    """A FastAGI server acting as the hub's IVR; records what Asterisk's side sent."""

    sessions: list[dict[str, str]] = field(default_factory=list)
    replies: list[list[str]] = field(default_factory=list)
    done: asyncio.Queue[str] = field(default_factory=asyncio.Queue)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        env: dict[str, str] = {}
        order: list[str] = []
        while (line := (await reader.readline()).decode().rstrip("\n")) != "":
            name, _, value = line.partition(": ")
            env[name] = value
            order.append(name)
        env["_order"] = ",".join(order)
        self.sessions.append(env)
        replies: list[str] = []
        self.replies.append(replies)

        async def command(text: str) -> str:
            writer.write((text + "\n").encode())
            await writer.drain()
            reply = (await reader.readline()).decode().strip()
            replies.append(reply)
            return reply

        script = env["agi_network_script"]
        if script == "contract":
            caller = env["agi_callerid"]
            await command(f'VERBOSE "contract check for {caller}" 1')
            state = "expired" if caller == EXPIRED_CALLER else "active"
            await command(f"SET VARIABLE CTIHUB_CONTRACT {state}")
            if state == "expired":
                await command('STREAM FILE ss-noservice ""')
        else:
            reply = await command("GET DATA beep 6000 8")
            code = reply.removeprefix("200 result=")
            await command(f"SET VARIABLE CTIHUB_CASE {code}")
            await command("SET VARIABLE CTIHUB_CASE_OWNER 1002")
            await command(f'SAY DIGITS {code} ""')
        writer.close()
        await self.done.put(script)


@pytest.fixture
async def ivr() -> AsyncIterator[tuple[IvrServer, int]]:
    server = IvrServer()
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        yield server, port
    finally:
        listener.close()


async def _run_call(
    port: int, plan: CallPlan, scripts: int, ivr: IvrServer
) -> list[dict[str, str]]:
    scenario = Scenario(lab_pbx(start_epoch=1795392525.0))
    scenario.pbx.emit_noise_events = False
    sim = Simulator(scenario, SimulatorSettings(agi_port=port, speed=20.0, secret="x"))
    events: list[dict[str, str]] = []
    sim.model.add_listener(lambda at, fields: events.append(dict(fields)))
    await sim.start("127.0.0.1", 0)
    try:
        sim.perform({"Action": "QueuePause", "Interface": "Local/1003@from-queue/n", "Paused": "1"})
        linkedid = sim.place_inbound_call(plan)
        for _ in range(scripts):
            await asyncio.wait_for(ivr.done.get(), TIMEOUT)
        async with asyncio.timeout(TIMEOUT):
            while not any(
                e.get("Event") == "Hangup" and e.get("Uniqueid") == linkedid for e in events
            ):
                await asyncio.sleep(0.01)
    finally:
        await sim.stop()
    return events


async def test_expired_contract_ends_the_call_in_the_ivr(ivr: tuple[IvrServer, int]) -> None:
    server, port = ivr
    events = await _run_call(port, CallPlan(EXPIRED_CALLER, "2188000001"), 1, server)

    assert [s["agi_network_script"] for s in server.sessions] == ["contract"]
    env = server.sessions[0]
    # Keys and order as in tests/fixtures/agi/ivr_contract_expired.agi.
    assert env["_order"].split(",") == [
        "agi_network",
        "agi_network_script",
        "agi_request",
        "agi_channel",
        "agi_language",
        "agi_type",
        "agi_uniqueid",
        "agi_version",
        "agi_callerid",
        "agi_calleridname",
        "agi_callingpres",
        "agi_callingani2",
        "agi_callington",
        "agi_callingtns",
        "agi_dnid",
        "agi_rdnis",
        "agi_context",
        "agi_extension",
        "agi_priority",
        "agi_enhanced",
        "agi_accountcode",
        "agi_threadid",
    ]
    assert env["agi_request"] == f"agi://127.0.0.1:{port}/contract"
    assert env["agi_callerid"] == EXPIRED_CALLER
    assert env["agi_extension"] == "2188000001"
    assert env["agi_channel"].startswith("Local/2188000001@from-trunk-")
    assert server.replies[0] == ["200 result=1", "200 result=1", "200 result=0 endpos=39520"]
    varsets = [(e["Variable"], e["Value"]) for e in events if e.get("Event") == "VarSet"]
    assert ("CTIHUB_CONTRACT", "expired") in varsets
    names = {e.get("Event") for e in events}
    assert "QueueCallerJoin" not in names
    assert "AgentCalled" not in names


async def test_active_contract_with_tracking_code_goes_to_the_case_owner(
    ivr: tuple[IvrServer, int],
) -> None:
    server, port = ivr
    plan = CallPlan("+982133445566", "2188000001", ivr_digits="40012345#", talk=2.0)
    events = await _run_call(port, plan, 2, server)

    assert [s["agi_network_script"] for s in server.sessions] == ["contract", "tracking"]
    # GET DATA is answered with the keyed digits, without the '#'.
    assert server.replies[1][0] == "200 result=40012345"
    digits = "".join(e["Digit"] for e in events if e.get("Event") == "DTMFEnd")
    assert digits == "40012345#"
    varsets = {e["Variable"]: e["Value"] for e in events if e.get("Event") == "VarSet"}
    assert varsets["CTIHUB_CASE"] == "40012345"
    assert varsets["CTIHUB_CASE_OWNER"] == "1002"
    # 1001 is free and first in rrmemory order; the owner 1002 is rung instead.
    called = [e["MemberName"] for e in events if e.get("Event") == "AgentCalled"]
    assert called == ["Sara Ahmadi"]
    assert any(
        e.get("Event") == "AgentConnect" and e["Interface"] == "Local/1002@from-queue/n"
        for e in events
    )


async def test_unreachable_ivr_fails_open_and_the_caller_is_queued() -> None:
    # Nothing listens on this port: Asterisk sets AGISTATUS=FAILURE and the dialplan goes on.
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    scenario = Scenario(lab_pbx(start_epoch=1795392525.0))
    sim = Simulator(scenario, SimulatorSettings(agi_port=port, speed=20.0, agi_timeout=1.0))
    events: list[dict[str, str]] = []
    sim.model.add_listener(lambda at, fields: events.append(dict(fields)))
    await sim.start("127.0.0.1", 0)
    try:
        sim.place_inbound_call(CallPlan("+982133445566", "2188000001", talk=1.0))
        async with asyncio.timeout(TIMEOUT):
            while not any(e.get("Event") == "QueueCallerJoin" for e in events):
                await asyncio.sleep(0.01)
    finally:
        await sim.stop()
    assert not any(e.get("Variable") == "CTIHUB_CONTRACT" for e in events)


async def test_the_hubs_own_ivr_scripts_route_the_call_to_the_case_owner() -> None:

    class Directory:
        """A stand-in CRM: one case, owned by 1002; the expired caller's contract."""

        def is_well_formed(self, code: str) -> bool:
            return code.isdigit() and len(code) == 8

        async def caller_profile(self, caller: str) -> ivr_module.CallerProfile:
            return ivr_module.CallerProfile("expired" if caller == EXPIRED_CALLER else "active")

        async def case_by_code(self, code: str) -> ivr_module.CaseStatus | None:
            return ivr_module.CaseStatus(code, "open", "1002") if code == "40012345" else None

    server = fastagi.FastAgiServer(ivr_module.IvrScripts(Directory()).scripts())
    port = await server.start("127.0.0.1", 0)
    scenario = Scenario(lab_pbx(start_epoch=1795392525.0))
    scenario.pbx.emit_noise_events = False
    sim = Simulator(scenario, SimulatorSettings(agi_port=port, speed=20.0))
    events: list[dict[str, str]] = []
    sim.model.add_listener(lambda at, fields: events.append(dict(fields)))
    await sim.start("127.0.0.1", 0)
    try:
        owner_call = sim.place_inbound_call(
            CallPlan("+982133445566", "2188000001", ivr_digits="40012345#", talk=2.0)
        )
        expired_call = sim.place_inbound_call(CallPlan(EXPIRED_CALLER, "2188000001"))
        async with asyncio.timeout(TIMEOUT):
            while not all(
                any(e.get("Event") == "Hangup" and e.get("Uniqueid") == call for e in events)
                for call in (owner_call, expired_call)
            ):
                await asyncio.sleep(0.01)
    finally:
        await sim.stop()
        await server.stop()

    def variables(linkedid: str) -> dict[str, str]:
        return {
            e["Variable"]: e["Value"]
            for e in events
            if e.get("Event") == "VarSet" and e.get("Linkedid") == linkedid
        }

    assert variables(expired_call)["CTIHUB_CONTRACT"] == "expired"
    assert not any(
        e.get("Event") == "QueueCallerJoin" and e.get("Linkedid") == expired_call for e in events
    )
    owner_vars = variables(owner_call)
    assert owner_vars["CTIHUB_CONTRACT"] == "active"
    assert owner_vars["CTIHUB_CASE"] == "40012345"
    assert owner_vars["CTIHUB_CASE_OWNER"] == "1002"
    connected = [
        e["MemberName"]
        for e in events
        if e.get("Event") == "AgentConnect" and e.get("Linkedid") == owner_call
    ]
    assert connected == ["Sara Ahmadi"]
