"""The AMI link against a real TCP server that answers as Asterisk does."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time

import pytest

from cti.ami_codec import ActionEncodingError
from pbx_adapters.ami import (
    ActionFailed,
    ActionTimeout,
    ActionUncertain,
    AmiLink,
    LinkState,
    NotConnected,
)

from .ami_fake_server import (
    CHALLENGE,
    SECRET,
    FakeAmi,
    Received,
    ami_config,
    running_server,
    wait_until,
)


async def test_plain_login_sends_username_and_secret_and_becomes_ready() -> None:
    async with running_server() as server:
        received = Received()
        link = AmiLink(ami_config(server.port, auth="plain"), received)
        link.start()
        try:
            await link.wait_ready(5)
            logins = server.actions("Login")
            assert len(logins) == 1
            assert logins[0]["Username"] == "ctihub"
            assert logins[0]["Secret"] == SECRET
            assert logins[0]["Events"] == "on"
            assert server.actions("Challenge") == []
            assert link.generation == 1
            # The login response and FullyBooted went to the consumer like every message.
            assert received.items[0][0]["Message"] == "Authentication accepted"
            assert received.items[1][0]["Event"] == "FullyBooted"
        finally:
            await link.close()


async def test_md5_login_sends_the_challenge_hash_and_never_the_secret() -> None:
    async with running_server() as server:
        link = AmiLink(ami_config(server.port, auth="md5"), Received())
        link.start()
        try:
            await link.wait_ready(5)
            assert server.actions("Challenge")[0]["AuthType"] == "MD5"
            login = server.actions("Login")[0]
            assert login["AuthType"] == "MD5"
            assert login["Key"] == hashlib.md5(f"{CHALLENGE}{SECRET}".encode()).hexdigest()
            assert "Secret" not in login
            assert all(SECRET not in value for value in login.values())
        finally:
            await link.close()


async def test_fully_booted_arriving_before_the_login_response_is_accepted() -> None:
    server = FakeAmi()
    server.fully_booted_first = True
    async with running_server(server):
        received = Received()
        link = AmiLink(ami_config(server.port, fully_booted_timeout=30), received)
        link.start()
        try:
            await link.wait_ready(5)
            assert [m.get("Event", m.get("Response")) for m, _ in received.items[:2]] == [
                "FullyBooted",
                "Success",
            ]
        finally:
            await link.close()


async def test_link_is_not_ready_until_fully_booted_then_goes_on_without_it_after_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = FakeAmi()
    server.send_fully_booted = False  # a user without read=system never gets it
    async with running_server(server):
        link = AmiLink(ami_config(server.port, fully_booted_timeout=1.0), Received())
        caplog.set_level(logging.WARNING, logger="pbx_adapters.ami")
        link.start()
        try:
            await wait_until(lambda: len(server.actions("Login")) == 1)
            await asyncio.sleep(0.05)
            assert link.state is LinkState.LOGGING_IN
            with pytest.raises(NotConnected):
                await link.send_action({"Action": "Ping"})
            await link.wait_ready(5)
            assert any("FullyBooted" in r.getMessage() for r in caplog.records)
        finally:
            await link.close()


async def test_wrong_secret_is_logged_once_and_retried_only_every_auth_failure_delay(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = FakeAmi(secret="the-real-one")
    async with running_server(server):
        config = ami_config(server.port, auth_failure_delay=0.25, reconnect_min_delay=0.01)
        link = AmiLink(config, Received())
        caplog.set_level(logging.DEBUG)
        link.start()
        try:
            await wait_until(lambda: len(server.login_attempts) >= 3)
            times = [t for t, ok in server.login_attempts[:3]]
            assert not any(ok for _, ok in server.login_attempts[:3])
            # Not hammered: each new try waits at least auth_failure_delay.
            assert times[1] - times[0] >= 0.24
            assert times[2] - times[1] >= 0.24
            errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
            assert len(errors) == 1
            assert "Authentication failed" in errors[0].getMessage()
            assert "username=ctihub" in errors[0].getMessage()
            await wait_until(lambda: link.stats.auth_failures >= 3)

            server.secret = SECRET  # the admin fixes manager.conf
            await link.wait_ready(5)
            assert any("accepted again" in r.getMessage() for r in caplog.records)
        finally:
            await link.close()
        for secret in (SECRET, "the-real-one"):
            assert secret not in caplog.text
            for record in caplog.records:
                assert secret not in record.getMessage()


async def test_secret_never_reaches_the_logs_even_at_debug_level(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    for auth in ("plain", "md5"):
        async with running_server() as server:
            link = AmiLink(ami_config(server.port, auth=auth), Received())
            link.start()
            try:
                await link.wait_ready(5)
                await link.send_action({"Action": "Ping"})
                server.drop_clients()
                await wait_until(lambda: server.connections == 2)
                await link.wait_ready(5)
            finally:
                await link.close()
    assert caplog.records, "the link is expected to log its connects"
    md5_key = hashlib.md5(f"{CHALLENGE}{SECRET}".encode()).hexdigest()
    for record in caplog.records:
        assert SECRET not in record.getMessage()
        assert md5_key not in record.getMessage()
    assert SECRET not in caplog.text


async def test_messages_reach_the_consumer_in_arrival_order_with_receipt_time() -> None:
    async with running_server() as server:
        received = Received()
        link = AmiLink(ami_config(server.port), received)
        link.start()
        try:
            await link.wait_ready(5)
            before = time.time()
            # 300 events, written in odd-sized chunks that split messages mid-line.
            data = b"".join(
                f"Event: UserEvent\r\nUserEvent: seq\r\nSeq: {i}\r\n\r\n".encode()
                for i in range(300)
            )
            for start in range(0, len(data), 977):
                server.send_raw(data[start : start + 977])
                await asyncio.sleep(0)
            await wait_until(lambda: len(received.events("UserEvent")) == 300)
            after = time.time()
            seqs = [int(m["Seq"]) for m in received.events("UserEvent")]
            assert seqs == list(range(300))
            stamps = [at for m, at in received.items if m.get("Event") == "UserEvent"]
            assert stamps == sorted(stamps)
            assert before <= stamps[0] <= stamps[-1] <= after
        finally:
            await link.close()


async def test_unwanted_events_are_skipped_but_the_link_still_sees_its_own() -> None:
    async with running_server() as server:
        server.channels = [[("Channel", "PJSIP/1001-00000001"), ("Uniqueid", "1.1")]]
        received = Received()
        link = AmiLink(ami_config(server.port), received, wanted_events={"Hangup"})
        link.start()
        try:
            await link.wait_ready(5)  # FullyBooted is always wanted by the link itself
            server.send_event([("Event", "Newexten"), ("Channel", "x")])
            server.send_event([("Event", "Hangup"), ("Channel", "y")])
            items = await link.query_list({"Action": "CoreShowChannels"})
            assert [m["Channel"] for m in items] == ["PJSIP/1001-00000001"]
            assert received.events("Newexten") == []
            assert [m["Channel"] for m in received.events("Hangup")] == ["y"]
        finally:
            await link.close()


async def test_query_list_returns_items_which_also_reach_on_message_once_in_order() -> None:
    async with running_server() as server:
        server.queue_items = [
            [("Event", "QueueParams"), ("Queue", "support"), ("Calls", "1")],
            [("Event", "QueueMember"), ("Queue", "support"), ("Name", "Ali Rezaei")],
            [("Event", "QueueEntry"), ("Queue", "support"), ("Position", "1")],
        ]
        received = Received()
        link = AmiLink(ami_config(server.port), received)
        link.start()
        try:
            await link.wait_ready(5)
            items = await link.query_list([("Action", "QueueStatus")])
            assert [m["Event"] for m in items] == ["QueueParams", "QueueMember", "QueueEntry"]
            delivered = [m.get("Event") for m, _ in received.items if m.get("Queue") == "support"]
            assert delivered == ["QueueParams", "QueueMember", "QueueEntry"]
            assert len(received.events("QueueStatusComplete")) == 1
        finally:
            await link.close()


async def test_reconnects_by_itself_with_backoff_after_the_server_goes_away() -> None:
    async with running_server() as server:
        link = AmiLink(
            ami_config(server.port, reconnect_min_delay=0.05, reconnect_max_delay=0.2),
            Received(),
        )
        link.start()
        try:
            await link.wait_ready(5)
            await server.stop_listening()
            server.drop_clients()
            await wait_until(lambda: link.state is not LinkState.READY)
            with pytest.raises(NotConnected):
                await link.send_action({"Action": "Ping"})
            await asyncio.sleep(0.3)  # a few refused attempts
            await server.start()  # same port
            await link.wait_ready(5)
            assert link.generation == 2
            assert link.stats.connects == 2
            reply = await link.send_action({"Action": "Ping"})
            assert reply["Ping"] == "Pong"
        finally:
            await link.close()


def test_backoff_grows_from_min_to_max_with_jitter() -> None:
    link = AmiLink(ami_config(5038, reconnect_min_delay=0.5, reconnect_max_delay=30), Received())
    first = [link.backoff_delay(0) for _ in range(50)]
    assert all(d == 0.5 for d in first)  # never below the minimum
    fourth = [link.backoff_delay(4) for _ in range(200)]  # base 0.5 * 16 = 8
    assert all(4.0 <= d <= 8.0 for d in fourth)
    assert len(set(fourth)) > 1  # jittered
    late = [link.backoff_delay(40) for _ in range(200)]
    assert all(15.0 <= d <= 30.0 for d in late)


async def test_half_open_link_is_dropped_when_pings_go_unanswered() -> None:
    server = FakeAmi()
    server.answer_pings = False  # the TCP link looks alive but nothing answers
    async with running_server(server):
        link = AmiLink(ami_config(server.port, ping_interval=0.1, ping_timeout=0.2), Received())
        link.start()
        try:
            await link.wait_ready(5)
            await wait_until(lambda: len(server.actions("Ping")) == 1)
            server.answer_pings = True  # that Ping stays unanswered; later ones are answered
            await wait_until(lambda: server.connections == 2)
            await link.wait_ready(5)
            assert link.stats.pings_missed == 1
            assert link.generation == 2
        finally:
            await link.close()


async def test_a_ping_answer_stuck_behind_a_burst_of_events_does_not_drop_the_link() -> None:
    server = FakeAmi()
    server.answer_pings = False  # as if each answer waited behind the burst
    async with running_server(server):
        link = AmiLink(ami_config(server.port, ping_interval=0.1, ping_timeout=0.2), Received())
        link.start()
        try:
            await link.wait_ready(5)
            # Events keep coming for several ping periods: the PBX is alive, only behind.
            for n in range(30):
                server.send_event([("Event", "UserEvent"), ("UserEvent", f"burst-{n}")])
                await asyncio.sleep(0.05)
            assert len(server.actions("Ping")) >= 3
            assert (server.connections, link.stats.pings_missed) == (1, 0)
            # Silence: now an unanswered Ping means a half-open link.
            await wait_until(lambda: link.stats.pings_missed == 1, 5)
        finally:
            await link.close()


async def test_pings_that_are_answered_keep_the_link() -> None:
    async with running_server() as server:
        link = AmiLink(ami_config(server.port, ping_interval=0.05, ping_timeout=0.5), Received())
        link.start()
        try:
            await link.wait_ready(5)
            await wait_until(lambda: len(server.actions("Ping")) >= 4)
            assert server.connections == 1
            assert link.stats.pings_missed == 0
        finally:
            await link.close()


async def test_action_in_flight_when_the_link_drops_is_uncertain_and_never_resent() -> None:
    server = FakeAmi()
    server.answer_originate = False  # the PBX is slow to answer
    async with running_server(server):
        link = AmiLink(ami_config(server.port, action_timeout=5), Received())
        link.start()
        try:
            await link.wait_ready(5)
            originate = asyncio.create_task(
                link.send_action(
                    {
                        "Action": "Originate",
                        "Channel": "Local/1002@from-internal",
                        "Context": "from-internal",
                        "Exten": "02177665544",
                        "Priority": "1",
                        "Async": "true",
                    }
                )
            )
            await wait_until(lambda: len(server.actions("Originate")) == 1)
            server.drop_clients()
            with pytest.raises(ActionUncertain, match="may or may not have reached the PBX"):
                await originate
            await wait_until(lambda: server.connections == 2)
            await link.wait_ready(5)
            await link.send_action({"Action": "Ping"})  # the new connection's queue is flushed
            assert len(server.actions("Originate")) == 1
        finally:
            await link.close()


async def test_action_without_answer_times_out_as_uncertain() -> None:
    server = FakeAmi()
    server.answer_originate = False
    async with running_server(server):
        link = AmiLink(ami_config(server.port), Received())
        link.start()
        try:
            await link.wait_ready(5)
            with pytest.raises(ActionTimeout) as caught:
                await link.send_action({"Action": "Originate", "Channel": "PJSIP/1"}, timeout=0.1)
            assert isinstance(caught.value, ActionUncertain)
            assert link.is_ready  # a slow answer does not drop the link
        finally:
            await link.close()


async def test_action_requested_while_disconnected_fails_fast_and_is_not_queued() -> None:
    async with running_server() as server:
        link = AmiLink(ami_config(server.port), Received())
        with pytest.raises(NotConnected, match="never queued"):
            await link.send_action({"Action": "Originate", "Channel": "PJSIP/1001"})
        link.start()
        try:
            await link.wait_ready(5)
            await link.send_action({"Action": "Ping"})
            assert server.actions("Originate") == []
        finally:
            await link.close()


async def test_error_response_raises_action_failed_with_the_pbx_message() -> None:
    async with running_server() as server:
        link = AmiLink(ami_config(server.port), Received())
        link.start()
        try:
            await link.wait_ready(5)
            with pytest.raises(ActionFailed, match="No such channel") as caught:
                await link.send_action({"Action": "Hangup", "Channel": "PJSIP/9999-00000000"})
            assert caught.value.action == "Hangup"
            with pytest.raises(ActionFailed, match="Invalid/unknown command"):
                await link.query_list({"Action": "NoSuchList"})
        finally:
            await link.close()


async def test_cr_or_lf_in_a_header_is_refused_and_nothing_is_written() -> None:
    async with running_server() as server:
        link = AmiLink(ami_config(server.port), Received())
        link.start()
        try:
            await link.wait_ready(5)
            injected = "Evil\r\n\r\nAction: Command\r\nCommand: core stop now"
            with pytest.raises(ActionEncodingError, match="CR or LF"):
                await link.send_action({"Action": "Setvar", "Variable": "X", "Value": injected})
            with pytest.raises(ActionEncodingError):
                await link.query_list({"Action": "QueueStatus", "Queue": "support\nx"})
            await link.send_action({"Action": "Ping"})
            assert [a["Action"] for a in server.received[-1:]] == ["Ping"]
            assert server.actions("Command") == []
            assert server.actions("Setvar") == []
        finally:
            await link.close()


async def test_a_failing_consumer_does_not_stop_the_stream(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[str] = []

    def consumer(message: dict[str, str], at: float) -> None:
        if message.get("Seq") == "1":
            raise RuntimeError("consumer bug")
        seen.append(message.get("Seq", ""))

    async with running_server() as server:
        link = AmiLink(ami_config(server.port), consumer)
        link.start()
        try:
            await link.wait_ready(5)
            for i in range(3):
                server.send_event([("Event", "UserEvent"), ("Seq", str(i))])
            await wait_until(lambda: "2" in seen)
            assert [s for s in seen if s] == ["0", "2"]
            assert link.stats.callback_errors == 1
            assert "consumer bug" in caplog.text
        finally:
            await link.close()


async def test_close_logs_off_and_stops_reconnecting() -> None:
    async with running_server() as server:
        link = AmiLink(ami_config(server.port), Received())
        link.start()
        await link.wait_ready(5)
        await link.close()
        await wait_until(lambda: len(server.actions("Logoff")) == 1)
        assert link.state is LinkState.STOPPED
        await asyncio.sleep(0.2)  # several reconnect delays
        assert server.connections == 1


def test_secret_with_a_line_break_is_refused_at_start_without_showing_it() -> None:
    config = ami_config(5038, secret="abc\r\nAction: Command")
    with pytest.raises(ValueError, match=r"ami\.secret contains a CR or LF") as caught:
        AmiLink(config, Received())
    assert "abc" not in str(caught.value)


async def test_fully_booted_arriving_late_announces_readiness_again() -> None:
    server = FakeAmi()
    server.send_fully_booted = False  # Asterisk still booting when the hub logs in
    async with running_server(server):
        ready_calls: list[int] = []
        link = AmiLink(
            ami_config(server.port, fully_booted_timeout=0.1),
            Received(),
            on_ready=lambda: ready_calls.append(link.generation),
        )
        link.start()
        try:
            await link.wait_ready(5)
            assert ready_calls == [1]
            server.send_event([("Event", "FullyBooted"), ("Status", "Fully Booted")])
            await wait_until(lambda: len(ready_calls) == 2)
            assert ready_calls == [1, 2]
            server.send_event([("Event", "FullyBooted"), ("Status", "Fully Booted")])
            await link.send_action({"Action": "Ping"})  # a second one changes nothing
            assert ready_calls == [1, 2]
        finally:
            await link.close()
