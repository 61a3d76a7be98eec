"""Phonebook search at 1,000,000 customers: trigram index against the old name-prefix ILIKE.

What it answers: does "any part of a name or number, Persian or English" stay
fast when the phonebook is a million customers, on PostgreSQL (pg_trgm GIN)
and SQLite (FTS5 trigram)?

- Data: N customers (``CTIHUB_BENCH_CUSTOMERS``, default 1,000,000) with
  Persian and Latin names drawn from common first and last names (so a query
  such as "محمد" matches tens of thousands), one mobile each, the folded
  ``search_text`` the hub keeps (:func:`crm_sync.phonebook.search_text`),
  loaded into a schema made by the real migrations (PostgreSQL: ``COPY``,
  index built after; SQLite: ``executemany``, the FTS5 table rebuilt after).
- Queries (1,000 timed after 100 warm-up, same list for both databases): a
  part of a name (3 to 6 letters from anywhere in it, a fifth typed with the
  Arabic ي/ك), or 5 to 7 digits from anywhere in a number; each through
  :meth:`ctihub.panel_backend.CrmPhonebook.search` with ``limit=20``, the
  panel's own call.
- Baseline, same run: what the phonebook did before, ``name ILIKE 'q%'``
  ordered by name (names only, from their first letters), on the same data;
  40 queries after 5 warm-up (on PostgreSQL each reads the whole table).

Run alone with ``python -m bench.phonebook_search`` (writes ``bench/results.json``).
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
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
from sqlalchemy import select

from crm_sync.db import Database
from crm_sync.migrations import upgrade
from crm_sync.models import Customer
from crm_sync.phonebook import search_text
from crm_sync.settings import DatabaseConfig
from ctihub.panel_backend import CrmPhonebook

CUSTOMERS = int(os.environ.get("CTIHUB_BENCH_CUSTOMERS", "1000000"))
PG_DSN = os.environ.get("CTIHUB_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
QUERIES = 1_000
WARMUP = 100
BASELINE_QUERIES = 40
"""The old query reads the whole table on PostgreSQL (ILIKE cannot use the name index):
seconds each, so fewer of them."""
STAMP = "2026-11-28 00:00:00.000000"
STAMP_DT = dt.datetime(2026, 11, 28, tzinfo=dt.UTC)

FIRST = [
    "محمد",
    "علی",
    "حسین",
    "رضا",
    "مهدی",
    "زهرا",
    "فاطمه",
    "مریم",
    "سارا",
    "نرگس",
    "امیر",
    "حمید",
    "سعید",
    "نسرین",
    "لاله",
    "پریسا",
    "Ali",
    "Reza",
    "Sara",
    "Maryam",
    "Hossein",
    "Mehdi",
    "Nasrin",
    "Laleh",
    "Parisa",
    "Amir",
    "Hamid",
    "Saeed",
    "Zahra",
    "Narges",
]
LAST = [
    "رضایی",
    "احمدی",
    "کریمی",
    "محمدی",
    "حسینی",
    "تهرانی",
    "فرهانی",
    "نوری",
    "موسوی",
    "جعفری",
    "صادقی",
    "قاسمی",
    "کاظمی",
    "Rezaei",
    "Ahmadi",
    "Karimi",
    "Mohammadi",
    "Hosseini",
    "Tehrani",
    "Farahani",
    "Nouri",
    "Mousavi",
    "Jafari",
    "Sadeghi",
]


def _people(count: int, seed: int = 7) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    numbers = rng.sample(range(10_000_000), count)
    return [
        (f"{rng.choice(FIRST)} {rng.choice(LAST)} {i % 997}", f"0912{n:07d}")
        for i, n in enumerate(numbers)
    ]


def _queries(people: list[tuple[str, str]], count: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        name, number = rng.choice(people)
        if rng.random() < 0.3:
            size = rng.randint(5, 7)
            start = rng.randint(0, len(number) - size)
            out.append(number[start : start + size])
            continue
        word = rng.choice(name.split()[:2])
        size = min(len(word), rng.randint(3, 6))
        start = rng.randint(0, len(word) - size)
        query = word[start : start + size]
        if rng.random() < 0.2:
            query = query.replace("ی", "ي").replace("ک", "ك")
        out.append(query)
    return out


def _prefixes(people: list[tuple[str, str]], count: int, seed: int = 13) -> list[str]:
    rng = random.Random(seed)
    return [rng.choice(people)[0][: rng.randint(3, 6)] for _ in range(count)]


def _ms(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return round(cuts[49] * 1000, 3), round(cuts[98] * 1000, 3)


async def _timed(
    call: Callable[[str], Awaitable[object]], queries: list[str], warmup: int = WARMUP
) -> list[float]:
    for query in queries[:warmup]:
        await call(query)
    samples = []
    for query in queries[warmup:]:
        started = time.perf_counter()
        await call(query)
        samples.append(time.perf_counter() - started)
    return samples


def _rows(people: list[tuple[str, str]]) -> list[tuple[int, str, str]]:
    return [
        (i + 1, name, search_text(name, None, None, [number, "+98" + number[1:]]))
        for i, (name, number) in enumerate(people)
    ]


async def _measure(database: Database, queries: list[str], prefixes: list[str]) -> dict[str, float]:
    phonebook = CrmPhonebook(database)

    async def old(query: str) -> object:
        async with database.sessions() as session:
            statement = (
                select(Customer)
                .where(Customer.name.ilike(query + "%"))
                .order_by(Customer.name)
                .limit(20)
            )
            return (await session.scalars(statement)).all()

    new_p50, new_p99 = _ms(await _timed(lambda q: phonebook.search(q, 20), queries))
    old_p50, old_p99 = _ms(await _timed(old, prefixes[: BASELINE_QUERIES + 5], warmup=5))
    hits = [len(await phonebook.search(q, 20)) for q in queries[:200]]
    return {
        "p50_ms": new_p50,
        "p99_ms": new_p99,
        "baseline_prefix_ilike_p50_ms": old_p50,
        "baseline_prefix_ilike_p99_ms": old_p99,
        "queries_with_hits_ratio": round(sum(1 for h in hits if h) / len(hits), 3),
    }


async def _postgres(
    people: list[tuple[str, str]], queries: list[str], prefixes: list[str]
) -> dict[str, float]:
    name = f"ctihub_bench_pb_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(PG_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    base = PG_DSN.rsplit("/", 1)[0]
    url = f"{base.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
    try:
        await upgrade(url)
        connection = await asyncpg.connect(f"{base}/{name}")
        try:
            # The index is built once after the load, as a restore would, not row by row.
            await connection.execute("DROP INDEX customers_search_trgm")
            started = time.perf_counter()
            await connection.copy_records_to_table(
                "customers",
                records=[
                    (i, "person", n, False, STAMP_DT, STAMP_DT, False, text)
                    for i, n, text in _rows(people)
                ],
                columns=[
                    "id",
                    "kind",
                    "name",
                    "vip",
                    "created_at",
                    "updated_at",
                    "do_not_call",
                    "search_text",
                ],
            )
            await connection.execute(
                "CREATE INDEX customers_search_trgm ON customers "
                "USING gin (search_text gin_trgm_ops)"
            )
            await connection.execute("ANALYZE customers")
            load_s = time.perf_counter() - started
        finally:
            await connection.close()
        database = Database(DatabaseConfig(url=url, statement_timeout=120.0))
        try:
            figures = await _measure(database, queries, prefixes)
        finally:
            await database.dispose()
        figures["load_and_index_s"] = round(load_s, 1)
        return figures
    finally:
        admin = await asyncpg.connect(PG_DSN)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _sqlite(
    people: list[tuple[str, str]], queries: list[str], prefixes: list[str], folder: Path
) -> dict[str, float]:
    path = folder / "phonebook.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"
    await upgrade(url)
    started = time.perf_counter()
    connection = sqlite3.connect(path)
    with connection:
        # Triggers keep the FTS table in step row by row; a bulk load rebuilds it once.
        connection.execute("DROP TRIGGER customers_search_ai")
        connection.executemany(
            "INSERT INTO customers (id, kind, name, vip, created_at, updated_at, do_not_call, "
            "search_text) VALUES (?, 'person', ?, 0, ?, ?, 0, ?)",
            [(i, n, STAMP, STAMP, text) for i, n, text in _rows(people)],
        )
        connection.execute("INSERT INTO customers_search(customers_search) VALUES ('rebuild')")
        connection.execute(
            "CREATE TRIGGER customers_search_ai AFTER INSERT ON customers BEGIN "
            "INSERT INTO customers_search(rowid, search_text) VALUES (new.id, new.search_text); END"
        )
    connection.close()
    load_s = time.perf_counter() - started
    database = Database(DatabaseConfig(url=url, statement_timeout=120.0))
    try:
        figures = await _measure(database, queries, prefixes)
    finally:
        await database.dispose()
    figures["load_and_index_s"] = round(load_s, 1)
    return figures


async def _run() -> dict[str, float]:
    people = _people(CUSTOMERS)
    queries = _queries(people, QUERIES + WARMUP)
    prefixes = _prefixes(people, QUERIES + WARMUP)
    out: dict[str, float] = {"phonebook_search_customers": CUSTOMERS}
    pg = await _postgres(people, queries, prefixes)
    out.update({f"phonebook_search_pg_{k}": v for k, v in pg.items()})
    with tempfile.TemporaryDirectory(prefix="ctihub-phonebook-bench-") as folder:
        lite = await _sqlite(people, queries, prefixes, Path(folder))
    out.update({f"phonebook_search_sqlite_{k}": v for k, v in lite.items()})
    # The headline: the slower database's p99, with its own baseline.
    worst = "pg" if pg["p99_ms"] >= lite["p99_ms"] else "sqlite"
    out["phonebook_search_p99_ms"] = out[f"phonebook_search_{worst}_p99_ms"]
    out["phonebook_search_baseline_p99_ms"] = out[
        f"phonebook_search_{worst}_baseline_prefix_ilike_p99_ms"
    ]
    return out


def run() -> dict[str, float]:
    """Measure and return the figures (the runner saves them to ``bench/results.json``)."""
    return asyncio.run(_run())


if __name__ == "__main__":
    from bench import RESULTS_PATH, merge_results

    results = run()
    for key, value in sorted(results.items()):
        print(f"{key:55} {value}")
    merge_results(RESULTS_PATH, results)
