"""The simulated PBX: channels, queues, agents and calls, emitting Asterisk 22 AMI events.

The model is sans-I/O and owns its clock: time only moves when the driver
calls :meth:`PbxModel.run_until`. A test runs a whole scenario instantly on
virtual time; the live server maps the same time onto the asyncio clock.
Every emitted event goes to the listeners as ``(seconds, fields)``.

The event sequences (which channels, in which order, with which linkage)
follow the real transcripts in ``tests/fixtures/ami``: a Local ``;1``/``;2``
pair for the caller (or one trunk channel), ``Local/<ext>@from-queue`` member
legs, ``AgentCalled``/``DialBegin``/``DialState``, ``DialEnd``,
``QueueCallerLeave``/``AgentConnect``, bridges, ``AgentComplete`` and hangups.
"""

from __future__ import annotations

import heapq
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pbx_adapters.simulator import event_shapes as shape
from pbx_adapters.simulator.channel import DOWN, RING, RINGING, UNKNOWN, UP, Channel, Fields
from pbx_adapters.simulator.spec import AgentSpec, CallPlan, DidSpec, PbxSpec, QueueSpec

log = logging.getLogger(__name__)

Listener = Callable[[float, Fields], None]

# Device state numbers as QueueMemberStatus reports them.
NOT_INUSE, INUSE, BUSY, RINGING_STATE = 1, 2, 3, 6
_DEVICE_WORD = {NOT_INUSE: "NOT_INUSE", INUSE: "INUSE", RINGING_STATE: "RINGING"}

# Lab dialplan timings (seconds), measured in the fixtures.
_DIALPLAN_STEP = 0.5
_DTMF_GAP = 0.35
_SAY_DIGIT = 0.8
_EXPIRED_PROMPT = 4.9
_STATUS_SETTLE = 0.5


class _Timer:
    __slots__ = ("args", "callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[..., object], args: tuple[Any, ...]) -> None:
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass(eq=False)
class Agent:
    spec: AgentSpec
    status: int = NOT_INUSE
    call: Call | None = None
    calls_taken: int = 0
    last_call: int = 0
    wrapup_until: float = 0.0
    members: list[Member] = field(default_factory=list)

    @property
    def extension(self) -> str:
        return self.spec.extension


@dataclass(eq=False)
class Member:
    queue: Queue
    agent: Agent
    paused: bool
    paused_reason: str
    login_time: int
    last_pause: int = 0
    calls_taken: int = 0
    last_call: int = 0
    membership: str = "static"

    def fields(self) -> Fields:
        """The member block of QueueMemberStatus/QueueMemberPause/QueueMemberAdded."""
        spec = self.agent.spec
        return [
            ("Queue", self.queue.spec.name),
            ("MemberName", spec.name),
            ("Interface", spec.interface),
            ("StateInterface", spec.state_interface),
            ("Membership", self.membership),
            ("Penalty", str(spec.penalty)),
            ("CallsTaken", str(self.calls_taken)),
            ("LastCall", str(self.last_call)),
            ("LastPause", str(self.last_pause)),
            ("LoginTime", str(self.login_time)),
            ("InCall", "1" if self.agent.status == INUSE else "0"),
            ("Status", str(self.agent.status)),
            ("Paused", "1" if self.paused else "0"),
            ("PausedReason", self.paused_reason),
            ("Ringinuse", "0"),
            ("Wrapuptime", str(int(self.queue.spec.wrapuptime))),
        ]


@dataclass(eq=False)
class Queue:
    spec: QueueSpec
    members: list[Member] = field(default_factory=list)
    entries: list[QueueEntry] = field(default_factory=list)
    rr_next: int = 0
    completed: int = 0
    abandoned: int = 0
    within_sl: int = 0
    total_hold: float = 0.0
    total_talk: float = 0.0


@dataclass(eq=False)
class Leg:
    """A dialled leg: a Local pair (``one`` faces the caller) or a single device channel."""

    one: Channel
    two: Channel | None
    agent: Agent | None
    started_at: float
    timer: _Timer | None = None


@dataclass(eq=False)
class QueueEntry:
    call: Call
    queue: Queue
    joined_at: float
    original_position: int
    attempts: list[Leg] = field(default_factory=list)
    retry_timer: _Timer | None = None
    abandon_timer: _Timer | None = None
    preferred: str | None = None


@dataclass(eq=False)
class Call:
    """One conversation: every channel in it shares ``linkedid``."""

    linkedid: str
    plan: CallPlan
    caller: Channel
    """The leg the PBX works with: the ``;2`` of the lab's Local pair, or the trunk channel."""
    handset: Channel | None = None
    did: DidSpec | None = None
    entry: QueueEntry | None = None
    agent_leg: Leg | None = None
    bridge_id: str = ""
    answered_at: float = 0.0
    recording: str = ""
    timers: list[_Timer] = field(default_factory=list)
    ended: bool = False
    on_hold: bool = False
    outbound: bool = False
    remote: Leg | None = None
    originate_leg: Leg | None = None
    consult: Leg | None = None
    """During an attended transfer: the leg dialled to the target."""
    consult_bridge: str = ""
    muted: bool = False
    vars: dict[str, str] = field(default_factory=dict)
    agi_running: bool = False


@dataclass(slots=True)
class AgiRequest:
    """A FastAGI session the dialplan wants run (``agi://host:port/<script>``)."""

    call: Call
    script: str
    environment: list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Spy:
    """A supervisor's ChanSpy: their phone, the prefix and options asked, whom it found."""

    channel: str
    prefix: str
    options: str
    spied: str | None
    at: float


class PbxModel:
    """The simulated Asterisk: state plus call flows; emits AMI events to listeners."""

    def __init__(
        self,
        spec: PbxSpec,
        *,
        agi_handler: Callable[[AgiRequest], None] | None = None,
    ) -> None:
        self.spec = spec
        self.now = 0.0
        self.epoch0 = spec.start_epoch or float(int(time.time()))
        self.noise = spec.emit_noise_events
        self.rng = random.Random(spec.seed)
        self.agi_handler = agi_handler
        self._listeners: list[Listener] = []
        self._timers: list[tuple[float, int, _Timer]] = []
        self._timer_seq = 0
        self._uid_seq = 0
        self._local_seq = 0
        self._device_seq = 0
        self.channels: dict[str, Channel] = {}
        self.calls: dict[str, Call] = {}
        self._call_of_channel: dict[str, Call] = {}
        self.queues: dict[str, Queue] = {q.name: Queue(q) for q in spec.queues}
        self.agents: dict[str, Agent] = {}
        login = int(self.epoch0) - spec.uptime
        for agent_spec in spec.agents:
            self.add_agent(agent_spec, login_time=login)
        self.calls_started = 0
        self.calls_ended = 0
        self.on_finish: Callable[[Call], None] | None = None
        """Told of each call as it ends: the simulator's own record of what happened."""
        self.spies: list[Spy] = []
        """Every ChanSpy a supervisor started (listen, whisper, barge), oldest first."""

    # --- clock -----------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def epoch(self) -> float:
        """Wall-clock seconds (as the PBX would print them) for the current model time."""
        return self.epoch0 + self.now

    def schedule(self, delay: float, callback: Callable[..., object], *args: Any) -> _Timer:
        timer = _Timer(self.now + max(delay, 0.0), callback, args)
        self._timer_seq += 1
        heapq.heappush(self._timers, (timer.when, self._timer_seq, timer))
        return timer

    def next_time(self) -> float | None:
        """When the next timer fires, or None when nothing is pending."""
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0][0] if self._timers else None

    def run_until(self, until: float) -> None:
        """Fire every timer due by ``until`` in time order, then set the clock to ``until``."""
        while True:
            when = self.next_time()
            if when is None or when > until:
                break
            _, _, timer = heapq.heappop(self._timers)
            self.now = max(self.now, timer.when)
            timer.callback(*timer.args)
        self.now = max(self.now, until)

    def run_all(self, limit: float = 86400.0) -> None:
        """Run until no timer is left (or ``limit`` seconds of model time)."""
        while (when := self.next_time()) is not None and when <= limit:
            self.run_until(when)

    # --- emission --------------------------------------------------------------

    def emit(self, fields: Fields) -> None:
        for listener in self._listeners:
            listener(self.now, fields)

    def _member_status(self, agent: Agent, status: int) -> None:
        agent.status = status
        for member in agent.members:
            self.emit(
                [("Event", "QueueMemberStatus"), ("Privilege", shape.AGENT), *member.fields()]
            )
        if self.noise:
            word = _DEVICE_WORD.get(status, "INUSE")
            for member in agent.members:
                free = any(
                    m.agent.status == NOT_INUSE and not m.paused for m in member.queue.members
                )
                self.emit(
                    shape.device_state_change(
                        f"Queue:{member.queue.spec.name}_avail", "NOT_INUSE" if free else "INUSE"
                    )
                )
            self.emit(shape.device_state_change(agent.spec.state_interface, word))

    def _varsets(self, channel: Channel, pairs: list[tuple[str, str]]) -> None:
        """Dialplan variables Asterisk sets along the way: noise to the hub, sent as real."""
        if self.noise:
            for name, value in pairs:
                self.emit(shape.varset(channel, name, value))

    def _queue_variables(self, queue: Queue) -> list[tuple[str, str]]:
        done = queue.completed
        perf = 100.0 * queue.within_sl / done if done else 0.0
        return [
            ("QUEUENAME", queue.spec.name),
            ("QUEUEMAX", "0"),
            ("QUEUESTRATEGY", queue.spec.strategy),
            ("QUEUECALLS", str(len(queue.entries))),
            ("QUEUEHOLDTIME", str(int(queue.total_hold / done)) if done else "0"),
            ("QUEUETALKTIME", str(int(queue.total_talk / done)) if done else "0"),
            ("QUEUECOMPLETED", str(done)),
            ("QUEUEABANDONED", str(queue.abandoned)),
            ("QUEUESRVLEVEL", str(queue.spec.servicelevel)),
            ("QUEUESRVLEVELPERF", f"{perf:.1f}"),
        ]

    # --- identities ------------------------------------------------------------

    def _uniqueid(self) -> str:
        uid = f"{int(self.epoch())}.{self._uid_seq}"
        self._uid_seq += 1
        return uid

    def _new_channel(
        self, name: str, linkedid: str | None, context: str, exten: str, state: int
    ) -> Channel:
        uid = self._uniqueid()
        channel = Channel(
            name=name,
            uniqueid=uid,
            linkedid=linkedid or uid,
            context=context,
            exten=exten,
            state=state,
            created_at=self.now,
        )
        self.channels[name] = channel
        return channel

    def _local_pair(
        self, exten: str, context: str, linkedid: str | None
    ) -> tuple[Channel, Channel]:
        base = f"Local/{exten}@{context}-{self._local_seq:08x}"
        self._local_seq += 1
        one = self._new_channel(base + ";1", linkedid, context, exten, DOWN)
        two = self._new_channel(base + ";2", one.linkedid, context, exten, RING)
        return one, two

    def _device_channel(
        self, device: str, linkedid: str | None, context: str, exten: str
    ) -> Channel:
        name = f"{device}-{self._device_seq:08x}"
        self._device_seq += 1
        return self._new_channel(name, linkedid, context, exten, DOWN)

    def _bridge_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _stamp(self, at: float) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.epoch0 + at))

    def _bind(self, call: Call, *channels: Channel | None) -> None:
        for channel in channels:
            if channel is not None:
                self._call_of_channel[channel.name] = call

    def call_of(self, channel_name: str) -> Call | None:
        return self._call_of_channel.get(channel_name)

    # --- agents and members ----------------------------------------------------

    def add_agent(self, agent_spec: AgentSpec, login_time: int | None = None) -> Agent:
        agent = Agent(agent_spec)
        self.agents[agent_spec.extension] = agent
        for queue_name in agent_spec.queues:
            queue = self.queues.get(queue_name)
            if queue is None:
                raise ValueError(f"agent {agent_spec.extension} is in unknown queue {queue_name!r}")
            self._add_member(queue, agent, agent_spec.paused, agent_spec.paused_reason, login_time)
        return agent

    def _add_member(
        self, queue: Queue, agent: Agent, paused: bool, reason: str, login_time: int | None
    ) -> Member:
        member = Member(
            queue,
            agent,
            paused,
            reason,
            login_time if login_time is not None else int(self.epoch()),
        )
        queue.members.append(member)
        agent.members.append(member)
        return member

    def agent_by_interface(self, interface: str) -> Agent | None:
        for agent in self.agents.values():
            if agent.spec.interface.lower() == interface.lower():
                return agent
        return None

    def member(self, queue: str, interface: str) -> Member | None:
        q = self.queues.get(queue)
        if q is None:
            return None
        return next(
            (m for m in q.members if m.agent.spec.interface.lower() == interface.lower()), None
        )

    def set_paused(self, member: Member, paused: bool, reason: str) -> None:
        member.paused = paused
        member.paused_reason = reason if paused else ""
        if paused:
            member.last_pause = int(self.epoch())
        if self.noise:
            device = f"Queue:{member.queue.spec.name}_pause_{member.agent.spec.interface}"
            self.emit(shape.device_state_change(device, "INUSE" if paused else "NOT_INUSE"))
        self.emit([("Event", "QueueMemberPause"), ("Privilege", shape.AGENT), *member.fields()])
        if not paused:
            self._serve(member.queue)

    def add_member(self, queue: Queue, agent: Agent, paused: bool, reason: str) -> Member:
        member = self._add_member(queue, agent, paused, reason, None)
        member.membership = "dynamic"
        self.emit([("Event", "QueueMemberAdded"), ("Privilege", shape.AGENT), *member.fields()])
        self._serve(queue)
        return member

    def remove_member(self, member: Member) -> None:
        member.queue.members.remove(member)
        member.agent.members.remove(member)
        self.emit([("Event", "QueueMemberRemoved"), ("Privilege", shape.AGENT), *member.fields()])

    def _available(self, member: Member, busy: set[str]) -> bool:
        agent = member.agent
        return (
            not member.paused
            and agent.status == NOT_INUSE
            and agent.call is None
            and agent.wrapup_until <= self.now
            and agent.extension not in busy
        )

    # --- inbound calls -----------------------------------------------------------

    def place_inbound_call(self, plan: CallPlan) -> Call:
        """A call from outside arrives on ``plan.did``; returns it (``linkedid`` names it)."""
        did = self.spec.did(plan.did) or DidSpec(plan.did, None)
        name = plan.caller_name or UNKNOWN
        if self.spec.inbound_style == "lab":
            handset, caller = self._local_pair(plan.did, "from-trunk", None)
            self.emit(shape.channel_event("Newchannel", handset))
            self.emit(shape.channel_event("Newchannel", caller))
            if self.noise:
                self.emit(shape.newexten(handset, "AppDial2", "(Outgoing Line)"))
            for channel in (handset, caller):
                channel.caller_num, channel.caller_name = plan.caller, name
                # Caller ID arrives after Newchannel, as on a real trunk: not noise.
                self.emit(shape.new_callerid(channel))
                channel.connected_num, channel.connected_name = plan.caller, name
                self.emit(shape.channel_event("NewConnectedLine", channel))
            self.emit(shape.local_bridge(handset, caller))
            self.emit(shape.dial_begin(None, handset, f"{plan.did}@from-trunk/n"))
        else:
            handset = None
            caller = self._device_channel(self.spec.trunk, None, "from-trunk", plan.did)
            caller.state = RING
            caller.caller_num, caller.caller_name = plan.caller, name
            caller.connected_num, caller.connected_name = plan.did, UNKNOWN
            self.emit(shape.channel_event("Newchannel", caller))
        call = Call(caller.linkedid, plan, caller, handset, did)
        self.calls[call.linkedid] = call
        self._bind(call, handset, caller)
        self.calls_started += 1
        if self.noise:
            self.emit(shape.newexten(caller, "NoOp", f"{did.label}: inbound from {plan.caller}"))
            caller.priority = 2
            self.emit(shape.newexten(caller, "Answer", ""))
        self._set_state(caller, UP)
        caller.answered_at = self.now
        if handset is not None:
            self._set_state(handset, UP)
            handset.answered_at = self.now
            self.emit(shape.dial_end(None, handset, "ANSWER"))
            handset.context, handset.exten, handset.priority = "caller-handset", "s", 5
        caller.priority = 3
        if did.ivr:
            self._later(call, _DIALPLAN_STEP, self._agi_step, call, "contract")
        else:
            self._later(call, _DIALPLAN_STEP, self._to_queue, call)
        return call

    def _later(self, call: Call, delay: float, callback: Callable[..., object], *args: Any) -> None:
        call.timers.append(self.schedule(delay, self._if_alive, call, callback, args))

    def _if_alive(self, call: Call, callback: Callable[..., object], args: tuple[Any, ...]) -> None:
        if not call.ended:
            callback(*args)

    def _set_state(self, channel: Channel, state: int) -> None:
        channel.state = state
        if state == UP and channel.answered_at is None:
            channel.answered_at = self.now
        self.emit(shape.channel_event("Newstate", channel))

    def set_variable(self, channel: Channel, name: str, value: str) -> None:
        channel.variables[name] = value
        call = self.call_of(channel.name)
        if call is not None:
            call.vars[name] = value
        self.emit(shape.varset(channel, name, value))

    def _record(self, call: Call, channel: Channel, kind: str, a: str, b: str) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(self.epoch()))
        day = time.strftime("%Y/%m/%d", time.gmtime(self.epoch()))
        base = f"{kind}-{a}-{b.lstrip('+')}-{stamp}-{channel.uniqueid}"
        if self.noise:
            self.emit(shape.newexten(channel, "Set", f"__CALLFILENAME={base}"))
        self.set_variable(channel, "__CALLFILENAME", base)
        channel.priority += 1
        path = f"{self.spec.monitor_dir}/{day}/{base}.wav"
        if self.noise:
            self.emit(shape.newexten(channel, "MixMonitor", f"{day}/{base}.wav,b"))
        self.set_variable(channel, "MIXMONITOR_FILENAME", path)
        self.emit(shape.channel_event("MixMonitorStart", channel))
        channel.priority += 1
        if self.noise:
            self.emit(shape.newexten(channel, "Set", f"CDR(recordingfile)={base}.wav"))
        channel.priority += 1
        call.recording = path

    def _to_queue(self, call: Call, preferred: str | None = None) -> None:
        did = call.did
        if did is not None and did.record:
            self._record(call, call.caller, "in", did.number, call.plan.caller)
        queue = self.queues.get(did.queue) if did is not None and did.queue else None
        if queue is None:
            self._caller_hangs_up_alone(call)
            return
        caller = call.caller
        caller.application, caller.application_data = "Queue", f"{queue.spec.name},t,,,60"
        if self.noise:
            self.emit(shape.newexten(caller, "Queue", caller.application_data))
            self.emit(shape.device_state_change(f"Queue:{queue.spec.name}", "RINGING"))
        self._varsets(
            caller,
            [
                (n, "")
                for n in (
                    "ANSWEREDTIME",
                    "ANSWEREDTIME_MS",
                    "DIALEDTIME",
                    "DIALEDTIME_MS",
                    "QUEUEWAIT",
                    "QUEUEWAIT_MS",
                )
            ],
        )
        entry = QueueEntry(call, queue, self.now, len(queue.entries) + 1, preferred=preferred)
        queue.entries.append(entry)
        call.entry = entry
        self.emit(
            shape.queue_caller(
                "QueueCallerJoin",
                caller,
                queue.spec.name,
                [
                    ("Position", str(len(queue.entries))),
                    ("Count", str(len(queue.entries))),
                ],
            )
        )
        entry.abandon_timer = self.schedule(
            call.plan.patience, self._if_alive, call, self._caller_abandons, (entry,)
        )
        call.timers.append(entry.abandon_timer)
        self._serve(queue)

    # --- the queue engine --------------------------------------------------------

    def _serve(self, queue: Queue) -> None:
        """Ring members for every waiting caller that may ring now (autofill)."""
        busy = {leg.agent.extension for e in queue.entries for leg in e.attempts if leg.agent}
        for entry in list(queue.entries):
            if entry.attempts or entry.retry_timer is not None or entry.call.ended:
                continue
            candidates = [m for m in queue.members if self._available(m, busy)]
            if not candidates:
                return
            chosen = self._choose(queue, entry, candidates)
            for member in chosen:
                busy.add(member.agent.extension)
                self._ring_member(entry, member)

    def _choose(self, queue: Queue, entry: QueueEntry, candidates: list[Member]) -> list[Member]:
        if entry.preferred:
            owner = [m for m in candidates if m.agent.extension == entry.preferred]
            if owner:
                return owner
        strategy = queue.spec.strategy
        if strategy == "ringall":
            return candidates
        if strategy == "random":
            return [self.rng.choice(candidates)]
        if strategy == "leastrecent":
            return [min(candidates, key=lambda m: m.last_call)]
        if strategy == "fewestcalls":
            return [min(candidates, key=lambda m: m.calls_taken)]
        order = queue.members
        start = queue.rr_next if strategy == "rrmemory" else 0
        for step in range(len(order)):
            member = order[(start + step) % len(order)]
            if member in candidates:
                if strategy == "rrmemory":
                    queue.rr_next = (order.index(member) + 1) % len(order)
                return [member]
        return [candidates[0]]

    def _dial_leg(self, call: Call, agent: Agent | None, exten: str, context: str) -> Leg:
        """Create the channels for dialling an agent (Local pair or device)."""
        linkedid = call.linkedid
        spec = agent.spec if agent else None
        if spec is None or spec.interface.startswith("Local/"):
            one, two = self._local_pair(exten, context, linkedid)
            self.emit(shape.channel_event("Newchannel", one))
            self.emit(shape.channel_event("Newchannel", two))
            for channel in (one, two):
                channel.caller_num, channel.caller_name = call.plan.caller, call.caller.caller_name
                channel.connected_num = call.plan.caller
                channel.connected_name = call.caller.caller_name
                self.emit(shape.new_callerid(channel))
                if self.noise and call.recording:
                    self.emit(
                        shape.varset(channel, "__CALLFILENAME", call.vars.get("__CALLFILENAME", ""))
                    )
            for channel in (one, two):
                self._varsets(channel, [("DIALEDPEERNUMBER", f"{exten}@{context}/n")])
            self.emit(shape.local_bridge(one, two))
            leg = Leg(one, two, agent, self.now)
        else:
            one = self._device_channel(spec.interface, linkedid, "from-internal", exten)
            one.caller_num, one.caller_name = call.plan.caller, call.caller.caller_name
            one.connected_num, one.connected_name = call.plan.caller, call.caller.caller_name
            self.emit(shape.channel_event("Newchannel", one))
            leg = Leg(one, None, agent, self.now)
        self._bind(call, leg.one, leg.two)
        return leg

    def _leg_rings(self, call: Call, leg: Leg, dial_string: str, member: Member | None) -> None:
        if member is not None:
            spec = member.agent.spec
            self.emit(
                shape.agent_event(
                    "AgentCalled",
                    call.caller,
                    leg.one,
                    member.queue.spec.name,
                    spec.interface,
                    spec.name,
                    [],
                )
            )
        self.emit(shape.dial_begin(call.caller, leg.one, dial_string))
        if self.noise and leg.two is not None and leg.agent is not None:
            self.emit(
                shape.hangup_handler(
                    "HangupHandlerPush", leg.two, f"agent-hangup,s,1({leg.agent.extension})"
                )
            )
        if leg.agent is not None:
            leg.agent.call = call
            self._member_status(leg.agent, RINGING_STATE)
        leg.one.exten = call.caller.exten
        self._set_state(leg.one, RINGING)
        self.emit(shape.dial_state(call.caller, leg.one, "RINGING"))

    def _ring_member(self, entry: QueueEntry, member: Member) -> None:
        call = entry.call
        agent = member.agent
        leg = self._dial_leg(call, agent, agent.extension, "from-queue")
        entry.attempts.append(leg)
        dial_string = agent.spec.interface
        self._leg_rings(call, leg, dial_string, member)
        delay = (
            call.plan.answer_delay
            if call.plan.answer_delay is not None
            else agent.spec.answer_delay
        )
        answers = (
            agent.extension not in call.plan.no_answer
            and self.rng.random() < agent.spec.answer_probability
            and delay < entry.queue.spec.timeout
        )
        if answers:
            leg.timer = self.schedule(
                delay, self._if_alive, call, self._member_answers, (entry, leg, member)
            )
        else:
            leg.timer = self.schedule(
                entry.queue.spec.timeout,
                self._if_alive,
                call,
                self._ring_no_answer,
                (entry, leg, member),
            )
        call.timers.append(leg.timer)

    def _drop_leg(self, call: Call, leg: Leg, status: str, cause: int = 0) -> None:
        """A ringing leg that will not be answered: DialEnd and hang it up."""
        if leg.timer is not None:
            leg.timer.cancel()
        if status == "NOANSWER":
            self.emit(shape.dial_end(call.caller, leg.one, "NOANSWER"))
        self.emit(shape.dial_end(call.caller, leg.one, "CANCEL"))
        if leg.two is not None:
            self.emit(shape.hangup_request("HangupRequest", leg.two, cause))
        self._hangup_channel(leg.one, cause)
        if leg.two is not None:
            self.emit(shape.hangup_request("SoftHangupRequest", leg.two, 16))
            if self.noise and leg.agent is not None:
                self.emit(
                    shape.hangup_handler(
                        "HangupHandlerRun", leg.two, f"agent-hangup,s,1({leg.agent.extension})"
                    )
                )
        if leg.agent is not None:
            leg.agent.call = None
            self._member_status(leg.agent, NOT_INUSE)
        if leg.two is not None:
            self._hangup_channel(leg.two, cause)

    def _ring_no_answer(self, entry: QueueEntry, leg: Leg, member: Member) -> None:
        call = entry.call
        spec = member.agent.spec
        ring_ms = round((self.now - leg.started_at) * 1000)
        self.emit(
            shape.agent_event(
                "AgentRingNoAnswer",
                call.caller,
                leg.one,
                entry.queue.spec.name,
                spec.interface,
                spec.name,
                [("RingTime", str(ring_ms))],
            )
        )
        entry.attempts.remove(leg)
        self._drop_leg(call, leg, "NOANSWER")
        if not entry.attempts:
            entry.retry_timer = self.schedule(
                entry.queue.spec.retry, self._if_alive, call, self._retry, (entry,)
            )
            call.timers.append(entry.retry_timer)
        self._serve_queues_of([leg.agent])

    def _serve_queues_of(self, agents: list[Agent | None], also: Queue | None = None) -> None:
        """Freed agents may take callers waiting in any of their queues."""
        queues = [also] if also is not None else []
        for agent in agents:
            if agent is not None:
                queues += [m.queue for m in agent.members if m.queue not in queues]
        for queue in queues:
            self._serve(queue)

    def _retry(self, entry: QueueEntry) -> None:
        entry.retry_timer = None
        self._serve(entry.queue)
        # Others may have become free for callers behind this one as well.

    def _member_answers(self, entry: QueueEntry, leg: Leg, member: Member) -> None:
        call = entry.call
        queue = entry.queue
        entry.attempts.remove(leg)
        cancelled = list(entry.attempts)
        entry.attempts.clear()
        for other in cancelled:
            self._drop_leg(call, other, "CANCEL", cause=26)
        if leg.two is not None:
            self._set_state(leg.two, UP)
        self._set_state(leg.one, UP)
        leg.one.answered_at = self.now
        self.emit(shape.dial_end(call.caller, leg.one, "ANSWER"))
        position = queue.entries.index(entry) + 1
        queue.entries.remove(entry)
        call.entry = None
        if entry.abandon_timer is not None:
            entry.abandon_timer.cancel()
        hold = self.now - entry.joined_at
        ring = self.now - leg.started_at
        if self.noise:
            spec = member.agent.spec
            member_vars = [
                ("MEMBERINTERFACE", spec.interface),
                ("MEMBERNAME", spec.name),
                ("MEMBERCALLS", str(member.calls_taken)),
                ("MEMBERLASTCALL", str(member.last_call)),
                ("MEMBERPENALTY", str(spec.penalty)),
                ("MEMBERDYNAMIC", "0"),
                ("MEMBERREALTIME", "0"),
            ]
            entry_vars = [
                ("QEHOLDTIME", str(int(hold))),
                ("QEORIGINALPOS", str(entry.original_position)),
            ]
            for channel in (call.caller, leg.one):
                self._varsets(channel, member_vars)
            for channel in (call.caller, leg.one):
                self._varsets(channel, entry_vars)
            for channel in (call.caller, leg.one):
                self._varsets(channel, self._queue_variables(queue))
        self.emit(
            shape.queue_caller(
                "QueueCallerLeave",
                call.caller,
                queue.spec.name,
                [
                    ("Position", str(position)),
                    ("Count", str(len(queue.entries))),
                ],
            )
        )
        spec = member.agent.spec
        self.emit(
            shape.agent_event(
                "AgentConnect",
                call.caller,
                leg.one,
                queue.spec.name,
                spec.interface,
                spec.name,
                [("HoldTime", str(int(hold))), ("RingTime", str(int(ring)))],
            )
        )
        queue.total_hold += hold
        if hold <= queue.spec.servicelevel:
            queue.within_sl += 1
        member.calls_taken += 1
        member.agent.calls_taken += 1
        member.last_call = member.agent.last_call = int(self.epoch())
        self._connect(call, leg)
        call.vars["_queue"] = queue.spec.name
        call.vars["_member_interface"] = spec.interface
        call.vars["_hold"] = str(int(hold))
        self._schedule_talk(call, call.plan.talk)
        self._serve_queues_of([other.agent for other in cancelled], also=queue)

    def _connect(self, call: Call, leg: Leg) -> None:
        call.agent_leg = leg
        call.answered_at = self.now
        if leg.agent is not None:
            call.vars["_answered_by"] = leg.agent.spec.extension
        call.bridge_id = self._bridge_id()
        self.emit(shape.bridge_event("BridgeCreate", call.bridge_id, 0))
        self.emit(shape.bridge_channel("BridgeEnter", call.bridge_id, 1, leg.one))
        self.emit(shape.bridge_channel("BridgeEnter", call.bridge_id, 2, call.caller))
        leg.one.bridge_id = call.caller.bridge_id = call.bridge_id
        self._varsets(leg.one, [("BRIDGEPEER", call.caller.name)])
        self._varsets(call.caller, [("BRIDGEPEER", leg.one.name)])
        if leg.agent is not None:
            agent = leg.agent
            self._later(call, _STATUS_SETTLE, self._agent_in_use, agent, call)

    def _agent_in_use(self, agent: Agent, call: Call) -> None:
        if agent.call is call:
            self._member_status(agent, INUSE)

    def _schedule_talk(self, call: Call, talk: float) -> None:
        plan = call.plan
        if plan.transfer_to and "_transferred" not in call.vars:
            self._later(call, plan.transfer_after, self._plan_transfer, call)
            return
        if plan.hold_after is not None and "_held" not in call.vars:
            call.vars["_held"] = "1"
            self._later(call, plan.hold_after, self.hold, call, True)
            self._later(call, plan.hold_after + plan.hold_for, self.hold, call, False)
        end = self.agent_hangs_up if plan.hangup_by == "agent" else self.caller_hangs_up
        self._later(call, talk, end, call)

    def _plan_transfer(self, call: Call) -> None:
        target = call.plan.transfer_to
        if target:
            self.blind_transfer(call, target, self.spec.transfer_context)

    # --- events during the conversation ----------------------------------------------

    def hold(self, call: Call, on: bool) -> None:
        """The agent puts the caller on hold (or takes them off)."""
        leg = call.agent_leg
        if leg is None or call.on_hold == on:
            return
        call.on_hold = on
        self.emit(shape.hold(leg.one) if on else shape.channel_event("Unhold", leg.one))

    def blind_transfer(self, call: Call, exten: str, context: str) -> bool:
        """The agent blind-transfers the caller to ``exten``; False if nobody is connected."""
        leg = call.agent_leg
        if leg is None:
            return False
        call.vars["_transferred"] = exten
        self.emit(shape.blind_transfer(leg.one, call.caller, call.bridge_id, context, exten))
        talk_so_far = self.now - call.answered_at
        self._agent_complete(call, leg, "transfer")
        if leg.two is not None:
            self.emit(shape.hangup_request("HangupRequest", leg.two, 16))
        self.emit(shape.bridge_channel("BridgeLeave", call.bridge_id, 1, leg.one))
        call.caller.context, call.caller.exten, call.caller.priority = context, exten, 1
        self.emit(shape.bridge_channel("BridgeLeave", call.bridge_id, 0, call.caller))
        self.emit(shape.bridge_event("BridgeDestroy", call.bridge_id, 0))
        self._hangup_channel(leg.one, 16)
        if leg.two is not None:
            self.emit(shape.hangup_request("SoftHangupRequest", leg.two, 16))
            self._hangup_channel(leg.two, 16)
        self._release_agent(leg.agent, call)
        call.agent_leg = None
        call.bridge_id = ""
        target = self.agents.get(exten)
        if target is None or target.call is not None or target.status != NOT_INUSE:
            self._later(call, 0.0, self._caller_hangs_up_alone, call)
            return True
        new_leg = self._dial_leg(call, target, exten, "from-queue")
        self._leg_rings(call, new_leg, f"{exten}@from-queue/n", None)
        delay = (
            call.plan.answer_delay
            if call.plan.answer_delay is not None
            else target.spec.answer_delay
        )
        remaining = max(call.plan.talk - talk_so_far - delay, 1.0)
        self._later(call, delay, self._direct_answer, call, new_leg, remaining)
        return True

    def attended_transfer(self, call: Call, exten: str, context: str) -> bool:
        """AMI Atxfer from the agent's leg: the caller hears music, the agent's leg leaves
        the bridge and dials ``exten``; the agent hanging up completes the transfer."""
        leg = call.agent_leg
        target = self.agents.get(exten)
        if leg is None or call.consult is not None:
            return False
        if target is None or target.call is not None or target.status != NOT_INUSE:
            return False
        self.emit(shape.music_on_hold("MusicOnHoldStart", call.caller))
        self.emit(shape.bridge_channel("BridgeLeave", call.bridge_id, 1, leg.one))
        leg.one.bridge_id = ""
        consult = self._dial_leg(call, target, exten, "from-queue")
        self._leg_rings(call, consult, f"{exten}@from-queue/n", None)
        call.consult = consult
        delay = target.spec.answer_delay
        self._later(call, delay, self._consult_answers, call, consult)
        return True

    def _consult_answers(self, call: Call, consult: Leg) -> None:
        leg = call.agent_leg
        if leg is None or call.consult is not consult:
            return
        if consult.two is not None:
            self._set_state(consult.two, UP)
        self._set_state(consult.one, UP)
        consult.one.answered_at = self.now
        self.emit(shape.dial_end(call.caller, consult.one, "ANSWER"))
        call.consult_bridge = self._bridge_id()
        self.emit(shape.bridge_event("BridgeCreate", call.consult_bridge, 0))
        self.emit(shape.bridge_channel("BridgeEnter", call.consult_bridge, 1, leg.one))
        self.emit(shape.bridge_channel("BridgeEnter", call.consult_bridge, 2, consult.one))
        leg.one.bridge_id = consult.one.bridge_id = call.consult_bridge

    def _complete_attended(self, call: Call) -> None:
        """The transferer hung up while talking to the target: caller and target are joined."""
        old, new = call.agent_leg, call.consult
        assert old is not None and new is not None
        self.emit(
            shape.attended_transfer(
                old.one, call.bridge_id, new.one, call.consult_bridge, call.caller
            )
        )
        call.vars["_transferred"] = new.one.exten
        self._agent_complete(call, old, "transfer")
        self.emit(shape.music_on_hold("MusicOnHoldStop", call.caller))
        if old.two is not None:
            self.emit(shape.hangup_request("HangupRequest", old.two, 16))
        self.emit(shape.bridge_channel("BridgeLeave", call.consult_bridge, 1, old.one))
        self.emit(shape.bridge_channel("BridgeLeave", call.consult_bridge, 0, new.one))
        self.emit(shape.bridge_event("BridgeDestroy", call.consult_bridge, 0))
        self._hangup_channel(old.one, 16)
        if old.two is not None:
            self._hangup_channel(old.two, 16)
        self._release_agent(old.agent, call)
        self.emit(shape.bridge_channel("BridgeEnter", call.bridge_id, 2, new.one))
        new.one.bridge_id = call.bridge_id
        call.agent_leg, call.consult, call.consult_bridge = new, None, ""
        call.answered_at = self.now
        end = self.agent_hangs_up if call.plan.hangup_by == "agent" else self.caller_hangs_up
        self._later(call, max(call.plan.talk, 1.0), end, call)

    def mute(self, call: Call, on: bool) -> None:
        """MuteAudio on the agent's leg: no event, as on Asterisk; kept for Status."""
        call.muted = on

    def redirect(self, call: Call, exten: str, context: str) -> bool:
        """AMI Redirect of the caller to an agent's extension: transfer, or jump the queue.

        A connected call is handed over as a blind transfer; a queued caller
        stops ringing others and is offered to that agent first. False when
        ``exten`` is not an agent the model knows.
        """
        if call.agent_leg is not None:
            return self.blind_transfer(call, exten, context)
        entry = call.entry
        if entry is None or exten not in self.agents:
            return False
        entry.preferred = exten
        dropped = list(entry.attempts)
        entry.attempts.clear()
        for leg in dropped:
            self._drop_leg(call, leg, "CANCEL", cause=26)
        self._serve_queues_of([leg.agent for leg in dropped], also=entry.queue)
        return True

    def _direct_answer(self, call: Call, leg: Leg, talk: float) -> None:
        if leg.two is not None:
            self._set_state(leg.two, UP)
        self._set_state(leg.one, UP)
        leg.one.answered_at = self.now
        self.emit(shape.dial_end(call.caller, leg.one, "ANSWER"))
        self._connect(call, leg)
        self._schedule_talk(call, talk)

    def _agent_complete(self, call: Call, leg: Leg, reason: str) -> None:
        queue = call.vars.get("_queue")
        if queue is None or leg.agent is None or "_completed" in call.vars:
            return
        call.vars["_completed"] = reason
        talk = self.now - call.answered_at
        q = self.queues.get(queue)
        if q is not None:
            q.completed += 1
            q.total_talk += talk
        spec = leg.agent.spec
        self.emit(
            shape.agent_event(
                "AgentComplete",
                call.caller,
                leg.one,
                queue,
                call.vars["_member_interface"],
                spec.name,
                [
                    ("HoldTime", call.vars["_hold"]),
                    ("TalkTime", str(int(talk))),
                    ("Reason", reason),
                ],
            )
        )

    def _release_agent(self, agent: Agent | None, call: Call, emit_status: bool = True) -> None:
        if agent is None or agent.call is not call:
            return
        agent.call = None
        wrapup = max((m.queue.spec.wrapuptime for m in agent.members), default=0.0)
        agent.wrapup_until = self.now + wrapup
        agent.status = NOT_INUSE
        if emit_status:
            self._member_status(agent, NOT_INUSE)
        for member in agent.members:
            self._serve(member.queue)
        if wrapup:
            for member in agent.members:
                self.schedule(wrapup, self._serve, member.queue)

    # --- ends of calls ---------------------------------------------------------------

    def agent_hangs_up(self, call: Call) -> None:
        """The connected agent ends the conversation."""
        leg = call.agent_leg
        if leg is None:
            self.caller_hangs_up(call)
            return
        if leg.two is not None:
            self.emit(shape.hangup_request("SoftHangupRequest", leg.two, 16))
            if self.noise and leg.agent is not None:
                self.emit(
                    shape.hangup_handler(
                        "HangupHandlerRun", leg.two, f"agent-hangup,s,1({leg.agent.extension})"
                    )
                )
            self.emit(shape.hangup_request("HangupRequest", leg.one, 16))
        agent = leg.agent
        if agent is not None and agent.call is call:
            self._member_status(agent, NOT_INUSE)
        if leg.two is not None:
            self._hangup_channel(leg.two, 16)
        self._agent_complete(call, leg, "agent")
        self.emit(shape.bridge_channel("BridgeLeave", call.bridge_id, 1, leg.one))
        self._hangup_channel(leg.one, 16)
        self.emit(shape.bridge_channel("BridgeLeave", call.bridge_id, 0, call.caller))
        self.emit(shape.bridge_event("BridgeDestroy", call.bridge_id, 0))
        call.agent_leg = None
        self._caller_hangs_up_alone(call)
        self._release_agent(agent, call, emit_status=False)

    def caller_hangs_up(self, call: Call) -> None:
        """The outside caller hangs up, wherever the call is."""
        if call.ended:
            return
        entry = call.entry
        if entry is not None:
            self._caller_abandons(entry)
            return
        leg = call.agent_leg
        if leg is None:
            self._caller_hangs_up_alone(call)
            return
        self._hangup_caller_side(call, first=True)
        self._agent_complete(call, leg, "caller")
        self.emit(shape.bridge_channel("BridgeLeave", call.bridge_id, 1, call.caller))
        self._hangup_channel(call.caller, 16)
        self.emit(shape.bridge_channel("BridgeLeave", call.bridge_id, 0, leg.one))
        self.emit(shape.bridge_event("BridgeDestroy", call.bridge_id, 0))
        if leg.two is not None:
            self.emit(shape.hangup_request("HangupRequest", leg.two, 16))
        self._hangup_channel(leg.one, 16)
        if leg.two is not None:
            self.emit(shape.hangup_request("SoftHangupRequest", leg.two, 16))
            self._hangup_channel(leg.two, 16)
        call.agent_leg = None
        self._finish(call)
        self._release_agent(leg.agent, call)

    def _hangup_caller_side(self, call: Call, first: bool) -> None:
        """The outside party goes: the handset (lab) or the trunk channel requests hangup."""
        if call.handset is not None:
            self.emit(shape.hangup_request("SoftHangupRequest", call.handset, 16))
            self.emit(shape.hangup_request("HangupRequest", call.caller, 16))
            self._hangup_channel(call.handset, 16)
        else:
            self.emit(shape.hangup_request("HangupRequest", call.caller, 16))

    def _caller_abandons(self, entry: QueueEntry) -> None:
        call = entry.call
        queue = entry.queue
        if call.ended or entry not in queue.entries:
            return
        self._hangup_caller_side(call, first=True)
        attempts = list(entry.attempts)
        entry.attempts.clear()
        for leg in attempts:
            if leg.timer is not None:
                leg.timer.cancel()
            self.emit(shape.dial_end(call.caller, leg.one, "CANCEL"))
            self.emit(shape.dial_end(call.caller, leg.one, "CANCEL"))
            if leg.two is not None:
                self.emit(shape.hangup_request("HangupRequest", leg.two, 0))
            self._hangup_channel(leg.one, 0)
        position = queue.entries.index(entry) + 1
        self.emit(
            shape.queue_caller(
                "QueueCallerAbandon",
                call.caller,
                queue.spec.name,
                [
                    ("Position", str(position)),
                    ("OriginalPosition", str(entry.original_position)),
                    ("HoldTime", str(int(self.now - entry.joined_at))),
                ],
            )
        )
        queue.abandoned += 1
        for leg in attempts:
            if leg.two is not None:
                self.emit(shape.hangup_request("SoftHangupRequest", leg.two, 16))
                self._hangup_channel(leg.two, 0)
        queue.entries.remove(entry)
        call.entry = None
        if entry.retry_timer is not None:
            entry.retry_timer.cancel()
        self.emit(
            shape.queue_caller(
                "QueueCallerLeave",
                call.caller,
                queue.spec.name,
                [
                    ("Position", str(position)),
                    ("Count", str(len(queue.entries))),
                ],
            )
        )
        self.emit(shape.hangup_request("SoftHangupRequest", call.caller, 16))
        self._hangup_channel(call.caller, 16)
        self._finish(call)
        for leg in attempts:
            if leg.agent is not None and leg.agent.call is call:
                leg.agent.call = None
                self._member_status(leg.agent, NOT_INUSE)
        self._serve_queues_of([leg.agent for leg in attempts], also=queue)

    def _caller_hangs_up_alone(self, call: Call) -> None:
        """Hang up the caller's channels when nobody else is in the call."""
        if call.ended:
            return
        if call.entry is not None:
            self._caller_abandons(call.entry)
            return
        queue = self.queues.get(call.vars.get("_queue", ""))
        if queue is not None and self.noise:
            answered = self.now - call.answered_at
            for _ in range(2):  # Asterisk sets the block twice as the Queue() app unwinds
                self._varsets(call.caller, self._queue_variables(queue))
                self._varsets(
                    call.caller,
                    [
                        ("ANSWEREDTIME", str(int(answered))),
                        ("ANSWEREDTIME_MS", str(int(answered * 1000))),
                    ],
                )
        self.emit(shape.hangup_request("SoftHangupRequest", call.caller, 16))
        if call.handset is not None and not call.handset.hung_up:
            self.emit(shape.hangup_request("HangupRequest", call.handset, 16))
            self.emit(shape.hangup_request("SoftHangupRequest", call.handset, 16))
        self._hangup_channel(call.caller, 16)
        if call.handset is not None and not call.handset.hung_up:
            self._hangup_channel(call.handset, 16)
        self._finish(call)

    def _hangup_channel(self, channel: Channel, cause: int) -> None:
        if channel.hung_up:
            return
        channel.hung_up = True
        self.emit(shape.hangup(channel, cause))
        answered = channel.answered_at
        duration = int(self.now - channel.created_at)
        self.emit(
            shape.cdr(
                channel,
                destination=channel.exten,
                destination_context=channel.context,
                destination_channel="",
                last_app=channel.application or "Hangup",
                last_data=channel.application_data,
                start=self._stamp(channel.created_at),
                answer=self._stamp(answered) if answered is not None else "",
                end=self._stamp(self.now),
                duration=duration,
                billable=int(self.now - answered) if answered is not None else 0,
                disposition="ANSWERED" if answered is not None else "NO ANSWER",
            )
        )
        self.channels.pop(channel.name, None)
        self._call_of_channel.pop(channel.name, None)

    def _finish(self, call: Call) -> None:
        if call.ended:
            return
        call.ended = True
        for timer in call.timers:
            timer.cancel()
        call.timers.clear()
        for channel in (call.handset, call.caller):
            if channel is not None and not channel.hung_up:
                self._hangup_channel(channel, 16)
        self.calls.pop(call.linkedid, None)
        self.calls_ended += 1
        if self.on_finish is not None:
            self.on_finish(call)

    def hangup_channel(self, channel_name: str) -> bool:
        """AMI Hangup: end the call from the side of this channel. False if no such channel."""
        call = self.call_of(channel_name)
        if call is None:
            return False
        leg = call.agent_leg
        if call.outbound:
            self._outbound_ends(
                call,
                by_remote=call.remote is not None
                and channel_name in (call.remote.one.name, getattr(call.remote.two, "name", "")),
            )
        elif leg is not None and channel_name in (leg.one.name, getattr(leg.two, "name", "")):
            if call.consult is not None and call.consult_bridge:
                self._complete_attended(call)
            else:
                self.agent_hangs_up(call)
        else:
            self.caller_hangs_up(call)
        return True

    # --- IVR over FastAGI ----------------------------------------------------------------

    def agi_environment(
        self, call: Call, script: str, host: str, port: int
    ) -> list[tuple[str, str]]:
        """The ``agi_*`` variables Asterisk sends first, as in ``tests/fixtures/agi``."""
        caller = call.caller
        return [
            ("agi_network", "yes"),
            ("agi_network_script", script),
            ("agi_request", f"agi://{host}:{port}/{script}"),
            ("agi_channel", caller.name),
            ("agi_language", "en"),
            ("agi_type", caller.name.split("/", 1)[0]),
            ("agi_uniqueid", caller.uniqueid),
            ("agi_version", "22.10.1"),
            ("agi_callerid", call.plan.caller),
            ("agi_calleridname", call.plan.caller_name or "unknown"),
            ("agi_callingpres", "0"),
            ("agi_callingani2", "0"),
            ("agi_callington", "0"),
            ("agi_callingtns", "0"),
            ("agi_dnid", "unknown"),
            ("agi_rdnis", "unknown"),
            ("agi_context", caller.context),
            ("agi_extension", caller.exten),
            ("agi_priority", str(caller.priority)),
            ("agi_enhanced", "0.0"),
            ("agi_accountcode", ""),
            ("agi_threadid", "140292080678592"),
        ]

    def _agi_step(self, call: Call, script: str) -> None:
        caller = call.caller
        caller.application, caller.application_data = "AGI", f"agi://127.0.0.1:4573/{script}"
        if self.noise:
            self.emit(shape.newexten(caller, "AGI", caller.application_data))
        if self.agi_handler is not None:
            call.agi_running = True
            self.agi_handler(AgiRequest(call, script, []))
            return
        self._scripted_agi(call, script)

    def _scripted_agi(self, call: Call, script: str) -> None:
        """Play the hub's part as the fixtures show it, for runs without a live hub."""
        plan = call.plan
        caller = call.caller
        if script == "contract":
            self.set_variable(caller, "CTIHUB_CONTRACT", plan.contract)
            self.agi_finished(call, script)
            return
        caller.priority = 5
        digits = plan.ivr_digits
        body = digits.rstrip("#")
        delay = 1.6
        for index, digit in enumerate(digits):
            at = delay + index * _DTMF_GAP
            self._later(call, at, self.key_digit, call, digit)
            if index == len(body) - 1 and body:
                self._later(call, at + 0.1, self.set_variable, caller, "CTIHUB_CASE", body)
                if plan.case_owner:
                    self._later(
                        call,
                        at + 0.102,
                        self.set_variable,
                        caller,
                        "CTIHUB_CASE_OWNER",
                        plan.case_owner,
                    )
        spoken = len(body) * _SAY_DIGIT
        self._later(call, delay + len(digits) * _DTMF_GAP + spoken, self.agi_finished, call, script)

    def key_digit(self, call: Call, digit: str) -> None:
        """The caller presses a key: DTMFBegin now, DTMFEnd 100 ms later."""
        self.emit(shape.dtmf("DTMFBegin", call.caller, digit))
        self._later(call, 0.1, self._dtmf_end, call, digit)

    def _dtmf_end(self, call: Call, digit: str) -> None:
        self.emit(shape.dtmf("DTMFEnd", call.caller, digit))

    def agi_finished(self, call: Call, script: str) -> None:
        """An AGI session ended; the dialplan continues according to the variables set."""
        call.agi_running = False
        if call.ended:
            return
        if script == "contract":
            if call.vars.get("CTIHUB_CONTRACT", "").lower() == "expired":
                call.caller.application = "Playback"
                delay = 0.0 if self.agi_handler is not None else _EXPIRED_PROMPT
                self._later(call, delay, self._caller_hangs_up_alone, call)
                return
            self._later(call, 0.0, self._agi_step, call, "tracking")
            return
        owner = call.vars.get("CTIHUB_CASE_OWNER") or None
        self._later(call, 0.0, self._to_queue, call, owner)

    # --- click-to-call ---------------------------------------------------------------------

    def chan_spy(self, channel: str, prefix: str, options: str, action_id: str) -> Spy:
        """AMI Originate of ``ChanSpy(prefix,options)``: the supervisor's phone (``channel``)
        answers and spies on the first live channel whose name starts with ``prefix``."""
        spied = next(
            (c.name for c in self.channels.values() if c.name.startswith(prefix) and not c.hung_up),
            None,
        )
        spy = Spy(channel, prefix, options, spied, self.now)
        self.spies.append(spy)
        if action_id:
            self.emit(
                [
                    ("Event", "OriginateResponse"),
                    ("Privilege", "call,all"),
                    ("ActionID", action_id),
                    ("Response", "Success"),
                    ("Channel", channel),
                    ("Application", "ChanSpy"),
                    ("Data", f"{prefix},{options}"),
                    ("Reason", "4"),
                ]
            )
        if spied is not None:
            self.emit(
                [
                    ("Event", "ChanSpyStart"),
                    ("Privilege", "call,all"),
                    ("SpyerChannel", channel),
                    ("SpyeeChannel", spied),
                ]
            )
        return spy

    def originate(
        self,
        channel: str,
        context: str,
        exten: str,
        caller_id: tuple[str, str] | None,
        action_id: str,
        variables: dict[str, str],
        talk: float | None = None,
    ) -> Call:
        """AMI Originate: ring ``channel`` (the agent's phone), then dial ``exten``."""
        tech, _, rest = channel.partition("/")
        target = rest.split("@", 1)[0]
        agent = self.agents.get(target)
        name = caller_id[0] if caller_id else (agent.spec.name if agent else UNKNOWN)
        num = caller_id[1] if caller_id else target
        plan = CallPlan(
            caller=num,
            did=exten,
            caller_name=name,
            talk=talk if talk is not None else self.spec.outbound_talk,
        )
        if tech.lower() == "local":
            local_ctx = rest.split("@", 1)[1].split("/", 1)[0] if "@" in rest else "default"
            one, two = self._local_pair(target, local_ctx, None)
            self.emit(shape.channel_event("Newchannel", one))
            self.emit(shape.channel_event("Newchannel", two))
            for ch in (one, two):
                ch.caller_num, ch.caller_name = num, name
                ch.connected_num, ch.connected_name = num, name
                self.emit(shape.new_callerid(ch))
            self.emit(shape.local_bridge(one, two))
            self.emit(shape.dial_begin(None, one, f"{target}@{local_ctx}/n"))
            leg = Leg(one, two, agent, self.now)
        else:
            one = self._device_channel(channel, None, "from-internal", target)
            one.caller_num, one.caller_name = num, name
            self.emit(shape.channel_event("Newchannel", one))
            self.emit(shape.dial_begin(None, one, rest))
            leg = Leg(one, None, agent, self.now)
        call = Call(one.linkedid, plan, one, None, None, outbound=True, originate_leg=leg)
        self.calls[call.linkedid] = call
        self._bind(call, leg.one, leg.two)
        self.calls_started += 1
        for key, value in variables.items():
            one.variables[key] = value
            call.vars[key] = value
        if agent is not None:
            agent.call = call
        delay = 0.0 if leg.two is not None else (agent.spec.answer_delay if agent else 1.0)
        if leg.two is None:
            self._set_state(one, RINGING)
        self._later(call, delay, self._originate_answered, call, context, exten, action_id)
        return call

    def _originate_answered(self, call: Call, context: str, exten: str, action_id: str) -> None:
        leg = call.originate_leg
        assert leg is not None
        if leg.two is not None:
            self._set_state(leg.two, UP)
        self._set_state(leg.one, UP)
        leg.one.answered_at = self.now
        if action_id:
            self.emit(shape.originate_response(action_id, True, leg.one, context, exten, 4))
        self.emit(shape.dial_end(None, leg.one, "ANSWER"))
        agent = leg.agent
        if agent is not None and agent.members:
            self._member_status(agent, INUSE)
        one = leg.one
        one.context, one.exten, one.priority = context, exten, 1
        if self.noise:
            self.emit(
                shape.newexten(one, "NoOp", f"Outbound call to {exten} from {call.plan.caller}")
            )
        one.priority = 2
        self._record(call, one, "out", exten, call.plan.caller)
        one.application, one.application_data = "Dial", f"Local/{exten}@pstn/n,30"
        remote = self._dial_pstn(call, exten)
        call.remote = remote
        answers = self.rng.random() < self.spec.pstn_answer_probability
        if answers:
            self._later(call, self.spec.pstn_answer_delay, self._pstn_answers, call)
        else:
            self._later(call, 30.0, self._outbound_ends, call, False)

    def _dial_pstn(self, call: Call, number: str) -> Leg:
        """Dial the outside number: a Local pair into ``pstn`` (lab) or the trunk channel."""
        caller = call.caller
        if self.spec.inbound_style == "lab":
            one, two = self._local_pair(number, "pstn", call.linkedid)
            self.emit(shape.channel_event("Newchannel", one))
            self.emit(shape.channel_event("Newchannel", two))
            two.caller_num, two.caller_name = caller.caller_num, caller.caller_name
            two.connected_num, two.connected_name = number, caller.caller_name
            dial_string = f"{number}@pstn/n"
        else:
            one = self._device_channel(self.spec.trunk, call.linkedid, "from-trunk", number)
            self.emit(shape.channel_event("Newchannel", one))
            two = None
            dial_string = f"{self.spec.trunk.split('/', 1)[-1]}/{number}"
        one.caller_num, one.caller_name = number, caller.caller_name
        one.connected_num, one.connected_name = caller.caller_num, caller.caller_name
        self.emit(shape.new_callerid(one))
        if two is not None:
            self.emit(shape.new_callerid(two))
            self.emit(shape.local_bridge(one, two))
        leg = Leg(one, two, None, self.now)
        self._bind(call, one, two)
        self.emit(shape.dial_begin(caller, one, dial_string))
        self._set_state(one, RINGING)
        self.emit(shape.dial_state(caller, one, "RINGING"))
        return leg

    def _pstn_answers(self, call: Call) -> None:
        remote = call.remote
        assert remote is not None
        if remote.two is not None:
            self._set_state(remote.two, UP)
        self._set_state(remote.one, UP)
        remote.one.answered_at = self.now
        self.emit(shape.dial_end(call.caller, remote.one, "ANSWER"))
        call.bridge_id = self._bridge_id()
        call.answered_at = self.now
        self.emit(shape.bridge_event("BridgeCreate", call.bridge_id, 0))
        if remote.two is not None:
            remote.one.exten = ""
        self.emit(shape.bridge_channel("BridgeEnter", call.bridge_id, 1, remote.one))
        self.emit(shape.bridge_channel("BridgeEnter", call.bridge_id, 2, call.caller))
        remote.one.bridge_id = call.caller.bridge_id = call.bridge_id
        self._later(call, call.plan.talk, self._outbound_ends, call, True)

    def _outbound_ends(self, call: Call, by_remote: bool) -> None:
        """End a click-to-call: the far end hangs up (``by_remote``) or the agent does."""
        if call.ended:
            return
        remote = call.remote
        leg = call.originate_leg
        # Whoever hangs up first asks for the hangup; the bridge then empties.
        first, second = (remote, leg) if by_remote else (leg, remote)
        if remote is not None and not call.bridge_id:
            self.emit(shape.dial_end(call.caller, remote.one, "NOANSWER"))
        for side in (first, second):
            if side is None:
                continue
            requester = side.two or side.one
            self.emit(shape.hangup_request("SoftHangupRequest", requester, 16))
            if side.two is not None:
                self.emit(shape.hangup_request("HangupRequest", side.one, 16))
                self._hangup_channel(side.two, 16 if call.bridge_id else 0)
            if call.bridge_id:
                remaining = 1 if side is first else 0
                self.emit(shape.bridge_channel("BridgeLeave", call.bridge_id, remaining, side.one))
        if call.bridge_id:
            self.emit(shape.bridge_event("BridgeDestroy", call.bridge_id, 0))
        if remote is not None:
            self._hangup_channel(remote.one, 16 if call.bridge_id else 0)
        self._hangup_channel(call.caller, 16)
        self._finish(call)
        agent = leg.agent if leg is not None else None
        if agent is not None and agent.call is call:
            agent.call = None
            if agent.members:
                self._member_status(agent, NOT_INUSE)
                self._serve_queues_of([agent])

    # --- summaries for list actions ------------------------------------------------------

    def live_channels(self) -> list[Channel]:
        return [c for c in self.channels.values() if not c.hung_up]

    def queue_entries(self, queue: Queue) -> list[QueueEntry]:
        return list(queue.entries)
