"""Screen-pop latency: from the ring's bytes leaving the PBX to the agent's browser socket.

The whole path runs for real: the simulated PBX (``pbx_adapters.simulator``)
serves AMI over TCP; the hub's ``PbxFeed`` reads it into ``CallTracker``; the
domain events go over a ``LocalBus`` to the panel server (``popup_server``),
which looks each caller up in a ``crm_sync`` SQLite database of
``CTIHUB_BENCH_CUSTOMERS`` (default 1,000,000) customers and sends the pop to
the ringing agent's websocket. ``CTIHUB_BENCH_AGENTS`` (default 1,000) agent
websocket clients run in a separate process, so their CPU does not sit on the
server's event loop; ``CALLS_PER_SECOND`` (50) Poisson calls are offered for
``CTIHUB_BENCH_SECONDS`` (20) seconds from callers who are in the database
(national and international forms mixed).

Clocks: both processes read ``time.monotonic()`` (CLOCK_MONOTONIC, one clock
for the whole machine). The PBX side stamps the ``AgentCalled`` event right
after the simulator's AMI server has written it to the socket; the client
stamps the ``pop`` message on receipt.

Baseline, same run: ``ami_to_event`` is the time from the same bytes leaving
the PBX to the tracker's ``AgentRinging`` event (socket, AMI parse, tracking),
so ``pop − ami_to_event`` is what the pop itself costs (bus, CRM lookup,
assembly, JSON, websocket).

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
SECONDS = float(os.environ.get("CTIHUB_BENCH_SECONDS", "20"))
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
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {
        "p50": round(cuts[49] * 1000, 3),
        "p99": round(cuts[98] * 1000, 3),
        "max": round(max(samples) * 1000, 3),
    }


# --------------------------------------------------------------------------- clients


async def _client_main(url: str, tokens_path: str, out_path: str) -> None:
    """The agent sockets: connect all, say ready, record pop arrival times until told to stop."""
    import aiohttp

    tokens: list[str] = json.loads(Path(tokens_path).read_text())
    received: list[tuple[float, str]] = []
    clock = time.monotonic

    # limit=0: the default pool of 100 connections would hold the other sockets back.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        sockets: list[aiohttp.ClientWebSocketResponse] = []
        gate = asyncio.Semaphore(50)

        async def connect(token: str) -> None:
            async with gate:
                ws = await session.ws_connect(url, autoping=True, max_msg_size=0)
                await ws.send_str(json.dumps({"type": "auth", "token": token}))
                while True:
                    message = await ws.receive(timeout=30)
                    if message.type != aiohttp.WSMsgType.TEXT:
                        raise RuntimeError(f"socket closed during login: {message!r}")
                    if '"snapshot_done"' in message.data:
                        break
                sockets.append(ws)

        await asyncio.gather(*(connect(t) for t in tokens))

        async def reader(ws: aiohttp.ClientWebSocketResponse) -> None:
            async for message in ws:
                if message.type == aiohttp.WSMsgType.TEXT and message.data.startswith(
                    '{"v":1,"type":"pop"'
                ):
                    received.append((clock(), message.data))

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
    arrivals: dict[str, float] = {}
    for at, text in received:
        call_id = json.loads(text)["call"]["call_id"]
        arrivals.setdefault(call_id, at)
    Path(out_path).write_text(json.dumps({"connected": len(tokens), "arrivals": arrivals}))


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
        while True:
            await bus.publish(await outbox.get())

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


async def _start_process(*args: str) -> asyncio.subprocess.Process:
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
    return process


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


async def _measure(workdir: Path, redis_url: str | None = None) -> dict[str, Any]:
    """One node (``redis_url`` None: everything in this process, LocalBus), or two nodes:
    node A (AMI, tracker, publish) in its own process, node B (panel) here, Redis between."""
    from pydantic import SecretStr

    from crm_sync.cases import CaseService
    from crm_sync.db import Database
    from crm_sync.matching import CallerDirectory
    from crm_sync.migrations import upgrade
    from crm_sync.phones import PhoneNormaliser
    from crm_sync.screenpop_lookup import CrmCallerLookup
    from crm_sync.settings import CrmConfig, DatabaseConfig
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

    db_path = workdir / "crm.sqlite3"
    url = f"sqlite+aiosqlite:///{db_path}"
    started = time.perf_counter()
    await upgrade(url)
    numbers = _numbers(CUSTOMERS)
    _load_customers(str(db_path), numbers)
    load_seconds = time.perf_counter() - started
    log.info("database ready customers=%d seconds=%.1f", CUSTOMERS, load_seconds)

    crm_config = CrmConfig()
    database = Database(DatabaseConfig(url=url))
    directory = CallerDirectory.for_database(database, PhoneNormaliser(region="IR"), crm_config)
    lookup = CrmCallerLookup(directory, CaseService(database, crm_config), database)
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
        dids=[DidSpec("2188000000", "support", record=False)],
        inbound_style="trunk",
    )
    simulator = Simulator(Scenario(pbx=spec), SimulatorSettings(username="hub", secret=SECRET))
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
        node_a = await _start_process(
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
    client = await _start_process(
        "--clients", f"ws://127.0.0.1:{port}/ws/agent", str(tokens_path), str(out_path)
    )
    try:
        agents_connected = app[HUB_KEY].connections
        settle_heap()  # as the daemon does once started (ctihub.daemon.settle_heap)
        log.info("agents connected=%d", agents_connected)

        traffic = TrafficSpec(
            calls_per_second=CALLS_PER_SECOND,
            duration=SECONDS,
            caller_pool=_caller_forms(numbers),
            talk_mean=8.0,
            talk_min=2.0,
            patience_mean=600.0,
            patience_min=300.0,
            answer_probability=1.0,
            seed=11,
        )
        simulator.sync()
        offered = 0
        for at, plan in random_calls(traffic, spec, seed=11):
            plan.answer_delay = 1.0
            simulator.model.schedule(at, simulator.model.place_inbound_call, plan)
            offered += 1
        simulator.wake()
        await asyncio.sleep(SECONDS + 3.0)
    finally:
        await _stop_process(client)
        if node_a is not None:
            await _stop_process(node_a)
            tracked.update(json.loads((workdir / "tracked.json").read_text()))
        await runner.cleanup()
        if feed is not None:
            await feed.close()
        await simulator.stop()
        await bus.close()
        await directory.close()
        await database.dispose()

    result = json.loads(out_path.read_text())
    arrivals: dict[str, float] = result["arrivals"]
    pop = [arrivals[c] - emitted[c] for c in arrivals if c in emitted]
    ami = [tracked[c] - emitted[c] for c in tracked if c in emitted]
    if len(pop) < len(emitted):
        raise RuntimeError(f"{len(emitted)} calls rang an agent but only {len(pop)} pops arrived")
    pop_q, ami_q = _quantiles_ms(pop), _quantiles_ms(ami)
    if redis_url is not None:
        return {
            "pop_latency_p50_ms_two_nodes": pop_q["p50"],
            "pop_latency_p99_ms_two_nodes": pop_q["p99"],
            "pop_latency_max_ms_two_nodes": pop_q["max"],
            "pop_ami_to_event_p99_ms_two_nodes": ami_q["p99"],
            "agents_connected_two_nodes": agents_connected,
            "pop_pops_measured_two_nodes": len(pop),
        }
    return {
        "pop_latency_p50_ms": pop_q["p50"],
        "pop_latency_p99_ms": pop_q["p99"],
        "pop_latency_max_ms": pop_q["max"],
        "pop_ami_to_event_p50_ms": ami_q["p50"],
        "pop_ami_to_event_p99_ms": ami_q["p99"],
        "agents_connected": agents_connected,
        "pop_calls_offered": offered,
        "pop_calls_rung": len(emitted),
        "pop_pops_measured": len(pop),
        "pop_customers_in_db": CUSTOMERS,
        "pop_calls_per_second": CALLS_PER_SECOND,
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
        one, two = Path(workdir) / "one-node", Path(workdir) / "two-nodes"
        one.mkdir()
        figures = await _measure(one)
        if await _redis_reachable(REDIS_URL):
            two.mkdir()
            figures |= await _measure(two, redis_url=REDIS_URL)
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
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    figures = run()
    merge_results(RESULTS_PATH, figures)
    for key, value in figures.items():
        print(f"{key:28} {value}")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main(sys.argv[1:]))
