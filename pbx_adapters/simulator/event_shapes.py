"""AMI event layouts: header names and order per event type, as Asterisk 22 sends them.

Each function returns one message as ordered ``(name, value)`` pairs. The
layouts were taken from the real transcripts in ``tests/fixtures/ami``; the
model only supplies values.
"""

from __future__ import annotations

from pbx_adapters.simulator.channel import Channel, Fields

CALL = "call,all"
DIALPLAN = "dialplan,all"
AGENT = "agent,all"
DTMF = "dtmf,all"
CDR = "cdr,all"
SYSTEM = "system,all"

CAUSE_TEXT = {0: "Unknown", 16: "Normal Clearing", 17: "User busy", 19: "No user responding"}


def _head(name: str, privilege: str) -> Fields:
    return [("Event", name), ("Privilege", privilege)]


def channel_event(name: str, channel: Channel, privilege: str = CALL) -> Fields:
    """Events that carry only the channel block: Newchannel, Newstate, MixMonitorStart, Unhold."""
    return _head(name, privilege) + channel.snapshot()


def fully_booted(uptime: int) -> Fields:
    return [
        *_head("FullyBooted", SYSTEM),
        ("Uptime", str(uptime)),
        ("LastReload", str(uptime)),
        ("Status", "Fully Booted"),
    ]


def new_callerid(channel: Channel) -> Fields:
    return [
        *channel_event("NewCallerid", channel),
        ("CID-CallingPres", "0 (Presentation Allowed, Not Screened)"),
    ]


def newexten(channel: Channel, application: str, data: str) -> Fields:
    return [
        *channel_event("Newexten", channel, DIALPLAN),
        ("Extension", channel.exten),
        ("Application", application),
        ("AppData", data),
    ]


def varset(channel: Channel, variable: str, value: str) -> Fields:
    return [*channel_event("VarSet", channel, DIALPLAN), ("Variable", variable), ("Value", value)]


def hold(channel: Channel, music_class: str = "default") -> Fields:
    return [*channel_event("Hold", channel), ("MusicClass", music_class)]


def device_state_change(device: str, state: str) -> Fields:
    return [*_head("DeviceStateChange", CALL), ("Device", device), ("State", state)]


def local_bridge(one: Channel, two: Channel) -> Fields:
    return (
        _head("LocalBridge", CALL)
        + one.snapshot("LocalOne")
        + two.snapshot("LocalTwo")
        + [("Context", two.context), ("Exten", two.exten), ("LocalOptimization", "No")]
    )


def dial_begin(caller: Channel | None, dest: Channel, dial_string: str) -> Fields:
    """``caller`` is None for the first leg of an originated call (no calling channel)."""
    head = _head("DialBegin", CALL) + (caller.snapshot() if caller else [])
    return head + dest.snapshot("Dest") + [("DialString", dial_string)]


def dial_state(caller: Channel, dest: Channel, status: str) -> Fields:
    return (
        _head("DialState", CALL)
        + caller.snapshot()
        + dest.snapshot("Dest")
        + [("DialStatus", status)]
    )


def dial_end(caller: Channel | None, dest: Channel, status: str) -> Fields:
    head = _head("DialEnd", CALL) + (caller.snapshot() if caller else [])
    return head + dest.snapshot("Dest") + [("DialStatus", status)]


def originate_response(
    action_id: str, success: bool, channel: Channel, context: str, exten: str, reason: int
) -> Fields:
    fields = _head("OriginateResponse", CALL)
    if action_id:
        fields.append(("ActionID", action_id))
    return [
        *fields,
        ("Response", "Success" if success else "Failure"),
        ("Channel", channel.name),
        ("Context", context),
        ("Exten", exten),
        ("Reason", str(reason)),
        ("Uniqueid", channel.uniqueid),
        ("CallerIDNum", channel.caller_num),
        ("CallerIDName", channel.caller_name),
    ]


def queue_caller(name: str, channel: Channel, queue: str, extra: Fields) -> Fields:
    """QueueCallerJoin / QueueCallerLeave / QueueCallerAbandon."""
    return _head(name, AGENT) + channel.snapshot() + [("Queue", queue), *extra]


def agent_event(
    name: str,
    caller: Channel,
    dest: Channel | None,
    queue: str,
    interface: str,
    member_name: str,
    extra: Fields,
) -> Fields:
    """AgentCalled / AgentConnect / AgentComplete / AgentRingNoAnswer."""
    fields = _head(name, AGENT) + caller.snapshot()
    if dest is not None:
        fields += dest.snapshot("Dest")
    return [
        *fields,
        ("Queue", queue),
        ("Interface", interface),
        ("MemberName", member_name),
        *extra,
    ]


def bridge_block(bridge_id: str, num_channels: int) -> Fields:
    return [
        ("BridgeUniqueid", bridge_id),
        ("BridgeType", "basic"),
        ("BridgeTechnology", "simple_bridge"),
        ("BridgeCreator", "<unknown>"),
        ("BridgeName", "<unknown>"),
        ("BridgeNumChannels", str(num_channels)),
        ("BridgeVideoSourceMode", "none"),
    ]


def bridge_event(name: str, bridge_id: str, num_channels: int) -> Fields:
    """BridgeCreate / BridgeDestroy."""
    return _head(name, CALL) + bridge_block(bridge_id, num_channels)


def bridge_channel(name: str, bridge_id: str, num_channels: int, channel: Channel) -> Fields:
    """BridgeEnter / BridgeLeave."""
    return _head(name, CALL) + bridge_block(bridge_id, num_channels) + channel.snapshot()


def blind_transfer(
    transferer: Channel, transferee: Channel, bridge_id: str, context: str, exten: str
) -> Fields:
    return [
        *_head("BlindTransfer", CALL),
        ("Result", "Success"),
        *transferer.snapshot("Transferer"),
        *transferee.snapshot("Transferee"),
        *bridge_block(bridge_id, 2),
        ("IsExternal", "Yes"),
        ("Context", context),
        ("Extension", exten),
    ]


def attended_transfer(
    transferer: Channel,
    orig_bridge: str,
    target: Channel,
    second_bridge: str,
    transferee: Channel,
) -> Fields:
    """AttendedTransfer as Asterisk 12+ documents it, completed by the transferer hanging up:
    both bridges named, the transferee moved to the target (``DestType: Bridge``)."""
    return [
        *_head("AttendedTransfer", CALL),
        ("Result", "Success"),
        *transferer.snapshot("OrigTransferer"),
        *[("Orig" + k, v) for k, v in bridge_block(orig_bridge, 1)],
        *transferer.snapshot("SecondTransferer"),
        *[("Second" + k, v) for k, v in bridge_block(second_bridge, 2)],
        ("DestType", "Bridge"),
        ("DestBridgeUniqueid", orig_bridge),
        *transferee.snapshot("Transferee"),
        *target.snapshot("TransferTarget"),
        ("IsExternal", "Yes"),
    ]


def music_on_hold(name: str, channel: Channel, music_class: str = "default") -> Fields:
    """MusicOnHoldStart (with its class) / MusicOnHoldStop."""
    fields = channel_event(name, channel)
    return [*fields, ("Class", music_class)] if name == "MusicOnHoldStart" else fields


def hangup_request(name: str, channel: Channel, cause: int) -> Fields:
    """HangupRequest / SoftHangupRequest."""
    return [*channel_event(name, channel), ("Cause", str(cause))]


def hangup(channel: Channel, cause: int) -> Fields:
    return [
        *channel_event("Hangup", channel),
        ("Cause", str(cause)),
        ("Cause-txt", CAUSE_TEXT.get(cause, "Unknown")),
    ]


def hangup_handler(name: str, channel: Channel, handler: str) -> Fields:
    return [*channel_event(name, channel, DIALPLAN), ("Handler", handler)]


def dtmf(name: str, channel: Channel, digit: str) -> Fields:
    fields = [*channel_event(name, channel, DTMF), ("Digit", digit)]
    if name == "DTMFEnd":
        fields.append(("DurationMs", "100"))
    return [*fields, ("Direction", "Received")]


def cdr(
    channel: Channel,
    *,
    destination: str,
    destination_context: str,
    destination_channel: str,
    last_app: str,
    last_data: str,
    start: str,
    answer: str,
    end: str,
    duration: int,
    billable: int,
    disposition: str,
) -> Fields:
    caller_name = "" if channel.caller_name == "<unknown>" else channel.caller_name
    return [
        *_head("Cdr", CDR),
        ("AccountCode", ""),
        ("Source", channel.caller_num),
        ("Destination", destination),
        ("DestinationContext", destination_context),
        ("CallerID", f'"{caller_name}" <{channel.caller_num}>'),
        ("Channel", channel.name),
        ("DestinationChannel", destination_channel),
        ("LastApplication", last_app),
        ("LastData", last_data),
        ("StartTime", start),
        ("AnswerTime", answer),
        ("EndTime", end),
        ("Duration", str(duration)),
        ("BillableSeconds", str(billable)),
        ("Disposition", disposition),
        ("AMAFlags", "DOCUMENTATION"),
        ("UniqueID", channel.uniqueid),
        ("UserField", ""),
    ]
