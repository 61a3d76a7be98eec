"""CRM caller lookup with 1,000,000 customers, on SQLite and PostgreSQL; CSV import rate.

What it answers: is the screen pop's caller lookup fast enough at a million
customers, and how much of it is the database itself?

- Data: N customers (``CTIHUB_BENCH_CUSTOMERS``, default 1,000,000), one
  mobile each (``+98912…``, shuffled), bulk-loaded (``executemany`` on
  SQLite, ``COPY`` on PostgreSQL) into a schema made by the real migrations.
- ``lookup``: :meth:`CallerDirectory.lookup` with the cache off, as on the
  first ring of a caller: normalise, exact match, then the pop's details
  (numbers, contracts and open cases in one query, last 5 calls): 3 queries. SQLite
  uses the hub's fast path (stdlib ``sqlite3`` read inline on the loop);
  ``aiosqlite`` is the same lookup through SQLAlchemy + aiosqlite, for
  comparison. PostgreSQL uses the hub's asyncpg pool (prepared statements).
- ``suffix``: a Tehran landline ``+98 21 2xxxxxxx`` that exists only as the
  last 8 digits of a mobile: the exact match misses, the suffix range scan hits.
- ``cached``: the same lookup answered from the cache (a caller ringing twice).
- Baseline, same run: the bare indexed read ``SELECT customer_id FROM
  phone_numbers WHERE e164 = ?`` with stdlib ``sqlite3`` (and through
  ``asyncio.to_thread``), and with a prepared asyncpg statement.
- ``import_rows_per_s``: ``CsvImporter`` on a 100,000-row customers file
  (validation, phone normalisation, one transaction) into SQLite.

Run alone with ``python -m bench.crm_lookup`` (writes ``bench/results.json``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

from crm_sync.csv_io import CsvImporter
from crm_sync.db import Database
from crm_sync.matching import CallerDirectory, EngineRowSource
from crm_sync.migrations import upgrade
from crm_sync.phones import PhoneNormaliser
from crm_sync.settings import CrmConfig, DatabaseConfig

log = logging.getLogger(__name__)

CUSTOMERS = int(os.environ.get("CTIHUB_BENCH_CUSTOMERS", "1000000"))
PG_DSN = os.environ.get("CTIHUB_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
LOOKUPS = 5_000
WARMUP = 500
IMPORT_ROWS = 100_000
STAMP = "2026-11-28 00:00:00.000000"


def _ms(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return round(cuts[49] * 1000, 4), round(cuts[98] * 1000, 4)


def _numbers(count: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [f"+98912{n:07d}" for n in rng.sample(range(10_000_000), count)]


async def _timed(
    call: Callable[[str], Awaitable[Any]], numbers: list[str], prime: bool = False
) -> list[float]:
    for number in numbers if prime else numbers[:WARMUP]:
        await call(number)
    samples = []
    clock = time.perf_counter
    for number in numbers[WARMUP:]:
        started = clock()
        await call(number)
        samples.append(clock() - started)
    return samples


def _sample(numbers: list[str], seed: int) -> list[str]:
    return random.Random(seed).sample(numbers, WARMUP + LOOKUPS)


def _landline(mobile: str) -> str:
    # Same last 8 digits, different number: only the suffix match can find it.
    return "+9821" + mobile[-8:]


def _load_sqlite(path: str, numbers: list[str]) -> None:
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA synchronous=OFF")
    with connection:
        connection.executemany(
            "INSERT INTO customers (id, kind, name, vip, created_at, updated_at) "
            "VALUES (?, 'person', ?, 0, ?, ?)",
            ((i, f"Customer {i}", STAMP, STAMP) for i in range(1, len(numbers) + 1)),
        )
        connection.executemany(
            "INSERT INTO phone_numbers (customer_id, raw, e164, reversed_digits, kind) "
            "VALUES (?, ?, ?, ?, 'mobile')",
            ((i, n, n, n[:0:-1]) for i, n in enumerate(numbers, start=1)),
        )
    connection.execute("ANALYZE")
    connection.close()


async def _sqlite_figures(workdir: Path, numbers: list[str]) -> dict[str, float]:
    path = workdir / "bench.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"
    await upgrade(url)
    started = time.perf_counter()
    _load_sqlite(str(path), numbers)
    load_s = time.perf_counter() - started
    log.info("sqlite loaded customers=%d seconds=%.1f", len(numbers), load_s)
    figures: dict[str, float] = {"crm_bench_sqlite_load_s": round(load_s, 1)}

    probe = _sample(numbers, 2)
    bare = sqlite3.connect(str(path), check_same_thread=False)
    sql = "SELECT customer_id FROM phone_numbers WHERE e164 = ?"

    async def bare_read(number: str) -> Any:
        return bare.execute(sql, (number,)).fetchall()

    async def bare_thread(number: str) -> Any:
        return await asyncio.to_thread(lambda: bare.execute(sql, (number,)).fetchall())

    database = Database(DatabaseConfig(url=url))
    config = CrmConfig()
    fast = CallerDirectory.for_database(database, PhoneNormaliser(), config)
    slow = CallerDirectory(EngineRowSource(database.engine), PhoneNormaliser(), config)
    try:
        checked = await fast.lookup(probe[0], use_cache=False)
        assert checked.status == "matched", "bench data not found by the lookup"
        suffix_check = await fast.lookup(_landline(probe[0]), use_cache=False)
        assert suffix_check.best is not None and suffix_check.best.matched_by == "suffix"
        for name, call, numbers_used in (
            ("bare_lookup", bare_read, probe),
            ("bare_lookup_to_thread", bare_thread, probe),
            ("lookup", lambda n: fast.lookup(n, use_cache=False), probe),
            (
                "suffix_lookup",
                lambda n: fast.lookup(n, use_cache=False),
                [_landline(n) for n in probe],
            ),
            ("lookup_aiosqlite", lambda n: slow.lookup(n, use_cache=False), probe),
            ("cached_lookup", fast.lookup, probe),
        ):
            p50, p99 = _ms(await _timed(call, numbers_used, prime=name == "cached_lookup"))
            figures[f"{name}_p50_ms_sqlite_1m"] = p50
            figures[f"{name}_p99_ms_sqlite_1m"] = p99
    finally:
        bare.close()
        await fast.close()
        await database.dispose()
    return figures


async def _postgres_figures(numbers: list[str]) -> dict[str, float]:
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
        connection = await asyncpg.connect(f"{base}/{name}")
        started = time.perf_counter()
        await connection.execute(
            "DROP INDEX ix_phone_numbers_e164, ix_phone_numbers_reversed_digits, "
            "ix_phone_numbers_customer_id"
        )
        stamp = "2026-11-28T00:00:00+00:00"
        import datetime as dt

        when = dt.datetime.fromisoformat(stamp)
        await connection.copy_records_to_table(
            "customers",
            records=(
                (i, "person", f"Customer {i}", False, when, when)
                for i in range(1, len(numbers) + 1)
            ),
            columns=("id", "kind", "name", "vip", "created_at", "updated_at"),
        )
        await connection.copy_records_to_table(
            "phone_numbers",
            records=((i, n, n, n[:0:-1], "mobile") for i, n in enumerate(numbers, start=1)),
            columns=("customer_id", "raw", "e164", "reversed_digits", "kind"),
        )
        await connection.execute("CREATE INDEX ix_phone_numbers_e164 ON phone_numbers (e164)")
        await connection.execute(
            "CREATE INDEX ix_phone_numbers_reversed_digits ON phone_numbers (reversed_digits)"
        )
        await connection.execute(
            "CREATE INDEX ix_phone_numbers_customer_id ON phone_numbers (customer_id)"
        )
        await connection.execute("ANALYZE")
        load_s = time.perf_counter() - started
        log.info("postgres loaded customers=%d seconds=%.1f", len(numbers), load_s)
        figures: dict[str, float] = {"crm_bench_postgres_load_s": round(load_s, 1)}
        probe = _sample(numbers, 3)
        statement = await connection.prepare(
            "SELECT customer_id FROM phone_numbers WHERE e164 = $1"
        )

        async def bare_read(number: str) -> Any:
            return await statement.fetch(number)

        database = Database(DatabaseConfig(url=url))
        directory = CallerDirectory.for_database(database, PhoneNormaliser(), CrmConfig())
        try:
            assert (await directory.lookup(probe[0], use_cache=False)).status == "matched"
            for label, call, numbers_used in (
                ("bare_lookup", bare_read, probe),
                ("lookup", lambda n: directory.lookup(n, use_cache=False), probe),
                (
                    "suffix_lookup",
                    lambda n: directory.lookup(n, use_cache=False),
                    [_landline(n) for n in probe],
                ),
            ):
                p50, p99 = _ms(await _timed(call, numbers_used))
                figures[f"{label}_p50_ms_postgres_1m"] = p50
                figures[f"{label}_p99_ms_postgres_1m"] = p99
        finally:
            await directory.close()
            await database.dispose()
            await connection.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return figures


async def _import_figures(workdir: Path) -> dict[str, float]:
    url = f"sqlite+aiosqlite:///{workdir / 'import.sqlite3'}"
    await upgrade(url)
    rng = random.Random(5)
    lines = ["ref,name,kind,phones,email,vip,language"]
    for i, number in enumerate(_numbers(IMPORT_ROWS, seed=9)):
        national = "0" + number[3:]
        lines.append(
            f"C-{i},مشتری شماره {i},person,{national[:4]} {national[4:7]} {national[7:]},"
            f"c{i}@example.com,{'yes' if rng.random() < 0.1 else 'no'},fa"
        )
    data = ("\n".join(lines) + "\n").encode()
    database = Database(DatabaseConfig(url=url))
    try:
        importer = CsvImporter(database, PhoneNormaliser(), CrmConfig())
        started = time.perf_counter()
        report = await importer.import_bytes(data, "customers", strict=True)
        elapsed = time.perf_counter() - started
    finally:
        await database.dispose()
    if report.imported != IMPORT_ROWS:
        raise RuntimeError(f"import bench: {report.imported} of {IMPORT_ROWS} rows imported")
    return {"import_rows_per_s": round(IMPORT_ROWS / elapsed)}


async def _run() -> dict[str, float]:
    numbers = _numbers(CUSTOMERS)
    with tempfile.TemporaryDirectory(prefix="ctihub-bench-") as tmp:
        workdir = Path(tmp)
        figures = await _sqlite_figures(workdir, numbers)
        figures |= await _postgres_figures(numbers)
        figures |= await _import_figures(workdir)
    figures["crm_bench_customers"] = CUSTOMERS
    if "lookup_p99_ms_sqlite_1m" in figures:
        figures["lookup_vs_bare_p99_ratio_sqlite"] = round(
            figures["lookup_p99_ms_sqlite_1m"] / figures["bare_lookup_p99_ms_sqlite_1m"], 2
        )
    if "lookup_p99_ms_postgres_1m" in figures:
        figures["lookup_vs_bare_p99_ratio_postgres"] = round(
            figures["lookup_p99_ms_postgres_1m"] / figures["bare_lookup_p99_ms_postgres_1m"], 2
        )
    return figures


def run() -> dict[str, float]:
    """Measure and return the figures (keys described in the module docstring)."""
    return asyncio.run(_run())


if __name__ == "__main__":
    import json

    from bench import RESULTS_PATH, merge_results

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    results = run()
    print(json.dumps(results, indent=2, sort_keys=True))
    merge_results(RESULTS_PATH, results)
    print(f"written to {RESULTS_PATH}")
