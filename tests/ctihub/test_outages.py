"""The fault suite, services side: PostgreSQL away for a while, Redis restarted, during traffic.

Nothing is lost or written twice, and the hub says so while it lasts. The
shared PostgreSQL is never stopped: a TCP proxy in front of it is cut. Redis
is a server of this test's own, on a free port.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import socket
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url

from crm_sync.db import Database
from crm_sync.settings import DatabaseConfig
from ctihub.daemon import Hub
from ctihub.settings import load_settings
from tests.crm_sync.tcp_proxy import CuttableProxy
from tests.ctihub.test_hostile_ami import hub_settings, ready_link, send, short_call_trace
from tests.pbx_adapters.ami_fake_server import running_server


async def call_ids(url: str) -> set[str]:
    database = Database(DatabaseConfig(url=url))
    try:
        async with database.engine.connect() as connection:
            rows = await connection.execute(text("select call_id from call_records"))
            return {str(r[0]) for r in rows}
    finally:
        await database.dispose()


async def until_new_calls(url: str, before: set[str], count: int, timeout: float) -> set[str]:
    async with asyncio.timeout(timeout):
        while len(new := await call_ids(url) - before) < count:
            await asyncio.sleep(0.2)
    return new


@pytest.mark.postgres
async def test_postgres_away_for_a_while_loses_nothing_and_the_hub_says_so(
    postgres_url: str, tmp_path: Path
) -> None:
    target = make_url(postgres_url)
    proxy = CuttableProxy(target.host or "127.0.0.1", target.port or 5432)
    await proxy.start()
    proxied = target.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
    trace = short_call_trace()
    first = 1_000 + secrets.randbelow(1_000_000)  # calls no other test has logged
    before = await call_ids(postgres_url)
    try:
        async with running_server() as server:
            env = hub_settings(
                tmp_path,
                server.port,
                CTIHUB_DATABASE__URL=proxied,
                CTIHUB_DATABASE__CONNECT_TIMEOUT="1",
                CTIHUB_DATABASE__STATEMENT_TIMEOUT="2",
                CTIHUB_CRM__SPOOL_RETRY_INTERVAL="0.2",
            )
            hub = Hub(load_settings(None, env=env))
            await hub.start()
            try:
                await ready_link(hub)
                await send(server, trace.repetition(first) + trace.repetition(first + 1))
                await until_new_calls(postgres_url, before, 2, 30)
                await proxy.cut()
                await send(server, b"".join(trace.repetition(first + n) for n in range(2, 7)))
                async with asyncio.timeout(30):
                    while not (status := hub.status())["call_log"]["spooling"]:  # type: ignore[index]
                        await asyncio.sleep(0.05)
                checks = await hub.readiness()
                await asyncio.sleep(3)  # the database stays away a while longer
                spooled = hub.status()
                await proxy.restore()
                new = await until_new_calls(postgres_url, before, 7, 60)
                async with asyncio.timeout(30):
                    while not (after := hub.status())["ready"]:
                        await asyncio.sleep(0.1)
            finally:
                await hub.stop()
    finally:
        await proxy.close()
    assert status["ready"] is False
    assert any("spooling" in p for p in status["problems"])  # type: ignore[attr-defined]
    assert checks["database"] is False
    assert spooled["call_log"]["spool_depth"] >= 1  # type: ignore[index]
    assert len(new) == 7
    assert after["call_log"]["spool_depth"] == 0  # type: ignore[index]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _redis_server(port: int, workdir: Path) -> asyncio.subprocess.Process:
    binary = shutil.which("redis-server")
    assert binary is not None, "redis-server is needed (Debian package redis-server)"
    process = await asyncio.create_subprocess_exec(
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--dir",
        str(workdir),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    client = Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.2)
    try:
        async with asyncio.timeout(10):
            while True:
                try:
                    await client.ping()
                    return process
                except OSError:
                    await asyncio.sleep(0.05)
                except Exception:  # redis' own ConnectionError while it starts
                    await asyncio.sleep(0.05)
    finally:
        await client.aclose()


@pytest.mark.redis
async def test_redis_restarted_during_traffic_loses_nothing(tmp_path: Path) -> None:
    port = _free_port()
    redis = await _redis_server(port, tmp_path)
    trace = short_call_trace()
    url = f"sqlite+aiosqlite:///{tmp_path}/hub.sqlite3"
    try:
        async with running_server() as server:
            env = hub_settings(
                tmp_path,
                server.port,
                CTIHUB_BUS__BACKEND="redis",
                CTIHUB_BUS__REDIS_URL=f"redis://127.0.0.1:{port}/0",
                CTIHUB_BUS__NODE_ID="only",
                CTIHUB_BUS__BLOCK_SECONDS="0.2",
                CTIHUB_BUS__COMMAND_TIMEOUT="1",
                # Longer than the outage: the node keeps the PBX link through it.
                CTIHUB_BUS__LEASE_TTL_SECONDS="15",
            )
            hub = Hub(load_settings(None, env=env))
            await hub.start()
            try:
                await ready_link(hub)
                await send(server, trace.repetition(1) + trace.repetition(2))
                await until_new_calls(url, set(), 2, 30)
                redis.terminate()
                await redis.wait()
                await send(server, b"".join(trace.repetition(n) for n in range(3, 8)))
                checks = await hub.readiness()
                redis = await _redis_server(port, tmp_path)
                new = await until_new_calls(url, set(), 7, 60)
                await send(server, trace.repetition(8))
                new = await until_new_calls(url, set(), 8, 30)
            finally:
                await hub.stop()
    finally:
        if redis.returncode is None:
            redis.terminate()
            await redis.wait()
    assert checks["bus"] is False
    assert len(new) == 8
