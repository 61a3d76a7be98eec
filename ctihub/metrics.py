"""The hub's figures in Prometheus form (``GET /metrics``), with the official client library.

One :class:`HubMetrics` per hub, on its own registry (no process-wide
state, so two hubs in one test process do not mix). Most figures are read
from the components when scraped (counters they keep anyway, sizes of live
state); the two latency histograms are observed where the work happens: the
caller lookup through :class:`TimedLookup`, the pop through
:class:`MeasuredPops`, both wrapped here in the composition root so the
components stay free of metrics code.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from cti.events import AgentRinging, Event
from cti.screenpop import CallerInfo, CallerLookup, Outgoing, ScreenPops
from popup_server.auth import User, UserStore

if TYPE_CHECKING:
    from ctihub.daemon import Hub

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class HubMetrics:
    """The registry ``/metrics`` renders, and the histograms and counters fed as work happens."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.pop_latency = Histogram(
            "ctihub_pop_latency_seconds",
            "From the AMI event that rang an agent reaching the hub to its pop queued to the "
            "agent's sockets (the CRM data follows in an update).",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.lookup_latency = Histogram(
            "ctihub_caller_lookup_seconds",
            "One caller lookup in the CRM for a screen pop.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.pops_sent = 0
        self.login_failures = 0

    def watch(self, hub: Hub) -> None:
        """Read the rest of the figures from ``hub`` at each scrape."""
        self.registry.register(_HubCollector(hub, self))

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class TimedLookup:
    """A :class:`~cti.screenpop.CallerLookup` that times each lookup."""

    def __init__(self, inner: CallerLookup, metrics: HubMetrics) -> None:
        self._inner = inner
        self._histogram = metrics.lookup_latency

    async def lookup(self, number: str | None) -> CallerInfo:
        started = time.perf_counter()
        try:
            return await self._inner.lookup(number)
        finally:
            self._histogram.observe(time.perf_counter() - started)

    async def case_by_code(self, code: str) -> Mapping[str, Any] | None:
        return await self._inner.case_by_code(code)


class MeasuredPops(ScreenPops):
    """Screen pops that count what they send and how long after the ring reached the hub.

    An event's ``at`` is when its AMI message arrived (the feed stamps it), so
    the latency covers the tracker, the bus and the fan-out; the pop does not
    wait for the CRM (its customer data follows in an update), and the
    outgoing messages are queued to sockets right after ``handle`` returns.
    On several nodes it includes the clock offset between the AMI holder and
    this node (NTP keeps it to milliseconds).
    """

    def __init__(self, metrics: HubMetrics, **options: Any) -> None:
        super().__init__(**options)
        self._metrics = metrics

    def handle(self, event: Event) -> list[Outgoing]:
        outgoing = super().handle(event)
        pops = sum(len(o.extensions) for o in outgoing if o.message.get("type") == "pop")
        if pops:
            self._metrics.pops_sent += pops
            if isinstance(event, AgentRinging) and event.at is not None:
                self._metrics.pop_latency.observe(max(0.0, time.time() - event.at))
        return outgoing


class CountedUsers:
    """A :class:`~popup_server.auth.UserStore` that counts refused logins."""

    def __init__(self, inner: UserStore, metrics: HubMetrics) -> None:
        self._inner = inner
        self._metrics = metrics

    async def authenticate(self, username: str, password: str) -> User | None:
        user = await self._inner.authenticate(username, password)
        if user is None:
            self._metrics.login_failures += 1
        return user

    async def get(self, user_id: int) -> User | None:
        return await self._inner.get(user_id)

    def __getattr__(self, name: str) -> Any:
        # Anything else the panel's user store offers (admin helpers) is the inner one's.
        return getattr(self._inner, name)


class _HubCollector(Collector):
    def __init__(self, hub: Hub, metrics: HubMetrics) -> None:
        self._hub = hub
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        hub = self._hub
        m = self._metrics
        feed = hub.feed
        yield _gauge("ctihub_pbx_link_held", "1 if this node holds the AMI link.", feed is not None)
        yield _gauge(
            "ctihub_pbx_link_up",
            "1 while this node's AMI link is logged in and resynced enough to track calls.",
            feed is not None and feed.link_state == "up",
        )
        stats = feed.link.stats if feed is not None else None
        yield _counter(
            "ctihub_ami_messages",
            "AMI messages read from the PBX by this node's current link.",
            stats.messages if stats else 0,
        )
        yield _counter(
            "ctihub_ami_connects",
            "AMI (re)connections of the current link.",
            stats.connects if stats else 0,
        )
        yield _gauge(
            "ctihub_calls_live",
            "Calls in progress as the tracker sees them.",
            len(hub.tracker.calls) if feed is not None else 0,
        )
        yield _gauge(
            "ctihub_tracker_lag_seconds",
            "Age of the oldest batch of tracker events not yet published on the bus.",
            hub.publish_lag(),
        )
        yield _gauge(
            "ctihub_tracker_backlog_batches",
            "Batches of tracker events waiting to be published on the bus.",
            hub.publish_backlog(),
        )
        lag = GaugeMetricFamily(
            "ctihub_bus_consumer_lag_events",
            "Events published and not yet processed by a durable consumer (in-process bus).",
            labels=["consumer"],
        )
        behind = GaugeMetricFamily(
            "ctihub_bus_consumer_behind_seconds",
            "How long since a durable consumer last had nothing pending (0 while caught up).",
            labels=["consumer"],
        )
        up = GaugeMetricFamily(
            "ctihub_bus_consumer_up", "1 while a durable consumer runs.", labels=["consumer"]
        )
        restarts = CounterMetricFamily(
            "ctihub_bus_consumer_restarts",
            "Times a durable consumer failed and resumed.",
            labels=["consumer"],
        )
        for health in hub.consumer_health():
            if health.lag_events is not None:
                lag.add_metric([health.name], health.lag_events)
            behind.add_metric([health.name], health.behind_seconds)
            up.add_metric([health.name], 1 if health.state == "running" else 0)
            restarts.add_metric([health.name], health.restarts)
        yield from (lag, behind, up, restarts)
        crm = hub.crm
        if crm is not None:
            writer = crm.call_log
            writes = CounterMetricFamily(
                "ctihub_call_log_writes",
                "Call records by outcome: written, duplicate (already there), spooled, rejected.",
                labels=["outcome"],
            )
            for outcome, count in sorted(writer.outcomes.items()):
                writes.add_metric([outcome], count)
            yield writes
            yield _gauge(
                "ctihub_call_log_spool_depth",
                "Ended calls waiting in the spool for the database.",
                writer.spool.pending(),
            )
        panel = hub.panel_stats()
        sockets = GaugeMetricFamily(
            "ctihub_websocket_connections", "Open panel websockets.", labels=["kind"]
        )
        sockets.add_metric(["agent"], panel.get("agent_sockets", 0))
        sockets.add_metric(["supervisor"], panel.get("supervisor_sockets", 0))
        yield sockets
        yield _counter("ctihub_pops_sent", "Screen pops queued to agents' sockets.", m.pops_sent)
        yield _gauge("ctihub_agi_sessions", "FastAGI sessions in progress.", hub.agi_sessions())
        yield _counter(
            "ctihub_agi_sessions_served", "FastAGI sessions accepted.", hub.agi_sessions_served()
        )
        yield _counter(
            "ctihub_login_failures", "Logins refused (wrong user or password).", m.login_failures
        )


def _gauge(name: str, documentation: str, value: float | bool) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=float(value))


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=float(value))


__all__ = ["CountedUsers", "HubMetrics", "MeasuredPops", "TimedLookup"]
