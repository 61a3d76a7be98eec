"""Asterisk 1.8/11 event names mapped onto the Asterisk 12+ vocabulary.

The tracker speaks only the 12+ dialect (``QueueCallerJoin``, ``DialBegin``…).
Issabel boxes on Asterisk 11 send the older names; this module rewrites each
such message into its modern shape so one state machine serves both. What 11
cannot give (``Linkedid`` on every event) the tracker derives from dial and
Local-channel links instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from cti.ami_codec import Message


def _rename(message: Message, event: str, renames: dict[str, str]) -> Message:
    out = {renames.get(k, k): v for k, v in message.items()}
    out["Event"] = event
    return out


def _join(m: Message) -> Message:
    return _rename(m, "QueueCallerJoin", {"CallerID": "CallerIDNum"})


def _leave(m: Message) -> Message:
    return _rename(m, "QueueCallerLeave", {})


def _dial(m: Message) -> Message:
    if m.get("SubEvent") == "End":
        return _rename(m, "DialEnd", {"UniqueID": "Uniqueid"})
    return _rename(
        m,
        "DialBegin",
        {
            "UniqueID": "Uniqueid",
            "Destination": "DestChannel",
            "DestUniqueID": "DestUniqueid",
            "Dialstring": "DialString",
        },
    )


def _agent_called(m: Message) -> Message:
    return _rename(
        m,
        "AgentCalled",
        {
            "AgentCalled": "Interface",
            "AgentName": "MemberName",
            "DestinationChannel": "DestChannel",
            "ChannelCalling": "Channel",
        },
    )


def _agent_member(event: str) -> Callable[[Message], Message]:
    # In 11 the member's channel is "Channel" and the caller is only "Uniqueid".
    renames = {
        "Channel": "DestChannel",
        "Member": "Interface",
        "Holdtime": "HoldTime",
        "Ringtime": "RingTime",
        "Talktime": "TalkTime",
        "BridgedChannel": "Channel",
    }

    def convert(m: Message) -> Message:
        return _rename(m, event, renames)

    return convert


def _member_status(event: str) -> Callable[[Message], Message]:
    def convert(m: Message) -> Message:
        return _rename(m, event, {"Location": "Interface"})

    return convert


def _dtmf(m: Message) -> Message:
    event = "DTMFEnd" if m.get("End") == "Yes" else "DTMFBegin"
    return _rename(m, event, {})


def _transfer(m: Message) -> Message:
    if m.get("TransferType") == "Attended":
        return _rename(
            m,
            "AttendedTransfer",
            {"Channel": "OrigTransfererChannel", "TargetChannel": "TransferTargetChannel"},
        )
    out = _rename(
        m,
        "BlindTransfer",
        {
            "Channel": "TransfererChannel",
            "TargetChannel": "TransfereeChannel",
            "TransferExten": "Extension",
            "TransferContext": "Context",
        },
    )
    out.setdefault("Result", "Success")
    return out


def _hold(m: Message) -> Message:
    return _rename(m, "Unhold" if m.get("Status") == "Off" else "Hold", {})


LEGACY: dict[str, Callable[[Message], Message]] = {
    "Join": _join,
    "Leave": _leave,
    "Dial": _dial,
    "AgentCalled": _agent_called,
    "AgentConnect": _agent_member("AgentConnect"),
    "AgentComplete": _agent_member("AgentComplete"),
    "AgentRingNoAnswer": _agent_member("AgentRingNoAnswer"),
    "QueueMemberPaused": _member_status("QueueMemberPause"),
    "QueueMemberStatus": _member_status("QueueMemberStatus"),
    "QueueMemberAdded": _member_status("QueueMemberAdded"),
    "QueueMemberRemoved": _member_status("QueueMemberRemoved"),
    "DTMF": _dtmf,
    "Transfer": _transfer,
    "Hold": _hold,
}
"""Event name as Asterisk 11 sends it -> converter to the 12+ shape."""


def is_legacy(message: Message) -> bool:
    """True for a pre-12 message that needs converting.

    Names shared by both dialects (``AgentCalled``…) are told apart by a
    header only the old form has.
    """
    name = message.get("Event", "")
    if name in ("Join", "Leave", "Dial", "QueueMemberPaused", "DTMF", "Transfer"):
        return True
    if name in ("AgentCalled",):
        return "AgentCalled" in message or "ChannelCalling" in message
    if name in ("AgentConnect", "AgentComplete", "AgentRingNoAnswer"):
        return "Member" in message and "Interface" not in message
    if name in ("QueueMemberStatus", "QueueMemberAdded", "QueueMemberRemoved"):
        return "Location" in message and "Interface" not in message
    if name == "Hold":
        return "Status" in message
    return False


def modernise(message: Message) -> Message:
    """The 12+ form of any message (unchanged when it already is)."""
    if is_legacy(message):
        return LEGACY[message["Event"]](message)
    return message


LEGACY_NAMES: dict[str, frozenset[str]] = {
    "Join": frozenset({"QueueCallerJoin"}),
    "Leave": frozenset({"QueueCallerLeave"}),
    "Dial": frozenset({"DialBegin", "DialEnd"}),
    "QueueMemberPaused": frozenset({"QueueMemberPause"}),
    "DTMF": frozenset({"DTMFBegin", "DTMFEnd"}),
    "Transfer": frozenset({"BlindTransfer", "AttendedTransfer"}),
}
"""Asterisk 11 names that exist only there -> the 12+ names they are rewritten to."""


def names_to_receive(modern: Iterable[str]) -> frozenset[str]:
    """Event names, in either dialect, that become one of the ``modern`` names."""
    wanted = frozenset(modern)
    legacy = {old for old, new in LEGACY_NAMES.items() if new & wanted}
    return wanted | legacy


READ_CLASS_LOSSES: dict[str, str] = {
    "call": "no channels, dials, answers or hangups: no call is followed at all",
    "agent": "no queue callers or members: no queue, wait, ring or agent state",
    "dialplan": (
        "no VarSet: no recording file name and no IVR data (contract, tracking code, "
        "case owner) unless channelvars exports them"
    ),
    "cdr": "no Cdr events: no billable seconds for calls answered outside a queue",
}
"""What the hub does not see when its AMI user lacks each ``read`` class."""

CHANNELVARS = (
    "MIXMONITOR_FILENAME,CALLFILENAME,CTIHUB_CONTRACT,CTIHUB_CASE,CTIHUB_CASE_OWNER,"
    "CTIHUB_CUSTOMER,CTIHUB_OWNER,CTIHUB_PRIORITY"
)
"""The ``[general] channelvars`` line that gives a user without ``dialplan`` what it needs."""


def read_classes_missing(seen: Iterable[str], chanvars_seen: bool) -> list[str]:
    """Read classes no event of which arrived during a whole call (from ``Privilege``).

    ``dialplan`` does not count as missing when ``ChanVariable`` headers carry the
    variables instead (a least-privilege user with ``channelvars``).
    """
    have = set(seen)
    missing = [c for c in READ_CLASS_LOSSES if c not in have]
    if chanvars_seen and "dialplan" in missing:
        missing.remove("dialplan")
    return missing


def read_class_advice(missing: Iterable[str], username: str) -> str:
    """The warning to give: what is lost and the manager.conf lines that fix it."""
    missing = list(missing)
    losses = "; ".join(f"{c}: {READ_CLASS_LOSSES[c]}" for c in missing)
    lines = f"in [{username}] add {','.join(missing)} to the read= line"
    if "dialplan" in missing:
        lines += f" (or, in [general], channelvars = {CHANNELVARS})"
    return (
        f"the AMI user {username!r} seems to lack read classes {', '.join(missing)} "
        f"(no such event during a whole call): {losses}. In manager.conf: {lines}, "
        "then 'manager reload'"
    )
