"""The node that takes the PBX link writes the calls that ended in the gap, from the PBX's CDR."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from ctihub.daemon import Hub
from ctihub.settings import load_settings
from tests.ctihub.test_hostile_ami import hub_settings, ready_link
from tests.pbx_adapters.ami_fake_server import running_server
from tests.pbx_adapters.test_cdr import (  # noqa: F401 (cdr_table is a fixture)
    MARIADB_URL,
    T,
    answered_call,
    cdr_table,
)

COLUMNS = (
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


async def _records(hub: Hub) -> list[dict[str, object]]:
    assert hub.crm is not None
    async with hub.crm.database.engine.connect() as connection:
        rows = await connection.execute(
            text("select call_id, agent, disposition, details from call_records")
        )
        return [dict(r._mapping) for r in rows]


async def test_a_call_that_ended_while_no_node_held_the_link_is_logged_once_from_the_cdr(
    cdr_table: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    # The call ended three minutes ago, while no hub was connected to the PBX.
    shift = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=3) - T
    legs = [dataclasses.replace(leg, start=leg.start + shift) for leg in answered_call()]
    engine = create_async_engine(MARIADB_URL)
    try:
        async with engine.begin() as connection:
            for leg in legs:
                await connection.execute(
                    text(
                        f"INSERT INTO {cdr_table} (calldate, {', '.join(COLUMNS)}) VALUES "
                        f"(:calldate, {', '.join(':' + c for c in COLUMNS)})"
                    ),
                    {"calldate": leg.start.replace(tzinfo=None)}
                    | {c: getattr(leg, c) for c in COLUMNS},
                )
    finally:
        await engine.dispose()
    async with running_server() as server:
        env = hub_settings(
            tmp_path, server.port, CTIHUB_CDR__URL=MARIADB_URL, CTIHUB_CDR__TABLE=cdr_table
        )
        for _ in range(2):  # taking the link twice (a restart) writes it no second time
            hub = Hub(load_settings(None, env=env))
            await hub.start()
            try:
                await ready_link(hub)
                async with asyncio.timeout(30):
                    while not (records := await _records(hub)):
                        await asyncio.sleep(0.1)
                await asyncio.sleep(0.5)
                records = await _records(hub)
            finally:
                await hub.stop()
            (record,) = records
            assert (record["call_id"], record["agent"]) == ("1795392474.0", "1001")
            assert record["disposition"] == "answered"
            details = record["details"]
            assert isinstance(details, str | dict)
            assert (
                '"reconciled": true' in details
                if isinstance(details, str)
                else details["reconciled"]
            )
