"""Caller id text from the PBX: bidi controls neutralised and length bounded where it enters."""

from __future__ import annotations

from pathlib import Path

from cti import caller_text
from cti.events import AgentRinging, CallStarted
from cti.replay import read_transcript, replay_events

TRACE = Path(__file__).parents[1] / "fixtures" / "ami" / "inbound_answered.jsonl"
RLO_NAME = "\u202eknab.moc\u202c Tehrani"


def test_bidi_controls_are_removed_and_persian_joiners_kept() -> None:
    assert caller_text.clean(RLO_NAME) == "knab.moc Tehrani"
    assert caller_text.clean("\u2067نسرین\u2069 \u200fتهرانی\u200e") == "نسرین تهرانی"
    assert caller_text.clean("می\u200cخواهم") == "می\u200cخواهم"  # ZWNJ is spelling
    assert caller_text.clean("a\x00b\x1bc\nd\x7f") == "abcd"


def test_a_name_is_cut_to_a_sane_length_without_reading_it_all() -> None:
    assert caller_text.clean("ن" * 200_000) == "ن" * caller_text.MAX_CALLER_TEXT
    assert len(caller_text.clean("x" * 10_000_000)) == caller_text.MAX_CALLER_TEXT


def test_the_tracker_hands_on_only_clean_caller_text() -> None:
    hostile = []
    for message, at in read_transcript(TRACE):
        if "CallerIDName" in message:
            message = {**message, "CallerIDName": RLO_NAME + "x" * 200_000}
        if "CallerIDNum" in message and message["CallerIDNum"].startswith("+98"):
            message = {**message, "CallerIDNum": "\u202e" + message["CallerIDNum"]}
        hostile.append((message, at))
    events = replay_events(hostile)
    seen = [e for e in events if isinstance(e, CallStarted | AgentRinging)]
    assert seen
    for event in seen:
        for text in (event.caller, event.caller_name):
            assert text is None or (
                len(text) <= caller_text.MAX_CALLER_TEXT and "\u202e" not in text
            ), event
    assert any(e.caller_name and e.caller_name.startswith("knab.moc Tehrani") for e in seen)
