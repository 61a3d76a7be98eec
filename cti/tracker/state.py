"""What the tracker remembers: channels, calls, queue members; and how it reads AMI values."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from cti import caller_text
from cti.events import Direction, MemberState, Transfer

Role = Literal["origin", "agent", "outside", "other"]
RingStop = Literal["no_answer", "answered_elsewhere", "caller_left", "declined"]

UNKNOWN_CALLER = frozenset(
    {"", "<unknown>", "unknown", "anonymous", "restricted", "private", "unavailable", "s"}
)
# "-0000001a" (SIP/PJSIP/Local), "-5678" (IAX2), then ";1"/";2" on Local halves.
CHANNEL_SUFFIX = re.compile(r"-[0-9a-fA-F]{1,8}(;[12])?$")
NUMBER = re.compile(r"^\+?[0-9*#]{2,}$")

# Device state numbers in QueueMember*/QueueStatus "Status" (ast_device_state).
MEMBER_STATES: dict[str, MemberState] = {
    "0": "unknown",
    "1": "idle",
    "2": "in_use",
    "3": "busy",
    "4": "unavailable",
    "5": "unavailable",
    "6": "ringing",
    "7": "ringing",
    "8": "in_use",
}

RECORDING_PRIORITY = {"MIXMONITOR_FILENAME": 0, "CDR(recordingfile)": 1, "CALLFILENAME": 2}

ACCEPTED_CODE = "CTIHUB_CASE"
"""Set by the IVR once it accepted a tracking code: the caller's input that counted."""


def caller_id(value: str | None) -> str | None:
    if value is None or value.strip().lower() in UNKNOWN_CALLER:
        return None
    return caller_text.clean(value) or None


def to_int(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def seconds(value: float | None) -> int | None:
    return None if value is None else max(0, int(value + 0.5))


def hms(value: str) -> float | None:
    """``HH:MM:SS`` (CoreShowChannel ``Duration``) in seconds."""
    total = 0
    for part in value.split(":"):
        try:
            total = total * 60 + int(part)
        except ValueError:
            return None
    return float(total)


def dialstring_number(dialstring: str) -> str:
    """The number in a dial string: ``02177665544@pstn/n``, ``provider/0217…``, ``0217…``."""
    core = dialstring.partition("@")[0]
    for part in reversed(core.split("/")):
        if NUMBER.match(part):
            return part
    return ""


def creation_order(uniqueid: str) -> tuple[int, int]:
    """Uniqueids are ``<epoch>.<sequence>``: sorting by this puts channels in creation order."""
    epoch, _, sequence = uniqueid.partition(".")
    return (to_int(epoch) or 0, to_int(sequence) or 0)


@dataclass(slots=True)
class Channel:
    name: str
    uniqueid: str
    call_id: str
    created_at: float | None
    caller: str | None = None
    caller_name: str | None = None
    exten: str | None = None
    state: int = 0
    role: Role = "other"
    agent: str | None = None
    twin: str | None = None
    confirmed: bool = True
    listed: bool = False
    """The current resync's channel list named it."""
    bridge: str | None = None
    """The bridge that list placed it in (CoreShowChannel ``BridgeId``)."""
    listed_since: float | None = None
    """When it began, by that list's ``Duration``."""
    chanvars: str | None = None
    """The last ``ChanVariable`` headers read for it, so repeats cost one comparison."""
    dialing: list[str] = field(default_factory=list)
    """Destinations this channel is dialling (Asterisk 11's DialEnd does not name them)."""


@dataclass(slots=True)
class Call:
    call_id: str
    started_at: float | None
    origin: str
    origin_ext: str | None = None
    caller: str | None = None
    caller_name: str | None = None
    dialed: str | None = None
    direction: Direction = "inbound"
    announced: bool = False
    channels: set[str] = field(default_factory=set)
    queue: str | None = None
    queued_at: float | None = None
    in_queue: bool = False
    abandoned: bool = False
    hold_time: int | None = None
    agents_rung: list[str] = field(default_factory=list)
    ringing: dict[str, float | None] = field(default_factory=dict)
    agent: str | None = None
    answered_at: float | None = None
    answered: bool = False
    wait_seconds: int | None = None
    talk_figure: int = 0
    talk_legs: set[str] = field(default_factory=set)
    dial_answers: list[tuple[str, str | None]] = field(default_factory=list)
    queue_talk_legs: set[str] = field(default_factory=set)
    outside_statuses: list[str] = field(default_factory=list)
    agent_statuses: list[str] = field(default_factory=list)
    recording: str | None = None
    recording_rank: int = 99
    transfers: list[Transfer] = field(default_factory=list)
    dtmf: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    held: bool = False
    hangup_cause: int | None = None
    ended_at: float | None = None
    billable: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class Member:
    state: MemberState
    paused: bool
    reason: str | None
    in_call: bool
