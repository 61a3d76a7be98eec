"""RedisStreamBus and RedisLease against a real Redis, with two hub nodes."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from redis.asyncio import Redis

from cti.bus import (
    LATEST,
    BusUnavailableError,
    Delivery,
    ResumeGapError,
    SubscriberOverflowError,
    Subscription,
)
from cti.events import CallEnded, QueueCallersChanged, Transfer
from ctihub.redis_bus import RedisLease, RedisStreamBus
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.redis

_REDIS = urlsplit(REDIS_URL)
REDIS_HOST, REDIS_PORT = _REDIS.hostname or "127.0.0.1", _REDIS.port or 6379
REPO_ROOT = Path(__file__).resolve().parents[2]


def node(prefix: str, url: str = REDIS_URL, **options: int | float) -> RedisStreamBus:
    settings: dict[str, int | float] = {"block_seconds": 0.5, "command_timeout": 2.0}
    settings.update(options)
    return RedisStreamBus(url, key_prefix=prefix, **settings)  # type: ignore[arg-type]


def waiting(n: int) -> QueueCallersChanged:
    return QueueCallersChanged(queue="support", waiting=n, at=1764350000.5)


async def take(subscription: Subscription, count: int) -> list[Delivery]:
    out = []
    async with asyncio.timeout(5):
        for _ in range(count):
            out.append(await anext(subscription))
    return out


async def stream_ids(redis: Redis, prefix: str) -> list[str]:
    entries = await redis.xrange(f"{prefix}events")
    return [entry_id.decode() for entry_id, _ in entries or () if isinstance(entry_id, bytes)]


class FlakyRedisProxy:
    """A TCP hop to Redis that can be cut (connections reset) or blackholed (data swallowed)."""

    def __init__(self) -> None:
        self.mode = "forward"
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}/0"

    def cut(self) -> None:
        self.mode = "cut"
        for writer in list(self._writers):
            writer.close()

    def blackhole(self) -> None:
        self.mode = "blackhole"

    def restore(self) -> None:
        self.mode = "forward"

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "cut":
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection(REDIS_HOST, REDIS_PORT)
        self._writers |= {writer, up_writer}
        await asyncio.gather(
            self._pump(reader, up_writer), self._pump(up_reader, writer), return_exceptions=True
        )
        self._writers -= {writer, up_writer}
        writer.close()
        up_writer.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            if self.mode != "forward":
                continue
            writer.write(data)
            await writer.drain()
        writer.close()


@pytest.fixture
async def proxy() -> AsyncIterator[FlakyRedisProxy]:
    hop = FlakyRedisProxy()
    yield hop
    await hop.close()


# The bus


async def test_node_b_receives_what_node_a_publishes_in_order_and_intact(
    redis: Redis, redis_prefix: str
) -> None:
    node_a, node_b = node(redis_prefix), node(redis_prefix)
    pops = await node_b.subscribe("node-b/pops")
    ended = CallEnded(
        call_id="1764350000.12",
        direction="inbound",
        caller="09121234567",
        caller_name=None,
        dialed="5000",
        queue="support",
        agent="1002",
        agents_rung=("1001", "1002"),
        disposition="answered",
        wait_seconds=7,
        talk_seconds=31,
        recording="/var/spool/asterisk/monitor/q-5000.wav",
        transfers=(Transfer("1001", "1002", "blind"),),
        ivr_input="40012345",
        variables=(("CTIHUB_CASE", "40012345"),),
        hangup_cause=16,
        started_at=1764350000.0,
        answered_at=1764350007.0,
        ended_at=1764350038.0,
    )
    await node_a.publish([waiting(1), waiting(2)])
    await node_a.publish([ended])
    await node_a.publish([waiting(0)])

    received = await take(pops, 4)
    assert [d.event for d in received] == [waiting(1), waiting(2), ended, waiting(0)]
    assert [d.position for d in received] == await stream_ids(redis, redis_prefix)
    await node_a.close()
    await node_b.close()


async def test_caller_given_position_resumes_on_another_node(
    redis: Redis, redis_prefix: str
) -> None:
    node_a, node_b = node(redis_prefix), node(redis_prefix)
    await node_a.publish([waiting(n) for n in range(1, 5)])
    second = (await stream_ids(redis, redis_prefix))[1]
    # An agent's browser reconnects to node B with the last position node A gave it.
    subscription = await node_b.subscribe("ws-1001-reconnect", resume_from=second)
    assert [d.event for d in await take(subscription, 2)] == [waiting(3), waiting(4)]
    await node_a.close()
    await node_b.close()


async def test_restarted_node_resumes_from_its_cursor_without_loss_or_duplicates(
    redis_prefix: str,
) -> None:
    node_a, node_b = node(redis_prefix), node(redis_prefix)
    calllog = await node_b.subscribe("node-b/calllog")
    await node_a.publish([waiting(n) for n in range(1, 6)])
    assert [d.event for d in await take(calllog, 2)] == [waiting(1), waiting(2)]
    await calllog.aclose()  # a clean restart: done with what it received
    await node_b.close()

    await node_a.publish([waiting(6)])
    node_b_again = node(redis_prefix)
    calllog = await node_b_again.subscribe("node-b/calllog")
    assert [d.event for d in await take(calllog, 4)] == [waiting(n) for n in range(3, 7)]
    await node_a.publish([waiting(7)])
    assert [d.event for d in await take(calllog, 1)] == [waiting(7)]
    await node_a.close()
    await node_b_again.close()


async def test_killed_node_repeats_nothing_it_finished_before_waiting(redis_prefix: str) -> None:
    node_a, node_b = node(redis_prefix), node(redis_prefix)
    calllog = await node_b.subscribe("node-b/calllog")
    await node_a.publish([waiting(1), waiting(2)])
    await take(calllog, 2)
    # Asking for the next event marks both processed; the cursor travels with that read.
    waiter = asyncio.create_task(anext(calllog))
    await asyncio.sleep(0.2)
    waiter.cancel()  # the node dies here: no close, no cursor write of its own

    node_b_again = node(redis_prefix)
    calllog_again = await node_b_again.subscribe("node-b/calllog")
    await node_a.publish([waiting(3)])
    assert [d.event for d in await take(calllog_again, 1)] == [waiting(3)]
    await node_a.close()
    await node_b_again.close()
    await node_b.close()


async def test_event_in_hand_when_the_consumer_fails_is_delivered_again(redis_prefix: str) -> None:
    node_a, node_b = node(redis_prefix), node(redis_prefix)
    await node_b.subscribe("node-b/calllog")  # starts the cursor before the events
    await node_b.close()
    await node_a.publish([waiting(1), waiting(2)])

    node_b = node(redis_prefix)
    with pytest.raises(RuntimeError, match="database down"):
        async with await node_b.subscribe("node-b/calllog") as calllog:
            async for delivery in calllog:
                if delivery.event == waiting(2):
                    raise RuntimeError("database down")
    await node_b.close()

    node_b = node(redis_prefix)
    calllog = await node_b.subscribe("node-b/calllog")
    assert [d.event for d in await take(calllog, 1)] == [waiting(2)]
    await node_a.close()
    await node_b.close()


async def test_subscriber_rides_out_a_redis_outage_without_loss(
    redis_prefix: str, proxy: FlakyRedisProxy
) -> None:
    node_a = node(redis_prefix)
    node_b = node(redis_prefix, await proxy.start(), command_timeout=0.5)
    pops = await node_b.subscribe("node-b/pops")
    await node_a.publish([waiting(1)])
    assert [d.event for d in await take(pops, 1)] == [waiting(1)]

    reader = asyncio.create_task(take(pops, 3))
    await asyncio.sleep(0.1)
    proxy.cut()
    await node_a.publish([waiting(2), waiting(3)])
    await node_a.publish([waiting(4)])
    await asyncio.sleep(0.3)
    proxy.restore()
    assert [d.event for d in await reader] == [waiting(2), waiting(3), waiting(4)]
    await node_a.close()
    await node_b.close()


async def test_resume_from_a_trimmed_position_raises_gap(redis: Redis, redis_prefix: str) -> None:
    node_a = node(redis_prefix, stream_maxlen=100, read_count=10)
    await node_a.publish([waiting(0)])
    first = (await stream_ids(redis, redis_prefix))[0]
    for start in range(1, 400, 50):
        await node_a.publish([waiting(n) for n in range(start, start + 50)])
    assert first not in await stream_ids(redis, redis_prefix)  # trimming happened

    node_b = node(redis_prefix)
    late = await node_b.subscribe("ws-1001", resume_from=first)
    with pytest.raises(ResumeGapError) as caught:
        await anext(late)
    assert not isinstance(caught.value, SubscriberOverflowError)
    assert "were trimmed" in str(caught.value)
    await node_a.close()
    await node_b.close()


async def test_lagging_subscriber_is_dropped_before_it_skips_anything(
    redis: Redis, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    node_a = node(redis_prefix, stream_maxlen=100, read_count=10)
    node_b = node(redis_prefix, stream_maxlen=100, read_count=10)
    slow = await node_b.subscribe("node-b/slow")
    await node_a.publish([waiting(n) for n in range(5)])
    delivered = [d.event for d in await take(slow, 1)]
    for start in range(5, 400, 50):
        await node_a.publish([waiting(n) for n in range(start, start + 50)])

    with (
        caplog.at_level(logging.ERROR, logger="ctihub.redis_bus"),
        pytest.raises(SubscriberOverflowError),
    ):
        async with asyncio.timeout(5):
            async for delivery in slow:
                delivered.append(delivery.event)
    # What was delivered is an unbroken prefix of what was published.
    assert delivered == [waiting(n) for n in range(len(delivered))]
    assert "node-b/slow" in caplog.text
    await node_a.close()
    await node_b.close()


async def test_undecodable_entry_is_skipped_with_a_warning(
    redis: Redis, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    node_a, node_b = node(redis_prefix), node(redis_prefix)
    pops = await node_b.subscribe("node-b/pops")
    await node_a.publish([waiting(1)])
    await redis.xadd(f"{redis_prefix}events", {"e": '{"type": "call_teleported", "call_id": "x"}'})
    await node_a.publish([waiting(2)])
    with caplog.at_level(logging.WARNING, logger="ctihub.redis_bus"):
        assert [d.event for d in await take(pops, 2)] == [waiting(1), waiting(2)]
    assert "call_teleported" in caplog.text
    await node_a.close()
    await node_b.close()


async def test_publish_without_redis_raises_bus_unavailable(proxy: FlakyRedisProxy) -> None:
    url = await proxy.start()
    proxy.cut()
    bus = RedisStreamBus(url, key_prefix="test-ctihub:unreachable:", command_timeout=0.5)
    with pytest.raises(BusUnavailableError, match="1 event"):
        await bus.publish([waiting(1)])
    await bus.close()


async def test_close_ends_a_subscriber_blocked_in_a_read(redis_prefix: str) -> None:
    bus = node(redis_prefix, block_seconds=30)
    subscription = await bus.subscribe("node-b/pops", resume_from=LATEST)
    reader = asyncio.create_task(anext(subscription))
    await asyncio.sleep(0.1)
    await bus.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(reader, timeout=2)


# The AMI lease


def lease(prefix: str, node_id: str, ttl: float = 1.0, url: str = REDIS_URL) -> RedisLease:
    return RedisLease(url, key=f"{prefix}ami-lease", node_id=node_id, ttl=ttl)


class Job:
    """Stands for the AMI link: runs until cancelled, and says when."""

    def __init__(self) -> None:
        self.running = asyncio.Event()
        self.stopped = asyncio.Event()
        self.starts = 0

    async def __call__(self) -> None:
        self.starts += 1
        self.stopped.clear()
        self.running.set()
        try:
            await asyncio.Event().wait()
        finally:
            self.running.clear()
            self.stopped.set()


async def test_only_one_of_two_contenders_runs_the_job(redis_prefix: str) -> None:
    lease_a, lease_b = lease(redis_prefix, "node-a"), lease(redis_prefix, "node-b")
    job_a, job_b = Job(), Job()
    run_a = asyncio.create_task(lease_a.run(job_a))
    await asyncio.wait_for(job_a.running.wait(), timeout=3)
    run_b = asyncio.create_task(lease_b.run(job_b))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(job_b.running.wait(), timeout=2.5)  # 2.5 ttl of renewals
    assert await lease_b.current_holder() == "node-a"
    assert lease_a.held and not lease_b.held

    run_a.cancel()  # a clean stop releases the lease
    await asyncio.wait({run_a})
    assert job_a.stopped.is_set()
    await asyncio.wait_for(job_b.running.wait(), timeout=3)
    assert await lease_b.current_holder() == "node-b"
    run_b.cancel()
    await asyncio.wait({run_b})
    assert await lease_b.current_holder() is None
    await lease_a.close()
    await lease_b.close()


HOLDER_PROCESS = """
import asyncio, sys
from ctihub.redis_bus import RedisLease

async def main():
    lease = RedisLease(sys.argv[1], key=sys.argv[2], node_id="node-a", ttl=float(sys.argv[3]))
    async def job():
        print("HOLDING", flush=True)
        await asyncio.Event().wait()
    await lease.run(job)

asyncio.run(main())
"""


async def test_holder_killed_without_release_is_replaced_after_its_ttl(redis_prefix: str) -> None:
    ttl = 1.5
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLDER_PROCESS,
        REDIS_URL,
        f"{redis_prefix}ami-lease",
        str(ttl),
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert await asyncio.wait_for(holder.stdout.readline(), timeout=15) == b"HOLDING\n"
        lease_b, job_b = lease(redis_prefix, "node-b", ttl=ttl), Job()
        run_b = asyncio.create_task(lease_b.run(job_b))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(job_b.running.wait(), timeout=ttl * 1.5)
        assert await lease_b.current_holder() == "node-a"

        holder.send_signal(signal.SIGKILL)
        await holder.wait()
        # Expiry after at most ttl, then the next attempt a third of it later.
        await asyncio.wait_for(job_b.running.wait(), timeout=ttl * 3)
        assert await lease_b.current_holder() == "node-b"
        run_b.cancel()
        await asyncio.wait({run_b})
        await lease_b.close()
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()


async def test_holder_whose_key_was_stolen_stops_its_job_and_contends_again(
    redis: Redis, redis_prefix: str
) -> None:
    holder, job = lease(redis_prefix, "node-a"), Job()
    losses: list[str] = []
    run = asyncio.create_task(holder.run(job, on_lost=losses.append))
    await asyncio.wait_for(job.running.wait(), timeout=3)

    await redis.set(f"{redis_prefix}ami-lease", "node-z/intruder", px=60_000)
    await asyncio.wait_for(job.stopped.wait(), timeout=3)
    assert losses == ["the key expired or is held by another node"]
    # Not deleted by node-a:
    assert await redis.get(f"{redis_prefix}ami-lease") == b"node-z/intruder"

    await redis.delete(f"{redis_prefix}ami-lease")
    await asyncio.wait_for(job.running.wait(), timeout=3)
    assert job.starts == 2
    run.cancel()
    await asyncio.wait({run})
    await holder.close()


async def test_holder_cut_off_from_redis_stops_before_its_key_expires(
    redis: Redis, redis_prefix: str, proxy: FlakyRedisProxy
) -> None:
    holder, job = lease(redis_prefix, "node-a", ttl=1.5, url=await proxy.start()), Job()
    lost = asyncio.Event()
    run = asyncio.create_task(holder.run(job, on_lost=lambda reason: lost.set()))
    await asyncio.wait_for(job.running.wait(), timeout=3)

    proxy.blackhole()  # renewals now hang until their deadline
    await asyncio.wait_for(lost.wait(), timeout=3)
    assert job.stopped.is_set()
    # The job is already stopped while Redis still keeps the key from anyone else.
    assert await redis.pttl(f"{redis_prefix}ami-lease") > 0
    assert not holder.held
    run.cancel()
    await asyncio.wait({run})
    await holder.close()


async def test_job_that_ends_releases_the_lease(redis: Redis, redis_prefix: str) -> None:
    holder = lease(redis_prefix, "node-a")

    async def short_job() -> None:
        assert await redis.exists(f"{redis_prefix}ami-lease") == 1

    await asyncio.wait_for(holder.run(short_job), timeout=3)
    assert await redis.exists(f"{redis_prefix}ami-lease") == 0
    await holder.close()


async def test_a_node_that_starts_late_learns_the_last_pbx_link_state(
    redis: Redis, redis_prefix: str
) -> None:
    from cti.events import PbxLinkChanged

    holder, late = node(redis_prefix), node(redis_prefix)
    try:
        assert await late.latest("pbx_link_changed") is None
        await holder.publish([PbxLinkChanged("auth_failed", "Authentication failed", 5.0)])
        await holder.publish([PbxLinkChanged("up", None, 9.0)])
        assert await late.latest("pbx_link_changed") == PbxLinkChanged("up", None, 9.0)
    finally:
        await holder.close()
        await late.close()
