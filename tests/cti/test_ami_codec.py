"""AmiParser and encode_action on real transcripts and on damaged input.

The expected messages of the real transcripts come from their ``.jsonl``
twins, recorded independently of this code; the damaged streams are written
by hand, with the messages that must survive spelled out.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from cti.ami_codec import (
    ActionEncodingError,
    AmiParser,
    Message,
    chan_variables,
    encode_action,
    header_values,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"
TRANSCRIPTS = sorted(FIXTURES.glob("*.ami"))
TRANSCRIPTS_WITH_TWIN = [path for path in TRANSCRIPTS if path.with_suffix(".jsonl").exists()]

HANGUP = (
    b"Event: Hangup\r\n"
    b"Privilege: call,all\r\n"
    b"Channel: PJSIP/1001-0000002a\r\n"
    b"Uniqueid: 1795392565.40\r\n"
    b"Linkedid: 1795392565.38\r\n"
    b"Cause: 16\r\n"
    b"Cause-txt: Normal Clearing\r\n"
    b"\r\n"
)
HANGUP_MESSAGE = {
    "Event": "Hangup",
    "Privilege": "call,all",
    "Channel": "PJSIP/1001-0000002a",
    "Uniqueid": "1795392565.40",
    "Linkedid": "1795392565.38",
    "Cause": "16",
    "Cause-txt": "Normal Clearing",
}
NEWEXTEN = (
    b"Event: Newexten\r\n"
    b"Privilege: dialplan,all\r\n"
    b"Channel: PJSIP/1001-0000002a\r\n"
    b"Application: NoOp\r\n"
    b"AppData: Support line\r\n"
    b"\r\n"
)
NEWEXTEN_MESSAGE = {
    "Event": "Newexten",
    "Privilege": "dialplan,all",
    "Channel": "PJSIP/1001-0000002a",
    "Application": "NoOp",
    "AppData": "Support line",
}
BANNER = b"Asterisk Call Manager/11.0.0\r\n"


def recorded_messages(twin: Path) -> tuple[str | None, list[Message]]:
    """The banner and messages a .jsonl twin recorded, repeats joined as Message documents."""
    banner = None
    messages: list[Message] = []
    for line in twin.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if "banner" in record:
            banner = record["banner"]
            continue
        message: Message = {}
        for name, value in record["fields"]:
            message[name] = message[name] + "\n" + value if name in message else value
        messages.append(message)
    return banner, messages


def parse_all(data: bytes, parser: AmiParser | None = None) -> list[Message]:
    parser = parser or AmiParser()
    return parser.feed(data)


def parse_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "cti.ami_codec" and record.levelno == logging.WARNING
    ]


# ---- real transcripts --------------------------------------------------------


@pytest.mark.parametrize("transcript", TRANSCRIPTS_WITH_TWIN, ids=lambda path: path.stem)
def test_transcript_parses_to_exactly_the_messages_its_jsonl_twin_recorded(
    transcript: Path,
) -> None:
    banner, expected = recorded_messages(transcript.with_suffix(".jsonl"))
    parser = AmiParser()
    messages = parser.feed(transcript.read_bytes())
    parser.feed_eof()
    assert messages == expected
    assert parser.banner == banner
    assert (parser.errors, parser.messages, parser.skipped) == (0, len(expected), 0)


def test_banner_line_is_kept_as_banner_and_not_taken_for_a_message() -> None:
    parser = AmiParser()
    messages = parser.feed((FIXTURES / "ami_auth_failure.ami").read_bytes())
    assert parser.banner == "Asterisk Call Manager/11.0.0"
    assert messages == [
        {"Response": "Error", "ActionID": "bad-1", "Message": "Authentication failed"}
    ]
    assert parser.errors == 0


def test_banner_arriving_one_byte_at_a_time_is_still_recognised() -> None:
    parser = AmiParser()
    messages: list[Message] = []
    for byte in BANNER + HANGUP:
        messages += parser.feed(bytes([byte]))
    assert parser.banner == "Asterisk Call Manager/11.0.0"
    assert messages == [HANGUP_MESSAGE]


def test_stream_without_banner_is_parsed_as_messages() -> None:
    # A replay, or a proxy that swallows the banner, starts straight with messages.
    parser = AmiParser()
    assert parser.feed(HANGUP + NEWEXTEN) == [HANGUP_MESSAGE, NEWEXTEN_MESSAGE]
    assert parser.banner is None
    assert parser.errors == 0


def test_banner_in_mid_stream_costs_one_counted_error_and_keeps_what_follows() -> None:
    # A proxy that reconnected to a restarted PBX passes the new banner on unannounced.
    login = b"Response: Success\r\nActionID: l2\r\nMessage: Authentication accepted\r\n\r\n"
    parser = AmiParser()
    messages = parser.feed(BANNER + HANGUP + BANNER + login + NEWEXTEN)
    assert messages == [
        HANGUP_MESSAGE,
        {"Response": "Success", "ActionID": "l2", "Message": "Authentication accepted"},
        NEWEXTEN_MESSAGE,
    ]
    assert parser.errors == 1


def test_originate_response_event_keeps_its_response_header_in_one_message() -> None:
    # OriginateResponse is an event that carries a "Response" header; it must not split.
    messages = parse_all((FIXTURES / "click_to_call.ami").read_bytes())
    originate = [m for m in messages if m.get("Event") == "OriginateResponse"]
    assert len(originate) == 1
    assert originate[0]["Response"] == "Success"
    assert originate[0]["Channel"] == "Local/1002@agent-handset-00000008;1"
    assert originate[0]["Uniqueid"] == "1795392505.16"


# ---- damaged streams ---------------------------------------------------------


def test_stream_cut_mid_message_is_counted_and_logged_and_a_new_connection_parses(
    caplog: pytest.LogCaptureFixture,
) -> None:
    parser = AmiParser()
    assert parser.feed(BANNER + HANGUP + NEWEXTEN[:40]) == [HANGUP_MESSAGE]
    parser.feed_eof()
    assert parser.errors == 1
    assert "stream ended inside a message (40 bytes)" in (parser.last_error or "")
    assert any("stream ended inside a message" in text for text in parse_errors(caplog))

    parser.reset()
    assert parser.feed(BANNER + NEWEXTEN) == [NEWEXTEN_MESSAGE]
    assert parser.banner == "Asterisk Call Manager/11.0.0"
    assert parser.errors == 1


def test_clean_end_of_stream_is_not_an_error() -> None:
    parser = AmiParser()
    parser.feed(BANNER + HANGUP)
    parser.feed_eof()
    assert parser.errors == 0


def test_message_truncated_mid_line_does_not_take_down_the_messages_after_it() -> None:
    # The end of a Hangup was lost and the next event's first bytes glued onto its last line.
    damaged = b"Event: Hangup\r\nPrivilege: call,all\r\nChann" + NEWEXTEN
    parser = AmiParser()
    messages = parser.feed(damaged + HANGUP + NEWEXTEN)
    assert messages[-2:] == [HANGUP_MESSAGE, NEWEXTEN_MESSAGE]
    assert messages[0]["Event"] == "Hangup"


def test_missing_blank_line_between_two_events_still_yields_both() -> None:
    glued = HANGUP[:-2] + NEWEXTEN + HANGUP
    assert parse_all(glued) == [HANGUP_MESSAGE, NEWEXTEN_MESSAGE, HANGUP_MESSAGE]


def test_missing_blank_line_between_response_and_event_yields_both() -> None:
    response = b"Response: Success\r\nActionID: q1\r\nPing: Pong\r\n"
    assert parse_all(response + HANGUP) == [
        {"Response": "Success", "ActionID": "q1", "Ping": "Pong"},
        HANGUP_MESSAGE,
    ]


def test_missing_blank_line_is_counted_and_logged_as_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    parser = AmiParser()
    messages = parser.feed(HANGUP[:-2] + NEWEXTEN)
    assert messages == [HANGUP_MESSAGE, NEWEXTEN_MESSAGE]
    assert (parser.errors, parser.messages) == (1, 2)
    assert "missing blank line after Event='Hangup'" in parse_errors(caplog)[0]


def test_missing_blank_line_after_an_unwanted_event_keeps_the_wanted_event_after_it() -> None:
    parser = AmiParser(wanted_events={"Hangup"})
    assert parser.feed(NEWEXTEN[:-2] + HANGUP) == [HANGUP_MESSAGE]
    assert (parser.skipped, parser.messages, parser.errors) == (1, 1, 1)


def test_missing_blank_line_after_a_wanted_event_still_filters_the_unwanted_one() -> None:
    parser = AmiParser(wanted_events={"Hangup"})
    assert parser.feed(HANGUP[:-2] + NEWEXTEN) == [HANGUP_MESSAGE]
    assert (parser.skipped, parser.messages, parser.errors) == (1, 1, 1)


def test_missing_blank_line_between_varsets_filters_each_by_variable_name() -> None:
    wanted = b"Event: VarSet\r\nChannel: X\r\nVariable: MIXMONITOR_FILENAME\r\nValue: a.wav\r\n"
    unwanted = b"Event: VarSet\r\nChannel: X\r\nVariable: BRIDGEPEER\r\nValue: Y\r\n"
    parser = AmiParser(wanted_events={"VarSet"}, wanted_variables=["MIXMONITOR_FILENAME"])
    assert parser.feed(unwanted + wanted + unwanted + b"\r\n") == [
        {"Event": "VarSet", "Channel": "X", "Variable": "MIXMONITOR_FILENAME", "Value": "a.wav"}
    ]
    assert parser.skipped == 2


@pytest.mark.parametrize(
    "prefix",
    [b"Response: Success\r\nActionID: q1\r\n", b"\x00\x01junk\r\n", b"\r\n"],
    ids=["glued-response", "junk-line", "stray-crlf"],
)
def test_event_filter_applies_to_events_in_blocks_not_starting_with_an_event(
    prefix: bytes,
) -> None:
    parser = AmiParser(wanted_events={"Hangup"})
    messages = parser.feed(prefix + NEWEXTEN + HANGUP)
    assert [m.get("Event") for m in messages if "Event" in m] == ["Hangup"]
    assert parser.skipped == 1


def test_message_over_the_size_limit_is_dropped_even_when_glued_under_a_filter() -> None:
    oversized = b"Event: Hangup\r\nData: " + b"x" * 5000 + b"\r\n"
    parser = AmiParser(wanted_events={"Hangup"}, max_message_bytes=1000)
    assert parser.feed(oversized + HANGUP + HANGUP) == [HANGUP_MESSAGE]
    assert parser.errors == 1


def test_wanted_variables_alone_drop_varsets_of_other_variables() -> None:
    varset = b"Event: VarSet\r\nChannel: X\r\nVariable: BRIDGEPEER\r\nValue: Y\r\n\r\n"
    parser = AmiParser(wanted_variables=["MIXMONITOR_FILENAME"])
    assert parser.feed(varset + HANGUP) == [HANGUP_MESSAGE]
    assert parser.skipped == 1


def test_binary_junk_between_messages_is_counted_logged_and_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    junk = b"\x00\xff\xfe\x80\x1b[0m\x07garbage\xc3\x28\r\n\x01\x02"
    parser = AmiParser()
    messages = parser.feed(BANNER + HANGUP + junk + b"\r\n\r\n" + NEWEXTEN)
    assert messages == [HANGUP_MESSAGE, NEWEXTEN_MESSAGE]
    assert parser.errors >= 1
    assert parser.messages == 2
    assert parse_errors(caplog)
    assert all(text.startswith("ami parse error=") for text in parse_errors(caplog))


def test_junk_line_inside_a_message_is_counted_and_the_rest_of_the_message_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    damaged = b"Event: Hangup\r\n\x00\x01\xff\xfe\r\nChannel: PJSIP/1001-0000002a\r\n\r\n"
    parser = AmiParser()
    assert parser.feed(damaged + NEWEXTEN) == [
        {"Event": "Hangup", "Channel": "PJSIP/1001-0000002a"},
        NEWEXTEN_MESSAGE,
    ]
    assert parser.errors == 1
    assert "1 malformed header line(s) skipped in Event='Hangup'" in parse_errors(caplog)[0]


def test_message_with_no_event_or_response_header_is_counted_and_dropped() -> None:
    parser = AmiParser()
    messages = parser.feed(b"Channel: PJSIP/1001-0000002a\r\nCause: 16\r\n\r\n" + HANGUP)
    assert messages == [HANGUP_MESSAGE]
    assert parser.errors == 1
    assert parser.last_error is not None
    assert parser.last_error.startswith("message without Event or Response header dropped")


def test_invalid_utf8_in_a_value_is_replaced_not_fatal() -> None:
    damaged = b"Event: Newchannel\r\nCallerIDName: Ali \xff\xfe Rezaei\r\n\r\n"
    parser = AmiParser()
    assert parser.feed(damaged) == [
        {"Event": "Newchannel", "CallerIDName": "Ali \ufffd\ufffd Rezaei"}
    ]
    assert parser.errors == 0


def test_header_of_100_kb_arriving_in_tcp_segments_survives_whole() -> None:
    value = ("1234567890" * 10_000).encode()
    big = b"Event: UserEvent\r\nUserEvent: Bulk\r\nData: " + value + b"\r\n\r\n"
    stream = BANNER + big + HANGUP
    parser = AmiParser()
    messages: list[Message] = []
    for start in range(0, len(stream), 1460):
        messages += parser.feed(stream[start : start + 1460])
    assert len(messages) == 2
    assert messages[0]["Data"] == "1234567890" * 10_000
    assert messages[1] == HANGUP_MESSAGE
    assert parser.errors == 0


def test_message_over_the_size_limit_is_dropped_counted_and_the_next_one_parsed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    big = b"Event: UserEvent\r\nData: " + b"x" * 5000 + b"\r\n\r\n"
    parser = AmiParser(max_message_bytes=1000)
    assert parser.feed(big + HANGUP) == [HANGUP_MESSAGE]
    assert parser.errors == 1
    assert "message of 5024 bytes is over 1000; dropped" in parse_errors(caplog)[0]


def test_message_over_the_size_limit_in_small_chunks_does_not_grow_the_buffer() -> None:
    big = b"Event: UserEvent\r\nData: " + b"x" * 5000 + b"\r\n\r\n"
    stream = big + HANGUP
    parser = AmiParser(max_message_bytes=1000)
    messages: list[Message] = []
    for start in range(0, len(stream), 100):
        messages += parser.feed(stream[start : start + 100])
        assert len(parser._buffer) <= 1100
    assert messages == [HANGUP_MESSAGE]
    assert parser.errors >= 1


def test_repeated_chanvariable_headers_keep_every_value_in_order() -> None:
    event = (
        b"Event: Newchannel\r\n"
        b"Channel: PJSIP/1001-0000002a\r\n"
        b"ChanVariable: CASE_OWNER=1002\r\n"
        b"ChanVariable: CDR(recordingfile)=in-2188000000-09121234567.wav\r\n"
        b"ChanVariable: TRACKING_CODE=\r\n"
        b"Uniqueid: 1795392565.40\r\n"
        b"\r\n"
    )
    (message,) = parse_all(event)
    assert header_values(message, "ChanVariable") == [
        "CASE_OWNER=1002",
        "CDR(recordingfile)=in-2188000000-09121234567.wav",
        "TRACKING_CODE=",
    ]
    assert chan_variables(message) == {
        "CASE_OWNER": "1002",
        "CDR(recordingfile)": "in-2188000000-09121234567.wav",
        "TRACKING_CODE": "",
    }
    assert message["Uniqueid"] == "1795392565.40"
    assert header_values(message, "Missing") == []


def test_header_with_nothing_after_the_colon_reads_as_empty() -> None:
    (message,) = parse_all(b"Event: QueueMemberPause\r\nPausedReason:\r\nPaused: 0\r\n\r\n")
    assert message == {"Event": "QueueMemberPause", "PausedReason": "", "Paused": "0"}


def test_unknown_events_pass_through_unfiltered_and_are_skipped_not_errors_when_filtered() -> None:
    unknown = b"Event: FutureThing\r\nPrivilege: call,all\r\nFoo: bar\r\n\r\n"
    assert parse_all(unknown + HANGUP) == [
        {"Event": "FutureThing", "Privilege": "call,all", "Foo": "bar"},
        HANGUP_MESSAGE,
    ]
    parser = AmiParser(wanted_events={"Hangup"})
    assert parser.feed(unknown + HANGUP) == [HANGUP_MESSAGE]
    assert (parser.skipped, parser.errors) == (1, 0)


def test_responses_are_never_skipped_by_the_event_filter() -> None:
    response = b"Response: Success\r\nActionID: q1\r\nEventList: start\r\n\r\n"
    parser = AmiParser(wanted_events=set())
    assert parser.feed(response + HANGUP) == [
        {"Response": "Success", "ActionID": "q1", "EventList": "start"}
    ]
    assert parser.skipped == 1


def test_wanted_variables_keep_only_varsets_of_those_names() -> None:
    data = (FIXTURES / "inbound_answered.ami").read_bytes()
    parser = AmiParser(wanted_events={"VarSet"}, wanted_variables=["MIXMONITOR_FILENAME"])
    varsets = [m for m in parser.feed(data) if "Event" in m]
    # From the transcript: one MixMonitor, on the caller's leg 1795392474.1.
    assert [(m["Variable"], m["Uniqueid"]) for m in varsets] == [
        ("MIXMONITOR_FILENAME", "1795392474.1")
    ]
    assert varsets[0]["Value"] == (
        "/var/spool/asterisk/monitor/2026/11/23/"
        "in-2188000000-982188776655-20261123-000754-1795392474.1.wav"
    )


def test_persian_caller_name_survives_a_split_inside_every_utf8_character() -> None:
    name = "علی رضایی"
    event = (
        b"Event: Newchannel\r\nCallerIDNum: 09121234567\r\nCallerIDName: "
        + name.encode("utf-8")
        + b"\r\n\r\n"
    )
    for cut in range(len(event) + 1):
        parser = AmiParser()
        messages = parser.feed(event[:cut]) + parser.feed(event[cut:])
        assert messages == [
            {"Event": "Newchannel", "CallerIDNum": "09121234567", "CallerIDName": name}
        ], f"split at byte {cut}"
        assert parser.errors == 0


# ---- encode_action -----------------------------------------------------------


def test_encode_action_produces_exact_bytes_with_utf8_values() -> None:
    encoded = encode_action(
        [
            ("Action", "Originate"),
            ("ActionID", "c2c-17"),
            ("Channel", "Local/1002@agent-handset/n"),
            ("Exten", "02177665544"),
            ("CallerID", "علی <1002>"),
            ("Variable", "CASE_ID=4001"),
            ("Variable", "SOURCE=crm"),
            ("Async", ""),
        ]
    )
    assert encoded == (
        b"Action: Originate\r\n"
        b"ActionID: c2c-17\r\n"
        b"Channel: Local/1002@agent-handset/n\r\n"
        b"Exten: 02177665544\r\n"
        b"CallerID: \xd8\xb9\xd9\x84\xdb\x8c <1002>\r\n"
        b"Variable: CASE_ID=4001\r\n"
        b"Variable: SOURCE=crm\r\n"
        b"Async: \r\n"
        b"\r\n"
    )


def test_encoded_action_parses_back_to_the_same_headers() -> None:
    encoded = encode_action([("Response", "Success"), ("ActionID", "x-1"), ("Ping", "Pong")])
    assert parse_all(encoded) == [{"Response": "Success", "ActionID": "x-1", "Ping": "Pong"}]


@pytest.mark.parametrize(
    "value",
    [
        "1001\r\nAction: Originate",
        "1001\nAction: Command",
        "1001\rAction: Command",
        "\r\n",
        "trailing\n",
    ],
)
def test_encode_action_refuses_cr_or_lf_in_a_value(value: str) -> None:
    with pytest.raises(ActionEncodingError, match="header Channel contains a CR or LF"):
        encode_action([("Action", "Redirect"), ("Channel", value)])


@pytest.mark.parametrize(
    "name",
    ["", "Action:", "Action ", " Action", "Act ion", "Action\r\n", "A\nB", "A.B", "A/B", "-"],
)
def test_encode_action_refuses_header_names_that_are_not_plain_tokens(name: str) -> None:
    with pytest.raises(ActionEncodingError, match="is not a plain token"):
        encode_action([(name, "x")])


def test_encode_action_accepts_dashes_and_underscores_in_header_names() -> None:
    assert encode_action([("X-Case_Id", "7")]) == b"X-Case_Id: 7\r\n\r\n"


@pytest.mark.parametrize("name", ["Acción", "\u0663", "X\u00b2", "نام"])
def test_encode_action_refuses_non_ascii_header_names(name: str) -> None:
    with pytest.raises(ActionEncodingError):
        encode_action([(name, "x")])
