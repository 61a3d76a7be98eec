"""Bus hop: time from ``publish`` to the subscriber holding the event, LocalBus and Redis.

One event at a time, to a subscriber waiting in its own task, the next
published only once the previous arrived: the latency of an idle bus, the
case of a screen pop. The
event carries ``perf_counter()`` at publish in its ``at`` field; publisher
and subscriber share the process, so the clocks agree.

- ``local``: :class:`cti.bus.LocalBus`, one subscriber.
- ``redis``: two :class:`ctihub.redis_bus.RedisStreamBus` instances, as two
  nodes: node A publishes, node B's subscriber receives (XADD in MULTI, then
  XREAD BLOCK). Baseline, same run: a bare ``PING`` round trip with redis-py
  (hiredis) on the same server, so the hop is read in round trips.
- ``bus_redis_events_per_s``: end-to-end rate with batches of 50 events
  (node A publishing while node B reads), the rate a busy tracker gets.

Needs Redis at 127.0.0.1:6379 for the redis figures (skipped, and said so,
when absent). Keys live under a prefix of their own and are deleted after.
Run alone with ``python -m bench.bus_hop``.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
import uuid
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from cti.bus import LATEST, EventBus, LocalBus, Subscription
from cti.events import QueueCallersChanged
from ctihub.redis_bus import RedisStreamBus

log = logging.getLogger(__name__)

REDIS_URL = "redis://127.0.0.1:6379/0"
HOPS_LOCAL = 5_000
HOPS_REDIS = 2_000
WARMUP = 100
RATE_EVENTS = 20_000
RATE_BATCH = 50


def _percentiles(samples_s: list[float]) -> tuple[float, float]:
    """p50 and p99 of ``samples_s`` (seconds), in milliseconds."""
    cuts = statistics.quantiles(samples_s, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


async def _hops(publisher: EventBus, subscription: Subscription, count: int) -> list[float]:
    """Publish ``count`` (+ warm-up) events one by one to a subscriber waiting in its own task."""
    samples: list[float] = []
    arrived = asyncio.Event()

    async def receive() -> None:
        for n in range(WARMUP + count):
            delivery = await anext(subscription)
            elapsed = time.perf_counter() - (delivery.event.at or 0.0)  # type: ignore[attr-defined]
            if n >= WARMUP:
                samples.append(elapsed)
            arrived.set()

    receiver = asyncio.create_task(receive())
    for n in range(WARMUP + count):
        arrived.clear()
        # Let the receiver get back to waiting, as a subscriber between two calls would be.
        await asyncio.sleep(0)
        await publisher.publish([QueueCallersChanged("bench", n, time.perf_counter())])
        await arrived.wait()
    await receiver
    return samples


async def _local() -> dict[str, float]:
    bus = LocalBus()
    subscription = await bus.subscribe("bench")
    p50, p99 = _percentiles(await _hops(bus, subscription, HOPS_LOCAL))
    await bus.close()
    return {"bus_hop_p50_ms_local": p50, "bus_hop_p99_ms_local": p99}


async def _redis() -> dict[str, float]:
    prefix = f"bench-ctihub:{uuid.uuid4().hex}:"
    client = Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        pings = []
        for n in range(WARMUP + HOPS_REDIS):
            started = time.perf_counter()
            await client.ping()
            if n >= WARMUP:
                pings.append(time.perf_counter() - started)
        ping_p50, ping_p99 = _percentiles(pings)

        node_a = RedisStreamBus(REDIS_URL, key_prefix=prefix)
        node_b = RedisStreamBus(REDIS_URL, key_prefix=prefix)
        subscription = await node_b.subscribe("node-b/bench", resume_from=LATEST)
        hop_p50, hop_p99 = _percentiles(await _hops(node_a, subscription, HOPS_REDIS))

        async def read_all() -> None:
            for _ in range(RATE_EVENTS):
                await anext(subscription)

        started = time.perf_counter()
        reader = asyncio.create_task(read_all())
        for first in range(0, RATE_EVENTS, RATE_BATCH):
            await node_a.publish(
                [QueueCallersChanged("bench", n, None) for n in range(first, first + RATE_BATCH)]
            )
        await reader
        rate = RATE_EVENTS / (time.perf_counter() - started)
        await subscription.aclose()
        await node_a.close()
        await node_b.close()
    finally:
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
    return {
        "bus_hop_p50_ms_redis": hop_p50,
        "bus_hop_p99_ms_redis": hop_p99,
        "redis_ping_p50_ms": ping_p50,
        "redis_ping_p99_ms": ping_p99,
        "bus_hop_redis_vs_ping_p50_ratio": hop_p50 / ping_p50,
        "bus_redis_events_per_s": rate,
    }


async def _redis_reachable() -> bool:
    client = Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        await client.ping()
        return True
    except (RedisConnectionError, OSError):
        return False
    finally:
        await client.aclose()


def run() -> dict[str, Any]:
    """Measure and return the figures (keys ``bus_hop_*``, ``redis_ping_*``, ``bus_redis_*``)."""

    async def measure() -> dict[str, Any]:
        figures: dict[str, Any] = dict(await _local())
        if await _redis_reachable():
            figures.update(await _redis())
        else:
            log.warning("bus_hop: no Redis at %s, redis figures skipped", REDIS_URL)
        return figures

    return asyncio.run(measure())


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key:36} {value:.4g}")
