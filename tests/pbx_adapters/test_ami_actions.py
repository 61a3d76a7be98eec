"""The action API: what reaches the PBX, and what is refused before anything is written."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from cti.ami_codec import ActionEncodingError
from pbx_adapters.ami import ActionUncertain, AmiLink, NotConnected
from pbx_adapters.ami_actions import AmiActions, InvalidActionInput

from .ami_fake_server import FakeAmi, Received, ami_config, running_server, wait_until


@pytest.fixture
async def pbx() -> AsyncIterator[tuple[FakeAmi, AmiActions]]:
    async with running_server() as server:
        link = AmiLink(ami_config(server.port), Received())
        link.start()
        await link.wait_ready(5)
        try:
            yield server, AmiActions(link)
        finally:
            await link.close()


def offline_actions() -> AmiActions:
    """Actions on a link that never connected: input checks must still run first."""
    return AmiActions(AmiLink(ami_config(1), Received()))


async def test_originate_sends_click_to_call_headers_and_exposes_the_outcome(
    pbx: tuple[FakeAmi, AmiActions],
) -> None:
    server, actions = pbx
    result = await actions.originate(
        "Local/1002@from-internal",
        "02177665544",
        context="from-internal",
        caller_id_name="Sara Ahmadi",
        caller_id_number="1002",
        timeout=25,
        variables={"CTIHUB_CASE": "40012345", "__CTIHUB_AGENT": "1002"},
    )
    assert result.response["Message"] == "Originate successfully queued"
    sent = server.actions("Originate")
    assert len(sent) == 1
    action = sent[0]
    assert action["Channel"] == "Local/1002@from-internal"
    assert action["Context"] == "from-internal"
    assert action["Exten"] == "02177665544"
    assert action["Priority"] == "1"
    assert action["CallerID"] == '"Sara Ahmadi" <1002>'
    assert action["Timeout"] == "25000"
    assert action["Async"] == "true"
    # One Variable header per variable (the fake server joins repeats with "\n").
    assert action["Variable"].split("\n") == ["CTIHUB_CASE=40012345", "__CTIHUB_AGENT=1002"]
    assert action["ActionID"] == result.action_id
    outcome = await result.wait_outcome(5)
    assert outcome["Event"] == "OriginateResponse"
    assert outcome["Response"] == "Success"
    assert outcome["Reason"] == "4"


async def test_originate_outcome_is_uncertain_when_the_link_drops_before_it(
    pbx: tuple[FakeAmi, AmiActions],
) -> None:
    server, actions = pbx
    server.originate_outcome = None  # queued, but the dial result never comes
    result = await actions.originate("Local/1002@from-internal", "1003", context="from-internal")
    server.drop_clients()
    with pytest.raises(ActionUncertain, match="OriginateResponse"):
        await result.wait_outcome(5)


async def test_queue_and_call_control_actions_send_the_documented_headers(
    pbx: tuple[FakeAmi, AmiActions],
) -> None:
    server, actions = pbx
    await actions.queue_pause("Local/1001@from-queue/n", True, queue="support", reason="lunch")
    await actions.queue_pause("PJSIP/1001", False)
    await actions.queue_add(
        "sales", "PJSIP/1003", member_name="Reza Karimi", penalty=2, state_interface="Custom:1003"
    )
    await actions.queue_remove("sales", "PJSIP/1003")
    await actions.redirect("PJSIP/1001-0000001a", "1003", context="from-internal")
    await actions.blind_transfer("PJSIP/1001-0000001a", "1003", context="from-internal")
    await actions.hangup("PJSIP/1001-0000001a", cause=16)
    await actions.setvar("CTIHUB_CASE", "40012345", channel="PJSIP/1001-0000001a")

    def sent(name: str) -> list[dict[str, str]]:
        return [{k: v for k, v in a.items() if k != "ActionID"} for a in server.actions(name)]

    assert sent("QueuePause") == [
        {
            "Action": "QueuePause",
            "Interface": "Local/1001@from-queue/n",
            "Paused": "true",
            "Queue": "support",
            "Reason": "lunch",
        },
        {"Action": "QueuePause", "Interface": "PJSIP/1001", "Paused": "false"},
    ]
    assert sent("QueueAdd") == [
        {
            "Action": "QueueAdd",
            "Queue": "sales",
            "Interface": "PJSIP/1003",
            "Penalty": "2",
            "Paused": "false",
            "MemberName": "Reza Karimi",
            "StateInterface": "Custom:1003",
        },
    ]
    assert sent("QueueRemove") == [
        {"Action": "QueueRemove", "Queue": "sales", "Interface": "PJSIP/1003"}
    ]
    assert sent("Redirect") == [
        {
            "Action": "Redirect",
            "Channel": "PJSIP/1001-0000001a",
            "Context": "from-internal",
            "Exten": "1003",
            "Priority": "1",
        }
    ]
    assert sent("BlindTransfer") == [
        {
            "Action": "BlindTransfer",
            "Channel": "PJSIP/1001-0000001a",
            "Context": "from-internal",
            "Exten": "1003",
        }
    ]
    assert sent("Hangup") == [{"Action": "Hangup", "Channel": "PJSIP/1001-0000001a", "Cause": "16"}]
    assert sent("Setvar") == [
        {
            "Action": "Setvar",
            "Channel": "PJSIP/1001-0000001a",
            "Variable": "CTIHUB_CASE",
            "Value": "40012345",
        }
    ]


async def test_queries_return_their_list_items(pbx: tuple[FakeAmi, AmiActions]) -> None:
    server, actions = pbx
    server.channels = [
        [("Channel", "PJSIP/1001-00000001"), ("Uniqueid", "1.1"), ("Linkedid", "1.1")],
        [("Channel", "PJSIP/trunk-00000002"), ("Uniqueid", "1.2"), ("Linkedid", "1.1")],
    ]
    server.summaries = [[("Queue", "support"), ("LoggedIn", "3"), ("Available", "1")]]
    channels = await actions.core_show_channels()
    assert [c["Uniqueid"] for c in channels] == ["1.1", "1.2"]
    assert all(c["Event"] == "CoreShowChannel" for c in channels)
    summary = await actions.queue_summary()
    assert summary[0]["Available"] == "1"
    assert await actions.queue_status(queue="support") == []
    assert server.actions("QueueStatus")[0]["Queue"] == "support"


@pytest.mark.parametrize(
    "call",
    [
        lambda a: a.originate("Local/1002@from-internal", "0217766\r\n5544", context="x"),
        lambda a: a.originate(
            "Local/1002@from-internal",
            "1003",
            context="from-internal",
            caller_id_name="Evil\r\nAction: Command",
        ),
        lambda a: a.originate(
            "Local/1002@from-internal",
            "1003",
            context="from-internal",
            variables={"CTIHUB_CASE": "1\r\n\r\nAction: Command"},
        ),
        lambda a: a.queue_pause("PJSIP/1001", True, reason="lunch\nAction: Command"),
        lambda a: a.setvar("CTIHUB_NOTE", "line1\rline2"),
        lambda a: a.hangup("PJSIP/1001\r\n"),
    ],
)
async def test_cr_or_lf_in_any_value_is_refused_before_sending(
    pbx: tuple[FakeAmi, AmiActions], call: object
) -> None:
    server, actions = pbx
    assert callable(call)
    before = len(server.received)
    with pytest.raises(ActionEncodingError, match="CR or LF"):
        await call(actions)
    await actions.queue_pause("PJSIP/1001", False)  # the link still works
    await wait_until(lambda: len(server.received) == before + 1)
    assert [a["Action"] for a in server.received[before:]] == ["QueuePause"]


async def test_spy_originates_chanspy_to_the_supervisors_phone(
    pbx: tuple[FakeAmi, AmiActions],
) -> None:
    server, actions = pbx
    await actions.spy("Local/1009@from-internal/n", "PJSIP/1001-", "qB", caller_id_name="barge")
    [action] = server.actions("Originate")
    assert (action["Channel"], action["Application"], action["Data"]) == (
        "Local/1009@from-internal/n",
        "ChanSpy",
        "PJSIP/1001-,qB",
    )
    assert (action["Async"], action["CallerID"]) == ("true", '"barge" <>')
    assert "Exten" not in action and "Context" not in action


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda a: a.originate("1002", "1003", context="from-internal"), "channel '1002'"),
        (lambda a: a.originate("Local/1002@x", "02 1776", context="from-internal"), "exten"),
        (lambda a: a.originate("Local/1002@x", "1003", context=""), "context ''"),
        (lambda a: a.originate("Local/1002@x", "1003", context="c", priority=0), "priority"),
        (lambda a: a.originate("Local/1002@x", "1003", context="c", timeout=0), "timeout"),
        (
            lambda a: a.originate(
                "Local/1002@x", "1003", context="c", variables={"SHELL(rm -rf /)": "1"}
            ),
            "dialplan functions",
        ),
        (
            lambda a: a.originate(
                "Local/1002@x", "1003", context="c", variables={"CTIHUB_NAME": "Rezaei, Ali"}
            ),
            "comma",
        ),
        (
            lambda a: a.originate(
                "Local/1002@x", "1003", context="c", caller_id_name='Ali "The Boss"'
            ),
            "caller_id_name",
        ),
        (
            lambda a: a.originate(
                "Local/1002@x", "1003", context="c", caller_id_number="1002; drop"
            ),
            "caller_id_number",
        ),
        (lambda a: a.hangup("PJSIP/1001-00000001", cause=300), "cause"),
        (lambda a: a.hangup("/PJSIP.*/"), "channel"),
        (lambda a: a.queue_add("support", "PJSIP/1001", penalty=-1), "penalty"),
        (lambda a: a.queue_add("sup port", "PJSIP/1001"), "queue"),
        (lambda a: a.spy("Local/1009@x/n", "PJSIP/1001-", "qX"), "ChanSpy options"),
        (lambda a: a.spy("Local/1009@x/n", "PJSIP/1001-,qB", "q"), "spied_prefix"),
        (lambda a: a.spy("Local/1009@x/n", "PJSIP/1001\r\nAction: Hangup", "q"), "CR or LF"),
    ],
)
async def test_invalid_input_is_refused_with_a_message_naming_the_field(
    call: object, message: str
) -> None:
    actions = offline_actions()  # checked before the link is even asked
    assert callable(call)
    with pytest.raises(InvalidActionInput, match=message.replace("(", r"\(")):
        await call(actions)


async def test_valid_action_on_a_disconnected_link_fails_fast_with_not_connected() -> None:
    actions = offline_actions()
    with pytest.raises(NotConnected):
        await actions.originate("Local/1002@from-internal", "1003", context="from-internal")
    with pytest.raises(NotConnected):
        await asyncio.wait_for(actions.core_show_channels(), 1)
