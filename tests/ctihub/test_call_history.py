"""Call history search over the real call log, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from crm_sync.customers import CustomerService
from crm_sync.db import Database
from crm_sync.models import CallRecord, Note
from crm_sync.phones import PhoneNormaliser
from ctihub.panel_backend import CrmCallSearch
from popup_server.ports import HistoryQuery

NOW = dt.datetime.now(dt.UTC)


async def _seed(database: Database) -> None:
    customers = CustomerService(database, PhoneNormaliser("IR"))
    nasrin = await customers.create(name="نسرین تهرانی", phones=[("02188776655", "work")])
    async with database.sessions() as session, session.begin():
        rows = [
            ("a", "1001", "+982188776655", "support", "answered", 1, nasrin.id, "x.wav", 12.0),
            ("b", "1002", "+989121234567", "sales", "answered", 2, None, "y.wav", None),
            ("c", None, "+989350000000", "support", "abandoned", 3, None, None, None),
            ("d", "1001", "+989121234567", "support", "answered", 60 * 24 * 40, None, None, None),
        ]
        for call_id, agent, caller, queue, disposition, minutes, customer, rec, secs in rows:
            record = CallRecord(
                call_id=call_id,
                direction="inbound",
                agent=agent,
                caller=caller,
                queue=queue,
                disposition=disposition,
                started_at=NOW - dt.timedelta(minutes=minutes),
                customer_id=customer,
                recording=rec,
                recording_seconds=secs,
            )
            session.add(record)
            await session.flush()
            if call_id == "a":
                session.add(Note(call_record_id=record.id, body="Router", disposition="resolved"))


async def _ids(search: CrmCallSearch, **fields: object) -> list[str]:
    query = HistoryQuery(since=NOW - dt.timedelta(days=7), **fields)  # type: ignore[arg-type]
    return [c["call_id"] for c in await search.find_calls(query)]


async def test_history_filters_by_who_number_name_queue_and_outcome(database: Database) -> None:
    await _seed(database)
    search = CrmCallSearch(database)
    assert await _ids(search) == ["a", "b", "c"]  # "d" is older than the range
    assert await _ids(search, extensions=("1001",)) == ["a"]
    assert await _ids(search, extensions=("1001",), missed_queues=("support",)) == ["a", "c"]
    assert await _ids(search, text="09121234567") == ["b"]  # national form of +98912…
    assert await _ids(search, text="تهران") == ["a"]  # part of the customer's name
    assert await _ids(search, queue="sales") == ["b"]
    assert await _ids(search, disposition="resolved") == ["a"]
    assert await _ids(search, disposition="call:abandoned") == ["c"]
    assert await _ids(search, missed_only=True) == ["c"]
    found = await search.find_calls(HistoryQuery(since=NOW - dt.timedelta(days=7)))
    by_id = {c["call_id"]: c for c in found}
    assert (by_id["a"]["outcome"], by_id["a"]["note"]) == ("resolved", "Router")
    # A recording is playable only once found and measured.
    assert [by_id[i]["has_recording"] for i in "abc"] == [True, False, False]
