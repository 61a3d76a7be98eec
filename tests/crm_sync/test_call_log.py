"""The call log: one record per call, linked to customer and case, nothing lost in outages."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import secrets
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from crm_sync.call_log import CallLogWriter
from crm_sync.cases import CaseService
from crm_sync.customers import CustomerService
from crm_sync.db import Database
from crm_sync.matching import CallerDirectory
from crm_sync.models import CallRecord, Customer
from crm_sync.phones import PhoneNormaliser
from crm_sync.settings import CrmConfig, DatabaseConfig
from crm_sync.spool import JsonlSpool

from .events import RECORDING, click_to_call, inbound_answered
from .tcp_proxy import CuttableProxy


@pytest.fixture
def writer(database: Database, directory: CallerDirectory, crm_config: CrmConfig) -> CallLogWriter:
    return CallLogWriter(database, directory, crm_config)


@pytest.fixture
def customers(database: Database, normaliser: PhoneNormaliser) -> CustomerService:
    return CustomerService(database, normaliser)


async def _records(database: Database) -> list[CallRecord]:
    async with database.sessions() as session:
        return list(await session.scalars(select(CallRecord).order_by(CallRecord.call_id)))


async def test_an_answered_inbound_call_is_recorded_with_its_times_and_customer(
    database: Database, writer: CallLogWriter, customers: CustomerService
) -> None:
    nasrin = await customers.create(name="Nasrin Tehrani", phones=[("021 8877 6655", "work")])
    assert await writer.handle(inbound_answered()) == "written"
    [record] = await _records(database)
    assert record.call_id == "1795392474.0"
    assert (record.direction, record.queue, record.agent) == ("inbound", "support", "1001")
    assert (record.wait_seconds, record.talk_seconds, record.disposition) == (1, 5, "answered")
    assert record.recording == RECORDING
    assert record.started_at == dt.datetime(2026, 11, 23, 0, 7, 54, tzinfo=dt.UTC)
    assert record.answered_at == dt.datetime(2026, 11, 23, 0, 7, 55, tzinfo=dt.UTC)
    assert record.ended_at == dt.datetime(2026, 11, 23, 0, 8, 0, tzinfo=dt.UTC)
    assert record.customer_id == nasrin.id
    assert record.details["agents_rung"] == ["1001"]
    async with database.sessions() as session:
        customer = await session.get(Customer, nasrin.id)
    assert customer is not None
    assert customer.last_activity_at == dt.datetime(2026, 11, 23, 0, 8, 0, tzinfo=dt.UTC)


async def test_the_same_call_ended_twice_is_recorded_once(
    database: Database, writer: CallLogWriter
) -> None:
    assert await writer.handle(inbound_answered()) == "written"
    assert await writer.handle(inbound_answered()) == "duplicate"
    assert len(await _records(database)) == 1


async def test_outbound_click_to_call_is_linked_to_the_dialled_customer(
    database: Database, writer: CallLogWriter, customers: CustomerService
) -> None:
    laleh = await customers.create(name="Laleh Farahani", phones=[("+982177665544", "work")])
    await writer.handle(click_to_call())
    [record] = await _records(database)
    assert (record.direction, record.caller, record.dialed) == ("outbound", "1002", "02177665544")
    assert record.customer_id == laleh.id


async def test_anonymous_caller_is_recorded_without_a_customer(
    database: Database, writer: CallLogWriter
) -> None:
    await writer.handle(inbound_answered(caller="anonymous"))
    [record] = await _records(database)
    assert (record.caller, record.customer_id) == ("anonymous", None)


async def test_a_call_carrying_a_case_variable_is_linked_to_that_case_and_its_customer(
    database: Database, writer: CallLogWriter, customers: CustomerService, crm_config: CrmConfig
) -> None:
    owner = await customers.create(name="Case owner")
    case = await CaseService(database, crm_config).open_case(customer_id=owner.id, subject="x")
    # Caller ID unknown, but the IVR set the case: the call lands in that customer's file.
    event = inbound_answered(caller=None, variables=(("CTIHUB_CASE", case.tracking_code),))
    await writer.handle(event)
    [record] = await _records(database)
    assert (record.case_id, record.customer_id) == (case.id, owner.id)


async def test_ivr_input_that_is_a_valid_tracking_code_links_the_case(
    database: Database, writer: CallLogWriter, customers: CustomerService, crm_config: CrmConfig
) -> None:
    owner = await customers.create(name="Case owner")
    case = await CaseService(database, crm_config).open_case(customer_id=owner.id, subject="x")
    await writer.handle(inbound_answered(ivr_input=case.tracking_code))
    await writer.handle(inbound_answered(call_id="other", ivr_input="12345678"))
    records = {r.call_id: r for r in await _records(database)}
    assert records["1795392474.0"].case_id == case.id
    assert records["other"].case_id is None


async def test_calls_ended_while_the_database_is_unreachable_are_spooled_then_written_once(
    database: Database, directory: CallerDirectory, crm_config: CrmConfig, tmp_path: Path
) -> None:
    spool = JsonlSpool(tmp_path / "spool" / "call_records.jsonl")
    # Nothing listens on port 1: every write fails as a connection error.
    down = Database(
        DatabaseConfig(url="postgresql+asyncpg://postgres@127.0.0.1:1/none", connect_timeout=1)
    )
    down_directory = CallerDirectory.for_database(down, directory.normaliser, crm_config)
    offline = CallLogWriter(down, down_directory, crm_config, spool=spool)
    assert await offline.handle(inbound_answered("a")) == "spooled"
    assert await offline.handle(inbound_answered("b")) == "spooled"
    assert await offline.handle(inbound_answered("a")) == "spooled"
    await down.dispose()
    assert spool.pending() == 3
    lines = (tmp_path / "spool" / "call_records.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["call_id"] == "a"

    # The hub restarts with the database back: the spool is replayed, duplicates collapse.
    online = CallLogWriter(database, directory, crm_config, spool=spool)
    assert await online.replay_spool() == 3
    assert [r.call_id for r in await _records(database)] == ["a", "b"]
    assert spool.pending() == 0


@pytest.mark.postgres
async def test_database_cut_mid_run_loses_nothing_and_writes_nothing_twice(
    postgres_url: str, normaliser: PhoneNormaliser, tmp_path: Path
) -> None:
    target = make_url(postgres_url)
    proxy = CuttableProxy(target.host or "127.0.0.1", target.port or 5432)
    await proxy.start()
    proxied_url = target.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
    config = CrmConfig(spool_dir=str(tmp_path / "spool"), spool_retry_interval=0.05)
    direct = Database(DatabaseConfig(url=postgres_url))
    hub_db = Database(DatabaseConfig(url=proxied_url, connect_timeout=1.0, statement_timeout=2.0))
    directory = CallerDirectory.for_database(hub_db, normaliser, config)
    writer = CallLogWriter(hub_db, directory, config)
    await writer.start()
    run = secrets.token_hex(4)  # this test's calls, whatever else the database holds
    ids = [f"{run}-{i:03d}" for i in range(60)]
    events = [
        inbound_answered(call_id, started_at=1795392474.0 + i) for i, call_id in enumerate(ids)
    ]
    outcomes: list[str] = []
    try:
        for index, event in enumerate(events):
            if index == 20:
                # Cut while this write is on the wire: it may or may not have committed.
                in_flight = asyncio.create_task(writer.handle(event))
                await asyncio.sleep(0.002)
                await proxy.cut()
                outcomes.append(await in_flight)
                continue
            if index == 40:
                await proxy.restore()
            outcomes.append(await writer.handle(event))
            if index in (10, 30, 50):  # the same call reported again, before, during, after
                outcomes.append(await writer.handle(events[index - 5]))

        async def drained() -> None:
            while writer.spool.pending() or writer._outage.is_set():
                await asyncio.sleep(0.02)

        await asyncio.wait_for(drained(), timeout=30)
        async with direct.engine.connect() as connection:
            mine = CallRecord.call_id.like(f"{run}-%")
            stored = [
                row[0]
                for row in await connection.execute(
                    select(CallRecord.call_id).where(mine).order_by(CallRecord.call_id)
                )
            ]
            twice = (
                await connection.execute(
                    select(CallRecord.call_id)
                    .where(mine)
                    .group_by(CallRecord.call_id)
                    .having(func.count() > 1)
                )
            ).all()
    finally:
        await writer.stop()
        await directory.close()
        await hub_db.dispose()
        await direct.dispose()
        await proxy.close()

    assert outcomes[:12] == ["written"] * 11 + ["duplicate"]
    assert outcomes[21] in ("written", "spooled")
    assert outcomes[22:42] == ["spooled"] * 20  # the cut really happened
    assert stored == ids
    assert twice == []


async def test_replay_sets_aside_unreadable_records_and_survives_a_torn_last_line(
    database: Database, directory: CallerDirectory, crm_config: CrmConfig, tmp_path: Path
) -> None:
    path = tmp_path / "spool" / "call_records.jsonl"
    path.parent.mkdir(parents=True)
    good = json.dumps(inbound_answered("good").to_dict())
    # A record of the wrong type, a good one, and a line cut short by a crash mid-append.
    path.write_text('{"type": "call_started"}\n' + good + '\n{"type": "call_en')
    writer = CallLogWriter(database, directory, crm_config, spool=JsonlSpool(path))
    assert await writer.replay_spool() == 2
    assert [r.call_id for r in await _records(database)] == ["good"]
    assert writer.rejected.pending() == 1
    assert writer.spool.pending() == 0


@pytest.mark.postgres
async def test_a_row_the_database_refuses_is_set_aside_not_retried_forever(
    postgres_url: str, normaliser: PhoneNormaliser, tmp_path: Path
) -> None:
    config = CrmConfig(spool_dir=str(tmp_path / "spool"))
    database = Database(DatabaseConfig(url=postgres_url))
    directory = CallerDirectory.for_database(database, normaliser, config)
    writer = CallLogWriter(database, directory, config)
    try:
        # call_id is VARCHAR(64): PostgreSQL refuses a longer one as bad data.
        assert await writer.handle(inbound_answered("x" * 65)) == "rejected"
    finally:
        await directory.close()
        await database.dispose()
    assert writer.rejected.pending() == 1
    assert writer.spool.pending() == 0


async def test_a_burst_read_from_the_bus_is_written_in_batches_each_call_once(
    database: Database, writer: CallLogWriter, customers: CustomerService
) -> None:
    from cti.bus import LocalBus

    nasrin = await customers.create(name="Nasrin Tehrani", phones=[("021 8877 6655", "work")])
    bus = LocalBus(retention=50, durable=["call-log"])
    subscription = await bus.subscribe("call-log")
    ids = [f"burst.{n}" for n in range(1_200)]
    # Every call twice (a redelivery after a restart), and far more than the window.
    await bus.publish([inbound_answered(call_id) for call_id in ids])
    await bus.publish([inbound_answered(call_id) for call_id in ids[:300]])
    consumer = asyncio.create_task(writer.consume(subscription))
    await asyncio.wait_for(subscription.caught_up(), 60)
    consumer.cancel()
    records = await _records(database)
    assert sorted(r.call_id for r in records) == sorted(ids)
    assert {r.customer_id for r in records} == {nasrin.id}


async def test_a_call_repeated_in_a_batch_or_across_batches_is_written_once(
    database: Database, writer: CallLogWriter
) -> None:
    batch = [inbound_answered("a"), inbound_answered("b"), inbound_answered("a")]
    assert await writer.handle_many(batch) == ["written", "written", "duplicate"]
    assert await writer.handle_many([inbound_answered("b"), inbound_answered("c")]) == [
        "duplicate",
        "written",
    ]
    assert [r.call_id for r in await _records(database)] == ["a", "b", "c"]


@pytest.mark.postgres
async def test_a_refused_row_in_a_batch_is_set_aside_and_the_rest_written(
    postgres_url: str, normaliser: PhoneNormaliser, tmp_path: Path
) -> None:
    config = CrmConfig(spool_dir=str(tmp_path / "spool"))
    database = Database(DatabaseConfig(url=postgres_url))
    directory = CallerDirectory.for_database(database, normaliser, config)
    writer = CallLogWriter(database, directory, config)
    prefix = secrets.token_hex(4)
    try:
        outcomes = await writer.handle_many(
            [
                inbound_answered(f"{prefix}.1"),
                inbound_answered("x" * 65),
                inbound_answered(f"{prefix}.2"),
            ]
        )
        async with database.sessions() as session:
            stored = set(
                await session.scalars(
                    select(CallRecord.call_id).where(CallRecord.call_id.like(f"{prefix}.%"))
                )
            )
    finally:
        await directory.close()
        await database.dispose()
    assert outcomes == ["written", "rejected", "written"]
    assert stored == {f"{prefix}.1", f"{prefix}.2"}
    assert writer.rejected.pending() == 1
