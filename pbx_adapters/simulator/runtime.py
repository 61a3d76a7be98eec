"""Running the simulated PBX: instantly on virtual time, or live behind a real AMI port.

``run_virtual(scenario)`` plays a whole scenario at once and returns the
``(seconds, fields)`` stream (tests, load generation). :class:`Simulator`
runs the same model on the asyncio clock behind :class:`AmiServer`, and
plays Asterisk's side of FastAGI against the hub for IVR calls, so the hub
talks to it exactly as to a real Asterisk.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from pbx_adapters.simulator import actions
from pbx_adapters.simulator.agi_client import play_fastagi
from pbx_adapters.simulator.ami_server import BANNER, AmiServer
from pbx_adapters.simulator.channel import Fields
from pbx_adapters.simulator.model import AgiRequest, Call, PbxModel
from pbx_adapters.simulator.recording_files import RecordingFiles
from pbx_adapters.simulator.scenario import (
    Scenario,
    TrafficSpec,
    generated_agents,
    load_scenario,
    random_calls,
)
from pbx_adapters.simulator.spec import CallPlan, lab_pbx

if TYPE_CHECKING:
    from pbx_adapters.settings import AgiConfig, AmiConfig, SimulatorConfig

log = logging.getLogger(__name__)


def prepare(model: PbxModel, scenario: Scenario) -> int:
    """Schedule the scenario's calls, actions and random traffic; returns the number of calls."""
    traffic = scenario.traffic
    if traffic is not None and traffic.answer_probability is not None:
        for agent in model.agents.values():
            agent.spec.answer_probability = traffic.answer_probability
    for scripted in scenario.actions:
        model.schedule(scripted.at, actions.perform, model, scripted.headers)
    count = 0
    for at, plan in scenario.calls:
        model.schedule(at, model.place_inbound_call, plan)
        count += 1
    if traffic is not None:
        for at, plan in random_calls(traffic, model.spec, model.spec.seed):
            model.schedule(at, model.place_inbound_call, plan)
            count += 1
    return count


def run_virtual(scenario: Scenario, limit: float = 7 * 86400.0) -> list[tuple[float, Fields]]:
    """Play a scenario to the end on virtual time; the IVR's part is scripted per call."""
    model = PbxModel(scenario.pbx)
    out: list[tuple[float, Fields]] = []
    model.add_listener(lambda at, fields: out.append((at, fields)))
    prepare(model, scenario)
    model.run_all(limit)
    return out


def write_transcript(stream: Iterable[tuple[float, Fields]], fh: TextIO) -> int:
    """Write a stream as a ``.jsonl`` transcript like ``tests/fixtures/ami`` (replayable)."""
    fh.write(json.dumps({"_t": 0, "banner": BANNER}) + "\n")
    count = 0
    for at, fields in stream:
        fh.write(json.dumps({"_t": round(at * 1000), "fields": [list(f) for f in fields]}) + "\n")
        count += 1
    return count


@dataclass(slots=True)
class SimulatorSettings:
    """How the live simulator is reached and where it finds the hub's FastAGI server."""

    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "ctihub"
    secret: str = ""
    agi_host: str = "127.0.0.1"
    agi_port: int = 4573
    agi_timeout: float = 5.0
    speed: float = 1.0
    """Model seconds per real second (10: a 30 s call lasts 3 s)."""


class _LiveCallSide:
    """The AGI session's view of one simulated call."""

    def __init__(self, simulator: Simulator, call: Call) -> None:
        self.simulator = simulator
        self.call = call

    def set_variable(self, name: str, value: str) -> None:
        self.simulator.sync()
        self.simulator.model.set_variable(self.call.caller, name, value)
        self.simulator.wake()

    def get_variable(self, name: str) -> str | None:
        return self.call.vars.get(name)

    def key_digits(self, max_digits: int) -> str:
        self.simulator.sync()
        keyed = ""
        for digit in self.call.plan.ivr_digits:
            if digit == "#":
                self.simulator.model.key_digit(self.call, digit)
                break
            if len(keyed) >= max_digits:
                break
            self.simulator.model.key_digit(self.call, digit)
            keyed += digit
        self.simulator.wake()
        return keyed

    def hang_up(self) -> None:
        self.simulator.sync()
        self.simulator.model.caller_hangs_up(self.call)
        self.simulator.wake()

    def is_hung_up(self) -> bool:
        return self.call.ended


class Simulator:
    """A live simulated PBX: AMI over TCP, FastAGI towards the hub, model on the asyncio clock."""

    def __init__(self, scenario: Scenario, settings: SimulatorSettings | None = None) -> None:
        self.scenario = scenario
        self.settings = settings or SimulatorSettings()
        self.model = PbxModel(scenario.pbx, agi_handler=self._on_agi)
        self.server = AmiServer(
            self.model,
            {self.settings.username: self.settings.secret},
            before_action=self.sync,
            after_action=self.wake,
        )
        self.port = 0
        self._loop_start = 0.0
        self._wake = asyncio.Event()
        self._clock_task: asyncio.Task[None] | None = None
        self._agi_tasks: set[asyncio.Task[None]] = set()

    # clock -----------------------------------------------------------------------

    def model_time(self) -> float:
        return (asyncio.get_running_loop().time() - self._loop_start) * self.settings.speed

    def sync(self) -> None:
        """Bring the model up to the current time (fires due timers)."""
        self.model.run_until(self.model_time())

    def wake(self) -> None:
        """Something new was scheduled: let the clock task recompute its sleep."""
        self._wake.set()

    async def _run_clock(self) -> None:
        while True:
            self.sync()
            when = self.model.next_time()
            delay = 3600.0 if when is None else max(when - self.model_time(), 0.0)
            delay /= self.settings.speed
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)

    # lifecycle ---------------------------------------------------------------------

    async def start(
        self, host: str | None = None, port: int | None = None, *, run_scenario: bool = True
    ) -> int:
        """Listen for AMI and start the clock (and the scenario); returns the bound port.

        ``run_scenario=False`` leaves the calls for :meth:`run_scenario`, e.g. once the
        hub under test has logged in.
        """
        self._loop_start = asyncio.get_running_loop().time()
        self.port = await self.server.start(
            host or self.settings.host, self.settings.port if port is None else port
        )
        if run_scenario:
            prepare(self.model, self.scenario)
        self._clock_task = asyncio.create_task(self._run_clock(), name="simulator-clock")
        log.info("simulator listening host=%s port=%d", host or self.settings.host, self.port)
        return self.port

    async def stop(self) -> None:
        for task in [self._clock_task, *self._agi_tasks]:
            if task is not None:
                task.cancel()
        for task in [self._clock_task, *self._agi_tasks]:
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.server.stop()

    # calls ---------------------------------------------------------------------------

    def run_scenario(self) -> int:
        """Schedule the scenario's calls and traffic from now on; returns the number of calls."""
        self.sync()
        count = prepare(self.model, self.scenario)
        self.wake()
        return count

    def place_inbound_call(self, plan: CallPlan) -> str:
        """A caller dials in now; returns the call's Linkedid."""
        self.sync()
        call = self.model.place_inbound_call(plan)
        self.wake()
        return call.linkedid

    def perform(self, headers: dict[str, str]) -> list[Fields]:
        """Run an AMI action as if a client had sent it; returns the replies."""
        self.sync()
        replies = actions.perform(self.model, headers) or []
        self.wake()
        return replies

    def _on_agi(self, request: AgiRequest) -> None:
        settings = self.settings
        environment = self.model.agi_environment(
            request.call, request.script, settings.agi_host, settings.agi_port
        )
        task = asyncio.get_running_loop().create_task(self._agi_session(request, environment))
        self._agi_tasks.add(task)
        task.add_done_callback(self._agi_tasks.discard)

    async def _agi_session(self, request: AgiRequest, environment: list[tuple[str, str]]) -> None:
        settings = self.settings
        outcome = await play_fastagi(
            settings.agi_host,
            settings.agi_port,
            environment,
            _LiveCallSide(self, request.call),
            timeout=settings.agi_timeout,
        )
        self.sync()
        if outcome.status != "HANGUP":
            self.model.agi_finished(request.call, request.script)
        self.wake()


def simulator_from_settings(config: SimulatorConfig, ami: AmiConfig, agi: AgiConfig) -> Simulator:
    """The simulator the daemon runs for ``pbx = "simulator"``, from ``[simulator]``; the AMI
    user and the FastAGI address default to the hub's own ``[ami]`` and ``[agi]``."""
    scenario = load_scenario(config.scenario) if config.scenario else Scenario(lab_pbx())
    if config.seed is not None:
        scenario.pbx.seed = config.seed
    if config.emit_noise_events is not None:
        scenario.pbx.emit_noise_events = config.emit_noise_events
    if config.agents is not None:
        queues = [q.name for q in scenario.pbx.queues]
        scenario.pbx.agents = generated_agents(config.agents, queues)
    if config.calls_per_second is not None:
        scenario.traffic = scenario.traffic or TrafficSpec(duration=86400.0)
        scenario.traffic.calls_per_second = config.calls_per_second
    simulator = Simulator(
        scenario,
        SimulatorSettings(
            host=config.host,
            port=config.port,
            username=config.username or ami.username,
            secret=(config.secret.get_secret_value() or ami.secret.get_secret_value()),
            agi_host=config.agi_host or agi.host,
            agi_port=config.agi_port or agi.port,
            speed=config.speed,
        ),
    )
    if config.recordings_dir:
        simulator.model.add_listener(
            RecordingFiles(config.recordings_dir, scenario.pbx.monitor_dir)
        )
    return simulator
