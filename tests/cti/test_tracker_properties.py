"""Whatever the PBX sends, the tracker neither raises nor leaks: property tests on real traces
with messages dropped, repeated, reordered and damaged."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cti.events import CallEnded
from cti.replay import read_transcript
from cti.tracker import CallTracker

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ami"
TRACES = {
    name: [m for m, _ in read_transcript(FIXTURES / f"{name}.jsonl")]
    for name in ("inbound_answered", "blind_transfer", "ivr_tracking_code", "click_to_call")
}
HEADERS = sorted({key for trace in TRACES.values() for m in trace for key in m})
JUNK = st.one_of(
    st.just(""),
    st.text(max_size=12),
    st.sampled_from(["-1", "99999999999999999999", "NaN", "<unknown>", "Local/;3", "@"]),
)


def damaged(messages: list[dict[str, str]], data: st.DataObject) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for message in messages:
        action = data.draw(st.sampled_from(["keep"] * 12 + ["drop", "twice", "blank", "junk"]))
        if action == "drop":
            continue
        message = dict(message)
        if action == "blank":
            message.pop(data.draw(st.sampled_from(sorted(message))), None)
        elif action == "junk":
            message[data.draw(st.sampled_from(HEADERS))] = data.draw(JUNK)
        out.append(message)
        if action == "twice":
            out.append(dict(message))
    if data.draw(st.booleans()):
        i, j = sorted(data.draw(st.lists(st.integers(0, len(out) - 1), min_size=2, max_size=2)))
        out[i], out[j] = out[j], out[i]
    return out


def consistent(tracker: CallTracker) -> None:
    for uid, channel in tracker.channels.items():
        assert channel.uniqueid == uid
        assert uid in tracker.calls[channel.call_id].channels
    for call in tracker.calls.values():
        assert all(uid in tracker.channels for uid in call.channels)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(TRACES)), data=st.data())
def test_damaged_traces_never_raise_and_leave_consistent_state(
    name: str, data: st.DataObject
) -> None:
    tracker = CallTracker()
    ended: list[str] = []
    for at, message in enumerate(damaged(TRACES[name], data)):
        for event in tracker.feed(message, float(at)):
            if isinstance(event, CallEnded):
                ended.append(event.call_id)
    consistent(tracker)
    assert len(ended) == len(set(ended)), "a call ended twice"
    # Whatever was left open, expiry clears it: nothing stays forever.
    tracker.expire(1e12)
    assert not tracker.calls and not tracker.channels and not tracker.by_name


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["Event", *HEADERS[:40]]),
            st.one_of(st.sampled_from(sorted(CallTracker.WANTED_EVENTS)), JUNK),
            max_size=8,
        ),
        max_size=40,
    )
)
def test_arbitrary_messages_never_raise(messages: list[dict[str, str]]) -> None:
    tracker = CallTracker()
    for message in messages:
        tracker.feed(message, None)
    consistent(tracker)
