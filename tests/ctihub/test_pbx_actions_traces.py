"""Call control acts on the channel Asterisk itself names, checked on recorded real traces."""

from __future__ import annotations

from pathlib import Path

import pytest

from cti.ami_codec import Message
from cti.replay import read_transcript
from ctihub.pbx_actions import agent_leg
from popup_server.ports import PbxActionError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ami"


def _messages(name: str) -> list[Message]:
    return [m for m, _ in read_transcript(FIXTURES / f"{name}.jsonl")]


@pytest.mark.parametrize(
    ("trace", "call_id", "mine", "peer"),
    [
        (
            "resync_mid_call_local",
            "1796161886.0",
            "Local/1001@from-queue-00000001;1",
            "Local/2188000000@from-trunk-00000000;2",
        ),
        ("resync_mid_call_iax", "1796161912.4", "IAX2/1001-7616", "IAX2/provider-13734"),
    ],
)
def test_agents_leg_is_found_in_a_real_core_show_channels_listing(
    trace: str, call_id: str, mine: str, peer: str
) -> None:
    items = [m for m in _messages(trace) if m.get("Event") == "CoreShowChannel"]
    assert agent_leg(items, "1001", call_id) == (mine, peer)
    with pytest.raises(PbxActionError, match="1002 has no channel"):
        agent_leg(items, "1002", call_id)
    with pytest.raises(PbxActionError):
        agent_leg(items, "1001", "1.1")


def test_blind_transfer_names_the_channel_asterisk_reported_as_transferer() -> None:
    """Rebuild the bridges from the real trace up to its BlindTransfer, as CoreShowChannels
    would list them, and check the hub picks Asterisk's own TransfererChannel."""
    bridges: dict[str, Message] = {}
    transfer: Message | None = None
    for m in _messages("blind_transfer"):
        event = m.get("Event")
        if event == "BridgeEnter":
            bridges[m["Channel"]] = {
                "Channel": m["Channel"],
                "Linkedid": m["Linkedid"],
                "BridgeId": m["BridgeUniqueid"],
            }
        elif event == "BridgeLeave":
            bridges.pop(m["Channel"], None)
        elif event == "BlindTransfer":
            transfer = m
            break
    assert transfer is not None
    mine, peer = agent_leg(list(bridges.values()), "1001", transfer["TransfererLinkedid"])
    assert mine == transfer["TransfererChannel"]
    assert peer == transfer["TransfereeChannel"]
