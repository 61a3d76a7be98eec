"""ctihub/examples/manager.conf.example: its filters, applied as Asterisk applies them."""

from __future__ import annotations

import re
from pathlib import Path

from cti.tracker import CallTracker

ROOT = Path(__file__).parent.parent.parent
EXAMPLE = ROOT / "ctihub" / "examples" / "manager.conf.example"
FIXTURES = ROOT / "tests" / "fixtures" / "ami"


def _user_options() -> list[tuple[str, str]]:
    options = []
    in_user = False
    for raw in EXAMPLE.read_text().splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            in_user = line == "[ctihub]"
            continue
        if in_user:
            name, _, value = line.partition("=")
            options.append((name.strip(), value.strip()))
    return options


def _passes(event: str, includes: list[re.Pattern[str]], excludes: list[re.Pattern[str]]) -> bool:
    """Legacy eventfilter semantics (manager.c match_filter): includes first, then excludes."""
    if includes and not any(p.search(event) for p in includes):
        return False
    return not any(p.search(event) for p in excludes)


def _filters() -> tuple[list[re.Pattern[str]], list[re.Pattern[str]]]:
    includes, excludes = [], []
    for name, value in _user_options():
        if name == "eventfilter":
            if value.startswith("!"):
                excludes.append(re.compile(value[1:]))
            else:
                includes.append(re.compile(value))
    return includes, excludes


def _fixture_events() -> list[str]:
    events = []
    for path in sorted(FIXTURES.glob("*.ami")):
        for block in path.read_bytes().decode().split("\r\n\r\n"):
            if block.startswith("Event: "):
                events.append(block + "\r\n")
            elif "\r\nEvent: " in block:  # the first block carries the banner line
                events.append(block[block.index("Event: ") :] + "\r\n")
    return events


def _name(event: str) -> str:
    return event[7 : event.index("\r\n")]


def test_filters_keep_every_event_the_tracker_uses_and_drop_the_noise() -> None:
    includes, excludes = _filters()
    assert includes and excludes
    events = _fixture_events()
    assert len(events) > 1000
    kept = {_name(e) for e in events if _passes(e, includes, excludes)}
    dropped = {_name(e) for e in events if not _passes(e, includes, excludes)}
    used_by_tracker = CallTracker.WANTED_EVENTS - {"VarSet"}
    assert not (dropped & used_by_tracker)
    assert {"Newchannel", "Hangup", "DialBegin", "QueueCallerJoin", "AgentConnect"} <= kept
    assert {"Newexten", "DeviceStateChange", "NewConnectedLine"} <= dropped
    assert "Newexten" not in kept
    assert "FullyBooted" in kept and "OriginateResponse" in kept


def test_varset_passes_only_for_the_variables_the_hub_reads() -> None:
    includes, excludes = _filters()
    varsets = [e for e in _fixture_events() if _name(e) == "VarSet"]
    assert varsets
    for event in varsets:
        variable = re.search(r"\r\nVariable: ([^\r]*)\r\n", event)
        assert variable is not None
        wanted = variable.group(1) in ("MIXMONITOR_FILENAME", "CALLFILENAME") or variable.group(
            1
        ).startswith("CTIHUB_")
        assert _passes(event, includes, excludes) is wanted, variable.group(1)
    assert any(
        "Variable: MIXMONITOR_FILENAME" in e and _passes(e, includes, excludes) for e in varsets
    )


def test_user_gets_no_dangerous_write_class_and_reads_system_for_fully_booted() -> None:
    options = dict(_user_options())
    write = set(options["write"].split(","))
    read = set(options["read"].split(","))
    assert not write & {"system", "command", "config", "all"}
    assert "reporting" in write  # CoreShowChannels for the resync
    assert "system" in read  # FullyBooted at login
    assert options["deny"] == "0.0.0.0/0.0.0.0"
    assert "permit" in options
