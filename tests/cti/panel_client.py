"""A minimal agent panel client for end-to-end tests: log in, open the websocket, read pops."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import ClientSession, ClientWebSocketResponse

from crm_sync.commands import DEMO_PASSWORD


@asynccontextmanager
async def agent_socket(base: str, username: str) -> AsyncIterator[ClientWebSocketResponse]:
    """An authenticated agent websocket on the panel at ``base`` (``http://host:port/``)."""
    async with ClientSession() as http:
        login = await http.post(
            f"{base}api/v1/login", json={"username": username, "password": DEMO_PASSWORD}
        )
        assert login.status == 200, await login.text()
        token = (await login.json())["token"]
        async with http.ws_connect(f"{base}ws/agent", headers={"Origin": base.rstrip("/")}) as ws:
            await ws.send_json({"type": "auth", "token": token})
            yield ws


async def next_pop(ws: ClientWebSocketResponse, timeout: float = 20.0) -> dict[str, Any]:
    """The next ``pop`` message, skipping state and heartbeat messages."""
    async with asyncio.timeout(timeout):
        async for message in ws:
            data: dict[str, Any] = json.loads(message.data)
            if data.get("type") == "pop":
                return data
    raise AssertionError("the websocket closed before a pop arrived")


async def next_pbx_link(ws: ClientWebSocketResponse, timeout: float = 10.0) -> dict[str, Any]:
    """The next ``pbx_link`` message on an agent socket, skipping everything else."""
    async with asyncio.timeout(timeout):
        async for message in ws:
            data: dict[str, Any] = json.loads(message.data)
            if data["type"] == "pbx_link":
                return data
    raise AssertionError("the websocket closed before a pbx_link message")
