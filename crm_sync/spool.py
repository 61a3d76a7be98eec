"""A durable append-only JSONL spool: what could not be delivered now, delivered later.

Each append is flushed and fsynced before it returns, so a record the caller
was told is spooled survives a crash. Draining renames the spool aside first
(new appends start a fresh file), hands each record to a handler, and keeps
whatever the handler could not take. A crash mid-drain replays some records
again later, so handlers must be idempotent (the call log's upsert is).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class JsonlSpool:
    """One spool file (plus its ``.draining`` twin while a drain runs)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._draining = self.path.with_name(self.path.name + ".draining")
        self._lock = asyncio.Lock()

    async def append(self, record: dict[str, Any]) -> None:
        """Write ``record`` durably (fsync) before returning.

        Done inline on the loop on purpose: it only happens during outages, and it
        must not interleave with the rename that starts a drain.
        """
        await self.append_many([record])

    async def append_many(self, records: list[dict[str, Any]]) -> None:
        """Write ``records`` durably with one fsync (a batch the database could not take)."""
        lines = "".join(
            json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
            for record in records
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(lines)
            fh.flush()
            os.fsync(fh.fileno())

    def pending(self) -> int:
        """Records waiting (counting lines; a torn last line counts too)."""
        return sum(_count_lines(p) for p in (self._draining, self.path))

    async def drain(self, handler: Callable[[dict[str, Any]], Awaitable[None]]) -> int:
        """Hand every spooled record to ``handler`` in order; stop at its first exception.

        Returns how many were handled. On an exception the unhandled rest stays
        spooled and the exception propagates.
        """

        async def one_by_one(records: list[dict[str, Any]]) -> None:
            await handler(records[0])

        return await self.drain_batches(one_by_one, 1)

    async def drain_batches(
        self, handler: Callable[[list[dict[str, Any]]], Awaitable[None]], size: int
    ) -> int:
        """Like :meth:`drain`, ``size`` records at a time; a failed batch stays spooled whole."""
        handled = 0
        async with self._lock:
            while True:
                if not self._draining.exists():
                    if not self.path.exists():
                        return handled
                    os.replace(self.path, self._draining)
                records = _read_records(self._draining)
                for start in range(0, len(records), size):
                    batch = records[start : start + size]
                    try:
                        await handler(batch)
                    except BaseException:
                        _rewrite(self._draining, records[start:])
                        raise
                    handled += len(batch)
                self._draining.unlink()


def _count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as fh:
            return sum(1 for line in fh if line.strip())
    except FileNotFoundError:
        return 0


def _read_records(path: Path) -> list[dict[str, Any]]:
    records = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                # Only a crash in the middle of an append leaves a torn line.
                log.warning("spool=%s line=%d unreadable, skipped", path, number)
    return records


def _rewrite(path: Path, records: list[dict[str, Any]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
