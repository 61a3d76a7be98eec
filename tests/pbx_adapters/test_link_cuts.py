"""The AMI link cut at hundreds of seeded random moments during a simulated day.

The simulator runs a working day of mixed calls (queues, ring-no-answer,
abandons, blind transfers, the IVR with expired contracts) on virtual time.
Between the PBX and the tracker sits a link that is cut again and again, for
0.1 s to several seconds: every event inside a cut is lost, as with a real
reconnect, and when the link is back the tracker gets what the hub's feed
would send it: a resync begins, the simulator's own answers to
``CoreShowChannels``, ``QueueStatus`` and ``QueueSummary`` at that moment, the
resync ends. The call log must then equal the simulator's record of what
happened.
"""

from __future__ import annotations

import bisect
import random
from collections import defaultdict
from dataclasses import dataclass

from cti.ami_codec import Message
from cti.events import AgentRinging, AgentRingStopped, CallAnswered, CallEnded, Event
from cti.tracker import CallTracker
from pbx_adapters.simulator import actions
from pbx_adapters.simulator.channel import Fields
from pbx_adapters.simulator.model import Call, PbxModel
from pbx_adapters.simulator.runtime import prepare
from pbx_adapters.simulator.scenario import Scenario, TrafficSpec
from pbx_adapters.simulator.spec import lab_pbx

DAY = 8 * 3600.0
CUTS = 400
SEED = 20261201


@dataclass(frozen=True)
class Outcome:
    """The simulator's own record of a call."""

    answered_by: str | None


@dataclass(frozen=True)
class Reconnect:
    """The link is back: what the feed sends the tracker."""

    answers: list[Fields]


def _message(fields: Fields) -> Message:
    message: Message = {}
    for name, value in fields:
        message[name] = f"{message[name]}\n{value}" if name in message else value
    return message


def _cuts(rng: random.Random) -> list[tuple[float, float]]:
    """Non-overlapping cuts, 0.1 s to 8 s long (log-uniform: most short, some long)."""
    starts = sorted(rng.uniform(60.0, DAY - 60.0) for _ in range(CUTS))
    cuts: list[tuple[float, float]] = []
    for start in starts:
        if cuts and start < cuts[-1][1] + 1.0:
            continue
        cuts.append((start, start + 0.1 * 80.0 ** rng.random()))
    return cuts


def _simulate_day() -> tuple[
    list[tuple[float, Fields | Reconnect]], dict[str, Outcome], list[tuple[float, float]]
]:
    rng = random.Random(SEED)
    spec = lab_pbx(start_epoch=1796100000.0, seed=SEED)
    traffic = TrafficSpec(
        calls_per_second=1 / 30,
        duration=DAY,
        talk_mean=90.0,
        talk_min=10.0,  # longer than the longest cut: no call lives and dies unseen
        patience_mean=45.0,
        patience_min=10.0,
        answer_delay_mean=3.0,
        transfer_share=0.1,
        expired_share=0.2,
        seed=SEED,
    )
    model = PbxModel(spec)
    stream: list[tuple[float, Fields | Reconnect]] = []
    model.add_listener(lambda at, fields: stream.append((at, fields)))
    record: dict[str, Outcome] = {}

    def finished(call: Call) -> None:
        record[call.linkedid] = Outcome(call.vars.get("_answered_by"))

    model.on_finish = finished

    def reconnect() -> None:
        answers: list[Fields] = []
        for n, action in enumerate(
            (actions.core_show_channels, actions.queue_status, actions.queue_summary)
        ):
            answers += action(model, {}, f"resync-{n}")
        stream.append((model.now, Reconnect(answers)))

    cuts = _cuts(rng)
    for _, end in cuts:
        model.schedule(end, reconnect)
    prepare(model, Scenario(spec, [], [], traffic, "a day with a flaky link"))
    model.run_all(DAY + 3600.0)
    return stream, record, cuts


def test_cuts_in_the_link_lose_double_or_misrecord_no_call() -> None:
    stream, record, cuts = _simulate_day()
    assert len(cuts) > 300 and len(record) > 800
    starts = [start for start, _ in cuts]

    def in_cut(at: float) -> bool:
        i = bisect.bisect_right(starts, at) - 1
        return i >= 0 and at < cuts[i][1]

    tracker = CallTracker()
    events: list[Event] = []
    lost = 0
    for at, item in stream:
        if isinstance(item, Reconnect):
            tracker.begin_resync()
            for fields in item.answers:
                events += tracker.feed(_message(fields), at)
            events += tracker.end_resync(at)
        elif in_cut(at):
            lost += 1
        else:
            events += tracker.feed(_message(item), at)
    events += tracker.finish()
    assert lost > 1000, "the cuts really fell among calls"

    ended = [e for e in events if isinstance(e, CallEnded)]
    ids = [e.call_id for e in ended]
    assert len(ids) == len(set(ids)), "no call written twice"
    assert set(ids) == set(record), "no call lost, none invented"

    by_call: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        call_id = getattr(event, "call_id", None)
        if call_id is not None:
            by_call[call_id].append(event)
    wrong: list[str] = []
    for call in ended:
        truth = record[call.call_id].answered_by
        answered = call.disposition == "answered"
        if answered != (truth is not None) or (answered and call.agent != truth):
            wrong.append(f"{call.call_id}: {call.disposition} by {call.agent}, truly {truth}")
            continue
        if not answered:
            continue
        story = by_call[call.call_id]
        if not any(isinstance(e, CallAnswered) and e.agent == truth for e in story):
            wrong.append(f"{call.call_id}: {truth}'s pop never turned to talking")
        ringing = {e.agent for e in story if isinstance(e, AgentRinging)}
        stopped = {e.agent for e in story if isinstance(e, AgentRingStopped)}
        answerers = {e.agent for e in story if isinstance(e, CallAnswered)}
        if ringing - stopped - answerers:
            wrong.append(f"{call.call_id}: left ringing for {ringing - stopped - answerers}")
        if call.talk_seconds is None or call.talk_seconds <= 0:
            wrong.append(f"{call.call_id}: answered with no talk time")
    assert not wrong, f"{len(wrong)} of {len(ended)} calls misrecorded: {wrong[:10]}"
