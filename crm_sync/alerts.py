"""Alerts at the edges: stored once, published live, sent by webhook and e-mail in batches.

The rules are ``cti.alerts`` (pure). :class:`AlertService` feeds them the
bus's events, the clock and the open cases, stores each alert once (unique
key, so a restarted or second node does not raise it again), publishes
:class:`cti.events.AlertRaised` on the bus (panels show it live) and hands
it to the senders through an :class:`cti.alerts.AlertBatcher`, so a burst of
alerts makes one webhook call and one e-mail. :class:`AlertStore` is the
table, also behind the panel's ``/api/v1/alerts`` (list, acknowledge).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from crm_sync.connectors.email import EmailSender
from crm_sync.connectors.webhooks import WebhookSender
from crm_sync.db import Database
from crm_sync.models import (
    OPEN_CASE_STATUSES,
    AlertRecord,
    CallRecord,
    Case,
    Customer,
    Device,
    Note,
    Queue,
)
from crm_sync.settings import AlertsConfig
from crm_sync.spool import JsonlSpool
from cti.alerts import Alert, AlertBatcher, AlertEngine, AlertRules, CaseFacts
from cti.bus import EventBus, Subscription
from cti.events import AlertAcknowledged, AlertRaised

log = logging.getLogger(__name__)

_CASES_PER_CHECK = 1000


def _epoch(value: dt.datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def alert_event(row: AlertRecord) -> AlertRaised:
    """The bus event of a stored alert."""
    return AlertRaised(
        alert_id=row.id,
        key=row.key,
        rule=row.rule,
        queue=row.queue,
        agent=row.agent,
        call_id=row.call_id,
        case_id=row.case_id,
        customer_id=row.customer_id,
        subject=row.subject,
        value=row.value,
        threshold=row.threshold,
        at=row.raised_at.timestamp(),
    )


class AlertStore:
    """The ``alerts`` table."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def record(self, alert: Alert) -> AlertRecord | None:
        """Store ``alert``; None when an alert with its key was already stored."""
        row = AlertRecord(
            key=alert.key[:200],
            rule=alert.rule,
            queue=alert.queue,
            agent=alert.agent,
            call_id=alert.call_id,
            case_id=alert.case_id,
            customer_id=alert.customer_id,
            subject=(alert.subject or "")[:200] or None,
            value=alert.value,
            threshold=alert.threshold,
            raised_at=dt.datetime.fromtimestamp(alert.at, dt.UTC),
        )
        async with self._db.sessions() as session:
            session.add(row)
            try:
                await session.commit()
            except IntegrityError:
                return None
            await session.refresh(row)
        return row

    async def unacknowledged(self, limit: int, agent: str | None = None) -> list[AlertRecord]:
        """Open alerts, newest first; with ``agent``, only that extension's."""
        statement = select(AlertRecord).where(AlertRecord.acknowledged_at.is_(None))
        if agent is not None:
            statement = statement.where(AlertRecord.agent == agent)
        async with self._db.sessions() as session:
            rows = await session.scalars(
                statement.order_by(AlertRecord.raised_at.desc(), AlertRecord.id.desc()).limit(limit)
            )
            return list(rows)

    async def acknowledge(self, alert_id: int, username: str) -> AlertRecord | None:
        """Mark an open alert acknowledged by ``username``; None if unknown or already done."""
        async with self._db.sessions() as session:
            result = await session.execute(
                update(AlertRecord)
                .where(AlertRecord.id == alert_id, AlertRecord.acknowledged_at.is_(None))
                .values(acknowledged_at=dt.datetime.now(dt.UTC), acknowledged_by=username)
            )
            await session.commit()
            if not getattr(result, "rowcount", 0):
                return None
            return await session.get(AlertRecord, alert_id)

    async def queue_targets(self) -> dict[str, tuple[int, float]]:
        """Each administered queue's service level: (threshold seconds, target percent)."""
        async with self._db.sessions() as session:
            rows = await session.execute(
                select(Queue.name, Queue.sla_threshold_seconds, Queue.sla_target_percent)
            )
            return {name: (seconds, float(percent)) for name, seconds, percent in rows}

    async def open_cases(self, now: float) -> list[CaseFacts]:
        """Open cases with what the case rules need, oldest first (at most 1,000 a pass)."""
        first_note = (
            select(func.min(Note.created_at))
            .where(Note.case_id == Case.id, Note.created_at > Case.opened_at)
            .scalar_subquery()
        )
        first_call = (
            select(func.min(CallRecord.started_at))
            .where(CallRecord.case_id == Case.id, CallRecord.started_at > Case.opened_at)
            .scalar_subquery()
        )
        owner_extension = (
            select(func.min(Device.extension))
            .where(Device.agent_id == Case.owner_agent_id)
            .scalar_subquery()
        )
        async with self._db.sessions() as session:
            rows = (
                await session.execute(
                    select(Case, Customer.vip, owner_extension, first_note, first_call)
                    .outerjoin(Customer, Customer.id == Case.customer_id)
                    .where(Case.status.in_(OPEN_CASE_STATUSES))
                    .order_by(Case.opened_at)
                    .limit(_CASES_PER_CHECK)
                )
            ).all()
        facts = []
        for case, vip, extension, note_at, call_at in rows:
            replies = [t.timestamp() for t in (note_at, call_at) if t is not None]
            facts.append(
                CaseFacts(
                    case_id=case.id,
                    tracking_code=case.tracking_code,
                    customer_id=case.customer_id,
                    customer_class="key" if vip else "standard",
                    opened_at=case.opened_at.timestamp(),
                    due_at=_epoch(case.due_at),
                    first_reply_at=min(replies) if replies else None,
                    owner_extension=extension,
                )
            )
        return facts


class AlertSender(Protocol):
    """Somewhere a batch of alerts goes (webhook, e-mail)."""

    name: str

    async def send(self, alerts: Sequence[AlertRaised]) -> None:
        """Deliver the batch; raise on failure (logged by the caller)."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class WebhookAlerts:
    """A batch of alerts as one signed webhook (event ``alerts``; see ``webhooks.py``)."""

    name = "webhook"

    def __init__(self, sender: WebhookSender) -> None:
        self._sender = sender

    async def send(self, alerts: Sequence[AlertRaised]) -> None:
        data = {"alerts": [a.to_dict() for a in alerts]}
        # The sender retries and dead-letters by itself; a False here is already logged.
        await self._sender.send("alerts", data)

    async def close(self) -> None:
        await self._sender.close()


_RULE_TEXT = {
    "case_overdue": "case {subject} is past its due time ({value} h open, due in {threshold} h)",
    "case_no_first_reply": "case {subject} has no reply after {value} h (target {threshold} h)",
    "caller_waiting": "a caller ({subject}) has waited {value:.0f} s in {queue} (limit "
    "{threshold:.0f} s)",
    "service_level_low": "service level of {queue} is {value}% (target {threshold}%)",
    "ring_no_answer": "agent {agent} let {value:.0f} calls ring unanswered",
    "callback_overdue": "caller {subject} who abandoned {queue} not called back after "
    "{value} min (limit {threshold:.0f} min)",
}


def alert_text(alert: AlertRaised) -> str:
    """One line a person reads, in English (mail and logs)."""
    template = _RULE_TEXT.get(alert.rule, "{rule} {subject}")
    fields = {k: ("-" if v is None else v) for k, v in alert.to_dict().items()}
    try:
        return template.format(**fields)
    except (ValueError, KeyError):
        return f"{alert.rule} {alert.subject or ''}".strip()


class EmailAlerts:
    """A batch of alerts as one e-mail."""

    name = "email"

    def __init__(self, sender: EmailSender) -> None:
        self._sender = sender

    async def send(self, alerts: Sequence[AlertRaised]) -> None:
        # Short enough not to be folded; the sentences are in the body.
        first = alerts[0]
        about = first.subject or first.queue or ""
        subject = (
            f"ctihub alert: {first.rule.replace('_', ' ')} {about}".strip()
            if len(alerts) == 1
            else f"ctihub: {len(alerts)} alerts"
        )
        stamp = dt.datetime.fromtimestamp(alerts[0].at or time.time(), dt.UTC)
        lines = [f"{len(alerts)} alert(s) since {stamp:%Y-%m-%d %H:%M} UTC:", ""]
        lines += [f"- #{a.alert_id} {alert_text(a)}" for a in alerts]
        lines += ["", "Acknowledge them on the wallboard."]
        await self._sender.send(subject[:70], "\n".join(lines))

    async def close(self) -> None:
        """Nothing held: a connection per message."""


class AlertService:
    """Runs the rules on the bus and the clock; stores, publishes and sends each alert once."""

    def __init__(
        self,
        store: AlertStore,
        bus: EventBus,
        engine: AlertEngine,
        senders: Sequence[AlertSender] = (),
        *,
        batcher: AlertBatcher | None = None,
        tick_seconds: float = 1.0,
        case_check_seconds: float = 60.0,
        clock: Callable[[], float] = time.time,
        rules: Callable[[Mapping[str, tuple[int, float]]], AlertRules] | None = None,
    ) -> None:
        self.store = store
        self._bus = bus
        self._engine = engine
        self._senders = list(senders)
        self._batcher = batcher or AlertBatcher()
        self._tick = tick_seconds
        self._case_check = case_check_seconds
        self._clock = clock
        self._rules = rules
        """Rebuilds the rules from the queues' service levels (None: the engine's stay)."""
        self._wake = asyncio.Event()
        self._events: dict[str, AlertRaised] = {}
        """The batcher holds domain alerts; their stored events, by key, until sent."""
        self.raised = 0
        self.batches_sent = 0

    async def close(self) -> None:
        """Close the senders' connections (the webhook's HTTP session)."""
        for sender in self._senders:
            await sender.close()

    async def run(self, subscription: Subscription) -> None:
        """Until cancelled: read events, tick, check cases, send batches."""
        tasks = [
            asyncio.create_task(self._consume(subscription), name="alerts-events"),
            asyncio.create_task(self._ticks(), name="alerts-ticks"),
            asyncio.create_task(self._dispatch(), name="alerts-dispatch"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def raise_alerts(self, alerts: Sequence[Alert]) -> list[AlertRaised]:
        """Store each alert once; publish and queue for sending the ones that are new."""
        events = []
        for alert in alerts:
            row = await self.store.record(alert)
            if row is None:
                continue
            event = alert_event(row)
            events.append(event)
            self._batcher.add(alert, self._clock())
            self._events[alert.key] = event
            log.info(
                "alert raised id=%s rule=%s queue=%s agent=%s",
                row.id,
                row.rule,
                row.queue,
                row.agent,
            )
        if events:
            self.raised += len(events)
            await self._bus.publish(events)
            self._wake.set()
        return events

    async def _consume(self, subscription: Subscription) -> None:
        async for delivery in subscription:
            event = delivery.event
            if isinstance(event, AlertRaised | AlertAcknowledged):
                continue
            alerts = self._engine.feed(event)
            if alerts:
                await self._guarded(alerts)

    async def _ticks(self) -> None:
        next_cases = 0.0
        while True:
            now = self._clock()
            alerts = self._engine.tick(now)
            if now >= next_cases:
                next_cases = now + self._case_check
                try:
                    if self._rules is not None:
                        # An admin may have changed a queue's service level since the last pass.
                        self._engine.rules = self._rules(await self.store.queue_targets())
                    alerts += self._engine.check_cases(await self.store.open_cases(now), now)
                except Exception:
                    log.exception("queue or case alert check failed; retrying at the next pass")
            if alerts:
                await self._guarded(alerts)
            await asyncio.sleep(self._tick)

    async def _guarded(self, alerts: list[Alert]) -> None:
        try:
            await self.raise_alerts(alerts)
        except Exception:
            # The database or bus is out: these alerts are lost for now, the service lives on.
            log.exception("could not raise %d alert(s)", len(alerts))

    async def _dispatch(self) -> None:
        while True:
            due = self._batcher.next_due()
            self._wake.clear()
            if due is None:
                await self._wake.wait()
                continue
            delay = due - self._clock()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
                continue
            batch = [self._events.pop(a.key) for a in self._batcher.take(self._clock())]
            if batch:
                await self._send(batch)

    async def _send(self, batch: list[AlertRaised]) -> None:
        self.batches_sent += 1
        for sender in self._senders:
            try:
                await sender.send(batch)
            except Exception as exc:  # EmailError, or whatever a sender raises
                log.error(
                    "alert batch not sent via %s alerts=%d error=%s", sender.name, len(batch), exc
                )


def alert_service(
    config: AlertsConfig, database: Database, bus: EventBus, spool_dir: Path
) -> AlertService | None:
    """The alert service ``[alerts]`` describes, with its webhook and e-mail; None if disabled."""
    if not config.enabled:
        return None
    senders: list[AlertSender] = []
    if config.webhook_url:
        spool = JsonlSpool(spool_dir / "alerts.dead.jsonl")
        senders.append(
            WebhookAlerts(
                WebhookSender(config.webhook_url, config.webhook_secret.get_secret_value(), spool)
            )
        )
    if config.smtp_host and config.mail_to:
        senders.append(
            EmailAlerts(
                EmailSender(
                    config.smtp_host,
                    config.smtp_port,
                    config.mail_from,
                    config.mail_to,
                    security=config.smtp_security,
                    username=config.smtp_username,
                    password=config.smtp_password.get_secret_value(),
                    timeout=config.smtp_timeout,
                )
            )
        )
    return AlertService(
        AlertStore(database),
        bus,
        AlertEngine(config.rules()),
        senders,
        batcher=AlertBatcher(
            config.batch_window_seconds, config.batch_min_interval_seconds, config.batch_max
        ),
        tick_seconds=config.tick_seconds,
        case_check_seconds=config.case_check_seconds,
        rules=config.rules,
    )
