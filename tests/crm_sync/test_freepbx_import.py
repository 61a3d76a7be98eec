"""Import from an Issabel/FreePBX database on the real MariaDB: devices, queues and members,
and the call history with its recordings; read-only, resumable, idempotent.

Each test creates its own two databases (``ctihub_t<random>_asterisk`` and
``…_cdr``), shaped as FreePBX creates its tables, and drops them at the end.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import create_async_engine

from crm_sync.customers import phone_row
from crm_sync.db import Database
from crm_sync.freepbx_import import FreePbxDatabase, FreePbxImporter
from crm_sync.models import CallRecord, Customer, Device, Queue
from crm_sync.phones import PhoneNormaliser

MARIADB = "mysql+aiomysql://root@127.0.0.1:3306/test"

SCHEMA = """
CREATE TABLE `{c}`.users (
  extension varchar(20) NOT NULL DEFAULT '', password varchar(20) DEFAULT NULL,
  name varchar(50) DEFAULT NULL, voicemail varchar(50) DEFAULT NULL,
  ringtimer int(3) DEFAULT NULL, noanswer varchar(100) DEFAULT NULL,
  recording varchar(50) DEFAULT NULL, outboundcid varchar(50) DEFAULT NULL,
  sipname varchar(50) DEFAULT NULL, mohclass varchar(80) DEFAULT 'default',
  noanswer_cid varchar(20) NOT NULL DEFAULT '', busy_cid varchar(20) NOT NULL DEFAULT '',
  chanunavail_cid varchar(20) NOT NULL DEFAULT '', noanswer_dest varchar(255) NOT NULL DEFAULT '',
  busy_dest varchar(255) NOT NULL DEFAULT '', chanunavail_dest varchar(255) NOT NULL DEFAULT '',
  KEY extension (extension)
);
CREATE TABLE `{c}`.devices (
  id varchar(20) NOT NULL DEFAULT '', tech varchar(10) NOT NULL DEFAULT '',
  dial varchar(255) NOT NULL DEFAULT '', devicetype varchar(5) NOT NULL DEFAULT '',
  user varchar(50) DEFAULT NULL, description varchar(50) DEFAULT NULL,
  emergency_cid varchar(100) DEFAULT NULL, hint_override varchar(100) DEFAULT NULL,
  KEY id (id), KEY tech (tech)
);
CREATE TABLE `{c}`.queues_config (
  extension varchar(20) NOT NULL DEFAULT '', descr varchar(35) NOT NULL DEFAULT '',
  grppre varchar(100) NOT NULL DEFAULT '', alertinfo varchar(254) NOT NULL DEFAULT '',
  ringing tinyint(1) NOT NULL DEFAULT 0, maxwait varchar(8) NOT NULL DEFAULT '',
  password varchar(20) NOT NULL DEFAULT '', ivr_id varchar(8) NOT NULL DEFAULT '0',
  dest varchar(50) NOT NULL DEFAULT '', cwignore tinyint(1) NOT NULL DEFAULT 0,
  queuewait tinyint(1) DEFAULT 0, use_queue_context tinyint(1) DEFAULT 0,
  togglehint tinyint(1) DEFAULT 0, qnoanswer tinyint(1) DEFAULT 0,
  callconfirm tinyint(1) DEFAULT 0, monitor_type varchar(5) DEFAULT NULL,
  PRIMARY KEY (extension)
);
CREATE TABLE `{c}`.queues_details (
  id varchar(45) NOT NULL DEFAULT '-1', keyword varchar(30) NOT NULL DEFAULT '',
  data varchar(150) NOT NULL DEFAULT '', flags int(1) NOT NULL DEFAULT 0,
  PRIMARY KEY (id, keyword, data)
);
CREATE TABLE `{r}`.cdr (
  calldate datetime NOT NULL DEFAULT '0000-00-00 00:00:00', clid varchar(80) NOT NULL DEFAULT '',
  src varchar(80) NOT NULL DEFAULT '', dst varchar(80) NOT NULL DEFAULT '',
  dcontext varchar(80) NOT NULL DEFAULT '', channel varchar(80) NOT NULL DEFAULT '',
  dstchannel varchar(80) NOT NULL DEFAULT '', lastapp varchar(80) NOT NULL DEFAULT '',
  lastdata varchar(80) NOT NULL DEFAULT '', duration int(11) NOT NULL DEFAULT 0,
  billsec int(11) NOT NULL DEFAULT 0, disposition varchar(45) NOT NULL DEFAULT '',
  amaflags int(11) NOT NULL DEFAULT 0, accountcode varchar(20) NOT NULL DEFAULT '',
  uniqueid varchar(32) NOT NULL DEFAULT '', userfield varchar(255) NOT NULL DEFAULT '',
  did varchar(50) NOT NULL DEFAULT '', recordingfile varchar(255) NOT NULL DEFAULT '',
  cnum varchar(40) NOT NULL DEFAULT '', cnam varchar(40) NOT NULL DEFAULT '',
  outbound_cnum varchar(40) NOT NULL DEFAULT '', outbound_cnam varchar(40) NOT NULL DEFAULT '',
  dst_cnam varchar(40) NOT NULL DEFAULT '', linkedid varchar(32) NOT NULL DEFAULT '',
  peeraccount varchar(80) NOT NULL DEFAULT '', sequence int(11) NOT NULL DEFAULT 0,
  KEY calldate (calldate), KEY dst (dst), KEY accountcode (accountcode)
);
INSERT INTO `{c}`.users (extension, name) VALUES ('1001', 'Ali Rezaei'), ('1002', 'Sara Ahmadi');
INSERT INTO `{c}`.devices (id, tech, dial, devicetype, user, description) VALUES
  ('1001', 'pjsip', 'PJSIP/1001', 'fixed', '1001', 'Ali Rezaei'),
  ('1002', 'sip', 'SIP/1002', 'fixed', '1002', 'Sara Ahmadi'),
  ('9000', 'dahdi', 'DAHDI/1', 'fixed', '9000', 'fax');
INSERT INTO `{c}`.queues_config (extension, descr) VALUES ('600', 'Support');
INSERT INTO `{c}`.queues_details (id, keyword, data, flags) VALUES
  ('600', 'member', 'Local/1001@from-queue/n,0', 0),
  ('600', 'member', 'Local/1002@from-queue/n,0', 1),
  ('600', 'strategy', 'rrmemory', 0);
INSERT INTO `{r}`.cdr (calldate, src, dst, channel, dstchannel, duration, billsec, disposition,
  uniqueid, linkedid, recordingfile) VALUES
  ('2026-11-20 08:00:00', '09121234567', '600', 'SIP/trunk-00000001',
   'Local/1001@from-queue-00000001;1', 12, 0, 'NO ANSWER', '1795000000.1', '1795000000.1', ''),
  ('2026-11-20 08:00:00', '09121234567', '600', 'SIP/trunk-00000001',
   'SIP/1002-00000003', 95, 80, 'ANSWERED', '1795000000.2', '1795000000.1',
   'q-600-09121234567-20261120-080000-1795000000.1.wav'),
  ('2026-11-20 09:00:00', '02188776655', '600', 'SIP/trunk-00000004',
   'PJSIP/1001-00000005', 60, 50, 'ANSWERED', '1795003600.4', '1795003600.4',
   'q-600-02188776655-20261120-090000-1795003600.4.wav'),
  ('2026-11-20 10:00:00', '1001', '09351112233', 'PJSIP/1001-00000006',
   'SIP/trunk-00000007', 40, 30, 'ANSWERED', '1795007200.6', '1795007200.6', '');
"""


@pytest.fixture
async def freepbx() -> AsyncIterator[FreePbxDatabase]:
    prefix = f"ctihub_t{uuid.uuid4().hex[:10]}"
    config_db, cdr_db = f"{prefix}_asterisk", f"{prefix}_cdr"
    admin = create_async_engine(MARIADB)
    try:
        async with admin.begin() as connection:
            await connection.execute(text(f"CREATE DATABASE `{config_db}`"))
            await connection.execute(text(f"CREATE DATABASE `{cdr_db}`"))
            for statement in SCHEMA.format(c=config_db, r=cdr_db).split(";\n"):
                if statement.strip():
                    await connection.execute(text(statement))
        source = FreePbxDatabase(MARIADB, config_db=config_db, cdr_db=cdr_db)
        yield source
        await source.close()
    finally:
        async with admin.begin() as connection:
            await connection.execute(text(f"DROP DATABASE IF EXISTS `{config_db}`"))
            await connection.execute(text(f"DROP DATABASE IF EXISTS `{cdr_db}`"))
        await admin.dispose()


async def test_devices_queues_and_members_are_previewed_then_imported_once(
    freepbx: FreePbxDatabase, database: Database
) -> None:
    importer = FreePbxImporter(database, PhoneNormaliser("IR"))
    preview = await importer.import_config(freepbx, "cli:root", apply=False)
    assert sorted(i.name for i in preview.add) == [
        "600",
        "Local/1001@from-queue/n",
        "Local/1002@from-queue/n",
        "PJSIP/1001",
        "SIP/1002",
    ]
    async with database.sessions() as session:
        assert (await session.scalars(select(Device))).all() == []
    applied = await importer.import_config(freepbx, "cli:root", apply=True)
    assert applied.applied and len(applied.add) == 5
    async with database.sessions() as session:
        labels = {d.interface: d.label for d in (await session.scalars(select(Device))).all()}
        assert labels["SIP/1002"] == "Sara Ahmadi"
        assert (await session.scalars(select(Queue.name))).all() == ["600"]
    again = await importer.import_config(freepbx, "cli:root", apply=True)
    assert (again.add, again.change) == ([], [])


async def test_call_history_is_backfilled_resumably_with_recordings_and_customers(
    freepbx: FreePbxDatabase, database: Database
) -> None:
    normaliser = PhoneNormaliser("IR")
    async with database.sessions() as session:
        kaveh = Customer(name="کاوه مرادی")
        kaveh.phones.append(phone_row(normaliser, "09121234567"))
        session.add(kaveh)
        # The hub logged this call live, before its recording was known.
        session.add(
            CallRecord(
                call_id="1795003600.4",
                direction="inbound",
                disposition="answered",
                agent="1001",
                started_at=dt.datetime(2026, 11, 20, 9, tzinfo=dt.UTC),
            )
        )
        await session.commit()
    importer = FreePbxImporter(database, normaliser)
    first = await importer.import_cdr(freepbx, "cli:root", batch=2, max_rows=2)
    assert (first.read, first.written) == (2, 1)
    second = await importer.import_cdr(freepbx, "cli:root", batch=2)
    assert (second.read, second.written, second.recordings_added) == (2, 1, 1)
    assert second.position == "2026-11-20 10:00:00|1795007200.6"
    third = await importer.import_cdr(freepbx, "cli:root", batch=2)
    assert (third.read, third.written) == (0, 0)
    async with database.sessions() as session:
        records = {r.call_id: r for r in (await session.scalars(select(CallRecord))).all()}
    assert sorted(records) == ["1795000000.1", "1795003600.4", "1795007200.6"]
    queued = records["1795000000.1"]
    assert (queued.disposition, queued.agent, queued.talk_seconds) == ("answered", "1002", 80)
    assert queued.recording == "q-600-09121234567-20261120-080000-1795000000.1.wav"
    assert queued.customer_id == kaveh.id and queued.wait_seconds == 15
    assert records["1795003600.4"].recording.endswith("1795003600.4.wav")  # type: ignore[union-attr]
    assert records["1795007200.6"].direction == "outbound"
