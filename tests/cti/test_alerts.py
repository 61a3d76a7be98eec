"""The alert rules, fed real traces, hand-made call endings and the time."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from cti.alerts import (
    Alert,
    AlertBatcher,
    AlertEngine,
    AlertRules,
    CaseFacts,
    QueueRules,
    number_tail,
)
from cti.events import AgentRingStopped, CallAnswered, CallEnded, CallQueued, CallStarted, Event
from cti.replay import read_transcript, replay_events

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ami"
HOUR = 3600.0


def trace(name: str) -> list[Event]:
    return replay_events(read_transcript(FIXTURES / f"{name}.jsonl"))


def ended(call_id: str, at: float, *, disposition: str = "answered", wait: int = 5,
          queue: str | None = "support", caller: str = "+982188776655",
          direction: str = "inbound", dialed: str = "2188000000") -> CallEnded:  # fmt: skip
    return CallEnded(
        call_id=call_id, direction=direction, caller=caller, caller_name=None,  # type: ignore[arg-type]
        dialed=dialed, queue=queue, agent="1001" if disposition == "answered" else None,
        agents_rung=(), disposition=disposition, wait_seconds=wait,  # type: ignore[arg-type]
        talk_seconds=30, recording=None, transfers=(), ivr_input=None, variables=(),
        hangup_cause=16, started_at=at - wait, answered_at=None, ended_at=at,
    )  # fmt: skip


def test_a_caller_waiting_past_the_limit_raises_one_alert_and_an_answer_stops_the_clock() -> None:
    events = trace("inbound_ringnoanswer_then_answered")  # queued at 0.5 s, answered at 9 s
    engine = AlertEngine(AlertRules(default_queue=QueueRules(max_wait_seconds=5)))
    answered_at = next(e.at for e in events if isinstance(e, CallAnswered))
    assert answered_at is not None
    for event in events:
        if event.type == "call_answered":
            # Before the answer: the caller has waited over 5 s.
            alerts = engine.tick(answered_at - 0.01)
            assert [(a.rule, a.queue, a.subject) for a in alerts] == [
                ("caller_waiting", "support", "02122334455")
            ]
            assert alerts[0].value == 8 and alerts[0].threshold == 5
            assert engine.tick(answered_at - 0.005) == []  # once
        engine.feed(event)
    assert engine.waiting_calls == 0
    assert engine.tick(answered_at + 100) == []


def test_each_queue_has_its_own_wait_limit() -> None:
    rules = AlertRules(
        default_queue=QueueRules(max_wait_seconds=60),
        queues={"vip": QueueRules(max_wait_seconds=10)},
    )
    engine = AlertEngine(rules)
    for event in trace("inbound_abandoned"):
        if isinstance(event, CallQueued):
            engine.feed(dataclasses.replace(event, queue="vip", call_id="a", at=0.0))
            engine.feed(dataclasses.replace(event, call_id="b", at=0.0))
    assert [a.call_id for a in engine.tick(30)] == ["a"]
    assert [a.call_id for a in engine.tick(61)] == ["b"]


def test_service_level_under_target_over_the_window_alerts_once_then_rearms() -> None:
    rules = QueueRules(
        sla_seconds=20, sla_target_percent=80, sla_window_seconds=600, sla_min_calls=5
    )
    engine = AlertEngine(AlertRules(default_queue=rules))
    fired: list[Alert] = []
    # 4 in time, then 2 abandoned: 4/6 = 66.7 % < 80 % once the 5-call minimum is met.
    for i in range(4):
        fired += engine.feed(ended(f"ok{i}", 100 + i))
    fired += engine.feed(ended("ab1", 110, disposition="abandoned", wait=40))
    assert fired == []  # 4/5 = 80 %: on target
    fired += engine.feed(ended("ab2", 111, disposition="abandoned", wait=40))
    assert [(a.rule, a.queue, a.value, a.threshold) for a in fired] == [
        ("service_level_low", "support", 66.7, 80.0)
    ]
    # Still low: no second alert.
    assert engine.feed(ended("slow", 112, wait=45)) == []
    # Ten minutes on, the old calls left the window; good calls restore it, then it slips again.
    for i in range(5):
        assert engine.feed(ended(f"late{i}", 1000 + i)) == []
    again = engine.feed(ended("ab3", 1010, disposition="abandoned", wait=40))
    again += engine.feed(ended("ab4", 1011, disposition="abandoned", wait=40))
    assert [a.rule for a in again] == ["service_level_low"]
    assert again[0].key != fired[0].key


def test_repeated_ring_no_answer_flags_the_agent_on_their_own_panel() -> None:
    stop = next(
        e for e in trace("inbound_ringnoanswer_then_answered") if e.type == "agent_ring_stopped"
    )
    assert isinstance(stop, AgentRingStopped) and stop.reason == "no_answer"
    engine = AlertEngine(
        AlertRules(
            default_queue=QueueRules(ring_no_answer_count=3, ring_no_answer_window_seconds=600)
        )
    )
    alerts = []
    for i, at in enumerate((0.0, 100.0, 200.0)):
        alerts += engine.feed(dataclasses.replace(stop, call_id=f"c{i}", at=at))
    assert [(a.rule, a.agent, a.value) for a in alerts] == [("ring_no_answer", "1001", 3.0)]
    # Answered elsewhere or a caller hanging up is not the agent's doing.
    other = dataclasses.replace(stop, reason="caller_left", at=250.0)
    assert engine.feed(other) == []
    assert engine.feed(dataclasses.replace(stop, at=300.0)) == []  # already flagged


def test_abandoned_caller_not_called_back_in_time_alerts_unless_dialled_or_back_in() -> None:
    engine = AlertEngine(AlertRules(default_queue=QueueRules(callback_within_minutes=10)))
    abandoned = next(e for e in trace("inbound_abandoned") if isinstance(e, CallEnded))
    assert abandoned.disposition == "abandoned"
    engine.feed(dataclasses.replace(abandoned, ended_at=0.0))
    engine.feed(ended("other", 0.0, disposition="abandoned", caller="09121234567"))
    engine.feed(ended("third", 0.0, disposition="abandoned", caller="09351112233"))
    # One is called back (local form of the number), one calls in again and is answered.
    engine.feed(CallStarted("out1", "outbound", "1002", None, "02188776655", at=60.0))
    engine.feed(ended("back-in", 120.0, caller="+989121234567"))
    assert engine.tick(599) == []
    late = engine.tick(601)
    assert [(a.rule, a.subject, a.queue) for a in late] == [
        ("callback_overdue", "09351112233", "support")
    ]
    assert engine.tick(10_000) == []


def test_cases_past_due_by_customer_class_and_without_a_first_reply() -> None:
    engine = AlertEngine()
    opened = 1_000_000.0

    def case(case_id: int, klass: str, reply: float | None = None) -> CaseFacts:
        return CaseFacts(case_id, f"4000{case_id}", 7, klass, opened, None, reply, "1002")

    cases = [
        case(1, "key", reply=opened + 60),
        case(2, "standard", reply=opened + 60),
        case(3, "standard"),
    ]
    assert engine.check_cases(cases, opened + 23 * HOUR) == []
    at_25h = engine.check_cases(cases, opened + 25 * HOUR)
    # Key customer's case is overdue after 24 h; case 3 has had no reply for 24 h.
    assert sorted((a.rule, a.case_id) for a in at_25h) == [
        ("case_no_first_reply", 3),
        ("case_overdue", 1),
    ]
    assert all(a.agent == "1002" for a in at_25h)
    at_49h = engine.check_cases(cases, opened + 49 * HOUR)
    assert sorted((a.rule, a.case_id) for a in at_49h) == [("case_overdue", 2), ("case_overdue", 3)]
    # An explicit due date wins over the class default.
    due_soon = dataclasses.replace(case(4, "standard", reply=opened), due_at=opened + HOUR)
    assert [a.rule for a in engine.check_cases([due_soon], opened + 2 * HOUR)] == ["case_overdue"]


def test_number_tail_matches_local_and_international_forms() -> None:
    assert number_tail("+98 21 8877 6655") == number_tail("02188776655") == "88776655"
    assert number_tail("1001") == "1001"
    assert number_tail("12") is None and number_tail(None) is None


def _alert(i: int) -> Alert:
    return Alert(key=f"k{i}", rule="caller_waiting", at=float(i))


def test_a_storm_of_alerts_leaves_in_few_batches_spaced_apart() -> None:
    batcher = AlertBatcher(window_seconds=5, min_interval_seconds=60, max_batch=50)
    for i in range(120):
        batcher.add(_alert(i), now=100.0 + i * 0.01)
    assert batcher.take(104.9) == []  # the window is still open
    first = batcher.take(105.0)
    assert [a.key for a in first] == [f"k{i}" for i in range(50)]
    assert batcher.take(106.0) == []  # not before a minute has passed
    assert batcher.next_due() == 165.0
    second, third = batcher.take(165.0), batcher.take(225.0)
    assert len(second) == 50 and len(third) == 20
    assert batcher.pending == 0 and batcher.next_due() is None
    # A lone alert much later leaves after its window only.
    batcher.add(_alert(999), now=1000.0)
    assert batcher.take(1005.0) == [_alert(999)]
