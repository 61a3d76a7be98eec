"""Load generation: the PBX simulator (or a raw replay of a real trace) as the load on the hub.

Two sources behind the same real AMI port, so the hub under test runs in its
own process and connects exactly as to Asterisk:

- ``simulator``: the call model with random traffic, N calls per second against
  M agents (``pbx_adapters/simulator/scenarios/load.toml`` shaped, overridable);
- ``replay``: ``tests/fixtures/ami/busy_20_calls.jsonl`` played again and again
  at a set call rate, every repetition with fresh Uniqueids, channel suffixes
  and bridge ids, so each one is 20 new calls.

Use from the bench runner or any harness::

    report = await run_load(calls_per_second=20, agents=100, duration=30,
                            on_listening=lambda port: start_hub(port))

or from a shell, then point the hub's ``[ami]`` at the printed port::

    python -m bench.loadgen serve --port 5038 --rate 20 --agents 100 --duration 60
    python -m bench.loadgen serve --replay --rate 20

``python -m bench.loadgen`` alone (or ``python -m bench loadgen``) runs
:func:`run`: both sources against a hub-side consumer in a child process
(``AmiParser`` + ``CallTracker``), and the model's own speed on virtual time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from pbx_adapters.simulator import (
    AmiServer,
    PbxModel,
    Scenario,
    Simulator,
    SimulatorSettings,
    encode,
    lab_pbx,
    load_scenario,
    run_virtual,
)
from pbx_adapters.simulator.scenario import generated_agents

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
LOAD_SCENARIO = REPO_ROOT / "pbx_adapters" / "simulator" / "scenarios" / "load.toml"
BUSY_TRACE = REPO_ROOT / "tests" / "fixtures" / "ami" / "busy_20_calls.jsonl"
Mode = Literal["simulator", "replay"]

_UNIQUEID = re.compile(r"\b(1\d{9})\.(\d+)\b")
_SUFFIX = re.compile(r"-([0-9a-f]{8});")
_UUID_TAIL = re.compile(r"(-[0-9a-f]{4}-)([0-9a-f]{12})\b")


@dataclass(slots=True)
class LoadReport:
    """What one load run did."""

    mode: str
    calls_per_second: float
    agents: int
    duration: float
    calls_placed: int
    calls_ended: int
    events_sent: int
    wall_seconds: float
    clients: int

    @property
    def events_per_second(self) -> float:
        return self.events_sent / self.wall_seconds if self.wall_seconds else 0.0


def load_scenario_for(
    calls_per_second: float, agents: int, duration: float, seed: int, talk_mean: float
) -> Scenario:
    """``load.toml`` with the rate, agent count, duration and seed replaced."""
    scenario = load_scenario(LOAD_SCENARIO)
    assert scenario.traffic is not None
    scenario.traffic.calls_per_second = calls_per_second
    scenario.traffic.duration = duration
    scenario.traffic.talk_mean = talk_mean
    scenario.pbx.seed = seed
    queues = [q.name for q in scenario.pbx.queues[:1]]
    scenario.pbx.agents = generated_agents(agents, queues)
    return scenario


class TraceReplay:
    """A real trace as repeatable call load: each repetition renumbered to new calls."""

    def __init__(self, path: Path = BUSY_TRACE) -> None:
        self.messages: list[tuple[float, str]] = []
        linkedids: set[str] = set()
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                record = json.loads(line)
                fields = record.get("fields")
                if not fields or fields[0][0] != "Event" or fields[0][1] == "FullyBooted":
                    continue
                if any(name == "ActionID" for name, _ in fields):
                    continue  # answers to the recorder's own queries
                self.messages.append((record["_t"] / 1000.0, encode(fields).decode()))
                linkedids.update(v for n, v in fields if n == "Linkedid")
        start = self.messages[0][0]
        self.messages = [(at - start, text) for at, text in self.messages]
        self.span = self.messages[-1][0] or 1.0
        self.calls = len(linkedids)
        self.max_seq = max(
            (int(m.group(2)) for _, text in self.messages for m in _UNIQUEID.finditer(text)),
            default=0,
        )
        self.max_suffix = max(
            (int(m.group(1), 16) for _, text in self.messages for m in _SUFFIX.finditer(text)),
            default=0,
        )

    def repetition(self, number: int) -> list[tuple[float, bytes]]:
        """Repetition ``number`` (0: as recorded), times in seconds from its start."""
        seq_shift = number * (self.max_seq + 1)
        suffix_shift = number * (self.max_suffix + 1)

        def uid(match: re.Match[str]) -> str:
            return f"{match.group(1)}.{int(match.group(2)) + seq_shift}"

        def suffix(match: re.Match[str]) -> str:
            return f"-{int(match.group(1), 16) + suffix_shift:08x};"

        def bridge(match: re.Match[str]) -> str:
            return f"{match.group(1)}{(int(match.group(2), 16) + number) % 16**12:012x}"

        out = []
        for at, text in self.messages:
            if number:
                text = _UUID_TAIL.sub(bridge, _SUFFIX.sub(suffix, _UNIQUEID.sub(uid, text)))
            out.append((at, text.encode()))
        return out


class LoadError(RuntimeError):
    """The load run could not go ahead (no hub logged in)."""


async def _wait_for_client(server: AmiServer, timeout: float) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not server.logged_in():
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise LoadError(f"no AMI client logged in within {timeout:.0f} s") from None


async def run_load(
    *,
    mode: Mode = "simulator",
    host: str = "127.0.0.1",
    port: int = 0,
    calls_per_second: float = 10.0,
    agents: int = 50,
    duration: float = 30.0,
    seed: int = 7,
    talk_mean: float = 4.0,
    speed: float = 1.0,
    username: str = "ctihub",
    secret: str = "",
    agi_port: int = 4573,
    wait_for_client: float = 30.0,
    drain_timeout: float = 60.0,
    on_listening: Callable[[int], None] | None = None,
) -> LoadReport:
    """Serve AMI load to the hub: start listening, wait for a login, run, report.

    ``on_listening(port)`` is called once the port is bound (start the hub
    there). Calls arrive for ``duration`` seconds of model time (``speed``
    model seconds per real second); then the run waits for every call to end
    (at most ``drain_timeout`` s) and closes the connections.
    """
    started = time.perf_counter()
    if mode == "simulator":
        scenario = load_scenario_for(calls_per_second, agents, duration, seed, talk_mean)
        simulator = Simulator(
            scenario,
            SimulatorSettings(username=username, secret=secret, agi_port=agi_port, speed=speed),
        )
        bound = await simulator.start(host, port, run_scenario=False)
        try:
            if on_listening is not None:
                on_listening(bound)
            await _wait_for_client(simulator.server, wait_for_client)
            started = time.perf_counter()
            placed = simulator.run_scenario()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(duration / speed + drain_timeout):
                    while simulator.model.calls_ended < placed:
                        await asyncio.sleep(0.05)
            wall = time.perf_counter() - started
            return LoadReport(
                mode,
                calls_per_second,
                agents,
                duration,
                placed,
                simulator.model.calls_ended,
                simulator.server.events_sent,
                wall,
                simulator.server.logged_in(),
            )
        finally:
            await simulator.stop()
    replay = TraceReplay()
    model = PbxModel(lab_pbx())
    server = AmiServer(model, {username: secret})
    bound = await server.start(host, port)
    try:
        if on_listening is not None:
            on_listening(bound)
        await _wait_for_client(server, wait_for_client)
        started = time.perf_counter()
        repetition_seconds = replay.calls / calls_per_second if calls_per_second else 1.0
        scale = repetition_seconds / replay.span
        sent = 0
        repetitions = max(1, round(duration / repetition_seconds))
        for number in range(repetitions):
            base = number * repetition_seconds
            for at, data in replay.repetition(number):
                due = started + (base + at * scale) / speed
                delay = due - time.perf_counter()
                if delay > 0.002:
                    await asyncio.sleep(delay)
                for session in list(server.sessions):
                    session.send_bytes(data)
                    sent += 1
                if sent % 256 == 0:
                    await asyncio.sleep(0)
        wall = time.perf_counter() - started
        placed = replay.calls * repetitions
        return LoadReport(
            mode,
            calls_per_second,
            agents,
            duration,
            placed,
            placed,
            sent,
            wall,
            server.logged_in(),
        )
    finally:
        await asyncio.sleep(0.2)  # let the last writes flush before closing
        await server.stop()


# --- the hub-side consumer for run() ---------------------------------------------------


async def consume(host: str, port: int, username: str, secret: str) -> dict[str, Any]:
    """Log in, read until the server closes, track calls as the hub does; return counts."""
    from cti.ami_codec import AmiParser
    from cti.tracker import CallTracker

    tracker = CallTracker()
    parser = AmiParser(
        wanted_events=CallTracker.WANTED_EVENTS, wanted_variables=tracker.wanted_variables
    )
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        f"Action: Login\r\nUsername: {username}\r\nSecret: {secret}\r\nEvents: on\r\n\r\n".encode()
    )
    await writer.drain()
    messages = ended = 0
    started = time.perf_counter()
    busy = 0.0
    while data := await reader.read(1 << 16):
        begin = time.perf_counter()
        for message in parser.feed(data):
            messages += 1
            for event in tracker.feed(message, time.monotonic()):
                if type(event).__name__ == "CallEnded":
                    ended += 1
        busy += time.perf_counter() - begin
    writer.close()
    return {
        "messages": messages,
        "skipped": parser.skipped,
        "calls_ended": ended,
        "wall_s": round(time.perf_counter() - started, 3),
        "busy_s": round(busy, 3),
    }


async def _measure_live(
    mode: Mode, rate: float, agents: int, duration: float, speed: float
) -> dict[str, Any]:
    secret = "bench-secret"
    children: list[subprocess.Popen[bytes]] = []

    def start_consumer(port: int) -> None:
        children.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bench.loadgen",
                    "consume",
                    "--port",
                    str(port),
                    "--secret",
                    secret,
                ],
                stdout=subprocess.PIPE,
                cwd=REPO_ROOT,
            )
        )

    report = await run_load(
        mode=mode,
        calls_per_second=rate,
        agents=agents,
        duration=duration,
        speed=speed,
        secret=secret,
        on_listening=start_consumer,
    )
    out, _ = await asyncio.to_thread(children[0].communicate, timeout=120)
    consumer = json.loads(out.decode().strip().splitlines()[-1])
    return {
        "report": asdict(report),
        "events_per_s": report.events_per_second,
        "consumer": consumer,
    }


def _model_speed(rate: float, agents: int, duration: float) -> dict[str, float]:
    scenario = load_scenario_for(rate, agents, duration, 7, 4.0)
    began = time.process_time()
    stream = run_virtual(scenario)
    model_s = time.process_time() - began
    began = time.process_time()
    for _, fields in stream:
        encode(fields)
    encode_s = time.process_time() - began
    return {"events": len(stream), "model_s": model_s, "encode_s": encode_s}


def run() -> dict[str, Any]:
    """Bench figures: model speed; live load through a real socket into a hub-side tracker.

    ``paced``: 20 calls/s against 100 agents at 6x real time, both sources; every
    call placed must end in the consumer's tracker. ``max``: the same at 500x, so
    the sources run as fast as they can; the replay (bytes prepared in advance)
    is the baseline for the simulator's cost.
    """
    rate, agents, duration = 20.0, 100, 60.0
    model = _model_speed(rate, agents, duration)
    figures: dict[str, Any] = {
        "loadgen_model_events": model["events"],
        "loadgen_model_events_per_cpu_s": round(model["events"] / model["model_s"]),
        "loadgen_encode_events_per_cpu_s": round(model["events"] / model["encode_s"]),
        "loadgen_model_vs_encode_ratio": round(model["encode_s"] / model["model_s"], 3),
    }
    rates: dict[str, float] = {}
    for label, speed in (("paced", 6.0), ("max", 500.0)):
        for mode in ("simulator", "replay"):
            live = asyncio.run(_measure_live(mode, rate, agents, duration, speed=speed))
            short = "sim" if mode == "simulator" else "replay"
            prefix = f"loadgen_{label}_{short}"
            figures[f"{prefix}_calls_placed"] = live["report"]["calls_placed"]
            figures[f"{prefix}_calls_ended_by_hub_tracker"] = live["consumer"]["calls_ended"]
            figures[f"{prefix}_events_per_s"] = round(live["events_per_s"])
            figures[f"{prefix}_wall_s"] = round(live["report"]["wall_seconds"], 2)
            rates[prefix] = live["events_per_s"]
    if rates["loadgen_max_replay"]:
        figures["loadgen_max_sim_vs_replay_ratio"] = round(
            rates["loadgen_max_sim"] / rates["loadgen_max_replay"], 3
        )
    figures["loadgen_setup"] = {"calls_per_s": rate, "agents": agents, "model_seconds": duration}
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.loadgen",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="serve AMI load until the run ends")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=5038)
    serve.add_argument("--replay", action="store_true", help="replay busy_20_calls instead")
    serve.add_argument("--rate", type=float, default=10.0, help="calls per second")
    serve.add_argument("--agents", type=int, default=50)
    serve.add_argument("--duration", type=float, default=60.0, help="seconds of arrivals")
    serve.add_argument("--speed", type=float, default=1.0, help="model seconds per second")
    serve.add_argument("--seed", type=int, default=7)
    serve.add_argument("--username", default="ctihub")
    serve.add_argument("--secret", default="")
    serve.add_argument("--agi-port", type=int, default=4573)
    serve.add_argument("--wait", type=float, default=300.0, help="seconds to wait for a login")
    consumer = sub.add_parser("consume", help="(internal) the hub-side reader for run()")
    consumer.add_argument("--host", default="127.0.0.1")
    consumer.add_argument("--port", type=int, required=True)
    consumer.add_argument("--username", default="ctihub")
    consumer.add_argument("--secret", default="")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.command == "consume":
        print(json.dumps(asyncio.run(consume(args.host, args.port, args.username, args.secret))))
        return 0
    if args.command == "serve":
        try:
            report = asyncio.run(
                run_load(
                    mode="replay" if args.replay else "simulator",
                    host=args.host,
                    port=args.port,
                    calls_per_second=args.rate,
                    agents=args.agents,
                    duration=args.duration,
                    speed=args.speed,
                    seed=args.seed,
                    username=args.username,
                    secret=args.secret,
                    agi_port=args.agi_port,
                    wait_for_client=args.wait,
                    on_listening=lambda port: print(
                        f"AMI load listening on {args.host}:{port}", flush=True
                    ),
                )
            )
        except LoadError as error:
            print(f"loadgen: {error}", file=sys.stderr)
            return 1
        print(json.dumps({**asdict(report), "events_per_second": report.events_per_second}))
        return 0
    print(json.dumps(run(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
