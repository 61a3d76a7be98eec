"""PbxFeed: the tracker is fed in order and re-reads the PBX after every reconnect."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cti.ami_codec import AmiParser, Message
from cti.events import CallEnded, Event
from cti.tracker import CallTracker
from pbx_adapters.pbx_feed import PbxFeed

from .ami_fake_server import FakeAmi, ami_config, running_server, wait_until

FIXTURES = Path(__file__).parent.parent / "fixtures" / "ami"


class RecordingTracker:
    """Stands in for CallTracker and writes down every call in order."""

    WANTED_EVENTS = CallTracker.WANTED_EVENTS

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []
        self.wanted_variables = CallTracker().wanted_variables

    def feed(self, message: dict[str, str], at: float | None = None) -> list[Event]:
        self.calls.append(("feed", message))
        return []

    def begin_resync(self) -> None:
        self.calls.append(("begin_resync", None))

    def end_resync(self, at: float | None = None) -> list[Event]:
        self.calls.append(("end_resync", at))
        return []

    def expire(self, now: float) -> list[Event]:
        self.calls.append(("expire", now))
        return []

    def names(self) -> list[str]:
        """The call sequence, with fed messages shown by their Event/Response name."""
        out = []
        for kind, arg in self.calls:
            if kind == "feed":
                assert isinstance(arg, dict)
                out.append(arg.get("Event") or "Response:" + arg.get("Response", ""))
            else:
                out.append(kind)
        return out


def _channel(uid: str, name: str) -> list[tuple[str, str]]:
    return [("Channel", name), ("Uniqueid", uid), ("Linkedid", uid), ("ChannelState", "6")]


@pytest.fixture
async def server() -> AsyncIterator[FakeAmi]:
    async with running_server() as fake:
        yield fake


async def test_resync_runs_after_each_connect_and_items_are_fed_once_in_order(
    server: FakeAmi,
) -> None:
    server.channels = [_channel("100.1", "PJSIP/1001-00000001")]
    server.queue_items = [
        [("Event", "QueueParams"), ("Queue", "support"), ("Calls", "0")],
        [("Event", "QueueMember"), ("Queue", "support"), ("Name", "Ali Rezaei")],
    ]
    tracker = RecordingTracker()
    feed = PbxFeed(ami_config(server.port), tracker, lambda events: None, clock=lambda: 1234.5)
    await feed.start()
    try:
        await wait_until(lambda: feed.resyncs_completed == 1)
        first = tracker.names()
        begin = first.index("begin_resync")
        # Ready comes with FullyBooted; the resync begins right after it, before anything else.
        assert first[begin - 1] == "FullyBooted"
        assert first[begin:] == [
            "begin_resync",
            "Response:Success",
            "CoreShowChannel",
            "CoreShowChannelsComplete",
            "Response:Success",
            "QueueParams",
            "QueueMember",
            "QueueStatusComplete",
            "Response:Success",
            "QueueSummaryComplete",
            "end_resync",
        ]
        assert tracker.calls[-1] == ("end_resync", 1234.5)

        # The PBX restarts with another set of channels.
        server.channels = [_channel("200.1", "PJSIP/1002-00000009")]
        server.drop_clients()
        await wait_until(lambda: feed.resyncs_completed == 2)
        second = tracker.names()[len(first) :]
        assert second.count("begin_resync") == 1
        assert second.count("end_resync") == 1
        assert second.index("begin_resync") < second.index("CoreShowChannel")
        assert second.index("QueueStatusComplete") < second.index("end_resync")
        fed_channels = [
            arg["Uniqueid"]
            for kind, arg in tracker.calls
            if kind == "feed" and isinstance(arg, dict) and arg.get("Event") == "CoreShowChannel"
        ]
        assert fed_channels == ["100.1", "200.1"]  # each item fed exactly once
        assert len(server.actions("CoreShowChannels")) == 2
        assert len(server.actions("QueueStatus")) == 2
    finally:
        await feed.close()


async def test_events_between_resyncs_reach_the_tracker_in_arrival_order(server: FakeAmi) -> None:
    tracker = RecordingTracker()
    feed = PbxFeed(ami_config(server.port), tracker, lambda events: None)
    await feed.start()
    try:
        await wait_until(lambda: feed.resyncs_completed == 1)
        for seq in range(50):
            server.send_event([("Event", "Newstate"), ("Seq", str(seq))])
        await wait_until(lambda: tracker.names().count("Newstate") == 50)
        seqs = [
            int(arg["Seq"])
            for kind, arg in tracker.calls
            if kind == "feed" and isinstance(arg, dict) and arg.get("Event") == "Newstate"
        ]
        assert seqs == list(range(50))
    finally:
        await feed.close()


async def test_refused_resync_query_abandons_the_resync_without_ending_calls(
    server: FakeAmi,
) -> None:
    tracker = RecordingTracker()
    feed = PbxFeed(ami_config(server.port), tracker, lambda events: None)
    original = server._write_list

    def refuse(writer, aid, message, item_event, items, complete):  # type: ignore[no-untyped-def]
        if complete == "CoreShowChannelsComplete":  # a user without write=reporting
            writer.write(
                b"Response: Error\r\n"
                + b"".join(f"{k}: {v}\r\n".encode() for k, v in aid)
                + b"Message: Permission denied\r\n\r\n"
            )
        else:
            original(writer, aid, message, item_event, items, complete)

    server._write_list = refuse  # type: ignore[method-assign]
    await feed.start()
    try:
        await wait_until(lambda: feed.resyncs_abandoned == 1)
        assert "begin_resync" in tracker.names()
        assert "end_resync" not in tracker.names()
    finally:
        await feed.close()


async def test_expire_is_called_periodically_and_its_events_reach_the_sink(
    server: FakeAmi,
) -> None:
    tracker = RecordingTracker()
    feed = PbxFeed(
        ami_config(server.port),
        tracker,
        lambda events: None,
        expire_interval=0.02,
        clock=lambda: 99.0,
    )
    await feed.start()
    try:
        await wait_until(lambda: tracker.names().count("expire") >= 2)
        assert ("expire", 99.0) in tracker.calls
    finally:
        await feed.close()


def _messages(path: Path) -> list[Message]:
    return AmiParser().feed(path.read_bytes())


def _raw_until(path: Path, stop: bytes) -> bytes:
    """The transcript's events after FullyBooted, up to (not including) ``stop``."""
    data = path.read_bytes()
    start = data.index(b"\r\n\r\n", data.index(b"Event: FullyBooted")) + 4
    return data[start : data.index(stop, start)]


async def test_real_tracker_ends_the_ghost_call_and_adopts_the_new_one_after_reconnect(
    server: FakeAmi,
) -> None:
    # First connection: the start of inbound_answered (caller 982188776655 queued,
    # 1001 ringing/answering), cut before any Hangup: the link then drops.
    call_in_progress = _raw_until(FIXTURES / "inbound_answered.ami", b"Event: Hangup\r\n")
    # When the hub is back, the PBX has a different call (queue_status's caller,
    # Linkedid 1795392552.32) and the first one is gone.
    later_channels = [
        [(k, v) for k, v in m.items() if k not in ("Event", "ActionID")]
        for m in _messages(FIXTURES / "queue_status.ami")
        if m.get("Event") == "CoreShowChannel"
    ]
    assert len(later_channels) == 4

    tracker = CallTracker()
    produced: list[Event] = []
    feed = PbxFeed(ami_config(server.port), tracker, produced.extend)
    await feed.start()
    try:
        await wait_until(lambda: feed.resyncs_completed == 1)
        server.send_raw(call_in_progress)
        await wait_until(lambda: "1795392474.0" in tracker.calls)
        assert not [e for e in produced if isinstance(e, CallEnded)]

        server.channels = later_channels
        server.drop_clients()
        await wait_until(lambda: feed.resyncs_completed == 2)

        ended = [e for e in produced if isinstance(e, CallEnded)]
        assert [(e.call_id, e.reconciled) for e in ended] == [("1795392474.0", True)]
        assert "1795392474.0" not in tracker.calls
        assert "1795392552.32" in tracker.calls  # adopted from CoreShowChannels
    finally:
        await feed.close()


def _events_of(path: Path, drop: tuple[bytes, ...] = ()) -> bytes:
    """The events of a transcript (banner and login answer left out), minus some names."""
    blocks = path.read_bytes().split(b"\r\n\r\n")
    kept = [
        b[b.index(b"Event: ") :]
        for b in blocks
        if b"Event: " in b and not any(b"Event: " + name + b"\r\n" in b for name in drop)
    ]
    return b"".join(block + b"\r\n\r\n" for block in kept)


async def test_least_privilege_user_with_channelvars_is_not_warned_about(
    server: FakeAmi, caplog: pytest.LogCaptureFixture
) -> None:
    feed = PbxFeed(ami_config(server.port), CallTracker(), lambda events: None)
    await feed.start()
    try:
        await wait_until(lambda: feed.resyncs_completed == 1)
        server.send_raw(
            _events_of(FIXTURES / "least_privilege_channelvars.ami", drop=(b"FullyBooted",))
        )
        await wait_until(lambda: feed.read_classes_missing is not None)
        assert feed.read_classes_missing == []
        assert "read classes" not in caplog.text
    finally:
        await feed.close()


async def test_a_user_without_dialplan_or_cdr_is_told_once_what_it_misses(
    server: FakeAmi, caplog: pytest.LogCaptureFixture
) -> None:
    # inbound_answered as a user with read=call,agent would receive it: no VarSet, no Cdr.
    trace = _events_of(
        FIXTURES / "inbound_answered.ami", drop=(b"VarSet", b"Cdr", b"Newexten", b"FullyBooted")
    )
    produced: list[Event] = []
    feed = PbxFeed(ami_config(server.port), CallTracker(), produced.extend)
    await feed.start()
    try:
        await wait_until(lambda: feed.resyncs_completed == 1)
        server.send_raw(trace)
        await wait_until(lambda: feed.read_classes_missing is not None)
        assert feed.read_classes_missing == ["dialplan", "cdr"]
        server.send_raw(trace.replace(b"1795392474.", b"1795392999."))
        await wait_until(lambda: len([e for e in produced if isinstance(e, CallEnded)]) == 2)
    finally:
        await feed.close()
    warnings = [r.getMessage() for r in caplog.records if "read classes" in r.getMessage()]
    assert len(warnings) == 1, "said once, not on every call"
    assert "add dialplan,cdr to the read= line" in warnings[0]
    assert "channelvars = MIXMONITOR_FILENAME" in warnings[0]
    assert "recording file name" in warnings[0]
