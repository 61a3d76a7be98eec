"""Callbacks: every abandoned or missed caller with a number becomes a task to call them back.

:meth:`CallbackService.consume` reads the bus. An inbound call that ends
``abandoned`` (or ``missed``, when configured) with a dialable number opens a
callback (one open per number; the call id keeps it idempotent), assigned to
the matched customer's owner, else to any agent of the queue. The same caller
getting through on a later inbound call closes it (``called_in``).

An agent dials from the panel (:meth:`start_attempt`): the attempt is counted
at once and its outcome is read from the outbound call's end (same extension,
same number). Reached: closed. Not reached after ``max_attempts``: closed as
given up. Customers marked do-not-call never get a callback, and one is
offered only within the customer's hours (``cti.outbound.within_hours``).
Call lists (``crm_sync/call_lists.py``) share the attempts.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from crm_sync.db import Database
from crm_sync.matching import CallerDirectory
from crm_sync.models import Agent, CallAttempt, Callback, CallListEntry, Customer
from crm_sync.settings import CallbacksConfig
from cti.alerts import number_tail
from cti.bus import Subscription
from cti.events import CallEnded
from cti.outbound import attempt_outcome, within_hours

log = logging.getLogger(__name__)

RefusalKind = Literal["not_found", "closed", "do_not_call", "not_now"]


class CallRefused(Exception):
    """A callback or list entry cannot be dialled now; ``kind`` says why, the message for whom."""

    def __init__(self, kind: RefusalKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class DialTarget:
    """An attempt just counted, and the number to dial for it."""

    attempt_id: int
    number: str


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _hours(customer: Customer | None) -> str | None:
    if customer is None or customer.call_from is None or customer.call_until is None:
        return None
    return f"{customer.call_from:%H:%M}-{customer.call_until:%H:%M}"


class CallbackService:
    """Callback tasks and the outbound attempts placed for them and for call lists."""

    def __init__(
        self, database: Database, directory: CallerDirectory, config: CallbacksConfig
    ) -> None:
        self._db = database
        self._directory = directory
        self._config = config
        self._zone = ZoneInfo(config.timezone)

    def local_time(self, now: dt.datetime | None = None) -> dt.time:
        """The call center's wall-clock time, against which customers' hours are read."""
        return (now or dt.datetime.now(dt.UTC)).astimezone(self._zone).time()

    def callable_now(self, customer: Customer | None, now: dt.datetime | None = None) -> bool:
        """Not do-not-call and within the customer's hours (no customer: any time)."""
        if customer is None:
            return True
        if customer.do_not_call:
            return False
        return within_hours(self.local_time(now), customer.call_from, customer.call_until)

    # ---- the bus -------------------------------------------------------------

    async def consume(self, subscription: Subscription) -> None:
        """Open, close and settle from every CallEnded until the subscription ends."""
        async for delivery in subscription:
            event = delivery.event
            if not isinstance(event, CallEnded):
                continue
            try:
                await self.handle(event)
            except Exception:
                # One bad event must not stop callbacks for everyone after it.
                log.exception("callback handling failed call_id=%s", event.call_id)

    async def handle(self, event: CallEnded) -> None:
        """Apply one ended call."""
        if event.direction == "outbound":
            await self._settle(event)
            return
        if event.direction != "inbound":
            return
        tail = number_tail(event.caller)
        if tail is None or event.caller is None:
            return
        if event.disposition == "answered":
            await self._close_called_in(tail, event)
        elif event.disposition == "abandoned" or (
            event.disposition == "missed" and self._config.missed_calls
        ):
            await self._open(event, event.caller, tail)

    async def _open(self, event: CallEnded, number: str, tail: str) -> None:
        match = await self._directory.lookup(number)
        if match.status == "extension":
            return
        best = match.best
        async with self._db.sessions() as session:
            customer = await session.get(Customer, best.id) if best is not None else None
            if customer is not None and customer.do_not_call:
                log.info("no callback for a do-not-call customer call_id=%s", event.call_id)
                return
            existing = await session.scalar(
                select(Callback.id).where(Callback.number_tail == tail, Callback.status == "open")
            )
            if existing is not None:
                return  # one open callback per caller; it already says "call them back"
            session.add(
                Callback(
                    number=number,
                    number_tail=tail,
                    customer_id=customer.id if customer is not None else None,
                    queue=event.queue,
                    call_id=event.call_id,
                    reason=event.disposition,
                    assigned_agent_id=customer.owner_agent_id if customer is not None else None,
                    max_attempts=self._config.max_attempts,
                    created_at=_at(event.ended_at),
                )
            )
            try:
                await session.commit()
            except IntegrityError:
                return  # this call's callback exists already (the event came twice)
        log.info("callback opened call_id=%s queue=%s", event.call_id, event.queue)

    async def _close_called_in(self, tail: str, event: CallEnded) -> None:
        async with self._db.sessions() as session:
            result = await session.execute(
                update(Callback)
                .where(Callback.number_tail == tail, Callback.status == "open")
                .values(status="called_in", closed_at=_at(event.ended_at))
            )
            await session.commit()
        if getattr(result, "rowcount", 0):
            log.info("callback closed: the caller called in call_id=%s", event.call_id)

    async def _settle(self, event: CallEnded) -> None:
        """The outbound call of a pending attempt ended: record how it went."""
        tail = number_tail(event.dialed)
        if tail is None or event.agent is None:
            return
        outcome = attempt_outcome(event)
        async with self._db.sessions() as session:
            attempt = await session.scalar(
                select(CallAttempt)
                .where(
                    CallAttempt.extension == event.agent,
                    CallAttempt.number_tail == tail,
                    CallAttempt.outcome == "pending",
                )
                .order_by(CallAttempt.started_at.desc())
                .limit(1)
            )
            if attempt is None:
                return
            attempt.outcome = outcome
            attempt.call_id = event.call_id
            if attempt.callback_id is not None:
                callback = await session.get(Callback, attempt.callback_id)
                if callback is not None and callback.status == "open":
                    if outcome == "answered":
                        callback.status, callback.closed_at = "reached", _at(event.ended_at)
                    elif callback.attempts >= callback.max_attempts:
                        callback.status, callback.closed_at = "given_up", _at(event.ended_at)
            if attempt.entry_id is not None:
                entry = await session.get(CallListEntry, attempt.entry_id)
                if entry is not None and entry.status == "dialing" and outcome != "answered":
                    entry.status = "pending"  # not reached: back on the list for later
            await session.commit()
        log.info("call attempt settled id=%s outcome=%s", attempt.id, outcome)

    # ---- the panel -----------------------------------------------------------

    def _visible(self, user_id: int, queues: tuple[str, ...]) -> Any:
        # Mine, or nobody's in particular and from one of my queues (or from no queue).
        return or_(
            Callback.assigned_agent_id == user_id,
            and_(
                Callback.assigned_agent_id.is_(None),
                or_(Callback.queue.is_(None), Callback.queue.in_(queues)),
            ),
        )

    async def for_agent(self, user_id: int, queues: tuple[str, ...]) -> list[dict[str, Any]]:
        """The agent's open callbacks, oldest first, each saying whether it may be dialled now."""
        async with self._db.sessions() as session:
            rows = (
                await session.execute(
                    select(Callback, Customer)
                    .outerjoin(Customer, Customer.id == Callback.customer_id)
                    .where(Callback.status == "open", self._visible(user_id, queues))
                    .order_by(Callback.created_at)
                    .limit(200)
                )
            ).all()
        return [self._row(cb, customer, None) for cb, customer in rows]

    async def open_callbacks(self, limit: int = 500) -> list[dict[str, Any]]:
        """Every open callback with its age and who has it (supervisors)."""
        async with self._db.sessions() as session:
            rows = (
                await session.execute(
                    select(Callback, Customer, Agent.name)
                    .outerjoin(Customer, Customer.id == Callback.customer_id)
                    .outerjoin(Agent, Agent.id == Callback.assigned_agent_id)
                    .where(Callback.status == "open")
                    .order_by(Callback.created_at)
                    .limit(limit)
                )
            ).all()
        return [self._row(cb, customer, name) for cb, customer, name in rows]

    def _row(
        self, cb: Callback, customer: Customer | None, assigned_name: str | None
    ) -> dict[str, Any]:
        now = dt.datetime.now(dt.UTC)
        return {
            "id": cb.id,
            "number": cb.number,
            "customer_id": cb.customer_id,
            "customer_name": customer.name if customer is not None else None,
            "queue": cb.queue,
            "reason": cb.reason,
            "status": cb.status,
            "attempts": cb.attempts,
            "max_attempts": cb.max_attempts,
            "created_at": cb.created_at,
            "age_seconds": int((now - cb.created_at).total_seconds()),
            "last_attempt_at": cb.last_attempt_at,
            "assigned_agent_id": cb.assigned_agent_id,
            "assigned_name": assigned_name,
            "hours": _hours(customer),
            "callable_now": self.callable_now(customer, now),
        }

    async def start_attempt(
        self, callback_id: int, user_id: int, extension: str, queues: tuple[str, ...]
    ) -> DialTarget:
        """Count an attempt on an open callback of this agent's; raises :class:`CallRefused`."""
        async with self._db.sessions() as session:
            row = (
                await session.execute(
                    select(Callback, Customer)
                    .outerjoin(Customer, Customer.id == Callback.customer_id)
                    .where(Callback.id == callback_id, self._visible(user_id, queues))
                )
            ).first()
            if row is None:
                raise CallRefused("not_found", f"no callback {callback_id} of yours")
            callback, customer = row
            if callback.status != "open":
                raise CallRefused("closed", f"callback {callback_id} is {callback.status}")
            self._check_callable(customer)
            now = dt.datetime.now(dt.UTC)
            callback.attempts += 1
            callback.last_attempt_at = now
            attempt = CallAttempt(
                callback_id=callback.id,
                agent_id=user_id,
                extension=extension,
                number_tail=callback.number_tail,
                started_at=now,
            )
            session.add(attempt)
            await session.commit()
            return DialTarget(attempt.id, callback.number)

    def _check_callable(self, customer: Customer | None) -> None:
        if customer is None:
            return
        if customer.do_not_call:
            raise CallRefused("do_not_call", "the customer asked not to be called")
        if not self.callable_now(customer):
            raise CallRefused(
                "not_now", f"outside the customer's hours to be called ({_hours(customer)})"
            )

    async def attempt_failed(self, attempt_id: int) -> None:
        """The PBX refused to place the attempt's call: it counts, as failed."""
        async with self._db.sessions() as session:
            attempt = await session.get(CallAttempt, attempt_id)
            if attempt is None or attempt.outcome != "pending":
                return
            attempt.outcome = "failed"
            if attempt.entry_id is not None:
                entry = await session.get(CallListEntry, attempt.entry_id)
                if entry is not None and entry.status == "dialing":
                    entry.status = "pending"
            await session.commit()

    async def attempts(self, callback_id: int) -> list[dict[str, Any]]:
        """A callback's attempts and their outcomes, oldest first."""
        async with self._db.sessions() as session:
            rows = await session.scalars(
                select(CallAttempt)
                .where(CallAttempt.callback_id == callback_id)
                .order_by(CallAttempt.started_at)
            )
            return [
                {"id": a.id, "extension": a.extension, "started_at": _iso(a.started_at),
                 "outcome": a.outcome, "call_id": a.call_id}
                for a in rows
            ]  # fmt: skip


def _at(epoch: float | None) -> dt.datetime:
    if epoch is None or epoch < 1_000_000_000:  # no clock, or a trace's relative seconds
        return dt.datetime.now(dt.UTC)
    return dt.datetime.fromtimestamp(epoch, dt.UTC)
