"""Two hub nodes behind one PBX, as a multi-node deployment runs them: PostgreSQL for the
CRM, Redis Streams for the events, a Redis lease for the single AMI link."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from pathlib import Path

import pytest

from ctihub.daemon import Hub
from ctihub.settings import Settings, load_settings
from pbx_adapters.simulator import CallPlan, Scenario, Simulator, SimulatorSettings, lab_pbx
from tests.cti.panel_client import agent_socket, next_pbx_link, next_pop

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


async def until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)
    assert condition(), what


def holds_link(hub: Hub) -> bool:
    return hub.feed is not None and hub.feed.link.is_ready


async def test_pops_reach_an_agent_on_the_other_node_and_the_standby_takes_over(
    postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    pbx = Simulator(Scenario(lab_pbx()), SimulatorSettings(secret="two-nodes-secret"))
    ami_port = await pbx.start("127.0.0.1", 0, run_scenario=False)
    for other in ("1002", "1003"):  # every call goes to ali (1001), as in the lab traces
        pbx.perform(
            {
                "Action": "QueuePause",
                "Interface": f"Local/{other}@from-queue/n",
                "Paused": "true",
                "Reason": "lab",
            }
        )
    prefix = f"ctihub-test-{secrets.token_hex(4)}:"

    def node(name: str) -> Settings:
        return load_settings(
            None,
            env={
                "CTIHUB_PBX": "asterisk",
                "CTIHUB_AMI__PORT": str(ami_port),
                "CTIHUB_AMI__SECRET": "two-nodes-secret",
                "CTIHUB_AMI__RECONNECT_MAX_DELAY": "0.5",
                "CTIHUB_DATABASE__URL": postgres_url,
                "CTIHUB_CRM__SPOOL_DIR": str(tmp_path / name),
                "CTIHUB_BUS__BACKEND": "redis",
                "CTIHUB_BUS__REDIS_URL": redis_url,
                "CTIHUB_BUS__KEY_PREFIX": prefix,
                "CTIHUB_BUS__NODE_ID": name,
                "CTIHUB_BUS__LEASE_TTL_SECONDS": "2.0",
                "CTIHUB_BUS__BLOCK_SECONDS": "0.2",
                "CTIHUB_AGI__ENABLED": "false",
                "CTIHUB_HTTP__PORT": "0",
                "CTIHUB_HTTP__SECRET_KEY": "k" * 40,
            },
        )

    first, second = Hub(node("a"), demo=True), Hub(node("b"))
    try:
        await first.start()
        await until(lambda: holds_link(first), 10, "the first node takes the AMI link")
        await second.start()
        await asyncio.sleep(2.5)  # longer than the lease: the standby must stay standby
        assert second.feed is None and holds_link(first)

        assert second.panel_url is not None
        async with agent_socket(second.panel_url, "ali") as ws:
            # Node B started after the link came up on node A: it learned the state
            # from the bus's memory of the last pbx_link_changed, not from a change.
            assert (await next_pbx_link(ws))["state"] == "up"
            pbx.place_inbound_call(CallPlan(caller="+982188776655", did="2188000000", talk=2))
            pop = await next_pop(ws)
            first_call = pop["call"]["call_id"]
            assert pop["call"]["caller"]["normalised"] == "+982188776655"
            assert pop["call"]["match"]["customers"], "the caller is in the shared CRM"

            await first.stop()  # the link holder dies; the standby must take over
            await until(lambda: holds_link(second), 10, "the standby takes the AMI link")
            # While no node held the link the agents may have been told so (whichever node
            # noticed the lease vacant first); then the new holder's link coming up.
            state = (await next_pbx_link(ws))["state"]
            if state == "down":
                state = (await next_pbx_link(ws))["state"]
            assert state == "up"

            pbx.place_inbound_call(CallPlan(caller="09121234567", did="2188000000", talk=2))
            pop = await next_pop(ws)
            if pop["call"]["call_id"] == first_call:
                # Still up when the holder died: the new holder adopted it and said so.
                assert pop["call"]["state"] in ("talking", "ringing"), pop
                pop = await next_pop(ws)
            assert pop["call"]["caller"]["presented"] == "09121234567"
    finally:
        await second.stop()
        await first.stop()
        await pbx.stop()
