"""Property tests of AmiParser: real transcript bytes cut anywhere, filtered, glued, junked.

The reference for every property is something other than the code path under
test: one whole feed of the same bytes, a filter applied after full parsing,
or the messages as written before damage was added.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cti.tracker as tracker_module
from cti.ami_codec import AmiParser, Message, encode_action

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"
TRANSCRIPTS = sorted(FIXTURES.glob("*.ami"))
TRANSCRIPT_BYTES = {path.stem: path.read_bytes() for path in TRANSCRIPTS}
# Small enough to rebuild and replay in every example; at least three messages to damage.
SMALL_TRANSCRIPTS = sorted(
    name
    for name, data in TRANSCRIPT_BYTES.items()
    if len(data) < 200_000 and data.count(b"\r\n\r\n") >= 3
)
EOM = b"\r\n\r\n"

EVENT_NAMES_IN_TRANSCRIPTS = sorted(
    {
        line[len(b"Event: ") :].decode()
        for data in TRANSCRIPT_BYTES.values()
        for line in data.split(b"\r\n")
        if line.startswith(b"Event: ")
    }
)
VARIABLE_NAMES_IN_TRANSCRIPTS = sorted(
    {
        line[len(b"Variable: ") :].decode()
        for data in TRANSCRIPT_BYTES.values()
        for line in data.split(b"\r\n")
        if line.startswith(b"Variable: ")
    }
)

PROPERTY_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def outcome(parser: AmiParser, chunks: list[bytes]) -> tuple[list[Message], str | None, int, int]:
    messages: list[Message] = []
    for chunk in chunks:
        messages += parser.feed(chunk)
    parser.feed_eof()
    return messages, parser.banner, parser.errors, parser.skipped


def cut(data: bytes, positions: list[int]) -> list[bytes]:
    bounds = [0, *sorted(positions), len(data)]
    return [data[start:end] for start, end in pairwise(bounds)]


def wanted_after_parsing(
    messages: list[Message], events: set[str], variables: set[str] | None
) -> list[Message]:
    """The reference filter: full parse first, then keep what a wanted-list keeps."""
    kept = []
    for message in messages:
        name = message.get("Event")
        if name is not None:
            if name not in events:
                continue
            if name == "VarSet" and variables is not None and message["Variable"] not in variables:
                continue
        kept.append(message)
    return kept


# ---- chunking ----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TRANSCRIPT_BYTES))
def test_feeding_one_byte_at_a_time_gives_what_one_feed_gives(name: str) -> None:
    data = TRANSCRIPT_BYTES[name]
    whole = outcome(AmiParser(), [data])
    byte_by_byte = outcome(AmiParser(), [data[i : i + 1] for i in range(len(data))])
    assert byte_by_byte == whole
    assert whole[2] == 0


@pytest.mark.parametrize("name", sorted(TRANSCRIPT_BYTES))
def test_every_two_piece_split_of_the_banner_and_first_messages_gives_one_feed_result(
    name: str,
) -> None:
    data = TRANSCRIPT_BYTES[name]
    # The banner, the login response and a few events: every boundary kind occurs here.
    head_end = 0
    for _ in range(5):
        found = data.find(EOM, head_end)
        if found < 0:
            break
        head_end = found + len(EOM)
    head = data[:head_end]
    whole = outcome(AmiParser(), [head])
    for position in range(len(head) + 1):
        assert outcome(AmiParser(), [head[:position], head[position:]]) == whole, position


@PROPERTY_SETTINGS
@given(data=st.data(), filtered=st.booleans())
def test_any_chunking_of_a_real_transcript_gives_what_one_feed_gives(
    data: st.DataObject, filtered: bool
) -> None:
    name = data.draw(st.sampled_from(sorted(TRANSCRIPT_BYTES)), label="transcript")
    raw = TRANSCRIPT_BYTES[name]
    positions = data.draw(st.lists(st.integers(0, len(raw)), max_size=40), label="cuts")

    def parser() -> AmiParser:
        if not filtered:
            return AmiParser()
        return AmiParser(
            wanted_events={"Hangup", "VarSet", "QueueCallerJoin", "CoreShowChannel"},
            wanted_variables=["MIXMONITOR_FILENAME"],
        )

    assert outcome(parser(), cut(raw, positions)) == outcome(parser(), [raw])


# ---- the fast skip -------------------------------------------------------------


@PROPERTY_SETTINGS
@given(
    name=st.sampled_from(sorted(TRANSCRIPT_BYTES)),
    events=st.sets(st.sampled_from(EVENT_NAMES_IN_TRANSCRIPTS)),
    variables=st.none() | st.sets(st.sampled_from(VARIABLE_NAMES_IN_TRANSCRIPTS)),
)
def test_fast_skip_keeps_exactly_what_filtering_after_a_full_parse_keeps(
    name: str, events: set[str], variables: set[str] | None
) -> None:
    raw = TRANSCRIPT_BYTES[name]
    everything = AmiParser().feed(raw)
    fast = AmiParser(wanted_events=events, wanted_variables=variables)
    kept = fast.feed(raw)
    expected = wanted_after_parsing(everything, events, variables)
    assert kept == expected
    assert fast.skipped == len(everything) - len(expected)
    assert fast.errors == 0


def test_fast_skip_with_the_tracker_wanted_lists_matches_filtering_after_parsing() -> None:
    tracker = tracker_module.CallTracker()
    events = set(tracker_module.CallTracker.WANTED_EVENTS)
    variables = set(tracker.wanted_variables)
    for name, raw in TRANSCRIPT_BYTES.items():
        fast = AmiParser(wanted_events=events, wanted_variables=variables)
        expected = wanted_after_parsing(AmiParser().feed(raw), events, variables)
        assert fast.feed(raw) == expected, name


# ---- damage ------------------------------------------------------------------


def messages_of(raw: bytes) -> list[bytes]:
    """The message blocks of a transcript, banner removed, each ending with its blank line."""
    if raw.startswith(b"Asterisk Call Manager/"):
        raw = raw[raw.index(b"\r\n") + 2 :]
    return [block + EOM for block in raw.split(EOM) if block]


@PROPERTY_SETTINGS
@given(
    data=st.data(),
    events=st.none() | st.sets(st.sampled_from(EVENT_NAMES_IN_TRANSCRIPTS)),
    variables=st.none() | st.sets(st.sampled_from(VARIABLE_NAMES_IN_TRANSCRIPTS)),
)
def test_missing_blank_lines_before_events_lose_no_message_and_each_is_counted(
    data: st.DataObject, events: set[str] | None, variables: set[str] | None
) -> None:
    name = data.draw(st.sampled_from(SMALL_TRANSCRIPTS), label="transcript")
    blocks = messages_of(TRANSCRIPT_BYTES[name])
    # Glue a message to the previous one only where it starts with "Event: ": an
    # event followed by a glued Response cannot be told from OriginateResponse.
    # Under a filter, only event-to-event glue keeps the comparison exact (a
    # Response glued before an event is tested on its own in test_ami_codec.py).
    gluable = [
        i
        for i in range(1, len(blocks))
        if blocks[i].startswith(b"Event: ")
        and (events is None or blocks[i - 1].startswith(b"Event: "))
    ]
    glued_at = data.draw(st.sets(st.sampled_from(gluable), max_size=20), label="glued")
    stream = b"".join(block[:-2] if i + 1 in glued_at else block for i, block in enumerate(blocks))
    everything = AmiParser().feed(b"".join(blocks))
    if events is None:
        parser = AmiParser()
        expected = everything
    else:
        parser = AmiParser(wanted_events=events, wanted_variables=variables)
        expected = wanted_after_parsing(everything, events, variables)
    assert parser.feed(stream) == expected
    assert parser.errors == len(glued_at)
    assert parser.messages == len(expected)


JUNK = st.binary(max_size=300) | st.sampled_from(
    [b"\x00", b"\xff\xfe\xfd", b"\r\n", b"\r", b"\n\n", b" ", b":", b"Channel: x", b"\x1b[2J"]
)


@PROPERTY_SETTINGS
@given(data=st.data(), junk=JUNK)
def test_junk_between_messages_never_raises_and_spares_the_messages_around_it(
    data: st.DataObject, junk: bytes
) -> None:
    name = data.draw(st.sampled_from(SMALL_TRANSCRIPTS), label="transcript")
    blocks = messages_of(TRANSCRIPT_BYTES[name])
    at = data.draw(st.integers(1, len(blocks) - 1), label="position")
    before, after = blocks[:at], blocks[at:]
    parser = AmiParser()
    messages = parser.feed(b"".join(before) + junk + EOM + b"".join(after))
    clean = AmiParser()
    expected_before = clean.feed(b"".join(before))
    expected_after = AmiParser().feed(b"".join(after))
    assert messages[: len(expected_before)] == expected_before
    assert messages[len(messages) - len(expected_after) :] == expected_after
    if junk.strip(b"\r\n") and b"Event" not in junk and b"Response" not in junk:
        assert parser.errors >= 1
        assert len(messages) == len(expected_before) + len(expected_after)


@PROPERTY_SETTINGS
@given(data=st.data())
def test_stream_cut_anywhere_then_reconnected_parses_the_new_stream_whole(
    data: st.DataObject,
) -> None:
    name = data.draw(st.sampled_from(SMALL_TRANSCRIPTS), label="transcript")
    raw = TRANSCRIPT_BYTES[name]
    stop = data.draw(st.integers(0, len(raw)), label="cut at")
    parser = AmiParser()
    parser.feed(raw[:stop])
    parser.feed_eof()
    errors_after_cut = parser.errors
    parser.reset()
    assert parser.feed(raw) == AmiParser().feed(raw)
    assert parser.errors == errors_after_cut
    assert parser.banner == "Asterisk Call Manager/11.0.0"


# ---- round trip ----------------------------------------------------------------

HEADER_NAMES = st.from_regex(r"\A[A-Za-z][A-Za-z0-9_-]{0,20}\Z").filter(
    lambda name: name not in ("Event", "Response")
)
# Any text an AMI value can carry: everything but CR and LF (Persian names included).
HEADER_VALUES = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n"), max_size=80
) | st.sampled_from(["علی رضایی", "سارا احمدی", "+982188776655", ""])


@PROPERTY_SETTINGS
@given(
    event=st.from_regex(r"\A[A-Za-z][A-Za-z0-9]{0,20}\Z"),
    headers=st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=12),
    split=st.integers(0, 10_000),
)
def test_encoded_headers_parse_back_with_repeats_joined(
    event: str, headers: list[tuple[str, str]], split: int
) -> None:
    encoded = encode_action([("Event", event), *headers])
    expected: Message = {"Event": event}
    for name, value in headers:
        expected[name] = expected[name] + "\n" + value if name in expected else value
    position = split % (len(encoded) + 1)
    parser = AmiParser()
    assert parser.feed(encoded[:position]) + parser.feed(encoded[position:]) == [expected]
    assert parser.errors == 0


# ---- tracking continues ----------------------------------------------------------

JUNK_WITHOUT_MESSAGES = st.binary(min_size=1, max_size=200).filter(
    lambda junk: junk.strip(b"\r\n") != b"" and b"Event" not in junk and b"Response" not in junk
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_calls_replayed_through_junk_and_odd_chunks_summarise_as_from_the_clean_stream(
    data: st.DataObject,
) -> None:
    from cti.replay import replay

    name = data.draw(st.sampled_from(SMALL_TRANSCRIPTS), label="transcript")
    raw = TRANSCRIPT_BYTES[name]
    banner = raw[: raw.index(b"\r\n") + 2]
    blocks = messages_of(raw)
    junk_at = data.draw(
        st.dictionaries(st.integers(1, len(blocks) - 1), JUNK_WITHOUT_MESSAGES, max_size=8),
        label="junk",
    )
    damaged = banner + b"".join(
        junk_at.get(i, b"") + EOM * (i in junk_at) + block for i, block in enumerate(blocks)
    )
    chunk_size = data.draw(st.integers(1, 70_000), label="chunk size")

    def summaries(stream: bytes, size: int) -> tuple[list[dict[str, object]], int]:
        tracker = tracker_module.CallTracker()
        parser = AmiParser(
            wanted_events=tracker_module.CallTracker.WANTED_EVENTS,
            wanted_variables=tracker.wanted_variables,
        )
        messages = [
            (message, None)
            for start in range(0, len(stream), size)
            for message in parser.feed(stream[start : start + size])
        ]
        return [call.summary() for call in replay(messages, tracker=tracker)], parser.errors

    clean, clean_errors = summaries(raw, 1 << 16)
    survived, errors = summaries(damaged, chunk_size)
    assert survived == clean
    assert clean_errors == 0
    assert errors >= len(junk_at)
