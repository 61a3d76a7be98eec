"""A PBX simulator that speaks real AMI and FastAGI, for demos, tests and benchmarks.

The hub connects to it over TCP exactly as to Asterisk 22; nothing in the hub
knows it is simulated. Start here::

    scenario = load_scenario("pbx_adapters/simulator/scenarios/demo.toml")
    simulator = Simulator(scenario, SimulatorSettings(port=5038, secret="..."))
    port = await simulator.start()
    ...
    await simulator.stop()

or play a scenario instantly on virtual time with :func:`run_virtual`.
"""

from pbx_adapters.simulator.ami_server import AmiServer, encode
from pbx_adapters.simulator.model import PbxModel
from pbx_adapters.simulator.runtime import (
    Simulator,
    SimulatorSettings,
    prepare,
    run_virtual,
    simulator_from_settings,
    write_transcript,
)
from pbx_adapters.simulator.scenario import (
    Scenario,
    ScenarioError,
    TrafficSpec,
    load_scenario,
    parse_scenario,
    random_calls,
)
from pbx_adapters.simulator.spec import (
    AgentSpec,
    CallPlan,
    DidSpec,
    PbxSpec,
    QueueSpec,
    lab_pbx,
)

__all__ = [
    "AgentSpec",
    "AmiServer",
    "CallPlan",
    "DidSpec",
    "PbxModel",
    "PbxSpec",
    "QueueSpec",
    "Scenario",
    "ScenarioError",
    "Simulator",
    "SimulatorSettings",
    "TrafficSpec",
    "encode",
    "lab_pbx",
    "load_scenario",
    "parse_scenario",
    "prepare",
    "random_calls",
    "run_virtual",
    "simulator_from_settings",
    "write_transcript",
]
