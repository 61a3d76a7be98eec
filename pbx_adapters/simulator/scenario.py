"""Scenario files (TOML) and random traffic for the simulated PBX.

A scenario names the PBX (``[pbx]``, ``[[queues]]``, ``[[agents]]``,
``[[dids]]``), scripted calls (``[[calls]]``), scripted AMI actions
(``[[actions]]``, e.g. an agent unpausing at t=3.5 s) and optionally
``[traffic]``: Poisson arrivals at ``calls_per_second`` with random talk and
patience, all drawn from one seeded generator so a run can be repeated.
See ``pbx_adapters/simulator/scenarios/*.toml``.
"""

from __future__ import annotations

import random
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from pbx_adapters.simulator.spec import (
    AgentSpec,
    CallPlan,
    DidSpec,
    PbxSpec,
    QueueSpec,
    lab_pbx,
)


class ScenarioError(ValueError):
    """A scenario file is invalid; the message names the entry and the key."""


@dataclass(slots=True)
class TrafficSpec:
    """Random inbound traffic."""

    calls_per_second: float = 1.0
    duration: float = 60.0
    """Seconds during which new calls arrive."""
    caller_pool: list[str] = field(default_factory=list)
    """Numbers to call from; empty: ``caller_pool_size`` generated numbers in varied formats."""
    caller_pool_size: int = 500
    dids: list[str] = field(default_factory=list)
    talk_mean: float = 30.0
    talk_min: float = 2.0
    patience_mean: float = 60.0
    patience_min: float = 2.0
    answer_probability: float | None = None
    """Overrides every agent's answer probability when set."""
    answer_delay_mean: float | None = None
    agent_hangup_share: float = 0.5
    transfer_share: float = 0.0
    ivr_digits: str = "40012345#"
    expired_share: float = 0.0
    seed: int | None = None


@dataclass(slots=True)
class ScriptedAction:
    """An AMI action run at a set time, as if a client had sent it."""

    at: float
    headers: dict[str, str]


@dataclass(slots=True)
class Scenario:
    """Everything one simulation run needs."""

    pbx: PbxSpec
    calls: list[tuple[float, CallPlan]] = field(default_factory=list)
    actions: list[ScriptedAction] = field(default_factory=list)
    traffic: TrafficSpec | None = None
    name: str = ""


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ScenarioError(f"scenario file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"scenario file {path} is not valid TOML: {exc}") from exc
    scenario = parse_scenario(data, where=str(path))
    scenario.name = scenario.name or Path(path).stem
    return scenario


def _build(cls: type[Any], data: dict[str, Any], where: str) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ScenarioError(f"{where}: unknown key(s) {', '.join(unknown)}")
    try:
        return cls(**data)
    except TypeError as exc:
        raise ScenarioError(f"{where}: {exc}") from exc


def parse_scenario(data: dict[str, Any], where: str = "scenario") -> Scenario:
    """Build a :class:`Scenario` from TOML data (already parsed)."""
    pbx_data = dict(data.get("pbx", {}))
    name = str(pbx_data.pop("name", ""))
    preset = pbx_data.pop("preset", "")
    if preset not in ("", "lab"):
        raise ScenarioError(f"{where} [pbx]: preset must be 'lab' or absent, not {preset!r}")
    pbx: PbxSpec = _build(PbxSpec, pbx_data, f"{where} [pbx]")
    if preset == "lab":
        lab = lab_pbx()
        pbx.queues, pbx.agents, pbx.dids = lab.queues, lab.agents, lab.dids
    if "queues" in data:
        pbx.queues = [
            _build(QueueSpec, q, f"{where} [[queues]] #{i + 1}")
            for i, q in enumerate(data["queues"])
        ]
    if "dids" in data:
        pbx.dids = [
            _build(DidSpec, d, f"{where} [[dids]] #{i + 1}") for i, d in enumerate(data["dids"])
        ]
    if "agents" in data:
        pbx.agents = [
            _build(AgentSpec, a, f"{where} [[agents]] #{i + 1}")
            for i, a in enumerate(data["agents"])
        ]
    queue_names = {q.name for q in pbx.queues}
    for agent in pbx.agents:
        for queue in agent.queues:
            if queue not in queue_names:
                raise ScenarioError(
                    f"{where}: agent {agent.extension} is in unknown queue {queue!r}"
                )
    traffic = None
    if "traffic" in data:
        traffic_data = dict(data["traffic"])
        agent_count = int(traffic_data.pop("agents", 0))
        traffic = _build(TrafficSpec, traffic_data, f"{where} [traffic]")
        if agent_count and not pbx.agents:
            pbx.agents = generated_agents(agent_count, [q.name for q in pbx.queues[:1]])
    calls: list[tuple[float, CallPlan]] = []
    for i, raw in enumerate(data.get("calls", [])):
        item = dict(raw)
        at = float(item.pop("at", 0.0))
        if "no_answer" in item:
            item["no_answer"] = tuple(item["no_answer"])
        calls.append((at, _build(CallPlan, item, f"{where} [[calls]] #{i + 1}")))
    scripted: list[ScriptedAction] = []
    for i, raw in enumerate(data.get("actions", [])):
        item = dict(raw)
        if "action" not in item:
            raise ScenarioError(f"{where} [[actions]] #{i + 1}: key 'action' is required")
        at = float(item.pop("at", 0.0))
        headers = {"Action": str(item.pop("action"))}
        headers.update(
            {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in item.items()}
        )
        scripted.append(ScriptedAction(at, headers))
    return Scenario(pbx, calls, scripted, traffic, name)


def generated_agents(count: int, queues: list[str], first: int = 2001) -> list[AgentSpec]:
    """``count`` agents with extensions from ``first``, members of ``queues``."""
    return [AgentSpec(str(first + i), f"Agent {first + i}", list(queues)) for i in range(count)]


def caller_pool(rng: random.Random, size: int) -> list[str]:
    """Caller numbers in the formats real Iranian trunks deliver (+98, 0912, 021, 0098)."""
    formats = ("+98912{:07d}", "0912{:07d}", "021{:08d}", "0098912{:07d}", "+98935{:07d}")
    pool = [rng.choice(formats).format(rng.randrange(10**7)) for _ in range(size)]
    if size >= 20:
        pool[rng.randrange(size)] = "anonymous"
    return pool


def random_calls(traffic: TrafficSpec, pbx: PbxSpec, seed: int) -> Iterator[tuple[float, CallPlan]]:
    """Poisson arrivals over ``traffic.duration`` seconds, each with a drawn caller behaviour."""
    rng = random.Random(traffic.seed if traffic.seed is not None else seed)
    pool = traffic.caller_pool or caller_pool(rng, traffic.caller_pool_size)
    dids = traffic.dids or [d.number for d in pbx.dids if not d.ivr] or [d.number for d in pbx.dids]
    if not dids:
        raise ScenarioError("traffic needs at least one DID ([[dids]] or traffic.dids)")
    extensions = [a.extension for a in pbx.agents]
    at = 0.0
    if traffic.calls_per_second <= 0:
        return
    while True:
        at += rng.expovariate(traffic.calls_per_second)
        if at >= traffic.duration:
            return
        did = rng.choice(dids)
        did_spec = pbx.did(did)
        plan = CallPlan(
            caller=rng.choice(pool),
            did=did,
            patience=max(traffic.patience_min, rng.expovariate(1 / traffic.patience_mean)),
            talk=max(traffic.talk_min, rng.expovariate(1 / traffic.talk_mean)),
            hangup_by="agent" if rng.random() < traffic.agent_hangup_share else "caller",
        )
        if traffic.answer_delay_mean is not None:
            plan.answer_delay = rng.uniform(0.2, 2 * traffic.answer_delay_mean)
        if traffic.transfer_share and extensions and rng.random() < traffic.transfer_share:
            plan.transfer_to = rng.choice(extensions)
            plan.transfer_after = plan.talk * rng.uniform(0.2, 0.6)
        if did_spec is not None and did_spec.ivr:
            plan.ivr_digits = traffic.ivr_digits
            plan.contract = "expired" if rng.random() < traffic.expired_share else "active"
        yield at, plan
