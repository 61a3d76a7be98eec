"""The hub's own AMI link and tracker run against the simulator as against Asterisk.

Nothing here knows the PBX is simulated: ``AmiLink`` connects over TCP with
MD5 login, the tracker follows the calls, actions go out over the same link.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import SecretStr

import cti.tracker as tracker_module
import pbx_adapters.ami as ami
from cti.events import CallEnded
from pbx_adapters.settings import AmiConfig
from pbx_adapters.simulator import CallPlan, Scenario, Simulator, SimulatorSettings, lab_pbx

SECRET = "hub-link-secret"
TIMEOUT = 10.0


async def test_hub_link_logs_in_tracks_calls_and_sends_actions_to_the_simulator() -> None:
    scenario = Scenario(lab_pbx(start_epoch=1795392474.0))
    simulator = Simulator(scenario, SimulatorSettings(username="ctihub", secret=SECRET, speed=20.0))
    port = await simulator.start("127.0.0.1", 0)
    tracker = tracker_module.CallTracker()
    summaries: list[dict[str, Any]] = []

    def on_message(message: dict[str, str], at: float) -> None:
        for event in tracker.feed(message, at):
            if isinstance(event, CallEnded):
                summaries.append(event.summary())

    config = AmiConfig(
        host="127.0.0.1", port=port, username="ctihub", secret=SecretStr(SECRET), auth="md5"
    )
    link = ami.AmiLink(config, on_message)
    task = link.start()
    try:
        await link.wait_ready(TIMEOUT)
        pong = await link.send_action({"Action": "Ping"})
        assert pong["Ping"] == "Pong"
        paused = await link.send_action(
            {
                "Action": "QueuePause",
                "Interface": "Local/1002@from-queue/n",
                "Paused": "true",
                "Reason": "lunch",
            }
        )
        assert paused["Message"] == "Interface paused successfully"

        simulator.place_inbound_call(CallPlan("+982188776655", "2188000000", talk=3.0))
        reply = await link.send_action(
            {
                "Action": "Originate",
                "Channel": "Local/1003@agent-handset/n",
                "Context": "outbound",
                "Exten": "02177665544",
                "Priority": "1",
                "CallerID": '"Reza Karimi" <1003>',
                "Async": "true",
            }
        )
        assert reply["Response"] == "Success"
        channels = await link.query_list({"Action": "CoreShowChannels"})
        assert any(c.get("Event") == "CoreShowChannel" for c in channels)

        async with asyncio.timeout(TIMEOUT):
            while len(summaries) < 2:
                await asyncio.sleep(0.02)
    finally:
        await link.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await simulator.stop()

    by_direction = {s["direction"]: s for s in summaries}
    inbound, outbound = by_direction["inbound"], by_direction["outbound"]
    assert (inbound["caller"], inbound["dialed"], inbound["queue"]) == (
        "+982188776655",
        "2188000000",
        "support",
    )
    assert inbound["disposition"] == "answered"
    assert inbound["agent"] == "1001"  # 1002 was paused over AMI; 1001 is first in rrmemory
    assert (outbound["caller"], outbound["dialed"], outbound["agent"]) == (
        "1003",
        "02177665544",
        "1003",
    )
