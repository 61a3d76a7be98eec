"""Screen-pop assembly driven by real AMI traces replayed through the tracker."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cti.events import (
    AgentRinging,
    CallAnswered,
    CallHeld,
    CallResumed,
    CallStarted,
    Event,
)
from cti.replay import read_transcript, replay_events
from cti.screenpop import POP_SCHEMA_VERSION, CallerInfo, Outgoing, ScreenPops

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


async def run(pops: ScreenPops, events: list[Event]) -> list[Outgoing]:
    out: list[Outgoing] = []
    for event in events:
        out.extend(await pops.handle(event))
    return [o for o in out if o.message["type"] != "queue_member"]


async def test_inbound_answered_pops_1001_with_customer_then_answer_then_end() -> None:
    pops = ScreenPops(FakeCrm())
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
    pops = ScreenPops(crm)
    out = await run(pops, trace("inbound_ringnoanswer_then_answered"))
    kinds = [(o.extensions, o.message["type"]) for o in out[:3]]
    assert kinds == [(("1001",), "pop"), (("1001",), "pop_withdrawn"), (("1002",), "pop")]
    assert out[1].message["reason"] == "no_answer"
    assert out[2].message["call"]["wait_seconds"] == 7
    assert crm.lookups == ["02122334455"]  # one lookup per call, not per agent rung


async def test_blind_transfer_moves_the_pop_to_1003_with_its_history() -> None:
    pops = ScreenPops(FakeCrm())
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


async def test_ivr_digits_and_the_case_they_name_are_in_the_pop() -> None:
    pops = ScreenPops(FakeCrm())
    out = await run(pops, trace("ivr_tracking_code"))
    call = out[0].message["call"]
    assert out[0].extensions == ("1002",)
    assert call["ivr"] == {"input": "40012345", "case": CASE_40012345}
    assert out[-1].message["call"]["ended"]["case"] == "40012345"


async def test_answer_elsewhere_withdraws_the_pop_from_the_other_ringing_agent() -> None:
    pops = ScreenPops(FakeCrm())
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
    pops = ScreenPops(FakeCrm())
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
    pops = ScreenPops(FakeCrm())
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


async def test_slow_crm_still_pops_without_customers() -> None:
    pops = ScreenPops(FakeCrm(delay=1.0), lookup_timeout=0.05)
    out = await run(pops, trace("inbound_answered"))
    call = out[0].message["call"]
    assert out[0].message["type"] == "pop"
    assert call["match"] == {"status": "unavailable", "customers": []}
    assert call["caller"]["presented"] == "+982188776655"


async def test_ended_call_stays_in_the_agents_snapshot_for_wrap_up() -> None:
    pops = ScreenPops(FakeCrm())
    await run(pops, trace("inbound_answered"))
    assert pops.live_calls == 0
    kept = [m for m in pops.snapshot(["1001"]) if m["type"] == "pop"]
    assert [m["call"]["state"] for m in kept] == ["ended"]


async def test_click_to_call_pops_the_dialled_customer_not_the_agents_own_leg() -> None:
    crm = FakeCrm()
    pops = ScreenPops(crm)
    out = await run(pops, trace("click_to_call"))
    popped = [o.message["call"] for o in out if o.message["type"] == "pop"]
    assert popped, "the answered click-to-call pops for its agent"
    assert crm.lookups == ["02177665544"]
    assert popped[-1]["caller"]["presented"] == "1002"
    assert popped[-1]["dialed"] == "02177665544"
    assert popped[-1]["match"]["status"] == "unknown"


async def test_outbound_call_popped_on_ringing_is_popped_again_with_the_dialled_number() -> None:
    crm = FakeCrm()
    pops = ScreenPops(crm)
    events: list[Event] = [
        AgentRinging("c1", "1001", None, "1001", "Ali", None, None, None, 1.0),
        CallStarted("c1", "outbound", "1001", "Ali", "+982188776655", 1.1),
    ]
    out = await run(pops, events)
    assert crm.lookups == ["1001", "+982188776655"]
    last = out[-1].message
    assert (out[-1].extensions, last["type"]) == (("1001",), "pop")
    assert last["call"]["match"]["customers"][0]["name"] == "Nasrin Tehrani"


async def test_each_agents_pop_says_why_the_call_came_to_them() -> None:
    pops = ScreenPops(FakeCrm())
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
    assert [(o.extensions, o.message["routed_by"]) for o in out] == [
        (("1002",), "case_owner"),
        (("1001",), "vip_queue"),
    ]
    assert [m["routed_by"] for m in pops.snapshot(["1002"]) if m["type"] == "pop"] == ["case_owner"]
