"""The durable spool: order kept, nothing dropped when a drain is interrupted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from crm_sync.spool import JsonlSpool


async def test_records_come_back_in_the_order_they_were_spooled(tmp_path: Path) -> None:
    spool = JsonlSpool(tmp_path / "s.jsonl")
    for n in range(5):
        await spool.append({"n": n, "name": "نسرین"})
    seen: list[int] = []

    async def take(record: dict[str, Any]) -> None:
        seen.append(record["n"])

    assert await spool.drain(take) == 5
    assert seen == [0, 1, 2, 3, 4]
    assert spool.pending() == 0
    assert not list(tmp_path.iterdir())


async def test_a_failing_handler_leaves_the_unhandled_rest_spooled(tmp_path: Path) -> None:
    spool = JsonlSpool(tmp_path / "s.jsonl")
    for n in range(5):
        await spool.append({"n": n})
    seen: list[int] = []

    async def flaky(record: dict[str, Any]) -> None:
        if record["n"] == 2:
            raise ConnectionError("database went away")
        seen.append(record["n"])

    with pytest.raises(ConnectionError):
        await spool.drain(flaky)
    assert seen == [0, 1]
    assert spool.pending() == 3

    async def take(record: dict[str, Any]) -> None:
        seen.append(record["n"])

    assert await spool.drain(take) == 3
    assert seen == [0, 1, 2, 3, 4]


async def test_records_appended_while_a_drain_runs_are_drained_too(tmp_path: Path) -> None:
    spool = JsonlSpool(tmp_path / "s.jsonl")
    await spool.append({"n": 0})
    seen: list[int] = []

    async def take_and_add(record: dict[str, Any]) -> None:
        seen.append(record["n"])
        if record["n"] < 3:
            await spool.append({"n": record["n"] + 1})

    assert await spool.drain(take_and_add) == 4
    assert seen == [0, 1, 2, 3]


async def test_each_append_is_one_complete_json_line_on_disk(tmp_path: Path) -> None:
    spool = JsonlSpool(tmp_path / "deep" / "s.jsonl")
    await spool.append({"call_id": "1795392474.0"})
    lines = (tmp_path / "deep" / "s.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [{"call_id": "1795392474.0"}]
