"""Every real Asterisk 22 transcript replayed against the summaries worked out beside it.

The ``*.expected.jsonl`` files were written from the event timelines by the
people who recorded the traces, independently of this code. Times may differ
by up to 2 s (the fixtures README's tolerance).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cti.events import AgentRinging, AgentRingStopped, CallAnswered, CallEnded, CallStarted
from cti.replay import read_transcript, replay, replay_events

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ami"
SCENARIOS = sorted(p.name[: -len(".expected.jsonl")] for p in FIXTURES.glob("*.expected.jsonl"))
TIME_KEYS = ("wait_seconds", "talk_seconds")


def _expected(name: str) -> dict[str, dict[str, object]]:
    lines = (FIXTURES / f"{name}.expected.jsonl").read_text().splitlines()
    return {row["call_id"]: row for row in map(json.loads, filter(None, lines))}


def _assert_matches(got: dict[str, object], want: dict[str, object]) -> None:
    """Fields listed in ``_skip`` cannot be settled from the trace (a hub that connected late)."""
    skip = set(want.pop("_skip", ()))  # type: ignore[call-overload]
    assert set(got) == set(want)
    for key, value in want.items():
        if key in skip:
            continue
        if key in TIME_KEYS and value is not None:
            assert got[key] is not None, key
            assert abs(int(got[key]) - int(value)) <= 2, (key, got[key], value)  # type: ignore[call-overload]
        else:
            assert got[key] == value, key


def test_every_fixture_scenario_has_expectations() -> None:
    assert len(SCENARIOS) >= 10


@pytest.mark.parametrize("name", SCENARIOS)
@pytest.mark.parametrize("form", [".jsonl", ".ami"])
def test_replayed_calls_match_the_expected_summaries(name: str, form: str) -> None:
    want = _expected(name)
    calls = replay(read_transcript(FIXTURES / f"{name}{form}"))
    got = {c.call_id: c.summary() for c in calls}
    assert sorted(got) == sorted(want), "the same calls, none missing, none invented"
    for call_id, row in want.items():
        _assert_matches(got[call_id], row)


def test_each_call_ends_exactly_once_in_the_busy_trace() -> None:
    calls = replay(read_transcript(FIXTURES / "busy_20_calls.jsonl"))
    ids = [c.call_id for c in calls]
    assert len(ids) == len(set(ids)) == 20


def test_ringing_comes_before_answer_and_carries_the_caller() -> None:
    events = replay_events(read_transcript(FIXTURES / "inbound_answered.jsonl"))
    kinds = [type(e) for e in events if isinstance(e, CallStarted | AgentRinging | CallAnswered)]
    assert kinds == [CallStarted, AgentRinging, CallAnswered]
    ring = next(e for e in events if isinstance(e, AgentRinging))
    assert (ring.agent, ring.queue, ring.caller, ring.dialed) == (
        "1001",
        "support",
        "+982188776655",
        "2188000000",
    )
    # AgentCalled at 1008 ms, the answer at about 2010 ms.
    answered = next(e for e in events if isinstance(e, CallAnswered))
    assert ring.at is not None and answered.at is not None
    assert 0.9 < answered.at - ring.at < 1.2


def test_ring_no_answer_stops_the_first_agents_ring_before_the_second_rings() -> None:
    events = replay_events(read_transcript(FIXTURES / "inbound_ringnoanswer_then_answered.jsonl"))
    ring_story = [
        (type(e).__name__, e.agent, getattr(e, "reason", None))
        for e in events
        if isinstance(e, AgentRinging | AgentRingStopped | CallAnswered)
    ]
    first_stop = ring_story.index(("AgentRingStopped", "1001", "no_answer"))
    assert ring_story[0] == ("AgentRinging", "1001", None)
    assert ("AgentRinging", "1002", None) in ring_story[first_stop:]
    assert ring_story[-1] == ("CallAnswered", "1002", None)


def test_ivr_call_reports_the_contract_variable_it_set() -> None:
    (call,) = replay(read_transcript(FIXTURES / "ivr_contract_expired.jsonl"))
    assert isinstance(call, CallEnded)
    assert dict(call.variables)["CTIHUB_CONTRACT"] == "expired"
    assert call.disposition == "ivr"


def test_tracking_code_call_keeps_the_case_owner_variable() -> None:
    (call,) = replay(read_transcript(FIXTURES / "ivr_tracking_code.jsonl"))
    assert dict(call.variables) == {
        "CTIHUB_CASE": "40012345",
        "CTIHUB_CASE_OWNER": "1002",
        "CTIHUB_CONTRACT": "active",
    }


def test_auth_failure_transcript_yields_no_calls() -> None:
    assert replay(read_transcript(FIXTURES / "ami_auth_failure.ami")) == []


@pytest.mark.parametrize("name", ["inbound_abandoned", "busy_20_calls", "queue_status"])
def test_abandoned_waits_count_from_the_queue_join_as_asterisks_hold_time(name: str) -> None:
    pairs = list(read_transcript(FIXTURES / f"{name}.jsonl"))
    hold = {
        m["Linkedid"]: int(m["HoldTime"])
        for m, _ in pairs
        if m.get("Event") == "QueueCallerAbandon"
    }
    abandoned = [c for c in replay(pairs) if c.disposition == "abandoned"]
    assert abandoned and {c.call_id for c in abandoned} <= set(hold)
    for call in abandoned:
        assert call.wait_seconds is not None
        if call.call_id in hold:
            # HoldTime is whole seconds, cut down; receive times are rounded.
            assert 0 <= call.wait_seconds - hold[call.call_id] <= 1, call.call_id
