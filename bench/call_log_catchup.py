"""How fast the call log drains a backlog (a 6,000-call burst), batched vs one record at a time.

The backlog is what a burst of short calls, a reconnect after a long cut or
a node taking over leaves on the bus: thousands of ``CallEnded`` waiting.
Each database (a fresh SQLite file, a fresh PostgreSQL database) gets a CRM
of 1,000 customers; half the calls come from them (so the caller lookup and
the customer's ``last_activity_at`` update both happen), the others from
unknown numbers.

- ``one_by_one`` (the baseline, what the writer did before): ``handle(event)``
  per call, one transaction each.
- ``catchup``: the whole backlog published on a :class:`~cti.bus.LocalBus`
  first, then :meth:`CallLogWriter.consume` (batches of what the bus has
  ready) until the subscription is caught up. Quiet: nothing else arrives.
- ``catchup_busy``: the same while new calls keep being published at 200 a
  second (the PBX does not stop for the backlog); the rate counts the
  backlog only, the run ends when the backlog and the new calls are written.

Each call id is new in each variant; the record count is checked after each.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg

from crm_sync.call_log import CallLogWriter
from crm_sync.customers import CustomerService
from crm_sync.db import Database
from crm_sync.matching import CallerDirectory
from crm_sync.migrations import upgrade
from crm_sync.phones import PhoneNormaliser
from crm_sync.settings import CrmConfig, DatabaseConfig
from cti.bus import LocalBus
from cti.events import CallEnded

log = logging.getLogger(__name__)

PG_DSN = os.environ.get("CTIHUB_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
BACKLOG = int(os.environ.get("CTIHUB_BENCH_CALL_LOG_BACKLOG", "6000"))
BASELINE = 300
CUSTOMERS = 1_000
BUSY_RATE = 200.0


def _customer_number(n: int) -> str:
    return f"0912{n:07d}"


def _call(call_id: str, n: int) -> CallEnded:
    caller = _customer_number(n % CUSTOMERS) if n % 2 == 0 else f"0935{n:07d}"
    started = 1_795_392_474.0 + n
    return CallEnded(
        call_id=call_id,
        direction="inbound",
        caller=caller,
        caller_name=None,
        dialed="2188000000",
        queue="support",
        agent="1001",
        agents_rung=("1001", "1002"),
        disposition="answered",
        wait_seconds=3,
        talk_seconds=40,
        recording=f"/var/spool/asterisk/monitor/in-{call_id}.wav",
        transfers=(),
        ivr_input=None,
        variables=(),
        hangup_cause=16,
        started_at=started,
        answered_at=started + 3,
        ended_at=started + 43,
    )


async def _figures(url: str, label: str, workdir: Path) -> dict[str, float]:
    normaliser = PhoneNormaliser("IR")
    config = CrmConfig(spool_dir=str(workdir / f"spool-{label}"))
    database = Database(DatabaseConfig(url=url))
    directory = CallerDirectory.for_database(database, normaliser, config)
    customers = CustomerService(database, normaliser)
    for n in range(CUSTOMERS):
        await customers.create(name=f"Customer {n}", phones=[(_customer_number(n), "mobile")])
    writer = CallLogWriter(database, directory, config)
    figures: dict[str, float] = {}
    try:
        events = [_call(f"one.{n}", n) for n in range(BASELINE)]
        started = time.perf_counter()
        for event in events:
            await writer.handle(event)
        figures[f"call_log_one_by_one_{label}_records_per_s"] = BASELINE / (
            time.perf_counter() - started
        )

        for busy in (False, True):
            name = "busy" if busy else "quiet"
            bus = LocalBus(retention=1_000, durable=["call-log"])
            subscription = await bus.subscribe("call-log")
            await bus.publish([_call(f"{name}.{n}", n) for n in range(BACKLOG)])
            extra = [0]
            feeder = asyncio.create_task(_keep_calling(bus, name, extra)) if busy else None
            consumer = asyncio.create_task(writer.consume(subscription))
            started = time.perf_counter()
            while bus.backlog("call-log"):
                # The backlog is drained once what was published before the start is written.
                await asyncio.sleep(0.005)
                if (bus.backlog("call-log") or 0) <= extra[0]:
                    break
            elapsed = time.perf_counter() - started
            if feeder is not None:
                feeder.cancel()
            await subscription.caught_up()
            consumer.cancel()
            key = "catchup" if not busy else "catchup_busy"
            figures[f"call_log_{key}_{label}_records_per_s"] = BACKLOG / elapsed
        stored = await writer.count()
        expected = BASELINE + 2 * BACKLOG
        if stored < expected:
            raise RuntimeError(f"{label}: {stored} call records, expected at least {expected}")
        figures[f"call_log_catchup_{label}_records_stored"] = stored
    finally:
        await writer.stop()
        await directory.close()
        await database.dispose()
    figures[f"call_log_catchup_vs_one_by_one_{label}_ratio"] = (
        figures[f"call_log_catchup_{label}_records_per_s"]
        / figures[f"call_log_one_by_one_{label}_records_per_s"]
    )
    return figures


async def _keep_calling(bus: LocalBus, name: str, count: list[int]) -> None:
    """New calls at BUSY_RATE while the backlog drains; ``count[0]``: how many so far."""
    while True:
        await asyncio.sleep(1 / BUSY_RATE)
        await bus.publish([_call(f"{name}.new.{count[0]}", BACKLOG + count[0])])
        count[0] += 1


async def _postgres(workdir: Path) -> dict[str, float]:
    try:
        admin = await asyncpg.connect(PG_DSN, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        log.warning("PostgreSQL unreachable, its figures are skipped: %s", exc)
        return {}
    name = f"ctihub_bench_{secrets.token_hex(4)}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_DSN.rsplit("/", 1)[0]
    url = f"{base.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
    try:
        await upgrade(url)
        return await _figures(url, "postgresql", workdir)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _run() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="ctihub-bench-calllog-") as tmp:
        workdir = Path(tmp)
        url = f"sqlite+aiosqlite:///{workdir / 'crm.sqlite3'}"
        await upgrade(url)
        figures = await _figures(url, "sqlite", workdir)
        figures |= await _postgres(workdir)
    rates = [
        v
        for k, v in figures.items()
        if k.startswith("call_log_catchup_") and k.endswith("_records_per_s") and "busy" not in k
    ]
    figures["call_log_catchup_records_per_s"] = min(rates)
    figures["call_log_catchup_backlog"] = BACKLOG
    return {k: round(v, 2) for k, v in figures.items()}


def run() -> dict[str, Any]:
    """Figures for ``python -m bench``; ``call_log_catchup_records_per_s``: the slower database."""
    return asyncio.run(_run())


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key:55} {value}")
