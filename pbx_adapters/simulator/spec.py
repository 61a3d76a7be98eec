"""What the simulated PBX is made of (queues, agents, DIDs) and how one caller behaves."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Strategy = Literal["ringall", "rrmemory", "leastrecent", "fewestcalls", "random", "linear"]


@dataclass(slots=True)
class QueueSpec:
    """An Asterisk queue (queues.conf)."""

    name: str
    strategy: Strategy = "rrmemory"
    timeout: float = 15.0
    """Seconds each member rings before ``AgentRingNoAnswer``."""
    retry: float = 5.0
    """Seconds to wait after a ring-no-answer before ringing again."""
    wrapuptime: float = 0.0
    servicelevel: int = 20


@dataclass(slots=True)
class AgentSpec:
    """A person with a phone, member of some queues."""

    extension: str
    name: str
    queues: list[str] = field(default_factory=list)
    interface: str = ""
    """Queue member interface; default ``Local/<ext>@from-queue/n`` as Issabel/FreePBX define it."""
    state_interface: str = ""
    device: str = ""
    """The phone's endpoint; default ``PJSIP/<ext>`` (``SIP/…`` and ``IAX2/…`` list as peers)."""
    paused: bool = False
    paused_reason: str = ""
    penalty: int = 0
    answer_probability: float = 1.0
    answer_delay: float = 1.0
    """Seconds the phone rings before the agent picks up."""

    def __post_init__(self) -> None:
        if not self.interface:
            self.interface = f"Local/{self.extension}@from-queue/n"
        if not self.state_interface:
            self.state_interface = f"Custom:{self.extension}"
        if not self.device:
            self.device = f"PJSIP/{self.extension}"


@dataclass(slots=True)
class DidSpec:
    """An inbound number and what its dialplan does."""

    number: str
    queue: str | None = "support"
    record: bool = True
    ivr: bool = False
    """Run the hub's FastAGI IVR (``contract`` then ``tracking``) before queueing."""
    label: str = "Support line"


@dataclass(slots=True)
class CallPlan:
    """How one inbound caller (and the agents who get the call) behave."""

    caller: str
    did: str
    caller_name: str = ""
    patience: float = 60.0
    """Seconds the caller waits in the queue before hanging up (abandon)."""
    talk: float = 30.0
    """Seconds of conversation once answered (for a transfer: in total)."""
    hangup_by: Literal["agent", "caller"] = "agent"
    no_answer: tuple[str, ...] = ()
    """Extensions that let this call ring out (``AgentRingNoAnswer``)."""
    answer_delay: float | None = None
    """Ring time before an agent answers; None: the agent's own figure."""
    transfer_to: str | None = None
    transfer_after: float = 0.0
    hold_after: float | None = None
    hold_for: float = 0.0
    ivr_digits: str = ""
    """What the caller keys when the IVR asks (GET DATA), e.g. ``40012345#``."""
    contract: str = "active"
    """Scripted IVR only: the contract state the hub would report."""
    case_owner: str | None = None
    """Scripted IVR only: the case owner the hub would report for the digits."""


MONITOR_DIR = "/var/spool/asterisk/monitor"
"""Asterisk's default monitor spool, where MixMonitor's relative names land."""


@dataclass(slots=True)
class PbxSpec:
    """The whole simulated PBX."""

    queues: list[QueueSpec] = field(default_factory=list)
    agents: list[AgentSpec] = field(default_factory=list)
    dids: list[DidSpec] = field(default_factory=list)
    start_epoch: float = 0.0
    """Wall-clock epoch of simulated time zero (0: now)."""
    seed: int = 1
    emit_noise_events: bool = True
    inbound_style: Literal["lab", "trunk"] = "lab"
    """``lab``: the caller is a Local pair as in the fixtures; ``trunk``: one trunk channel."""
    trunk: str = "PJSIP/provider"
    monitor_dir: str = MONITOR_DIR
    transfer_context: str = "transfer-target"
    outbound_context: str = "outbound"
    pstn_answer_delay: float = 2.0
    pstn_answer_probability: float = 1.0
    outbound_talk: float = 30.0
    uptime: int = 26

    def queue(self, name: str) -> QueueSpec | None:
        return next((q for q in self.queues if q.name == name), None)

    def did(self, number: str) -> DidSpec | None:
        return next((d for d in self.dids if d.number == number), None)


def lab_pbx(start_epoch: float = 0.0, seed: int = 1) -> PbxSpec:
    """The PBX the fixtures were recorded on: support and sales queues, agents 1001-1003."""
    return PbxSpec(
        queues=[
            QueueSpec("support", strategy="rrmemory", timeout=6.0, retry=1.0, servicelevel=20),
            QueueSpec("sales", strategy="ringall", timeout=6.0, retry=1.0, servicelevel=30),
        ],
        agents=[
            AgentSpec("1001", "Ali Rezaei", ["support", "sales"]),
            AgentSpec("1002", "Sara Ahmadi", ["support"]),
            AgentSpec("1003", "Reza Karimi", ["support", "sales"]),
        ],
        dids=[
            DidSpec("2188000000", "support", record=True, label="Support line"),
            DidSpec("2188000002", "sales", record=False, label="Sales line"),
            DidSpec("2188000001", "support", record=True, ivr=True, label="IVR line"),
        ],
        start_epoch=start_epoch,
        seed=seed,
    )
