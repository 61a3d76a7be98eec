"""LocalBus: the in-process event bus."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from cti.bus import (
    LATEST,
    BusClosedError,
    Delivery,
    InvalidPositionError,
    LocalBus,
    ResumeGapError,
    SubscriberOverflowError,
    Subscription,
)
from cti.events import AgentRinging, CallAnswered, QueueCallersChanged
from ctihub.settings import BusConfig, ConfigError, load_settings

EPOCH = 1764350000000


def waiting(n: int) -> QueueCallersChanged:
    return QueueCallersChanged(queue="support", waiting=n, at=None)


async def take(subscription: Subscription, count: int) -> list[Delivery]:
    out = []
    async with asyncio.timeout(2):
        for _ in range(count):
            out.append(await anext(subscription))
    return out


async def test_every_subscriber_gets_every_event_in_publish_order() -> None:
    bus = LocalBus(epoch=EPOCH)
    pops = await bus.subscribe("pops")
    calllog = await bus.subscribe("calllog")
    ringing = AgentRinging("c1", "1001", "support", "09121234567", None, "5000", None, 3, 10.0)
    answered = CallAnswered("c1", "1001", "support", 4, 12.0)
    await bus.publish([waiting(1), ringing])
    await bus.publish([answered])
    await bus.publish([waiting(0)])

    expected = [
        Delivery(f"{EPOCH}-1", waiting(1)),
        Delivery(f"{EPOCH}-2", ringing),
        Delivery(f"{EPOCH}-3", answered),
        Delivery(f"{EPOCH}-4", waiting(0)),
    ]
    assert await take(pops, 4) == expected
    assert await take(calllog, 4) == expected
    assert pops.last_position == f"{EPOCH}-4"


async def test_subscriber_sees_events_published_between_subscribe_and_first_read() -> None:
    bus = LocalBus(epoch=EPOCH)
    await bus.publish([waiting(1)])
    subscription = await bus.subscribe("late")
    await bus.publish([waiting(2)])
    assert await take(subscription, 1) == [Delivery(f"{EPOCH}-2", waiting(2))]


async def test_waiting_subscriber_wakes_when_an_event_is_published() -> None:
    bus = LocalBus(epoch=EPOCH)
    subscription = await bus.subscribe("pops")
    reader = asyncio.create_task(take(subscription, 2))
    await asyncio.sleep(0)
    await bus.publish([waiting(1)])
    await asyncio.sleep(0)
    await bus.publish([waiting(2)])
    assert [d.event for d in await reader] == [waiting(1), waiting(2)]


async def test_resume_delivers_only_events_after_the_given_position() -> None:
    bus = LocalBus(epoch=EPOCH)
    await bus.publish([waiting(n) for n in range(1, 6)])
    subscription = await bus.subscribe("ws-1001", resume_from=f"{EPOCH}-3")
    assert await take(subscription, 2) == [
        Delivery(f"{EPOCH}-4", waiting(4)),
        Delivery(f"{EPOCH}-5", waiting(5)),
    ]


async def test_resume_from_the_last_position_waits_for_new_events() -> None:
    bus = LocalBus(epoch=EPOCH)
    await bus.publish([waiting(1)])
    subscription = await bus.subscribe("ws-1001", resume_from=bus.last_position)
    await bus.publish([waiting(2)])
    assert await take(subscription, 1) == [Delivery(f"{EPOCH}-2", waiting(2))]


async def test_resume_from_a_position_no_longer_retained_raises_gap() -> None:
    bus = LocalBus(retention=3, epoch=EPOCH)
    await bus.publish([waiting(n) for n in range(1, 8)])  # keeps 5, 6, 7
    ok = await bus.subscribe("ws-a", resume_from=f"{EPOCH}-4")
    assert [d.event for d in await take(ok, 3)] == [waiting(5), waiting(6), waiting(7)]

    lost = await bus.subscribe("ws-b", resume_from=f"{EPOCH}-3")
    with pytest.raises(ResumeGapError) as caught:
        await anext(lost)
    assert not isinstance(caught.value, SubscriberOverflowError)
    assert caught.value.position == f"{EPOCH}-3"
    assert "1 event(s)" in str(caught.value)


async def test_position_from_a_previous_bus_instance_is_a_gap_not_a_future_position() -> None:
    before_restart = LocalBus(epoch=EPOCH)
    await before_restart.publish([waiting(n) for n in range(1, 10)])
    after_restart = LocalBus(epoch=EPOCH + 60_000)
    await after_restart.publish([waiting(1)])
    subscription = await after_restart.subscribe("ws", resume_from=f"{EPOCH}-9")
    with pytest.raises(ResumeGapError, match="another bus instance"):
        await anext(subscription)


async def test_position_ahead_of_the_bus_is_a_gap() -> None:
    bus = LocalBus(epoch=EPOCH)
    await bus.publish([waiting(1)])
    subscription = await bus.subscribe("ws", resume_from=f"{EPOCH}-5")
    with pytest.raises(ResumeGapError, match="ahead of"):
        await anext(subscription)


async def test_malformed_position_is_rejected_naming_the_value() -> None:
    bus = LocalBus(epoch=EPOCH)
    with pytest.raises(InvalidPositionError, match="'yesterday'"):
        await bus.subscribe("ws", resume_from="yesterday")


async def test_slow_subscriber_is_dropped_with_an_error_and_publish_never_waits(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = LocalBus(retention=4, epoch=EPOCH)
    slow = await bus.subscribe("slow-panel")
    fast = await bus.subscribe("calllog")
    fast_seen: list[Delivery] = []
    await bus.publish([waiting(1)])
    assert await take(slow, 1) == [Delivery(f"{EPOCH}-1", waiting(1))]
    fast_seen += await take(fast, 1)
    for n in range(2, 12):
        # Completes although "slow" reads nothing: publish does not wait for anyone.
        await asyncio.wait_for(bus.publish([waiting(n)]), timeout=1)
        fast_seen += await take(fast, 1)

    with (
        caplog.at_level(logging.ERROR, logger="cti.bus"),
        pytest.raises(SubscriberOverflowError) as caught,
    ):
        await anext(slow)
    assert caught.value.position == f"{EPOCH}-1"
    assert "slow-panel" in caplog.text
    assert [d.position for d in fast_seen] == [f"{EPOCH}-{n}" for n in range(1, 12)]
    with pytest.raises(StopAsyncIteration):
        await anext(slow)


async def test_dropped_subscriber_can_resync_from_latest() -> None:
    bus = LocalBus(retention=2, epoch=EPOCH)
    slow = await bus.subscribe("panel")
    await bus.publish([waiting(n) for n in range(1, 6)])
    with pytest.raises(SubscriberOverflowError):
        await anext(slow)
    again = await bus.subscribe("panel", resume_from=LATEST)
    await bus.publish([waiting(6)])
    assert await take(again, 1) == [Delivery(f"{EPOCH}-6", waiting(6))]


async def test_close_lets_subscribers_drain_then_ends_them() -> None:
    bus = LocalBus(epoch=EPOCH)
    subscription = await bus.subscribe("calllog")
    await bus.publish([waiting(1), waiting(2)])
    await bus.close()
    with pytest.raises(BusClosedError):
        await bus.publish([waiting(3)])
    with pytest.raises(BusClosedError):
        await bus.subscribe("late")
    assert [d.event async for d in subscription] == [waiting(1), waiting(2)]


async def test_close_ends_a_subscriber_waiting_for_events() -> None:
    bus = LocalBus(epoch=EPOCH)
    subscription = await bus.subscribe("calllog")

    async def read_all() -> list[Delivery]:
        return [d async for d in subscription]

    reader = asyncio.create_task(read_all())
    await asyncio.sleep(0)
    await bus.publish([waiting(1)])
    await bus.close()
    assert await asyncio.wait_for(reader, timeout=2) == [Delivery(f"{EPOCH}-1", waiting(1))]


async def test_closing_one_subscription_leaves_the_others_reading() -> None:
    bus = LocalBus(epoch=EPOCH)
    leaving = await bus.subscribe("leaving")
    staying = await bus.subscribe("staying")
    leaving_reader = asyncio.create_task(anext(leaving))
    staying_reader = asyncio.create_task(anext(staying))
    await asyncio.sleep(0)
    assert bus.subscriber_count == 2
    await leaving.aclose()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(leaving_reader, timeout=2)
    assert bus.subscriber_count == 1
    await bus.publish([waiting(1)])
    assert await asyncio.wait_for(staying_reader, timeout=2) == Delivery(f"{EPOCH}-1", waiting(1))


async def test_cancelled_reader_does_not_disturb_the_other_readers() -> None:
    bus = LocalBus(epoch=EPOCH)
    first = await bus.subscribe("first")
    second = await bus.subscribe("second")
    cancelled = asyncio.create_task(anext(first))
    survivor = asyncio.create_task(anext(second))
    await asyncio.sleep(0)
    cancelled.cancel()
    await asyncio.sleep(0)
    await bus.publish([waiting(7)])
    assert await asyncio.wait_for(survivor, timeout=2) == Delivery(f"{EPOCH}-1", waiting(7))
    # The cancelled subscriber has lost nothing either.
    assert await take(first, 1) == [Delivery(f"{EPOCH}-1", waiting(7))]


async def test_async_with_closes_the_subscription() -> None:
    bus = LocalBus(epoch=EPOCH)
    async with await bus.subscribe("calllog") as subscription:
        await bus.publish([waiting(1)])
        assert (await anext(subscription)).event == waiting(1)
    await bus.publish([waiting(2)])
    with pytest.raises(StopAsyncIteration):
        await anext(subscription)


def test_bus_config_rejects_a_read_batch_not_below_the_stream_length() -> None:
    with pytest.raises(ConfigError, match=r"bus .*read_count \(100\) must be below stream_maxlen"):
        load_settings(env={"CTIHUB_BUS__STREAM_MAXLEN": "100", "CTIHUB_BUS__READ_COUNT": "100"})


def test_example_config_documents_the_bus_defaults() -> None:
    example = Path(__file__).resolve().parents[2] / "ctihub" / "examples" / "ctihub.example.toml"
    settings = load_settings(example, env={})
    assert settings.bus == BusConfig()
    assert settings.bus.backend == "local"


async def test_a_reader_that_starts_late_learns_the_last_pbx_link_state() -> None:
    from cti.events import PbxLinkChanged, QueueCallersChanged

    bus = LocalBus(retention=2)
    assert await bus.latest("pbx_link_changed") is None
    await bus.publish([PbxLinkChanged("down", "connection lost", 1.0)])
    await bus.publish([PbxLinkChanged("up", None, 2.0)])
    # Enough other events to push both out of the ring: the state is still known.
    await bus.publish([QueueCallersChanged("support", n, 3.0) for n in range(5)])
    assert await bus.latest("pbx_link_changed") == PbxLinkChanged("up", None, 2.0)
    assert await bus.latest("queue_callers_changed") is None, "only sticky types are kept"


async def test_durable_subscriber_far_behind_the_window_still_gets_every_event() -> None:
    bus = LocalBus(retention=10, epoch=EPOCH, durable=["call-log"])
    calllog = await bus.subscribe("call-log")
    panel = await bus.subscribe("panel")
    # A burst 600 times the window: the panel (ordinary) is dropped, the call log is not.
    for n in range(1, 6001):
        await bus.publish([waiting(n)])
    seen = [d.event for d in await take(calllog, 6000)]
    assert seen == [waiting(n) for n in range(1, 6001)]
    await anext_pending(calllog)
    # Once read, the backlog is let go: only the window stays in memory.
    assert bus.retained == 10
    assert bus.backlog("call-log") == 0
    with pytest.raises(SubscriberOverflowError):
        await anext(panel)


async def anext_pending(subscription: Subscription) -> None:
    """Ask for the next event (marking the last processed) without waiting for one."""
    task = asyncio.ensure_future(anext(subscription))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_durable_subscriber_resumes_after_its_last_processed_event() -> None:
    bus = LocalBus(retention=3, epoch=EPOCH, durable=["call-log"])
    first = await bus.subscribe("call-log")
    await bus.publish([waiting(n) for n in range(1, 9)])
    assert [d.event for d in await take(first, 2)] == [waiting(1), waiting(2)]
    await first.aclose()  # done with 2 (a clean stop counts the event in hand as processed)
    await bus.publish([waiting(9)])
    second = await bus.subscribe("call-log")
    assert [d.event for d in await take(second, 7)] == [waiting(n) for n in range(3, 10)]


async def test_durable_consumer_that_fails_gets_the_event_in_hand_again() -> None:
    bus = LocalBus(retention=2, epoch=EPOCH, durable=["call-log"])
    await bus.subscribe("call-log")
    await bus.publish([waiting(n) for n in range(1, 6)])
    crashing = await bus.subscribe("call-log")
    with pytest.raises(RuntimeError):
        async with crashing:
            async for delivery in crashing:
                if delivery.event == waiting(3):
                    raise RuntimeError("database exploded")
    again = await bus.subscribe("call-log")
    assert [d.event for d in await take(again, 3)] == [waiting(3), waiting(4), waiting(5)]


async def test_publish_waits_for_a_durable_subscriber_at_the_backlog_limit() -> None:
    bus = LocalBus(retention=2, epoch=EPOCH, durable=["call-log"], max_backlog=5)
    calllog = await bus.subscribe("call-log")
    await bus.publish([waiting(n) for n in range(1, 6)])
    blocked = asyncio.ensure_future(bus.publish([waiting(6)]))
    await asyncio.sleep(0.01)
    assert not blocked.done()
    # Taking the third event marks the first two processed: room for one more batch.
    assert [d.event for d in await take(calllog, 3)] == [waiting(n) for n in range(1, 4)]
    await asyncio.wait_for(blocked, 1)
    assert [d.event for d in await take(calllog, 3)] == [waiting(n) for n in range(4, 7)]


async def test_caught_up_returns_once_the_consumer_handled_everything_published() -> None:
    bus = LocalBus(epoch=EPOCH)
    subscription = await bus.subscribe("call-log")
    handled: list[int] = []

    async def consume() -> None:
        async for delivery in subscription:
            await asyncio.sleep(0.001)
            assert isinstance(delivery.event, QueueCallersChanged)
            handled.append(delivery.event.waiting)

    task = asyncio.create_task(consume())
    await bus.publish([waiting(n) for n in range(1, 51)])
    assert not subscription.is_caught_up
    await asyncio.wait_for(subscription.caught_up(), 2)
    assert handled == list(range(1, 51))
    assert subscription.is_caught_up
    task.cancel()
