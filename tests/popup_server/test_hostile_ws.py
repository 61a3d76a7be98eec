"""One agent opening many websockets, or reading none of what it is sent: bounded, and the
server still serves everyone else afterwards."""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import AsyncIterator

import aiohttp
import pytest

from cti.events import AgentRinging
from cti.screenpop import Outgoing
from popup_server.app import HUB_KEY
from popup_server.ws_handshake import CLOSE_TOO_MANY, CLOSE_TOO_SLOW
from tests.popup_server.conftest import (
    ORIGIN,
    PanelServer,
    open_agent_socket,
    receive_json,
    serve_panel,
)


@pytest.fixture
async def limited(password_hash: str, database_url: str) -> AsyncIterator[PanelServer]:
    async with serve_panel(
        password_hash,
        database_url,
        ws_max_per_user=3,
        ws_max_per_address=6,
        ws_queue_bytes=256 * 1024,
    ) as panel:
        yield panel


async def pong(ws: aiohttp.ClientWebSocketResponse) -> None:
    await ws.send_json({"type": "ping"})
    while (await receive_json(ws))["type"] != "pong":
        pass


async def test_a_user_gets_only_so_many_sockets_and_a_closed_one_frees_its_place(
    limited: PanelServer,
) -> None:
    async with aiohttp.ClientSession() as session:
        sockets = [(await open_agent_socket(limited, session, "ali"))[0] for _ in range(3)]
        token = await limited.token("ali")
        extra = await session.ws_connect(limited.ws_url, headers={"Origin": ORIGIN})
        await extra.send_json({"type": "auth", "token": token})
        closing = await extra.receive(timeout=5)
        assert (closing.type, closing.data) == (aiohttp.WSMsgType.CLOSE, CLOSE_TOO_MANY)
        # Another user is not affected, and every socket of ali's still works.
        sara, _ = await open_agent_socket(limited, session, "sara")
        for ws in [*sockets, sara]:
            await pong(ws)
        await sockets.pop().close()
        again, _ = await open_agent_socket(limited, session, "ali")
        await pong(again)
        for ws in [*sockets, sara, again]:
            await ws.close()


async def test_an_address_gets_only_so_many_sockets_before_the_upgrade(
    limited: PanelServer,
) -> None:
    async with aiohttp.ClientSession() as session:
        held = [
            await session.ws_connect(limited.ws_url, headers={"Origin": ORIGIN}) for _ in range(6)
        ]
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(limited.ws_url, headers={"Origin": ORIGIN})
        assert refused.value.status == 429
        for ws in held:
            await ws.close()
        await asyncio.sleep(0.2)
        ws, _ = await open_agent_socket(limited, session, "ali")
        await pong(ws)
        await ws.close()


async def test_a_socket_that_reads_nothing_is_closed_before_its_queue_passes_its_bytes(
    limited: PanelServer,
) -> None:
    hub = limited.app[HUB_KEY]
    big = {"type": "filler", "text": "x" * 50_000}
    async with aiohttp.ClientSession() as session:
        ws, _ = await open_agent_socket(limited, session, "ali")
        [connection] = [c for c in hub._by_extension["1001"]]
        highest = 0
        for _ in range(400):  # 20 MB: far beyond what loopback buffers hold
            hub.deliver([Outgoing(("1001",), big)])
            highest = max(highest, connection.queued_bytes)
            await asyncio.sleep(0)
        assert connection.overflowed
        assert highest <= 256 * 1024
        # Reading now, the browser finds the socket closed "too slow" after what was sent.
        while (message := await ws.receive(timeout=10)).type == aiohttp.WSMsgType.TEXT:
            pass
        assert (message.type, message.data) == (aiohttp.WSMsgType.CLOSE, CLOSE_TOO_SLOW)
        fresh, _ = await open_agent_socket(limited, session, "ali")
        await pong(fresh)
        await fresh.close()


def rss_mib() -> float:
    with open(f"/proc/{os.getpid()}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def test_many_sockets_of_one_agent_share_one_encoded_resume_and_memory_stays_bounded(
    password_hash: str, database_url: str
) -> None:
    async with serve_panel(
        password_hash, database_url, ws_max_per_user=2000, ws_max_per_address=5000
    ) as server:
        hub = server.app[HUB_KEY]
        # 300 calls ringing ali: a resume of several hundred kilobytes.
        await server.publish(
            [
                AgentRinging(
                    f"9{n}.1", "1001", "support", f"+9821{n:08d}", "x" * 200, None, None, 5, 1.0
                )
                for n in range(300)
            ]
        )
        resume = hub.resume({"1001"})
        resume_bytes = sum(size for _, size in resume)
        assert resume_bytes > 150_000
        assert hub.resume({"1001"}) is resume, "encoded once while nothing changes"
        gc.collect()
        before = rss_mib()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            token = await server.token("ali")

            async def one() -> aiohttp.ClientWebSocketResponse:
                ws = await session.ws_connect(server.ws_url, headers={"Origin": ORIGIN})
                await ws.send_json({"type": "auth", "token": token})
                while (await receive_json(ws))["type"] != "snapshot_done":
                    pass
                return ws

            sockets = [await one() for _ in range(400)]
            opened = rss_mib()
            assert hub.resume({"1001"}) is resume
            for ws in sockets:
                await ws.close()
        await asyncio.sleep(0.5)
        gc.collect()
        after = rss_mib()
        print(
            f"resume {resume_bytes / 1024:.0f} KiB; RSS {before:.0f} MiB before, "
            f"{opened:.0f} MiB with 400 sockets, {after:.0f} MiB after closing"
        )
        # 400 private copies of the resume alone would be over 55 MiB. (What glibc keeps
        # after the sockets close is not given back to the system without malloc_trim.)
        assert after - before < 40
        assert hub.connections == 0
