"""A simulated Asterisk channel and the snapshot headers every channel event carries.

Asterisk 12+ describes a channel in events with one fixed block of headers
(``Channel`` … ``Linkedid``), optionally prefixed (``Dest``, ``LocalOne``,
``Transferer`` …). The order below is the order seen in the real traces.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Fields = list[tuple[str, str]]
"""One AMI message as ordered header pairs (headers may repeat)."""

STATE_DESC = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up"}
DOWN, RING, RINGING, UP = 0, 4, 5, 6
UNKNOWN = "<unknown>"


@dataclass(slots=True)
class Channel:
    """The parts of an Asterisk channel that show in AMI events."""

    name: str
    uniqueid: str
    linkedid: str
    context: str
    exten: str
    state: int = DOWN
    priority: int = 1
    caller_num: str = UNKNOWN
    caller_name: str = UNKNOWN
    connected_num: str = UNKNOWN
    connected_name: str = UNKNOWN
    language: str = "en"
    accountcode: str = ""
    created_at: float = 0.0
    answered_at: float | None = None
    application: str = ""
    application_data: str = ""
    bridge_id: str = ""
    variables: dict[str, str] = field(default_factory=dict)
    hung_up: bool = False

    def snapshot(self, prefix: str = "") -> Fields:
        """The channel block, with every header name prefixed."""
        return [
            (prefix + "Channel", self.name),
            (prefix + "ChannelState", str(self.state)),
            (prefix + "ChannelStateDesc", STATE_DESC.get(self.state, "Unknown")),
            (prefix + "CallerIDNum", self.caller_num),
            (prefix + "CallerIDName", self.caller_name),
            (prefix + "ConnectedLineNum", self.connected_num),
            (prefix + "ConnectedLineName", self.connected_name),
            (prefix + "Language", self.language),
            (prefix + "AccountCode", self.accountcode),
            (prefix + "Context", self.context),
            (prefix + "Exten", self.exten),
            (prefix + "Priority", str(self.priority)),
            (prefix + "Uniqueid", self.uniqueid),
            (prefix + "Linkedid", self.linkedid),
        ]
