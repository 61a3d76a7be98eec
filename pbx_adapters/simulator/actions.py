"""AMI actions against the simulated PBX, answered the way Asterisk 22 answers them.

:func:`perform` takes one action (header dict, names case-insensitive as in
Asterisk) and returns the messages for the asking session only: the response
and, for list actions, the event list ending in ``…Complete``. Events caused
by the action (``QueueMemberPause``, ``OriginateResponse`` …) go to every
session through the model's listeners.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from pbx_adapters.simulator.channel import STATE_DESC, Channel, Fields
from pbx_adapters.simulator.model import PbxModel
from pbx_adapters.simulator.spec import AgentSpec

ActionHandler = Callable[[PbxModel, Mapping[str, str], str], list[Fields]]

_CALLER_ID = re.compile(r'^\s*"?([^"<]*?)"?\s*<([^>]*)>\s*$')


def header(action: Mapping[str, str], name: str) -> str:
    """A header value, looked up case-insensitively as Asterisk does; '' if absent."""
    wanted = name.lower()
    for key, value in action.items():
        if key.lower() == wanted:
            return value
    return ""


def response(success: bool, action_id: str, message: str) -> Fields:
    fields: Fields = [("Response", "Success" if success else "Error")]
    if action_id:
        fields.append(("ActionID", action_id))
    fields.append(("Message", message))
    return fields


def error(action_id: str, message: str) -> list[Fields]:
    return [response(False, action_id, message)]


def ack(action_id: str, message: str) -> list[Fields]:
    return [response(True, action_id, message)]


def _list(
    action_id: str, message: str, items: list[Fields], complete: str, extra: Fields | None = None
) -> list[Fields]:
    start: Fields = [("Response", "Success")]
    if action_id:
        start.append(("ActionID", action_id))
    start += [("EventList", "start"), ("Message", message)]
    end: Fields = [("Event", complete)]
    if action_id:
        end.append(("ActionID", action_id))
    end += [("EventList", "Complete"), ("ListItems", str(len(items))), *(extra or [])]
    return [start, *items, end]


def _with_id(fields: Fields, action_id: str) -> Fields:
    return [*fields, ("ActionID", action_id)] if action_id else fields


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def _duration(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


# --- call control -------------------------------------------------------------


def originate(model: PbxModel, action: Mapping[str, str], action_id: str) -> list[Fields]:
    channel = header(action, "Channel")
    if not channel:
        return error(action_id, "Channel not specified")
    exten, context = header(action, "Exten"), header(action, "Context")
    application = header(action, "Application")
    if application.lower() == "chanspy":
        prefix, _, options = header(action, "Data").partition(",")
        if not prefix:
            return error(action_id, "ChanSpy needs a channel prefix in Data")
        model.chan_spy(
            channel, prefix, options, action_id if _truthy(header(action, "Async")) else ""
        )
        return ack(action_id, "Originate successfully queued")
    if application:
        return error(action_id, "Originate with Application is not simulated (only ChanSpy)")
    if not exten or not context:
        return error(action_id, "Exten and Context are required")
    caller_id = None
    raw = header(action, "CallerID")
    if raw:
        match = _CALLER_ID.match(raw)
        caller_id = (match.group(1), match.group(2)) if match else ("", raw)
    variables: dict[str, str] = {}
    for item in header(action, "Variable").replace("\n", ",").split(","):
        name, sep, value = item.partition("=")
        if sep:
            variables[name.strip()] = value
    is_async = _truthy(header(action, "Async"))
    model.originate(channel, context, exten, caller_id, action_id if is_async else "", variables)
    return ack(action_id, "Originate successfully queued")


def hangup(model: PbxModel, action: Mapping[str, str], action_id: str) -> list[Fields]:
    channel = header(action, "Channel")
    if not channel:
        return error(action_id, "No channel specified")
    if not model.hangup_channel(channel):
        return error(action_id, "No such channel")
    return ack(action_id, "Channel Hungup")


def redirect(model: PbxModel, action: Mapping[str, str], action_id: str) -> list[Fields]:
    channel, exten = header(action, "Channel"), header(action, "Exten")
    context = header(action, "Context") or model.spec.transfer_context
    if not channel:
        return error(action_id, "Channel not specified")
    call = model.call_of(channel)
    if call is None or not exten:
        return error(action_id, "Channel does not exist: " + channel)
    if not model.redirect(call, exten, context):
        return error(action_id, "Redirect failed")
    return ack(action_id, "Redirect successful")


def blind_transfer(model: PbxModel, action: Mapping[str, str], action_id: str) -> list[Fields]:
    channel, exten = header(action, "Channel"), header(action, "Exten")
    context = header(action, "Context") or model.spec.transfer_context
    if not channel:
        return error(action_id, "No channel specified")
    if not exten:
        return error(action_id, "No extension specified")
    call = model.call_of(channel)
    if call is None:
        return error(action_id, "Channel specified does not exist")
    if not model.blind_transfer(call, exten, context):
        return error(action_id, "Transfer failed")
    return ack(action_id, "Transfer succeeded")


def atxfer(model: PbxModel, action: Mapping[str, str], action_id: str) -> list[Fields]:
    channel, exten = header(action, "Channel"), header(action, "Exten")
    context = header(action, "Context") or model.spec.transfer_context
    if not channel:
        return error(action_id, "No channel specified")
    if not exten:
        return error(action_id, "No extension specified")
    call = model.call_of(channel)
    if call is None:
        return error(action_id, "No such channel")
    if not model.attended_transfer(call, exten, context):
        return error(action_id, "Atxfer failed")
    return ack(action_id, "Atxfer successfully queued")


def mute_audio(model: PbxModel, action: Mapping[str, str], action_id: str) -> list[Fields]:
    channel = header(action, "Channel")
    direction, state = header(action, "Direction").lower(), header(action, "State").lower()
    if not channel or direction not in ("in", "out", "all") or state not in ("on", "off"):
        return error(action_id, "Invalid arguments")
    call = model.call_of(channel)
    if call is None:
        return error(action_id, "No such channel")
    model.mute(call, state == "on")
    return ack(action_id, "Audiohook has been updated")


def setvar(model: PbxModel, action: Mapping[str, str], action_id: str) -> list[Fields]:
    name, value, channel = (
        header(action, "Variable"),
        header(action, "Value"),
        header(action, "Channel"),
    )
    if not name:
        return error(action_id, "No variable specified")
    if channel:
        target = model.channels.get(channel)
        if target is None:
            return error(action_id, "No such channel")
        model.set_variable(target, name, value)
    return ack(action_id, "Variable Set")


def getvar(model: PbxModel, action: Mapping[str, str], action_id: str) -> list[Fields]:
    name, channel = header(action, "Variable"), header(action, "Channel")
    if not name:
        return error(action_id, "No variable specified")
    target = model.channels.get(channel) if channel else None
    if channel and target is None:
        return error(action_id, "No such channel")
    value = target.variables.get(name, "") if target else ""
    fields: Fields = [("Response", "Success")]
    if action_id:
        fields.append(("ActionID", action_id))
    return [[*fields, ("Variable", name), ("Value", value)]]


# --- queues -----------------------------------------------------------------------


def queue_pause(model: PbxModel, action: Mapping[str, str], action_id: str) -> list[Fields]:
    interface = header(action, "Interface")
    paused_raw = header(action, "Paused")
    if not interface or not paused_raw:
        return error(action_id, "Need 'Interface' and 'Paused' parameters.")
    paused = _truthy(paused_raw)
    queue = header(action, "Queue")
    members = [
        m
        for q in model.queues.values()
        if not queue or q.spec.name == queue
        for m in q.members
        if m.agent.spec.interface.lower() == interface.lower()
    ]
    if not members:
        return error(action_id, "Interface not found")
    for member in members:
        model.set_paused(member, paused, header(action, "Reason"))
    return ack(
        action_id, "Interface paused successfully" if paused else "Interface unpaused successfully"
    )


def queue_add(model: PbxModel, action: Mapping[str, str], action_id: str) -> list[Fields]:
    queue_name, interface = header(action, "Queue"), header(action, "Interface")
    if not queue_name or not interface:
        return error(action_id, "'Queue' and 'Interface' not specified.")
    queue = model.queues.get(queue_name)
    if queue is None:
        return error(action_id, "Unable to add interface to queue: No such queue")
    if model.member(queue_name, interface) is not None:
        return error(action_id, "Unable to add interface: Already there")
    agent = model.agent_by_interface(interface)
    if agent is None:
        ext = interface.split("/", 1)[-1].split("@", 1)[0]
        agent = model.add_agent(
            AgentSpec(
                ext,
                header(action, "MemberName") or interface,
                [],
                interface=interface,
                state_interface=header(action, "StateInterface"),
            )
        )
    model.add_member(queue, agent, _truthy(header(action, "Paused")), header(action, "Reason"))
    return ack(action_id, "Added interface to queue")


def queue_remove(model: PbxModel, action: Mapping[str, str], action_id: str) -> list[Fields]:
    queue_name, interface = header(action, "Queue"), header(action, "Interface")
    if not queue_name or not interface:
        return error(action_id, "Need 'Queue' and 'Interface' parameters.")
    if queue_name not in model.queues:
        return error(action_id, "Unable to remove interface from queue: No such queue")
    member = model.member(queue_name, interface)
    if member is None:
        return error(action_id, "Unable to remove interface: Not there")
    model.remove_member(member)
    return ack(action_id, "Removed interface from queue")


def queue_status(model: PbxModel, action: Mapping[str, str], action_id: str) -> list[Fields]:
    wanted = header(action, "Queue")
    items: list[Fields] = []
    for queue in model.queues.values():
        if wanted and queue.spec.name != wanted:
            continue
        done = queue.completed
        perf = 100.0 * queue.within_sl / done if done else 0.0
        items.append(
            _with_id(
                [
                    ("Event", "QueueParams"),
                    ("Queue", queue.spec.name),
                    ("Max", "0"),
                    ("Strategy", queue.spec.strategy),
                    ("Calls", str(len(queue.entries))),
                    ("Holdtime", str(int(queue.total_hold / done)) if done else "0"),
                    ("TalkTime", str(int(queue.total_talk / done)) if done else "0"),
                    ("Completed", str(done)),
                    ("Abandoned", str(queue.abandoned)),
                    ("ServiceLevel", str(queue.spec.servicelevel)),
                    ("ServicelevelPerf", f"{perf:.1f}"),
                    ("ServicelevelPerf2", f"{perf:.1f}"),
                    ("Weight", "0"),
                ],
                action_id,
            )
        )
        for member in queue.members:
            spec = member.agent.spec
            items.append(
                _with_id(
                    [
                        ("Event", "QueueMember"),
                        ("Queue", queue.spec.name),
                        ("Name", spec.name),
                        ("Location", spec.interface),
                        ("StateInterface", spec.state_interface),
                        ("Membership", member.membership),
                        ("Penalty", str(spec.penalty)),
                        ("CallsTaken", str(member.calls_taken)),
                        ("LastCall", str(member.last_call)),
                        ("LastPause", str(member.last_pause)),
                        ("LoginTime", str(member.login_time)),
                        ("InCall", "1" if member.agent.status == 2 else "0"),
                        ("Status", str(member.agent.status)),
                        ("Paused", "1" if member.paused else "0"),
                        ("PausedReason", member.paused_reason),
                        ("Wrapuptime", str(int(queue.spec.wrapuptime))),
                    ],
                    action_id,
                )
            )
        for position, entry in enumerate(queue.entries, start=1):
            caller = entry.call.caller
            items.append(
                _with_id(
                    [
                        ("Event", "QueueEntry"),
                        ("Queue", queue.spec.name),
                        ("Position", str(position)),
                        ("Channel", caller.name),
                        ("Uniqueid", caller.uniqueid),
                        ("CallerIDNum", caller.caller_num),
                        ("CallerIDName", caller.caller_name),
                        ("ConnectedLineNum", caller.connected_num),
                        ("ConnectedLineName", caller.connected_name),
                        ("Wait", str(int(model.now - entry.joined_at))),
                        ("Priority", "0"),
                    ],
                    action_id,
                )
            )
    return _list(action_id, "Queue status will follow", items, "QueueStatusComplete")


def queue_summary(model: PbxModel, action: Mapping[str, str], action_id: str) -> list[Fields]:
    wanted = header(action, "Queue")
    items: list[Fields] = []
    for queue in model.queues.values():
        if wanted and queue.spec.name != wanted:
            continue
        done = queue.completed
        available = sum(
            1
            for m in queue.members
            if not m.paused and m.agent.status == 1 and m.agent.call is None
        )
        longest = max((model.now - e.joined_at for e in queue.entries), default=0.0)
        items.append(
            _with_id(
                [
                    ("Event", "QueueSummary"),
                    ("Queue", queue.spec.name),
                    ("LoggedIn", str(len(queue.members))),
                    ("Available", str(available)),
                    ("Callers", str(len(queue.entries))),
                    ("HoldTime", str(int(queue.total_hold / done)) if done else "0"),
                    ("TalkTime", str(int(queue.total_talk / done)) if done else "0"),
                    ("LongestHoldTime", str(int(longest))),
                ],
                action_id,
            )
        )
    return _list(action_id, "Queue summary will follow", items, "QueueSummaryComplete")


# --- channel lists -------------------------------------------------------------------


def core_show_channels(model: PbxModel, action: Mapping[str, str], action_id: str) -> list[Fields]:
    items: list[Fields] = []
    for channel in model.live_channels():
        fields: Fields = [("Event", "CoreShowChannel")]
        if action_id:
            fields.append(("ActionID", action_id))
        fields += channel.snapshot()
        fields += [
            ("Application", channel.application),
            ("ApplicationData", channel.application_data),
            ("Duration", _duration(model.now - channel.created_at)),
            ("BridgeId", channel.bridge_id),
        ]
        items.append(fields)
    return _list(action_id, "Channels will follow", items, "CoreShowChannelsComplete")


def _status_item(model: PbxModel, channel: Channel, action_id: str) -> Fields:
    return _with_id(
        [
            ("Event", "Status"),
            ("Privilege", "Call"),
            *channel.snapshot(),
            ("Type", channel.name.split("/", 1)[0]),
            ("DNID", ""),
            ("EffectiveConnectedLineNum", channel.connected_num),
            ("EffectiveConnectedLineName", channel.connected_name),
            ("TimeToHangup", "0"),
            ("BridgeID", channel.bridge_id),
            ("Application", channel.application),
            ("Data", channel.application_data),
            ("Nativeformats", "(slin)"),
            ("Readformat", "slin"),
            ("Readtrans", ""),
            ("Writeformat", "slin"),
            ("Writetrans", ""),
            ("Callgroup", "0"),
            ("Pickupgroup", "0"),
            ("Seconds", str(int(model.now - channel.created_at))),
        ],
        action_id,
    )


def status(model: PbxModel, action: Mapping[str, str], action_id: str) -> list[Fields]:
    wanted = header(action, "Channel")
    channels = model.live_channels()
    if wanted:
        channels = [c for c in channels if c.name == wanted]
        if not channels:
            return error(action_id, "No such channel")
    items = [_status_item(model, c, action_id) for c in channels]
    return _list(
        action_id,
        "Channel status will follow",
        items,
        "StatusComplete",
        [("Items", str(len(items)))],
    )


def _endpoints_of(model: PbxModel, technology: str) -> list[tuple[str, str]]:
    found = []
    for agent in model.agents.values():
        tech, _, name = agent.spec.device.partition("/")
        if tech.upper() == technology.upper():
            found.append((name, agent.spec.extension))
    return sorted(found)


def _device_state(model: PbxModel, extension: str) -> str:
    agent = model.agents.get(extension)
    if agent is None or agent.status == 5:
        return "Unavailable"
    return "In use" if agent.status == 2 else "Not in use"


def pjsip_show_endpoints(
    model: PbxModel, action: Mapping[str, str], action_id: str
) -> list[Fields]:
    """As chan_pjsip answers: an ``EndpointList`` event per endpoint."""
    items = [
        _with_id(
            [
                ("Event", "EndpointList"),
                ("ObjectType", "endpoint"),
                ("ObjectName", name),
                ("Transport", "transport-udp"),
                ("Aor", name),
                ("Auths", f"{name}-auth"),
                ("OutboundAuths", ""),
                ("Contacts", f"{name}/sip:{name}@10.0.0.{50 + i}:5060,"),
                ("DeviceState", _device_state(model, extension)),
                ("ActiveChannels", ""),
            ],
            action_id,
        )
        for i, (name, extension) in enumerate(_endpoints_of(model, "PJSIP"))
    ]
    return _list(
        action_id,
        "A listing of Endpoints follows, presented as EndpointList events",
        items,
        "EndpointListComplete",
    )


def _peers(model: PbxModel, action_id: str, technology: str, message: str) -> list[Fields]:
    channel_type = "SIP" if technology == "SIP" else "IAX"
    items = []
    for i, (name, extension) in enumerate(_endpoints_of(model, technology)):
        reachable = _device_state(model, extension) != "Unavailable"
        fields: Fields = [
            ("Event", "PeerEntry"),
            ("Channeltype", channel_type),
            ("ObjectName", name),
            ("ChanObjectType", "peer"),
            ("IPaddress", f"10.0.0.{50 + i}" if reachable else "-none-"),
            ("IPport", ("5060" if technology == "SIP" else "4569") if reachable else "0"),
            ("Dynamic", "yes"),
        ]
        if technology == "SIP":
            fields += [
                ("AutoForcerport", "no"),
                ("Forcerport", "yes"),
                ("AutoComedia", "no"),
                ("Comedia", "yes"),
                ("VideoSupport", "no"),
                ("TextSupport", "no"),
                ("ACL", "yes"),
                ("Status", "OK (3 ms)" if reachable else "UNREACHABLE"),
                ("RealtimeDevice", "no"),
                ("Description", ""),
            ]
        else:
            fields += [
                ("Trunk", "no"),
                ("Encryption", "no"),
                ("Status", "OK (2 ms)" if reachable else "UNREACHABLE"),
            ]
        items.append(_with_id(fields, action_id))
    return _list(action_id, message, items, "PeerlistComplete")


def sip_peers(model: PbxModel, action: Mapping[str, str], action_id: str) -> list[Fields]:
    """As chan_sip answers: a ``PeerEntry`` per peer."""
    return _peers(model, action_id, "SIP", "Peer status list will follow")


def iax_peer_list(model: PbxModel, action: Mapping[str, str], action_id: str) -> list[Fields]:
    """As chan_iax2 answers: a ``PeerEntry`` per peer."""
    return _peers(model, action_id, "IAX2", "IAX Peer status list will follow")


HANDLERS: dict[str, ActionHandler] = {
    "originate": originate,
    "hangup": hangup,
    "redirect": redirect,
    "blindtransfer": blind_transfer,
    "atxfer": atxfer,
    "muteaudio": mute_audio,
    "setvar": setvar,
    "getvar": getvar,
    "queuepause": queue_pause,
    "queueadd": queue_add,
    "queueremove": queue_remove,
    "queuestatus": queue_status,
    "queuesummary": queue_summary,
    "coreshowchannels": core_show_channels,
    "status": status,
    "pjsipshowendpoints": pjsip_show_endpoints,
    "sippeers": sip_peers,
    "iaxpeerlist": iax_peer_list,
}
"""Model actions by lower-case name; session actions (Login, Ping …) live in the server."""

# Asterisk's write-permission class for each action, checked against the user's ``write``.
WRITE_CLASS: dict[str, str] = {
    "originate": "originate",
    "hangup": "system",
    "redirect": "call",
    "blindtransfer": "call",
    "atxfer": "call",
    "muteaudio": "system",
    "setvar": "call",
    "getvar": "call",
    "queuepause": "agent",
    "queueadd": "agent",
    "queueremove": "agent",
    "queuestatus": "",
    "queuesummary": "",
    "coreshowchannels": "system",
    "status": "system",
    "pjsipshowendpoints": "system",
    "sippeers": "reporting",
    "iaxpeerlist": "reporting",
}


def perform(model: PbxModel, action: Mapping[str, str]) -> list[Fields] | None:
    """Run one model action; None when the model has no such action."""
    name = header(action, "Action").lower()
    handler = HANDLERS.get(name)
    if handler is None:
        return None
    return handler(model, action, header(action, "ActionID"))


__all__ = ["HANDLERS", "STATE_DESC", "WRITE_CLASS", "header", "perform"]
