"""Screen-pop assembly driven by real AMI traces replayed through the tracker."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cti.events import (
    AgentRinging,
    AgentRingStopped,
    CallAnswered,
    CallEnded,
    CallHeld,
    CallQueued,
    CallResumed,
    CallStarted,
    Event,
)
from cti.replay import read_transcript, replay_events
from cti.screenpop import POP_SCHEMA_VERSION, CallerInfo, LookupRequest, Outgoing, ScreenPops

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ami"

NASRIN: dict[str, Any] = {
    "id": 1,
    "name": "Nasrin Tehrani",
    "vip": True,
    "language": "fa",
    "address": "Tehran",
    "contract": {"state": "active", "plan": "Gold", "ends_on": "2027-03-20"},
    "open_cases": [],
    "recent_calls": [],
}
CASE_40012345: dict[str, Any] = {"id": 11, "tracking_code": "40012345", "subject": "Outage"}


class FakeCrm:
    """Knows +982188776655 and case 40012345; counts lookups."""

    def __init__(self, delay: float = 0.0) -> None:
        self.lookups: list[str | None] = []
        self.delay = delay

    async def lookup(self, number: str | None) -> CallerInfo:
        self.lookups.append(number)
        if self.delay:
            await asyncio.sleep(self.delay)
        if number == "+982188776655":
            return CallerInfo(number, "+982188776655", "matched", (NASRIN,))
        return CallerInfo(number, number, "unknown")

    async def case_by_code(self, code: str) -> Mapping[str, Any] | None:
        return CASE_40012345 if code == "40012345" else None


def trace(name: str) -> list[Event]:
    return replay_events(read_transcript(FIXTURES / f"{name}.jsonl"))


async def answer_all(pops: ScreenPops, crm: FakeCrm) -> list[Outgoing]:
    """Answer every lookup asked so far (a CRM that answers before the next event)."""
    out: list[Outgoing] = []
    for request in pops.take_lookups():
        if request.kind == "caller":
            out += pops.answer(request, await crm.lookup(request.key))
        else:
            out += pops.answer(request, await crm.case_by_code(request.key or ""))
    return out


async def run(pops: ScreenPops, events: list[Event], crm: FakeCrm | None = None) -> list[Outgoing]:
    """Feed ``events``; ``crm`` answers each lookup before the next event."""
    crm = crm or FakeCrm()
    out: list[Outgoing] = []
    for event in events:
        out.extend(pops.handle(event))
        out.extend(await answer_all(pops, crm))
    return [o for o in out if o.message["type"] != "queue_member"]


async def test_inbound_answered_pops_1001_with_customer_then_answer_then_end() -> None:
    pops = ScreenPops()
    out = await run(pops, trace("inbound_answered"))
    assert [(o.extensions, o.message["type"], o.message.get("change")) for o in out] == [
        (("1001",), "pop", None),
        (("1001",), "call_update", "answered"),
        (("1001",), "call_update", "ended"),
    ]
    pop = out[0].message
    assert pop["v"] == POP_SCHEMA_VERSION
    call = pop["call"]
    assert call["call_id"] == "1795392474.0"
    assert call["state"] == "ringing"
    assert call["caller"] == {
        "presented": "+982188776655",
        "normalised": "+982188776655",
        "name": "Customer",
    }
    assert call["match"]["status"] == "matched"
    assert call["match"]["customers"][0]["name"] == "Nasrin Tehrani"
    assert call["queue"] == "support"
    assert call["wait_seconds"] == 0
    assert call["ivr"] is None
    ended = out[2].message["call"]
    assert ended["state"] == "ended"
    assert ended["ended"]["disposition"] == "answered"
    assert ended["ended"]["talk_seconds"] == 5


async def test_ring_no_answer_withdraws_from_1001_and_pops_1002_with_one_lookup() -> None:
    crm = FakeCrm()
    pops = ScreenPops()
    out = await run(pops, trace("inbound_ringnoanswer_then_answered"), crm)
    kinds = [(o.extensions, o.message["type"]) for o in out[:3]]
    assert kinds == [(("1001",), "pop"), (("1001",), "pop_withdrawn"), (("1002",), "pop")]
    assert out[1].message["reason"] == "no_answer"
    assert out[2].message["call"]["wait_seconds"] == 7
    assert crm.lookups == ["02122334455"]  # one lookup per call, not per agent rung


async def test_blind_transfer_moves_the_pop_to_1003_with_its_history() -> None:
    pops = ScreenPops()
    out = await run(pops, trace("blind_transfer"))
    to_1001 = [o.message for o in out if o.extensions == ("1001",)]
    assert [m.get("change") or m["type"] for m in to_1001] == ["pop", "answered", "transferred"]
    pop_1003 = next(
        o.message for o in out if o.extensions == ("1003",) and o.message["type"] == "pop"
    )
    call = pop_1003["call"]
    assert call["transfers"] == [{"from": "1001", "to": "1003", "kind": "blind", "at": 3.513}]
    assert [(e["event"], e["agent"]) for e in call["timeline"]] == [
        ("ringing", "1001"),
        ("answered", "1001"),
        ("transferred", "1001"),
        ("ringing", "1003"),
    ]
    assert call["match"]["customers"][0]["name"] == "Nasrin Tehrani"
    ended = out[-1]
    assert ended.message["change"] == "ended"
    assert set(ended.extensions) == {"1001", "1003"}


async def test_ivr_digits_pop_at_once_and_the_case_they_name_follows() -> None:
    # The digits first reach the pops with the ring, so the case is looked up then.
    pops = ScreenPops()
    out = await run(pops, trace("ivr_tracking_code"))
    call = out[0].message["call"]
    assert out[0].extensions == ("1002",)
    assert call["ivr"] == {"input": "40012345", "case": None}
    assert call["match"]["status"] == "unknown"  # the caller was looked up long before
    assert out[1].extensions == ("1002",)
    assert out[1].message["type"] == "pop_updated"
    assert out[1].message["call"]["ivr"] == {"input": "40012345", "case": CASE_40012345}
    assert out[-1].message["call"]["ended"]["case"] == "40012345"


async def test_answer_elsewhere_withdraws_the_pop_from_the_other_ringing_agent() -> None:
    pops = ScreenPops()
    ring: dict[str, Any] = dict(
        queue="sales",
        caller="+982188776655",
        caller_name=None,
        dialed="2188000002",
        ivr_input=None,
        wait_seconds=0,
        at=1.0,
    )
    out = await run(
        pops,
        [
            CallStarted("c1", "inbound", "+982188776655", None, "2188000002", 0.5),
            AgentRinging("c1", "1001", **ring),
            AgentRinging("c1", "1003", **ring),
            CallAnswered("c1", "1003", "sales", 2, 3.0),
        ],
    )
    assert [(o.extensions, o.message["type"]) for o in out] == [
        (("1001",), "pop"),
        (("1003",), "pop"),
        (("1001",), "pop_withdrawn"),
        (("1003",), "call_update"),
    ]
    assert out[2].message["reason"] == "answered_elsewhere"
    assert pops.snapshot(["1001"]) == []


async def test_hold_and_resume_update_the_talking_agent() -> None:
    pops = ScreenPops()
    events = trace("inbound_answered")
    answered = next(i for i, e in enumerate(events) if isinstance(e, CallAnswered))
    out = await run(
        pops,
        [
            *events[: answered + 1],
            CallHeld("1795392474.0", "1001", 3.0),
            CallResumed("1795392474.0", "1001", 4.0),
        ],
    )
    assert [(o.message.get("change"), o.message["call"]["state"]) for o in out[-2:]] == [
        ("held", "held"),
        ("resumed", "talking"),
    ]


async def test_reconnecting_agent_gets_its_live_call_and_no_other() -> None:
    pops = ScreenPops()
    events = trace("inbound_answered")
    answered = next(i for i, e in enumerate(events) if isinstance(e, CallAnswered))
    await run(pops, events[: answered + 1])
    mine = [m for m in pops.snapshot(["1001"]) if m["type"] == "pop"]
    assert len(mine) == 1
    assert mine[0]["call"]["state"] == "talking"
    assert mine[0]["call"]["match"]["customers"][0]["id"] == 1
    assert [m for m in pops.snapshot(["1002"]) if m["type"] == "pop"] == []
    assert pops.call_for("1795392474.0", {"1002"}) is None
    assert pops.call_for("1795392474.0", {"1001"}) is not None


async def test_ended_call_stays_in_the_agents_snapshot_for_wrap_up() -> None:
    pops = ScreenPops()
    await run(pops, trace("inbound_answered"))
    assert pops.live_calls == 0
    kept = [m for m in pops.snapshot(["1001"]) if m["type"] == "pop"]
    assert [m["call"]["state"] for m in kept] == ["ended"]


async def test_click_to_call_pops_the_dialled_customer_not_the_agents_own_leg() -> None:
    crm = FakeCrm()
    pops = ScreenPops()
    out = await run(pops, trace("click_to_call"), crm)
    popped = [o.message["call"] for o in out if o.message["type"] == "pop"]
    assert popped, "the answered click-to-call pops for its agent"
    assert crm.lookups == ["02177665544"]
    assert popped[-1]["caller"]["presented"] == "1002"
    assert popped[-1]["dialed"] == "02177665544"
    assert popped[-1]["match"]["status"] == "pending"  # popped on answer, at once
    filled = [o.message["call"] for o in out if o.message["type"] == "pop_updated"]
    assert filled[-1]["match"]["status"] == "unknown"


async def test_outbound_call_popped_on_ringing_is_popped_again_with_the_dialled_number() -> None:
    crm = FakeCrm()
    pops = ScreenPops()
    events: list[Event] = [
        AgentRinging("c1", "1001", None, "1001", "Ali", None, None, None, 1.0),
        CallStarted("c1", "outbound", "1001", "Ali", "+982188776655", 1.1),
    ]
    out = await run(pops, events, crm)
    assert crm.lookups == ["1001", "+982188776655"]
    again, filled = out[-2], out[-1]
    assert (again.extensions, again.message["type"]) == (("1001",), "pop")
    assert again.message["call"]["dialed"] == "+982188776655"
    assert again.message["call"]["match"]["status"] == "pending"
    assert (filled.extensions, filled.message["type"]) == (("1001",), "pop_updated")
    assert filled.message["call"]["match"]["customers"][0]["name"] == "Nasrin Tehrani"


async def test_each_agents_pop_says_why_the_call_came_to_them() -> None:
    pops = ScreenPops()
    ring: dict[str, Any] = dict(
        queue="support",
        caller="+982188776655",
        caller_name=None,
        dialed="2188000001",
        ivr_input="40012345",
        wait_seconds=0,
        at=1.0,
    )
    out = await run(
        pops,
        [
            CallStarted("c2", "inbound", "+982188776655", None, "2188000001", 0.5),
            AgentRinging("c2", "1002", **ring, routed_by="case_owner"),
            AgentRinging("c2", "1001", **ring, routed_by="vip_queue"),
        ],
    )
    assert [(o.extensions, o.message["routed_by"]) for o in out if o.message["type"] == "pop"] == [
        (("1002",), "case_owner"),
        (("1001",), "vip_queue"),
    ]
    assert [m["routed_by"] for m in pops.snapshot(["1002"]) if m["type"] == "pop"] == ["case_owner"]


# Lookups asked when the call appears, answered whenever the CRM answers.

RING: dict[str, Any] = dict(
    queue="support",
    caller_name=None,
    dialed="2188000000",
    ivr_input=None,
    wait_seconds=2,
)
ANSWERED_NASRIN = CallerInfo("+982188776655", "+982188776655", "matched", (NASRIN,))


def started(call_id: str, caller: str | None, at: float = 0.0) -> CallStarted:
    return CallStarted(call_id, "inbound", caller, None, "2188000000", at)


def ringing(call_id: str, agent: str, caller: str | None, at: float = 2.0) -> AgentRinging:
    return AgentRinging(call_id, agent, caller=caller, at=at, **RING)


def test_the_caller_is_asked_for_when_the_call_appears_once_per_call() -> None:
    pops = ScreenPops()
    assert pops.handle(started("c1", "+982188776655")) == []
    assert pops.handle(CallQueued("c1", "support", 1, "+982188776655", 0.1)) == []
    assert pops.take_lookups() == [LookupRequest("c1", "caller", "+982188776655")]
    pops.handle(ringing("c1", "1001", "+982188776655"))
    pops.handle(AgentRingStopped("c1", "1001", "support", "no_answer", 6, 8.0))
    pops.handle(ringing("c1", "1002", "+982188776655", at=9.0))
    assert pops.take_lookups() == []


def test_a_call_first_seen_in_the_queue_is_asked_for_there() -> None:
    pops = ScreenPops()
    pops.handle(CallQueued("c1", "support", 1, "09121234567", 0.1))
    assert pops.take_lookups() == [LookupRequest("c1", "caller", "09121234567")]


def test_a_ring_before_the_answer_pops_pending_then_pop_updated_fills_it_in() -> None:
    pops = ScreenPops()
    pops.handle(started("c1", "+982188776655"))
    (request,) = pops.take_lookups()
    (pop,) = pops.handle(ringing("c1", "1001", "+982188776655"))
    assert pop.message["call"]["match"] == {"status": "pending", "customers": []}
    assert pop.message["call"]["caller"]["presented"] == "+982188776655"
    (update,) = pops.answer(request, ANSWERED_NASRIN)
    assert update.extensions == ("1001",)
    assert update.message == {
        "v": POP_SCHEMA_VERSION,
        "type": "pop_updated",
        "call_id": "c1",
        "call": {
            "caller": {
                "presented": "+982188776655",
                "normalised": "+982188776655",
                "name": None,
            },
            "match": {"status": "matched", "customers": [NASRIN]},
            "ivr": None,
        },
    }
    (again,) = [m for m in pops.snapshot(["1001"]) if m["type"] == "pop"]
    assert again["call"]["match"]["customers"] == [NASRIN]


def test_an_answer_before_the_ring_is_in_the_pop_and_sends_no_update() -> None:
    pops = ScreenPops()
    pops.handle(started("c1", "+982188776655"))
    (request,) = pops.take_lookups()
    assert pops.answer(request, ANSWERED_NASRIN) == []
    assert pops.cached[0] == 1
    (pop,) = pops.handle(ringing("c1", "1001", "+982188776655"))
    assert pop.message["call"]["match"]["customers"] == [NASRIN]
    assert pops.cached == (0, 0)  # now part of a live pop, no longer a cache entry


def test_answers_come_back_in_any_order_each_to_its_own_call() -> None:
    pops = ScreenPops()
    for n, caller in (("a", "+982188776655"), ("b", "09120000000")):
        pops.handle(started(n, caller))
        pops.handle(ringing(n, "100" + ("1" if n == "a" else "2"), caller))
    slow, fast = pops.take_lookups()
    (to_b,) = pops.answer(fast, CallerInfo("09120000000", "+989120000000", "unknown"))
    assert (to_b.extensions, to_b.message["call_id"]) == (("1002",), "b")
    (to_a,) = pops.answer(slow, ANSWERED_NASRIN)
    assert (to_a.extensions, to_a.message["call_id"]) == (("1001",), "a")


def test_the_update_goes_to_whoever_shows_the_call_now() -> None:
    pops = ScreenPops()
    pops.handle(started("c1", "+982188776655"))
    (request,) = pops.take_lookups()
    pops.handle(ringing("c1", "1001", "+982188776655"))
    pops.handle(AgentRingStopped("c1", "1001", "support", "no_answer", 6, 8.0))
    pops.handle(ringing("c1", "1002", "+982188776655", at=9.0))
    (update,) = pops.answer(request, ANSWERED_NASRIN)
    assert update.extensions == ("1002",)


def test_an_answer_after_the_call_ended_reaches_the_agent_in_wrap_up_only() -> None:
    pops = ScreenPops()
    pops.handle(started("c1", "+982188776655"))
    pops.handle(started("c2", "09120000000"))
    first, second = pops.take_lookups()
    pops.handle(ringing("c1", "1001", "+982188776655"))
    pops.handle(CallAnswered("c1", "1001", "support", 2, 3.0))
    for call_id in ("c1", "c2"):
        pops.handle(ended(call_id))
    (update,) = pops.answer(first, ANSWERED_NASRIN)
    assert update.extensions == ("1001",)
    (kept,) = [m for m in pops.snapshot(["1001"]) if m["type"] == "pop"]
    assert kept["call"]["match"]["customers"] == [NASRIN]
    assert pops.answer(second, CallerInfo("09120000000", None, "unknown")) == []


def test_an_answer_for_a_number_no_longer_asked_about_is_dropped() -> None:
    pops = ScreenPops()
    pops.handle(started("c1", None))
    (withheld,) = pops.take_lookups()
    pops.handle(ringing("c1", "1001", "+982188776655"))
    (by_number,) = pops.take_lookups()
    assert by_number.key == "+982188776655"
    assert pops.answer(withheld, CallerInfo(None, None, "unknown")) == []
    (update,) = pops.answer(by_number, ANSWERED_NASRIN)
    assert update.message["call"]["match"]["status"] == "matched"


def test_cached_answers_are_bounded_oldest_dropped_and_asked_again_at_the_ring() -> None:
    pops = ScreenPops(max_cached=2)
    for n in range(3):
        pops.handle(started(f"c{n}", f"+98912000000{n}"))
    for request in pops.take_lookups():
        info = CallerInfo(request.key, request.key, "matched", (NASRIN,))
        assert pops.answer(request, info) == []
    assert pops.cached[0] == 2
    (pop,) = pops.handle(ringing("c0", "1001", "+989120000000"))
    assert pop.message["call"]["match"]["status"] == "pending"
    assert pops.take_lookups() == [LookupRequest("c0", "caller", "+989120000000")]
    (kept,) = pops.handle(ringing("c2", "1002", "+989120000002"))
    assert kept.message["call"]["match"]["status"] == "matched"


def test_cached_answers_are_bounded_by_bytes() -> None:
    big = {**NASRIN, "address": "x" * 4000}
    pops = ScreenPops(max_cached_bytes=10_000)
    for n in range(5):
        pops.handle(started(f"c{n}", f"+98912000000{n}"))
    for request in pops.take_lookups():
        pops.answer(request, CallerInfo(request.key, request.key, "matched", (big,)))
    count, size = pops.cached
    assert count == 2
    assert 8000 < size <= 10_000


def ended(call_id: str) -> CallEnded:
    return CallEnded(
        call_id,
        "inbound",
        None,
        None,
        "2188000000",
        "support",
        None,
        (),
        "answered",
        2,
        5,
        None,
        (),
        None,
        (),
        16,
        0.0,
        3.0,
        9.0,
    )
