"""The daemon's wiring: every component built from Settings, started and stopped in order.

This is the one place that knows all the parts. Data flows as DESIGN.md draws
it: the PBX feed turns AMI into domain events and publishes them on the bus;
the call log, the screen pops and (on Redis) the other nodes read the bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import secrets
import signal
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from crm_sync import tracking_codes
from crm_sync.alerts import alert_service
from crm_sync.audit import AuditLog
from crm_sync.commands import DEMO_PASSWORD, demo_callers, seed_demo
from crm_sync.people import People
from crm_sync.runtime import CrmRuntime, open_crm
from cti.bus import BusClosedError, EventBus, LocalBus
from cti.events import Event
from cti.tracker import CallTracker
from ctihub.admin_backend import import_from_ami
from ctihub.consumers import ConsumerHealth, DurableConsumer
from ctihub.first_start import FIRST_ADMIN_COMMAND
from ctihub.panel_backend import crm_panel_backends
from ctihub.pbx_actions import AmiPbxActions
from ctihub.redis_bus import RedisLease, RedisStreamBus
from ctihub.settings import Settings, chosen_pbx, phone_normaliser
from pbx_adapters.ami import AmiError
from pbx_adapters.ami_actions import AmiActions
from pbx_adapters.fastagi import FastAgiServer
from pbx_adapters.ivr import CallerProfile, CaseStatus, IvrPrompts, IvrScripts
from pbx_adapters.pbx_feed import PbxFeed
from pbx_adapters.settings import AmiConfig
from pbx_adapters.simulator import Simulator, simulator_from_settings
from pbx_adapters.simulator.spec import MONITOR_DIR
from popup_server.app import create_app, start_server
from popup_server.ports import AdminRefused, JsonObject, PbxActionError, SpyMode
from recordings.library import RecordingLibrary
from recordings.service import RecordingService

log = logging.getLogger(__name__)

CALL_LOG = "call-log"
RECORDINGS = "recordings"
CALLBACKS = "callbacks"
ALERTS = "alerts"
DURABLE_CONSUMERS = (CALL_LOG, RECORDINGS, CALLBACKS)
"""Bus subscribers that must see every event: never dropped, resumed where they stopped."""


class LinkHolderActions:
    """Panel actions over whichever PBX feed this node drives right now.

    With the Redis bus only the node holding the AMI lease has a link; on the
    others click-to-call fails with a clear message rather than silently.
    """

    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    def _current(self) -> AmiPbxActions:
        feed = self._hub.feed
        if feed is None:
            raise PbxActionError("this hub node does not hold the PBX link right now")
        ami = self._hub.ami_config
        return AmiPbxActions(
            AmiActions(feed.link),
            originate_channel=ami.originate_channel,
            originate_context=ami.originate_context,
            member_interface=ami.member_interface,
            member_state_interface=ami.member_state_interface,
            transfer_context=ami.transfer_context,
            spy_channel_prefix=ami.spy_channel_prefix,
        )

    async def originate(self, extension: str, number: str) -> None:
        await self._current().originate(extension, number)

    async def hold(self, extension: str, call_id: str, on: bool) -> None:
        await self._current().hold(extension, call_id, on)

    async def transfer(self, extension: str, call_id: str, to: str, *, attended: bool) -> None:
        await self._current().transfer(extension, call_id, to, attended=attended)

    async def hangup(self, extension: str, call_id: str) -> None:
        await self._current().hangup(extension, call_id)

    async def queue_login(self, extension: str, queue: str, member_name: str) -> None:
        await self._current().queue_login(extension, queue, member_name)

    async def queue_logout(self, extension: str, queue: str) -> None:
        await self._current().queue_logout(extension, queue)

    async def spy(self, supervisor_extension: str, agent_extension: str, mode: SpyMode) -> None:
        await self._current().spy(supervisor_extension, agent_extension, mode)

    async def queue_pause(
        self, extension: str, paused: bool, reason: str | None, queue: str | None = None
    ) -> None:
        await self._current().queue_pause(extension, paused, reason, queue)


class CrmIvrDirectory:
    """The IVR's view of the CRM (:class:`pbx_adapters.ivr.IvrDirectory`)."""

    def __init__(self, crm: CrmRuntime, code_length: int) -> None:
        self._crm = crm
        self._code_length = code_length

    def is_well_formed(self, code: str) -> bool:
        return tracking_codes.is_well_formed(code, self._code_length)

    async def caller_profile(self, caller: str) -> CallerProfile:
        best = (await self._crm.directory.lookup(caller)).best
        if best is None:
            return CallerProfile("none")
        return CallerProfile(best.contract.state, str(best.id), best.owner_extension, best.vip)

    async def case_by_code(self, code: str) -> CaseStatus | None:
        found = await self._crm.cases.find_with_owner(code)
        if found is None:
            return None
        case, owner = found
        return CaseStatus(case.tracking_code, case.status, owner)


@dataclass(slots=True)
class _Running:
    """What :class:`Hub` started, so that it can stop exactly that, in reverse."""

    stops: list[tuple[str, Callable[[], Awaitable[object]]]] = field(default_factory=list)


class Hub:
    """The whole daemon on one node."""

    def __init__(self, settings: Settings, *, demo: bool = False) -> None:
        settings = chosen_pbx(settings, demo=demo)
        settings = with_demo_recordings(settings) if demo else settings
        self.settings = settings
        self.demo = demo
        self.tracker = CallTracker(settings.tracker)
        self.normaliser = phone_normaliser(settings)
        self.bus: EventBus = self._make_bus()
        self.panel_url: str | None = None
        self.ami_port: int | None = None
        self.simulator: Simulator | None = None
        """The simulated PBX, when ``pbx = "simulator"`` (tests place calls on it)."""
        self.agi_port: int | None = None
        self._running = _Running()
        self._outbox: asyncio.Queue[list[Event]] = asyncio.Queue()
        self.feed: PbxFeed | None = None
        self.ami_config: AmiConfig = settings.ami
        self.node_id = settings.bus.node_id or socket.gethostname()
        self._crm: CrmRuntime | None = None
        self.recordings = RecordingLibrary.from_config(settings.recordings)
        self.consumers: dict[str, DurableConsumer] = {}
        """The must-see-everything consumers this node runs now (while it holds the PBX link)."""

    def _make_bus(self) -> EventBus:
        config = self.settings.bus
        if config.backend == "redis":
            return RedisStreamBus.from_config(config)
        return LocalBus(retention=config.retention, durable=DURABLE_CONSUMERS)

    # ---- lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        """Start every component; on failure, stop what was started and re-raise."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        s = self.settings
        self._on_stop("bus", self.bus.close)

        if self.demo:
            summary = await seed_demo(s.database, s.crm, self.normaliser)
            log.info("demo data ready customers=%d users=%d", summary.customers, summary.users)
        crm = await open_crm(s.database, s.crm, self.normaliser, callbacks=s.callbacks)
        self._crm = crm
        self._on_stop("crm", crm.close)
        self._spawn("publisher", self._publish_forever())
        if await People(crm.database).count() == 0:
            log.warning(
                "nobody can log in yet: create the first admin with: %s", FIRST_ADMIN_COMMAND
            )

        if s.agi.enabled:
            scripts = IvrScripts(
                CrmIvrDirectory(crm, s.crm.tracking_code_length),
                IvrPrompts(
                    contract_expired=s.agi.prompt_contract_expired,
                    enter_code=s.agi.prompt_enter_code,
                    invalid_code=s.agi.prompt_invalid_code,
                    unknown_code=s.agi.prompt_invalid_code,
                ),
                lookup_timeout=s.agi.lookup_timeout,
                code_length=s.crm.tracking_code_length,
                attempts=s.agi.attempts,
                vip_priority=s.agi.vip_priority,
            )
            agi = FastAgiServer(scripts.scripts(), allowed=s.agi.allowed_peers)
            self.agi_port = await agi.start(s.agi.host, s.agi.port)
            self._on_stop("fastagi", agi.stop)

        self.ami_config = s.ami
        if s.pbx == "simulator":
            callers = await demo_callers(crm.database) if self.demo else []
            self.ami_config = await self._start_simulator(callers)

        actions = LinkHolderActions(self)
        backends = crm_panel_backends(
            crm.database,
            crm.directory,
            crm.cases,
            crm.caller_lookup,
            actions,
            AuditLog(crm.database),
            self.recordings,
            external_record_url=s.crm.http.record_url or None,
            figures=s.figures,
            intervention=actions,
            bus=self.bus,
            callbacks=crm.callbacks,
            call_lists=crm.call_lists,
            pbx_import=self._pbx_import,
        )
        # The same IVR decisions as FastAGI, for the classic-AGI script on the PBX box.
        backends = dataclasses.replace(
            backends, ivr=CrmIvrDirectory(crm, s.crm.tracking_code_length)
        )
        # Every node shows pops to its own agents, so each reads the whole stream
        # under its own name (and resumes from its own position after a restart).
        app = create_app(
            s.http,
            backends,
            bus=self.bus,
            feed_name=f"{self.node_id}/popup",
            status=self,
            figures=s.figures,
        )
        runner, port = await start_server(app, s.http.host, s.http.port)
        self._on_stop("panel", runner.cleanup)
        self.panel_url = f"http://{_host_for_url(s.http.host)}:{port}/"

        # The PBX last: the panel's feed is subscribed by now, so it hears the
        # link's first state (a PBX down at start-up included) and every pop.
        if s.bus.backend == "redis":
            lease = RedisLease.from_config(s.bus, node_id=self.node_id)
            self._on_stop("ami-lease connection", lease.close)
            self._spawn("ami-lease", lease.run(self._drive_pbx))
        else:
            self._spawn("ami", self._drive_pbx())

    def status(self) -> dict[str, object]:
        """This node's health for supervisors and admins (``GET /api/v1/status``)."""
        feed = self.feed
        pbx: dict[str, object] = {"holds_link": feed is not None, "state": "standby"}
        if feed is not None:
            stats = feed.link.stats
            pbx |= {
                "state": feed.link.state.value,
                "link": feed.link_state,
                "connected_since": stats.connected_since,
                "connects": stats.connects,
                "auth_failures": stats.auth_failures,
                "pings_missed": stats.pings_missed,
                "resyncs_completed": feed.resyncs_completed,
                "last_error": stats.last_error,
            }
        consumers = self.consumer_health()
        problems = [f"consumer {c.name} {c.state}" for c in consumers if c.state != "running"]
        problems += [
            f"consumer {c.name} behind for {c.behind_seconds:.0f}s"
            for c in consumers
            if c.state == "running" and not c.ok
        ]
        return {
            "node": self.node_id,
            "bus": self.settings.bus.backend,
            "pbx": pbx,
            "calls_in_progress": len(self.tracker.calls) if feed is not None else 0,
            "consumers": [c.to_dict() for c in consumers],
            "ready": not problems,
            "problems": problems,
        }

    def consumer_health(self) -> list[ConsumerHealth]:
        """The durable consumers this node runs now, each with its lag."""
        bus = self.bus
        return [
            c.health(bus.backlog(c.name) if isinstance(bus, LocalBus) else None)
            for c in self.consumers.values()
        ]

    async def _drive_pbx(self) -> None:
        """Hold the AMI link, write the call log and measure recordings until cancelled.

        On the Redis bus this runs only while this node holds the AMI lease, so
        one node drives the PBX and one node writes to call records; the
        writers' subscription names are shared, so a new holder resumes where
        the last one stopped. A fresh tracker each time: after a lease change
        the PBX is re-read from scratch (resync) rather than trusting stale state.
        """
        assert self._crm is not None
        recordings = RecordingService(self._crm.database, self.recordings, self.settings.recordings)
        consumers = [
            DurableConsumer(self.bus, CALL_LOG, self._crm.call_log.consume),
            DurableConsumer(self.bus, RECORDINGS, recordings.consume),
        ]
        if self.settings.callbacks.enabled:
            consumers.append(DurableConsumer(self.bus, CALLBACKS, self._crm.callbacks.consume))
        alerts = alert_service(
            self.settings.alerts, self._crm.database, self.bus, Path(self.settings.crm.spool_dir)
        )
        if alerts is not None:
            # Alerts are about now: resubscribed after a failure, not replayed from a cursor.
            consumers.append(DurableConsumer(self.bus, ALERTS, alerts.run))
        self.consumers = {c.name: c for c in consumers}
        tasks = [asyncio.create_task(c.run(), name=c.name) for c in consumers]
        tracker = CallTracker(self.settings.tracker)
        feed = PbxFeed(self.ami_config, tracker, self._outbox.put_nowait)
        self.tracker, self.feed = tracker, feed
        try:
            await feed.start()
            await asyncio.Event().wait()
        finally:
            self.feed = None
            await feed.close()
            # Whatever the tracker produced is published and logged before we let go.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await self._outbox.join()
                    await self.consumers[CALL_LOG].caught_up()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await recordings.stop()
            self.consumers = {}
            if alerts is not None:
                await alerts.close()

    async def _pbx_import(self, actor: str, apply: bool) -> JsonObject:
        """The admin page's PBX import, over this node's link to the PBX."""
        feed, crm = self.feed, self._crm
        if feed is None or crm is None or not feed.link.is_ready:
            raise AdminRefused("pbx", "this hub node has no live PBX link right now", 409)
        try:
            plan = await import_from_ami(crm.database, AmiActions(feed.link), actor, apply=apply)
        except AmiError as exc:
            raise AdminRefused("pbx", f"the PBX did not answer the import: {exc}", 409) from exc
        return plan.json()

    async def _start_simulator(self, callers: list[str]) -> AmiConfig:
        s = self.settings
        ami = s.ami
        if not ami.secret.get_secret_value():
            # The simulator and the hub share a fresh secret; nothing to configure.
            ami = ami.model_copy(update={"secret": SecretStr(secrets.token_urlsafe(24))})
            self.settings = s.model_copy(update={"ami": ami})
        if self.agi_port is not None and not s.simulator.agi_port:
            self.settings.simulator = s.simulator.model_copy(update={"agi_port": self.agi_port})
        simulator: Simulator = simulator_from_settings(
            self.settings.simulator, self.settings.ami, self.settings.agi
        )
        traffic = simulator.scenario.traffic
        if callers and traffic is not None:
            traffic.caller_pool = callers
        port = await simulator.start()
        self.simulator = simulator
        self._on_stop("simulator", simulator.stop)
        self.ami_port = port
        return ami.model_copy(update={"host": s.simulator.host, "port": port})

    async def stop(self) -> None:
        """Stop everything that was started, newest first; never raises."""
        running, self._running = self._running, _Running()
        for name, stop in reversed(running.stops):
            try:
                await asyncio.wait_for(stop(), 10)
            except Exception:
                log.exception("stopping %s failed", name)

    async def run_until_signalled(self, on_started: Callable[[], None] | None = None) -> None:
        """Start, wait for SIGINT/SIGTERM, stop."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await self.start()
        settle_heap()
        self._spawn("heap", _settle_heap_forever())
        if on_started is not None:
            on_started()
        try:
            await stop.wait()
        finally:
            log.info("shutting down")
            await self.stop()

    # ---- plumbing ----------------------------------------------------------

    def _on_stop(self, name: str, stop: Callable[[], Awaitable[object]]) -> None:
        self._running.stops.append((name, stop))

    def _spawn(self, name: str, work: Awaitable[object]) -> None:
        """Run ``work`` as a task owned by the hub, cancelled at its place in the stop order."""

        async def guarded() -> object:
            try:
                return await work
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("component %s stopped with an error", name)
                raise

        task = asyncio.create_task(guarded(), name=name)

        async def cancel() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

        self._on_stop(name, cancel)

    async def _publish_forever(self) -> None:
        """Publish the feed's batches in order; the feed itself never waits on the bus.

        While the bus is unreachable (Redis down) the batch in hand is retried
        with backoff and the later ones wait behind it in order: an ended call
        is published late rather than lost.
        """
        while True:
            batch, taken = await next_batch(self._outbox)
            try:
                await publish_with_retry(self.bus, batch)
            finally:
                for _ in range(taken):
                    self._outbox.task_done()


async def next_batch(
    outbox: asyncio.Queue[list[Event]], most: int = 1000
) -> tuple[list[Event], int]:
    """The next batch with every batch already waiting behind it (up to ``most`` events), in
    order, and how many were taken: one bus round trip for what piled up while the last
    publish ran, so a busy PBX on a busy machine cannot outrun a Redis publisher."""
    batch = await outbox.get()
    taken = 1
    while len(batch) < most and not outbox.empty():
        batch = batch + outbox.get_nowait()
        taken += 1
    return batch, taken


async def publish_with_retry(
    bus: EventBus, batch: list[Event], first_delay: float = 0.1, max_delay: float = 5.0
) -> None:
    """``bus.publish(batch)`` until it succeeds; logs the outage once and its end."""
    delay = first_delay
    failures = 0
    while True:
        try:
            await bus.publish(batch)
        except BusClosedError:
            raise
        except Exception as exc:
            failures += 1
            if failures == 1:
                ids = sorted({getattr(e, "call_id", "") for e in batch} - {""})
                log.error(
                    "bus publish failed, retrying events=%d calls=%s error=%s",
                    len(batch),
                    ids,
                    exc,
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)
            continue
        if failures:
            log.info("bus publish recovered after %d failed attempts", failures)
        return


async def _settle_heap_forever() -> None:
    while True:
        await asyncio.sleep(HEAP_SETTLE_SECONDS)
        settle_heap()


HEAP_SETTLE_SECONDS = 600.0


def settle_heap() -> None:
    """Collect everything, then exempt what is alive from later collections.

    A full collection over a heap of many long-lived objects (websockets, CRM
    caches, tracked calls) pauses the loop for tens of milliseconds, which is
    what a pop's p99 latency then shows (measured: 28 ms -> 4 ms p99 with
    1,000 agents). Freezing the long-lived part keeps the frequent young
    collections small; the periodic re-settle (unfreeze, collect, freeze)
    still reclaims cycles that died meanwhile, at one pause per interval.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def _host_for_url(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "") else host


DEMO_RECORDINGS = "var/spool/monitor"


def with_demo_recordings(settings: Settings) -> Settings:
    """The demo's simulated PBX writes real recordings, and the hub reads them from there:
    its monitor directory is mapped onto ``[simulator] recordings_dir``
    (``var/spool/monitor`` unless set)."""
    folder = settings.simulator.recordings_dir or DEMO_RECORDINGS
    local = str(Path(folder).resolve())
    recordings = settings.recordings.model_copy(
        update={
            "path_map": {MONITOR_DIR: local, **settings.recordings.path_map},
            "roots": [*settings.recordings.roots, local],
        }
    )
    simulator = settings.simulator.model_copy(update={"recordings_dir": local})
    return settings.model_copy(update={"recordings": recordings, "simulator": simulator})


def demo_banner(hub: Hub) -> str:
    """What ``ctihub run --demo`` prints once everything is up."""
    lines = [
        "",
        "ctihub is running on its embedded default (SQLite, in-process bus, simulated PBX).",
        f"  agent panel:  {hub.panel_url}",
        f"  admin page:   {hub.panel_url}admin",
        f"  logins (password {DEMO_PASSWORD}):",
        "    ali   agent 1001     sara  agent 1002     reza  agent 1003",
        "    maryam  supervisor   admin  admin",
        f"  simulated AMI on 127.0.0.1:{hub.ami_port}, FastAGI IVR on port {hub.agi_port}",
        "  calls arrive on their own; Ctrl-C stops.",
        "",
    ]
    return "\n".join(lines)


__all__ = [
    "CrmIvrDirectory",
    "Hub",
    "LinkHolderActions",
    "demo_banner",
    "settle_heap",
    "with_demo_recordings",
]
