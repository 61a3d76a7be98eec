"""A month's call report over 1,000,000 call records, on SQLite and PostgreSQL.

What it answers: can a supervisor ask for last month per queue, per agent and
per day and get it in under a second?

- Data: N call records (``CTIHUB_BENCH_CALLS``, default 1,000,000) spread over
  November 2026 (4 queues, 60 agents; answered, abandoned, short abandons,
  direct and outbound calls), bulk-loaded (``executemany`` on SQLite, ``COPY``
  on PostgreSQL) into a schema made by the real migrations.
- ``report_month_1m_calls_ms_<db>``: :func:`crm_sync.reports.build_table` for the
  month, ``queues``, ``agents`` (with case work) and ``calls`` per day, each
  timed (median of 3 after a warm-up); the key without suffix is the slowest
  of those on either database.
- ``report_rollup_build_1m_calls_s_<db>``: rolling the million calls into the
  quarter-hour rollups at once (as after an upgrade; the hub then adds each
  report's new calls only).
- Baseline, same run: ``SELECT count(*)`` of the month's rows through the same
  engine (the floor of any query reading the month).

Run alone with ``python -m bench.reports`` (writes ``bench/results.json``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import secrets
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import func, select

from crm_sync.db import Database
from crm_sync.migrations import upgrade
from crm_sync.models import CallRecord
from crm_sync.reports import REPORT_KINDS, ReportRequest, build_table, refresh_rollups
from crm_sync.settings import DatabaseConfig
from cti.figures import TargetBook

CALLS = int(os.environ.get("CTIHUB_BENCH_CALLS", "1000000"))
PG_DSN = os.environ.get("CTIHUB_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
MONTH = (dt.datetime(2026, 11, 1, tzinfo=dt.UTC), dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
QUEUES = ("support", "sales", "billing", "vip")
COLUMNS = (
    "call_id",
    "direction",
    "queue",
    "agent",
    "started_at",
    "wait_seconds",
    "talk_seconds",
    "disposition",
    "transfer_count",
    "wrapup_seconds",
    "details",
)


def _calls() -> Iterator[tuple[Any, ...]]:
    rng = random.Random(7)
    span = (MONTH[1] - MONTH[0]).total_seconds()
    for n in range(CALLS):
        started = MONTH[0] + dt.timedelta(seconds=rng.random() * span)
        roll = rng.random()
        agent = str(1001 + rng.randrange(60))
        if roll < 0.08:
            yield (f"b{n}", "outbound", None, agent, started, None, rng.randrange(5, 300),
                   "answered" if rng.random() < 0.6 else "failed", 0, None, "{}")  # fmt: skip
            continue
        queue = QUEUES[rng.randrange(len(QUEUES))] if roll > 0.12 else None
        wait = rng.randrange(0, 120) if queue else None
        if queue and rng.random() < 0.15:
            yield (f"b{n}", "inbound", queue, None, started, wait, None, "abandoned", 0, None, "{}")
            continue
        talk = rng.randrange(10, 600)
        yield (f"b{n}", "inbound", queue, agent, started, wait, talk, "answered",
               int(rng.random() < 0.05), rng.randrange(0, 60), "{}")  # fmt: skip


async def _timed(call: Callable[[], Awaitable[Any]], repeat: int = 3) -> float:
    await call()  # warm-up: caches, statistics, prepared statements
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(samples), 1)


async def _measure(database: Database, label: str) -> dict[str, float]:
    request = ReportRequest(MONTH[0], MONTH[1], (), dt.UTC)
    now = MONTH[1]
    start = time.perf_counter()
    await refresh_rollups(database, TargetBook())
    figures: dict[str, float] = {
        f"report_rollup_build_1m_calls_s_{label}": round(time.perf_counter() - start, 1)
    }
    for kind in REPORT_KINDS:
        figures[f"report_month_1m_calls_{kind}_ms_{label}"] = await _timed(
            lambda kind=kind: build_table(  # type: ignore[misc]
                database, kind, request, TargetBook(), "abandoned_ignored", now
            )
        )

    async def count() -> int:
        async with database.sessions() as session:
            query = select(func.count()).where(
                CallRecord.started_at >= MONTH[0], CallRecord.started_at < MONTH[1]
            )
            return int(await session.scalar(query) or 0)

    assert await count() == CALLS
    figures[f"report_month_count_baseline_ms_{label}"] = await _timed(count)
    figures[f"report_month_1m_calls_ms_{label}"] = max(
        figures[f"report_month_1m_calls_{kind}_ms_{label}"] for kind in REPORT_KINDS
    )
    return figures


async def _sqlite(folder: Path) -> dict[str, float]:
    url = f"sqlite+aiosqlite:///{folder}/reports.sqlite3"
    await upgrade(url)
    raw = sqlite3.connect(folder / "reports.sqlite3")
    with raw:
        raw.executemany(
            f"INSERT INTO call_records ({', '.join(COLUMNS)}, written_at) "
            f"VALUES ({', '.join('?' * len(COLUMNS))}, '2026-12-01 00:00:00')",
            ((*row[:4], row[4].strftime("%Y-%m-%d %H:%M:%S.%f"), *row[5:]) for row in _calls()),
        )
    raw.execute("ANALYZE")
    raw.close()
    database = Database(DatabaseConfig(url=url))
    try:
        return await _measure(database, "sqlite")
    finally:
        await database.dispose()


async def _postgres() -> dict[str, float]:
    name = f"ctihub_bench_reports_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(PG_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_DSN.rsplit("/", 1)[0]
    url = f"{base.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
    try:
        await upgrade(url)
        connection = await asyncpg.connect(f"{base}/{name}")
        try:
            await connection.copy_records_to_table(
                "call_records",
                records=((*row, MONTH[1]) for row in _calls()),
                columns=(*COLUMNS, "written_at"),
            )
            await connection.execute("VACUUM ANALYZE call_records")
        finally:
            await connection.close()
        database = Database(DatabaseConfig(url=url))
        try:
            return await _measure(database, "postgres")
        finally:
            await database.dispose()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _run() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        figures = await _sqlite(Path(folder))
    print(f"bench reports (sqlite): {figures}", flush=True)
    figures.update(await _postgres())
    figures["report_month_1m_calls_ms"] = max(
        figures["report_month_1m_calls_ms_sqlite"], figures["report_month_1m_calls_ms_postgres"]
    )
    return figures


def run() -> dict[str, float]:
    """Measure and return the figures (keys described in the module docstring)."""
    return asyncio.run(_run())


if __name__ == "__main__":
    import json

    from bench import RESULTS_PATH, merge_results

    results = run()
    print(json.dumps(results, indent=2, sort_keys=True))
    merge_results(RESULTS_PATH, results)
    print(f"written to {RESULTS_PATH}")
