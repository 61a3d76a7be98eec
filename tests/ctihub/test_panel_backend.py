"""The panel's CRM backends over a real crm_sync SQLite database with the demo data."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from crm_sync.audit import AuditLog
from crm_sync.cases import CaseService
from crm_sync.commands import DEMO_PASSWORD, seed_demo
from crm_sync.db import Database
from crm_sync.matching import CallerDirectory
from crm_sync.models import CallRecord
from crm_sync.screenpop_lookup import CrmCallerLookup
from crm_sync.settings import DatabaseConfig
from cti.figures import QueueTargets, TargetBook, figures_of
from ctihub.panel_backend import crm_panel_backends
from ctihub.settings import Settings, phone_normaliser
from popup_server.app import PanelBackends
from popup_server.ports import CrmError
from tests.popup_server.memory_backend import RecordingPbx


@dataclass
class Crm:
    backends: PanelBackends
    database: Database


@pytest.fixture
async def crm(tmp_path: Path) -> AsyncIterator[Crm]:
    settings = Settings(database=DatabaseConfig(url=f"sqlite+aiosqlite:///{tmp_path}/crm.sqlite3"))
    await seed_demo(settings.database, settings.crm, phone_normaliser(settings), customers=40)
    database = Database(settings.database)
    directory = CallerDirectory.for_database(database, phone_normaliser(settings), settings.crm)
    cases = CaseService(database, settings.crm)
    try:
        yield Crm(
            crm_panel_backends(
                database,
                directory,
                cases,
                CrmCallerLookup(directory, cases, database),
                RecordingPbx(),
                AuditLog(database),
            ),
            database,
        )
    finally:
        await directory.close()
        await database.dispose()


async def test_demo_agent_logs_in_with_its_extension_and_wrong_password_fails(crm: Crm) -> None:
    user = await crm.backends.users.authenticate("ali", DEMO_PASSWORD)
    assert user is not None
    assert (user.name, user.role, user.extensions) == ("Ali Rezaei", "agent", ("1001",))
    assert await crm.backends.users.authenticate("ali", "wrong") is None
    assert await crm.backends.users.authenticate("nobody", DEMO_PASSWORD) is None
    supervisor = await crm.backends.users.authenticate("maryam", DEMO_PASSWORD)
    assert supervisor is not None and supervisor.extensions == ()
    assert await crm.backends.users.get(user.id) == user


async def test_trace_caller_is_found_with_contract_and_cases(crm: Crm) -> None:
    info = await crm.backends.lookup.lookup("+982188776655")
    assert info.status == "matched"
    assert info.normalised == "+982188776655"
    best = info.customers[0]
    assert best["name"] == "Nasrin Tehrani"
    assert best["vip"] is True
    assert best["contract"]["state"] == "active"
    assert best["open_cases"], "C-0001 is seeded with an open case"
    code = best["open_cases"][0]["tracking_code"]
    case = await crm.backends.lookup.case_by_code(code)
    assert case is not None and case["customer_id"] == best["id"]


async def test_national_form_of_the_number_finds_the_same_customer(crm: Crm) -> None:
    info = await crm.backends.lookup.lookup("02188776655")
    assert [c["name"] for c in info.customers] == ["Nasrin Tehrani"]


async def test_phonebook_by_name_prefix_and_by_last_digits(crm: Crm) -> None:
    by_name = await crm.backends.phonebook.search("Laleh", 10)
    assert [e.name for e in by_name] == ["Laleh Farahani"]
    by_digits = await crm.backends.phonebook.search("77665544", 10)
    assert "Laleh Farahani" in [e.name for e in by_digits]


async def test_case_opened_during_a_call_then_wrap_up_note_on_it(crm: Crm) -> None:
    user = await crm.backends.users.authenticate("sara", DEMO_PASSWORD)
    assert user is not None
    info = await crm.backends.lookup.lookup("+982188776655")
    customer_id = info.customers[0]["id"]
    case = await crm.backends.cases.open_case(
        customer_id=customer_id, subject="Router", call_id="c-1", agent_user_id=user.id
    )
    assert len(case.tracking_code) == 8
    assert case.customer_id == customer_id
    assert await crm.backends.cases.find_case(case.tracking_code) == case
    assert await crm.backends.cases.get_case(case.id) == case
    saved = await crm.backends.cases.wrap_up(
        call_id="c-1",
        customer_id=None,
        case_id=case.id,
        agent_user_id=user.id,
        note="done",
        disposition="resolved",
    )
    assert saved.id > 0
    with pytest.raises(CrmError, match="not in the call log"):
        await crm.backends.cases.wrap_up(
            call_id="c-2",
            customer_id=None,
            case_id=None,
            agent_user_id=user.id,
            note="",
            disposition=None,
        )


async def test_day_figures_come_from_todays_call_records(crm: Crm) -> None:
    now = dt.datetime.now(dt.UTC)
    async with crm.database.sessions() as session, session.begin():
        for n, (minutes_ago, queue, agent, disposition, wait, talk) in enumerate(
            [
                (30, "support", "1001", "answered", 12, 90),
                (20, "support", None, "abandoned", 70, None),
                (10, "support", "1002", "answered", 25, 30),
                (60 * 30, "support", "1001", "answered", 1, 10),  # before the day's start
            ]
        ):
            session.add(
                CallRecord(
                    call_id=f"day.{n}",
                    direction="inbound",
                    queue=queue,
                    agent=agent,
                    disposition=disposition,
                    wait_seconds=wait,
                    talk_seconds=talk,
                    started_at=now - dt.timedelta(minutes=minutes_ago),
                )
            )
    assert crm.backends.figures is not None
    # support's own threshold (15 s): the 12 s answer is in it, the 25 s one is not.
    book = TargetBook(QueueTargets(), {"support": QueueTargets(threshold_seconds=15)})
    tallies = await crm.backends.figures.day_tallies(now - dt.timedelta(hours=2), now, book)
    support = tallies.queues["support"]
    assert (support.offered, support.answered, support.abandoned) == (3, 2, 1)
    assert (support.answered_in_threshold, support.answer_wait_sum) == (1, 12 + 25)
    assert (support.abandon_wait_sum, support.longest_wait) == (70, 70)
    assert figures_of(support).service_level_pct == 33.3  # 1 / (3 - 0 abandoned in 15 s)
    assert figures_of(support).aht_s == 60.0  # (90 + 30) / 2
    assert list(tallies.queues) == ["support"]
    assert {a: (t.answered, t.talk_sum) for a, t in tallies.agents.items()} == {
        "1001": (1, 90),
        "1002": (1, 30),
    }


async def test_todays_calls_of_an_agent_from_the_call_log(crm: Crm) -> None:
    now = dt.datetime.now(dt.UTC)
    since = now - dt.timedelta(hours=3)
    async with crm.database.sessions() as session, session.begin():
        for call_id, agent, hours_ago in [("old", "1001", 4), ("new", "1001", 1), ("b", "1002", 1)]:
            session.add(
                CallRecord(
                    call_id=call_id,
                    direction="inbound",
                    agent=agent,
                    disposition="answered",
                    started_at=now - dt.timedelta(hours=hours_ago),
                )
            )
    calls = await crm.backends.history.today(("1001",), 50, since)
    assert [c.call_id for c in calls] == ["new"]
    # By id, an agent's own call is found however old it is; another agent's is not.
    old = await crm.backends.history.find("old", ("1001",))
    assert old is not None and (old.call_id, old.agent) == ("old", "1001")
    assert await crm.backends.history.find("b", ("1001",)) is None
    assert await crm.backends.history.find("old", ()) is None


async def test_customer_created_from_the_pop_is_popped_with_its_preferences(crm: Crm) -> None:
    desk = crm.backends.customers
    assert desk is not None and desk.source() == {"editable": True, "record_url": None}
    created = await desk.create(
        {"name": "Parisa Nouri", "preferred_channel": "sms", "call_from": "09:00"},
        "09351112233",
    )
    await desk.update(created["id"], {"call_until": "17:30", "do_not_call": True})
    info = await crm.backends.lookup.lookup("+989351112233")
    best = info.customers[0]
    assert best["name"] == "Parisa Nouri"
    assert best["contact"] == {
        "preferred_channel": "sms",
        "call_from": "09:00",
        "call_until": "17:30",
        "do_not_call": True,
    }
    with pytest.raises(CrmError, match="preferred_channel"):
        await desk.update(created["id"], {"preferred_channel": "fax"})


async def test_last_calls_on_the_pop_carry_the_agents_note_and_disposition(crm: Crm) -> None:
    info = await crm.backends.lookup.lookup("+982188776655")
    customer_id = info.customers[0]["id"]
    user = await crm.backends.users.authenticate("ali", DEMO_PASSWORD)
    assert user is not None
    async with crm.database.sessions() as session, session.begin():
        session.add(
            CallRecord(
                call_id="note.1",
                direction="inbound",
                disposition="answered",
                customer_id=customer_id,
                started_at=dt.datetime.now(dt.UTC),
            )
        )
    await crm.backends.cases.wrap_up(
        call_id="note.1",
        customer_id=customer_id,
        case_id=None,
        agent_user_id=user.id,
        note="Router replaced",
        disposition="resolved",
    )
    info = await crm.backends.lookup.lookup("+982188776655")
    last = info.customers[0]["recent_calls"][0]
    assert (last["call_id"], last["note"], last["outcome"]) == (
        "note.1",
        "Router replaced",
        "resolved",
    )


async def test_wrap_up_after_hang_up_is_after_call_work_in_handle_time(crm: Crm) -> None:
    user = await crm.backends.users.authenticate("sara", DEMO_PASSWORD)
    assert user is not None
    now = dt.datetime.now(dt.UTC)
    async with crm.database.sessions() as session, session.begin():
        session.add(
            CallRecord(
                call_id="w-1",
                direction="inbound",
                queue="support",
                agent="1002",
                disposition="answered",
                wait_seconds=5,
                talk_seconds=100,
                started_at=now - dt.timedelta(seconds=150),
                ended_at=now - dt.timedelta(seconds=40),
            )
        )
    info = await crm.backends.lookup.lookup("+982188776655")
    for note in ("first", "second"):
        await crm.backends.cases.wrap_up(
            call_id="w-1",
            customer_id=info.customers[0]["id"],
            case_id=None,
            agent_user_id=user.id,
            note=note,
            disposition="resolved",
        )
    async with crm.database.sessions() as session:
        record = await session.scalar(select(CallRecord).where(CallRecord.call_id == "w-1"))
    assert record is not None and record.wrapup_seconds is not None
    # The first note, 40 s after hang-up, ends the after-call work; the second changes nothing.
    assert 40 <= record.wrapup_seconds <= 45
    assert crm.backends.figures is not None
    tallies = await crm.backends.figures.day_tallies(
        now - dt.timedelta(hours=1), now, TargetBook(QueueTargets())
    )
    assert tallies.queues["support"].handle_sum == 100 + record.wrapup_seconds
