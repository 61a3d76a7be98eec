"""Callbacks and call lists over a real database: opened by abandoned calls, worked, closed."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from crm_sync.call_lists import CallListError, CallListService
from crm_sync.callbacks import CallbackService, CallRefused
from crm_sync.customers import CustomerService
from crm_sync.db import Database
from crm_sync.matching import CallerDirectory
from crm_sync.models import Agent, CallAttempt, Callback, Contract, Customer, Note
from crm_sync.phones import PhoneNormaliser
from crm_sync.settings import CallbacksConfig
from cti.events import CallEnded
from cti.replay import read_transcript, replay_events

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ami"
CLICK = next(
    e
    for e in replay_events(read_transcript(FIXTURES / "click_to_call.jsonl"))
    if isinstance(e, CallEnded)
)
ABANDONED = next(
    e
    for e in replay_events(read_transcript(FIXTURES / "inbound_abandoned.jsonl"))
    if isinstance(e, CallEnded)
)


def abandoned(call_id: str, caller: str, disposition: str = "abandoned") -> CallEnded:
    return dataclasses.replace(
        ABANDONED, call_id=call_id, caller=caller, disposition=disposition,  # type: ignore[arg-type]
        ended_at=time.time(),
    )  # fmt: skip


def dialled(call_id: str, agent: str, number: str, *, answered: bool) -> CallEnded:
    # The recorded click-to-call, re-aimed: answered with talk, or rung out.
    return dataclasses.replace(
        CLICK, call_id=call_id, agent=agent, caller=agent, dialed=number,
        disposition="answered" if answered else "missed",
        talk_seconds=CLICK.talk_seconds if answered else None, ended_at=time.time(),
    )  # fmt: skip


async def _agents(database: Database) -> tuple[int, int]:
    async with database.sessions() as session:
        ali = Agent(username="ali", name="Ali")
        sara = Agent(username="sara", name="Sara")
        session.add_all([ali, sara])
        await session.commit()
        return ali.id, sara.id


async def _service(
    database: Database, directory: CallerDirectory, **config: object
) -> CallbackService:
    return CallbackService(database, directory, CallbacksConfig.model_validate(config))


async def test_an_abandoned_caller_becomes_one_callback_for_the_customers_owner(
    database: Database, directory: CallerDirectory, normaliser: PhoneNormaliser
) -> None:
    ali, sara = await _agents(database)
    customers = CustomerService(database, normaliser)
    await customers.create(name="Nasrin", phones=[("02188776655", "mobile")], owner_agent_id=sara)
    service = await _service(database, directory)
    # The recorded abandoned call (+982188776655, queue support) matches Nasrin by number.
    await service.handle(dataclasses.replace(ABANDONED, ended_at=time.time()))
    await service.handle(dataclasses.replace(ABANDONED, ended_at=time.time()))  # delivered twice
    await service.handle(abandoned("again", "+982188776655"))  # abandons again: same task
    await service.handle(abandoned("unknown", "09121234567"))
    await service.handle(abandoned("internal", "1003"))
    assert [c["customer_name"] for c in await service.for_agent(sara, ("sales",))] == ["Nasrin"]
    # Ali is in support: he sees the unassigned one from his queue, not Sara's customer.
    mine = await service.for_agent(ali, ("support",))
    assert [(c["number"], c["queue"], c["reason"]) for c in mine] == [
        ("09121234567", "support", "abandoned")
    ]
    assert await service.for_agent(ali, ("sales",)) == []
    everyone = await service.open_callbacks()
    assert len(everyone) == 2 and everyone[0]["assigned_name"] == "Sara"
    assert everyone[0]["age_seconds"] >= 0 and everyone[0]["attempts"] == 0


async def test_missed_calls_count_only_when_configured_and_do_not_call_never(
    database: Database, directory: CallerDirectory, normaliser: PhoneNormaliser
) -> None:
    await _agents(database)
    quiet = await CustomerService(database, normaliser).create(
        name="Quiet", phones=[("09351112233", "mobile")]
    )
    async with database.sessions() as session:
        row = await session.get(Customer, quiet.id)
        assert row is not None
        row.do_not_call = True
        await session.commit()
    strict = await _service(database, directory, missed_calls=False)
    await strict.handle(abandoned("m1", "09121234567", "missed"))
    await strict.handle(abandoned("dnc", "09351112233"))
    assert await strict.open_callbacks() == []
    await (await _service(database, directory)).handle(abandoned("m2", "09121234567", "missed"))
    assert [c["reason"] for c in await strict.open_callbacks()] == ["missed"]


async def test_attempts_are_counted_until_reached_or_given_up_and_calling_in_closes(
    database: Database, directory: CallerDirectory
) -> None:
    ali, _ = await _agents(database)
    service = await _service(database, directory, max_attempts=3)
    for call_id, number in (("a", "09121234567"), ("b", "09351112233"), ("c", "09107778899")):
        await service.handle(abandoned(call_id, number))
    by_number = {c["number"]: c["id"] for c in await service.for_agent(ali, ("support",))}

    # "a": two unanswered attempts, then answered.
    for n, answered in enumerate((False, False, True)):
        target = await service.start_attempt(by_number["09121234567"], ali, "1001", ("support",))
        assert target.number == "09121234567"
        await service.handle(dialled(f"out-a{n}", "1001", "+989121234567", answered=answered))
    # "b": three unanswered attempts: given up.
    for n in range(3):
        await service.start_attempt(by_number["09351112233"], ali, "1001", ("support",))
        await service.handle(dialled(f"out-b{n}", "1001", "09351112233", answered=False))
    # "c": the caller gets through on their own.
    await service.handle(abandoned("c-back", "+989107778899", "answered"))

    async with database.sessions() as session:
        rows = {c.number: c for c in await session.scalars(select(Callback))}
        attempts = await session.scalars(select(CallAttempt).order_by(CallAttempt.id))
        outcomes = [a.outcome for a in attempts]
    assert (rows["09121234567"].status, rows["09121234567"].attempts) == ("reached", 3)
    assert (rows["09351112233"].status, rows["09351112233"].attempts) == ("given_up", 3)
    assert rows["09107778899"].status == "called_in"
    assert outcomes == ["no_answer", "no_answer", "answered"] + ["no_answer"] * 3
    assert await service.for_agent(ali, ("support",)) == []
    with pytest.raises(CallRefused) as closed:
        await service.start_attempt(by_number["09121234567"], ali, "1001", ("support",))
    assert closed.value.kind == "closed"


async def test_a_callback_is_offered_only_within_the_customers_hours(
    database: Database, directory: CallerDirectory, normaliser: PhoneNormaliser
) -> None:
    ali, sara = await _agents(database)
    service = await _service(database, directory, timezone="UTC")
    now = dt.datetime.now(dt.UTC)
    later = ((now + dt.timedelta(hours=2)).time(), (now + dt.timedelta(hours=4)).time())
    night = await CustomerService(database, normaliser).create(
        name="Night", phones=[("09121234567", "mobile")], owner_agent_id=ali
    )
    async with database.sessions() as session:
        row = await session.get(Customer, night.id)
        assert row is not None
        row.call_from, row.call_until = later
        await session.commit()
    await service.handle(abandoned("n1", "09121234567"))
    [offered] = await service.for_agent(ali, ())
    assert offered["callable_now"] is False
    assert offered["hours"] == f"{later[0]:%H:%M}-{later[1]:%H:%M}"
    with pytest.raises(CallRefused) as not_now:
        await service.start_attempt(offered["id"], ali, "1001", ())
    assert not_now.value.kind == "not_now"
    with pytest.raises(CallRefused) as not_yours:
        await service.start_attempt(offered["id"], sara, "1002", ("support",))
    assert not_yours.value.kind == "not_found"
    async with database.sessions() as session:
        assert (await session.scalars(select(CallAttempt))).all() == []


async def test_call_lists_from_contracts_and_csv_worked_one_preview_at_a_time(
    database: Database, directory: CallerDirectory, normaliser: PhoneNormaliser
) -> None:
    ali, sara = await _agents(database)
    customers = CustomerService(database, normaliser)
    today = dt.date.today()
    made = []
    for i, ends in enumerate((5, 20, 90)):
        c = await customers.create(
            name=f"Renew {i}", ref=f"R{i}", phones=[(f"0912000000{i}", "mobile")]
        )
        made.append(c)
        async with database.sessions() as session:
            session.add(Contract(customer_id=c.id, plan="Gold", starts_on=today,
                                 ends_on=today + dt.timedelta(days=ends)))  # fmt: skip
            await session.commit()
    async with database.sessions() as session:
        dnc = await session.get(Customer, made[1].id)
        assert dnc is not None
        dnc.do_not_call = True
        await session.commit()
    callbacks = await _service(database, directory)
    lists = CallListService(database, directory, callbacks)

    renewals = await lists.load(name="Renewals", source="contracts_expiring", days=30,
                                agents=("ali", "sara"))  # fmt: skip
    # Within 30 days: customers 0 and 1; 1 asked not to be called.
    assert (renewals.entries, renewals.do_not_call) == (1, 1)
    csv_text = "ref,phone,reason\nR2,,upsell\nNOPE,,x\n,09129999999,walk-in\n,abc,bad\n"
    from_csv = await lists.load(name="CSV", source="csv", csv_text=csv_text, queue="sales")
    assert from_csv.entries == 2
    assert [s["line"] for s in from_csv.skipped] == [3, 5]
    with pytest.raises(CallListError, match="agents: no active user 'nobody'"):
        await lists.load(name="x", source="open_cases", agents=("nobody",))
    with pytest.raises(CallListError, match="csv: the header needs"):
        await lists.load(name="x", source="csv", csv_text="name\nA\n", queue="sales")

    preview = await lists.next_entry(ali, ())
    assert preview is not None and preview["name"] == "Renew 0"
    assert preview["reason"] == f"Gold: ends {today + dt.timedelta(days=5):%Y-%m-%d}"
    target = await lists.start_entry(preview["id"], ali, "1001", ())
    assert target.number == "09120000000"
    done = await lists.record_outcome(preview["id"], ali, "sale", "renewed for a year")
    assert done == {"id": preview["id"], "status": "done", "outcome": "sale"}
    assert await lists.next_entry(ali, ()) is None
    # The queue's list: a sales agent takes its entries, in order; "not reached" comes back.
    first = await lists.next_entry(sara, ("sales",))
    assert first is not None and first["name"] == "Renew 2"
    await lists.start_entry(first["id"], sara, "1002", ("sales",))
    await lists.record_outcome(first["id"], sara, "not_reached", "")
    second = await lists.next_entry(sara, ("sales",))
    assert second is not None and second["number"] == "09129999999"
    with pytest.raises(CallRefused):
        await lists.record_outcome(second["id"], ali, "sale", "")

    progress = {p["name"]: p for p in await lists.progress()}
    assert progress["Renewals"]["statuses"]["done"] == 1
    assert progress["Renewals"]["outcomes"] == {"sale": 1}
    assert progress["CSV"]["total"] == 2 and progress["CSV"]["attempts"] == 1
    assert progress["CSV"]["statuses"]["pending"] == 2
    async with database.sessions() as session:
        note = await session.scalar(select(Note).where(Note.customer_id == made[0].id))
    assert note is not None and note.disposition == "sale"
    assert note.body == "[Renewals] renewed for a year"
