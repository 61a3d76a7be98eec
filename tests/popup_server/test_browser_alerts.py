"""Alerts in real headless Chromium: a simulated caller waits too long; the wallboard shows it,
the SMTP server gets it once, a supervisor acknowledges it; an agent sees their own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from crm_sync.alerts import AlertService, AlertStore, EmailAlerts
from crm_sync.connectors.email import EmailSender
from crm_sync.db import Database
from crm_sync.migrations import upgrade
from crm_sync.settings import DatabaseConfig
from cti.alerts import Alert, AlertBatcher, AlertEngine, AlertRules, QueueRules
from cti.bus import LocalBus
from ctihub.panel_backend import CrmAlertDesk
from pbx_adapters.simulator.spec import CallPlan
from tests.popup_server.conftest import PASSWORD, artifact, demo_crm, make_users
from tests.popup_server.live_stack import live_stack
from tests.smtp_sink import SmtpSink, smtp_sink

pytestmark = pytest.mark.browser


@asynccontextmanager
async def alert_service(
    tmp_path: Path, bus: LocalBus, sink: SmtpSink
) -> AsyncIterator[tuple[AlertService, Database]]:
    url = f"sqlite+aiosqlite:///{tmp_path}/alerts.sqlite3"
    await upgrade(url)
    database = Database(DatabaseConfig(url=url))
    service = AlertService(
        AlertStore(database),
        bus,
        AlertEngine(AlertRules(default_queue=QueueRules(max_wait_seconds=2))),
        [EmailAlerts(EmailSender("127.0.0.1", sink.port, "hub@example.com", ["sup@example.com"]))],
        batcher=AlertBatcher(window_seconds=0.5, min_interval_seconds=60),
        tick_seconds=0.2,
        case_check_seconds=3600,
    )
    task = asyncio.create_task(service.run(await bus.subscribe("alerts")))
    try:
        yield service, database
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await service.close()
        await database.dispose()


async def login(page: Page, url: str, username: str) -> None:
    await page.goto(url + "/")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#link-state")).to_have_class("link-state connected")


async def test_a_caller_waiting_too_long_alerts_the_wallboard_and_mails_once(
    password_hash: str, browser: Browser, tmp_path: Path
) -> None:
    bus = LocalBus(retention=10_000)
    async with (
        smtp_sink() as sink,
        alert_service(tmp_path, bus, sink) as (service, database),
        live_stack(
            demo_crm(), make_users(password_hash), bus=bus,
            extra_backends={"alerts": CrmAlertDesk(AlertStore(database), bus)},
        ) as stack,
    ):  # fmt: skip
        page = await browser.new_page(viewport={"width": 1366, "height": 768})
        await login(page, stack.url, "maryam")
        box = page.locator("#alert-list")
        await expect(box).to_be_hidden()  # no alert: no room taken

        # The caller waits 5 s before an agent answers: over the 2 s limit.
        stack.simulator.place_inbound_call(
            CallPlan(caller="+982188776655", did="2188000000", answer_delay=5, talk=30)
        )
        item = box.locator('li[data-rule="caller_waiting"]')
        await expect(item).to_have_count(1, timeout=10_000)
        await expect(item).to_contain_text("support: caller +982188776655 has waited 0:0")
        await expect(item).to_contain_text("(limit 0:02)")
        await sink.wait_for(1)
        assert sink.messages[0]["Subject"] == "ctihub alert: caller waiting +982188776655"
        assert "a caller (+982188776655) has waited" in sink.messages[0].get_content()
        await page.screenshot(path=str(artifact("wallboard_alert_en.png")), full_page=True)

        await page.click("#lang-btn")
        await expect(item).to_contain_text("تماس‌گیرنده")
        await expect(item.locator("bdi.al-subject")).to_have_text("+۹۸۲۱۸۸۷۷۶۶۵۵")
        await expect(box.locator("h2")).to_contain_text("هشدارها")
        await page.screenshot(path=str(artifact("wallboard_alert_fa.png")), full_page=True)

        # The call is answered and ends; still one mail, and one stored alert.
        await asyncio.sleep(2.0)
        assert len(sink.messages) == 1 and service.raised == 1
        await item.locator("button.al-ack").click()
        await expect(item).to_have_count(0)
        await expect(box).to_be_hidden()
        assert await AlertStore(database).unacknowledged(10) == []

        # An agent's own alert shows on their panel, live.
        agent = await browser.new_page(viewport={"width": 1366, "height": 768})
        await login(agent, stack.url, "sara")
        await expect(agent.locator("#alert-list")).to_be_hidden()
        await service.raise_alerts(
            [Alert("ring_no_answer:1002:1", "ring_no_answer", time.time(), "support", "1002",
                   subject="1002", value=3, threshold=3)]
        )  # fmt: skip
        mine = agent.locator('#alert-list li[data-rule="ring_no_answer"]')
        await expect(mine).to_contain_text("Agent 1002 let 3 calls ring unanswered", timeout=15_000)
        await expect(mine.locator("button")).to_have_count(0)  # agents do not acknowledge
        await agent.screenshot(path=str(artifact("panel_alert_en.png")), full_page=True)
        await agent.click("#lang-btn")
        await expect(mine).to_contain_text("کارشناس")
        await agent.screenshot(path=str(artifact("panel_alert_fa.png")), full_page=True)
