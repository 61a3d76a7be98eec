"""Pops never wait for the CRM: lookups run per call, concurrently, bounded, owned.

The agents' sockets here are clients of the ``websockets`` library, as the
bench's are: the hub's own server on one side, an independent client on the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, expect
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

from cti.bus import LocalBus
from cti.events import AgentRinging, CallStarted
from cti.screenpop import CallerInfo, LookupRequest
from popup_server.app import FEED_KEY, create_app, start_server
from popup_server.pop_feed import Answer, LookupRunner
from tests.popup_server.conftest import (
    ORIGIN,
    PASSWORD,
    artifact,
    crm_backends,
    demo_crm,
    make_config,
    make_users,
)
from tests.popup_server.memory_backend import MemoryCrm, RecordingPbx

NASRIN = "+982188776655"
LALEH = "+982177665544"


class GatedCrm:
    """The demo CRM, except that looking up ``held`` waits until ``release`` is set."""

    def __init__(self, crm: MemoryCrm, held: str) -> None:
        self._crm = crm
        self.held = held
        self.release = asyncio.Event()
        self.waiting = asyncio.Event()
        self.cancelled = False

    async def lookup(self, number: str | None) -> CallerInfo:
        if number == self.held:
            self.waiting.set()
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.cancelled = True
                raise
        return await self._crm.lookup(number)

    async def case_by_code(self, code: str) -> Mapping[str, Any] | None:
        return await self._crm.case_by_code(code)


@contextlib.asynccontextmanager
async def panel(password_hash: str, crm: GatedCrm) -> AsyncIterator[tuple[str, LocalBus]]:
    demo = demo_crm()
    backends = crm_backends(demo, make_users(password_hash), RecordingPbx())
    bus = LocalBus(retention=1000)
    app = create_app(make_config(), dataclasses.replace(backends, lookup=crm), bus=bus)
    runner, port = await start_server(app, "127.0.0.1", 0)
    try:
        yield f"127.0.0.1:{port}", bus
    finally:
        await runner.cleanup()
        await bus.close()
    assert app[FEED_KEY].lookups.pending == 0, "every lookup task ends with the server"


async def agent(address: str, username: str) -> ClientConnection:
    async with aiohttp.ClientSession() as session:
        login = await session.post(
            f"http://{address}/api/v1/login", json={"username": username, "password": PASSWORD}
        )
        token = (await login.json())["token"]
    ws = await connect(f"ws://{address}/ws/agent", origin=Origin(ORIGIN), compression=None)
    await ws.send(json.dumps({"type": "auth", "token": token}))
    while (await receive(ws))["type"] != "snapshot_done":
        pass
    return ws


async def receive(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        data: dict[str, Any] = json.loads(await ws.recv())
    return data


async def next_about(ws: ClientConnection, call_id: str, timeout: float = 5.0) -> dict[str, Any]:
    """The next pop or pop_updated for ``call_id`` (member states and others skipped)."""
    while True:
        message = await receive(ws, timeout)
        if message.get("call_id") == call_id or message.get("call", {}).get("call_id") == call_id:
            return message


def ring(call_id: str, agent: str, caller: str) -> AgentRinging:
    return AgentRinging(call_id, agent, "support", caller, None, "2188000000", None, 1, 2.0)


def started(call_id: str, caller: str) -> CallStarted:
    return CallStarted(call_id, "inbound", caller, None, "2188000000", 1.0)


async def test_a_slow_lookup_delays_no_pop_neither_its_own_nor_another_calls(
    password_hash: str,
) -> None:
    crm = GatedCrm(demo_crm(), held=NASRIN)
    async with panel(password_hash, crm) as (address, bus):
        ali, sara = await agent(address, "ali"), await agent(address, "sara")
        await bus.publish([started("slow", NASRIN), started("fast", LALEH)])
        await asyncio.wait_for(crm.waiting.wait(), 5)
        await bus.publish([ring("slow", "1001", NASRIN), ring("fast", "1002", LALEH)])

        pop = await next_about(ali, "slow")
        assert pop["type"] == "pop"
        assert pop["call"]["match"] == {"status": "pending", "customers": []}
        assert pop["call"]["caller"]["presented"] == NASRIN
        # The other call's caller was found while this one's lookup still hangs.
        other = await next_about(sara, "fast")
        assert other["type"] == "pop"
        assert other["call"]["match"]["customers"][0]["name"] == "Laleh Farahani"
        assert not crm.release.is_set()

        crm.release.set()
        update = await next_about(ali, "slow")
        assert update["type"] == "pop_updated"
        assert update["call"]["match"]["customers"][0]["name"] == "Nasrin Tehrani"
        await ali.close()
        await sara.close()


async def test_stopping_the_server_cancels_the_lookups_still_running(
    password_hash: str,
) -> None:
    crm = GatedCrm(demo_crm(), held=NASRIN)
    async with panel(password_hash, crm) as (_, bus):
        await bus.publish([started("c1", NASRIN)])
        await asyncio.wait_for(crm.waiting.wait(), 5)
    assert crm.cancelled


# The runner on its own: bounds, timeouts, failures.


class ScriptedCrm:
    """Each lookup sleeps ``delay`` (or raises ``error``); counts how many run at once."""

    def __init__(self, delay: float = 0.0, error: Exception | None = None) -> None:
        self.delay = delay
        self.error = error
        self.running = 0
        self.most_at_once = 0

    async def lookup(self, number: str | None) -> CallerInfo:
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await asyncio.sleep(self.delay)
            if self.error is not None:
                raise self.error
            return CallerInfo(number, number, "unknown")
        finally:
            self.running -= 1

    async def case_by_code(self, code: str) -> Mapping[str, Any] | None:
        await asyncio.sleep(self.delay)
        return {"tracking_code": code}


class Answers:
    def __init__(self) -> None:
        self.got: list[tuple[LookupRequest, Answer]] = []
        self.changed = asyncio.Event()

    def __call__(self, request: LookupRequest, answer: Answer) -> None:
        self.got.append((request, answer))
        self.changed.set()

    async def until(self, count: int) -> None:
        async with asyncio.timeout(5):
            while len(self.got) < count:
                self.changed.clear()
                await self.changed.wait()


def caller(n: int) -> LookupRequest:
    return LookupRequest(f"c{n}", "caller", f"+98912000{n:04d}")


async def test_at_most_concurrency_lookups_run_at_once_and_each_is_answered() -> None:
    crm, answers = ScriptedCrm(delay=0.02), Answers()
    runner = LookupRunner(crm, answers, concurrency=3, backlog=100)
    for n in range(12):
        runner.start(caller(n))
    await answers.until(12)
    assert crm.most_at_once == 3
    assert sorted(r.call_id for r, _ in answers.got) == sorted(f"c{n}" for n in range(12))
    await asyncio.sleep(0)  # the last tasks finish just after answering
    assert runner.pending == 0


async def test_a_full_backlog_answers_unavailable_at_once() -> None:
    crm, answers = ScriptedCrm(delay=10), Answers()
    runner = LookupRunner(crm, answers, concurrency=2, backlog=2)
    for n in range(3):
        runner.start(caller(n))
    assert answers.got == [(caller(2), CallerInfo(caller(2).key, None, "unavailable"))]
    assert runner.refused == 1
    await runner.close()
    assert runner.pending == 0
    assert len(answers.got) == 1, "cancelled lookups are not answered"


async def test_a_crm_slower_than_the_timeout_is_answered_unavailable() -> None:
    crm, answers = ScriptedCrm(delay=10), Answers()
    runner = LookupRunner(crm, answers, timeout=0.05)
    runner.start(caller(1))
    runner.start(LookupRequest("c1", "case", "40012345"))
    await answers.until(2)
    assert dict((r.kind, a) for r, a in answers.got) == {
        "caller": CallerInfo(caller(1).key, None, "unavailable"),
        "case": None,
    }


async def test_a_failing_crm_is_answered_unavailable() -> None:
    crm, answers = ScriptedCrm(error=ConnectionResetError("gone")), Answers()
    runner = LookupRunner(crm, answers)
    runner.start(caller(1))
    await answers.until(1)
    assert answers.got == [(caller(1), CallerInfo(caller(1).key, None, "unavailable"))]


@pytest.mark.browser
async def test_the_panel_shows_the_pop_at_once_and_the_customer_when_the_crm_answers(
    password_hash: str, browser: Browser
) -> None:
    crm = GatedCrm(demo_crm(), held=NASRIN)
    async with panel(password_hash, crm) as (address, bus):
        page = await browser.new_page(viewport={"width": 1366, "height": 768})
        await page.goto(f"http://{address}/")
        await page.fill("#username", "ali")
        await page.fill("#password", PASSWORD)
        await page.click("#login-form button[type=submit]")
        await expect(page.locator("#link-state")).to_have_class("link-state connected")
        pops = page.locator(".pop")
        for n, language in enumerate(("en", "fa")):
            call_id = f"call-{language}"
            await bus.publish([started(call_id, NASRIN), ring(call_id, "1001", NASRIN)])
            pop = page.locator(f'.pop[data-call-id="{call_id}"]')
            await expect(pop).to_have_attribute("data-state", "ringing")
            pending = "Looking up in the CRM…" if language == "en" else "در حال جستجو در CRM…"
            await expect(pop).to_contain_text(pending)
            await expect(pop.locator(".customers")).to_be_empty()
            await pop.screenshot(path=str(artifact(f"pop_pending_{language}.png")))
            crm.release.set()
            await expect(pop.locator(".pop-title")).to_have_text("Nasrin Tehrani")
            await expect(pop).not_to_contain_text(pending)
            await expect(pop.locator(".customers")).to_contain_text("Gold")
            await pop.screenshot(path=str(artifact(f"pop_filled_{language}.png")))
            await expect(pops).to_have_count(n + 1)
            if language == "en":
                crm.release.clear()
                crm.held = NASRIN
                await page.click("#lang-btn")
                assert await page.evaluate("document.documentElement.dir") == "rtl"
