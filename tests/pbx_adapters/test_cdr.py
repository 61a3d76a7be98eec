"""The PBX's CDR table folded into reconciled calls: legs to one call, a real MariaDB read."""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from pbx_adapters.cdr import CdrError, CdrReader, CdrRow, calls_from_rows
from tests.conftest import _absent

EXTENSION = r"^[1-9][0-9]{1,5}$"
MARIADB_URL = os.environ.get("CTIHUB_TEST_MARIADB_URL", "mysql+aiomysql://root@127.0.0.1:3306/test")
T = dt.datetime(2026, 11, 23, 0, 7, 54, tzinfo=dt.UTC)


def leg(uniqueid: str, start: dt.datetime, **fields: object) -> CdrRow:
    values: dict[str, object] = {
        "start": start,
        "src": "+982188776655",
        "dst": "2188000000",
        "dcontext": "from-trunk",
        "channel": "PJSIP/trunk-00000001",
        "dstchannel": "",
        "lastapp": "Queue",
        "lastdata": "support,t,,,300",
        "duration": 0,
        "billsec": 0,
        "disposition": "NO ANSWER",
        "uniqueid": uniqueid,
        "linkedid": "1795392474.0",
    }
    values.update(fields)
    return CdrRow(**values)  # type: ignore[arg-type]


def answered_call() -> list[CdrRow]:
    """An inbound queue call as Issabel writes it: the trunk leg and one leg per agent rung."""
    return [
        leg("1795392474.0", T, duration=65, billsec=65, disposition="ANSWERED"),
        leg(
            "1795392474.1",
            T + dt.timedelta(seconds=1),
            dst="1002",
            dcontext="from-queue",
            lastapp="Dial",
            duration=4,
        ),
        leg(
            "1795392474.3",
            T + dt.timedelta(seconds=5),
            dst="1001",
            dcontext="from-queue",
            lastapp="Dial",
            duration=60,
            billsec=55,
            disposition="ANSWERED",
            recordingfile="q-support-+982188776655-20261123-000754-1795392474.0.wav",
        ),
    ]


def test_an_answered_queue_call_is_one_reconciled_call_with_its_agent_and_times() -> None:
    (call,) = calls_from_rows(answered_call(), EXTENSION)
    assert call.call_id == "1795392474.0" and call.reconciled
    assert (call.direction, call.caller, call.dialed) == ("inbound", "+982188776655", "2188000000")
    assert (call.queue, call.agent, call.agents_rung) == ("support", "1001", ("1002", "1001"))
    assert call.disposition == "answered"
    assert call.answered_at == (T + dt.timedelta(seconds=10)).timestamp()
    assert (call.wait_seconds, call.talk_seconds) == (10, 55)
    assert call.ended_at == (T + dt.timedelta(seconds=65)).timestamp()
    assert call.recording == "q-support-+982188776655-20261123-000754-1795392474.0.wav"


def test_a_caller_who_hung_up_in_the_queue_is_abandoned_and_an_outbound_call_answered() -> None:
    abandoned = [
        leg(
            "1795392500.5",
            T,
            linkedid="1795392500.5",
            duration=20,
            billsec=20,
            disposition="ANSWERED",
        )
    ]
    outbound = [
        leg(
            "1795392600.9",
            T,
            linkedid="1795392600.9",
            src="1002",
            dst="02177665544",
            dcontext="from-internal",
            lastapp="Dial",
            duration=30,
            billsec=25,
            disposition="ANSWERED",
        ),
    ]
    first, second = calls_from_rows(abandoned + outbound, EXTENSION)
    assert (first.disposition, first.queue, first.agent, first.wait_seconds) == (
        "abandoned",
        "support",
        None,
        20,
    )
    assert (second.direction, second.disposition, second.talk_seconds) == (
        "outbound",
        "answered",
        25,
    )


@pytest.fixture
async def cdr_table() -> AsyncIterator[str]:
    """A CDR table shaped as Asterisk's cdr_mysql writes it, in the real MariaDB."""
    name = f"cdr_{secrets.token_hex(4)}"
    engine = create_async_engine(MARIADB_URL)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    f"CREATE TABLE {name} (calldate DATETIME NOT NULL, clid VARCHAR(80),"
                    " src VARCHAR(80), dst VARCHAR(80), dcontext VARCHAR(80),"
                    " channel VARCHAR(80), dstchannel VARCHAR(80), lastapp VARCHAR(80),"
                    " lastdata VARCHAR(80), duration INT, billsec INT, disposition VARCHAR(45),"
                    " amaflags INT, accountcode VARCHAR(20), uniqueid VARCHAR(32),"
                    " userfield VARCHAR(255), linkedid VARCHAR(32), recordingfile VARCHAR(255))"
                )
            )
    except OSError as exc:
        await engine.dispose()
        _absent("MariaDB", f"{MARIADB_URL}: {exc}")
    except Exception as exc:  # the driver's own "cannot connect"
        await engine.dispose()
        _absent("MariaDB", f"{MARIADB_URL}: {type(exc).__name__}: {exc}")
    try:
        yield name
    finally:
        async with engine.begin() as connection:
            await connection.execute(text(f"DROP TABLE IF EXISTS {name}"))
        await engine.dispose()


async def test_calls_that_ended_in_the_gap_are_read_from_the_pbx_cdr_table(cdr_table: str) -> None:
    tehran = dt.timezone(dt.timedelta(hours=3, minutes=30))
    earlier = [
        leg(
            "1795300000.1",
            T - dt.timedelta(hours=2),
            linkedid="1795300000.1",
            duration=30,
            billsec=30,
            disposition="ANSWERED",
        )
    ]
    engine = create_async_engine(MARIADB_URL)
    try:
        async with engine.begin() as connection:
            for row in [*answered_call(), *earlier]:
                await connection.execute(
                    text(
                        f"INSERT INTO {cdr_table} (calldate, src, dst, dcontext, channel,"
                        " dstchannel, lastapp, lastdata, duration, billsec, disposition,"
                        " uniqueid, linkedid, recordingfile) VALUES (:calldate, :src, :dst,"
                        " :dcontext, :channel, :dstchannel, :lastapp, :lastdata, :duration,"
                        " :billsec, :disposition, :uniqueid, :linkedid, :recordingfile)"
                    ),
                    {
                        # The PBX writes its own local time (Tehran here), without a zone.
                        "calldate": row.start.astimezone(tehran).replace(tzinfo=None),
                        **{
                            k: getattr(row, k)
                            for k in (
                                "src",
                                "dst",
                                "dcontext",
                                "channel",
                                "dstchannel",
                                "lastapp",
                                "lastdata",
                                "duration",
                                "billsec",
                                "disposition",
                                "uniqueid",
                                "linkedid",
                                "recordingfile",
                            )
                        },
                    },
                )
    finally:
        await engine.dispose()
    reader = CdrReader(MARIADB_URL, table=cdr_table, timezone="Asia/Tehran")
    rows = await reader.ended_since(T - dt.timedelta(minutes=1))
    assert sorted(r.uniqueid for r in rows) == ["1795392474.0", "1795392474.1", "1795392474.3"]
    (call,) = calls_from_rows(rows, EXTENSION)
    assert (call.call_id, call.agent, call.talk_seconds) == ("1795392474.0", "1001", 55)
    assert call.started_at == T.timestamp()


async def test_an_unreachable_cdr_database_is_an_error_naming_the_table() -> None:
    reader = CdrReader("mysql+aiomysql://root@127.0.0.1:1/none", table="cdr", timeout=2)
    with pytest.raises(CdrError, match="cdr"):
        await reader.ended_since(T)
