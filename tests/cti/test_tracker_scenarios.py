"""Call shapes the lab traces do not show: device channels, SIP trunks, Asterisk 11,
direct dials, attended transfers, hold, resync after a reconnect, expiry.

Each trace here is written by hand after the Asterisk AMI event documentation
for the version named in the test; only the headers the events really carry.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Sequence

from cti.events import (
    AgentRinging,
    AgentRingStopped,
    CallAnswered,
    CallEnded,
    CallHeld,
    CallResumed,
    CallStarted,
    ChannelExpired,
    Event,
    QueueMemberChanged,
    RecordingStarted,
)
from cti.settings import TrackerConfig
from cti.tracker import CallTracker


def msg(event: str, **headers: str) -> dict[str, str]:
    return {"Event": event, **headers}


def chan(name: str, uid: str, linked: str, **extra: str) -> dict[str, str]:
    return {"Channel": name, "Uniqueid": uid, "Linkedid": linked, **extra}


def run(tracker: CallTracker, script: Sequence[tuple[float | None, dict[str, str]]]) -> list[Event]:
    out: list[Event] = []
    for at, message in script:
        out.extend(tracker.feed(message, at))
    return out


def ended(events: list[Event]) -> list[CallEnded]:
    return [e for e in events if isinstance(e, CallEnded)]


TRUNK = "PJSIP/provider-0000001a"
PHONE = "PJSIP/1001-0000001b"


def pjsip_queue_call(hangup_at: float = 40.0) -> list[tuple[float | None, dict[str, str]]]:
    """Asterisk 18, PJSIP trunk entering at exten s, member interface PJSIP/1001."""
    caller = chan(TRUNK, "1700000000.10", "1700000000.10")
    agent = chan(PHONE, "1700000000.11", "1700000000.10")
    return [
        (
            0.0,
            msg(
                "Newchannel",
                **caller,
                ChannelState="4",
                CallerIDNum="09121234567",
                CallerIDName="",
                Context="from-pstn",
                Exten="s",
            ),
        ),
        (0.1, msg("Newstate", **caller, ChannelState="6", CallerIDNum="09121234567")),
        (
            1.0,
            msg(
                "QueueCallerJoin",
                **caller,
                Queue="support",
                Position="1",
                Count="1",
                Exten="2188000000",
                CallerIDNum="09121234567",
            ),
        ),
        (
            1.0,
            msg(
                "Newchannel",
                **agent,
                ChannelState="0",
                CallerIDNum="1001",
                Context="from-internal",
                Exten="s",
            ),
        ),
        (
            1.0,
            msg(
                "AgentCalled",
                **caller,
                DestChannel=PHONE,
                DestUniqueid="1700000000.11",
                Queue="support",
                Interface="PJSIP/1001",
                MemberName="Ali Rezaei",
            ),
        ),
        (
            1.0,
            msg(
                "DialBegin",
                **caller,
                DestChannel=PHONE,
                DestUniqueid="1700000000.11",
                DialString="1001",
            ),
        ),
        (
            4.0,
            msg(
                "DialEnd",
                **caller,
                DestChannel=PHONE,
                DestUniqueid="1700000000.11",
                DialStatus="ANSWER",
            ),
        ),
        (
            4.0,
            msg(
                "AgentConnect",
                **caller,
                DestChannel=PHONE,
                DestUniqueid="1700000000.11",
                Queue="support",
                Interface="PJSIP/1001",
                HoldTime="3",
                RingTime="3",
            ),
        ),
        (10.0, msg("Hold", **agent)),
        (15.0, msg("Unhold", **agent)),
        (
            hangup_at,
            msg(
                "AgentComplete",
                **caller,
                DestChannel=PHONE,
                Queue="support",
                Interface="PJSIP/1001",
                HoldTime="3",
                TalkTime="36",
                Reason="caller",
            ),
        ),
        (hangup_at, msg("Hangup", **caller, Cause="16")),
        (hangup_at, msg("Hangup", **agent, Cause="16")),
    ]


def test_pjsip_trunk_and_device_member_call_is_tracked_like_the_lab_calls() -> None:
    events = run(CallTracker(), pjsip_queue_call())
    (call,) = ended(events)
    assert call.summary() == {
        "call_id": "1700000000.10",
        "direction": "inbound",
        "caller": "09121234567",
        "dialed": "2188000000",
        "queue": "support",
        "agent": "1001",
        "agents_rung": ["1001"],
        "disposition": "answered",
        "wait_seconds": 3,
        "talk_seconds": 36,
        "recording": None,
        "transfers": [],
        "ivr_input": None,
    }
    held = [type(e) for e in events if isinstance(e, CallHeld | CallResumed)]
    assert held == [CallHeld, CallResumed]


def test_without_receive_times_the_pbx_figures_give_wait_and_talk() -> None:
    script = [(None, m) for _, m in pjsip_queue_call()]
    (call,) = ended(run(CallTracker(), script))
    assert (call.wait_seconds, call.talk_seconds) == (3, 36)


def test_extension_map_overrides_the_interface_name() -> None:
    tracker = CallTracker(TrackerConfig(extension_map={"PJSIP/1001": "2001"}))
    (call,) = ended(run(tracker, pjsip_queue_call()))
    assert call.agent == "2001" and call.agents_rung == ("2001",)


def test_issabel_local_member_dialing_its_sip_phone_rings_the_agent_once() -> None:
    """FreePBX/Issabel: Local/1002@from-queue/n whose ;2 dials SIP/1002 (chan_sip, Asterisk 13)."""
    c = chan("SIP/trunk-00000001", "1.1", "1.1")
    one = chan("Local/1002@from-queue-00000001;1", "1.2", "1.1")
    two = chan("Local/1002@from-queue-00000001;2", "1.3", "1.1")
    phone = chan("SIP/1002-00000002", "1.4", "1.1")
    script = [
        (
            0.0,
            msg(
                "Newchannel",
                **c,
                CallerIDNum="+982188776655",
                Exten="2188000000",
                Context="from-trunk",
                ChannelState="4",
            ),
        ),
        (0.5, msg("QueueCallerJoin", **c, Queue="support", Position="1", Count="1")),
        (0.5, msg("Newchannel", **one, Exten="1002", Context="from-queue")),
        (0.5, msg("Newchannel", **two, Exten="1002", Context="from-queue")),
        (
            0.5,
            msg(
                "LocalBridge",
                LocalOneChannel=one["Channel"],
                LocalOneUniqueid="1.2",
                LocalTwoChannel=two["Channel"],
                LocalTwoUniqueid="1.3",
            ),
        ),
        (
            0.5,
            msg(
                "AgentCalled",
                **c,
                DestChannel=one["Channel"],
                DestUniqueid="1.2",
                Queue="support",
                Interface="Local/1002@from-queue/n",
                MemberName="Sara",
            ),
        ),
        (0.5, msg("DialBegin", **c, DestChannel=one["Channel"], DestUniqueid="1.2")),
        (0.6, msg("Newchannel", **phone, Exten="1002", Context="from-internal")),
        (
            0.6,
            msg(
                "DialBegin",
                **two,
                DestChannel=phone["Channel"],
                DestUniqueid="1.4",
                DialString="1002",
            ),
        ),
        (
            5.0,
            msg(
                "DialEnd",
                **two,
                DestChannel=phone["Channel"],
                DestUniqueid="1.4",
                DialStatus="ANSWER",
            ),
        ),
        (
            5.0,
            msg(
                "DialEnd", **c, DestChannel=one["Channel"], DestUniqueid="1.2", DialStatus="ANSWER"
            ),
        ),
        (
            5.0,
            msg(
                "AgentConnect",
                **c,
                DestChannel=one["Channel"],
                DestUniqueid="1.2",
                Queue="support",
                Interface="Local/1002@from-queue/n",
                HoldTime="4",
            ),
        ),
        (20.0, msg("Hangup", **phone)),
        (20.0, msg("Hangup", **two)),
        (20.0, msg("Hangup", **one)),
        (20.1, msg("Hangup", **c)),
    ]
    events = run(CallTracker(), script)
    rings = [e.agent for e in events if isinstance(e, AgentRinging)]
    answers = [e.agent for e in events if isinstance(e, CallAnswered)]
    assert rings == ["1002"] and answers == ["1002"]
    (call,) = ended(events)
    assert (call.agent, call.wait_seconds, call.talk_seconds) == ("1002", 5, 15)


def test_direct_dial_to_an_extension_that_is_busy_is_a_busy_call() -> None:
    c = chan("IAX2/provider-1234", "2.1", "2.1")
    d = chan("IAX2/1003-5678", "2.2", "2.1")
    script = [
        (
            0.0,
            msg(
                "Newchannel",
                **c,
                CallerIDNum="02155443322",
                Exten="2188000009",
                Context="from-trunk",
            ),
        ),
        (0.2, msg("Newchannel", **d, Exten="s", Context="from-internal")),
        (
            0.2,
            msg("DialBegin", **c, DestChannel=d["Channel"], DestUniqueid="2.2", DialString="1003"),
        ),
        (0.4, msg("DialEnd", **c, DestChannel=d["Channel"], DestUniqueid="2.2", DialStatus="BUSY")),
        (0.4, msg("Hangup", **d, Cause="17")),
        (1.0, msg("Hangup", **c, Cause="17")),
    ]
    events = run(CallTracker(), script)
    (call,) = ended(events)
    assert (call.direction, call.disposition, call.agents_rung, call.queue) == (
        "inbound",
        "busy",
        ("1003",),
        None,
    )
    stop = next(e for e in events if isinstance(e, AgentRingStopped))
    assert stop.reason == "declined"
    assert call.wait_seconds is None and call.talk_seconds is None


def test_direct_dial_nobody_answers_is_missed() -> None:
    c = chan("SIP/trunk-00000009", "3.1", "3.1")
    d = chan("SIP/1001-0000000a", "3.2", "3.1")
    script = [
        (0.0, msg("Newchannel", **c, CallerIDNum="+989121112222", Exten="2188000009")),
        (0.0, msg("Newchannel", **d, Exten="s")),
        (0.0, msg("DialBegin", **c, DestChannel=d["Channel"], DestUniqueid="3.2")),
        (
            20.0,
            msg(
                "DialEnd", **c, DestChannel=d["Channel"], DestUniqueid="3.2", DialStatus="NOANSWER"
            ),
        ),
        (20.0, msg("Hangup", **d)),
        (21.0, msg("Hangup", **c)),
    ]
    (call,) = ended(run(CallTracker(), script))
    assert (call.disposition, call.agent, call.agents_rung) == ("missed", None, ("1001",))


def test_internal_call_between_two_extensions() -> None:
    a = chan("PJSIP/1001-00000001", "4.1", "4.1")
    b = chan("PJSIP/1002-00000002", "4.2", "4.1")
    script = [
        (0.0, msg("Newchannel", **a, CallerIDNum="1001", Exten="1002", Context="from-internal")),
        (0.1, msg("Newchannel", **b, Exten="s", Context="from-internal")),
        (0.1, msg("DialBegin", **a, DestChannel=b["Channel"], DestUniqueid="4.2")),
        (
            3.0,
            msg("DialEnd", **a, DestChannel=b["Channel"], DestUniqueid="4.2", DialStatus="ANSWER"),
        ),
        (13.0, msg("Hangup", **b)),
        (13.0, msg("Hangup", **a)),
    ]
    (call,) = ended(run(CallTracker(), script))
    assert call.summary() | {"call_id": None} == {
        "call_id": None,
        "direction": "internal",
        "caller": "1001",
        "dialed": "1002",
        "queue": None,
        "agent": "1002",
        "agents_rung": ["1002"],
        "disposition": "answered",
        "wait_seconds": None,
        "talk_seconds": 10,
        "recording": None,
        "transfers": [],
        "ivr_input": None,
    }


def test_outbound_call_from_a_phone_that_fails_on_the_trunk() -> None:
    a = chan("SIP/1003-00000001", "5.1", "5.1")
    t = chan("SIP/provider-00000002", "5.2", "5.1")
    script = [
        (0.0, msg("Newchannel", **a, CallerIDNum="1003", Exten="02177665544")),
        (0.1, msg("Newchannel", **t, Exten="s")),
        (
            0.1,
            msg(
                "DialBegin",
                **a,
                DestChannel=t["Channel"],
                DestUniqueid="5.2",
                DialString="provider/02177665544",
            ),
        ),
        (
            0.3,
            msg(
                "DialEnd",
                **a,
                DestChannel=t["Channel"],
                DestUniqueid="5.2",
                DialStatus="CONGESTION",
            ),
        ),
        (0.3, msg("Hangup", **t)),
        (0.5, msg("Hangup", **a)),
    ]
    (call,) = ended(run(CallTracker(), script))
    assert (call.direction, call.dialed, call.disposition, call.agent) == (
        "outbound",
        "02177665544",
        "failed",
        "1003",
    )


def test_attended_transfer_moves_the_call_to_the_target_agent() -> None:
    cust = chan("PJSIP/provider-00000001", "6.1", "6.1")
    ag1 = chan("PJSIP/1001-00000002", "6.2", "6.1")
    consult = chan("PJSIP/1001-00000003", "6.3", "6.3")
    ag3 = chan("PJSIP/1003-00000004", "6.4", "6.3")
    script = [
        (0.0, msg("Newchannel", **cust, CallerIDNum="02122334455", Exten="2188000000")),
        (0.0, msg("Newchannel", **ag1, Exten="s")),
        (0.0, msg("DialBegin", **cust, DestChannel=ag1["Channel"], DestUniqueid="6.2")),
        (
            2.0,
            msg(
                "DialEnd",
                **cust,
                DestChannel=ag1["Channel"],
                DestUniqueid="6.2",
                DialStatus="ANSWER",
            ),
        ),
        (5.0, msg("Newchannel", **consult, CallerIDNum="1001", Exten="1003")),
        (5.0, msg("Newchannel", **ag3, Exten="s")),
        (5.0, msg("DialBegin", **consult, DestChannel=ag3["Channel"], DestUniqueid="6.4")),
        (
            7.0,
            msg(
                "DialEnd",
                **consult,
                DestChannel=ag3["Channel"],
                DestUniqueid="6.4",
                DialStatus="ANSWER",
            ),
        ),
        (
            9.0,
            msg(
                "AttendedTransfer",
                Result="Success",
                OrigTransfererChannel=ag1["Channel"],
                OrigTransfererUniqueid="6.2",
                SecondTransfererChannel=consult["Channel"],
                SecondTransfererUniqueid="6.3",
                DestType="Bridge",
            ),
        ),
        (9.0, msg("Hangup", **ag1)),
        (9.0, msg("Hangup", **consult)),
        (30.0, msg("Hangup", **ag3)),
        (30.0, msg("Hangup", **cust)),
    ]
    calls = {c.call_id: c for c in ended(run(CallTracker(), script))}
    call = calls["6.1"]
    assert call.agent == "1003"
    assert [t.to_dict() for t in call.transfers] == [
        {"from": "1001", "to": "1003", "kind": "attended"}
    ]
    assert call.talk_seconds == 28
    assert calls["6.3"].direction == "internal"


def test_asterisk_11_dialect_is_understood() -> None:
    """Asterisk 11: Join/Leave, Dial SubEvent, no Linkedid, AgentConnect with Member."""
    c = {"Channel": "SIP/trunk-00000001", "Uniqueid": "11.1"}
    a = {"Channel": "SIP/1001-00000002", "Uniqueid": "11.2"}
    script = [
        (
            0.0,
            msg(
                "Newchannel",
                **c,
                CallerIDNum="09351112233",
                Exten="2188000000",
                Context="from-trunk",
                ChannelState="4",
            ),
        ),
        (
            1.0,
            msg("Join", **c, Queue="support", Position="1", Count="1", CallerIDNum="09351112233"),
        ),
        (1.0, msg("Newchannel", **a, Exten="s", Context="from-internal")),
        (
            1.0,
            msg(
                "AgentCalled",
                Queue="support",
                AgentCalled="SIP/1001",
                AgentName="Ali",
                ChannelCalling=c["Channel"],
                DestinationChannel=a["Channel"],
                Uniqueid="11.1",
            ),
        ),
        (
            1.0,
            msg(
                "Dial",
                SubEvent="Begin",
                Channel=c["Channel"],
                Destination=a["Channel"],
                UniqueID="11.1",
                DestUniqueID="11.2",
                Dialstring="1001",
            ),
        ),
        (
            3.0,
            msg("Dial", SubEvent="End", Channel=c["Channel"], UniqueID="11.1", DialStatus="ANSWER"),
        ),
        (3.0, msg("Leave", **c, Queue="support", Position="1", Count="0")),
        (
            3.0,
            msg(
                "AgentConnect",
                Queue="support",
                Uniqueid="11.1",
                Channel=a["Channel"],
                Member="SIP/1001",
                MemberName="Ali",
                Holdtime="2",
                BridgedChannel="11.1",
                Ringtime="2",
            ),
        ),
        (
            3.0,
            msg(
                "QueueMemberStatus",
                Queue="support",
                Location="SIP/1001",
                MemberName="Ali",
                Status="2",
                Paused="0",
            ),
        ),
        (9.0, msg("Hangup", **a, Cause="16")),
        (9.0, msg("Hangup", **c, Cause="16")),
    ]
    events = run(CallTracker(), script)
    (call,) = ended(events)
    assert (call.call_id, call.agent, call.queue, call.disposition) == (
        "11.1",
        "1001",
        "support",
        "answered",
    )
    assert (call.wait_seconds, call.talk_seconds, call.dialed) == (2, 6, "2188000000")
    member = next(e for e in events if isinstance(e, QueueMemberChanged))
    assert (member.agent, member.state) == ("1001", "in_use")


def test_resync_ends_ghost_calls_and_adopts_calls_that_began_while_disconnected() -> None:
    tracker = CallTracker()
    ghost = pjsip_queue_call()[:8]  # answered, never hung up: the link dropped
    run(tracker, ghost)
    assert "1700000000.10" in tracker.calls

    tracker.begin_resync()
    new = chan("PJSIP/provider-00000020", "1700000100.1", "1700000100.1")
    events = run(
        tracker,
        [
            (
                100.0,
                msg(
                    "CoreShowChannel",
                    **new,
                    ChannelState="6",
                    CallerIDNum="02188990011",
                    Context="from-pstn",
                    Exten="2188000000",
                    Application="Queue",
                    ApplicationData="support,t",
                    Duration="00:00:12",
                    BridgeId="",
                ),
            ),
            (100.0, msg("CoreShowChannelsComplete", ListItems="1")),
            (100.0, msg("QueueEntry", Queue="support", Position="1", **new, Wait="12")),
        ],
    )
    events += tracker.end_resync(100.0)
    (gone,) = ended(events)
    assert gone.call_id == "1700000000.10" and gone.reconciled
    assert gone.disposition == "answered"
    assert set(tracker.calls) == {"1700000100.1"}
    adopted = tracker.calls["1700000100.1"]
    assert (adopted.queue, adopted.started_at, adopted.queued_at) == ("support", 88.0, 88.0)

    # The adopted call then ends normally, exactly once.
    later = tracker.feed(msg("Hangup", **new, Cause="16"), 110.0)
    (done,) = ended(later)
    assert (done.disposition, done.wait_seconds, done.reconciled) == ("abandoned", 22, False)


def test_channels_never_hung_up_expire_with_a_warning(caplog: object) -> None:
    tracker = CallTracker(TrackerConfig(channel_expiry_seconds=60))
    run(tracker, pjsip_queue_call()[:3])
    assert tracker.expire(30.0) == []
    events = tracker.expire(100.0)
    assert [type(e) for e in events].count(ChannelExpired) == 1
    assert len(ended(events)) == 1 and not tracker.calls and not tracker.channels


def test_state_stays_bounded_as_finished_calls_accumulate() -> None:
    tracker = CallTracker()
    base = pjsip_queue_call()

    def call_number(n: int) -> list[tuple[float | None, dict[str, str]]]:
        out = []
        for at, m in base:
            m = {k: v.replace("1700000000.", f"{1700000000 + n}.") for k, v in m.items()}
            out.append((None if at is None else at + n * 50, m))
        return out

    for n in range(200):
        run(tracker, call_number(n))
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for n in range(200, 1200):
        run(tracker, call_number(n))
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
    assert not tracker.calls and not tracker.channels and not tracker.by_name
    assert grown < 64 * 1024, f"state grew by {grown} bytes over 1000 finished calls"


def test_local_member_that_optimises_away_keeps_the_agent_on_the_call() -> None:
    """A queue member without /n: once answered, Asterisk swaps the Local pair out
    (LocalOptimizationBegin/End) and hangs it up; the agent's phone stays on the call."""
    c = chan("PJSIP/provider-00000001", "7.1", "7.1")
    one = chan("Local/1001@from-queue-00000002;1", "7.2", "7.1")
    two = chan("Local/1001@from-queue-00000002;2", "7.3", "7.1")
    phone = chan("PJSIP/1001-00000003", "7.4", "7.1")
    script = [
        (0.0, msg("Newchannel", **c, CallerIDNum="02144556677", Exten="2188000000")),
        (0.5, msg("QueueCallerJoin", **c, Queue="support", Position="1", Count="1")),
        (0.5, msg("Newchannel", **one, Exten="1001", Context="from-queue")),
        (0.5, msg("Newchannel", **two, Exten="1001", Context="from-queue")),
        (
            0.5,
            msg(
                "LocalBridge",
                LocalOneChannel=one["Channel"],
                LocalOneUniqueid="7.2",
                LocalTwoChannel=two["Channel"],
                LocalTwoUniqueid="7.3",
            ),
        ),
        (
            0.5,
            msg(
                "AgentCalled",
                **c,
                DestChannel=one["Channel"],
                DestUniqueid="7.2",
                Queue="support",
                Interface="Local/1001@from-queue",
                MemberName="Ali",
            ),
        ),
        (0.5, msg("DialBegin", **c, DestChannel=one["Channel"], DestUniqueid="7.2")),
        (0.6, msg("Newchannel", **phone, Exten="1001", Context="from-internal")),
        (0.6, msg("DialBegin", **two, DestChannel=phone["Channel"], DestUniqueid="7.4")),
        (
            3.0,
            msg(
                "DialEnd",
                **two,
                DestChannel=phone["Channel"],
                DestUniqueid="7.4",
                DialStatus="ANSWER",
            ),
        ),
        (
            3.0,
            msg(
                "DialEnd", **c, DestChannel=one["Channel"], DestUniqueid="7.2", DialStatus="ANSWER"
            ),
        ),
        (
            3.0,
            msg(
                "AgentConnect",
                **c,
                DestChannel=one["Channel"],
                DestUniqueid="7.2",
                Queue="support",
                Interface="Local/1001@from-queue",
                HoldTime="3",
            ),
        ),
        (
            3.1,
            msg(
                "LocalOptimizationBegin",
                LocalOneChannel=one["Channel"],
                LocalTwoChannel=two["Channel"],
                SourceChannel=phone["Channel"],
            ),
        ),
        (
            3.1,
            msg(
                "LocalOptimizationEnd",
                LocalOneChannel=one["Channel"],
                LocalTwoChannel=two["Channel"],
                Success="Yes",
            ),
        ),
        (3.1, msg("Hangup", **one, Cause="16")),
        (3.1, msg("Hangup", **two, Cause="16")),
        (
            10.0,
            msg(
                "BlindTransfer",
                Result="Success",
                TransfererChannel=phone["Channel"],
                TransfererUniqueid="7.4",
                TransfereeChannel=c["Channel"],
                TransfereeUniqueid="7.1",
                Extension="1003",
                Context="from-internal",
            ),
        ),
        (10.0, msg("Hangup", **phone, Cause="16")),
        (10.5, msg("Hangup", **c, Cause="16")),
    ]
    (call,) = ended(run(CallTracker(), script))
    assert (call.agent, call.disposition, call.talk_seconds) == ("1001", "answered", 8)
    assert [t.to_dict() for t in call.transfers] == [
        {"from": "1001", "to": "1003", "kind": "blind"}
    ]


def _listed(
    channel: dict[str, str], state: str, age: str, bridge: str, **extra: str
) -> dict[str, str]:
    return msg(
        "CoreShowChannel",
        **channel,
        ChannelState=state,
        Duration=age,
        BridgeId=bridge,
        **extra,
    )


def test_an_answer_inside_a_link_gap_is_recorded_as_answered_by_that_agent() -> None:
    """Asterisk 22, device member: the ring is seen, the link drops before the answer,
    and the resync lists caller and agent up in one bridge."""
    tracker = CallTracker()
    seen = run(tracker, pjsip_queue_call()[:5])  # up to AgentCalled: ringing 1001
    assert [e.agent for e in seen if isinstance(e, AgentRinging)] == ["1001"]

    tracker.begin_resync()  # the link came back 10 s later
    caller = chan(TRUNK, "1700000000.10", "1700000000.10")
    phone = chan(PHONE, "1700000000.11", "1700000000.10")
    listing = [
        (11.0, _listed(phone, "6", "00:00:08", "b-1", Application="AppQueue")),
        (
            11.0,
            _listed(
                caller, "6", "00:00:11", "b-1", Application="Queue", ApplicationData="support,t"
            ),
        ),
        (11.0, msg("CoreShowChannelsComplete", ListItems="2")),
    ]
    events = run(tracker, listing) + tracker.end_resync(11.0)
    (answer,) = [e for e in events if isinstance(e, CallAnswered)]
    assert (answer.agent, answer.at) == ("1001", 3.0), "answered at the leg's listed age"
    assert not ended(events)

    done = tracker.feed(msg("Hangup", **caller, Cause="16"), 30.0)
    done += tracker.feed(msg("Hangup", **phone, Cause="16"), 30.0)
    (call,) = ended(done)
    assert (call.disposition, call.agent, call.agents_rung) == ("answered", "1001", ("1001",))
    assert (call.wait_seconds, call.talk_seconds) == (2, 27)


def test_a_call_that_ended_inside_a_gap_ends_at_the_last_event_seen() -> None:
    tracker = CallTracker()
    run(tracker, pjsip_queue_call()[:8])  # answered at 4.0; the last event at 4.0
    tracker.feed(msg("QueueMemberStatus", Queue="support", Interface="PJSIP/1001", Status="2"), 9.5)
    tracker.begin_resync()
    events = run(tracker, [(60.0, msg("CoreShowChannelsComplete", ListItems="0"))])
    events += tracker.end_resync(60.0)
    (call,) = ended(events)
    assert call.reconciled and call.disposition == "answered"
    assert call.ended_at == 9.5, "not the resync's time: the PBX was gone long before"


def test_a_restarted_hub_adopts_the_call_whole_from_the_listing() -> None:
    """Newest channel first, as Asterisk lists them: the caller is still found."""
    tracker = CallTracker()
    tracker.begin_resync()
    caller = chan("IAX2/provider-13734", "5.4", "5.4")
    phone = chan("IAX2/1001-7616", "5.5", "5.4")
    listing = [
        (
            100.0,
            _listed(
                phone,
                "6",
                "00:00:03",
                "b-2",
                CallerIDNum="<unknown>",
                Exten="2188000009",
                Application="AppQueue",
            ),
        ),
        (
            100.0,
            _listed(
                caller,
                "6",
                "00:00:05",
                "b-2",
                CallerIDNum="+982188776655",
                Exten="2188000009",
                Application="Queue",
                ApplicationData="helpdesk,t,,,60",
            ),
        ),
        (100.0, msg("CoreShowChannelsComplete", ListItems="2")),
    ]
    events = run(tracker, listing) + tracker.end_resync(100.0)
    started = next(e for e in events if isinstance(e, CallStarted))
    answered = next(e for e in events if isinstance(e, CallAnswered))
    assert (started.caller, started.dialed) == ("+982188776655", "2188000009")
    assert (answered.agent, answered.queue, answered.at) == ("1001", "helpdesk", 97.0)


def test_wanted_events_are_exactly_what_some_handler_reads_in_either_dialect() -> None:
    wanted = CallTracker.WANTED_EVENTS
    assert set(CallTracker.HANDLERS) <= wanted
    assert {"Join", "Dial", "QueueMemberPaused", "Transfer"} <= wanted  # Asterisk 11
    assert "AgentDump" not in wanted and "FullyBooted" not in wanted
    assert wanted - set(CallTracker.HANDLERS) == {
        "Join",
        "Leave",
        "Dial",
        "QueueMemberPaused",
        "DTMF",
        "Transfer",
    }


def test_chanvariable_headers_give_the_recording_and_the_ivr_code_without_varset() -> None:
    tracker = CallTracker()
    caller = chan(TRUNK, "8.1", "8.1")
    path = "/var/spool/asterisk/monitor/in-8.1.wav"
    script = [
        (0.0, msg("Newchannel", **caller, CallerIDNum="09121234567", Exten="2188000001")),
        (
            1.0,
            msg(
                "MixMonitorStart",
                **caller,
                ChanVariable=f"MIXMONITOR_FILENAME={path}\nCTIHUB_CASE=\nCTIHUB_CONTRACT=active",
            ),
        ),
        (
            2.0,
            msg(
                "Newstate",
                **caller,
                ChannelState="6",
                ChanVariable=f"MIXMONITOR_FILENAME={path}\nCTIHUB_CASE=40012345\nCTIHUB_CONTRACT=active",
            ),
        ),
        (3.0, msg("Hangup", **caller, Cause="16")),
    ]
    events = run(tracker, script)
    recordings = [e for e in events if isinstance(e, RecordingStarted)]
    (call,) = ended(events)
    assert len(recordings) == 1, "a repeated header is not a new recording"
    assert (call.recording, call.ivr_input) == (path, "40012345")
    assert dict(call.variables)["CTIHUB_CONTRACT"] == "active"


def test_the_ring_says_why_the_call_came_to_this_agent() -> None:
    """The IVR's variables (VarSet) name the case owner and the customer's own agent."""
    tracker = CallTracker()
    caller = chan(TRUNK, "9.1", "9.1")

    def ring(uid: str, agent: str, queue: str | None) -> dict[str, str]:
        dest = f"PJSIP/{agent}-0000000{uid[-1]}"
        tracker.feed(msg("Newchannel", **chan(dest, uid, "9.1")), 1.0)
        if queue is None:
            return msg("DialBegin", **caller, DestChannel=dest, DestUniqueid=uid, DialString=agent)
        return msg(
            "AgentCalled",
            **caller,
            DestChannel=dest,
            DestUniqueid=uid,
            Queue=queue,
            Interface=f"PJSIP/{agent}",
        )

    script = [
        (0.0, msg("Newchannel", **caller, CallerIDNum="09121234567", Exten="2188000001")),
        (0.5, msg("VarSet", **caller, Variable="CTIHUB_OWNER", Value="1003")),
        (0.5, msg("VarSet", **caller, Variable="CTIHUB_PRIORITY", Value="10")),
        (0.6, msg("VarSet", **caller, Variable="CTIHUB_CASE_OWNER", Value="1002")),
    ]
    run(tracker, script)
    reasons = []
    for uid, agent, queue in [
        ("9.2", "1002", None),
        ("9.3", "1003", None),
        ("9.4", "1001", "support"),
    ]:
        reasons += [
            (e.agent, e.routed_by)
            for e in tracker.feed(ring(uid, agent, queue), 2.0)
            if isinstance(e, AgentRinging)
        ]
    assert reasons == [("1002", "case_owner"), ("1003", "customer_owner"), ("1001", "vip_queue")]
