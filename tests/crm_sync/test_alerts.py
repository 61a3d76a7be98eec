"""Alerts end to end below the panel: stored once, on the bus, by signed webhook and real SMTP."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from crm_sync.alerts import AlertService, AlertStore, EmailAlerts, WebhookAlerts, alert_service
from crm_sync.connectors.email import EmailSender
from crm_sync.connectors.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookSender,
    verify_signature,
)
from crm_sync.db import Database
from crm_sync.models import Agent, AlertRecord, Case, Customer, Device, Note, Queue
from crm_sync.settings import AlertQueueConfig, AlertsConfig
from crm_sync.spool import JsonlSpool
from cti.alerts import AlertBatcher, AlertEngine, AlertRules, QueueRules
from cti.bus import LocalBus
from cti.events import AlertRaised, CallQueued, Event
from tests.smtp_sink import SmtpSink, smtp_sink

SECRET = "alert-webhook-secret"


class Receiver:
    """A webhook endpoint on loopback that checks every signature."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.bad_signatures = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not verify_signature(
            SECRET, request.headers[TIMESTAMP_HEADER], body, request.headers[SIGNATURE_HEADER]
        ):
            self.bad_signatures += 1
            return web.Response(status=401)
        self.bodies.append(json.loads(body))
        return web.Response(status=204)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    hook = Receiver()
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield hook, f"http://127.0.0.1:{port}/hook"
    await runner.cleanup()


@pytest.fixture
async def sink() -> AsyncIterator[SmtpSink]:
    async with smtp_sink() as server:
        yield server


def _service(
    database: Database, bus: LocalBus, sink: SmtpSink, url: str, tmp_path: Path
) -> AlertService:
    return AlertService(
        AlertStore(database),
        bus,
        AlertEngine(AlertRules(default_queue=QueueRules(max_wait_seconds=5))),
        [
            WebhookAlerts(WebhookSender(url, SECRET, JsonlSpool(tmp_path / "dead.jsonl"))),
            EmailAlerts(
                EmailSender("127.0.0.1", sink.port, "hub@example.com", ["sup@example.com"])
            ),
        ],
        batcher=AlertBatcher(window_seconds=0.3, min_interval_seconds=60),
        tick_seconds=0.05,
        case_check_seconds=3600,
    )


async def _run_until(
    service: AlertService, bus: LocalBus, events: list[Event], raised: int
) -> None:
    subscription = await bus.subscribe(f"alerts-{id(service)}")
    task = asyncio.create_task(service.run(subscription))
    await bus.publish(events)
    async with asyncio.timeout(10):
        while service.raised < raised:
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.5)  # past the batch window
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await service.close()


async def test_forty_waiting_callers_make_forty_live_alerts_but_one_mail_and_one_webhook(
    database: Database, receiver: tuple[Receiver, str], sink: SmtpSink, tmp_path: Path
) -> None:
    hook, url = receiver
    bus = LocalBus()
    seen = await bus.subscribe("panel")
    now = time.time()
    queued: list[Event] = [
        CallQueued(f"17953924{i:02d}.1", "support", i + 1, f"+98912000{i:04d}", now - 30)
        for i in range(40)
    ]
    service = _service(database, bus, sink, url, tmp_path)
    await _run_until(service, bus, queued, raised=40)

    await sink.wait_for(1)
    assert len(sink.messages) == 1
    mail = sink.messages[0]
    assert mail["Subject"] == "ctihub: 40 alerts"
    assert sink.recipients == [["sup@example.com"]]
    assert mail.get_payload(decode=True).decode().count("\n- #") == 40  # type: ignore[union-attr]
    assert hook.bad_signatures == 0 and len(hook.bodies) == 1
    sent = hook.bodies[0]["data"]["alerts"]
    assert hook.bodies[0]["event"] == "alerts"
    assert {a["call_id"] for a in sent} == {e.call_id for e in queued}  # type: ignore[attr-defined]
    assert {a["rule"] for a in sent} == {"caller_waiting"}

    # Live: every alert is on the bus, once.
    live = []
    while seen.lag:
        delivery = await anext(seen)
        if isinstance(delivery.event, AlertRaised):
            live.append(delivery.event)
    assert len(live) == 40 and len({a.key for a in live}) == 40

    # A restarted hub sees the same callers again: nothing is raised or sent twice.
    again = _service(database, bus, sink, url, tmp_path)
    await _run_until(again, bus, queued, raised=0)
    assert again.raised == 0 and again.batches_sent == 0
    assert len(sink.messages) == 1 and len(hook.bodies) == 1
    store = AlertStore(database)
    assert len(await store.unacknowledged(100)) == 40


async def test_the_queues_service_levels_are_read_for_the_rules(database: Database) -> None:
    async with database.sessions() as session:
        session.add(Queue(name="sales", sla_threshold_seconds=30, sla_target_percent=90))
        await session.commit()
    assert await AlertStore(database).queue_targets() == {"sales": (30, 90.0)}


async def test_a_supervisor_acknowledges_an_alert_once(database: Database) -> None:
    store = AlertStore(database)
    service = AlertService(store, LocalBus(), AlertEngine())
    now = time.time()
    engine = AlertEngine(AlertRules(default_queue=QueueRules(max_wait_seconds=1)))
    engine.feed(CallQueued("c1", "support", 1, "+982188776655", now - 10))
    [raised] = await service.raise_alerts(engine.tick(now))
    done = await store.acknowledge(raised.alert_id, "maryam")
    assert done is not None and done.acknowledged_by == "maryam"
    assert await store.acknowledge(raised.alert_id, "maryam") is None
    assert await store.unacknowledged(10) == []


async def test_open_cases_overdue_by_class_or_without_reply_are_alerted_to_their_owner(
    database: Database,
) -> None:
    now = dt.datetime.now(dt.UTC)
    async with database.sessions() as session:
        owner = Agent(username="sara", name="Sara")
        key, plain = Customer(name="Key Co", vip=True), Customer(name="Plain")
        session.add_all([owner, key, plain])
        await session.flush()
        # The owner's extension is that of her phone.
        session.add(Device(interface="PJSIP/1002", technology="PJSIP", extension="1002",
                           agent_id=owner.id))  # fmt: skip
        opened = now - dt.timedelta(hours=30)

        def case(code: str, customer: Customer, status: str = "open") -> Case:
            return Case(tracking_code=code, customer_id=customer.id, subject="s", status=status,
                        owner_agent_id=owner.id, opened_at=opened)  # fmt: skip

        replied_key, silent_plain, replied_plain = (
            case("101", key),
            case("102", plain),
            case("103", plain),
        )
        session.add_all([replied_key, silent_plain, replied_plain, case("104", key, "resolved")])
        await session.flush()
        session.add_all([
            Note(case_id=replied_key.id, body="called", created_at=opened + dt.timedelta(hours=1)),
            Note(case_id=replied_plain.id, body="mail", created_at=opened + dt.timedelta(hours=2)),
        ])  # fmt: skip
        await session.commit()
    facts = await AlertStore(database).open_cases(now.timestamp())
    assert sorted(f.tracking_code for f in facts) == ["101", "102", "103"]
    alerts = AlertEngine().check_cases(facts, now.timestamp())
    # 30 h: the key customer's case is past 24 h; the silent case has had no reply for 24 h.
    assert sorted((a.rule, a.subject, a.agent) for a in alerts) == [
        ("case_no_first_reply", "102", "1002"),
        ("case_overdue", "101", "1002"),
    ]
    stored = await AlertService(AlertStore(database), LocalBus(), AlertEngine()).raise_alerts(
        alerts
    )
    assert {e.case_id for e in stored} == {replied_key.id, silent_plain.id}
    async with database.sessions() as session:
        assert await session.get(AlertRecord, stored[0].alert_id) is not None


def test_the_alert_section_builds_per_queue_and_per_class_rules(tmp_path: Path) -> None:
    config = AlertsConfig.model_validate(
        {"max_wait_seconds": 90, "queues": {"vip": {"max_wait_seconds": 15}},
         "classes": {"key": {"due_hours": 8}, "standard": {"due_hours": 72}}}
    )  # fmt: skip
    rules = config.rules()
    assert rules.for_queue("vip").max_wait_seconds == 15
    assert rules.for_queue("vip").sla_target_percent == 80.0
    assert rules.for_queue("support").max_wait_seconds == 90
    assert rules.for_class("key").due_hours == 8 and rules.for_class("other").due_hours == 72
    # Administered queues bring their own service level; a queue's own keys still win.
    config = config.model_copy(update={"queues": {"vip": AlertQueueConfig(sla_seconds=10)}})
    merged = config.rules({"vip": (5, 99.0), "sales": (30, 90.0)})
    assert (merged.for_queue("vip").sla_seconds, merged.for_queue("vip").sla_target_percent) == (
        10,
        99.0,
    )
    sales = merged.for_queue("sales")
    assert (sales.sla_seconds, sales.sla_target_percent, sales.max_wait_seconds) == (30, 90.0, 90)
    assert alert_service(AlertsConfig(enabled=False), None, LocalBus(), tmp_path) is None  # type: ignore[arg-type]
