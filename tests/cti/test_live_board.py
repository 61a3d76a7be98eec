"""The live board, fed real traces: its figures equal those worked out by hand from the
traces' independently written summaries (``*.expected.jsonl``)."""

from __future__ import annotations

import datetime as dt

from cti.events import CallAnswered, CallEnded, CallQueued, Event
from cti.figures import QueueTargets, Tally, TargetBook
from cti.live_board import LiveBoard, QueueRow, day_bounds
from tests.popup_server.conftest import trace_events


def board_for(
    targets: QueueTargets, kind: str = "abandoned_ignored", **per_queue: QueueTargets
) -> LiveBoard:
    board = LiveBoard(dt.UTC, TargetBook(targets, per_queue), kind)  # type: ignore[arg-type]
    # The traces' clock starts at 0: a day starting at epoch 0 holds them.
    board.start_day(0.0)
    board.seed(0.0, {}, {})
    return board


def support_row(board: LiveBoard, now: float) -> QueueRow:
    return next(q for q in board.snapshot(now).queues if q.queue == "support")


def feed(board: LiveBoard, events: list[Event]) -> None:
    for event in events:
        board.handle(event)


def test_twenty_busy_calls_by_hand_with_short_abandons_apart() -> None:
    board = board_for(QueueTargets(threshold_seconds=20, short_abandon_seconds=5))
    feed(board, trace_events("busy_20_calls"))
    support = support_row(board, 100.0)
    waits = [1, 2, 3, 8, 9, 10, 15, 15, 16, 22, 23, 23, 29, 30, 31, 36]  # the 16 answered
    talks = [8, 7, 6, 8, 7, 6, 8, 7, 6, 8, 7, 6, 8, 7, 6, 3]
    f = support.figures
    # The four callers who hung up after 3-4 s are short abandons: not offered.
    assert (f.offered, f.answered, f.abandoned, f.short_abandoned) == (16, 16, 0, 4)
    assert f.answered_in_threshold == sum(w <= 20 for w in waits) == 9
    assert f.service_level_pct == round(100 * 9 / 16, 1)
    assert f.asa_s == round(sum(waits) / 16, 1)
    assert f.aht_s == round(sum(talks) / 16, 1)
    assert f.longest_wait_s == 36
    assert (support.waiting, support.callers, support.alerts) == (0, (), ("service_level",))
    agents = {a.agent: (a.answered, a.talk_seconds) for a in board.snapshot(100.0).agents}
    assert agents == {"1001": (5, 30), "1002": (6, 43), "1003": (5, 35)}


def test_service_level_types_treat_abandons_in_threshold_as_cisco_defines() -> None:
    events = trace_events("busy_20_calls")
    results = {}
    for kind in ("abandoned_ignored", "abandoned_negative", "abandoned_positive"):
        board = board_for(QueueTargets(threshold_seconds=20, short_abandon_seconds=0), kind)
        feed(board, events)
        results[kind] = support_row(board, 100.0).figures.service_level_pct
    # 20 offered, 9 answered within 20 s, 4 abandoned within 20 s.
    assert results == {
        "abandoned_ignored": round(100 * 9 / (20 - 4), 1),
        "abandoned_negative": round(100 * 9 / 20, 1),
        "abandoned_positive": round(100 * (9 + 4) / 20, 1),
    }


def test_each_queue_is_judged_by_its_own_threshold() -> None:
    board = board_for(
        QueueTargets(threshold_seconds=20), support=QueueTargets(threshold_seconds=10)
    )
    feed(board, trace_events("busy_20_calls"))
    support = support_row(board, 100.0)
    assert support.targets.threshold_seconds == 10
    assert support.figures.answered_in_threshold == 6  # waits 1, 2, 3, 8, 9, 10


def test_a_caller_waits_then_talks_then_counts_once() -> None:
    board = board_for(QueueTargets(max_wait_seconds=1))
    events = trace_events("inbound_answered")
    queued = next(i for i, e in enumerate(events) if isinstance(e, CallQueued))
    answered = next(i for i, e in enumerate(events) if isinstance(e, CallAnswered))
    feed(board, events[: queued + 1])
    support = support_row(board, 1.5)
    [caller] = support.callers
    # The trace's QueueCallerJoin comes 1.008 s into the recording.
    assert (caller.caller, caller.waiting_since) == ("+982188776655", 1.008)
    assert support.alerts == ()
    assert board.next_change(1.5) == 1.008 + 1 + 1
    assert support_row(board, 3.1).alerts == ("wait",)
    feed(board, events[queued + 1 : answered + 1])
    snap = board.snapshot(3.0)
    talking = next(a for a in snap.agents if a.agent == "1001")
    assert (talking.state, talking.caller, talking.answered) == ("talking", "+982188776655", 1)
    # Answered and still talking: answered and in service level, not yet in handle time.
    assert (support_row(board, 3.0).figures.answered, support_row(board, 3.0).figures.aht_s) == (
        1,
        None,
    )
    feed(board, events[answered + 1 :])
    f = support_row(board, 20.0).figures
    assert (f.offered, f.answered, f.aht_s, f.asa_s) == (1, 1, 5.0, 1.0)
    idle = next(a for a in board.snapshot(20.0).agents if a.agent == "1001")
    assert idle.state == "idle"


def test_calls_already_in_the_seeded_log_are_not_counted_twice() -> None:
    board = LiveBoard(dt.UTC, TargetBook(QueueTargets()))
    board.start_day(0.0)
    events = trace_events("busy_20_calls")
    feed(board, events)  # ended before the log's figures arrive
    ended = [e for e in events if isinstance(e, CallEnded)]
    logged = Tally(calls=7, offered=7, answered=7, handled=7, handle_sum=70, talk_sum=70)
    as_of = ended[6].ended_at
    assert as_of is not None
    board.seed(as_of, {"support": logged}, {})
    f = support_row(board, 100.0).figures
    assert f.offered == 7 + len([e for e in ended[7:] if (e.wait_seconds or 0) >= 5])


def test_the_day_starts_at_local_midnight() -> None:
    tehran = dt.timezone(dt.timedelta(hours=3, minutes=30))
    at = dt.datetime(2026, 12, 1, 23, 0, tzinfo=dt.UTC).timestamp()  # 02:30 in Tehran
    start, following = day_bounds(at, tehran)
    assert dt.datetime.fromtimestamp(start, tehran) == dt.datetime(2026, 12, 2, tzinfo=tehran)
    assert following - start == 86_400
