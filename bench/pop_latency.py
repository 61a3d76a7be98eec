"""Screen-pop latency: from the ring's bytes leaving the PBX to the agent's browser socket.

The whole path runs for real: the simulated PBX (``pbx_adapters.simulator``)
serves AMI over TCP; the hub's ``PbxFeed`` reads it into ``CallTracker``; the
domain events go over a ``LocalBus`` to the panel server (``popup_server``),
which pops at once and looks each caller up, apart, in a ``crm_sync`` SQLite
database of ``CTIHUB_BENCH_CUSTOMERS`` (default 1,000,000) customers; the
lookup starts when the call appears. ``CTIHUB_BENCH_AGENTS`` (default 1,000)
agent websocket clients (the ``websockets`` library) run in a separate
process, so their CPU does not sit on the server's event loop;
``CALLS_PER_SECOND`` (50) Poisson calls are offered for
``CTIHUB_BENCH_SECONDS`` (40) seconds per run from callers who are in the
database (national and international forms mixed).

Runs, one database for all:

- ``one node``: as above (keys ``pop_latency_*``);
- ``two nodes``: node A (AMI link, tracker) in its own process publishes on
  Redis Streams, node B serves the agents (``*_two_nodes``);
- ``slow CRM``: the same, and the external CRM connector
  (``crm_sync.connectors.http``) asks a local HTTP CRM, in its own process,
  that answers each lookup in 150 ms; callers spend 1.6 s or more in the IVR
  (scripted, no digits keyed) before the queue rings an agent (``*_slow_crm``);
- ``slow CRM, ringing at once``: the dialplan sends the caller straight to the
  queue (the simulator's dialplan step set to 0), so the ring comes while the
  150 ms lookup still runs: the first message is the pop with the number
  (``pop_latency_*_slow_crm_immediate``), the ``pop_updated`` fills it in
  (``pop_filled_latency_*_slow_crm_immediate``).

Clocks: both processes read ``time.monotonic()`` (CLOCK_MONOTONIC, one clock
for the whole machine). The PBX side stamps the ``AgentCalled`` event right
after the simulator's AMI server has written it to the socket; the client
stamps each ``pop`` and ``pop_updated`` message on receipt.

Baseline, same run: ``ami_to_event`` is the time from the same bytes leaving
the PBX to the tracker's ``AgentRinging`` event (socket, AMI parse, tracking),
so ``pop − ami_to_event`` is what the pop itself costs (bus, assembly, JSON,
websocket).

Run alone with ``python -m bench.pop_latency``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import RESULTS_PATH, merge_results

log = logging.getLogger("bench.pop_latency")

AGENTS = int(os.environ.get("CTIHUB_BENCH_AGENTS", "1000"))
CUSTOMERS = int(os.environ.get("CTIHUB_BENCH_CUSTOMERS", "1000000"))
SECONDS = float(os.environ.get("CTIHUB_BENCH_SECONDS", "40"))
CRM_DELAY = 0.150
"""How long the external CRM takes to answer each lookup, in seconds."""
CALLS_PER_SECOND = 50.0
CALLER_POOL = 20_000
STAMP = "2026-11-28 00:00:00.000000"
SECRET = "bench-secret"


# --------------------------------------------------------------------------- data


def _numbers(count: int, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    return [f"+98912{n:07d}" for n in rng.sample(range(10_000_000), count)]


def _load_customers(path: str, numbers: list[str]) -> None:
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA synchronous=OFF")
    with connection:
        connection.executemany(
            "INSERT INTO customers (id, kind, name, vip, language, address, created_at, "
            "updated_at) VALUES (?, 'person', ?, ?, 'fa', ?, ?, ?)",
            (
                (i, f"Customer {i}", i % 50 == 0, f"Street {i % 997}", STAMP, STAMP)
                for i in range(1, len(numbers) + 1)
            ),
        )
        connection.executemany(
            "INSERT INTO phone_numbers (customer_id, raw, e164, reversed_digits, kind) "
            "VALUES (?, ?, ?, ?, 'mobile')",
            ((i, n, n, n[:0:-1]) for i, n in enumerate(numbers, start=1)),
        )
        connection.executemany(
            "INSERT INTO contracts (customer_id, plan, starts_on, ends_on) "
            "VALUES (?, 'Gold', '2026-01-01', ?)",
            ((i, "2027-01-01" if i % 3 else "2026-06-01") for i in range(1, len(numbers) + 1, 2)),
        )
    connection.execute("ANALYZE")
    connection.close()


def _caller_forms(numbers: list[str], seed: int = 5) -> list[str]:
    rng = random.Random(seed)
    pool = []
    for number in rng.sample(numbers, min(CALLER_POOL, len(numbers))):
        national = "0" + number[3:]
        pool.append(rng.choice((number, national, "0098" + number[3:])))
    return pool


def _quantiles_ms(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=1000, method="inclusive")
    return {
        "p50": round(cuts[499] * 1000, 3),
        "p99": round(cuts[989] * 1000, 3),
        "p999": round(cuts[998] * 1000, 3),
        "max": round(max(samples) * 1000, 3),
    }


# --------------------------------------------------------------------------- clients


async def _client_main(url: str, tokens_path: str, out_path: str) -> None:
    """The agent sockets: connect all, say ready, record pop arrivals until told to stop."""
    from websockets.asyncio.client import ClientConnection, connect

    tokens: list[str] = json.loads(Path(tokens_path).read_text())
    received: list[tuple[float, str]] = []
    clock = time.monotonic
    sockets: list[ClientConnection] = []
    gate = asyncio.Semaphore(50)

    async def login(token: str) -> None:
        async with gate:
            # No compression: the hub never negotiates it (pops are small).
            ws = await connect(url, compression=None, max_size=None, ping_interval=None)
            await ws.send(json.dumps({"type": "auth", "token": token}))
            async with asyncio.timeout(30):
                while '"snapshot_done"' not in str(await ws.recv()):
                    pass
            sockets.append(ws)

    await asyncio.gather(*(login(t) for t in tokens))

    async def reader(ws: ClientConnection) -> None:
        async for message in ws:
            # Only pop, pop_updated (and pop_withdrawn): the prefix is the hub's own JSON.
            if isinstance(message, str) and message.startswith('{"v":1,"type":"pop'):
                received.append((clock(), message))

    readers = [asyncio.create_task(reader(ws)) for ws in sockets]
    print(f"ready {len(sockets)}", flush=True)
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    await stdin.readline()
    for task in readers:
        task.cancel()
    for ws in sockets:
        await ws.close()
    pops: dict[str, tuple[float, bool]] = {}
    updates: dict[str, float] = {}
    for at, text in received:
        message = json.loads(text)
        if message["type"] == "pop":
            call = message["call"]
            pops.setdefault(call["call_id"], (at, call["match"]["status"] != "pending"))
        elif message["type"] == "pop_updated":
            updates.setdefault(message["call_id"], at)
    Path(out_path).write_text(
        json.dumps({"connected": len(sockets), "pops": pops, "updates": updates})
    )


# --------------------------------------------------------------------------- external CRM


async def _crm_main() -> None:
    """The external CRM: one contact per known number, each answer after ``CRM_DELAY``."""
    from aiohttp import web

    async def contacts(request: web.Request) -> web.Response:
        await asyncio.sleep(CRM_DELAY)
        phone = request.query.get("phone", "")
        return web.json_response([{"id": phone[-7:], "name": f"External {phone[-4:]}"}])

    app = web.Application()
    app.router.add_get("/contacts", contacts)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    print(f"ready {port}", flush=True)
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    await stdin.readline()
    await runner.cleanup()


# --------------------------------------------------------------------------- node A


def _ami_config(port: int) -> Any:
    from pbx_adapters.settings import AmiConfig

    return AmiConfig.model_validate(
        {"host": "127.0.0.1", "port": port, "username": "hub", "secret": SECRET, "auth": "plain"}
    )


async def _node_a_main(ami_port: str, redis_url: str, prefix: str, out_path: str) -> None:
    """The node that holds the AMI link: tracker in, domain events out to Redis Streams."""
    from cti.events import AgentRinging, Event
    from cti.tracker import CallTracker
    from ctihub.redis_bus import RedisStreamBus
    from pbx_adapters.pbx_feed import PbxFeed

    bus = RedisStreamBus(redis_url, key_prefix=prefix)
    outbox: asyncio.Queue[list[Event]] = asyncio.Queue()
    tracked: dict[str, float] = {}
    clock = time.monotonic

    def on_events(events: list[Event]) -> None:
        now = clock()
        for event in events:
            if isinstance(event, AgentRinging) and event.call_id not in tracked:
                tracked[event.call_id] = now
        outbox.put_nowait(events)

    async def publish_in_order() -> None:
        # As the daemon publishes (ctihub.daemon): what piled up goes in one round trip,
        # retried while Redis is unreachable.
        from ctihub.daemon import next_batch, publish_with_retry

        while True:
            batch, _ = await next_batch(outbox)
            await publish_with_retry(bus, batch)

    publisher = asyncio.create_task(publish_in_order())
    feed = PbxFeed(
        _ami_config(int(ami_port)),
        CallTracker(),
        on_events,
    )
    await feed.start()
    await feed.link.wait_ready(30)
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    await stdin.readline()
    await feed.close()
    publisher.cancel()
    await bus.close()
    Path(out_path).write_text(json.dumps(tracked))


async def _start_process(*args: str) -> tuple[asyncio.subprocess.Process, str]:
    """A helper process of this bench, once it said ``ready ...``; with what followed."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.pop_latency",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=str(Path(__file__).resolve().parents[1]),
    )
    assert process.stdout is not None
    ready = await asyncio.wait_for(process.stdout.readline(), timeout=120)
    if not ready.startswith(b"ready"):
        raise RuntimeError(f"bench process {args[0]} did not start: {ready!r}")
    return process, ready.decode().removeprefix("ready").strip()


async def _stop_process(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None and process.stdin is not None:
        with contextlib.suppress(ConnectionError):
            process.stdin.write(b"stop\n")
            await process.stdin.drain()
        try:
            await asyncio.wait_for(process.wait(), timeout=60)
        except TimeoutError:
            process.kill()
            await process.wait()


# --------------------------------------------------------------------------- server side


async def _load_database(workdir: Path) -> tuple[str, list[str]]:
    """The CRM every run reads: ``CUSTOMERS`` customers, their numbers."""
    from crm_sync.migrations import upgrade

    db_path = workdir / "crm.sqlite3"
    url = f"sqlite+aiosqlite:///{db_path}"
    started = time.perf_counter()
    await upgrade(url)
    numbers = _numbers(CUSTOMERS)
    _load_customers(str(db_path), numbers)
    log.info("database ready customers=%d seconds=%.1f", CUSTOMERS, time.perf_counter() - started)
    return url, numbers


async def _measure(
    workdir: Path,
    url: str,
    numbers: list[str],
    *,
    redis_url: str | None = None,
    crm_url: str | None = None,
    route: str = "queue",
) -> dict[str, Any]:
    """One run; the raw latencies in seconds and the run's counts.

    ``redis_url`` None: everything in this process (LocalBus); else two nodes:
    node A (AMI, tracker, publish) in its own process, node B (panel) here,
    Redis between. ``crm_url``: the external CRM's lookup URL template.
    ``route``: ``queue`` (answer, 0.5 s dialplan step, queue), ``ivr`` (the
    IVR first, 1.6 s or more), ``straight`` (to the queue at once).
    """
    from pydantic import SecretStr

    import pbx_adapters.simulator.model as simulated_dialplan
    from crm_sync.cases import CaseService
    from crm_sync.connectors.http import HttpConnector
    from crm_sync.db import Database
    from crm_sync.matching import CallerDirectory
    from crm_sync.phones import PhoneNormaliser
    from crm_sync.screenpop_lookup import CrmCallerLookup
    from crm_sync.settings import CrmConfig, CrmHttpConfig, DatabaseConfig
    from cti.bus import EventBus, LocalBus
    from cti.events import AgentRinging, Event
    from cti.tracker import CallTracker
    from ctihub.daemon import settle_heap
    from ctihub.redis_bus import RedisStreamBus
    from pbx_adapters.pbx_feed import PbxFeed
    from pbx_adapters.simulator.channel import Fields
    from pbx_adapters.simulator.runtime import Simulator, SimulatorSettings
    from pbx_adapters.simulator.scenario import (
        Scenario,
        TrafficSpec,
        generated_agents,
        random_calls,
    )
    from pbx_adapters.simulator.spec import DidSpec, PbxSpec, QueueSpec
    from popup_server.app import HUB_KEY, SIGNER_KEY, PanelBackends, create_app, start_server
    from popup_server.auth import User
    from popup_server.settings import PopupConfig
    from tests.popup_server.memory_backend import (
        InMemoryUserStore,
        MemoryAudit,
        MemoryCrm,
        RecordingPbx,
    )

    crm_config = CrmConfig(spool_dir=str(workdir / "spool"))
    database = Database(DatabaseConfig(url=url))
    normaliser = PhoneNormaliser(region="IR")
    directory = CallerDirectory.for_database(database, normaliser, crm_config)
    connector = None
    if crm_url is not None:
        http = CrmHttpConfig(lookup_url=crm_url, timeout=2.0)
        connector = HttpConnector(http, normaliser, workdir / "spool")
    lookup = CrmCallerLookup(directory, CaseService(database, crm_config), database, connector)
    unused = MemoryCrm()
    backends = PanelBackends(
        users=InMemoryUserStore(),
        lookup=lookup,
        pbx=RecordingPbx(),
        phonebook=unused,
        cases=unused,
        history=unused,
        audit=MemoryAudit(),
    )

    spec = PbxSpec(
        queues=[QueueSpec("support", strategy="rrmemory", timeout=15.0, retry=1.0)],
        agents=generated_agents(AGENTS, ["support"]),
        dids=[DidSpec("2188000000", "support", record=False, ivr=route == "ivr")],
        inbound_style="trunk",
    )
    simulator = Simulator(Scenario(pbx=spec), SimulatorSettings(username="hub", secret=SECRET))
    if route == "ivr":
        # No FastAGI server here: the simulator plays the IVR's part itself (1.6 s, no digits).
        simulator.model.agi_handler = None
    ami_port = await simulator.start("127.0.0.1", 0)
    emitted: dict[str, float] = {}
    clock = time.monotonic

    def on_pbx_event(at: float, fields: Fields) -> None:
        # Runs right after the AMI server wrote these bytes to the hub's socket.
        if fields and fields[0][1] == "AgentCalled":
            linkedid = dict(fields).get("Linkedid")
            if linkedid is not None and linkedid not in emitted:
                emitted[linkedid] = clock()

    simulator.model.add_listener(on_pbx_event)

    tracked: dict[str, float] = {}
    publishing: set[asyncio.Task[None]] = set()
    node_a: asyncio.subprocess.Process | None = None
    feed: PbxFeed | None = None
    bus: EventBus
    if redis_url is None:
        bus = LocalBus(retention=100_000)

        def on_events(events: list[Event]) -> None:
            now = clock()
            for event in events:
                if isinstance(event, AgentRinging) and event.call_id not in tracked:
                    tracked[event.call_id] = now
            task = asyncio.get_running_loop().create_task(bus.publish(events))
            publishing.add(task)
            task.add_done_callback(publishing.discard)

        feed = PbxFeed(
            _ami_config(ami_port),
            CallTracker(),
            on_events,
        )
        await feed.start()
        await feed.link.wait_ready(30)
    else:
        prefix = f"ctihub-pop-bench-{os.getpid()}:"
        bus = RedisStreamBus(redis_url, key_prefix=prefix, block_seconds=1.0)
        node_a, _ = await _start_process(
            "--node-a", str(ami_port), redis_url, prefix, str(workdir / "tracked.json")
        )

    config = PopupConfig(public_url="http://127.0.0.1", secret_key=SecretStr("b" * 40), port=0)
    app = create_app(config, backends, bus=bus)
    runner, port = await start_server(app, "127.0.0.1", 0)
    signer = app[SIGNER_KEY]
    tokens = [
        signer.issue(User(i, f"agent{a.extension}", a.name, "agent", (a.extension,)))[0]
        for i, a in enumerate(spec.agents, start=1)
    ]
    tokens_path = workdir / "tokens.json"
    tokens_path.write_text(json.dumps(tokens))
    out_path = workdir / "arrivals.json"
    client, _ = await _start_process(
        "--clients", f"ws://127.0.0.1:{port}/ws/agent", str(tokens_path), str(out_path)
    )
    step = simulated_dialplan._DIALPLAN_STEP
    try:
        agents_connected = app[HUB_KEY].connections
        settle_heap()  # as the daemon does once started (ctihub.daemon.settle_heap)
        log.info("agents connected=%d route=%s crm=%s", agents_connected, route, crm_url)
        if route == "straight":
            # The ring comes in the same instant as the call: the lookup is still running.
            simulated_dialplan._DIALPLAN_STEP = 0.0

        traffic = TrafficSpec(
            calls_per_second=CALLS_PER_SECOND,
            duration=SECONDS,
            caller_pool=_caller_forms(numbers),
            dids=["2188000000"],
            talk_mean=8.0,
            talk_min=2.0,
            patience_mean=600.0,
            patience_min=300.0,
            answer_probability=1.0,
            ivr_digits="",
            seed=11,
        )
        simulator.sync()
        offered = 0
        for at, plan in random_calls(traffic, spec, seed=11):
            plan.answer_delay = 1.0
            simulator.model.schedule(at, simulator.model.place_inbound_call, plan)
            offered += 1
        simulator.wake()
        await asyncio.sleep(SECONDS + 4.0)
    finally:
        stopped_at = clock()
        simulated_dialplan._DIALPLAN_STEP = step
        await _stop_process(client)
        if node_a is not None:
            await _stop_process(node_a)
            tracked.update(json.loads((workdir / "tracked.json").read_text()))
        await runner.cleanup()
        if feed is not None:
            await feed.close()
        await simulator.stop()
        await bus.close()
        if connector is not None:
            await connector.close()
        await directory.close()
        await database.dispose()

    result = json.loads(out_path.read_text())
    pops: dict[str, tuple[float, bool]] = result["pops"]
    updates: dict[str, float] = result["updates"]
    pop = [pops[c][0] - emitted[c] for c in pops if c in emitted]
    # A ring in the last second (agents all busy: calls still queue) may not be popped yet.
    missing = [c for c in emitted if c not in pops and emitted[c] < stopped_at - 1.0]
    if missing:
        log.error(
            "missing: rang at (s before stop) %s; tracked by the hub %d of %d; pops late: %s",
            sorted(round(stopped_at - emitted[c], 2) for c in missing)[:20],
            sum(1 for c in missing if c in tracked),
            len(missing),
            sorted(round(pops[c][0] - emitted[c], 3) for c in pops if c in emitted)[-10:],
        )
        log.error(
            "ami to event, latest: %s",
            sorted(round(tracked[c] - emitted[c], 3) for c in tracked if c in emitted)[-10:],
        )
        raise RuntimeError(f"{len(emitted)} calls rang an agent; {len(missing)} never popped")
    # Filled in: the pop itself when it came complete, else its pop_updated.
    filled = [
        (pops[c][0] if pops[c][1] else updates[c]) - emitted[c]
        for c in pops
        if c in emitted and (pops[c][1] or c in updates)
    ]
    return {
        "pop": pop,
        "filled": filled,
        "ami": [tracked[c] - emitted[c] for c in tracked if c in emitted],
        "complete_share": round(sum(1 for c in pops if pops[c][1]) / max(1, len(pops)), 4),
        "agents_connected": agents_connected,
        "offered": offered,
        "rung": len(emitted),
    }


REDIS_URL = os.environ.get("CTIHUB_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


async def _redis_reachable(url: str) -> bool:
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_connect_timeout=1)
    try:
        await client.ping()
        return True
    except OSError:
        return False
    except Exception as exc:  # redis' own ConnectionError is not an OSError
        log.warning("no Redis at %s: %s; skipping the two-node figures", url, exc)
        return False
    finally:
        await client.aclose()


async def _run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ctihub-pop-bench-") as workdir:
        root = Path(workdir)
        url, numbers = await _load_database(root)

        def folder(name: str) -> Path:
            (root / name).mkdir()
            return root / name

        one = await _measure(folder("one-node"), url, numbers)
        pop, ami = _quantiles_ms(one["pop"]), _quantiles_ms(one["ami"])
        figures: dict[str, Any] = {
            "pop_latency_p50_ms": pop["p50"],
            "pop_latency_p99_ms": pop["p99"],
            "pop_latency_p999_ms": pop["p999"],
            "pop_latency_max_ms": pop["max"],
            "pop_ami_to_event_p50_ms": ami["p50"],
            "pop_ami_to_event_p99_ms": ami["p99"],
            "pop_complete_at_ring_share": one["complete_share"],
            "agents_connected": one["agents_connected"],
            "pop_calls_offered": one["offered"],
            "pop_calls_rung": one["rung"],
            "pop_pops_measured": len(one["pop"]),
            "pop_customers_in_db": CUSTOMERS,
            "pop_calls_per_second": CALLS_PER_SECOND,
        }
        if await _redis_reachable(REDIS_URL):
            two = await _measure(folder("two-nodes"), url, numbers, redis_url=REDIS_URL)
            pop, ami = _quantiles_ms(two["pop"]), _quantiles_ms(two["ami"])
            figures |= {
                "pop_latency_p50_ms_two_nodes": pop["p50"],
                "pop_latency_p99_ms_two_nodes": pop["p99"],
                "pop_latency_p999_ms_two_nodes": pop["p999"],
                "pop_latency_max_ms_two_nodes": pop["max"],
                "pop_ami_to_event_p99_ms_two_nodes": ami["p99"],
                "agents_connected_two_nodes": two["agents_connected"],
                "pop_pops_measured_two_nodes": len(two["pop"]),
            }
        crm, crm_port = await _start_process("--crm")
        try:
            crm_url = f"http://127.0.0.1:{crm_port}/contacts?phone={{e164}}"
            for route, suffix in (("ivr", "slow_crm"), ("straight", "slow_crm_immediate")):
                slow = await _measure(folder(suffix), url, numbers, crm_url=crm_url, route=route)
                pop, filled = _quantiles_ms(slow["pop"]), _quantiles_ms(slow["filled"])
                ami = _quantiles_ms(slow["ami"])
                figures |= {
                    f"pop_latency_p50_ms_{suffix}": pop["p50"],
                    f"pop_latency_p99_ms_{suffix}": pop["p99"],
                    f"pop_latency_p999_ms_{suffix}": pop["p999"],
                    f"pop_latency_max_ms_{suffix}": pop["max"],
                    f"pop_filled_latency_p50_ms_{suffix}": filled["p50"],
                    f"pop_filled_latency_p99_ms_{suffix}": filled["p99"],
                    f"pop_ami_to_event_p99_ms_{suffix}": ami["p99"],
                    f"pop_complete_at_ring_share_{suffix}": slow["complete_share"],
                    f"pop_pops_measured_{suffix}": len(slow["pop"]),
                    f"pop_pops_filled_{suffix}": len(slow["filled"]),
                }
        finally:
            await _stop_process(crm)
        figures["pop_external_crm_delay_ms"] = CRM_DELAY * 1000
        return figures


def run() -> dict[str, Any]:
    """Measure and return the figures (the runner saves them to ``bench/results.json``)."""
    logging.getLogger("popup_server").setLevel(logging.WARNING)
    return asyncio.run(_run())


def main(argv: list[str]) -> int:
    if argv[:1] == ["--clients"]:
        asyncio.run(_client_main(*argv[1:4]))
        return 0
    if argv[:1] == ["--node-a"]:
        asyncio.run(_node_a_main(*argv[1:5]))
        return 0
    if argv[:1] == ["--crm"]:
        asyncio.run(_crm_main())
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    figures = run()
    merge_results(RESULTS_PATH, figures)
    for key, value in figures.items():
        print(f"{key:44} {value}")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main(sys.argv[1:]))
