"""The whole path a pop takes, live: simulated PBX → AMI → tracker → bus → panel server."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from cti.bus import LocalBus
from cti.events import Event
from cti.settings import FiguresConfig
from cti.tracker import CallTracker
from ctihub.pbx_actions import AmiPbxActions
from pbx_adapters.ami_actions import AmiActions
from pbx_adapters.pbx_feed import PbxFeed
from pbx_adapters.settings import AmiConfig
from pbx_adapters.simulator.channel import Fields
from pbx_adapters.simulator.runtime import Simulator, SimulatorSettings
from pbx_adapters.simulator.scenario import Scenario
from pbx_adapters.simulator.spec import PbxSpec, lab_pbx
from popup_server.app import create_app, start_server
from popup_server.ports import Audit
from tests.popup_server.conftest import crm_backends, make_config
from tests.popup_server.memory_backend import InMemoryUserStore, MemoryCrm

AMI_SECRET = "simulator-secret"


@dataclass
class LiveStack:
    url: str
    simulator: Simulator
    feed: PbxFeed
    bus: LocalBus
    pbx_events: list[Fields] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    """Domain events the tracker published, in order."""
    pbx: AmiPbxActions | None = None
    audit: Audit | None = None


@asynccontextmanager
async def live_stack(
    crm: MemoryCrm,
    users: InMemoryUserStore,
    public_url: str = "https://panel.example",
    figures: FiguresConfig | None = None,
    extra_backends: dict[str, Any] | None = None,
    bus: LocalBus | None = None,
    pbx_spec: PbxSpec | None = None,
    **http: Any,
) -> AsyncIterator[LiveStack]:
    """Start the simulator, the AMI feed and the panel server; stop them all on exit.

    ``http``: further ``[http]`` settings for the panel server; ``extra_backends``: panel
    backends over the in-memory ones (alerts, callbacks...); ``bus``: a test's own bus,
    shared with its services; ``pbx_spec``: the simulated PBX (the lab's by default).
    """
    simulator = Simulator(
        Scenario(pbx=pbx_spec or lab_pbx()), SimulatorSettings(username="ctihub", secret=AMI_SECRET)
    )
    ami_port = await simulator.start("127.0.0.1", 0)
    pbx_events: list[Fields] = []
    simulator.model.add_listener(lambda at, fields: pbx_events.append(fields))
    bus = bus or LocalBus(retention=10_000)
    publishing: set[asyncio.Task[None]] = set()

    domain: list[Event] = []

    def on_events(events: list[Event]) -> None:
        domain.extend(events)
        # LocalBus.publish never waits; tasks run in creation order, keeping event order.
        task = asyncio.get_running_loop().create_task(bus.publish(events))
        publishing.add(task)
        task.add_done_callback(publishing.discard)

    feed = PbxFeed(
        AmiConfig(
            host="127.0.0.1", port=ami_port, username="ctihub", secret=AMI_SECRET, auth="plain"
        ),
        CallTracker(),
        on_events,
    )
    await feed.start()
    await feed.link.wait_ready(10)
    pbx = AmiPbxActions(
        AmiActions(feed.link),
        originate_channel="Local/{extension}@agent-handset/n",
        originate_context="outbound",
        transfer_context="transfer-target",
        # The lab's agents answer on Local channels (as the recorded PBX): spy on those.
        spy_channel_prefix="Local/{extension}@from-queue-",
    )
    backends = dataclasses.replace(crm_backends(crm, users, pbx), intervention=pbx)
    runner = None
    try:
        # public_url is another origin: the browser is let in as same-origin.
        panel = dataclasses.replace(backends, **(extra_backends or {}))
        app = create_app(
            make_config(public_url=public_url, **http),
            panel,
            bus=bus,
            figures=figures,
        )
        runner, port = await start_server(app, "127.0.0.1", 0)
        yield LiveStack(
            f"http://127.0.0.1:{port}",
            simulator,
            feed,
            bus,
            pbx_events,
            domain,
            pbx,
            backends.audit,
        )
    finally:
        if runner is not None:
            await runner.cleanup()
        await feed.close()
        await simulator.stop()
        await bus.close()
