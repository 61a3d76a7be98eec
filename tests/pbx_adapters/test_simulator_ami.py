"""The simulator's AMI server answers like Asterisk 22, over a real TCP socket.

Expected responses are written from Asterisk's manager.c and the fixtures
(``ami_auth_failure.ami``, ``queue_status.ami``), not from the simulator.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

import pytest

from cti.ami_codec import AmiParser, Message
from pbx_adapters.simulator import CallPlan, Scenario, Simulator, SimulatorSettings, lab_pbx

SECRET = "s3cret-for-tests"
TIMEOUT = 5.0


class Client:
    """A bare AMI client: raw frames out, the hub's own parser in."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.parser = AmiParser()
        self.pending: list[Message] = []

    async def send(self, frame: str) -> None:
        self.writer.write(frame.encode())
        await self.writer.drain()

    async def action(self, **headers: str) -> None:
        await self.send("".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n")

    async def next(self) -> Message:
        while not self.pending:
            data = await asyncio.wait_for(self.reader.read(65536), TIMEOUT)
            if not data:
                raise ConnectionError("server closed the connection")
            self.pending.extend(self.parser.feed(data))
        return self.pending.pop(0)

    async def until(self, predicate: object) -> Message:
        assert callable(predicate)
        while True:
            message = await self.next()
            if predicate(message):
                return message

    async def closed(self) -> bool:
        try:
            while True:
                data = await asyncio.wait_for(self.reader.read(65536), TIMEOUT)
                if not data:
                    return True
        except ConnectionError:
            return True

    async def login(self, events: str = "on") -> Message:
        await self.action(
            Action="Login", Username="ctihub", Secret=SECRET, Events=events, ActionID="login-1"
        )
        return await self.next()


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    scenario = Scenario(lab_pbx(start_epoch=1795392474.0))
    scenario.pbx.emit_noise_events = False
    sim = Simulator(scenario, SimulatorSettings(username="ctihub", secret=SECRET, speed=50.0))
    await sim.start("127.0.0.1", 0)
    try:
        yield sim
    finally:
        await sim.stop()


@pytest.fixture
async def client(simulator: Simulator) -> AsyncIterator[Client]:
    reader, writer = await asyncio.open_connection("127.0.0.1", simulator.port)
    c = Client(reader, writer)
    try:
        yield c
    finally:
        writer.close()


async def test_banner_then_plain_login_is_accepted_and_followed_by_fully_booted(
    client: Client,
) -> None:
    reply = await client.login()
    assert client.parser.banner == "Asterisk Call Manager/11.0.0"
    assert reply == {
        "Response": "Success",
        "ActionID": "login-1",
        "Message": "Authentication accepted",
    }
    booted = await client.next()
    assert booted["Event"] == "FullyBooted"
    assert booted["Privilege"] == "system,all"
    assert booted["Status"] == "Fully Booted"


async def test_wrong_secret_gets_authentication_failed_and_the_connection_closes(
    client: Client,
) -> None:
    await client.action(Action="Login", Username="ctihub", Secret="wrong", ActionID="bad-1")
    assert await client.next() == {
        "Response": "Error",
        "ActionID": "bad-1",
        "Message": "Authentication failed",
    }
    assert await client.closed()


async def test_unknown_user_is_refused_like_a_wrong_secret(client: Client) -> None:
    await client.action(Action="Login", Username="nobody", Secret=SECRET)
    reply = await client.next()
    assert reply["Response"] == "Error"
    assert reply["Message"] == "Authentication failed"


async def test_md5_challenge_login_is_accepted(client: Client) -> None:
    await client.action(Action="Challenge", AuthType="MD5", ActionID="c1")
    challenge = await client.next()
    assert challenge["Response"] == "Success"
    assert challenge["ActionID"] == "c1"
    key = hashlib.md5((challenge["Challenge"] + SECRET).encode()).hexdigest()
    await client.action(Action="Login", AuthType="MD5", Username="ctihub", Key=key, ActionID="l2")
    assert (await client.next())["Message"] == "Authentication accepted"


async def test_md5_login_with_a_wrong_key_fails(client: Client) -> None:
    await client.action(Action="Challenge", AuthType="MD5")
    await client.next()
    await client.action(Action="Login", AuthType="MD5", Username="ctihub", Key="0" * 32)
    assert (await client.next())["Message"] == "Authentication failed"


async def test_actions_before_login_are_denied(client: Client) -> None:
    await client.action(Action="QueueStatus", ActionID="q0")
    assert await client.next() == {
        "Response": "Error",
        "ActionID": "q0",
        "Message": "Permission denied",
    }
    await client.action(Action="Ping", ActionID="p0")
    assert (await client.next())["Message"] == "Permission denied"


async def test_ping_answers_pong_with_a_timestamp(client: Client) -> None:
    await client.login(events="off")
    await client.action(Action="Ping", ActionID="p1")
    reply = await client.next()
    assert reply["Response"] == "Success"
    assert reply["ActionID"] == "p1"
    assert reply["Ping"] == "Pong"
    seconds, _, micros = reply["Timestamp"].partition(".")
    assert seconds.isdigit() and len(micros) == 6


async def test_unknown_action_gets_invalid_unknown_command(client: Client) -> None:
    await client.login(events="off")
    await client.action(Action="FlyToTheMoon", ActionID="u1")
    reply = await client.next()
    assert reply["Response"] == "Error"
    assert reply["ActionID"] == "u1"
    assert reply["Message"] == (
        "Invalid/unknown command: FlyToTheMoon. Use Action: ListCommands to show available "
        "commands."
    )


async def test_frame_without_action_gets_missing_action(client: Client) -> None:
    await client.login(events="off")
    await client.send("this is not a header\r\nActionID: m1\r\n\r\n")
    assert await client.next() == {
        "Response": "Error",
        "ActionID": "m1",
        "Message": "Missing action in request",
    }
    # The session survives bad input.
    await client.action(Action="Ping", ActionID="p2")
    assert (await client.next())["Ping"] == "Pong"


async def test_events_off_then_on_controls_event_delivery(
    simulator: Simulator, client: Client
) -> None:
    await client.login(events="off")
    await client.action(Action="Events", EventMask="off", ActionID="e0")
    assert await client.next() == {"Response": "Success", "ActionID": "e0", "Events": "Off"}
    await client.action(
        Action="QueuePause",
        Interface="Local/1002@from-queue/n",
        Paused="true",
        Reason="lunch",
        ActionID="qp1",
    )
    assert (await client.next())["Message"] == "Interface paused successfully"
    # With events off the QueueMemberPause is not sent: the next message is our Ping reply.
    await client.action(Action="Ping", ActionID="p3")
    assert (await client.next())["ActionID"] == "p3"
    await client.action(Action="Events", EventMask="on", ActionID="e1")
    assert (await client.next())["Events"] == "On"
    await client.action(
        Action="QueuePause", Interface="Local/1002@from-queue/n", Paused="false", ActionID="qp2"
    )
    messages = [await client.next(), await client.next()]
    event = next(m for m in messages if m.get("Event") == "QueueMemberPause")
    assert event["Queue"] == "support"
    assert event["Interface"] == "Local/1002@from-queue/n"
    assert event["Paused"] == "0"
    assert "Interface unpaused successfully" in [m.get("Message") for m in messages]


async def test_events_mask_by_class_delivers_only_those_classes(
    simulator: Simulator, client: Client
) -> None:
    await client.login(events="agent")
    simulator.place_inbound_call(CallPlan("+982188776655", "2188000000", talk=1.0))
    first = await client.until(lambda m: "Event" in m)
    assert first["Privilege"].startswith("agent")
    assert first["Event"] == "QueueCallerJoin"


async def test_queue_status_is_an_event_list_with_params_members_and_complete(
    client: Client,
) -> None:
    await client.login(events="off")
    await client.action(Action="QueueStatus", Queue="support", ActionID="qs1")
    start = await client.next()
    assert start == {
        "Response": "Success",
        "ActionID": "qs1",
        "EventList": "start",
        "Message": "Queue status will follow",
    }
    items = []
    while True:
        message = await client.next()
        if message.get("Event") == "QueueStatusComplete":
            break
        items.append(message)
    assert [m["Event"] for m in items] == [
        "QueueParams",
        "QueueMember",
        "QueueMember",
        "QueueMember",
    ]
    assert {m["Location"] for m in items[1:]} == {
        "Local/1001@from-queue/n",
        "Local/1002@from-queue/n",
        "Local/1003@from-queue/n",
    }
    assert items[0]["Strategy"] == "rrmemory"
    assert all(m["ActionID"] == "qs1" for m in items)
    assert message["EventList"] == "Complete"
    assert message["ListItems"] == "4"


async def test_queue_summary_and_core_show_channels_report_a_waiting_caller(
    simulator: Simulator, client: Client
) -> None:
    for interface in (
        "Local/1001@from-queue/n",
        "Local/1002@from-queue/n",
        "Local/1003@from-queue/n",
    ):
        simulator.perform({"Action": "QueuePause", "Interface": interface, "Paused": "1"})
    linkedid = simulator.place_inbound_call(CallPlan("+982188776655", "2188000000", patience=600.0))
    await client.login(events="off")
    await asyncio.sleep(0.05)  # 2.5 model seconds at speed 50: the caller has joined the queue
    await client.action(Action="QueueSummary", Queue="support", ActionID="s1")
    assert (await client.next())["Message"] == "Queue summary will follow"
    summary = await client.next()
    assert summary["Event"] == "QueueSummary"
    assert (summary["Callers"], summary["Available"], summary["LoggedIn"]) == ("1", "0", "3")
    complete = await client.next()
    assert (complete["Event"], complete["ListItems"]) == ("QueueSummaryComplete", "1")

    await client.action(Action="CoreShowChannels", ActionID="c1")
    assert (await client.next())["Message"] == "Channels will follow"
    channels = []
    while (message := await client.next()).get("Event") == "CoreShowChannel":
        channels.append(message)
    assert message["Event"] == "CoreShowChannelsComplete"
    assert message["ListItems"] == str(len(channels)) == "2"
    assert {c["Linkedid"] for c in channels} == {linkedid}
    assert {c["Channel"].rsplit(";", 1)[1] for c in channels} == {"1", "2"}


async def test_hangup_of_an_unknown_channel_says_no_such_channel(client: Client) -> None:
    await client.login(events="off")
    await client.action(Action="Hangup", Channel="PJSIP/nobody-00000001", ActionID="h1")
    assert await client.next() == {
        "Response": "Error",
        "ActionID": "h1",
        "Message": "No such channel",
    }


async def test_queue_add_and_remove_answer_as_asterisk(client: Client) -> None:
    await client.login(events="off")
    await client.action(
        Action="QueueAdd",
        Queue="sales",
        Interface="PJSIP/1004",
        MemberName="New Agent",
        ActionID="a1",
    )
    assert (await client.next())["Message"] == "Added interface to queue"
    await client.action(Action="QueueAdd", Queue="sales", Interface="PJSIP/1004", ActionID="a2")
    assert (await client.next())["Message"] == "Unable to add interface: Already there"
    await client.action(Action="QueueAdd", Queue="nosuch", Interface="PJSIP/1004", ActionID="a3")
    assert (await client.next())["Message"] == "Unable to add interface to queue: No such queue"
    await client.action(Action="QueueRemove", Queue="sales", Interface="PJSIP/1004", ActionID="r1")
    assert (await client.next())["Message"] == "Removed interface from queue"
    await client.action(Action="QueueRemove", Queue="sales", Interface="PJSIP/1004", ActionID="r2")
    assert (await client.next())["Message"] == "Unable to remove interface: Not there"


async def test_originate_over_ami_rings_the_agent_then_the_number(
    simulator: Simulator, client: Client
) -> None:
    await client.login()
    await client.action(
        Action="Originate",
        Channel="Local/1002@agent-handset/n",
        Context="outbound",
        Exten="02177665544",
        Priority="1",
        CallerID='"Sara Ahmadi" <1002>',
        Async="true",
        ActionID="o1",
    )
    reply = await client.until(lambda m: m.get("ActionID") == "o1")
    assert reply == {
        "Response": "Success",
        "ActionID": "o1",
        "Message": "Originate successfully queued",
    }
    response = await client.until(lambda m: m.get("Event") == "OriginateResponse")
    assert response["ActionID"] == "o1"
    assert response["Response"] == "Success"
    assert response["Reason"] == "4"
    dial = await client.until(lambda m: m.get("Event") == "DialBegin" and "Channel" in m)
    assert dial["DestChannel"].startswith("Local/02177665544@pstn-")
    assert dial["CallerIDNum"] == "1002"
    assert dial["Linkedid"] == response["Uniqueid"]


async def test_logoff_says_goodbye_and_closes(client: Client) -> None:
    await client.login(events="off")
    await client.action(Action="Logoff", ActionID="bye")
    assert await client.next() == {
        "Response": "Goodbye",
        "ActionID": "bye",
        "Message": "Thanks for all the fish.",
    }
    assert await client.closed()
