"""Callbacks and call lists in real headless Chromium over the simulated PBX and a real CRM:
an abandoned caller becomes a callback, one click calls them back, the answered call closes it."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from crm_sync.call_lists import CallListService
from crm_sync.callbacks import CallbackService
from crm_sync.db import Database
from crm_sync.matching import CallerDirectory
from crm_sync.migrations import upgrade
from crm_sync.models import Agent, Callback
from crm_sync.phones import PhoneNormaliser
from crm_sync.settings import CallbacksConfig, CrmConfig, DatabaseConfig
from cti.bus import LocalBus
from ctihub.panel_backend import CrmCallbackDesk, CrmCallListDesk
from pbx_adapters.simulator.spec import CallPlan, lab_pbx
from tests.popup_server.conftest import PASSWORD, artifact, demo_crm, make_users
from tests.popup_server.live_stack import LiveStack, live_stack

pytestmark = pytest.mark.browser

CALLER = "+989121110000"


@dataclasses.dataclass
class Outbound:
    callbacks: CallbackService
    lists: CallListService
    database: Database


@asynccontextmanager
async def outbound(tmp_path: Path, bus: LocalBus) -> AsyncIterator[Outbound]:
    """Callbacks over a real SQLite CRM, fed by the stack's bus."""
    url = f"sqlite+aiosqlite:///{tmp_path}/crm.sqlite3"
    await upgrade(url)
    database = Database(DatabaseConfig(url=url))
    async with database.sessions() as session:
        # The panel's users (tests/popup_server/conftest.make_users), as the CRM knows them.
        session.add_all(
            Agent(id=i, username=u, name=u.title())
            for i, u in enumerate(["ali", "sara", "reza", "maryam"], start=1)
        )
        await session.commit()
    directory = CallerDirectory.for_database(database, PhoneNormaliser("IR"), CrmConfig())
    callbacks = CallbackService(database, directory, CallbacksConfig())
    task = asyncio.create_task(callbacks.consume(await bus.subscribe("callbacks")))
    try:
        yield Outbound(callbacks, CallListService(database, directory, callbacks), database)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await directory.close()
        await database.dispose()


async def login(page: Page, stack: LiveStack, username: str) -> None:
    await page.goto(stack.url + "/")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#link-state")).to_have_class("link-state connected")


async def status_of(database: Database) -> list[tuple[str, int]]:
    async with database.sessions() as session:
        return [(c.status, c.attempts) for c in await session.scalars(select(Callback))]


async def test_an_abandoned_caller_is_called_back_with_one_click_and_the_callback_closes(
    password_hash: str, browser: Browser, tmp_path: Path
) -> None:
    bus = LocalBus(retention=10_000)
    # Short outbound calls, so the callback's call ends within the test.
    spec = dataclasses.replace(lab_pbx(), outbound_talk=1.5)
    async with (
        outbound(tmp_path, bus) as work,
        live_stack(
            demo_crm(), make_users(password_hash), bus=bus, pbx_spec=spec,
            extra_backends={"callbacks": CrmCallbackDesk(work.callbacks),
                      "call_lists": CrmCallListDesk(work.lists)},
        ) as stack,
    ):  # fmt: skip
        board = await browser.new_page(viewport={"width": 1366, "height": 768})
        await login(board, stack, "maryam")
        # Nothing to follow yet: only the line to load a call list.
        await expect(board.locator("#work-board summary")).to_have_text("Load a call list")
        await expect(board.locator("#work-board tr")).to_have_count(0)

        # A caller gives up after 2 s in the support queue (agents would take 20 s).
        stack.simulator.place_inbound_call(
            CallPlan(caller=CALLER, did="2188000000", patience=2, answer_delay=20)
        )
        row = board.locator("#work-board tr[data-callback]")
        await expect(row).to_have_count(1, timeout=15_000)
        await expect(row).to_contain_text(CALLER)
        await expect(row.locator(".age")).to_have_text(re.compile(r"^0:0\d$"))
        assert await status_of(work.database) == [("open", 0)]
        await board.screenshot(path=str(artifact("wallboard_callbacks_en.png")), full_page=True)
        await board.click("#lang-btn")
        await expect(board.locator("#work-board h2").first).to_contain_text("تماس‌های برگشتی باز")
        await expect(row.locator("bdi.wl-number")).to_have_text("+۹۸۹۱۲۱۱۱۰۰۰۰")
        await board.screenshot(path=str(artifact("wallboard_callbacks_fa.png")), full_page=True)

        agent = await browser.new_page(viewport={"width": 1366, "height": 768})
        await login(agent, stack, "ali")
        item = agent.locator("#callbacks li[data-callback]")
        await expect(item).to_have_count(1, timeout=10_000)
        await expect(item).to_contain_text("abandoned · support")
        await expect(item.locator("bdi.wl-number")).to_have_text(CALLER)
        await agent.screenshot(path=str(artifact("panel_callbacks_en.png")), full_page=True)
        await agent.click("#lang-btn")
        await expect(agent.locator("#callbacks h2")).to_contain_text("تماس‌های برگشتی")
        await expect(item.locator("bdi.wl-number")).to_have_text("+۹۸۹۱۲۱۱۱۰۰۰۰")
        await agent.screenshot(path=str(artifact("panel_callbacks_fa.png")), full_page=True)

        # One click: the PBX rings 1001, dials the caller, who answers; the callback closes.
        await item.locator("button.cb-dial").click()
        for _ in range(300):
            if await status_of(work.database) == [("reached", 1)]:
                break
            await asyncio.sleep(0.05)
        assert await status_of(work.database) == [("reached", 1)]
        attempts = await work.callbacks.attempts(1)
        assert [(a["extension"], a["outcome"]) for a in attempts] == [("1001", "answered")]
        await expect(item).to_have_count(0, timeout=10_000)
        await expect(agent.locator("#callbacks")).to_contain_text("کسی برای تماس برگشتی نیست.")
        await expect(row).to_have_count(0, timeout=20_000)


async def test_an_agent_works_a_call_list_one_click_at_a_time(
    password_hash: str, browser: Browser, tmp_path: Path
) -> None:
    bus = LocalBus(retention=10_000)
    spec = dataclasses.replace(lab_pbx(), outbound_talk=1.0)
    async with (
        outbound(tmp_path, bus) as work,
        live_stack(
            demo_crm(), make_users(password_hash), bus=bus, pbx_spec=spec,
            extra_backends={"callbacks": CrmCallbackDesk(work.callbacks),
                      "call_lists": CrmCallListDesk(work.lists)},
        ) as stack,
    ):  # fmt: skip
        csv_file = tmp_path / "renewals.csv"
        csv_file.write_text(
            "phone,name,reason\n09120001122,Parisa Nikpour,Gold renewal on 1405/10/01\n"
            "09120003344,Behnam Co,follow-up of case 40012345\n",
            encoding="utf-8",
        )
        # The supervisor loads the list from the wallboard: a CSV file, for Ali.
        board = await browser.new_page(viewport={"width": 1366, "height": 768})
        await login(board, stack, "maryam")
        await board.click("#work-board details.cl-new summary")
        form = board.locator("#work-board form.cl-load")
        await form.locator("input[name=name]").fill("Renewals")
        await form.locator("select[name=source]").select_option("csv")
        await form.locator("input[name=file]").set_input_files(str(csv_file))
        await form.locator("input[name=agents]").fill("ali")
        await board.screenshot(path=str(artifact("wallboard_load_list_en.png")), full_page=True)
        await form.locator("button[type=submit]").click()
        await expect(board.locator(".cl-load-result")).to_have_text(
            "Loaded: 2 to call (0 do-not-call left out)"
        )
        progress = board.locator("#work-board tr[data-list]")
        await expect(progress.locator("td.done")).to_have_text("0")

        page = await browser.new_page(viewport={"width": 1366, "height": 768})
        await login(page, stack, "ali")
        entry = page.locator("#call-list li[data-entry]")
        await expect(entry).to_contain_text("Parisa Nikpour")
        await expect(entry).to_contain_text("Gold renewal")
        await entry.locator("button.cl-dial").click()
        outcome = page.locator("#call-list form.cl-outcome")
        await expect(outcome).to_be_visible()
        await outcome.locator("select").select_option("sale")
        await outcome.locator("input[name=note]").fill("renewed for a year")
        await page.screenshot(path=str(artifact("panel_calllist_en.png")), full_page=True)
        await outcome.locator("button[type=submit]").click()
        await expect(entry).to_contain_text("Behnam Co")
        await page.click("#lang-btn")
        await expect(page.locator("#call-list h2")).to_contain_text("فهرست تماس")
        await page.screenshot(path=str(artifact("panel_calllist_fa.png")), full_page=True)

        await expect(progress.locator("td.done")).to_have_text("1", timeout=20_000)
        await expect(progress).to_contain_text("Sale 1")
        await board.screenshot(path=str(artifact("wallboard_calllists_en.png")), full_page=True)
        await board.click("#lang-btn")
        await expect(progress).to_contain_text("فروش ۱")
        await board.screenshot(path=str(artifact("wallboard_calllists_fa.png")), full_page=True)
